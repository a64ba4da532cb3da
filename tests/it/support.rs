use embedstore::testing::TestDatabase;
use embedstore::{Collection, Metric, NewCollection, NewEmbedding};

/// A deterministic generator (splitmix64) so failures reproduce.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    pub fn value(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    pub fn vector(&mut self, dimension: usize) -> Vec<f32> {
        (0..dimension).map(|_| self.value()).collect()
    }
}

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
