//! File ingest (`.npy` + JSONL) through the library, against a real database (through the CLI:
//! the CLI crate's tests).

use std::path::Path;

use embedstore::{Collection, Metric};
use embedstore::{
    Ids, Ingest, IngestError, IngestObserver, IngestOptions, IngestSummary, NpySource, RejectedRow,
    WriteMode,
};
use embedstore_test_support::{Scratch, TestDatabase, dataset, expected, files, stored, write_npy};

use crate::support::{count, with_collection};

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
    write_npy(&npy, &vectors).unwrap();
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
fn npy_and_jsonl_rows_whose_norm_overflows_single_precision_are_refused_with_their_row() {
    let (db, collection) = with_collection("docs", 4, Metric::L2);
    let scratch = Scratch::new(&db);
    let (mut vectors, records) = dataset(6, 12, 4);
    // Finite values whose squares overflow f32: the L2 distance to anything is infinite.
    vectors[5] = vec![3e38, -3e38, 0.0, 0.0];
    let (npy, jsonl) = files(&scratch, &vectors, &records);
    let error = ingest(
        &db,
        &collection,
        &npy,
        &Ids::Records(jsonl),
        options(WriteMode::Upsert, 100),
    )
    .unwrap_err();
    assert_eq!(
        problem_lines(&error),
        [
            "row 5 (line 6): vector: its length (L2 norm) is 4.243e38, above the 1e18 allowed: pgvector computes norms, distances and inner products in single precision, which would overflow to infinity or NaN"
        ],
        "{error}"
    );
    assert_eq!(count(&db, &collection), 0);
    // The same vector in a JSONL record of its own.
    let line = r#"{"id": "huge", "vector": [1e30, 1e30, 1e30, 1e30]}"#;
    let mut source = embedstore::JsonlSource::from_reader(
        std::io::Cursor::new(format!("{line}\n").into_bytes()),
        "in.jsonl",
    );
    let error = Ingest::new(db.store(), &collection.name, options(WriteMode::Insert, 10))
        .run(&mut source, &mut ())
        .unwrap_err();
    assert_eq!(
        problem_lines(&error),
        [
            "row 0 (line 1): vector: its length (L2 norm) is 2.000e30, above the 1e18 allowed: pgvector computes norms, distances and inner products in single precision, which would overflow to infinity or NaN"
        ],
        "{error}"
    );
    assert_eq!(count(&db, &collection), 0);

    // Under a half-quantized index a value beyond ±65504 is refused by its row too.
    db.store()
        .indexes(&collection)
        .create(
            &embedstore::IndexSpec::hnsw().quantization(embedstore::Quantization::Half),
            None,
        )
        .unwrap();
    vectors[5] = vec![1.0, 2.0, -70000.0, 0.5];
    let (npy, jsonl) = files(&scratch, &vectors, &records);
    for atomic in [false, true] {
        let error = ingest(
            &db,
            &collection,
            &npy,
            &Ids::Records(jsonl.clone()),
            IngestOptions {
                atomic,
                ..options(WriteMode::Upsert, 100)
            },
        )
        .unwrap_err();
        assert_eq!(
            problem_lines(&error),
            [
                "row 5 (line 6): vector[2]: -70000 is beyond ±65504, the largest half-precision value: this collection's ANN index stores halfvec (a half-quantized index, or any index above 2,000 dimensions), which cannot hold it"
            ],
            "atomic={atomic}: {error}"
        );
        assert_eq!(count(&db, &collection), 0);
    }
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
            "row 16 (line 17): external_id: repeats the external_id of row 10 (line 11)",
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
    fn progress(&mut self, progress: &embedstore::IngestProgress) {
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
    write_npy(&npy, &vectors).unwrap();
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
