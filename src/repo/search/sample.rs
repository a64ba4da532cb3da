//! The recall sample: stored rows drawn at random (id and vector), the seeds of a sampled
//! recall measurement's held-out-style queries.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bytea};

use crate::error::Result;
use crate::models::Collection;
use crate::sql::SqlBuilder;
use crate::vector::VectorValue;

/// Up to `limit` of the collection's stored rows, drawn at random: each row's id and vector.
pub(crate) fn sample(
    conn: &mut PgConnection,
    collection: &Collection,
    limit: u32,
) -> Result<Vec<(i64, VectorValue)>> {
    #[derive(QueryableByName)]
    struct Sampled {
        #[diesel(sql_type = BigInt)]
        id: i64,
        #[diesel(sql_type = Bytea)]
        embedding: Vec<u8>,
    }
    let rows: Vec<Sampled> = statement(collection, limit).into_query().load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            VectorValue::from_send(collection.kind, &row.embedding).map(|vector| (row.id, vector))
        })
        .collect())
}

/// `SELECT id, <send>(embedding) … ORDER BY random() LIMIT $n`: the collection's own column in
/// its binary form (from a closed set), the collection and the limit bound.
pub(super) fn statement(collection: &Collection, limit: u32) -> SqlBuilder {
    let mut sql = SqlBuilder::new();
    sql.push("SELECT id, ")
        .push(&collection.search_expression().send_sql(None))
        .push(" AS embedding FROM embeddings WHERE collection_id = ")
        .bind(collection.id.0)
        .push(" ORDER BY random() LIMIT ")
        .bind(i64::from(limit));
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::search::fixtures::{assert_binds_match, collection, integers};

    #[test]
    fn the_recall_sample_draws_stored_rows_at_random_with_bound_values() {
        let sql = statement(&collection(), 25);
        assert_binds_match(&sql);
        assert_eq!(
            sql.sql(),
            "SELECT id, vector_send(embedding) AS embedding FROM embeddings \
             WHERE collection_id = $1 ORDER BY random() LIMIT $2"
        );
        assert_eq!(integers(&sql), [7, 25]);
    }
}
