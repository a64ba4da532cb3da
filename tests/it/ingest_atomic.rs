//! `IngestOptions::atomic`: the whole source in one transaction, every problem reported, and
//! `JsonlSource`, the JSONL-with-vectors reader it is fed by in `embedstore insert`.

use std::io::Cursor;

use embedstore::{
    Collection, Ingest, IngestError, IngestObserver, IngestOptions, IngestSummary, JsonlSource,
    Metric, NewEmbedding, RejectedRow, WriteMode,
};
use embedstore_test_support::TestDatabase;

use crate::ingest::problem_lines;
use crate::support::{count, with_collection};

fn options(mode: WriteMode, batch_size: usize) -> IngestOptions {
    IngestOptions {
        mode,
        batch_size,
        atomic: true,
        ..IngestOptions::default()
    }
}

fn run(
    db: &TestDatabase,
    jsonl: &str,
    options: IngestOptions,
    observer: &mut dyn IngestObserver,
) -> Result<IngestSummary, IngestError> {
    let mut source = JsonlSource::from_reader(Cursor::new(jsonl.as_bytes().to_vec()), "in.jsonl");
    Ingest::new(db.store(), "docs", options).run(&mut source, observer)
}

/// Problems as `line L: field: reason`, the way `embedstore insert` prints them.
fn by_line(error: &IngestError) -> Vec<String> {
    error
        .problems()
        .iter()
        .map(|problem| {
            let line = problem.line.unwrap();
            if problem.field.is_empty() {
                format!("line {line}: {}", problem.reason)
            } else {
                format!("line {line}: {}: {}", problem.field, problem.reason)
            }
        })
        .collect()
}

fn store_one(db: &TestDatabase, collection: &Collection, id: &str) {
    db.store()
        .write(|uow| {
            uow.embeddings()
                .insert(collection, vec![NewEmbedding::new(id, vec![9.0, 9.0, 9.0])])
        })
        .unwrap();
}

#[test]
fn every_bad_line_in_every_batch_is_reported_and_nothing_is_written() {
    let (db, collection) = with_collection("docs", 3, Metric::L2);
    store_one(&db, &collection, "taken");
    // Batches of two: the problems sit in different batches, after good batches that the
    // transaction had written already.
    let jsonl = "{\"id\": \"a\", \"vector\": [1, 2, 3]}\n\
                 \n\
                 {\"id\": \"b\", \"vector\": [1, NaN, 3]}\n\
                 {\"id\": \"c\", \"vector\": [1, 1e39, 3]}\r\n\
                 {\"id\": \"d\", \"vector\": [1, 2, 3], \"metadata\": [1]}\n\
                 {\"id\": \"e\", \"vector\": [1, 2, 3]}\n\
                 {\"id\": \"f\", \"vector\": [1, 2]}\n\
                 {\"id\": \"a\", \"vector\": [3, 2, 1]}\n\
                 {\"id\": \"taken\", \"vector\": [3, 2, 1]}\n";
    let error = run(&db, jsonl, options(WriteMode::Insert, 2), &mut ()).unwrap_err();
    assert_eq!(
        by_line(&error),
        [
            "line 3: vector[1]: NaN is not valid JSON (the vector must hold finite numbers)",
            "line 4: vector[1]: value is infinite",
            "line 5: metadata: must be a JSON object, got an array",
            "line 7: vector: expected 3 values, got 2",
            "line 8: external_id: repeats the external_id of row 0 (line 1)",
            "line 9: external_id: \"taken\" already exists in collection \"docs\" (insert mode; upsert updates it)",
        ]
    );
    assert_eq!(count(&db, &collection), 1, "only the row stored before");
}

#[test]
fn upsert_takes_the_last_row_of_an_id_across_batches_in_one_transaction() {
    let (db, collection) = with_collection("docs", 3, Metric::L2);
    store_one(&db, &collection, "old");
    let jsonl = "{\"id\": \"a\", \"vector\": [1, 2, 3]}\n\
                 {\"id\": \"old\", \"vector\": [1, 1, 1]}\n\
                 {\"id\": \"a\", \"vector\": [4, 5, 6], \"content\": \"last\"}\n";
    let summary = run(&db, jsonl, options(WriteMode::Upsert, 1), &mut ()).unwrap();
    assert_eq!(
        (
            summary.rows,
            summary.inserted,
            summary.updated,
            summary.batches
        ),
        (3, 1, 2, 3)
    );
    let stored = db
        .store()
        .read(|uow| uow.embeddings().get(&collection, &["a", "old"]))
        .unwrap();
    assert_eq!(stored[0].vector.to_vec(), [4.0, 5.0, 6.0]);
    assert_eq!(stored[0].content.as_deref(), Some("last"));
    assert_eq!(stored[1].vector.to_vec(), [1.0, 1.0, 1.0]);
}

#[test]
fn a_byte_order_mark_blank_lines_unknown_fields_and_non_objects() {
    let (db, collection) = with_collection("docs", 1, Metric::L2);
    let jsonl = "\u{feff}{\"id\": \"x\", \"vector\": [1]}\n\n  \n\
                 {\"id\": \"y\", \"vector\": [2], \"metdata\": {\"lang\": \"en\"}}\n\
                 [\"z\", [1]]\n\
                 {\"id\": \"w\", \"vector\": [-Infinity]}\n";
    let error = run(&db, jsonl, options(WriteMode::Upsert, 10), &mut ()).unwrap_err();
    let lines = by_line(&error);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].starts_with("line 4: metdata: unknown field `metdata`"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("line 5: a record must be a JSON object"),
        "{lines:?}"
    );
    assert!(
        lines[2].starts_with("line 6: vector[0]: Infinity is not valid JSON"),
        "{lines:?}"
    );
    // Rows are records, not lines: the blank lines number no row.
    assert_eq!(error.problems()[0].row, 1);
    assert_eq!(count(&db, &collection), 0);
    let summary = run(
        &db,
        "\u{feff}{\"id\": \"x\", \"vector\": [1]}\n\n",
        options(WriteMode::Upsert, 10),
        &mut (),
    )
    .unwrap();
    assert_eq!((summary.rows, summary.inserted), (1, 1));
}

#[test]
fn skipping_invalid_rows_writes_the_rest_in_one_transaction() {
    #[derive(Default)]
    struct Rejects(Vec<RejectedRow>);
    impl IngestObserver for Rejects {
        fn rejected(&mut self, row: &RejectedRow) -> Result<(), IngestError> {
            self.0.push(row.clone());
            Ok(())
        }
    }
    let (db, collection) = with_collection("docs", 2, Metric::L2);
    let jsonl = "{\"id\": \"a\", \"vector\": [1, 2]}\n\
                 {\"id\": \"b\", \"vector\": [1]}\n\
                 {\"id\": \"a\", \"vector\": [3, 4]}\n\
                 {\"id\": \"c\", \"vector\": [5, 6]}\n";
    let mut rejects = Rejects::default();
    let options = IngestOptions {
        skip_invalid: true,
        ..options(WriteMode::Insert, 2)
    };
    let summary = run(&db, jsonl, options, &mut rejects).unwrap();
    assert_eq!((summary.inserted, summary.rejected), (2, 2));
    let rejected: Vec<_> = rejects.0.iter().map(|row| (row.row, row.line)).collect();
    assert_eq!(rejected, [(1, Some(2)), (2, Some(3))]);
    assert_eq!(count(&db, &collection), 2);
}

#[test]
fn the_records_file_form_names_the_file_and_counts_its_rows() {
    let (db, collection) = with_collection("docs", 2, Metric::Cosine);
    let scratch = embedstore_test_support::Scratch::new(&db);
    let path = scratch.path("in.jsonl");
    std::fs::write(
        &path,
        "{\"id\": \"a\", \"vector\": [1, 2]}\n\n{\"id\": \"b\", \"vector\": [2, 1]}\n",
    )
    .unwrap();
    let mut source = JsonlSource::open(&path).unwrap();
    assert_eq!(embedstore::RowSource::total_rows(&source), 2);
    let summary = Ingest::new(db.store(), "docs", options(WriteMode::Insert, 1))
        .run(&mut source, &mut ())
        .unwrap();
    assert_eq!(summary.inserted, 2);
    assert_eq!(count(&db, &collection), 2);
    let missing = JsonlSource::open(&scratch.path("nope.jsonl")).unwrap_err();
    assert!(problem_lines(&missing).is_empty());
    assert!(missing.to_string().contains("nope.jsonl"), "{missing}");
}
