//! Helpers of the library's tests; the ones the CLI's tests need too are fixtures of
//! `embedstore-test-support`, re-exported here.

use embedstore::{Config, Store};
use embedstore_test_support::TestDatabase;
pub use embedstore_test_support::{Rng, count, items, with_collection, with_items};

/// The external ids of a response's hits, in order.
pub fn ids(response: &embedstore::SearchResponse) -> Vec<String> {
    response
        .hits
        .iter()
        .map(|hit| hit.external_id.clone())
        .collect()
}

/// The validation failures of an error as `path: message` lines.
pub fn failures(error: &embedstore::Error) -> Vec<String> {
    error
        .as_validation()
        .unwrap_or_else(|| panic!("expected a validation error, got {error:?}"))
        .lines()
        .collect()
}

/// A store over `db` with a single pooled connection: every call reuses the same one.
pub fn single_connection_store(db: &TestDatabase) -> Store {
    let mut config = Config::new(db.url().expose_secret().to_owned()).unwrap();
    config.pool_max_size = 1;
    Store::connect(config).unwrap()
}

/// Sets one value of a dense `vector` in place (tests that plant an awkward value).
pub fn set_value(vector: &mut embedstore::VectorValue, at: usize, value: f32) {
    let mut values = vector.to_vec();
    values[at] = value;
    *vector = values.into();
}

/// Autovacuum never visits `collection`'s partition, whatever the server's `autovacuum`: what
/// a test counts (dead tuples, statistics embedstore made itself) stays its own.
pub fn without_autovacuum(db: &TestDatabase, collection: &embedstore::Collection) {
    use diesel::RunQueryDsl;
    // The partition name comes from our own catalog's integer.
    diesel::sql_query(format!(
        "ALTER TABLE {} SET (autovacuum_enabled = false)",
        collection.partition_name()
    ))
    .execute(&mut db.raw_connection())
    .unwrap();
}

/// Ingest options with these three set and the rest at their defaults.
pub fn ingest_options(
    mode: embedstore::WriteMode,
    batch_size: usize,
    writers: usize,
) -> embedstore::IngestOptions {
    embedstore::IngestOptions {
        mode,
        batch_size,
        writers,
        ..embedstore::IngestOptions::default()
    }
}

/// An ingest's counts as one tuple: rows, inserted, updated, unchanged, duplicates dropped,
/// batches.
pub fn ingest_counts(summary: &embedstore::IngestSummary) -> (u64, u64, u64, u64, u64, u64) {
    (
        summary.rows,
        summary.inserted,
        summary.updated,
        summary.unchanged,
        summary.duplicates_dropped,
        summary.batches,
    )
}
