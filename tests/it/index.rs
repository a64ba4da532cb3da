use diesel::prelude::*;
use embedstore::{Error, IndexMethod, IndexSpec, Metric};

use crate::support::{failures, with_items};

#[derive(QueryableByName)]
struct Definition {
    #[diesel(sql_type = diesel::sql_types::Text)]
    definition: String,
}

fn index_definitions(db: &embedstore_test_support::TestDatabase, partition: &str) -> Vec<String> {
    diesel::sql_query(
        "SELECT indexdef AS definition FROM pg_indexes WHERE tablename = $1 ORDER BY indexname",
    )
    .bind::<diesel::sql_types::Text, _>(partition)
    .load::<Definition>(&mut db.raw_connection())
    .unwrap()
    .into_iter()
    .map(|row| row.definition)
    .collect()
}

#[test]
fn hnsw_index_is_built_on_the_search_expression_with_the_metrics_operator_class() {
    for (metric, opclass) in [
        (Metric::Cosine, "vector_cosine_ops"),
        (Metric::L2, "vector_l2_ops"),
        (Metric::InnerProduct, "vector_ip_ops"),
        (Metric::L1, "vector_l1_ops"),
    ] {
        let (db, collection) = with_items("idx", 8, metric, 300, 1);
        let mut reports = 0;
        let status = db
            .store()
            .indexes(&collection)
            .create(
                &IndexSpec::hnsw().m(8).ef_construction(32),
                Some(&mut |_| reports += 1),
            )
            .unwrap();
        assert!(status.exists && status.valid, "{status:?}");
        assert_eq!(status.method, Some(IndexMethod::Hnsw));
        assert_eq!(status.parameters["m"], 8);
        assert_eq!(status.parameters["ef_construction"], 32);
        assert_eq!((status.rows, status.built_rows), (300, Some(300)));
        assert!(status.size_bytes > 0);
        let definitions = index_definitions(&db, &collection.partition_name());
        let ann = definitions
            .iter()
            .find(|definition| definition.contains("_ann"))
            .unwrap();
        assert!(
            ann.contains("USING hnsw (((embedding)::vector(8)) ") && ann.contains(opclass),
            "{ann}"
        );
        assert!(
            ann.contains("m='8'") && ann.contains("ef_construction='32'"),
            "{ann}"
        );
    }
}

#[test]
fn wide_collections_get_a_halfvec_index_and_over_4000_dimensions_a_clear_error() {
    let (db, collection) = with_items("wide", 2500, Metric::Cosine, 20, 2);
    let status = db
        .store()
        .indexes(&collection)
        .create(&IndexSpec::hnsw(), None)
        .unwrap();
    assert_eq!(status.element.as_deref(), Some("halfvec"));
    let definitions = index_definitions(&db, &collection.partition_name());
    assert!(
        definitions
            .iter()
            .any(|definition| definition.contains("halfvec(2500)) halfvec_cosine_ops")),
        "{definitions:?}"
    );

    let (db, collection) = with_items("huge", 4001, Metric::Cosine, 2, 3);
    let error = db
        .store()
        .indexes(&collection)
        .create(&IndexSpec::hnsw(), None)
        .unwrap_err();
    assert!(failures(&error)[0].contains("4001 dimensions cannot have an ANN index"));
}

#[test]
fn ivfflat_lists_derive_from_rows_and_status_advises_a_rebuild_when_the_data_outgrows_them() {
    let (db, collection) = with_items("ivf", 8, Metric::L2, 3000, 4);
    let status = db
        .store()
        .indexes(&collection)
        .create(&IndexSpec::ivfflat(), None)
        .unwrap();
    assert_eq!(status.parameters["lists"], 3);
    assert!(status.advice.is_empty(), "{:?}", status.advice);

    let more = crate::support::items(&mut crate::support::Rng::new(5), 7000, 8)
        .into_iter()
        .enumerate()
        .map(|(index, mut item)| {
            item.external_id = format!("more-{index}");
            item
        })
        .collect();
    db.store()
        .write(|uow| uow.embeddings().insert(&collection, more))
        .unwrap();
    let status = db.store().indexes(&collection).status().unwrap();
    assert_eq!(
        status.advice,
        ["IVFFlat built on 3000 rows, now 10000: rebuild so its lists fit the data"]
    );
    let rebuilt = db.store().indexes(&collection).rebuild(None, None).unwrap();
    assert_eq!(rebuilt.parameters["lists"], 10);
    assert_eq!(rebuilt.built_rows, Some(10_000));
    assert!(rebuilt.valid && rebuilt.advice.is_empty(), "{rebuilt:?}");
    assert_eq!(rebuilt.name, format!("{}_ann", collection.partition_name()));
}

#[test]
fn a_second_create_conflicts_and_drop_removes_the_index() {
    let (db, collection) = with_items("twice", 8, Metric::Cosine, 50, 6);
    let store = db.store();
    store
        .indexes(&collection)
        .create(&IndexSpec::hnsw(), None)
        .unwrap();
    let error = store
        .indexes(&collection)
        .create(&IndexSpec::hnsw(), None)
        .unwrap_err();
    assert!(matches!(error, Error::Conflict { .. }), "{error:?}");
    assert!(store.indexes(&collection).drop().unwrap());
    let status = store.indexes(&collection).status().unwrap();
    assert!(!status.exists && status.parameters.as_object().unwrap().is_empty());
    assert!(!store.indexes(&collection).drop().unwrap());
}

#[test]
fn an_invalid_index_from_a_failed_build_is_reported_and_cleaned_up() {
    let (db, collection) = with_items("broken", 8, Metric::L2, 50, 7);
    // A concurrent build that fails part-way leaves an INVALID index behind: provoke one with
    // a unique index over duplicate values, under the name embedstore uses.
    let mut conn = db.raw_connection();
    let name = format!("{}_ann", collection.partition_name());
    let failed = diesel::sql_query(format!(
        "CREATE UNIQUE INDEX CONCURRENTLY {name} ON {} ((1))",
        collection.partition_name()
    ))
    .execute(&mut conn);
    assert!(failed.is_err());
    let status = db.store().indexes(&collection).status().unwrap();
    assert!(status.exists && !status.valid, "{status:?}");
    assert!(status.advice[0].contains("INVALID"), "{:?}", status.advice);

    let status = db
        .store()
        .indexes(&collection)
        .create(&IndexSpec::hnsw(), None)
        .unwrap();
    assert!(status.valid && status.advice.is_empty(), "{status:?}");
}

#[test]
fn build_settings_apply_to_the_build_only_and_progress_is_reported() {
    let (db, collection) = with_items("settings", 32, Metric::Cosine, 20_000, 8);
    let store = db.store();
    let mut snapshots = Vec::new();
    store
        .indexes(&collection)
        .create(
            &IndexSpec::hnsw()
                .maintenance_work_mem_mb(77)
                .parallel_workers(0),
            Some(&mut |progress| snapshots.push(progress)),
        )
        .unwrap();
    assert!(!snapshots.is_empty(), "a 20,000-row build reports progress");
    assert!(
        snapshots
            .iter()
            .any(|snapshot| snapshot.phase.starts_with("building index")),
        "{snapshots:?}"
    );
    // Every pooled connection still has the pool's own settings afterwards.
    for _ in 0..store.config().pool_max_size {
        let (timeout, memory): (String, String) = store
            .read(|uow| {
                diesel::select((
                    diesel::dsl::sql::<diesel::sql_types::Text>(
                        "current_setting('statement_timeout')",
                    ),
                    diesel::dsl::sql::<diesel::sql_types::Text>(
                        "current_setting('maintenance_work_mem')",
                    ),
                ))
                .get_result(uow.connection())
                .map_err(embedstore::Error::from)
            })
            .unwrap();
        assert_ne!(timeout, "0");
        assert_ne!(memory, "77MB");
    }
}

#[test]
fn an_hnsw_build_without_a_memory_setting_fits_its_graph_and_never_goes_below_the_server() {
    let (db, collection) = with_items("memory", 64, Metric::Cosine, 3_000, 10);
    let server_mb = |conn: &mut PgConnection| -> i64 {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "pg_size_bytes(current_setting('maintenance_work_mem')) / 1048576",
        ))
        .get_result(conn)
        .unwrap()
    };
    // At the server's setting (64 MB unless the server says otherwise), far above this graph
    // of about 4 MB, the library keeps the server's value.
    let server = server_mb(&mut db.raw_connection());
    assert!(server >= 4, "{server}");
    let indexes = db.store().indexes(&collection);
    let status = indexes.create(&IndexSpec::hnsw(), None).unwrap();
    assert_eq!(status.parameters["maintenance_work_mem_mb"], server);
    indexes.drop().unwrap();
    // A spec that names the memory gets it, even below the server's setting.
    let status = indexes
        .create(&IndexSpec::hnsw().maintenance_work_mem_mb(2), None)
        .unwrap();
    assert_eq!(status.parameters["maintenance_work_mem_mb"], 2);
    indexes.drop().unwrap();

    // A server set below the graph: new sessions start at 1 MB, and the build gets the
    // planner's graph, 3,000 rows x (264 bytes of value + 33 links x 24 + 200) = 3,768,000
    // bytes, and 10 %: 4,144,800 bytes, rounded up to whole MiB: 4.
    let name = db.name().to_owned();
    diesel::sql_query(format!(
        "ALTER DATABASE \"{name}\" SET maintenance_work_mem = '1MB'"
    ))
    .execute(&mut db.raw_connection())
    .unwrap();
    let store = embedstore::Store::connect(
        embedstore::Config::new(db.url().expose_secret().to_owned()).unwrap(),
    )
    .unwrap();
    let status = store
        .indexes(&collection)
        .create(&IndexSpec::hnsw(), None)
        .unwrap();
    assert_eq!(status.parameters["maintenance_work_mem_mb"], 4);
    // The setting was the build's only: the pool's sessions are back at the server's 1 MB.
    let after = store
        .read(|uow| Ok::<_, Error>(server_mb(uow.connection())))
        .unwrap();
    assert_eq!(after, 1);
}

#[test]
fn index_operations_on_a_dropped_collection_say_not_found() {
    let (db, collection) = with_items("gone", 8, Metric::L2, 10, 9);
    db.store()
        .write(|uow| uow.collections().drop("gone"))
        .unwrap();
    let error = db
        .store()
        .indexes(&collection)
        .create(&IndexSpec::hnsw(), None)
        .unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    let error = db.store().indexes(&collection).status().unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
}
