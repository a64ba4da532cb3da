//! File ingest (`.npy` + JSONL) through the library and the CLI, against a real database.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use embedstore::ingest::writer::NpyWriter;
use embedstore::ingest::{
    Ids, Ingest, IngestError, IngestObserver, IngestOptions, IngestSummary, NpySource, RejectedRow,
    WriteMode,
};
use embedstore::testing::TestDatabase;
use embedstore::{Collection, Metric};

use crate::support::{Rng, count, with_collection};

/// A scratch directory of its own, named after the test database; removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(db: &TestDatabase) -> Self {
        let dir = std::env::temp_dir().join(format!("embedstore-{}", db.name()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `vectors` as a float32 `.npy` file.
pub fn write_npy(path: &Path, vectors: &[Vec<f32>]) {
    let cols = vectors.first().map_or(1, Vec::len);
    let mut writer = NpyWriter::create(path, vectors.len() as u64, cols).unwrap();
    for vector in vectors {
        writer.write_row(vector).unwrap();
    }
    writer.finish().unwrap();
}

/// Writes one JSONL line per entry.
pub fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// `count` random vectors and matching records `doc-00000…` with metadata and content.
pub fn dataset(seed: u64, count: usize, dimension: usize) -> (Vec<Vec<f32>>, Vec<String>) {
    let mut rng = Rng::new(seed);
    let vectors = (0..count).map(|_| rng.vector(dimension)).collect();
    let records = (0..count)
        .map(|index| {
            serde_json::json!({"id": format!("doc-{index:05}"), "metadata": {"n": index}, "content": format!("text {index}")})
                .to_string()
        })
        .collect();
    (vectors, records)
}

pub fn files(scratch: &Scratch, vectors: &[Vec<f32>], records: &[String]) -> (PathBuf, PathBuf) {
    let npy = scratch.path("vectors.npy");
    let jsonl = scratch.path("records.jsonl");
    write_npy(&npy, vectors);
    write_lines(&jsonl, records);
    (npy, jsonl)
}

pub fn ingest(
    db: &TestDatabase,
    collection: &Collection,
    npy: &Path,
    ids: &Ids,
    options: IngestOptions,
) -> Result<IngestSummary, IngestError> {
    let mut source = NpySource::open(npy, ids)?;
    Ingest::new(db.store(), &collection.name, options).run(&mut source, &mut ())
}

fn options(mode: WriteMode, batch_size: usize) -> IngestOptions {
    IngestOptions {
        mode,
        batch_size,
        // Half of the tests wait for flushes: both commit modes write the same rows.
        synchronous_commit: batch_size.is_multiple_of(2),
        ..IngestOptions::default()
    }
}

/// An error's problems as the lines it prints (`row 2 (line 3): external_id: …`).
pub fn problem_lines(error: &IngestError) -> Vec<String> {
    error.problems().iter().map(ToString::to_string).collect()
}

/// Rows by `external_id`: (vector bits, content, metadata).
pub type Rows = BTreeMap<String, (Vec<u32>, Option<String>, serde_json::Value)>;

/// Every stored row as `external_id → (vector bits, content, metadata)`.
pub fn stored(db: &TestDatabase, collection: &Collection) -> Rows {
    let mut conn = db.raw_connection();
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        external_id: String,
        #[diesel(sql_type = pgvector::sql_types::Vector)]
        embedding: pgvector::Vector,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        content: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Jsonb)]
        metadata: serde_json::Value,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT external_id, embedding, content, metadata FROM embeddings WHERE collection_id = $1",
    )
    .bind::<diesel::sql_types::Integer, _>(collection.id.0)
    .load(&mut conn)
    .unwrap();
    rows.into_iter()
        .map(|row| {
            let bits = row
                .embedding
                .as_slice()
                .iter()
                .map(|value| value.to_bits())
                .collect();
            (row.external_id, (bits, row.content, row.metadata))
        })
        .collect()
}

/// What the files say the collection should hold.
pub fn expected(vectors: &[Vec<f32>], records: &[String]) -> Rows {
    vectors
        .iter()
        .zip(records)
        .map(|(vector, record)| {
            let record: serde_json::Value = serde_json::from_str(record).unwrap();
            (
                record["id"].as_str().unwrap().to_owned(),
                (
                    vector.iter().map(|value| value.to_bits()).collect(),
                    record["content"].as_str().map(str::to_owned),
                    record["metadata"].clone(),
                ),
            )
        })
        .collect()
}

#[test]
fn npy_with_records_stores_every_row_exactly_in_batches() {
    let (db, collection) = with_collection("docs", 8, Metric::Cosine);
    let scratch = Scratch::new(&db);
    let (vectors, records) = dataset(1, 250, 8);
    let (npy, jsonl) = files(&scratch, &vectors, &records);
    let summary = ingest(
        &db,
        &collection,
        &npy,
        &Ids::Records(jsonl),
        options(WriteMode::Insert, 100),
    )
    .unwrap();
    assert_eq!(
        (summary.rows, summary.inserted, summary.batches),
        (250, 250, 3)
    );
    assert_eq!(stored(&db, &collection), expected(&vectors, &records));
}

#[test]
fn rerun_in_upsert_mode_changes_nothing_and_reports_unchanged() {
    let (db, collection) = with_collection("docs", 8, Metric::L2);
    let scratch = Scratch::new(&db);
    let (vectors, records) = dataset(2, 120, 8);
    let (npy, jsonl) = files(&scratch, &vectors, &records);
    let ids = Ids::Records(jsonl);
    ingest(&db, &collection, &npy, &ids, options(WriteMode::Upsert, 50)).unwrap();
    let before = stored(&db, &collection);
    let again = ingest(&db, &collection, &npy, &ids, options(WriteMode::Upsert, 50)).unwrap();
    assert_eq!(
        (again.inserted, again.updated, again.unchanged),
        (0, 0, 120)
    );
    assert_eq!(stored(&db, &collection), before);
}

#[test]
fn generated_ids_use_the_prefix_and_the_row_number() {
    let (db, collection) = with_collection("docs", 4, Metric::L2);
    let scratch = Scratch::new(&db);
    let (vectors, _) = dataset(3, 12, 4);
    let npy = scratch.path("v.npy");
    write_npy(&npy, &vectors);
    ingest(
        &db,
        &collection,
        &npy,
        &Ids::Prefix("img-".into()),
        IngestOptions::default(),
    )
    .unwrap();
    let rows = stored(&db, &collection);
    assert_eq!(rows.len(), 12);
    let (bits, content, metadata) = &rows["img-11"];
    assert_eq!(
        bits,
        &vectors[11].iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!((content, metadata), (&None, &serde_json::json!({})));
}

#[test]
fn insert_mode_refuses_existing_ids_naming_each_row() {
    let (db, collection) = with_collection("docs", 4, Metric::L2);
    let scratch = Scratch::new(&db);
    let (vectors, records) = dataset(4, 10, 4);
    let (npy, jsonl) = files(&scratch, &vectors[..3], &records[..3]);
    ingest(
        &db,
        &collection,
        &npy,
        &Ids::Records(jsonl),
        options(WriteMode::Insert, 100),
    )
    .unwrap();
    let (npy, jsonl) = files(&scratch, &vectors, &records);
    let error = ingest(
        &db,
        &collection,
        &npy,
        &Ids::Records(jsonl),
        options(WriteMode::Insert, 100),
    )
    .unwrap_err();
    let problems: Vec<String> = problem_lines(&error);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(
        problems[2].starts_with("row 2 (line 3): external_id: \"doc-00002\" already exists"),
        "{problems:?}"
    );
    assert_eq!(
        count(&db, &collection),
        3,
        "nothing of the refused batch is written"
    );
}

#[test]
fn an_invalid_batch_is_refused_whole_with_every_problem_listed() {
    let (db, collection) = with_collection("docs", 4, Metric::Cosine);
    let scratch = Scratch::new(&db);
    let (mut vectors, mut records) = dataset(5, 30, 4);
    vectors[12][1] = f32::NAN;
    vectors[13] = vec![0.0; 4];
    records[14] = r#"{"id": "doc-00014", "metdata": {"lang": "en"}}"#.into();
    records[15] = r#"{"id": "doc-00015", "metadata": [1]}"#.into();
    records[16] = r#"{"id": "doc-00010"}"#.into();
    let (npy, jsonl) = files(&scratch, &vectors, &records);
    let error = ingest(
        &db,
        &collection,
        &npy,
        &Ids::Records(jsonl),
        options(WriteMode::Insert, 10),
    )
    .unwrap_err();
    let problems: Vec<String> = problem_lines(&error);
    assert_eq!(
        problems,
        vec![
            "row 12 (line 13): vector[1]: value is NaN",
            "row 13 (line 14): vector: all values are zero, which has no cosine distance",
            "row 14 (line 15): metdata: unknown field `metdata`, expected one of `external_id`, `id`, `metadata`, `content`",
            "row 15 (line 16): metadata: must be a JSON object, got an array",
            "row 16 (line 17): external_id: repeats the external_id of row 10",
        ],
        "{error}"
    );
    assert!(error.to_string().contains("5 invalid rows"), "{error}");
    assert_eq!(
        count(&db, &collection),
        10,
        "the first batch committed, the bad one wrote nothing"
    );
}

#[derive(Default)]
struct Collected(Vec<RejectedRow>, Vec<u64>);

impl IngestObserver for Collected {
    fn progress(&mut self, progress: &embedstore::ingest::IngestProgress) {
        self.1.push(progress.rows);
    }

    fn rejected(&mut self, row: &RejectedRow) -> Result<(), IngestError> {
        self.0.push(row.clone());
        Ok(())
    }
}

#[test]
fn skipping_invalid_rows_writes_the_rest_and_reports_each_reject() {
    let (db, collection) = with_collection("docs", 4, Metric::L2);
    let scratch = Scratch::new(&db);
    let (mut vectors, mut records) = dataset(6, 25, 4);
    vectors[3][0] = f32::INFINITY;
    records[20] = r#"{"id": "doc-00020", "content": "\u0000"}"#.into();
    records[21] = "{not json".into();
    let (npy, jsonl) = files(&scratch, &vectors, &records);
    let mut source = NpySource::open(&npy, &Ids::Records(jsonl)).unwrap();
    let mut observer = Collected::default();
    let options = IngestOptions {
        skip_invalid: true,
        ..options(WriteMode::Upsert, 10)
    };
    let summary = Ingest::new(db.store(), "docs", options)
        .run(&mut source, &mut observer)
        .unwrap();
    assert_eq!(
        (summary.rows, summary.inserted, summary.rejected),
        (25, 22, 3)
    );
    assert_eq!(observer.1, vec![10, 20, 25]);
    let rejected: Vec<(u64, Option<String>, String)> = observer
        .0
        .iter()
        .map(|row| {
            (
                row.row,
                row.external_id.clone(),
                row.problems[0].to_string(),
            )
        })
        .collect();
    assert_eq!(
        rejected[0],
        (
            3,
            Some("doc-00003".into()),
            "row 3 (line 4): vector[0]: value is infinite".into()
        )
    );
    assert_eq!(rejected[1].0, 20);
    assert!(
        rejected[1].2.contains("content: contains a NUL character"),
        "{rejected:?}"
    );
    assert_eq!(rejected[2].0, 21);
    assert_eq!(rejected[2].1, None);
    assert_eq!(count(&db, &collection), 22);
}

#[test]
fn files_that_do_not_fit_are_refused_before_anything_is_written() {
    let (db, collection) = with_collection("docs", 4, Metric::L2);
    let scratch = Scratch::new(&db);
    let (vectors, records) = dataset(7, 5, 4);
    let (npy, jsonl) = files(&scratch, &vectors, &records[..4]);
    let error = ingest(
        &db,
        &collection,
        &npy,
        &Ids::Records(jsonl),
        IngestOptions::default(),
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("4 records (non-blank lines) but"),
        "{error}"
    );
    assert!(error.to_string().contains("has 5 rows"), "{error}");
    let (wide, _) = dataset(7, 5, 6);
    let (npy, jsonl) = files(&scratch, &wide, &records);
    let error = ingest(
        &db,
        &collection,
        &npy,
        &Ids::Records(jsonl),
        IngestOptions::default(),
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("vectors have 6 values, collection \"docs\" has dimension 4"),
        "{error}"
    );
    // A header promising more rows than the file holds.
    let npy = scratch.path("lying.npy");
    write_npy(&npy, &vectors);
    let bytes = std::fs::read(&npy).unwrap();
    std::fs::write(&npy, &bytes[..bytes.len() - 3]).unwrap();
    let error = ingest(
        &db,
        &collection,
        &npy,
        &Ids::Prefix("x".into()),
        IngestOptions::default(),
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("lying.npy: truncated"),
        "{error}"
    );
    assert_eq!(count(&db, &collection), 0);
}

fn cli(db: &TestDatabase) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_embedstore"));
    command.env("DATABASE_URL", db.url().expose_secret());
    command
}

#[test]
fn cli_prints_a_json_summary_as_the_last_line_and_writes_rejects() {
    let (db, _collection) = with_collection("docs", 4, Metric::L2);
    let scratch = Scratch::new(&db);
    let (vectors, mut records) = dataset(8, 40, 4);
    records[7] = r#"{"id": "doc-00007", "metadata": {"x": NaN}}"#.into();
    let (npy, jsonl) = files(&scratch, &vectors, &records);
    let rejects = scratch.path("rejects.jsonl");
    let output = cli(&db)
        .args(["ingest", "docs", "--vectors"])
        .arg(&npy)
        .arg("--records")
        .arg(&jsonl)
        .args([
            "--format",
            "json",
            "--progress",
            "lines",
            "--batch-size",
            "16",
            "--rejects",
        ])
        .arg(&rejects)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    for (key, value) in [
        ("rows", 40),
        ("inserted", 39),
        ("updated", 0),
        ("unchanged", 0),
        ("rejected", 1),
        ("batches", 3),
        ("writers", 2),
    ] {
        assert_eq!(summary[key], value, "{key}: {summary}");
    }
    assert!(summary["seconds"].as_f64().unwrap() > 0.0);
    assert!(summary["rows_per_second"].as_f64().unwrap() > 0.0);
    assert!(summary["peak_rss_bytes"].as_u64().unwrap() > 0);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ingest: 40/40 rows (100.0%)"), "{stderr}");
    let reject: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&rejects).unwrap().trim()).unwrap();
    assert_eq!(reject["row"], 7);
    assert_eq!(reject["line"], 8);
    assert_eq!(reject["problems"][0]["field"], "metadata.x");

    // --writers takes 1 to 16; anything else is refused before anything is read.
    for bad in ["0", "17", "-1", "two", " 2", ""] {
        let output = cli(&db)
            .args(["ingest", "docs", "--vectors"])
            .arg(&npy)
            .arg("--records")
            .arg(&jsonl)
            .args(["--writers", bad])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "--writers {bad:?}");
        // clap names the option, or (for "-1", which looks like a flag) the value.
        assert!(
            stderr.contains("--writers") || stderr.contains(&format!("'{bad}'")),
            "--writers {bad:?}: {stderr}"
        );
    }
    assert_eq!(
        count(&db, &_collection),
        39,
        "the refused runs wrote nothing"
    );
}

#[test]
fn cli_refuses_a_bad_batch_naming_file_row_and_field() {
    let (db, collection) = with_collection("docs", 4, Metric::L2);
    let scratch = Scratch::new(&db);
    let (vectors, mut records) = dataset(9, 6, 4);
    records[4] = r#"{"id": "doc-00004", "metadata": {"deep": 1}, "contnet": "typo"}"#.into();
    let (npy, jsonl) = files(&scratch, &vectors, &records);
    let output = cli(&db)
        .args(["ingest", "docs", "--progress", "off", "--vectors"])
        .arg(&npy)
        .arg("--records")
        .arg(&jsonl)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .contains("records.jsonl: 1 invalid row in a batch; nothing of that batch was written"),
        "{stderr}"
    );
    assert!(
        stderr.contains("row 4 (line 5): contnet: unknown field `contnet`"),
        "{stderr}"
    );
    assert_eq!(count(&db, &collection), 0);
}

/// The done-when test: kill the CLI mid-file (by its pid), run it again, and the collection
/// holds exactly the file's rows.
#[test]
fn killed_ingest_resumes_to_exactly_the_files_rows() {
    let (db, collection) = with_collection("docs", 16, Metric::L2);
    let scratch = Scratch::new(&db);
    let rows = 60_000;
    let (vectors, records) = dataset(10, rows, 16);
    let (npy, jsonl) = files(&scratch, &vectors, &records);
    let run = || {
        let mut command = cli(&db);
        command
            .args([
                "ingest",
                "docs",
                "--progress",
                "off",
                "--format",
                "json",
                "--batch-size",
                "500",
                "--vectors",
            ])
            .arg(&npy)
            .arg("--records")
            .arg(&jsonl);
        command
    };
    let mut child = run()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = 0;
    while seen < 2_000 {
        assert!(Instant::now() < deadline, "the ingest never got going");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the ingest finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
        seen = count(&db, &collection);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let after_kill = count(&db, &collection);
    assert!(
        after_kill < rows as u64,
        "killed mid-file: {after_kill} of {rows} rows"
    );
    assert_eq!(after_kill % 500, 0, "only whole batches are committed");
    let output = run().output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(summary["unchanged"], after_kill, "{summary}");
    assert_eq!(summary["inserted"], rows as u64 - after_kill, "{summary}");
    assert_eq!(summary["updated"], 0, "{summary}");
    assert_eq!(stored(&db, &collection), expected(&vectors, &records));
}

/// `embedstore insert` streams its input in chunks inside one transaction: problems in a later
/// chunk roll back the earlier ones, and every bad line is named (unknown fields, NaN tokens).
#[test]
fn cli_insert_streams_and_refuses_every_bad_line_writing_nothing() {
    let (db, collection) = with_collection("docs", 3, Metric::L2);
    let mut lines: Vec<String> = (0..25)
        .map(|index| format!(r#"{{"id": "i{index}", "vector": [1, 2, {index}]}}"#))
        .collect();
    lines[21] = r#"{"id": "i21", "vector": [1, 2, 3], "metdata": {"lang": "en"}}"#.into();
    lines[22] = r#"{"id": "i22", "vector": [1, NaN, 3]}"#.into();
    lines[23] = r#"{"id": "i3", "vector": [1, 2, 3]}"#.into();
    let insert = |stdin: String| {
        let mut child = cli(&db)
            .args(["insert", "docs", "-", "--batch-size", "10"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let output = insert(lines.join("\n"));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("3 bad lines in stdin; nothing was written"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 22: metdata: unknown field `metdata`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 23: vector[1]: NaN is not valid JSON"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 24: external_id: repeats the external_id of line 4"),
        "{stderr}"
    );
    assert_eq!(
        count(&db, &collection),
        0,
        "the first two chunks were rolled back"
    );
    lines.truncate(21);
    let output = insert(lines.join("\n"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(count(&db, &collection), 21);
}
