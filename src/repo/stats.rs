//! A partition's planner statistics: the `ANALYZE` that bulk writes and index builds leave
//! behind, and the facts that tell whether the partition has statistics at all.
//!
//! Without statistics PostgreSQL guesses: the partition key's condition matches 0.5 % of the
//! rows, so a search statement looks like it reads a handful of rows and the planner sorts them
//! instead of walking the ANN index. Autovacuum fixes that eventually (about a minute after a
//! load on a default server; never on a server with `autovacuum = off`), so embedstore analyzes
//! the partition itself:
//!
//! - after every index build (ANN, text, payload): always, one `ANALYZE` per build;
//! - after an ingest of many batches: once, when it is done (its batches defer theirs);
//! - after a unit of work that wrote rows (insert, upsert, delete, backfill), once it committed,
//!   when the partition has no statistics yet or the rows changed since its last analyze
//!   (including this write) reach autovacuum's own default threshold:
//!   [`ANALYZE_BASE_ROWS`] + [`ANALYZE_FRACTION`] × the rows the statistics know. A growing
//!   collection is so analyzed each time it grew by about a tenth: O(log n) analyzes for a
//!   load of n rows, each reading a sample of at most 30,000 rows (`default_statistics_target`
//!   100), whatever the partition's size.
//!
//! The post-write `ANALYZE` runs after `COMMIT`, in autocommit mode, with `SKIP_LOCKED`: it
//! holds the partition's `SHARE UPDATE EXCLUSIVE` lock only while it samples (inside the
//! writer's transaction it would hold it until the commit, queueing every concurrent writer
//! that wants to analyze too), and when another `ANALYZE`, a `VACUUM` or an index build holds
//! the lock it skips instead of waiting (that one refreshes the statistics, or the next write
//! does). A failed post-write analyze never fails the write that already committed: it is
//! logged. The partition name comes from our catalog's integer id only.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Text};

use crate::error::Result;
use crate::models::CollectionId;

/// Rows changed since the last analyze that always warrant one (autovacuum's
/// `autovacuum_analyze_threshold` default).
pub(crate) const ANALYZE_BASE_ROWS: u64 = 50;

/// The fraction of the rows the statistics know that, changed, warrants an analyze
/// (autovacuum's `autovacuum_analyze_scale_factor` default).
pub(crate) const ANALYZE_FRACTION: f64 = 0.1;

/// The partition of `collection`, from our own integer id.
pub(crate) fn partition_of(collection: CollectionId) -> String {
    format!("embeddings_{}", collection.0)
}

/// `ANALYZE` of the collection's partition: always (after an index build).
pub(crate) fn analyze(conn: &mut PgConnection, collection: CollectionId) -> Result<()> {
    let partition = partition_of(collection);
    diesel::sql_query(format!("ANALYZE {partition}")).execute(conn)?;
    Ok(())
}

/// What the server knows of a partition's statistics.
#[derive(Debug, Clone, Copy, PartialEq, QueryableByName)]
pub(crate) struct StatsFacts {
    /// Whether `pg_stats` holds any column statistics of the partition (`ANALYZE` ran since
    /// it last held rows).
    #[diesel(sql_type = Bool)]
    pub(crate) analyzed: bool,
    /// `pg_class.reltuples`: the rows the planner believes the partition holds (-1: never
    /// counted).
    #[diesel(sql_type = Double)]
    pub(crate) reltuples: f64,
    /// `n_mod_since_analyze`: rows inserted, updated or deleted since the last analyze, as
    /// other sessions reported them so far (flushed at most once a second per session).
    #[diesel(sql_type = BigInt)]
    pub(crate) modified: i64,
}

impl StatsFacts {
    /// Whether `written` more rows warrant an analyze (see the module documentation).
    pub(crate) fn wants_analyze(&self, written: u64) -> bool {
        if written == 0 {
            return false;
        }
        if !self.analyzed {
            return true;
        }
        let changed = self.modified.max(0).unsigned_abs().saturating_add(written);
        changed as f64 >= ANALYZE_BASE_ROWS as f64 + ANALYZE_FRACTION * self.reltuples.max(0.0)
    }
}

/// The statistics facts of the collection's partition; `None` when it has no partition.
pub(crate) fn facts(
    conn: &mut PgConnection,
    collection: CollectionId,
) -> Result<Option<StatsFacts>> {
    Ok(diesel::sql_query(
        "SELECT f.analyzed, f.reltuples, f.modified \
         FROM pg_class c, embedstore_partition_facts(c.oid) f \
         WHERE c.relname = $1 AND c.relnamespace = current_schema()::text::regnamespace",
    )
    .bind::<Text, _>(partition_of(collection))
    .get_result(conn)
    .optional()?)
}

/// After a committed write of `written` rows to `collection`: analyzes its partition when the
/// statistics want it (see the module documentation); whether it did.
pub(crate) fn refresh_after_write(
    conn: &mut PgConnection,
    collection: CollectionId,
    written: u64,
) -> Result<bool> {
    let Some(facts) = facts(conn, collection)? else {
        return Ok(false);
    };
    if !facts.wants_analyze(written) {
        return Ok(false);
    }
    let partition = partition_of(collection);
    diesel::sql_query(format!("ANALYZE (SKIP_LOCKED) {partition}")).execute(conn)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(analyzed: bool, reltuples: f64, modified: i64) -> StatsFacts {
        StatsFacts {
            analyzed,
            reltuples,
            modified,
        }
    }

    #[test]
    fn a_partition_without_statistics_is_analyzed_after_any_write() {
        assert!(facts(false, -1.0, 0).wants_analyze(1));
        assert!(facts(false, 5000.0, 0).wants_analyze(1));
        assert!(!facts(false, -1.0, 0).wants_analyze(0));
    }

    #[test]
    fn an_analyzed_partition_is_analyzed_again_at_autovacuums_threshold() {
        // 50 + 10 % of 10,000 = 1,050 changed rows.
        assert!(!facts(true, 10_000.0, 0).wants_analyze(1_000));
        assert!(facts(true, 10_000.0, 0).wants_analyze(1_050));
        assert!(facts(true, 10_000.0, 900).wants_analyze(200));
        // A small partition: the base of 50 rows.
        assert!(!facts(true, 10.0, 0).wants_analyze(49));
        assert!(facts(true, 10.0, 0).wants_analyze(51));
    }
}
