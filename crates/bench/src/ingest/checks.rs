//! Checks that every path stored what it was given, so that a fast figure can never come
//! from a path that silently wrote less (or something else).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use embedstore::Collection;

use crate::BenchResult;
use crate::ingest::cli::CliReport;

/// A collection's write state: equal before and after a re-run only if it wrote nothing.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Snapshot {
    #[diesel(sql_type = BigInt)]
    rows: i64,
    /// The newest `updated_at` (moved by every UPDATE, through the trigger).
    #[diesel(sql_type = Nullable<Text>)]
    newest_update: Option<String>,
    /// The newest row version's transaction id (moved by any write, trigger or not).
    #[diesel(sql_type = Nullable<BigInt>)]
    newest_xmin: Option<i64>,
}

/// `collection`'s [`Snapshot`].
pub fn snapshot(conn: &mut PgConnection, collection: &Collection) -> BenchResult<Snapshot> {
    Ok(diesel::sql_query(
        "SELECT count(*) AS rows, max(updated_at)::text AS newest_update, \
         max(xmin::text::bigint) AS newest_xmin FROM embeddings WHERE collection_id = $1",
    )
    .bind::<Integer, _>(collection.id.0)
    .get_result(conn)?)
}

/// What is wrong with a CLI summary that should say `rows` read, `inserted` new, `unchanged`
/// skipped, the rest updated, none rejected (empty when it is right).
pub fn report_counts(
    label: &str,
    report: &CliReport,
    rows: usize,
    inserted: usize,
    unchanged: usize,
) -> Vec<String> {
    let expected = [
        ("rows", rows, report.rows),
        ("inserted", inserted, report.inserted),
        (
            "updated",
            rows.saturating_sub(inserted + unchanged),
            report.updated,
        ),
        ("unchanged", unchanged, report.unchanged),
        ("rejected", 0, report.rejected),
    ];
    expected
        .into_iter()
        .filter(|(_, want, got)| *want as u64 != *got)
        .map(|(field, want, got)| {
            format!("{label}: embedstore ingest reported {field} = {got}, expected {want}")
        })
        .collect()
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// A message when `collection` does not hold exactly `expected` rows.
pub fn row_count(
    conn: &mut PgConnection,
    collection: &Collection,
    expected: usize,
) -> BenchResult<Option<String>> {
    let found: Count =
        diesel::sql_query("SELECT count(*) AS count FROM embeddings WHERE collection_id = $1")
            .bind::<Integer, _>(collection.id.0)
            .get_result(conn)?;
    Ok((found.count != expected as i64).then(|| {
        format!(
            "collection {} holds {} rows, expected {expected}",
            collection.name, found.count
        )
    }))
}

/// A message unless `expected` rows of `collection` equal the row with the same external id
/// in `reference` in vector, content and metadata.
pub fn same_rows(
    conn: &mut PgConnection,
    collection: &Collection,
    reference: &Collection,
    expected: usize,
) -> BenchResult<Option<String>> {
    let found: Count = diesel::sql_query(
        "SELECT count(*) AS count FROM embeddings a \
         JOIN embeddings b ON b.collection_id = $2 AND b.external_id = a.external_id \
         WHERE a.collection_id = $1 AND a.embedding = b.embedding \
           AND a.content IS NOT DISTINCT FROM b.content AND a.metadata = b.metadata",
    )
    .bind::<Integer, _>(collection.id.0)
    .bind::<Integer, _>(reference.id.0)
    .get_result(conn)?;
    Ok((found.count != expected as i64).then(|| {
        format!(
            "only {} of {expected} rows of {} equal the binary COPY's {}",
            found.count, collection.name, reference.name
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(inserted: u64, updated: u64, unchanged: u64, rejected: u64) -> CliReport {
        CliReport {
            rows: inserted + updated + unchanged + rejected,
            inserted,
            updated,
            unchanged,
            rejected,
            batches: 1,
            seconds: 1.0,
            rows_per_second: 1.0,
            peak_rss_bytes: None,
        }
    }

    #[test]
    fn a_correct_summary_has_no_problems() {
        assert!(report_counts("insert", &report(10, 0, 0, 0), 10, 10, 0).is_empty());
        assert!(report_counts("rerun", &report(0, 0, 10, 0), 10, 0, 10).is_empty());
    }

    #[test]
    fn every_wrong_count_is_named() {
        let problems = report_counts("rerun", &report(0, 4, 6, 0), 10, 0, 10);
        assert_eq!(
            problems,
            [
                "rerun: embedstore ingest reported updated = 4, expected 0",
                "rerun: embedstore ingest reported unchanged = 6, expected 10",
            ]
        );
        let problems = report_counts("insert", &report(9, 0, 0, 1), 10, 10, 0);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[1].contains("rejected = 1"));
    }
}
