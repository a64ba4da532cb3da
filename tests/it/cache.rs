//! The cache of hot lookups (`Config::cache_bytes`) against a real server: hits equal the
//! database, this store's writes are seen at commit and rollbacks change nothing, other
//! processes' writes (`psql`) and other stores' arrive through `NOTIFY`, a killed listener
//! empties the cache until it is back, the byte bound holds, and concurrent readers and writers
//! never leave a stale entry behind.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use embedstore::{
    CacheStats, Collection, Config, Embedding, Error, Filter, Ingest, IngestOptions, JsonlSource,
    Metric, NewEmbedding, Store, WriteMode,
};
use embedstore_test_support::TestDatabase;

use crate::support::{Rng, with_items};

const DIMENSION: u32 = 8;

/// A second store on `db` with a cache of `bytes`, its listener connected.
fn cached_store(db: &TestDatabase, bytes: usize) -> Store {
    let mut config = Config::new(db.url().expose_secret().to_owned()).unwrap();
    config.pool_max_size = 4;
    config.cache_bytes = Some(bytes);
    config.application_name = "cache-test".to_owned();
    let store = Store::connect(config).unwrap();
    wait_until("the listener connects", || stats(&store).listener_connected);
    store
}

fn stats(store: &Store) -> CacheStats {
    store.cache_stats().unwrap()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting until {what}"
        );
        thread::sleep(Duration::from_millis(1));
    }
    started.elapsed()
}

/// The row as the database holds it now, read without any cache.
fn in_database(db: &TestDatabase, collection: &Collection, id: &str) -> Option<Embedding> {
    db.store()
        .read(|uow| uow.embeddings().get(collection, &[id]))
        .unwrap()
        .pop()
}

fn version(row: &Option<Embedding>) -> Option<i64> {
    row.as_ref().and_then(|row| row.metadata["v"].as_i64())
}

fn item(id: &str, version: i64) -> NewEmbedding {
    NewEmbedding::new(id, vec![version as f32 + 1.0; DIMENSION as usize])
        .with_metadata(serde_json::json!({ "v": version }))
}

fn upsert(store: &Store, collection: &Collection, id: &str, version: i64) {
    store
        .write(|uow| uow.embeddings().upsert(collection, vec![item(id, version)]))
        .unwrap();
}

/// Runs one SQL statement with `psql`, a separate process that knows nothing of embedstore.
fn psql(db: &TestDatabase, sql: &str) {
    let output = Command::new("psql")
        .arg(db.url().expose_secret())
        .args(["-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_hit_returns_what_an_uncached_get_returns_and_the_counts_move() {
    let (db, docs) = with_items("docs", DIMENSION, Metric::Cosine, 20, 1);
    let store = cached_store(&db, 1 << 20);
    let first = store.get(&docs, "item-3").unwrap();
    let second = store.get(&docs, "item-3").unwrap();
    assert!(first.is_some());
    assert_eq!(first, in_database(&db, &docs, "item-3"));
    assert_eq!(second, first);
    assert_eq!((stats(&store).misses, stats(&store).hits), (1, 1));
    // A batch: in the order asked, each once, absent ids left out — as without a cache.
    let ids = ["item-5", "nope", "item-3", "item-5", "item-0", "with\0nul"];
    let cached = store.get_many(&docs, &ids).unwrap();
    let uncached = db.store().get_many(&docs, &ids).unwrap();
    let names: Vec<&str> = cached.iter().map(|row| row.external_id.as_str()).collect();
    assert_eq!(names, ["item-5", "item-3", "item-0"]);
    assert_eq!(cached, uncached);
    assert_eq!(store.get_many(&docs, &ids).unwrap(), uncached);
    // Absence is never cached: "nope" is a miss every time.
    let after = stats(&store);
    assert_eq!((after.hits, after.misses), (1 + 1 + 3, 1 + 3 + 1));
    assert_eq!(after.entries, 3);
    assert!(after.bytes > 0 && after.bytes <= after.capacity_bytes);
    // Collection handles.
    assert_eq!(store.collection("docs").unwrap(), docs);
    assert_eq!(store.collection("docs").unwrap(), docs);
    assert!(matches!(
        store.collection("missing"),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(stats(&store).hits, after.hits + 1);
    // Without a cache the same methods work, uncached.
    assert_eq!(db.store().cache_stats(), None);
    assert_eq!(db.store().collection("docs").unwrap(), docs);
    db.store().cache_sync().unwrap();
}

#[test]
fn this_stores_writes_are_seen_at_commit_and_a_rollback_changes_nothing() {
    let (db, docs) = with_items("docs", DIMENSION, Metric::L2, 10, 2);
    let store = cached_store(&db, 1 << 20);
    upsert(&store, &docs, "a", 1);
    assert_eq!(version(&store.get(&docs, "a").unwrap()), Some(1));
    // Committed: the very next read sees it, no notification needed (the store skips its own).
    upsert(&store, &docs, "a", 2);
    assert_eq!(version(&store.get(&docs, "a").unwrap()), Some(2));
    // Rolled back: the cached entry stays, a hit, and equals the database.
    let hits = stats(&store).hits;
    let outcome: Result<(), Error> = store.write(|uow| {
        uow.embeddings().upsert(&docs, vec![item("a", 3)])?;
        uow.embeddings().delete(&docs, &["item-1"])?;
        Err(Error::NotFound {
            entity: "reason",
            key: "roll back".to_owned(),
        })
    });
    assert!(outcome.is_err());
    let cached = store.get(&docs, "a").unwrap();
    assert_eq!(version(&cached), Some(2));
    assert_eq!(stats(&store).hits, hits + 1, "the rollback forgot nothing");
    assert_eq!(cached, in_database(&db, &docs, "a"));
    // A panicking unit of work rolls back too.
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = store.write(|uow| -> Result<(), Error> {
            uow.embeddings().upsert(&docs, vec![item("a", 4)])?;
            panic!("boom")
        });
    }));
    assert!(panicked.is_err());
    assert_eq!(version(&store.get(&docs, "a").unwrap()), Some(2));
    // Deletes by id and by filter, and raw SQL through the unit of work's connection.
    assert!(store.get(&docs, "item-1").unwrap().is_some());
    store
        .write(|uow| uow.embeddings().delete(&docs, &["item-1"]))
        .unwrap();
    assert_eq!(store.get(&docs, "item-1").unwrap(), None);
    assert!(store.get(&docs, "item-2").unwrap().is_some());
    store
        .write(|uow| uow.embeddings().delete_where(&docs, &Filter::eq("n", 2)))
        .unwrap();
    assert_eq!(store.get(&docs, "item-2").unwrap(), None);
    assert!(store.get(&docs, "item-3").unwrap().is_some());
    store
        .write(|uow| {
            diesel::sql_query("UPDATE embeddings SET content = 'raw' WHERE external_id = 'item-3'")
                .execute(uow.connection())
                .map_err(Error::from)
        })
        .unwrap();
    let raw = store.get(&docs, "item-3").unwrap().unwrap();
    assert_eq!(raw.content.as_deref(), Some("raw"));
    // Dropping the collection forgets its rows and its handle.
    assert_eq!(store.collection("docs").unwrap(), docs);
    store.write(|uow| uow.collections().drop("docs")).unwrap();
    assert!(matches!(
        store.collection("docs"),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(store.get(&docs, "a").unwrap(), None);
}

#[test]
fn an_upsert_ingest_through_the_store_is_seen_at_once_batch_by_batch() {
    let (db, docs) = with_items("docs", DIMENSION, Metric::L2, 50, 9);
    let store = cached_store(&db, 1 << 20);
    let before = store.get_many(&docs, &["item-1", "item-40"]).unwrap();
    assert_eq!(before.len(), 2);
    let vector = serde_json::to_string(&vec![0.5f32; DIMENSION as usize]).unwrap();
    let jsonl: String = ["item-1", "item-40", "new-1"]
        .iter()
        .map(|id| {
            format!(
                "{{\"external_id\": \"{id}\", \"vector\": {vector}, \"content\": \"ingested\"}}\n"
            )
        })
        .collect();
    let mut source = JsonlSource::from_reader(std::io::Cursor::new(jsonl.into_bytes()), "in.jsonl");
    let options = IngestOptions {
        mode: WriteMode::Upsert,
        batch_size: 2,
        ..IngestOptions::default()
    };
    Ingest::new(&store, "docs", options)
        .run(&mut source, &mut ())
        .unwrap();
    for id in ["item-1", "item-40", "new-1"] {
        let row = store.get(&docs, id).unwrap().unwrap();
        assert_eq!(row.content.as_deref(), Some("ingested"), "{id}");
        assert_eq!(Some(row), in_database(&db, &docs, id));
    }
}

#[test]
fn another_processs_write_is_seen_once_notified_and_at_once_after_cache_sync() {
    let (db, docs) = with_items("docs", DIMENSION, Metric::L2, 10, 3);
    let store = cached_store(&db, 1 << 20);
    assert!(store.get(&docs, "item-1").unwrap().is_some());
    // psql is another process: strictly visible after cache_sync.
    psql(
        &db,
        "UPDATE embeddings SET content = 'psql 1' WHERE external_id = 'item-1'",
    );
    store.cache_sync().unwrap();
    let row = store.get(&docs, "item-1").unwrap().unwrap();
    assert_eq!(row.content.as_deref(), Some("psql 1"));
    assert_eq!(Some(row), in_database(&db, &docs, "item-1"));
    // Without a sync: seen as soon as the listener reads the notification.
    assert!(store.get(&docs, "item-1").unwrap().is_some());
    psql(
        &db,
        "UPDATE embeddings SET content = 'psql 2' WHERE external_id = 'item-1'",
    );
    let waited = wait_until("the cached row changes", || {
        store
            .get(&docs, "item-1")
            .unwrap()
            .unwrap()
            .content
            .as_deref()
            == Some("psql 2")
    });
    println!("cache: another process's commit seen after {waited:?}");
    // A delete and a collection change by psql.
    psql(&db, "DELETE FROM embeddings WHERE external_id = 'item-1'");
    store.cache_sync().unwrap();
    assert_eq!(store.get(&docs, "item-1").unwrap(), None);
    assert_eq!(store.collection("docs").unwrap().model, "test-model");
    psql(
        &db,
        "UPDATE collections SET model = 'other' WHERE name = 'docs'",
    );
    store.cache_sync().unwrap();
    assert_eq!(store.collection("docs").unwrap().model, "other");
    // Another store in this process (the test database's own, without a cache).
    assert!(store.get(&docs, "item-2").unwrap().is_some());
    upsert(db.store(), &docs, "item-2", 7);
    store.cache_sync().unwrap();
    assert_eq!(version(&store.get(&docs, "item-2").unwrap()), Some(7));
    // TRUNCATE of the collection's partition alone.
    assert!(store.get(&docs, "item-3").unwrap().is_some());
    psql(&db, &format!("TRUNCATE {}", docs.partition_name()));
    store.cache_sync().unwrap();
    assert_eq!(store.get(&docs, "item-3").unwrap(), None);
    let stats = stats(&store);
    assert!(stats.invalidations >= 4 && stats.clears >= 2, "{stats:?}");
}

/// The second process of [`a_caching_store_in_another_process_is_seen_by_this_one`]: this test
/// binary run again on this test alone, with the database URL and the collection in its
/// environment. Without them (an ordinary test run) it does nothing.
#[test]
fn cache_child_process_writer() {
    let (Ok(url), Ok(collection)) = (
        std::env::var("EMBEDSTORE_CACHE_CHILD_URL"),
        std::env::var("EMBEDSTORE_CACHE_CHILD_COLLECTION"),
    ) else {
        return;
    };
    let mut config = Config::new(url).unwrap();
    config.cache_bytes = Some(1 << 20);
    let store = Store::connect(config).unwrap();
    let docs = store.collection(&collection).unwrap();
    wait_until("the child's listener connects", || {
        stats(&store).listener_connected
    });
    // The child caches the row too, then writes it through its own store: its listener skips
    // its own notification, the parent's must not.
    assert!(store.get(&docs, "item-1").unwrap().is_some());
    upsert(&store, &docs, "item-1", 42);
    assert_eq!(version(&store.get(&docs, "item-1").unwrap()), Some(42));
}

#[test]
fn a_caching_store_in_another_process_is_seen_by_this_one() {
    let (db, docs) = with_items("docs", DIMENSION, Metric::L2, 5, 10);
    let store = cached_store(&db, 1 << 20);
    assert!(store.get(&docs, "item-1").unwrap().is_some());
    let hits = stats(&store).hits;
    assert!(store.get(&docs, "item-1").unwrap().is_some());
    assert_eq!(stats(&store).hits, hits + 1, "cached");
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "cache::cache_child_process_writer",
            "--nocapture",
        ])
        .env("EMBEDSTORE_CACHE_CHILD_URL", db.url().expose_secret())
        .env("EMBEDSTORE_CACHE_CHILD_COLLECTION", &docs.name)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && printed.contains("1 passed"),
        "child: {printed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    store.cache_sync().unwrap();
    assert_eq!(version(&store.get(&docs, "item-1").unwrap()), Some(42));
    assert_eq!(
        store.get(&docs, "item-1").unwrap(),
        in_database(&db, &docs, "item-1")
    );
}

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

#[test]
fn a_killed_listener_empties_the_cache_until_it_is_back_and_misses_no_write() {
    let (db, docs) = with_items("docs", DIMENSION, Metric::L2, 10, 4);
    let store = cached_store(&db, 1 << 20);
    assert!(store.get(&docs, "item-1").unwrap().is_some());
    assert_eq!(stats(&store).entries, 1);
    let mut admin = db.raw_connection();
    // Keep the listener from coming back for a while: new connections are refused, the
    // pool's open ones and this one stay. (Allowed only from another database.)
    let mut server =
        PgConnection::establish(db.url().with_database("postgres").expose_secret()).unwrap();
    diesel::sql_query(format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS false",
        db.name()
    ))
    .execute(&mut server)
    .unwrap();
    let listener: Pid = diesel::sql_query(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
    )
    .bind::<Text, _>("cache-test-listener")
    .get_result(&mut admin)
    .unwrap();
    diesel::sql_query("SELECT pg_terminate_backend($1)")
        .bind::<Integer, _>(listener.pid)
        .execute(&mut admin)
        .unwrap();
    let noticed = wait_until("the listener notices", || !stats(&store).listener_connected);
    println!("cache: a killed listener noticed after {noticed:?}");
    // Down: empty, serving nothing, storing nothing.
    let down = stats(&store);
    assert_eq!((down.entries, down.bytes), (0, 0));
    for _ in 0..3 {
        assert!(store.get(&docs, "item-1").unwrap().is_some());
    }
    let after = stats(&store);
    assert_eq!((after.hits, after.misses), (down.hits, down.misses + 3));
    assert_eq!(after.entries, 0);
    // A write by someone else while nobody listens: its notification is lost.
    diesel::sql_query("UPDATE embeddings SET content = 'while down' WHERE external_id = 'item-1'")
        .execute(&mut admin)
        .unwrap();
    diesel::sql_query(format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS true",
        db.name()
    ))
    .execute(&mut server)
    .unwrap();
    wait_until("the listener is back", || stats(&store).listener_connected);
    assert_eq!(stats(&store).listener_connects, 2);
    let row = store.get(&docs, "item-1").unwrap().unwrap();
    assert_eq!(row.content.as_deref(), Some("while down"));
    assert_eq!(store.get(&docs, "item-1").unwrap().unwrap(), row);
    assert_eq!(stats(&store).hits, after.hits + 1, "serving again");
}

#[test]
fn the_byte_bound_holds_and_evicts_least_recently_used() {
    let (db, docs) = with_items("docs", 64, Metric::L2, 400, 5);
    let bound = 64 * 1024;
    let store = cached_store(&db, bound);
    let ids: Vec<String> = (0..400).map(|n| format!("item-{n}")).collect();
    for id in &ids {
        let cached = store.get(&docs, id).unwrap();
        assert_eq!(cached, in_database(&db, &docs, id));
        let stats = stats(&store);
        assert!(stats.bytes <= bound, "{stats:?}");
    }
    let full = stats(&store);
    assert!(full.evictions > 0, "{full:?}");
    assert!(full.entries > 10 && full.entries < 400, "{full:?}");
    // The most recent ones are still there; the first ones went.
    let hits = full.hits;
    store.get(&docs, "item-399").unwrap();
    store.get(&docs, "item-0").unwrap();
    assert_eq!(stats(&store).hits, hits + 1);
    assert_eq!(
        store.get_many(&docs, &ids).unwrap(),
        db.store().get_many(&docs, &ids).unwrap()
    );
    assert!(stats(&store).bytes <= bound);
}

#[test]
fn concurrent_readers_and_writers_leave_no_stale_entry() {
    let (db, docs) = with_items("docs", DIMENSION, Metric::L2, 0, 6);
    let store = cached_store(&db, 1 << 20);
    let ids: Vec<String> = (0..12).map(|n| format!("k{n}")).collect();
    for id in &ids {
        upsert(&store, &docs, id, 0);
    }
    thread::scope(|scope| {
        for worker in 0..4u64 {
            let (store, db, docs, ids) = (&store, &db, &docs, &ids);
            scope.spawn(move || {
                let mut rng = Rng::new(worker);
                for step in 0..150 {
                    let id = &ids[(rng.next_u64() % ids.len() as u64) as usize];
                    let version = (worker * 1000 + step) as i64;
                    match rng.next_u64() % 5 {
                        0 => upsert(store, docs, id, version),
                        1 => upsert(db.store(), docs, id, version),
                        2 => {
                            let mut sample: Vec<&String> = ids.iter().take(5).collect();
                            sample.push(id);
                            store.get_many(docs, &sample).unwrap();
                        }
                        _ => {
                            store.get(docs, id).unwrap();
                        }
                    }
                }
            });
        }
    });
    store.cache_sync().unwrap();
    for id in &ids {
        assert_eq!(
            store.get(&docs, id).unwrap(),
            in_database(&db, &docs, id),
            "{id}"
        );
    }
    assert_eq!(
        store.get_many(&docs, &ids).unwrap(),
        db.store().get_many(&docs, &ids).unwrap()
    );
}

#[test]
fn a_read_racing_a_write_of_this_store_never_goes_back_in_time() {
    // The race the tickets close: a reader misses and reads v1, the writer commits v2 and the
    // cache forgets the key, then the reader would store v1. Every read that starts after a
    // write returned must see that write or a later one.
    let (db, docs) = with_items("docs", DIMENSION, Metric::L2, 0, 7);
    let store = cached_store(&db, 1 << 20);
    upsert(&store, &docs, "hot", 0);
    let committed = AtomicI64::new(0);
    let done = AtomicBool::new(false);
    thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                while !done.load(Ordering::SeqCst) {
                    let floor = committed.load(Ordering::SeqCst);
                    let seen = version(&store.get(&docs, "hot").unwrap()).unwrap();
                    assert!(seen >= floor, "read v{seen} after v{floor} had committed");
                }
            });
        }
        for next in 1..=300 {
            upsert(&store, &docs, "hot", next);
            committed.store(next, Ordering::SeqCst);
        }
        done.store(true, Ordering::SeqCst);
    });
    assert_eq!(version(&store.get(&docs, "hot").unwrap()), Some(300));
    let stats = stats(&store);
    assert!(stats.hits > 0 && stats.invalidations >= 300, "{stats:?}");
}

#[test]
fn dropping_the_last_clone_stops_the_listener() {
    let db = TestDatabase::new();
    let store = cached_store(&db, 1 << 20);
    let clone = store.clone();
    drop(store);
    let listeners = |db: &TestDatabase| {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            count: i64,
        }
        diesel::sql_query(
            "SELECT count(*) AS count FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'cache-test-listener'",
        )
        .get_result::<Count>(&mut db.raw_connection())
        .unwrap()
        .count
    };
    assert_eq!(listeners(&db), 1);
    drop(clone);
    wait_until("the listener's connection closes", || listeners(&db) == 0);
    // The Debug form names no secret.
    let store = Arc::new(cached_store(&db, 1024));
    assert!(!format!("{store:?}").contains(db.url().expose_secret()));
}

/// The issue asks for a hit p50 at least 20× faster than an uncached get: measured in release
/// by `examples/cache_latency.rs` (BENCHMARKS.md, 173×). This debug build under a loaded test
/// run keeps a margin against flakes and asserts 10× (37× measured).
#[test]
fn a_cache_hit_is_far_faster_than_an_uncached_get() {
    let (db, docs) = with_items("docs", 384, Metric::Cosine, 100, 8);
    let store = cached_store(&db, 64 << 20);
    let p50 = |get: &dyn Fn(usize)| {
        let mut times: Vec<Duration> = (0..2000)
            .map(|n| {
                let started = Instant::now();
                get(n % 100);
                started.elapsed()
            })
            .collect();
        times.sort();
        times[times.len() / 2]
    };
    let uncached = p50(&|n| {
        db.store()
            .get(&docs, &format!("item-{n}"))
            .unwrap()
            .unwrap();
    });
    for n in 0..100 {
        store.get(&docs, &format!("item-{n}")).unwrap();
    }
    let hit = p50(&|n| {
        store.get(&docs, &format!("item-{n}")).unwrap().unwrap();
    });
    let ratio = uncached.as_secs_f64() / hit.as_secs_f64();
    println!("cache: get p50 uncached {uncached:?}, hit {hit:?}, {ratio:.0}x");
    assert!(ratio >= 10.0, "uncached {uncached:?}, hit {hit:?}");
}

#[test]
fn a_collection_handle_read_through_an_alias_follows_every_swap_at_once() {
    // Handles are cached under the collection's own name; a name that is an alias is read
    // every time, so a swap by anyone is seen by the next call, with no notification needed.
    let db = embedstore_test_support::TestDatabase::new();
    // Only a connected listener lets the cache store handles: wait for it, or the first
    // lookup of "alias_one" below may go uncached on a loaded machine.
    let store = cached_store(&db, 1 << 20);
    let (one, two) = store
        .write(|uow| {
            let one = uow.collections().create(embedstore::NewCollection::new(
                "alias_one",
                4,
                Metric::L2,
                "m",
            ))?;
            let two = uow.collections().create(embedstore::NewCollection::new(
                "alias_two",
                4,
                Metric::L2,
                "m",
            ))?;
            uow.aliases().set("live", "alias_one")?;
            Ok::<_, embedstore::Error>((one, two))
        })
        .unwrap();
    assert_eq!(store.collection("live").unwrap().id, one.id);
    assert_eq!(store.collection("alias_one").unwrap().id, one.id);
    // Another store (as another process would) moves the alias.
    let other = db.store();
    for target in [&two, &one, &two] {
        other
            .write(|uow| uow.aliases().set("live", &target.name))
            .unwrap();
        assert_eq!(store.collection("live").unwrap().id, target.id);
    }
    // The real names are still served from the cache.
    let hits = store.cache_stats().unwrap().hits;
    assert_eq!(store.collection("alias_one").unwrap().id, one.id);
    assert_eq!(store.cache_stats().unwrap().hits, hits + 1);
}
