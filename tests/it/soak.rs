//! A bounded concurrency soak: 8 writers upsert overlapping ids in random orders while 8
//! readers search, count and read snapshots, and a ninth thread creates and drops other
//! collections; then an ANN index is built `CONCURRENTLY` while writes go on. Checked: no
//! deadlock, no lost update (the final state is a sequential replay of the committed batches
//! in commit order), no reader ever sees half a batch.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use embedstore::{
    Collection, Error, Filter, IndexSpec, Metric, NewCollection, NewEmbedding, RetryPolicy,
    SearchRequest, Store,
};

use crate::concurrency::shuffled_ids;
use crate::support::{Rng, with_collection};

const WRITERS: u64 = 8;
const READERS: u64 = 8;
const BATCHES_PER_WRITER: usize = 8;
const IDS: usize = 300;
const BATCH_ROWS: usize = 60;
const DIMENSION: usize = 4;

/// One committed batch: its commit position and what it wrote.
#[derive(Debug, Clone)]
struct Committed {
    clock: i64,
    rows: HashMap<String, Vec<f32>>,
}

#[derive(QueryableByName)]
struct Tick {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Seen {
    #[diesel(sql_type = Text)]
    external_id: String,
    #[diesel(sql_type = Text)]
    batch: String,
}

/// Upserts one batch and, last in the same transaction, advances a one-row clock: its row lock
/// is held until COMMIT, so clock values are commit order. Taken after the rows, it cannot
/// deadlock with them.
fn write_batch(
    store: &Store,
    collection: &Collection,
    name: &str,
    rows: &HashMap<String, Vec<f32>>,
    order: &[String],
) -> Result<i64, Error> {
    store.run(
        &embedstore::WorkOptions::write().retry(RetryPolicy::default()),
        |uow| {
            let items: Vec<NewEmbedding> = order
                .iter()
                .map(|id| {
                    NewEmbedding::new(id.clone(), rows[id].clone())
                        .with_metadata(serde_json::json!({ "batch": name }))
                })
                .collect();
            uow.embeddings().upsert(collection, items)?;
            let tick: Tick = diesel::sql_query("UPDATE soak_clock SET n = n + 1 RETURNING n")
                .get_result(uow.connection())?;
            Ok(tick.n)
        },
    )
}

#[test]
fn eight_writers_and_eight_readers_lose_nothing_and_never_see_half_a_batch() {
    let (db, collection) = with_collection("soak", DIMENSION as u32, Metric::L2);
    let mut setup = db.raw_connection();
    diesel::connection::SimpleConnection::batch_execute(
        &mut setup,
        "CREATE TABLE soak_clock (n bigint NOT NULL); INSERT INTO soak_clock VALUES (0)",
    )
    .unwrap();
    let store = db.store();
    let committed: Mutex<HashMap<String, Committed>> = Mutex::new(HashMap::new());
    let snapshots: Mutex<Vec<Vec<(String, String)>>> = Mutex::new(Vec::new());
    let writing = AtomicBool::new(true);
    let (searches, counts, ddl) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let started = Instant::now();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for writer in 0..WRITERS {
            let (committed, collection) = (&committed, &collection);
            handles.push(scope.spawn(move || {
                let mut rng = Rng::new(7_000 + writer);
                let mut failures = Vec::new();
                for round in 0..BATCHES_PER_WRITER {
                    let name = format!("w{writer}-r{round}");
                    let mut order = shuffled_ids(&mut rng, "id", IDS);
                    order.truncate(BATCH_ROWS);
                    let rows: HashMap<String, Vec<f32>> = order
                        .iter()
                        .map(|id| (id.clone(), rng.vector(DIMENSION)))
                        .collect();
                    match write_batch(store, collection, &name, &rows, &order) {
                        Ok(clock) => {
                            let mut committed = committed.lock().unwrap();
                            committed.insert(name, Committed { clock, rows });
                        }
                        Err(error) => failures.push(format!("{name}: {error}")),
                    }
                }
                failures
            }));
        }
        for reader in 0..READERS {
            let (snapshots, writing, collection) = (&snapshots, &writing, &collection);
            let (searches, counts) = (&searches, &counts);
            handles.push(scope.spawn(move || {
                let mut rng = Rng::new(9_000 + reader);
                let mut failures = Vec::new();
                while writing.load(Ordering::Relaxed) {
                    let outcome = store.read(|uow| {
                        // One snapshot: every row's batch marker, plus a search and a count.
                        let seen: Vec<Seen> = diesel::sql_query(
                            "SELECT external_id, metadata->>'batch' AS batch FROM embeddings \
                             WHERE collection_id = $1",
                        )
                        .bind::<diesel::sql_types::Integer, _>(collection.id.0)
                        .load(uow.connection())?;
                        uow.search(
                            collection,
                            SearchRequest::vector(rng.vector(DIMENSION), 10)
                                .with_filter(Filter::exists("batch")),
                        )?;
                        uow.embeddings().count(collection)?;
                        Ok::<_, Error>(seen)
                    });
                    match outcome {
                        Ok(seen) => {
                            searches.fetch_add(1, Ordering::Relaxed);
                            counts.fetch_add(1, Ordering::Relaxed);
                            let mut snapshots = snapshots.lock().unwrap();
                            if snapshots.len() < 400 {
                                snapshots.push(
                                    seen.into_iter()
                                        .map(|row| (row.external_id, row.batch))
                                        .collect(),
                                );
                            }
                        }
                        Err(error) => failures.push(format!("reader {reader}: {error}")),
                    }
                    if let Err(error) =
                        store.search(collection, SearchRequest::vector(rng.vector(DIMENSION), 5))
                    {
                        failures.push(format!("reader {reader} (lean): {error}"));
                    }
                    searches.fetch_add(1, Ordering::Relaxed);
                }
                failures
            }));
        }
        // Collections come and go while the others work on theirs.
        let (writing, ddl) = (&writing, &ddl);
        handles.push(scope.spawn(move || {
            let mut failures = Vec::new();
            let mut round = 0;
            while writing.load(Ordering::Relaxed) && round < 20 {
                let name = format!("scratch-{round}");
                let outcome = store.write(|uow| {
                    uow.collections()
                        .create(NewCollection::new(&name, 3, Metric::Cosine, "m"))
                });
                let dropped =
                    outcome.and_then(|_| store.write(|uow| uow.collections().drop(&name)));
                match dropped {
                    Ok(_) => {
                        ddl.fetch_add(2, Ordering::Relaxed);
                    }
                    Err(error) => failures.push(format!("{name}: {error}")),
                }
                round += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            failures
        }));
        // Writers first (they end the run), then everyone else.
        let mut failures = Vec::new();
        let writer_handles: Vec<_> = handles.drain(..WRITERS as usize).collect();
        for handle in writer_handles {
            failures.extend(handle.join().unwrap());
        }
        writing.store(false, Ordering::Relaxed);
        for handle in handles {
            failures.extend(handle.join().unwrap());
        }
        failures
    });
    assert!(failures.is_empty(), "{failures:#?}");
    let committed = committed.into_inner().unwrap();
    assert_eq!(committed.len(), (WRITERS as usize) * BATCHES_PER_WRITER);

    // No lost update: replaying the batches in commit order gives exactly the stored rows.
    let mut replay: HashMap<String, (String, Vec<f32>)> = HashMap::new();
    let mut by_clock: Vec<(&String, &Committed)> = committed.iter().collect();
    by_clock.sort_by_key(|(_, batch)| batch.clock);
    for (name, batch) in &by_clock {
        for (id, vector) in &batch.rows {
            replay.insert(id.clone(), ((*name).clone(), vector.clone()));
        }
    }
    let stored = store
        .read(|uow| {
            let ids: Vec<&String> = replay.keys().collect();
            uow.embeddings().get(&collection, &ids)
        })
        .unwrap();
    assert_eq!(stored.len(), replay.len());
    let mut lost = 0;
    for row in &stored {
        let (batch, vector) = &replay[&row.external_id];
        if row.metadata["batch"] != serde_json::json!(batch) || row.vector.to_vec() != *vector {
            lost += 1;
        }
    }
    assert_eq!(
        lost, 0,
        "rows whose final state is not the last committed write"
    );

    // No half batch: in every snapshot, when a row shows batch b, every other row of b shows b
    // or a batch committed after b.
    let clock: HashMap<&str, i64> = committed
        .iter()
        .map(|(name, batch)| (name.as_str(), batch.clock))
        .collect();
    let snapshots = snapshots.into_inner().unwrap();
    let mut torn = 0;
    for snapshot in &snapshots {
        let shown: HashMap<&str, &str> = snapshot
            .iter()
            .map(|(id, batch)| (id.as_str(), batch.as_str()))
            .collect();
        let seen_batches: std::collections::HashSet<&str> = shown.values().copied().collect();
        for batch in seen_batches {
            let Some(written) = committed.get(batch) else {
                torn += 1; // a batch that never committed
                continue;
            };
            for id in written.rows.keys() {
                let later = shown
                    .get(id.as_str())
                    .and_then(|other| clock.get(other))
                    .is_some_and(|other| *other >= written.clock);
                if !later {
                    torn += 1;
                }
            }
        }
    }
    println!(
        "soak: {} batches committed by {WRITERS} writers, {} searches and {} counts by {READERS} readers, \
         {} snapshots checked, {} collection creates/drops, in {:?}; lost updates 0, torn reads {torn}",
        committed.len(),
        searches.load(Ordering::Relaxed),
        counts.load(Ordering::Relaxed),
        snapshots.len(),
        ddl.load(Ordering::Relaxed),
        started.elapsed(),
    );
    assert_eq!(torn, 0, "a reader saw part of a batch");
    assert!(!snapshots.is_empty());
}

#[test]
fn an_ann_index_builds_concurrently_while_writes_go_on() {
    let (db, collection) = with_collection("building", 16, Metric::Cosine);
    let store = db.store();
    let mut rng = Rng::new(11);
    let seed: Vec<NewEmbedding> = (0..20_000)
        .map(|index| NewEmbedding::new(format!("seed-{index}"), rng.vector(16)))
        .collect();
    store
        .write(|uow| uow.embeddings().insert(&collection, seed))
        .unwrap();
    let building = AtomicBool::new(true);
    let written = AtomicU64::new(0);
    let status = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut rng = Rng::new(12);
            let mut batch = 0;
            // Bounded: at most 40 batches, paced, so the build does not chase an endless load.
            while (building.load(Ordering::Relaxed) || batch < 3) && batch < 40 {
                let items: Vec<NewEmbedding> = (0..200)
                    .map(|index| NewEmbedding::new(format!("live-{batch}-{index}"), rng.vector(16)))
                    .collect();
                store
                    .write(|uow| uow.embeddings().upsert(&collection, items))
                    .unwrap();
                written.fetch_add(200, Ordering::Relaxed);
                batch += 1;
                std::thread::sleep(Duration::from_millis(25));
            }
        });
        let status = store.indexes(&collection).create(&IndexSpec::hnsw(), None);
        building.store(false, Ordering::Relaxed);
        writer.join().unwrap();
        status
    });
    let status = status.unwrap();
    assert!(status.valid, "{status:?}");
    let written = written.load(Ordering::Relaxed);
    let total = crate::support::count(&db, &collection);
    assert_eq!(total, 20_000 + written);
    // Rows written during the build are found through the index.
    let probe = store
        .read(|uow| uow.embeddings().get(&collection, &["live-0-7"]))
        .unwrap();
    let hits = store
        .search(
            &collection,
            SearchRequest::vector(probe[0].vector.to_vec(), 1),
        )
        .unwrap();
    assert_eq!(hits.path, embedstore::SearchPath::Ann);
    assert_eq!(hits.hits[0].external_id, "live-0-7");
    println!("index build: {written} rows written during the concurrent build, index valid");
}
