//! Fixtures for tests against embedstore: populated test databases, dumps of the stored rows,
//! pipeline files (`.npy` + JSONL) and scratch directories. Re-exported from the crate's root;
//! everything but the `.npy` helpers uses only embedstore's public API.
//!
//! They panic on failures, as test fixtures do (each documents when), except the file readers
//! and writers, which return [`std::io::Result`] so that tests can check refusals too.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use diesel::prelude::*;
use diesel::sql_types::{Integer, Jsonb, Nullable, Text};

use embedstore::internals::{NpyReader, NpyWriter, npy_header_bytes};
use embedstore::{Collection, IngestError, Metric, NewCollection, NewEmbedding};

use crate::{Rng, TestDatabase};

/// A database with one collection in it (model `test-model`).
///
/// ```no_run
/// use embedstore::Metric;
/// use embedstore_test_support::{count, with_collection};
/// let (db, docs) = with_collection("docs", 3, Metric::Cosine);
/// assert_eq!(count(&db, &docs), 0);
/// ```
///
/// # Panics
/// As [`TestDatabase::new`], and when the collection cannot be created (e.g. a bad name).
pub fn with_collection(name: &str, dimension: u32, metric: Metric) -> (TestDatabase, Collection) {
    let db = TestDatabase::new();
    let collection = db
        .store()
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new(name, dimension, metric, "test-model"))
        })
        .unwrap_or_else(|error| panic!("create collection {name:?}: {error}"));
    (db, collection)
}

/// A database with one collection holding `count` committed random [`items`] `item-0…`, drawn
/// from [`Rng::new`]`(seed)`.
///
/// # Panics
/// As [`with_collection`], and when the items cannot be inserted.
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
        .unwrap_or_else(|error| panic!("insert {count} items into {name:?}: {error}"));
    (db, collection)
}

/// `count` random items `item-0…`, each with content `content <i>` and metadata `{"n": i}`.
///
/// ```
/// use embedstore_test_support::{Rng, items};
/// let batch = items(&mut Rng::new(1), 2, 4);
/// assert_eq!(batch[1].external_id, "item-1");
/// assert_eq!(batch[1].metadata, serde_json::json!({"n": 1}));
/// ```
pub fn items(rng: &mut Rng, count: usize, dimension: usize) -> Vec<NewEmbedding> {
    (0..count)
        .map(|index| {
            NewEmbedding::new(format!("item-{index}"), rng.vector(dimension))
                .with_content(format!("content {index}"))
                .with_metadata(serde_json::json!({ "n": index }))
        })
        .collect()
}

/// The rows in the collection, counted in a transaction of their own.
///
/// # Panics
/// When the count fails.
pub fn count(db: &TestDatabase, collection: &Collection) -> u64 {
    db.store()
        .read(|uow| uow.embeddings().count(collection))
        .unwrap_or_else(|error| panic!("count {:?}: {error}", collection.name))
}

/// Rows by `external_id`: (vector as `f32` bit patterns, content, metadata). Bit patterns
/// compare exactly (`-0.0` differs from `0.0`, subnormals count), unlike `f32` values.
pub type Rows = BTreeMap<String, (Vec<u32>, Option<String>, serde_json::Value)>;

#[derive(QueryableByName)]
struct StoredRow {
    #[diesel(sql_type = Text)]
    external_id: String,
    #[diesel(sql_type = pgvector::sql_types::Vector)]
    embedding: pgvector::Vector,
    #[diesel(sql_type = Nullable<Text>)]
    content: Option<String>,
    #[diesel(sql_type = Jsonb)]
    metadata: serde_json::Value,
}

/// Every row the collection holds, read with plain SQL on a connection of its own (as `psql`
/// would, bypassing the library's read path), as [`Rows`].
///
/// # Panics
/// When the query fails.
pub fn stored(db: &TestDatabase, collection: &Collection) -> Rows {
    let rows: Vec<StoredRow> = diesel::sql_query(
        "SELECT external_id, embedding, content, metadata FROM embeddings WHERE collection_id = $1",
    )
    .bind::<Integer, _>(collection.id.0)
    .load(&mut db.raw_connection())
    .unwrap_or_else(|error| panic!("read the rows of {:?}: {error}", collection.name));
    rows.into_iter()
        .map(|row| {
            let bits = row
                .embedding
                .as_slice()
                .iter()
                .map(|v| v.to_bits())
                .collect();
            (row.external_id, (bits, row.content, row.metadata))
        })
        .collect()
}

/// What a collection holds after ingesting `vectors` with JSONL `records` (one JSON object per
/// entry, paired by position), as [`Rows`]: the id from `external_id` (or `id`), `content` when
/// present, `metadata` or `{}`. A repeated id keeps its last row, as an upsert does.
///
/// # Panics
/// When a record is not JSON or has no string id.
pub fn expected(vectors: &[Vec<f32>], records: &[String]) -> Rows {
    vectors
        .iter()
        .zip(records)
        .map(|(vector, record)| {
            let record: serde_json::Value = serde_json::from_str(record)
                .unwrap_or_else(|error| panic!("record {record:?}: {error}"));
            let id = record
                .get("external_id")
                .or_else(|| record.get("id"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or_else(|| panic!("record {record} has no external_id or id"));
            let metadata = record
                .get("metadata")
                .cloned()
                .unwrap_or_else(|| serde_json::json!({}));
            (
                id.to_owned(),
                (
                    vector.iter().map(|value| value.to_bits()).collect(),
                    record["content"].as_str().map(str::to_owned),
                    metadata,
                ),
            )
        })
        .collect()
}

/// `count` random vectors from [`Rng::new`]`(seed)` and matching JSONL records
/// `{"id": "doc-00000", "metadata": {"n": 0}, "content": "text 0"}`….
pub fn dataset(seed: u64, count: usize, dimension: usize) -> (Vec<Vec<f32>>, Vec<String>) {
    let mut rng = Rng::new(seed);
    let vectors = (0..count).map(|_| rng.vector(dimension)).collect();
    let records = (0..count)
        .map(|index| {
            serde_json::json!({
                "id": format!("doc-{index:05}"),
                "metadata": {"n": index},
                "content": format!("text {index}"),
            })
            .to_string()
        })
        .collect();
    (vectors, records)
}

/// Writes `vectors` to `path` as a float32 C-order `.npy` matrix, byte for byte as
/// `numpy.save` writes it (header version 1.0). An empty slice gives shape `(0, 1)`.
///
/// # Errors
/// When the file cannot be written, or ([`io::ErrorKind::InvalidData`]) when the rows differ
/// in length.
pub fn write_npy(path: &Path, vectors: &[Vec<f32>]) -> io::Result<()> {
    let cols = vectors.first().map_or(1, Vec::len);
    let mut writer = NpyWriter::create(path, vectors.len() as u64, cols).map_err(io_error)?;
    for vector in vectors {
        writer.write_row(vector).map_err(io_error)?;
    }
    writer.finish().map_err(io_error)
}

/// Reads a `.npy` matrix (float16/32/64, either byte order, header version 1–3, C order) as
/// rows of `f32`, as `embedstore ingest` reads it.
///
/// # Errors
/// When the file cannot be read, or ([`io::ErrorKind::InvalidData`], the message naming the
/// file and the problem) when it is not a matrix embedstore reads.
pub fn read_npy(path: &Path) -> io::Result<Vec<Vec<f32>>> {
    let mut reader = NpyReader::open(path).map_err(io_error)?;
    let mut rows = Vec::new();
    let mut row = Vec::new();
    while reader.read_row(&mut row).map_err(io_error)? {
        rows.push(row.clone());
    }
    Ok(rows)
}

/// The complete header (magic to newline) that NumPy writes for a little-endian float32
/// C-order `rows × cols` matrix with format `version` (1, 0), (2, 0) or (3, 0): an exported
/// `vectors.npy` is this followed by the data.
pub fn npy_header(version: (u8, u8), rows: u64, cols: usize) -> Vec<u8> {
    npy_header_bytes(version, rows, cols)
}

/// An ingest error of the `.npy` helpers as an I/O error with the same message.
fn io_error(error: IngestError) -> io::Error {
    let kind = match &error {
        IngestError::Io { source, .. } => source.kind(),
        _ => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, error.to_string())
}

/// Writes one line per entry (JSONL when the entries are JSON), each ending in `\n`.
///
/// # Errors
/// When the file cannot be written.
pub fn write_lines(path: &Path, lines: &[String]) -> io::Result<()> {
    std::fs::write(path, lines.join("\n") + "\n")
}

/// Writes `vectors` ([`write_npy`]) and `records` ([`write_lines`]) as `vectors.npy` and
/// `records.jsonl` in `scratch`, and returns their paths.
///
/// # Panics
/// When a file cannot be written.
pub fn files(scratch: &Scratch, vectors: &[Vec<f32>], records: &[String]) -> (PathBuf, PathBuf) {
    let npy = scratch.path("vectors.npy");
    let jsonl = scratch.path("records.jsonl");
    write_npy(&npy, vectors).unwrap_or_else(|error| panic!("write {}: {error}", npy.display()));
    write_lines(&jsonl, records)
        .unwrap_or_else(|error| panic!("write {}: {error}", jsonl.display()));
    (npy, jsonl)
}

/// A file of the pipeline example's fixtures in embedstore's source tree
/// (`examples/pipeline/fixtures/`): `.npy` files written by NumPy in several dtypes and header
/// versions, their `records.jsonl`, and Parquet files written by pyarrow (`make_fixtures.py`
/// there says which is which).
pub fn example_fixture(name: &str) -> PathBuf {
    // This crate lives in crates/test-support of the same repository.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/pipeline/fixtures")
        .join(name)
}

/// Row counts and an md5 over every stored value of `embeddings` and `collections`: equal
/// before and after an operation means it changed nothing in the database.
///
/// # Panics
/// When the query fails.
pub fn fingerprint(db: &TestDatabase) -> String {
    #[derive(QueryableByName)]
    struct Fingerprint {
        #[diesel(sql_type = Text)]
        digest: String,
    }
    diesel::sql_query(
        "SELECT (SELECT count(*) FROM embeddings)::text || '/' || (SELECT count(*) FROM collections)::text \
         || '/' || coalesce((SELECT md5(string_agg(collection_id || external_id || embedding::text \
              || coalesce(content, '') || metadata::text, ',' ORDER BY collection_id, external_id)) \
            FROM embeddings), '') \
         || '/' || coalesce((SELECT md5(string_agg(name || dimension || metric || model || description::text, ',' \
              ORDER BY name)) FROM collections), '') AS digest",
    )
    .get_result::<Fingerprint>(&mut db.raw_connection())
    .unwrap_or_else(|error| panic!("fingerprint {}: {error}", db.name()))
    .digest
}

/// A scratch directory of its own under the system's temporary directory, removed with
/// everything in it on drop (also when the test panics).
///
/// ```no_run
/// use embedstore_test_support::Scratch;
/// let scratch = Scratch::named("example");
/// std::fs::write(scratch.path("a.txt"), "a").unwrap();
/// ```
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// A directory named after the test database (`embedstore-<database name>`), unique as the
    /// database's name is.
    ///
    /// # Panics
    /// When the directory cannot be created.
    pub fn new(db: &TestDatabase) -> Self {
        Self::create(std::env::temp_dir().join(format!("embedstore-{}", db.name())))
    }

    /// A directory `embedstore-<tag>-<pid>-<counter>-<nanos>`, unique across threads and
    /// processes.
    ///
    /// # Panics
    /// When the directory cannot be created.
    pub fn named(tag: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.subsec_nanos())
            .unwrap_or(0);
        Self::create(std::env::temp_dir().join(format!(
            "embedstore-{tag}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        )))
    }

    fn create(dir: PathBuf) -> Self {
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|error| panic!("create {}: {error}", dir.display()));
        Self(dir)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.0
    }

    /// `name` inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
