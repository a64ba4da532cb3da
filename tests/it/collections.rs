use diesel::prelude::*;
use embedstore::{Error, Metric, NewCollection, NewEmbedding};
use embedstore_test_support::TestDatabase;
use serde_json::json;

use crate::support::{Rng, count, items, with_collection};

#[test]
fn created_collections_can_be_found_listed_and_keep_their_spec() {
    let db = TestDatabase::new();
    let created = db
        .store()
        .write(|uow| {
            uow.collections().create(
                NewCollection::new("zeta", 8, Metric::L1, "m1")
                    .with_description(json!({"owner": "search"})),
            )?;
            uow.collections().create(NewCollection::new(
                "alpha",
                1536,
                Metric::InnerProduct,
                "text-embedding-3-small",
            ))
        })
        .unwrap();
    let (found, listed, missing) = db
        .store()
        .read(|uow| {
            Ok::<_, Error>((
                uow.collections().get("alpha")?,
                uow.collections().list()?,
                uow.collections().find("nope")?,
            ))
        })
        .unwrap();
    assert_eq!(found, created);
    assert_eq!(
        (found.dimension, found.metric, found.model.as_str()),
        (1536, Metric::InnerProduct, "text-embedding-3-small")
    );
    let names: Vec<&str> = listed.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["alpha", "zeta"]);
    assert_eq!(listed[1].description, json!({"owner": "search"}));
    assert_eq!(missing, None);
}

#[test]
fn a_taken_name_is_a_conflict_and_an_unknown_one_is_not_found() {
    let (db, _) = with_collection("docs", 4, Metric::L2);
    let error = db
        .store()
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new("docs", 8, Metric::Cosine, "other"))
        })
        .unwrap_err();
    assert!(matches!(error, Error::Conflict { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "conflict: a collection named \"docs\" already exists"
    );
    let error = db
        .store()
        .read(|uow| uow.collections().get("nope"))
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::NotFound {
                entity: "collection",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "collection \"nope\" not found");
}

#[test]
fn the_database_refuses_a_wrong_dimension_written_with_raw_sql() {
    let (db, collection) = with_collection("strict", 8, Metric::L2);
    let mut conn = db.raw_connection();
    let refused = diesel::sql_query(format!(
        "INSERT INTO embeddings (collection_id, external_id, embedding) VALUES ({}, 'raw', '[1,2,3]')",
        collection.id.0
    ))
    .execute(&mut conn)
    .unwrap_err();
    let constraint = format!("embeddings_{}_dim_8", collection.id.0);
    assert!(refused.to_string().contains(&constraint), "{refused}");
    // The right dimension goes in the same way.
    diesel::sql_query(format!(
        "INSERT INTO embeddings (collection_id, external_id, embedding) VALUES ({}, 'raw', '[1,2,3,4,5,6,7,8]')",
        collection.id.0
    ))
    .execute(&mut conn)
    .unwrap();
    assert_eq!(count(&db, &collection), 1);
}

#[test]
fn a_row_for_an_unknown_collection_is_refused_by_the_database() {
    let db = TestDatabase::new();
    let mut conn = db.raw_connection();
    let refused = diesel::sql_query(
        "INSERT INTO embeddings (collection_id, external_id, embedding) VALUES (999, 'x', '[1]')",
    )
    .execute(&mut conn)
    .unwrap_err();
    assert!(refused.to_string().contains("no partition"), "{refused}");
}

#[test]
fn a_fabricated_collection_with_the_wrong_dimension_is_stopped_by_the_partition_check() {
    let (db, mut collection) = with_collection("honest", 4, Metric::L2);
    collection.dimension = 3; // as if the caller built a Collection by hand
    let error = db
        .store()
        .write(|uow| {
            uow.embeddings().insert(
                &collection,
                vec![NewEmbedding::new("a", vec![1.0, 2.0, 3.0])],
            )
        })
        .unwrap_err();
    assert!(
        matches!(error, Error::DimensionMismatch { expected: 4, .. }),
        "{error:?}"
    );
}

#[test]
fn dropping_a_collection_removes_its_rows_and_partition_but_not_others() {
    let db = TestDatabase::new();
    let mut rng = Rng::new(3);
    let (doomed, kept) = db
        .store()
        .write(|uow| {
            let doomed =
                uow.collections()
                    .create(NewCollection::new("doomed", 4, Metric::L2, "m"))?;
            let kept = uow
                .collections()
                .create(NewCollection::new("kept", 4, Metric::L2, "m"))?;
            uow.embeddings().insert(&doomed, items(&mut rng, 300, 4))?;
            uow.embeddings().insert(&kept, items(&mut rng, 5, 4))?;
            Ok::<_, Error>((doomed, kept))
        })
        .unwrap();
    let dropped = db
        .store()
        .write(|uow| uow.collections().drop("doomed"))
        .unwrap();
    assert_eq!(dropped.id, doomed.id);

    let mut conn = db.raw_connection();
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let rows: Count = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM embeddings WHERE collection_id = {}",
        doomed.id.0
    ))
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(rows.n, 0);
    let partitions: Count = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM pg_class WHERE relname = 'embeddings_{}'",
        doomed.id.0
    ))
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(partitions.n, 0, "the partition must be gone");
    assert_eq!(count(&db, &kept), 5);
    let error = db
        .store()
        .write(|uow| uow.collections().drop("doomed"))
        .unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    // Writing through a stale handle says the collection is gone.
    let error = db
        .store()
        .write(|uow| uow.embeddings().insert(&doomed, items(&mut rng, 1, 4)))
        .unwrap_err();
    assert_eq!(error.to_string(), "collection \"doomed\" not found");
}

#[test]
fn a_second_writer_cannot_make_the_catalog_disagree_with_the_partitions() {
    let (db, collection) = crate::support::with_items("guarded", 4, Metric::L2, 10, 3);
    let mut conn = db.raw_connection();
    for (sql, expected) in [
        (
            "UPDATE collections SET dimension = 5",
            "cannot change its id, kind, dimension or metric",
        ),
        (
            "UPDATE collections SET metric = 'cosine'",
            "cannot change its id, kind, dimension or metric",
        ),
        ("DELETE FROM collections", "still has its partition"),
    ] {
        let error = diesel::sql_query(sql).execute(&mut conn).unwrap_err();
        assert!(error.to_string().contains(expected), "{sql}: {error}");
    }
    // What may change still can; the library's drop still works.
    diesel::sql_query("UPDATE collections SET description = '{\"owner\": \"search\"}'")
        .execute(&mut conn)
        .unwrap();
    let store = db.store();
    let kept = store.read(|uow| uow.collections().get("guarded")).unwrap();
    assert_eq!((kept.dimension, kept.metric), (4, Metric::L2));
    assert_eq!(crate::support::count(&db, &collection), 10);
    store
        .write(|uow| uow.collections().drop("guarded"))
        .unwrap();
    assert!(
        store
            .read(|uow| uow.collections().list())
            .unwrap()
            .is_empty()
    );
}
