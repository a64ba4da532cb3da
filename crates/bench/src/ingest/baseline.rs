//! The baselines `embedstore ingest` is measured against, none of them using embedstore's
//! write path: `psql` sending a pre-encoded binary COPY stream (the ceiling) or a text COPY
//! stream, and the naive loop of one INSERT and one COMMIT per row on a plain connection.

use std::path::Path;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{Integer, Jsonb, Text};
use pgvector::sql_types::Vector as VectorSql;

use crate::BenchResult;
use crate::baseline::binary_copy;
use crate::ingest::rows::Rows;

/// A COPY stream's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    /// PostgreSQL's binary format.
    Binary,
    /// Tab-separated text.
    Text,
}

/// The `\copy` meta-command that reads `format` from psql's standard input.
pub fn copy_command(format: CopyFormat) -> String {
    let options = match format {
        CopyFormat::Binary => " WITH (FORMAT binary)",
        CopyFormat::Text => "",
    };
    format!(
        "\\copy embeddings ({}) FROM pstdin{options}",
        binary_copy::COLUMNS
    )
}

/// `psql` sending `data` (already encoded for the target collection) as one COPY; timed
/// from spawn to exit, the same way `embedstore ingest` is.
pub fn psql_copy(database_url: &str, data: &Path, format: CopyFormat) -> BenchResult<Duration> {
    crate::baseline::psql::timed_copy(database_url, &copy_command(format), data)
}

/// The naive pattern: the first `sample` rows, each in its own `INSERT` committed on its own
/// (autocommit), through a plain connection. Only the loop is timed; the rows are generated
pub fn naive_inserts(
    database_url: &str,
    collection_id: i32,
    sample: usize,
    dimension: usize,
) -> BenchResult<Duration> {
    let mut conn = PgConnection::establish(database_url)?;
    let rows = Rows::new(sample, dimension)
        .map(|row| {
            let metadata: serde_json::Value = serde_json::from_str(&row.metadata_json)?;
            Ok((row, metadata))
        })
        .collect::<Result<Vec<_>, serde_json::Error>>()?;
    let started = Instant::now();
    for (row, metadata) in rows {
        diesel::sql_query(
            "INSERT INTO embeddings (collection_id, external_id, embedding, content, metadata) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind::<Integer, _>(collection_id)
        .bind::<Text, _>(row.external_id)
        .bind::<VectorSql, _>(pgvector::Vector::from(row.vector))
        .bind::<Text, _>(row.content)
        .bind::<Jsonb, _>(metadata)
        .execute(&mut conn)?;
    }
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_commands_name_the_columns_and_format() {
        assert_eq!(
            copy_command(CopyFormat::Binary),
            "\\copy embeddings (collection_id, external_id, embedding, content, metadata) \
             FROM pstdin WITH (FORMAT binary)"
        );
        assert_eq!(
            copy_command(CopyFormat::Text),
            "\\copy embeddings (collection_id, external_id, embedding, content, metadata) \
             FROM pstdin"
        );
    }
}
