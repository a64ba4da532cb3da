use std::panic::{AssertUnwindSafe, catch_unwind};

use embedstore::{Error, Metric, NewCollection, NewEmbedding};
use embedstore_test_support::TestDatabase;

use crate::support::{Rng, count, items, with_collection};

#[test]
fn an_error_inside_the_unit_of_work_rolls_everything_back() {
    let db = TestDatabase::new();
    let mut rng = Rng::new(11);
    let error = db
        .store()
        .write(|uow| {
            let collection =
                uow.collections()
                    .create(NewCollection::new("temp", 4, Metric::L2, "m"))?;
            uow.embeddings()
                .insert(&collection, items(&mut rng, 100, 4))?;
            // A later failure in the same unit of work: the duplicate is a conflict.
            uow.embeddings().insert(&collection, items(&mut rng, 1, 4))
        })
        .unwrap_err();
    assert!(matches!(error, Error::Conflict { .. }), "{error:?}");
    assert!(
        error.to_string().contains("item-0"),
        "the conflict names the key: {error}"
    );
    let listed = db.store().read(|uow| uow.collections().list()).unwrap();
    assert!(listed.is_empty(), "the collection must be rolled back too");
}

#[derive(Debug)]
enum ServiceError {
    #[expect(
        dead_code,
        reason = "carried for the caller; this test only needs the other variant"
    )]
    Store(Error),
    Business(&'static str),
}

impl From<Error> for ServiceError {
    fn from(error: Error) -> Self {
        ServiceError::Store(error)
    }
}

#[test]
fn a_caller_error_type_rolls_back_and_comes_back_unchanged() {
    let (db, collection) = with_collection("svc", 2, Metric::L2);
    let outcome: Result<(), ServiceError> = db.store().write(|uow| {
        uow.embeddings()
            .insert(&collection, vec![NewEmbedding::new("a", vec![1.0, 2.0])])?;
        Err(ServiceError::Business("quota exceeded"))
    });
    assert!(matches!(
        outcome,
        Err(ServiceError::Business("quota exceeded"))
    ));
    assert_eq!(count(&db, &collection), 0);
}

#[test]
fn a_panic_inside_the_unit_of_work_rolls_back_and_the_pool_stays_usable() {
    let (db, collection) = with_collection("panicky", 2, Metric::L2);
    let store = db.store().clone();
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        store
            .write(|uow| {
                uow.embeddings()
                    .insert(&collection, vec![NewEmbedding::new("a", vec![1.0, 2.0])])?;
                panic!("bug in caller code");
                #[expect(unreachable_code, reason = "the closure needs a return type")]
                Ok::<_, Error>(())
            })
            .ok();
    }));
    let payload = panicked.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"bug in caller code"));
    assert_eq!(count(&db, &collection), 0);
    // Every pooled connection still works and none is stuck inside a transaction.
    for _ in 0..8 {
        db.store()
            .write(|uow| {
                uow.embeddings()
                    .upsert(&collection, vec![NewEmbedding::new("b", vec![1.0, 2.0])])
            })
            .unwrap();
    }
    assert_eq!(count(&db, &collection), 1);
}

#[test]
fn read_units_of_work_refuse_writes() {
    let (db, collection) = with_collection("readonly", 2, Metric::L2);
    let error = db
        .store()
        .read(|uow| {
            uow.embeddings()
                .insert(&collection, vec![NewEmbedding::new("a", vec![1.0, 2.0])])
        })
        .unwrap_err();
    assert!(
        error.to_string().contains("read-only transaction"),
        "{error}"
    );
    assert_eq!(count(&db, &collection), 0);
}

#[test]
fn committed_work_is_visible_to_the_next_unit_of_work() {
    let db = TestDatabase::new();
    let mut rng = Rng::new(5);
    db.store()
        .write(|uow| {
            let collection =
                uow.collections()
                    .create(NewCollection::new("kept", 3, Metric::L2, "m"))?;
            uow.embeddings().insert(&collection, items(&mut rng, 10, 3))
        })
        .unwrap();
    let collection = db
        .store()
        .read(|uow| uow.collections().get("kept"))
        .unwrap();
    assert_eq!(count(&db, &collection), 10);
}

#[derive(diesel::QueryableByName)]
struct Pid {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

#[test]
fn a_backend_killed_mid_unit_of_work_leaves_nothing_and_is_retryable() {
    use diesel::prelude::*;
    let (db, collection) = with_collection("killed", 3, Metric::L2);
    let mut rng = Rng::new(13);
    let mut admin = db.raw_connection();
    let error = db
        .store()
        .write(|uow| {
            uow.embeddings()
                .insert(&collection, items(&mut rng, 1000, 3))?;
            let own: Pid = diesel::sql_query("SELECT pg_backend_pid() AS pid")
                .get_result(uow.connection())
                .map_err(Error::from)?;
            // As if an operator or a failover ended the session between two statements.
            diesel::sql_query("SELECT pg_terminate_backend($1)")
                .bind::<diesel::sql_types::Integer, _>(own.pid)
                .execute(&mut admin)
                .map_err(Error::from)?;
            uow.embeddings().insert(&collection, items(&mut rng, 10, 3))
        })
        .unwrap_err();
    assert!(
        error.is_retryable(),
        "a lost connection is worth a retry: {error:?}"
    );
    assert_eq!(
        count(&db, &collection),
        0,
        "the first batch must not survive"
    );
    // The broken connection is not handed out again.
    for _ in 0..6 {
        db.store()
            .write(|uow| {
                uow.embeddings()
                    .upsert(&collection, items(&mut Rng::new(1), 5, 3))
            })
            .unwrap();
    }
    assert_eq!(count(&db, &collection), 5);
}
