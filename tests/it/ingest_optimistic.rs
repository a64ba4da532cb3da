//! The upsert ingest into a collection that held no rows when it started: its batches skip the
//! comparison with the stored rows (the planning read) and are inserted as insert-mode batches
//! are, until one meets a stored id; that batch is redone the usual way and so is every later
//! one. What it stores and counts is what the usual path stores and counts.

use embedstore::{Collection, Error, Ingest, IngestError, IngestObserver, IngestProgress};
use embedstore::{Metric, NewCollection, NewEmbedding, RejectedRow, WriteMode};
use embedstore_test_support::{Rows, TestDatabase, dataset, expected, stored};

use crate::support::statements;
use crate::support::{
    Rng, count, ingest_counts, ingest_options, repeated_ids, rows_of, with_collection,
};

/// The planning reads among `sent`: the comparison of a batch with the stored rows is the one
/// statement of an upsert ingest that looks ids up (`external_id IN (SELECT unnest($2))`).
fn planning_reads(sent: &[String]) -> usize {
    sent.iter()
        .filter(|statement| statement.contains("unnest("))
        .count()
}

fn create(db: &TestDatabase, name: &str, dimension: u32) -> Collection {
    db.store()
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new(name, dimension, Metric::L2, "test"))
        })
        .unwrap()
}

/// A collection that already holds one row none of the tests' ids equals: its upserts take
/// the usual path (compare, then write) from the first batch.
fn seeded(db: &TestDatabase, name: &str, dimension: u32) -> Collection {
    let collection = create(db, name, dimension);
    db.store()
        .write(|uow| {
            uow.embeddings().insert(
                &collection,
                vec![NewEmbedding::new(
                    "unrelated",
                    vec![0.5_f32; dimension as usize],
                )],
            )
        })
        .unwrap();
    collection
}

fn without_unrelated(mut rows: Rows) -> Rows {
    assert!(rows.remove("unrelated").is_some());
    rows
}

#[derive(Default, PartialEq, Debug)]
struct Seen {
    progress: Vec<(u64, u64)>,
    rejected: Vec<RejectedRow>,
}

impl IngestObserver for Seen {
    fn progress(&mut self, progress: &IngestProgress) {
        self.progress.push((progress.rows, progress.total_rows));
    }

    fn rejected(&mut self, row: &RejectedRow) -> Result<(), IngestError> {
        self.rejected.push(row.clone());
        Ok(())
    }
}

#[test]
fn an_upsert_into_an_empty_collection_sends_no_planning_read_and_stores_what_an_insert_stores() {
    statements::install();
    let (db, fresh) = with_collection("fresh", 8, Metric::L2);
    let inserted = create(&db, "inserted", 8);
    statements::watch(&db);
    let (vectors, records) = dataset(81, 250, 8);
    let run = |name: &str, mode: WriteMode| {
        let mut seen = Seen::default();
        let summary = Ingest::new(db.store(), name, ingest_options(mode, 40, 2))
            .run_rows(rows_of(&vectors, &records), &mut seen)
            .unwrap();
        (summary, seen, statements::sent_to(&db))
    };

    let (by_upsert, upsert_seen, sent) = run("fresh", WriteMode::Upsert);
    assert_eq!(planning_reads(&sent), 0, "{sent:#?}");
    let (by_insert, insert_seen, _) = run("inserted", WriteMode::Insert);
    assert_eq!(ingest_counts(&by_upsert), (250, 250, 0, 0, 0, 7));
    assert_eq!(ingest_counts(&by_upsert), ingest_counts(&by_insert));
    assert_eq!(upsert_seen, insert_seen);
    let want = expected(&vectors, &records);
    assert_eq!(stored(&db, &fresh), want);
    assert_eq!(stored(&db, &inserted), want);

    // Run again: the collection holds rows now, so every batch is compared first, and
    // nothing is written.
    let (again, again_seen, sent) = run("fresh", WriteMode::Upsert);
    assert_eq!(ingest_counts(&again), (250, 0, 0, 250, 0, 7));
    assert_eq!(planning_reads(&sent), 7, "one per batch");
    assert_eq!(again_seen.progress, upsert_seen.progress);
    assert_eq!(stored(&db, &fresh), want);
}

#[test]
fn ids_repeated_across_batches_end_and_count_as_in_a_collection_that_held_rows() {
    statements::install();
    let db = TestDatabase::new();
    statements::watch(&db);
    for (seed, writers) in [(82, 1), (83, 2), (84, 3)] {
        let (vectors, records) = repeated_ids(seed, 600, 150);
        // Invalid rows, skipped and reported on both paths alike.
        let invalid = [30, 31, 407];
        let mut rows = rows_of(&vectors, &records);
        for row in invalid {
            crate::support::set_value(&mut rows[row].vector, 2, f32::NAN);
        }
        let fresh = create(&db, &format!("fresh-{seed}"), 8);
        let usual = seeded(&db, &format!("usual-{seed}"), 8);
        let mut options = ingest_options(WriteMode::Upsert, 25, writers);
        options.skip_invalid = true;
        let run = |collection: &Collection| {
            let mut seen = Seen::default();
            let summary = Ingest::new(db.store(), collection.name.clone(), options)
                .run_rows(rows.clone(), &mut seen)
                .unwrap();
            (summary, seen, statements::sent_to(&db))
        };
        let (by_fresh, fresh_seen, fresh_sent) = run(&fresh);
        let (by_usual, usual_seen, usual_sent) = run(&usual);
        assert_eq!(
            ingest_counts(&by_fresh),
            ingest_counts(&by_usual),
            "seed {seed}"
        );
        assert_eq!(by_fresh.rejected, 3);
        assert_eq!(by_fresh.rejected, by_usual.rejected);
        assert_eq!(fresh_seen, usual_seen, "seed {seed}");
        let valid: (Vec<Vec<f32>>, Vec<String>) = vectors
            .iter()
            .zip(&records)
            .enumerate()
            .filter(|(row, _)| !invalid.contains(row))
            .map(|(_, (vector, record))| (vector.clone(), record.clone()))
            .unzip();
        let last_wins = expected(&valid.0, &valid.1);
        assert_eq!(stored(&db, &fresh), last_wins, "seed {seed}");
        assert_eq!(without_unrelated(stored(&db, &usual)), last_wins);
        // Not vacuous: ids repeated inside batches and across them; the fresh collection's
        // first batch skipped its planning read, the usual one planned every batch.
        assert!(by_fresh.duplicates_dropped > 0, "{by_fresh:?}");
        assert!(by_fresh.updated > 0, "{by_fresh:?}");
        assert_eq!(planning_reads(&usual_sent), 24, "seed {seed}");
        let fresh_reads = planning_reads(&fresh_sent);
        assert!((1..24).contains(&fresh_reads), "seed {seed}: {fresh_reads}");
    }
}

/// `0..count` in a random order.
fn shuffled(rng: &mut Rng, count: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..count).collect();
    for at in (1..count).rev() {
        order.swap(at, (rng.next_u64() % (at as u64 + 1)) as usize);
    }
    order
}

#[test]
fn a_row_another_writer_stores_during_the_ingest_is_updated_by_the_batch_that_meets_it() {
    statements::install();
    let db = TestDatabase::new();
    statements::watch(&db);
    for (seed, writers) in [(85_u64, 1), (86, 2), (87, 3)] {
        let collection = create(&db, &format!("docs-{seed}"), 8);
        let mut rng = Rng::new(seed);
        let order = shuffled(&mut rng, 200);
        let vectors: Vec<Vec<f32>> = (0..200).map(|_| rng.vector(8)).collect();
        let records: Vec<String> = order
            .iter()
            .enumerate()
            .map(|(row, id)| {
                serde_json::json!({"id": format!("doc-{id}"), "metadata": {"row": row}}).to_string()
            })
            .collect();
        let rows = rows_of(&vectors, &records);
        // Row 150 is in batch 7 of 20-row batches; its id is stored by another store when the
        // ingest reads row 40 (batch 2), after batches 0 and 1 were handed to the writers.
        let taken = rows[150].external_id.clone();
        let other = crate::support::single_connection_store(&db);
        let target = collection.clone();
        let source = rows.into_iter().enumerate().map(move |(row, item)| {
            if row == 40 {
                other
                    .write(|uow| {
                        uow.embeddings().insert(
                            &target,
                            vec![
                                NewEmbedding::new(taken.clone(), vec![9.0_f32; 8])
                                    .with_metadata(serde_json::json!({"by": "other"})),
                            ],
                        )
                    })
                    .unwrap();
            }
            item
        });
        let summary = Ingest::new(
            db.store(),
            collection.name.clone(),
            ingest_options(WriteMode::Upsert, 20, writers),
        )
        .run_rows(source, &mut ())
        .unwrap();
        let sent = statements::sent_to(&db);
        assert_eq!(
            ingest_counts(&summary),
            (200, 199, 1, 0, 0, 10),
            "seed {seed}"
        );
        assert_eq!(stored(&db, &collection), expected(&vectors, &records));
        assert_eq!(count(&db, &collection), 200, "nothing duplicated");
        // With one writer the batches before the one that met the row skipped their planning
        // read, and that one and the later ones planned. With more, a writer reads the shared
        // flag when its thread starts: a batch already handed over may still skip the read
        // (none of its ids is stored), or one handed over earlier but started late may plan.
        let reads = planning_reads(&sent);
        if writers == 1 {
            assert_eq!(reads, 3, "batches 7, 8 and 9");
        } else {
            let most = 3 + (writers - 1);
            assert!((1..=most).contains(&reads), "seed {seed}: {reads}");
        }
    }
}

#[test]
fn a_conflict_on_another_unique_index_is_the_ingests_error_not_a_fallback() {
    statements::install();
    let (db, collection) = with_collection("docs", 4, Metric::L2);
    statements::watch(&db);
    {
        use diesel::RunQueryDsl;
        // The partition name comes from our own catalog's integer.
        diesel::sql_query(format!(
            "CREATE UNIQUE INDEX docs_one_tag ON {} ((metadata->>'tag'))",
            collection.partition_name()
        ))
        .execute(&mut db.raw_connection())
        .unwrap();
    }
    let mut rng = Rng::new(88);
    // Rows 5 and 45 (batches 0 and 2 of 20-row batches) share a tag, not an id.
    let rows: Vec<NewEmbedding> = (0..60)
        .map(|row| {
            let tag = if row == 45 { 5 } else { row };
            NewEmbedding::new(format!("doc-{row}"), rng.vector(4))
                .with_metadata(serde_json::json!({"tag": format!("t{tag}")}))
        })
        .collect();
    let error = Ingest::new(db.store(), "docs", ingest_options(WriteMode::Upsert, 20, 1))
        .run_rows(rows, &mut ())
        .unwrap_err();
    let IngestError::Store(Error::Conflict { constraint, .. }) = &error else {
        panic!("expected a conflict, got {error:?}");
    };
    assert_eq!(constraint.as_deref(), Some("docs_one_tag"), "{error:?}");
    assert_eq!(count(&db, &collection), 40, "batches 0 and 1 committed");
    let sent = statements::sent_to(&db);
    assert_eq!(planning_reads(&sent), 0, "not redone through the plan");
}
