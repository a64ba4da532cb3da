//! Faults injected into a private throw-away server (`testing::cluster::TestCluster`), never
//! the shared one: killed backends, a restart under load, an exhausted pool, statement
//! timeouts and a read-only server. Each test prints `faults <name>: injected N, survived N`
//! (see them with `-- --nocapture`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use embedstore::{
    Collection, Config, DatabaseErrorKind, Error, Metric, NewCollection, SearchRequest, Store,
};
use embedstore_test_support::cluster::{ClusterOptions, TestCluster};

use crate::support::{Rng, items};

/// A cluster with one migrated database and a store on it, configured by `tune`.
fn cluster_store(tune: impl FnOnce(&mut Config)) -> (TestCluster, Store) {
    let cluster = TestCluster::start(ClusterOptions::new()).unwrap();
    let url = cluster.migrated_database("faults").unwrap();
    let mut config = Config::new(url.expose_secret()).unwrap();
    config.pool_min_idle = 0;
    tune(&mut config);
    let store = Store::connect(config).unwrap();
    (cluster, store)
}

fn create_collection(store: &Store, name: &str, dimension: u32) -> Collection {
    store
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new(name, dimension, Metric::L2, "m"))
        })
        .unwrap()
}

fn report(test: &str, injected: u64, survived: u64) {
    println!("faults {test}: injected {injected}, survived {survived}");
    assert_eq!(
        injected, survived,
        "{test}: every injected fault must be survived"
    );
}

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

fn backend_pid(store: &Store) -> i32 {
    store
        .read(|uow| {
            diesel::sql_query("SELECT pg_backend_pid() AS pid")
                .get_result::<Pid>(uow.connection())
                .map_err(Error::from)
        })
        .unwrap()
        .pid
}

/// Waits (bounded) until a backend of `application_name` sleeps inside our trigger, then
/// terminates it; returns its pid.
fn terminate_when_sleeping(cluster: &TestCluster, application_name: &str) -> i32 {
    let mut admin = cluster.connect("faults").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let sleeping: Option<Pid> = diesel::sql_query(
            "SELECT pid FROM pg_stat_activity
             WHERE application_name = $1 AND state = 'active' AND wait_event = 'PgSleep'",
        )
        .bind::<Text, _>(application_name)
        .get_result(&mut admin)
        .optional()
        .unwrap();
        if let Some(Pid { pid }) = sleeping {
            diesel::sql_query("SELECT pg_terminate_backend($1)")
                .bind::<Integer, _>(pid)
                .execute(&mut admin)
                .unwrap();
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "the writer never reached the trap"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_backend_killed_in_the_middle_of_a_batch_leaves_none_of_it_and_the_pool_recovers() {
    let (cluster, store) = cluster_store(|config| {
        config.pool_max_size = 1; // the next call must get a replacement for the killed one
        config.application_name = "faults-writer".to_owned();
    });
    let collection = create_collection(&store, "killed", 8);
    let mut rng = Rng::new(41);
    // The committed state every failed batch must leave untouched.
    let before = items(&mut rng, 300, 8);
    store
        .write(|uow| uow.embeddings().insert(&collection, before))
        .unwrap();
    // A trap inside the partition: row "new-500" / "item-500" sleeps, so the kill lands while
    // COPY (insert) or INSERT … SELECT (upsert) has already written hundreds of the batch's rows.
    let mut admin = cluster.connect("faults").unwrap();
    diesel::sql_query(
        "CREATE FUNCTION trap() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.external_id IN ('new-500', 'item-500') THEN PERFORM pg_sleep(60); END IF;
           RETURN NEW;
         END $$",
    )
    .execute(&mut admin)
    .unwrap();
    diesel::sql_query(format!(
        "CREATE TRIGGER trap BEFORE INSERT ON {} FOR EACH ROW EXECUTE FUNCTION trap()",
        collection.partition_name()
    ))
    .execute(&mut admin)
    .unwrap();

    let (mut injected, mut survived) = (0, 0);
    for upsert in [false, true] {
        // insert: 2,000 new ids new-0…; upsert: item-0… (the first 300 exist: updated, new
        // vectors) and 1,700 new ones.
        let mut batch = items(&mut Rng::new(7), 2000, 8);
        if !upsert {
            for item in &mut batch {
                item.external_id = item.external_id.replace("item-", "new-");
            }
        }
        let writer = {
            let (store, collection) = (store.clone(), collection.clone());
            thread::spawn(move || {
                store.write(|uow| {
                    if upsert {
                        uow.embeddings().upsert(&collection, batch)
                    } else {
                        uow.embeddings().insert(&collection, batch)
                    }
                })
            })
        };
        let killed = terminate_when_sleeping(&cluster, "faults-writer");
        injected += 1;
        let error = writer.join().unwrap().unwrap_err();
        assert!(
            error.is_retryable(),
            "a killed backend is retryable: {error:?}"
        );
        // Nothing of the batch: the 300 committed rows, unchanged.
        let (rows, kept) = store
            .read(|uow| {
                let rows = uow.embeddings().count(&collection)?;
                let kept = uow.embeddings().get(&collection, &["item-0", "item-299"])?;
                Ok::<_, Error>((rows, kept))
            })
            .unwrap();
        assert_eq!(rows, 300, "upsert={upsert}: the batch must be absent");
        let original = items(&mut Rng::new(41), 300, 8);
        assert_eq!(kept[0].vector.to_vec(), original[0].vector.to_vec());
        assert_eq!(kept[1].vector.to_vec(), original[299].vector.to_vec());
        // The pool (one connection) hands out a healthy, new backend.
        let next = backend_pid(&store);
        assert_ne!(
            next, killed,
            "the killed connection must not be handed out again"
        );
        survived += 1;
    }
    report("killed backend", injected, survived);
}

/// What the load threads saw.
#[derive(Default)]
struct Tally {
    ok_before: AtomicU64,
    ok_after: AtomicU64,
    retryable: AtomicU64,
    slowest_failure_ms: AtomicU64,
    other: Mutex<Vec<String>>,
}

#[test]
fn a_server_restart_under_load_fails_fast_and_retryably_then_the_same_store_recovers() {
    let connect_timeout = Duration::from_secs(1);
    let (mut cluster, store) = cluster_store(|config| {
        config.pool_max_size = 4;
        config.connect_timeout = connect_timeout;
    });
    let collection = create_collection(&store, "restart", 16);
    store
        .write(|uow| {
            uow.embeddings()
                .insert(&collection, items(&mut Rng::new(3), 200, 16))
        })
        .unwrap();
    let tally = Arc::new(Tally::default());
    let restarted = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let committed = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    for worker in 0..4u64 {
        let (store, collection, tally, restarted, stop, committed) = (
            store.clone(),
            collection.clone(),
            tally.clone(),
            restarted.clone(),
            stop.clone(),
            committed.clone(),
        );
        workers.push(thread::spawn(move || {
            let mut rng = Rng::new(100 + worker);
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                let prefix = format!("w{worker}-r{round}-");
                let started = Instant::now();
                let outcome = if worker % 2 == 0 {
                    // Writers: a batch of 20 fresh ids; all or nothing.
                    let mut batch = items(&mut rng, 20, 16);
                    for item in &mut batch {
                        item.external_id = format!("{prefix}{}", item.external_id);
                    }
                    store
                        .write(|uow| uow.embeddings().insert(&collection, batch))
                        .map(|_| committed.lock().unwrap().push(prefix.clone()))
                } else {
                    let query = SearchRequest::vector(rng.vector(16), 5);
                    store
                        .read(|uow| {
                            uow.embeddings().count(&collection)?;
                            uow.search(&collection, query)
                        })
                        .map(drop)
                };
                match outcome {
                    Ok(()) if restarted.load(Ordering::Relaxed) => {
                        tally.ok_after.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(()) => {
                        tally.ok_before.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) if error.is_retryable() => {
                        tally.retryable.fetch_add(1, Ordering::Relaxed);
                        let ms = started.elapsed().as_millis() as u64;
                        tally.slowest_failure_ms.fetch_max(ms, Ordering::Relaxed);
                        thread::sleep(Duration::from_millis(50));
                    }
                    Err(error) => tally.other.lock().unwrap().push(format!("{error:?}")),
                }
            }
        }));
    }
    let wait_for = |what: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !what() {
            assert!(Instant::now() < deadline, "timed out");
            thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for(&|| tally.ok_before.load(Ordering::Relaxed) >= 20);
    cluster.stop().unwrap();
    thread::sleep(Duration::from_millis(1500));
    cluster.start_again().unwrap();
    restarted.store(true, Ordering::Relaxed);
    wait_for(&|| tally.ok_after.load(Ordering::Relaxed) >= 20);
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }

    let other = tally.other.lock().unwrap();
    assert!(other.is_empty(), "errors not marked retryable: {other:#?}");
    let failures = tally.retryable.load(Ordering::Relaxed);
    assert!(failures > 0, "the restart must have been noticed");
    // Fail fast: no call waited much longer than the pool's connect timeout (a hang would).
    let slowest = Duration::from_millis(tally.slowest_failure_ms.load(Ordering::Relaxed));
    assert!(
        slowest < connect_timeout * 5,
        "a failing call took {slowest:?}"
    );
    // No half batch: every batch is entirely there or entirely absent, and every batch
    // reported committed is there.
    #[derive(QueryableByName)]
    struct Group {
        #[diesel(sql_type = Text)]
        prefix: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        rows: i64,
    }
    let mut conn = cluster.connect("faults").unwrap();
    let groups: Vec<Group> = diesel::sql_query(format!(
        "SELECT substring(external_id from '^w[0-9]+-r[0-9]+-') AS prefix, count(*) AS rows
         FROM {} WHERE external_id LIKE 'w%' GROUP BY 1",
        collection.partition_name()
    ))
    .load(&mut conn)
    .unwrap();
    for group in &groups {
        assert_eq!(group.rows, 20, "batch {} is partial", group.prefix);
    }
    let present: std::collections::HashSet<&str> =
        groups.iter().map(|group| group.prefix.as_str()).collect();
    for prefix in committed.lock().unwrap().iter() {
        assert!(
            present.contains(prefix.as_str()),
            "committed batch {prefix} is missing"
        );
    }
    println!(
        "restart: {} calls ok before, {failures} failed retryably (slowest {slowest:?}), {} ok after, {} batches intact",
        tally.ok_before.load(Ordering::Relaxed),
        tally.ok_after.load(Ordering::Relaxed),
        groups.len()
    );
    report("server restart", 1, 1);
}

#[test]
fn an_exhausted_pool_gives_a_pool_error_after_the_connect_timeout_not_a_hang() {
    let connect_timeout = Duration::from_secs(1);
    let (_cluster, store) = cluster_store(|config| {
        config.pool_max_size = 2;
        config.connect_timeout = connect_timeout;
    });
    // Two units of work hold both pooled connections until `release` is dropped.
    let (release, held) = std::sync::mpsc::channel::<()>();
    let held = std::sync::Arc::new(std::sync::Mutex::new(held));
    let (entered, inside) = std::sync::mpsc::channel();
    let holders: Vec<_> = (0..2)
        .map(|_| {
            let (store, held, entered) = (store.clone(), held.clone(), entered.clone());
            std::thread::spawn(move || {
                store
                    .read(|_| {
                        entered.send(()).unwrap();
                        // Wait until the sender is dropped (recv then fails).
                        while held.lock().unwrap().recv().is_ok() {}
                        Ok::<_, Error>(())
                    })
                    .unwrap();
            })
        })
        .collect();
    inside.recv().unwrap();
    inside.recv().unwrap();
    let started = Instant::now();
    let error = store.read(|uow| uow.collections().list()).unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(error, Error::Pool(_)), "{error:?}");
    assert!(error.is_retryable(), "{error:?}");
    assert!(
        waited >= connect_timeout.mul_f32(0.9) && waited < connect_timeout * 5,
        "waited {waited:?} for a configured {connect_timeout:?}"
    );
    drop(release);
    for holder in holders {
        holder.join().unwrap();
    }
    assert!(
        store
            .read(|uow| uow.collections().list())
            .unwrap()
            .is_empty()
    );
    report("exhausted pool", 1, 1);
}

#[test]
fn a_statement_timeout_is_a_clear_error_and_the_same_connection_is_reused() {
    let (_cluster, store) = cluster_store(|config| {
        config.pool_max_size = 1;
        config.statement_timeout = Some(Duration::from_millis(200));
    });
    let before = backend_pid(&store);
    let error = store
        .read(|uow| {
            diesel::sql_query("SELECT pg_sleep(5)")
                .execute(uow.connection())
                .map_err(Error::from)
        })
        .unwrap_err();
    let Error::Database(database) = &error else {
        panic!("expected a database error, got {error:?}");
    };
    assert_eq!(
        database.kind(),
        DatabaseErrorKind::StatementTimeout,
        "{error:?}"
    );
    assert!(!error.is_retryable(), "{error}");
    assert!(
        error
            .to_string()
            .contains("EMBEDSTORE_STATEMENT_TIMEOUT_MS"),
        "{error}"
    );
    // The same pooled backend, still usable.
    assert_eq!(backend_pid(&store), before);
    report("statement timeout", 1, 1);
}

#[test]
fn a_read_only_server_refuses_writes_clearly_and_writes_resume_when_it_is_writable_again() {
    let (cluster, store) = cluster_store(|config| config.pool_max_size = 2);
    let collection = create_collection(&store, "readonly", 4);
    cluster
        .alter_system("default_transaction_read_only", "on")
        .unwrap();
    // The reload reaches idle pooled sessions before their next statement; allow a moment.
    thread::sleep(Duration::from_millis(200));
    let batch = || items(&mut Rng::new(5), 10, 4);
    let error = store
        .write(|uow| uow.embeddings().insert(&collection, batch()))
        .unwrap_err();
    let Error::Database(database) = &error else {
        panic!("expected a database error, got {error:?}");
    };
    assert_eq!(
        database.kind(),
        DatabaseErrorKind::ReadOnlyTransaction,
        "{error:?}"
    );
    assert!(!error.is_retryable(), "retrying will not help: {error:?}");
    assert!(
        error.to_string().contains("read-only transaction"),
        "{error}"
    );
    let creating = store.write(|uow| {
        uow.collections()
            .create(NewCollection::new("other", 4, Metric::L2, "m"))
    });
    assert!(creating.is_err(), "DDL must be refused too");
    // Reads still work and nothing was written.
    assert_eq!(
        store
            .read(|uow| uow.embeddings().count(&collection))
            .unwrap(),
        0
    );
    cluster
        .alter_system("default_transaction_read_only", "off")
        .unwrap();
    thread::sleep(Duration::from_millis(200));
    store
        .write(|uow| uow.embeddings().insert(&collection, batch()))
        .unwrap();
    report("read-only server", 1, 1);
}

#[test]
fn a_connection_killed_while_idle_in_the_pool_is_replaced_without_the_caller_noticing() {
    let (cluster, store) = cluster_store(|config| config.pool_max_size = 1);
    let collection = create_collection(&store, "idle", 4);
    let batch = items(&mut Rng::new(5), 20, 4);
    let query = batch[0].vector.clone();
    store
        .write(|uow| uow.embeddings().insert(&collection, batch))
        .unwrap();
    let mut admin = cluster.connect("faults").unwrap();
    let mut injected = 0;
    let mut survived = 0;
    // Three kinds of first contact with the dead connection: a unit of work that writes, one
    // that reads, and a search outside any unit of work.
    for round in 0..3 {
        let pid = backend_pid(&store);
        diesel::sql_query("SELECT pg_terminate_backend($1)")
            .bind::<Integer, _>(pid)
            .execute(&mut admin)
            .unwrap();
        injected += 1;
        let outcome = match round {
            0 => store
                .write(|uow| {
                    uow.embeddings().upsert(
                        &collection,
                        vec![embedstore::NewEmbedding::new("late", vec![1.0; 4])],
                    )
                })
                .map(drop),
            1 => store
                .read(|uow| uow.embeddings().count(&collection))
                .map(drop),
            _ => store
                .search(&collection, SearchRequest::vector(query.clone(), 3))
                .map(drop),
        };
        outcome.unwrap();
        assert_ne!(backend_pid(&store), pid, "a new backend serves the pool");
        survived += 1;
    }
    report("idle connection killed", injected, survived);
}

#[test]
fn retry_runs_the_unit_of_work_again_after_a_lost_connection_but_not_after_a_refusal() {
    let (_cluster, store) = cluster_store(|_| {});
    let collection = create_collection(&store, "retried", 2);
    let policy = embedstore::RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    };
    let mut attempts = 0;
    let summary = store
        .run(&embedstore::WorkOptions::write().retry(policy), |uow| {
            attempts += 1;
            if attempts == 1 {
                // The first attempt loses its connection half-way: the server ends its backend.
                uow.embeddings().insert(
                    &collection,
                    vec![embedstore::NewEmbedding::new("half", vec![1.0, 2.0])],
                )?;
                diesel::sql_query("SELECT pg_terminate_backend(pg_backend_pid())")
                    .execute(uow.connection())?;
            }
            uow.embeddings().insert(
                &collection,
                vec![embedstore::NewEmbedding::new("whole", vec![3.0, 4.0])],
            )
        })
        .unwrap();
    assert_eq!((attempts, summary.inserted), (2, 1));
    let ids = store
        .read(|uow| uow.embeddings().existing(&collection, &["half", "whole"]))
        .unwrap();
    assert_eq!(ids, ["whole"], "the lost attempt left nothing behind");
    // A refusal is not retried.
    let mut refused = 0;
    let error = store
        .run(&embedstore::WorkOptions::write().retry(policy), |uow| {
            refused += 1;
            uow.embeddings().insert(
                &collection,
                vec![embedstore::NewEmbedding::new("bad", vec![f32::NAN, 1.0])],
            )
        })
        .unwrap_err();
    assert!(error.as_validation().is_some(), "{error:?}");
    assert_eq!(refused, 1);
    report("retry after a lost connection", 1, 1);
}
