//! The in-memory bulk write path (`MemorySource`, `Ingest::run_rows`) against a real database:
//! it stores, refuses and counts exactly as the file path does.

use embedstore::{Ids, Ingest, IngestOptions, IngestProgress, MemorySource, NewEmbedding};
use embedstore::{IngestError, IngestObserver, IngestSummary, Metric, RejectedRow, WriteMode};
use embedstore_test_support::{Scratch, dataset, expected, files, stored};

use crate::ingest::{ingest, problem_lines};
use crate::support::{Rng, count, repeated_ids, rows_of, with_collection};

fn options(mode: WriteMode, batch_size: usize, writers: usize) -> IngestOptions {
    crate::support::ingest_options(mode, batch_size, writers)
}

#[derive(Default)]
struct Progress(Vec<(u64, u64)>, Vec<RejectedRow>);

impl IngestObserver for Progress {
    fn progress(&mut self, progress: &IngestProgress) {
        self.0.push((progress.rows, progress.total_rows));
    }

    fn rejected(&mut self, row: &RejectedRow) -> Result<(), IngestError> {
        self.1.push(row.clone());
        Ok(())
    }
}

#[test]
fn rows_written_from_memory_read_back_exactly_with_two_writers_and_progress() {
    for mode in [WriteMode::Insert, WriteMode::Upsert] {
        let (db, collection) = with_collection("docs", 8, Metric::Cosine);
        let (vectors, records) = dataset(61, 250, 8);
        let mut observer = Progress::default();
        let summary = Ingest::new(db.store(), "docs", options(mode, 40, 2))
            .run_rows(rows_of(&vectors, &records), &mut observer)
            .unwrap();
        assert_eq!(
            (summary.rows, summary.inserted, summary.batches),
            (250, 250, 7),
            "{mode:?}"
        );
        assert_eq!(stored(&db, &collection), expected(&vectors, &records));
        // Once per batch, in order, with the Vec's length as the total.
        let expected_progress: Vec<(u64, u64)> = [40, 80, 120, 160, 200, 240, 250]
            .map(|rows| (rows, 250))
            .into();
        assert_eq!(observer.0, expected_progress, "{mode:?}");
    }
}

#[test]
fn a_lazy_iterator_reports_no_total_and_is_written_whole() {
    let (db, collection) = with_collection("docs", 4, Metric::L2);
    let (vectors, records) = dataset(62, 60, 4);
    let rows = rows_of(&vectors, &records);
    // `filter` cannot say its length: progress has no total, and every kept row is written.
    let kept = rows
        .into_iter()
        .filter(|row| row.external_id != "doc-00007");
    let mut source = MemorySource::new(kept).named("service job 9");
    let mut observer = Progress::default();
    let summary = Ingest::new(db.store(), "docs", options(WriteMode::Upsert, 25, 2))
        .run(&mut source, &mut observer)
        .unwrap();
    assert_eq!((summary.rows, summary.inserted), (59, 59));
    assert_eq!(observer.0, vec![(25, 0), (50, 0), (59, 0)]);
    let mut want = expected(&vectors, &records);
    want.remove("doc-00007");
    assert_eq!(stored(&db, &collection), want);
}

/// Existing semantics (`IngestOptions`, decision 0019): each batch is one transaction, all or
/// nothing; a batch with an invalid row is refused whole before it is written, the batches
/// before it stay committed, and no batch after it starts.
#[test]
fn a_bad_row_in_the_second_of_three_batches_names_its_row_and_field_and_writes_nothing_of_it() {
    for (mode, writers) in [
        (WriteMode::Insert, 1),
        (WriteMode::Insert, 2),
        (WriteMode::Upsert, 2),
    ] {
        let (db, collection) = with_collection("docs", 4, Metric::Cosine);
        let (vectors, records) = dataset(63, 30, 4);
        let mut rows = rows_of(&vectors, &records);
        crate::support::set_value(&mut rows[15].vector, 2, f32::NAN);
        rows[17].vector = vec![1.0_f32, 2.0, 3.0].into();
        rows[18].metadata = serde_json::json!(["not", "an", "object"]);
        let error = Ingest::new(db.store(), "docs", options(mode, 10, writers))
            .run_rows(rows, &mut ())
            .unwrap_err();
        assert_eq!(
            problem_lines(&error),
            [
                "row 15: vector[2]: value is NaN",
                "row 17: vector: expected 4 values, got 3",
                "row 18: metadata: must be a JSON object, got an array",
            ],
            "{mode:?}, {writers} writers: {error}"
        );
        assert!(matches!(error, IngestError::Rejected { .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            "rows in memory: 3 invalid rows in a batch; nothing of that batch was written"
        );
        // Batch 1 (rows 0–9) committed; nothing of batch 2 (rows 10–19), not even its valid
        // rows; batch 3 never started.
        let held = stored(&db, &collection);
        let want: Vec<String> = (0..10).map(|row| format!("doc-{row:05}")).collect();
        assert_eq!(
            held.keys().cloned().collect::<Vec<_>>(),
            want,
            "{mode:?}, {writers} writers"
        );
    }
}

#[test]
fn an_atomic_run_from_memory_writes_nothing_when_any_row_is_bad() {
    let (db, collection) = with_collection("docs", 4, Metric::L2);
    let (vectors, records) = dataset(64, 30, 4);
    let mut rows = rows_of(&vectors, &records);
    rows[25].external_id = String::new();
    let options = IngestOptions {
        atomic: true,
        ..options(WriteMode::Insert, 10, 2)
    };
    let error = Ingest::new(db.store(), "docs", options)
        .run_rows(rows, &mut ())
        .unwrap_err();
    assert_eq!(problem_lines(&error), ["row 25: external_id: is empty"]);
    assert_eq!(count(&db, &collection), 0);
}

#[test]
fn skipped_rows_from_memory_are_reported_by_index_and_id() {
    let (db, collection) = with_collection("docs", 4, Metric::L2);
    let (vectors, records) = dataset(65, 20, 4);
    let mut rows = rows_of(&vectors, &records);
    rows[4].content = Some("nul \0 here".into());
    let mut observer = Progress::default();
    let options = IngestOptions {
        skip_invalid: true,
        ..options(WriteMode::Upsert, 10, 2)
    };
    let summary = Ingest::new(db.store(), "docs", options)
        .run_rows(rows, &mut observer)
        .unwrap();
    assert_eq!((summary.inserted, summary.rejected), (19, 1));
    assert_eq!(observer.1.len(), 1);
    assert_eq!(
        (observer.1[0].row, observer.1[0].external_id.as_deref()),
        (4, Some("doc-00004"))
    );
    assert!(
        observer.1[0].problems[0]
            .to_string()
            .starts_with("row 4: content: contains a NUL character"),
        "{:?}",
        observer.1
    );
    assert_eq!(count(&db, &collection), 19);
}

fn counts(summary: &IngestSummary) -> (u64, u64, u64, u64, u64, u64) {
    crate::support::ingest_counts(summary)
}

#[test]
fn ids_repeated_across_writers_end_as_the_file_path_ends_them() {
    for seed in [71, 72] {
        let (vectors, records) = repeated_ids(seed, 900, 150);
        // The same rows through the file path and from memory, into collections of their own.
        let (db, from_file) = with_collection("file", 8, Metric::L2);
        let from_memory = db
            .store()
            .write(|uow| {
                uow.collections().create(embedstore::NewCollection::new(
                    "memory",
                    8,
                    Metric::L2,
                    "test",
                ))
            })
            .unwrap();
        let scratch = Scratch::new(&db);
        let (npy, jsonl) = files(&scratch, &vectors, &records);
        let by_file = ingest(
            &db,
            &from_file,
            &npy,
            &Ids::Records(jsonl),
            options(WriteMode::Upsert, 25, 2),
        )
        .unwrap();
        let by_memory = Ingest::new(db.store(), "memory", options(WriteMode::Upsert, 25, 2))
            .run_rows(rows_of(&vectors, &records), &mut ())
            .unwrap();
        assert_eq!(counts(&by_memory), counts(&by_file), "seed {seed}");
        let last_wins = expected(&vectors, &records);
        assert_eq!(stored(&db, &from_memory), last_wins, "seed {seed}");
        assert_eq!(stored(&db, &from_file), last_wins, "seed {seed}");
        // Not vacuous: ids did repeat, inside batches and across them.
        assert!(by_memory.duplicates_dropped > 0, "{by_memory:?}");
        assert!(by_memory.updated > 0, "{by_memory:?}");
    }
}

#[test]
fn insert_mode_from_memory_blames_the_later_row_of_an_id_repeated_across_batches() {
    let (db, collection) = with_collection("docs", 4, Metric::L2);
    let mut rng = Rng::new(73);
    // Row 130 (batch 6 of 20-row batches) repeats the id of row 17 (batch 0).
    let rows: Vec<NewEmbedding> = (0..200)
        .map(|row| {
            let id = if row == 130 { 17 } else { row };
            NewEmbedding::new(format!("doc-{id}"), rng.vector(4))
        })
        .collect();
    let first_17 = rows[17].vector.to_vec();
    let error = Ingest::new(db.store(), "docs", options(WriteMode::Insert, 20, 2))
        .run_rows(rows, &mut ())
        .unwrap_err();
    let problems = problem_lines(&error);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("row 130: external_id: \"doc-17\" already exists"),
        "{problems:?}"
    );
    // The batches before the refused one are stored, at most one after it was in flight.
    let held = count(&db, &collection);
    assert!((120..=140).contains(&held), "{held} rows");
    let bits: Vec<u32> = first_17.iter().map(|value| value.to_bits()).collect();
    assert_eq!(stored(&db, &collection)["doc-17"].0, bits);
}

#[test]
fn an_iterator_that_panics_stops_the_run_after_the_batches_it_handed_over_are_written() {
    let (db, collection) = with_collection("docs", 4, Metric::L2);
    let mut rng = Rng::new(74);
    let vectors: Vec<Vec<f32>> = (0..100).map(|_| rng.vector(4)).collect();
    let rows = vectors.into_iter().enumerate().map(|(n, vector)| {
        if n == 55 {
            panic!("the caller's iterator failed at row 55");
        }
        NewEmbedding::new(format!("doc-{n}"), vector)
    });
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Ingest::new(db.store(), "docs", options(WriteMode::Insert, 10, 2)).run_rows(rows, &mut ())
    }));
    assert!(outcome.is_err(), "the panic reaches the caller");
    // Batches 0–4 were handed to the writers and committed; batch 5 was never complete.
    assert_eq!(count(&db, &collection), 50);
}
