//! Reads on a real streaming replica (`TestCluster::standby`: `pg_basebackup -R` of a private
//! primary, both on loopback ports): where reads go, read-your-writes by replay position under
//! forced lag, a replica stopped mid-load, results equal to the primary's, tenants on the
//! replica, `remote_apply`, and a "replica" that is not a standby.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use embedstore::{
    Collection, Config, Error, IndexSpec, Metric, NewCollection, NewEmbedding, ReadFrom,
    SearchRequest, Store, WorkOptions, WriteToken,
};
use embedstore_test_support::cluster::{ClusterOptions, TestCluster};

use crate::support::{Rng, ids, items};

/// A primary with one migrated database, a standby of it (with `standby_settings`), and a
/// store on the primary with the standby as its replica, configured by `tune`.
fn replicated(
    standby_settings: &[(&str, &str)],
    tune: impl FnOnce(&mut Config),
) -> (TestCluster, TestCluster, Store) {
    // Commits flushed (and so streamed) at once, as on a production primary; the test
    // cluster's default defers the flush up to 200 ms.
    let primary =
        TestCluster::start(ClusterOptions::new().setting("synchronous_commit", "on")).unwrap();
    let url = primary.migrated_database("app").unwrap();
    let standby = primary.standby(standby_settings).unwrap();
    let mut config = Config::new(url.expose_secret())
        .unwrap()
        .replica(standby_url(&primary, &standby))
        .unwrap();
    tune(&mut config);
    let store = Store::connect(config).unwrap();
    wait_until(
        Duration::from_secs(30),
        "the replica to come into service",
        || store.replica_stats().unwrap().nodes[0].in_service,
    );
    (primary, standby, store)
}

/// The standby's URL for the app database (the superuser's password is the primary's).
fn standby_url(primary: &TestCluster, standby: &TestCluster) -> String {
    standby
        .url("postgres", primary.superuser_password(), "app", "")
        .expose_secret()
        .to_owned()
}

fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

fn create(store: &Store, name: &str, dimension: u32) -> Collection {
    store
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new(name, dimension, Metric::Cosine, "m"))
        })
        .unwrap()
}

/// Waits until the replica has replayed the store's last write.
fn replayed(store: &Store) {
    let Some(token) = store.last_write_token() else {
        panic!("no write happened");
    };
    wait_until(Duration::from_secs(30), "the replica to replay", || {
        store.replica_stats().unwrap().nodes[0]
            .replayed
            .is_some_and(|replayed| replayed >= token)
    });
}

/// An exact search (no ANN index).
fn exact(vector: Vec<f32>, k: u32) -> embedstore::VectorSearch {
    let mut request = SearchRequest::vector(vector, k);
    request.ann.exact = true;
    request
}

fn replica_reads(store: &Store) -> u64 {
    store.replica_stats().unwrap().nodes[0].reads
}

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    flag: bool,
}

#[test]
fn reads_go_to_the_replica_and_answer_as_the_primary() {
    let (_primary, _standby, store) = replicated(&[], |_| {});
    let collection = create(&store, "docs", 16);
    let rows = items(&mut Rng::new(7), 2_000, 16);
    store
        .write(|uow| uow.embeddings().insert(&collection, rows))
        .unwrap();
    store
        .indexes(&collection)
        .create(&IndexSpec::hnsw(), None)
        .unwrap();
    replayed(&store);

    let before = replica_reads(&store);
    let primary = store.reading(ReadFrom::Primary);
    let mut rng = Rng::new(11);
    for _ in 0..30 {
        let query = rng.vector(16);
        let on_replica = store
            .search(&collection, SearchRequest::vector(query.clone(), 10))
            .unwrap();
        let on_primary = primary
            .search(&collection, SearchRequest::vector(query.clone(), 10))
            .unwrap();
        assert_eq!(ids(&on_replica), ids(&on_primary));
        assert_eq!(on_replica.path, on_primary.path, "same plan on both nodes");
        let exact = store.search(&collection, exact(query, 10)).unwrap();
        assert_eq!(exact.hits.len(), 10);
    }
    // get, get_many, collection lookups, a read unit of work and a batch also go there.
    assert_eq!(
        store
            .get(&collection, "item-5")
            .unwrap()
            .unwrap()
            .external_id,
        "item-5"
    );
    assert_eq!(
        store
            .get_many(&collection, &["item-1", "item-2", "nope"])
            .unwrap()
            .len(),
        2
    );
    assert_eq!(store.collection("docs").unwrap().id, collection.id);
    let in_recovery: Flag = store
        .read(|uow| {
            diesel::sql_query("SELECT pg_is_in_recovery() AS flag")
                .get_result(uow.connection())
                .map_err(Error::from)
        })
        .unwrap();
    assert!(in_recovery.flag, "Store::read ran on the standby");
    let queries: Vec<Vec<f32>> = (0..5).map(|_| rng.vector(16)).collect();
    let batch = store
        .search_batch(
            &collection,
            &queries,
            SearchRequest::vector(vec![0.0; 16], 3),
        )
        .unwrap();
    assert_eq!(batch.len(), 5);

    let stats = store.replica_stats().unwrap();
    // 30 ANN + 30 exact searches, 2 gets, the lookup, the read, the batch's chunk(s).
    assert!(
        stats.nodes[0].reads - before >= 65,
        "replica reads: {stats:?}"
    );
    assert_eq!(
        stats.primary_reads, 30,
        "ReadFrom::Primary went to the primary"
    );
    assert_eq!(stats.fallbacks, 0, "{stats:?}");
    assert!(
        stats.nodes[0]
            .lag
            .is_some_and(|lag| lag < Duration::from_secs(5))
    );

    // Writes are refused nowhere: they go to the primary whatever the handle says.
    store
        .reading(ReadFrom::AnyReplica)
        .write(|uow| {
            uow.embeddings()
                .insert(&collection, vec![NewEmbedding::new("extra", vec![0.5; 16])])
        })
        .unwrap();
}

/// One write-then-read pair's outcome: the version written and the version read back.
fn write_then_read(store: &Store, collection: &Collection, id: &str) -> (i64, i64) {
    // The version is the row's previous one plus one, under its row lock: a later commit of the
    // same id always carries a higher version.
    let written = store
        .write(|uow| {
            #[derive(QueryableByName)]
            struct Version {
                #[diesel(sql_type = Nullable<BigInt>)]
                version: Option<i64>,
            }
            let current: Option<Version> = diesel::sql_query(
                "SELECT (metadata->>'v')::bigint AS version FROM embeddings \
                 WHERE collection_id = $1 AND external_id = $2 FOR UPDATE",
            )
            .bind::<Integer, _>(collection.id.0)
            .bind::<Text, _>(id)
            .get_result(uow.connection())
            .optional()?;
            let version = current.and_then(|row| row.version).unwrap_or(0) + 1;
            uow.embeddings().upsert(
                collection,
                vec![
                    NewEmbedding::new(id, vec![1.0, version as f32, 0.5, 0.25])
                        .with_metadata(serde_json::json!({ "v": version })),
                ],
            )?;
            Ok::<_, Error>(version)
        })
        .unwrap();
    let read = store
        .get(collection, id)
        .unwrap()
        .unwrap_or_else(|| panic!("{id} written but not found"));
    (written, read.metadata["v"].as_i64().unwrap())
}

#[test]
fn no_stale_read_under_read_your_writes_across_1000_pairs_with_forced_lag() {
    // Every commit is applied on the standby 5 ms after it happened: a read right after a
    // write finds the replica behind, and must wait for it or go to the primary.
    let (_primary, standby, store) = replicated(&[("recovery_min_apply_delay", "5ms")], |config| {
        config.replica_wait = Duration::from_millis(200);
        config.pool_max_size = 8;
    });
    let collection = create(&store, "pairs", 4);
    let stale = Arc::new(AtomicU64::new(0));
    let pairs = Arc::new(AtomicU64::new(0));
    // Four threads, 250 pairs each, over 40 shared ids in a random order of their own.
    thread::scope(|scope| {
        for worker in 0..4u64 {
            let (store, collection, stale, pairs) = (&store, &collection, &stale, &pairs);
            scope.spawn(move || {
                let mut rng = Rng::new(100 + worker);
                for _ in 0..250 {
                    let id = format!("id-{}", rng.next_u64() % 40);
                    let (written, read) = write_then_read(store, collection, &id);
                    pairs.fetch_add(1, Ordering::Relaxed);
                    if read < written {
                        stale.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let stats = store.replica_stats().unwrap();
    println!(
        "replicas read-your-writes: {} pairs, {} stale; replica reads {}, waited {}, fallbacks {}",
        pairs.load(Ordering::Relaxed),
        stale.load(Ordering::Relaxed),
        stats.nodes[0].reads,
        stats.waited,
        stats.fallbacks
    );
    assert_eq!(pairs.load(Ordering::Relaxed), 1_000);
    assert_eq!(
        stale.load(Ordering::Relaxed),
        0,
        "no read older than its own write"
    );
    assert!(
        stats.waited > 0,
        "the lag was real: reads waited for replay ({stats:?})"
    );
    assert!(
        stats.nodes[0].reads > 0,
        "the replica served reads ({stats:?})"
    );

    // The control: without read-your-writes the same pairs do read stale rows on this lag, so
    // the check above can fail.
    let any = store.reading(ReadFrom::AnyReplica);
    let mut stale_any = 0;
    for round in 0..50 {
        let (written, read) = write_then_read(&any, &collection, &format!("id-{}", round % 40));
        stale_any += u32::from(read < written);
    }
    assert!(
        stale_any > 0,
        "AnyReplica read no stale row in 50 pairs at 5 ms lag"
    );

    // Replay paused: a read needing the write goes to the primary after the wait, never stale.
    let mut admin = standby.connect("app").unwrap();
    diesel::sql_query("SELECT pg_wal_replay_pause()")
        .execute(&mut admin)
        .unwrap();
    let fallbacks = store.replica_stats().unwrap().fallbacks;
    for round in 0..10 {
        let (written, read) = write_then_read(&store, &collection, &format!("id-{round}"));
        assert!(read >= written, "stale read with replay paused");
    }
    assert_eq!(store.replica_stats().unwrap().fallbacks - fallbacks, 10);
    diesel::sql_query("SELECT pg_wal_replay_resume()")
        .execute(&mut admin)
        .unwrap();
}

#[test]
fn a_token_handed_to_another_store_is_honoured() {
    let (primary, standby, writer) = replicated(&[], |_| {});
    let collection = create(&writer, "handover", 4);
    replayed(&writer);
    // Another process: a store of its own that has written nothing.
    let config = Config::new(primary.superuser_url("app").expose_secret())
        .unwrap()
        .replica(standby_url(&primary, &standby))
        .unwrap();
    let mut config = config;
    config.replica_wait = Duration::from_millis(30);
    let reader = Store::connect(config).unwrap();
    wait_until(Duration::from_secs(30), "the reader's replica", || {
        reader.replica_stats().unwrap().nodes[0].in_service
    });
    assert_eq!(reader.last_write_token(), None, "the reader wrote nothing");

    let mut admin = standby.connect("app").unwrap();
    diesel::sql_query("SELECT pg_wal_replay_pause()")
        .execute(&mut admin)
        .unwrap();
    writer
        .write(|uow| {
            uow.embeddings().insert(
                &collection,
                vec![NewEmbedding::new("fresh", vec![1.0, 0.0, 0.0, 0.0])],
            )
        })
        .unwrap();
    let token: WriteToken = writer
        .last_write_token()
        .unwrap()
        .to_string()
        .parse()
        .unwrap();
    // Without the token the reader's own (no) writes are all it must see: the paused replica
    // answers, without the row.
    assert!(reader.get(&collection, "fresh").unwrap().is_none());
    // With it, the replica is behind: the primary answers, with the row.
    let at_least = reader.reading(ReadFrom::AtLeast(token));
    assert!(at_least.get(&collection, "fresh").unwrap().is_some());
    assert_eq!(reader.replica_stats().unwrap().fallbacks, 1);
    diesel::sql_query("SELECT pg_wal_replay_resume()")
        .execute(&mut admin)
        .unwrap();
    // Once replayed, the replica serves it.
    let served = replica_reads(&reader);
    wait_until(
        Duration::from_secs(30),
        "the replica to serve the token",
        || at_least.get(&collection, "fresh").unwrap().is_some() && replica_reads(&reader) > served,
    );
    reader.close();
}

#[test]
fn a_replica_stopped_mid_load_is_skipped_with_no_caller_error() {
    let (_primary, mut standby, store) = replicated(&[], |config| config.pool_max_size = 6);
    let collection = create(&store, "load", 16);
    store
        .write(|uow| {
            uow.embeddings()
                .insert(&collection, items(&mut Rng::new(3), 500, 16))
        })
        .unwrap();
    replayed(&store);
    let stop = AtomicBool::new(false);
    let errors = Mutex::new(Vec::new());
    let answered = AtomicU64::new(0);
    thread::scope(|scope| {
        for worker in 0..3u64 {
            let (store, collection, stop, errors, answered) =
                (&store, &collection, &stop, &errors, &answered);
            scope.spawn(move || {
                let mut rng = Rng::new(worker);
                while !stop.load(Ordering::SeqCst) {
                    let outcome = store
                        .search(collection, SearchRequest::vector(rng.vector(16), 5))
                        .map(|response| response.hits.len())
                        .and_then(|_| {
                            store.run(&WorkOptions::read(), |uow| {
                                uow.embeddings().count(collection)
                            })
                        })
                        .and_then(|rows| {
                            store.get(collection, "item-7")?;
                            Ok(rows)
                        });
                    match outcome {
                        Ok(rows) => {
                            assert_eq!(rows, 500);
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(error) => errors.lock().unwrap().push(error.to_string()),
                    }
                }
            });
        }
        wait_until(Duration::from_secs(30), "reads on the replica", || {
            replica_reads(&store) > 50
        });
        standby.stop().unwrap();
        let stopped_at = answered.load(Ordering::Relaxed);
        wait_until(Duration::from_secs(30), "reads after the stop", || {
            answered.load(Ordering::Relaxed) > stopped_at + 100
        });
        stop.store(true, Ordering::SeqCst);
    });
    let errors = errors.into_inner().unwrap();
    assert!(errors.is_empty(), "callers saw errors: {errors:?}");
    let stats = store.replica_stats().unwrap();
    assert!(!stats.nodes[0].in_service, "{stats:?}");
    assert!(stats.fallbacks > 0, "{stats:?}");
    println!(
        "replicas stop mid-load: {} reads answered, {} by the replica, {} fell back; out because: {:?}",
        answered.load(Ordering::Relaxed),
        stats.nodes[0].reads,
        stats.fallbacks,
        stats.nodes[0].out_because
    );
    // Started again, the prober puts it back and it serves again.
    standby.start_again().unwrap();
    wait_until(
        Duration::from_secs(30),
        "the replica back in service",
        || store.replica_stats().unwrap().nodes[0].in_service,
    );
    let before = replica_reads(&store);
    wait_until(
        Duration::from_secs(30),
        "the replica to serve again",
        || {
            store
                .search(&collection, SearchRequest::vector(vec![0.5; 16], 5))
                .unwrap();
            replica_reads(&store) > before
        },
    );
}

#[test]
fn tenants_and_row_level_security_hold_on_the_replica() {
    let (primary, standby, owner) = replicated(&[], |_| {});
    let collection = create(&owner, "shared", 4);
    let mut admin = primary.connect("app").unwrap();
    diesel::sql_query("CREATE ROLE app_user LOGIN PASSWORD 'app-user-pw'")
        .execute(&mut admin)
        .unwrap();
    owner.grant_app_role("app_user", false).unwrap();
    let app_config = |host: &TestCluster| {
        host.url("app_user", "app-user-pw", "app", "")
            .expose_secret()
            .to_owned()
    };
    let mut config = Config::new(app_config(&primary))
        .unwrap()
        .replica(app_config(&standby))
        .unwrap();
    config.replica_wait = Duration::from_secs(2);
    let app = Store::connect(config).unwrap();
    wait_until(Duration::from_secs(30), "the app's replica", || {
        app.replica_stats().unwrap().nodes[0].in_service
    });
    for tenant in ["acme", "globex"] {
        app.run(&WorkOptions::write().tenant(tenant), |uow| {
            uow.embeddings().insert(
                &collection,
                (0..3)
                    .map(|n| {
                        NewEmbedding::new(format!("{tenant}-{n}"), vec![1.0, n as f32, 0.0, 1.0])
                    })
                    .collect(),
            )
        })
        .unwrap();
    }
    let before = replica_reads(&app);
    for tenant in ["acme", "globex"] {
        let seen: HashMap<String, bool> = app
            .run(&WorkOptions::read().tenant(tenant), |uow| {
                let hits = uow.search(&collection, exact(vec![1.0, 1.0, 0.0, 1.0], 10))?;
                let recovery: Flag = diesel::sql_query("SELECT pg_is_in_recovery() AS flag")
                    .get_result(uow.connection())?;
                assert!(recovery.flag, "the tenant's read ran on the standby");
                Ok(hits
                    .hits
                    .into_iter()
                    .map(|hit| (hit.external_id, true))
                    .collect())
            })
            .unwrap();
        assert_eq!(
            seen.len(),
            3,
            "{tenant} sees its own three rows only: {seen:?}"
        );
        assert!(seen.keys().all(|id| id.starts_with(tenant)), "{seen:?}");
    }
    assert!(replica_reads(&app) >= before + 2);
    // The tenant binding ended with each transaction: an unbound read sees no tenant's rows.
    assert_eq!(
        app.read(|uow| uow.embeddings().count(&collection)).unwrap(),
        0
    );
}

#[test]
fn remote_apply_makes_a_write_visible_on_the_standby_at_commit() {
    let (primary, standby, store) =
        replicated(&[("recovery_min_apply_delay", "300ms")], |config| {
            config.replica_wait = Duration::ZERO;
        });
    primary
        .alter_system("synchronous_standby_names", "standby")
        .unwrap();
    let collection = create(&store, "sync", 4);
    replayed(&store);
    let mut on_standby = standby.connect("app").unwrap();
    let visible = |conn: &mut PgConnection, id: &str| -> bool {
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM embeddings WHERE external_id = $1) AS flag")
            .bind::<Text, _>(id)
            .get_result::<Flag>(conn)
            .unwrap()
            .flag
    };
    store
        .run(&WorkOptions::write(), |uow| {
            uow.embeddings().insert(
                &collection,
                vec![NewEmbedding::new("local", vec![1.0, 0.0, 0.0, 0.0])],
            )
        })
        .unwrap();
    assert!(
        !visible(&mut on_standby, "local"),
        "an ordinary commit waits for the apply delay"
    );
    let started = Instant::now();
    store
        .run(&WorkOptions::write().remote_apply(), |uow| {
            uow.embeddings().insert(
                &collection,
                vec![NewEmbedding::new("applied", vec![1.0, 0.0, 0.0, 0.0])],
            )
        })
        .unwrap();
    assert!(
        visible(&mut on_standby, "applied"),
        "remote_apply: applied at commit"
    );
    println!(
        "replicas remote_apply commit: {:?} (apply delay 300 ms)",
        started.elapsed()
    );
}

#[test]
fn a_replica_that_is_not_a_standby_is_never_used() {
    let primary = TestCluster::start(ClusterOptions::new()).unwrap();
    let url = primary.migrated_database("app").unwrap();
    let config = Config::new(url.expose_secret())
        .unwrap()
        .replica(url.expose_secret())
        .unwrap();
    let store = Store::connect(config).unwrap();
    let collection = create(&store, "solo", 4);
    store
        .search(
            &collection,
            SearchRequest::vector(vec![1.0, 0.0, 0.0, 0.0], 3),
        )
        .unwrap();
    let stats = store.replica_stats().unwrap();
    assert!(!stats.nodes[0].in_service);
    assert_eq!(stats.nodes[0].reads, 0);
    let why = stats.nodes[0].out_because.clone().unwrap();
    assert!(why.contains("not a standby"), "{why}");
    assert!(!format!("{stats:?}{store:?}").contains(primary.superuser_password()));
}

#[test]
fn a_store_without_replicas_reports_none() {
    let primary = TestCluster::start(ClusterOptions::new()).unwrap();
    let url = primary.migrated_database("app").unwrap();
    let store = Store::connect(Config::new(url.expose_secret()).unwrap()).unwrap();
    let collection = create(&store, "plain", 4);
    store
        .write(|uow| {
            uow.embeddings().insert(
                &collection,
                vec![NewEmbedding::new("a", vec![1.0, 0.0, 0.0, 0.0])],
            )
        })
        .unwrap();
    assert_eq!(store.replica_stats(), None);
    assert_eq!(
        store.last_write_token(),
        None,
        "no position is asked without replicas"
    );
    assert!(
        store
            .reading(ReadFrom::AnyReplica)
            .get(&collection, "a")
            .unwrap()
            .is_some()
    );
}
