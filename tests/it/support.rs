pub use embedstore::testing::Rng;
use embedstore::testing::TestDatabase;
use embedstore::{Collection, Config, Metric, NewCollection, NewEmbedding, Store};

/// A database with one collection in it.
pub fn with_collection(name: &str, dimension: u32, metric: Metric) -> (TestDatabase, Collection) {
    let db = TestDatabase::new();
    let collection = db
        .store()
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new(name, dimension, metric, "test-model"))
        })
        .unwrap();
    (db, collection)
}

/// A database with one collection holding `count` committed random items `item-0…`.
pub fn with_items(
    name: &str,
    dimension: u32,
    metric: Metric,
    count: usize,
    seed: u64,
) -> (TestDatabase, Collection) {
    let (db, collection) = with_collection(name, dimension, metric);
    let batch = items(&mut Rng::new(seed), count, dimension as usize);
    db.store()
        .write(|uow| uow.embeddings().insert(&collection, batch))
        .unwrap();
    (db, collection)
}

/// `count` random items `item-0…`, each with metadata `{"n": i}`.
pub fn items(rng: &mut Rng, count: usize, dimension: usize) -> Vec<NewEmbedding> {
    (0..count)
        .map(|index| {
            NewEmbedding::new(format!("item-{index}"), rng.vector(dimension))
                .with_content(format!("content {index}"))
                .with_metadata(serde_json::json!({ "n": index }))
        })
        .collect()
}

/// Rows in the collection, counted in their own transaction.
pub fn count(db: &TestDatabase, collection: &Collection) -> u64 {
    db.store()
        .read(|uow| uow.embeddings().count(collection))
        .unwrap()
}

/// The validation failures of an error as `path: message` lines.
pub fn failures(error: &embedstore::Error) -> Vec<String> {
    error
        .as_validation()
        .unwrap_or_else(|| panic!("expected a validation error, got {error:?}"))
        .failures()
        .map(|(path, message)| {
            if path.is_empty() {
                message
            } else {
                format!("{path}: {message}")
            }
        })
        .collect()
}

/// A store over `db` with a single pooled connection: every call reuses the same one.
pub fn single_connection_store(db: &TestDatabase) -> Store {
    let mut config = Config::new(db.url().expose_secret().to_owned()).unwrap();
    config.pool_max_size = 1;
    Store::connect(config).unwrap()
}
