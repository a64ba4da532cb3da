//! Concurrent writers: one global lock order (no deadlocks) and exact insert/update counts.

use std::sync::Barrier;

use embedstore::{Error, Metric, NewEmbedding, Store, WriteSummary};

use crate::support::{Rng, count, with_collection};

/// The ids `prefix-0 … prefix-(n-1)` in a random order.
pub fn shuffled_ids(rng: &mut Rng, prefix: &str, n: usize) -> Vec<String> {
    let mut ids: Vec<String> = (0..n).map(|index| format!("{prefix}-{index}")).collect();
    shuffle(rng, &mut ids);
    ids
}

/// Fisher–Yates with the tests' seeded generator.
pub fn shuffle<T>(rng: &mut Rng, items: &mut [T]) {
    for index in (1..items.len()).rev() {
        let other = (rng.next_u64() % (index as u64 + 1)) as usize;
        items.swap(index, other);
    }
}

fn batch(rng: &mut Rng, ids: &[String], dimension: usize) -> Vec<NewEmbedding> {
    ids.iter()
        .map(|id| NewEmbedding::new(id.clone(), rng.vector(dimension)))
        .collect()
}

fn upsert(
    store: &Store,
    collection: &embedstore::Collection,
    items: Vec<NewEmbedding>,
) -> WriteSummary {
    try_upsert(store, collection, items)
        .unwrap_or_else(|error| panic!("upsert failed (deadlock?): {error}"))
}

fn try_upsert(
    store: &Store,
    collection: &embedstore::Collection,
    items: Vec<NewEmbedding>,
) -> Result<WriteSummary, Error> {
    store.write(|uow| uow.embeddings().upsert(collection, items))
}

/// Runs `writers` threads that meet at a barrier before each of `rounds` upserts built by
/// `make`; a failing upsert is recorded, never a panic that would strand the others at the
/// barrier. Returns every failure.
fn rounds_of_upserts(
    store: &Store,
    collection: &embedstore::Collection,
    writers: u64,
    rounds: usize,
    make: impl Fn(&mut Rng, usize) -> Vec<NewEmbedding> + Sync,
) -> Vec<String> {
    let barrier = Barrier::new(writers as usize);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|writer| {
                let (barrier, make) = (&barrier, &make);
                scope.spawn(move || {
                    let mut rng = Rng::new(100 + writer);
                    let mut failures = Vec::new();
                    for round in 0..rounds {
                        let items = make(&mut rng, round);
                        barrier.wait();
                        if let Err(error) = try_upsert(store, collection, items) {
                            failures.push(format!("writer {writer} round {round}: {error}"));
                        }
                    }
                    failures
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap_or_default())
            .collect()
    })
}

#[test]
fn two_upserts_of_the_same_ids_in_different_random_orders_never_deadlock() {
    let (db, collection) = with_collection("two-writers", 4, Metric::L2);
    // Both writers: the same 2,000 ids (new every other round), each in its own random order;
    // they start together.
    let failures = rounds_of_upserts(db.store(), &collection, 2, 15, |rng, round| {
        let ids = shuffled_ids(rng, &format!("r{}", round / 2), 2000);
        batch(rng, &ids, 4)
    });
    assert!(failures.is_empty(), "{failures:#?}");
    println!("two writers: 30 upserts of 2,000 shared ids, 0 deadlocks");
    assert_eq!(count(&db, &collection), 8 * 2000);
}

#[test]
fn eight_writers_of_random_overlapping_ids_never_deadlock() {
    let (db, collection) = with_collection("eight-writers", 3, Metric::L2);
    // 300 random ids out of 1,000, in a random order, 8 writers at once, 6 rounds.
    let failures = rounds_of_upserts(db.store(), &collection, 8, 6, |rng, _| {
        let mut ids = shuffled_ids(rng, "id", 1000);
        ids.truncate(300);
        batch(rng, &ids, 3)
    });
    assert!(failures.is_empty(), "{failures:#?}");
    println!("eight writers: 48 upserts of 300 random ids out of 1,000, 0 deadlocks");
    assert!(count(&db, &collection) <= 1000);
}

#[test]
fn concurrent_inserts_of_overlapping_ids_conflict_instead_of_deadlocking() {
    let (db, collection) = with_collection("two-inserts", 2, Metric::L2);
    for round in 0..10 {
        let barrier = Barrier::new(2);
        let outcomes: Vec<Result<WriteSummary, Error>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2u64)
                .map(|writer| {
                    let (store, collection, barrier) = (db.store().clone(), &collection, &barrier);
                    scope.spawn(move || {
                        let mut rng = Rng::new(round * 10 + writer);
                        let ids = shuffled_ids(&mut rng, &format!("round{round}"), 1000);
                        let items = batch(&mut rng, &ids, 2);
                        barrier.wait();
                        store.write(|uow| uow.embeddings().insert(collection, items))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap())
                .collect()
        });
        let succeeded = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
        assert_eq!(succeeded, 1, "round {round}: {outcomes:?}");
        for outcome in outcomes {
            if let Err(error) = outcome {
                assert!(
                    matches!(error, Error::Conflict { .. }),
                    "round {round}: {error:?}"
                );
            }
        }
    }
    assert_eq!(count(&db, &collection), 10 * 1000);
}

#[test]
fn two_concurrent_upserts_of_the_same_new_ids_count_each_row_inserted_once() {
    let (db, collection) = with_collection("counts", 3, Metric::L2);
    let n = 1500;
    for round in 0..8 {
        let barrier = Barrier::new(2);
        let summaries: Vec<WriteSummary> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2u64)
                .map(|writer| {
                    let (store, collection, barrier) = (db.store().clone(), &collection, &barrier);
                    scope.spawn(move || {
                        let mut rng = Rng::new(1000 + round * 2 + writer);
                        let ids = shuffled_ids(&mut rng, &format!("round{round}"), n);
                        let items = batch(&mut rng, &ids, 3);
                        barrier.wait();
                        upsert(&store, collection, items)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap())
                .collect()
        });
        let inserted: u64 = summaries.iter().map(|summary| summary.inserted).sum();
        let updated: u64 = summaries.iter().map(|summary| summary.updated).sum();
        let unchanged: u64 = summaries.iter().map(|summary| summary.unchanged).sum();
        assert_eq!(inserted, n as u64, "round {round}: {summaries:?}");
        // The vectors differ between the writers, so the later one updates every row.
        assert_eq!(
            (updated, unchanged),
            (n as u64, 0),
            "round {round}: {summaries:?}"
        );
    }
    assert_eq!(count(&db, &collection), 8 * 1500);
}

#[test]
fn upsert_counts_inserted_updated_and_unchanged_within_one_unit_of_work() {
    let (db, collection) = with_collection("one-uow", 2, Metric::L2);
    let summaries = db
        .store()
        .write(|uow| {
            let first = uow.embeddings().upsert(
                &collection,
                vec![
                    NewEmbedding::new("a", vec![1.0, 0.0]),
                    NewEmbedding::new("b", vec![0.0, 1.0]),
                ],
            )?;
            let second = uow.embeddings().upsert(
                &collection,
                vec![
                    NewEmbedding::new("a", vec![1.0, 0.0]),
                    NewEmbedding::new("b", vec![0.5, 1.0]),
                    NewEmbedding::new("c", vec![0.5, 1.0]),
                ],
            )?;
            Ok::<_, Error>((first, second))
        })
        .unwrap();
    assert_eq!(
        (
            summaries.0.inserted,
            summaries.0.updated,
            summaries.0.unchanged
        ),
        (2, 0, 0)
    );
    assert_eq!(
        (
            summaries.1.inserted,
            summaries.1.updated,
            summaries.1.unchanged
        ),
        (1, 1, 1)
    );
}

#[test]
fn close_returns_once_the_pools_background_connects_are_done() {
    // Threads that all want a connection at once make r2d2 open several on its background
    // workers; close must wait for those (bounded by the connect timeout), not hang.
    let db = embedstore_test_support::TestDatabase::new();
    let mut config = embedstore::Config::new(db.url().expose_secret().to_owned()).unwrap();
    config.pool_max_size = 6;
    let store = embedstore::Store::connect(config).unwrap();
    std::thread::scope(|scope| {
        for _ in 0..6 {
            scope.spawn(|| {
                store
                    .read(|uow| uow.collections().list())
                    .map(drop)
                    .unwrap();
            });
        }
    });
    let timeout = store.config().connect_timeout;
    let started = std::time::Instant::now();
    store.close();
    assert!(
        started.elapsed() < timeout + std::time::Duration::from_secs(1),
        "close took {:?}",
        started.elapsed()
    );
}
