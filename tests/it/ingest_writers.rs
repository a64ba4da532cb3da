//! Several batches written at once (`IngestOptions::writers`): the stored rows, the counts and
//! the errors are those of one writer taking the batches in file order.

use embedstore::{Collection, Metric, NewEmbedding};
use embedstore::{Ids, IngestError, IngestOptions, IngestSummary, WriteMode};
use embedstore_test_support::{
    Rows, Scratch, TestDatabase, expected, files, stored, write_lines, write_npy,
};

use crate::concurrency::shuffled_ids;
use crate::ingest::{ingest, problem_lines};
use crate::support::{Rng, count, with_collection};

/// `rows` records over only `distinct` ids drawn at random, so the same id turns up in many
/// batches, in a different order each time; returns the vectors, the records, and what the
/// collection must hold afterwards (the last row of each id).
fn repeated_ids(
    seed: u64,
    rows: usize,
    distinct: usize,
    dimension: usize,
) -> (Vec<Vec<f32>>, Vec<String>, Rows) {
    let mut rng = Rng::new(seed);
    let mut vectors = Vec::with_capacity(rows);
    let mut records = Vec::with_capacity(rows);
    for row in 0..rows {
        let id = (rng.next_u64() % distinct as u64) as usize;
        vectors.push(rng.vector(dimension));
        records.push(
            serde_json::json!({"id": format!("doc-{id}"), "metadata": {"row": row}, "content": format!("row {row}")})
                .to_string(),
        );
    }
    // `expected` keeps the last row of each id, as a BTreeMap built in file order does.
    let last_wins = expected(&vectors, &records);
    (vectors, records, last_wins)
}

fn options(mode: WriteMode, batch_size: usize, writers: usize) -> IngestOptions {
    crate::support::ingest_options(mode, batch_size, writers)
}

/// Writes `vectors` + `records` as files in a scratch directory and ingests them.
fn ingest_rows(
    db: &TestDatabase,
    collection: &Collection,
    vectors: &[Vec<f32>],
    records: &[String],
    options: IngestOptions,
) -> Result<IngestSummary, IngestError> {
    let scratch = Scratch::new(db);
    let (npy, jsonl) = files(&scratch, vectors, records);
    ingest(db, collection, &npy, &Ids::Records(jsonl), options)
}

#[test]
fn the_last_row_of_an_id_wins_across_batches_written_at_once() {
    for seed in [11, 12, 13] {
        let (db, collection) = with_collection("docs", 8, Metric::L2);
        let (vectors, records, last_wins) = repeated_ids(seed, 900, 120, 8);
        let summary = ingest_rows(
            &db,
            &collection,
            &vectors,
            &records,
            options(WriteMode::Upsert, 25, 4),
        )
        .unwrap();
        assert_eq!((summary.rows, summary.batches), (900, 36), "seed {seed}");
        assert_eq!(
            summary.inserted + summary.updated + summary.unchanged + summary.duplicates_dropped,
            900,
            "seed {seed}: {summary:?}"
        );
        assert_eq!(summary.inserted as usize, last_wins.len(), "seed {seed}");
        assert_eq!(stored(&db, &collection), last_wins, "seed {seed}");
    }
}

#[test]
fn one_writer_and_four_writers_store_and_count_the_same() {
    let (vectors, records, last_wins) = repeated_ids(21, 1200, 700, 16);
    let mut outcomes = Vec::new();
    for writers in [1, 4] {
        let (db, collection) = with_collection("docs", 16, Metric::Cosine);
        // A third of the ids are stored beforehand, some exactly as the file ends them (those
        // are unchanged), the rest with other vectors (updated).
        let mut rng = Rng::new(5);
        let prior: Vec<NewEmbedding> = last_wins
            .iter()
            .step_by(3)
            .enumerate()
            .map(|(n, (id, (bits, content, metadata)))| {
                let vector: Vec<f32> = if n % 2 == 0 {
                    bits.iter().map(|bits| f32::from_bits(*bits)).collect()
                } else {
                    rng.vector(16)
                };
                NewEmbedding {
                    external_id: id.clone(),
                    vector: vector.into(),
                    content: content.clone(),
                    metadata: metadata.clone(),
                }
            })
            .collect();
        db.store()
            .write(|uow| uow.embeddings().insert(&collection, prior))
            .unwrap();
        let summary = ingest_rows(
            &db,
            &collection,
            &vectors,
            &records,
            options(WriteMode::Upsert, 40, writers),
        )
        .unwrap();
        assert_eq!(stored(&db, &collection), last_wins, "{writers} writers");
        outcomes.push(crate::support::ingest_counts(&summary));
    }
    assert_eq!(outcomes[0], outcomes[1]);
    // The comparison is not vacuous: every kind of row occurred.
    let (_, inserted, updated, unchanged, dropped, _) = outcomes[0];
    assert!(
        inserted > 0 && updated > 0 && unchanged > 0 && dropped > 0,
        "{outcomes:?}"
    );
}

#[test]
fn insert_mode_blames_the_later_row_of_an_id_repeated_across_batches() {
    for writers in [1, 2, 4] {
        let (db, collection) = with_collection("docs", 4, Metric::L2);
        let mut rng = Rng::new(31);
        let vectors: Vec<Vec<f32>> = (0..200).map(|_| rng.vector(4)).collect();
        // Row 130 (batch 6 of 20-row batches) repeats the id of row 17 (batch 0).
        let records: Vec<String> = (0..200)
            .map(|row| {
                let id = if row == 130 { 17 } else { row };
                serde_json::json!({"id": format!("doc-{id}")}).to_string()
            })
            .collect();
        let error = ingest_rows(
            &db,
            &collection,
            &vectors,
            &records,
            options(WriteMode::Insert, 20, writers),
        )
        .unwrap_err();
        let problems: Vec<String> = problem_lines(&error);
        assert_eq!(problems.len(), 1, "{writers} writers: {problems:?}");
        assert!(
            problems[0].starts_with("row 130 (line 131): external_id: \"doc-17\" already exists"),
            "{writers} writers: {problems:?}"
        );
        // Every batch before the refused one is stored, the refused one is not; batches after
        // it may have been in flight (at most writers - 1 of them).
        let stored_rows = count(&db, &collection);
        assert!(
            (120..=120 + 20 * (writers as u64 - 1)).contains(&stored_rows),
            "{writers} writers: {stored_rows} rows"
        );
        let doc_17 = stored(&db, &collection)["doc-17"].0.clone();
        let row_17: Vec<u32> = vectors[17].iter().map(|value| value.to_bits()).collect();
        assert_eq!(doc_17, row_17, "the first row of the id is the stored one");
    }
}

#[test]
fn a_batch_refused_by_validation_stops_every_later_batch_from_starting() {
    let (db, collection) = with_collection("docs", 4, Metric::L2);
    let mut rng = Rng::new(41);
    let mut vectors: Vec<Vec<f32>> = (0..300).map(|_| rng.vector(4)).collect();
    vectors[95][2] = f32::INFINITY;
    let records: Vec<String> = (0..300)
        .map(|row| serde_json::json!({"id": format!("doc-{row}")}).to_string())
        .collect();
    let error = ingest_rows(
        &db,
        &collection,
        &vectors,
        &records,
        options(WriteMode::Upsert, 10, 4),
    )
    .unwrap_err();
    let problems: Vec<String> = problem_lines(&error);
    assert_eq!(
        problems,
        ["row 95 (line 96): vector[2]: value is infinite"],
        "{error}"
    );
    // Batches 0–8 are written, batch 9 (rows 90–99) is refused, nothing after it started.
    assert_eq!(count(&db, &collection), 90);
}

#[test]
fn two_ingests_of_the_same_ids_in_different_random_orders_never_deadlock() {
    let (db, collection) = with_collection("docs", 8, Metric::L2);
    let scratch = Scratch::new(&db);
    let mut rng = Rng::new(51);
    // Two files over the same 600 ids, each in its own random order with its own vectors.
    let inputs: Vec<(std::path::PathBuf, std::path::PathBuf, Rows)> = (0..2)
        .map(|file| {
            let ids = shuffled_ids(&mut rng, "doc", 600);
            let vectors: Vec<Vec<f32>> = ids.iter().map(|_| rng.vector(8)).collect();
            let records: Vec<String> = ids
                .iter()
                .map(|id| serde_json::json!({"id": id, "metadata": {"file": file}}).to_string())
                .collect();
            let (npy, jsonl) = (
                scratch.path(&format!("v{file}.npy")),
                scratch.path(&format!("r{file}.jsonl")),
            );
            write_npy(&npy, &vectors).unwrap();
            write_lines(&jsonl, &records).unwrap();
            (npy, jsonl, expected(&vectors, &records))
        })
        .collect();
    for round in 0..3 {
        let summaries: Vec<_> = std::thread::scope(|scope| {
            let running: Vec<_> = inputs
                .iter()
                .map(|(npy, jsonl, _)| {
                    let (db, collection) = (&db, &collection);
                    scope.spawn(move || {
                        ingest(
                            db,
                            collection,
                            npy,
                            &Ids::Records(jsonl.clone()),
                            options(WriteMode::Upsert, 50, 2),
                        )
                    })
                })
                .collect();
            running
                .into_iter()
                .map(|handle| handle.join().unwrap().unwrap())
                .collect()
        });
        let rows = stored(&db, &collection);
        assert_eq!(rows.len(), 600, "round {round}");
        if round == 0 {
            let inserted: u64 = summaries.iter().map(|summary| summary.inserted).sum();
            assert_eq!(
                inserted, 600,
                "each id inserted exactly once: {summaries:?}"
            );
        }
        // Every stored row is one file's version of it, whole.
        for (id, row) in &rows {
            assert!(
                inputs.iter().any(|(_, _, version)| version[id] == *row),
                "round {round}: {id} mixes the files"
            );
        }
    }
}
