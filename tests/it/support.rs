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

/// `rows` records over `distinct` ids drawn at random (each id in many batches, in random
/// order).
pub fn repeated_ids(seed: u64, rows: usize, distinct: u64) -> (Vec<Vec<f32>>, Vec<String>) {
    let mut rng = Rng::new(seed);
    let vectors = (0..rows).map(|_| rng.vector(8)).collect();
    let records = (0..rows)
        .map(|row| {
            let id = rng.next_u64() % distinct;
            serde_json::json!({"id": format!("doc-{id}"), "metadata": {"row": row}}).to_string()
        })
        .collect();
    (vectors, records)
}

/// The rows the JSONL `records` describe, with `vectors`, as a service would hold them.
pub fn rows_of(vectors: &[Vec<f32>], records: &[String]) -> Vec<embedstore::NewEmbedding> {
    vectors
        .iter()
        .zip(records)
        .map(|(vector, record)| {
            let mut record: serde_json::Value = serde_json::from_str(record).unwrap();
            record["vector"] = serde_json::json!(vector);
            serde_json::from_value(record).unwrap()
        })
        .collect()
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

/// Statements counted by diesel's instrumentation, which is process-wide: every test that
/// counts installs this one recorder (installing another would stop the others' counting).
/// Each connection opened after [`statements::install`] records what it sends in the list of
/// the thread that sends it, and — when its database is [`statements::watch`]ed — in that
/// database's list too, whichever thread (an ingest's writers) sends it.
pub mod statements {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::sync::Mutex;

    use diesel::connection::{Instrumentation, InstrumentationEvent, set_default_instrumentation};
    use embedstore_test_support::TestDatabase;

    thread_local! {
        /// The statements this thread's connections started, in order.
        static STATEMENTS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    }

    /// The statements sent to each watched database, by its name.
    static WATCHED: Mutex<Option<HashMap<String, Vec<String>>>> = Mutex::new(None);

    /// Makes every connection opened from now on record its statements.
    pub fn install() {
        set_default_instrumentation(recorder).unwrap();
    }

    fn recorder() -> Option<Box<dyn Instrumentation>> {
        let mut database: Option<String> = None;
        Some(Box::new(
            move |event: InstrumentationEvent<'_>| match event {
                InstrumentationEvent::StartEstablishConnection { url, .. } => {
                    database = Some(name_of(url));
                }
                InstrumentationEvent::StartQuery { query, .. } => {
                    let text = query.to_string();
                    if let Some(database) = &database
                        && let Some(list) = WATCHED
                            .lock()
                            .unwrap()
                            .as_mut()
                            .and_then(|watched| watched.get_mut(database))
                    {
                        list.push(text.clone());
                    }
                    STATEMENTS.with(|statements| statements.borrow_mut().push(text));
                }
                _ => {}
            },
        ))
    }

    /// The database a URL names.
    fn name_of(url: &str) -> String {
        let path = url.rsplit('/').next().unwrap_or_default();
        path.split('?').next().unwrap_or_default().to_owned()
    }

    /// The statements `work` sent from this thread.
    pub fn of(work: impl FnOnce()) -> Vec<String> {
        STATEMENTS.with(|statements| statements.borrow_mut().clear());
        work();
        STATEMENTS.with(|statements| statements.borrow_mut().drain(..).collect())
    }

    /// Starts recording what any thread sends to `db` (on connections opened after
    /// [`install`]).
    pub fn watch(db: &TestDatabase) {
        let name = name_of(db.url().expose_secret());
        WATCHED
            .lock()
            .unwrap()
            .get_or_insert_with(HashMap::new)
            .insert(name, Vec::new());
    }

    /// The statements any thread sent to the watched `db` since the last call, in order.
    pub fn sent_to(db: &TestDatabase) -> Vec<String> {
        let name = name_of(db.url().expose_secret());
        WATCHED
            .lock()
            .unwrap()
            .as_mut()
            .and_then(|watched| watched.get_mut(&name))
            .map(std::mem::take)
            .unwrap_or_default()
    }
}
