//! Errors a caller can act on: each database failure a service must tell apart (statement
//! timeout, lock timeout, deadlock, serialization failure, lost connection) produced for real
//! on the test server and classified as its own [`DatabaseErrorKind`], with the retry advice
//! that goes with it.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use embedstore::{
    Collection, Config, DatabaseErrorKind, Error, Metric, NewEmbedding, SearchRequest, Store,
};
use embedstore_test_support::TestDatabase;

use crate::support::with_items;

/// A store of its own over `db`, tuned by `tune`.
fn store_with(db: &TestDatabase, tune: impl FnOnce(&mut Config)) -> Store {
    let mut config = Config::new(db.url().expose_secret().to_owned()).unwrap();
    config.pool_min_idle = 0;
    tune(&mut config);
    Store::connect(config).unwrap()
}

/// The database error's kind, or a panic naming what came instead.
#[track_caller]
fn kind_of(error: &Error) -> DatabaseErrorKind {
    match error {
        Error::Database(database) => database.kind(),
        other => panic!("expected a database error, got {other:?}"),
    }
}

/// One row `item-<n>` rewritten with a vector that differs from what is stored (so that the
/// upsert really updates and locks it).
fn changed(n: usize, value: f32) -> Vec<NewEmbedding> {
    vec![NewEmbedding::new(format!("item-{n}"), vec![value; 4])]
}

/// A connection outside the store that holds `lock_sql` (run in an open transaction) until
/// dropped.
fn hold(db: &TestDatabase, lock_sql: &str) -> PgConnection {
    let mut conn = db.raw_connection();
    conn.batch_execute(&format!("BEGIN; {lock_sql}")).unwrap();
    conn
}

fn docs() -> (TestDatabase, Collection) {
    with_items("docs", 4, Metric::L2, 20, 7)
}

#[test]
fn a_statement_timeout_is_its_own_kind_names_its_setting_and_is_not_retryable() {
    let (db, docs) = docs();
    let store = store_with(&db, |config| {
        config.statement_timeout = Some(Duration::from_millis(300));
    });
    // Another session holds the table: the search waits until the statement timeout.
    let holder = hold(&db, "LOCK TABLE embeddings IN ACCESS EXCLUSIVE MODE");
    let error = store
        .search(&docs, SearchRequest::vector(vec![0.1; 4], 3))
        .unwrap_err();
    drop(holder);
    assert_eq!(kind_of(&error), DatabaseErrorKind::StatementTimeout);
    assert!(!error.is_retryable(), "{error}");
    let text = error.to_string();
    assert!(text.contains("EMBEDSTORE_STATEMENT_TIMEOUT_MS"), "{text}");
    assert!(text.contains("statement timeout"), "{text}");
    // The same store answers once the lock is gone.
    assert_eq!(
        store
            .search(&docs, SearchRequest::vector(vec![0.1; 4], 3))
            .unwrap()
            .hits
            .len(),
        3
    );
}

#[test]
fn a_lock_timeout_is_its_own_kind_and_retryable() {
    let (db, docs) = docs();
    let store = store_with(&db, |_| {});
    // Another session holds item-3's row lock; the upsert waits at most 200 ms for it.
    let holder = hold(
        &db,
        "SELECT 1 FROM embeddings WHERE external_id = 'item-3' FOR UPDATE",
    );
    let error = store
        .write(|uow| {
            uow.connection()
                .batch_execute("SET LOCAL lock_timeout = '200ms'")
                .map_err(Error::from)?;
            uow.embeddings().upsert(&docs, changed(3, 9.0))
        })
        .unwrap_err();
    drop(holder);
    assert_eq!(kind_of(&error), DatabaseErrorKind::LockTimeout, "{error}");
    assert!(error.is_retryable(), "{error}");
    // Retried once the lock is released, it goes through.
    store
        .write(|uow| uow.embeddings().upsert(&docs, changed(3, 9.0)))
        .unwrap();
}

#[test]
fn a_deadlock_between_two_writers_is_its_own_kind_and_retryable() {
    let (db, docs) = docs();
    let store = store_with(&db, |config| config.pool_max_size = 2);
    let both_hold_one = Arc::new(Barrier::new(2));
    // Two units of work upsert the same two rows in opposite orders, one upsert each at a
    // time: each holds one row's lock and waits for the other's.
    let writers: Vec<_> = [(1, 2), (2, 1)]
        .into_iter()
        .map(|(first, second)| {
            let (store, docs, barrier) = (store.clone(), docs.clone(), Arc::clone(&both_hold_one));
            thread::spawn(move || {
                store.write(|uow| {
                    uow.embeddings()
                        .upsert(&docs, changed(first, first as f32 + 10.0))?;
                    barrier.wait();
                    uow.embeddings()
                        .upsert(&docs, changed(second, first as f32 + 20.0))
                })
            })
        })
        .collect();
    let outcomes: Vec<_> = writers
        .into_iter()
        .map(|writer| writer.join().unwrap())
        .collect();
    let failed: Vec<&Error> = outcomes
        .iter()
        .filter_map(|outcome| outcome.as_ref().err())
        .collect();
    assert_eq!(
        failed.len(),
        1,
        "the server breaks a deadlock by failing one: {outcomes:?}"
    );
    assert_eq!(
        kind_of(failed[0]),
        DatabaseErrorKind::Deadlock,
        "{}",
        failed[0]
    );
    assert!(failed[0].is_retryable());
    assert!(
        failed[0].to_string().contains("(retryable)"),
        "{}",
        failed[0]
    );
}

#[test]
fn a_serialization_failure_is_its_own_kind_and_retryable() {
    let (db, docs) = docs();
    let store = store_with(&db, |_| {});
    let error = store
        .write(|uow| {
            uow.connection()
                .batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .map_err(Error::from)?;
            // The snapshot is taken by this read...
            uow.embeddings().get(&docs, &["item-4"])?;
            // ...then another session changes the row and commits...
            db.raw_connection()
                .batch_execute(
                    "UPDATE embeddings SET content = 'elsewhere' WHERE external_id = 'item-4'",
                )
                .unwrap();
            // ...so this transaction may not update it.
            uow.embeddings().upsert(&docs, changed(4, 5.0))
        })
        .unwrap_err();
    assert_eq!(
        kind_of(&error),
        DatabaseErrorKind::SerializationFailure,
        "{error}"
    );
    assert!(error.is_retryable());
}

#[test]
fn a_connection_killed_under_a_unit_of_work_is_lost_and_retryable() {
    let (db, docs) = docs();
    let store = store_with(&db, |_| {});
    let error = store
        .read(|uow| {
            uow.connection()
                .batch_execute("SELECT pg_terminate_backend(pg_backend_pid())")
                .map_err(Error::from)
        })
        .unwrap_err();
    assert_eq!(
        kind_of(&error),
        DatabaseErrorKind::ConnectionLost,
        "{error}"
    );
    assert!(error.is_retryable());
    // The dead connection left the pool: the next work runs.
    assert_eq!(store.read(|uow| uow.embeddings().count(&docs)).unwrap(), 20);
}

#[test]
fn a_users_own_error_with_a_deadlocks_words_stays_unclassified() {
    let (db, _docs) = docs();
    let store = store_with(&db, |_| {});
    for sql in [
        "DO $$ BEGIN RAISE EXCEPTION 'deadlock detected'; END $$",
        "SELECT no_such_column FROM embeddings",
    ] {
        let error = store
            .read(|uow| uow.connection().batch_execute(sql).map_err(Error::from))
            .unwrap_err();
        assert_eq!(kind_of(&error), DatabaseErrorKind::Other, "{sql}: {error}");
        assert!(!error.is_retryable(), "{sql}: {error}");
    }
}
