//! The Citus tier: runs against a real Citus cluster (a coordinator and its workers) when
//! `EMBEDSTORE_CITUS_URL` names a database on the coordinator that has the `citus` and `vector`
//! extensions and its workers added (`docs/citus.md` says how to start one). The tier migrates
//! and distributes that database itself (both are idempotent) and leaves its collections
//! behind under unique names. Without the variable every test prints that it was skipped.
//!
//! Each failure a user met on Citus before embedstore distributed itself has a test here:
//! distribution refused for triggers, upserts failing at `PREPARE TRANSACTION`, the tenant
//! binding not reaching the workers, pgvector's settings staying on the coordinator, sizes and
//! counters read from the coordinator's empty shell, a filter estimate of 0, and a batch search
//! returning more than `k` hits per query.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use embedstore::{
    Collection, Config, Distribution, Error, FieldPath, Filter, HealthOptions, IndexSpec, Metric,
    NewCollection, NewEmbedding, PayloadKind, SearchPath, SearchRequest, Store, WorkOptions,
};
use serde_json::json;

use crate::support::{Rng, ids};

/// The owner's store on the distributed database, or `None` (and a line saying the tier was
/// skipped) without `EMBEDSTORE_CITUS_URL`.
///
/// The tier's tests run one at a time (the guard): Citus serializes DDL on a distributed table
/// across the cluster, and one test ends its own worker connections on purpose.
fn citus(test: &str) -> Option<(&'static Store, std::sync::MutexGuard<'static, ()>)> {
    static SERIAL: Mutex<()> = Mutex::new(());
    static STORE: OnceLock<Option<Store>> = OnceLock::new();
    let store = STORE.get_or_init(|| {
        let url = std::env::var("EMBEDSTORE_CITUS_URL").ok()?;
        let store = Store::connect(Config::new(&url).unwrap()).unwrap();
        store.migrate().unwrap();
        store.distribute().unwrap();
        Some(store)
    });
    let Some(store) = store.as_ref() else {
        eprintln!("citus tier: {test} skipped (EMBEDSTORE_CITUS_URL is not set)");
        return None;
    };
    Some((
        store,
        SERIAL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    ))
}

/// A name no other run or test uses.
fn unique(prefix: &str) -> String {
    static COUNTER: Mutex<u32> = Mutex::new(0);
    let mut counter = COUNTER.lock().unwrap();
    *counter += 1;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{}-{nanos}-{counter}", std::process::id())
}

/// A collection of `rows` random vectors of `dimension`, each with `{"bucket": i % 100,
/// "tag": "t<i % 4>"}`.
fn filled(store: &Store, prefix: &str, rows: usize, dimension: usize, seed: u64) -> Collection {
    let collection = store
        .write(|uow| {
            uow.collections().create(NewCollection::new(
                unique(prefix),
                dimension as u32,
                Metric::Cosine,
                "m",
            ))
        })
        .unwrap();
    let mut rng = Rng::new(seed);
    let items: Vec<NewEmbedding> = (0..rows)
        .map(|row| {
            NewEmbedding::new(format!("item-{row}"), rng.vector(dimension))
                .with_metadata(json!({"bucket": row % 100, "tag": format!("t{}", row % 4)}))
        })
        .collect();
    store
        .write(|uow| uow.embeddings().insert(&collection, items))
        .unwrap();
    collection
}

/// [`filled`], then its HNSW index built.
fn indexed(store: &Store, prefix: &str, rows: usize, dimension: usize, seed: u64) -> Collection {
    let collection = filled(store, prefix, rows, dimension, seed);
    store
        .indexes(&collection)
        .create(&IndexSpec::hnsw(), None)
        .unwrap();
    collection
}

fn owner_connection() -> PgConnection {
    PgConnection::establish(&std::env::var("EMBEDSTORE_CITUS_URL").unwrap()).unwrap()
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = Text)]
    value: String,
}

#[test]
fn the_database_distributes_once_by_collection_without_triggers() {
    let Some((store, _serial)) =
        citus("the_database_distributes_once_by_collection_without_triggers")
    else {
        return;
    };
    let cluster = store.citus().unwrap().unwrap();
    assert_eq!(cluster.distribution, Some(Distribution::ByCollection));
    assert!(cluster.workers >= 1, "{cluster:?}");
    assert!(cluster.version.starts_with("Citus "), "{cluster:?}");
    assert!(store.distribute().unwrap().already);
    let mut conn = owner_connection();
    let triggers: Count = diesel::sql_query(
        "SELECT count(*) AS count FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
         WHERE NOT t.tgisinternal AND c.relname IN ('embeddings', 'collections', \
               'collection_aliases', 'catalog_names', 'ann_indexes', 'payload_indexes')",
    )
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(triggers.count, 0);
    let reference: Count = diesel::sql_query(
        "SELECT count(*) AS count FROM pg_dist_partition WHERE partmethod = 'n' \
         AND logicalrelid::text IN ('collections', 'collection_aliases', 'catalog_names', \
                                    'ann_indexes', 'payload_indexes')",
    )
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(reference.count, 5);
}

#[test]
fn each_collection_lives_in_one_shard_and_ann_finds_what_exact_finds() {
    let Some((store, _serial)) =
        citus("each_collection_lives_in_one_shard_and_ann_finds_what_exact_finds")
    else {
        return;
    };
    let mut conn = owner_connection();
    let mut rng = Rng::new(7);
    let (mut found, mut asked) = (0usize, 0usize);
    for seed in 0..3 {
        let collection = indexed(store, "recall", 1_500, 32, 100 + seed);
        let shards: Vec<Value> = diesel::sql_query(
            "SELECT result AS value FROM run_command_on_shards($1::regclass, \
             'SELECT count(*) FROM %s') WHERE result <> '0'",
        )
        .bind::<Text, _>(format!("embeddings_{}", collection.id.0))
        .load(&mut conn)
        .unwrap();
        let counts: Vec<&str> = shards.iter().map(|row| row.value.as_str()).collect();
        assert_eq!(counts, ["1500"], "the collection's rows are in one shard");
        for _ in 0..20 {
            let query = rng.vector(32);
            let ann = store
                .search(
                    &collection,
                    SearchRequest::vector(query.clone(), 10).with_ef_search(100),
                )
                .unwrap();
            assert_eq!(ann.path, SearchPath::Ann, "{ann:?}");
            let exact = store
                .search(
                    &collection,
                    SearchRequest::vector(query, 10).with_exact(true),
                )
                .unwrap();
            assert_eq!(exact.returned, 10);
            let truth = ids(&exact);
            found += ids(&ann).iter().filter(|id| truth.contains(id)).count();
            asked += 10;
        }
    }
    let recall = found as f64 / asked as f64;
    eprintln!("citus tier: recall@10 against exact over 3 collections, 60 queries: {recall:.3}");
    assert!(recall >= 0.95, "recall {recall}");
}

#[test]
fn upserts_that_change_rows_commit_and_keep_updated_at() {
    let Some((store, _serial)) = citus("upserts_that_change_rows_commit_and_keep_updated_at")
    else {
        return;
    };
    let collection = filled(store, "upsert", 200, 8, 3);
    let mut rng = Rng::new(4);
    let changed: Vec<NewEmbedding> = (0..200)
        .map(|row| NewEmbedding::new(format!("item-{row}"), rng.vector(8)))
        .collect();
    let summary = store
        .write(|uow| uow.embeddings().upsert(&collection, changed))
        .unwrap();
    assert_eq!((summary.inserted, summary.updated), (0, 200));
    let moved: Count = diesel::sql_query(
        "SELECT count(*) AS count FROM embeddings WHERE collection_id = $1 \
         AND updated_at > created_at",
    )
    .bind::<Integer, _>(collection.id.0)
    .get_result(&mut owner_connection())
    .unwrap();
    assert_eq!(moved.count, 200);
    let deleted = store
        .write(|uow| uow.embeddings().delete(&collection, &["item-1", "item-2"]))
        .unwrap();
    assert_eq!(deleted, 2);
}

#[test]
fn pgvector_settings_and_the_plan_are_the_workers() {
    let Some((store, _serial)) = citus("pgvector_settings_and_the_plan_are_the_workers") else {
        return;
    };
    let collection = indexed(store, "settings", 2_000, 16, 5);
    store
        .indexes(&collection)
        .payload()
        .create(&FieldPath::parse("tag").unwrap(), PayloadKind::Keyword)
        .unwrap();
    let query = Rng::new(6).vector(16);
    let filter = Filter::eq("tag", "t1");
    let response = store
        .search(
            &collection,
            SearchRequest::vector(query, 10).with_filter(filter),
        )
        .unwrap();
    // hnsw.ef_search reaches the worker: the graph walk answers differently at 10 and 400
    // (at the coordinator's 40 for both, the answers would be equal), and better at 400.
    let mut rng = Rng::new(17);
    let (mut narrow, mut wide, mut differ) = (0, 0, 0);
    for _ in 0..40 {
        let query = rng.vector(16);
        let truth = ids(&store
            .search(
                &collection,
                SearchRequest::vector(query.clone(), 10).with_exact(true),
            )
            .unwrap());
        let at = |ef: u32| {
            ids(&store
                .search(
                    &collection,
                    SearchRequest::vector(query.clone(), 10).with_ef_search(ef),
                )
                .unwrap())
        };
        let (low, high) = (at(10), at(400));
        differ += usize::from(low != high);
        narrow += low.iter().filter(|id| truth.contains(id)).count();
        wide += high.iter().filter(|id| truth.contains(id)).count();
    }
    eprintln!(
        "citus tier: recall@10 at ef_search 10: {:.3}, at 400: {:.3}",
        narrow as f64 / 400.0,
        wide as f64 / 400.0
    );
    assert!(
        differ > 0 && wide > narrow,
        "ef_search changed nothing: {narrow} vs {wide}"
    );
    // A quarter of the rows match: the estimate comes from the worker's statistics (the
    // coordinator's shell estimated 0), and 500 rows are few enough to scan exactly.
    let estimate = response.estimated_matches.unwrap_or(0);
    assert!((250..=1_000).contains(&estimate), "estimate {estimate}");
    assert_eq!(response.returned, 10);
    // Told to scan exactly only below 10 matches, the same filter walks the shard's index with
    // the iterative scan (was: a full scan on the worker reported as ANN): the path is read
    // from the worker's plan, and every hit matches.
    let walked = store
        .search(
            &collection,
            SearchRequest::vector(Rng::new(22).vector(16), 10)
                .with_filter(Filter::eq("tag", "t1"))
                .with_exact_threshold(10),
        )
        .unwrap();
    assert_eq!(
        (walked.path, walked.returned),
        (SearchPath::Ann, 10),
        "{walked:?}"
    );
    assert!(
        walked
            .hits
            .iter()
            .all(|hit| hit.metadata.as_ref().is_some_and(|m| m["tag"] == "t1")),
        "{walked:?}"
    );
}

#[test]
fn a_batch_returns_k_hits_per_query_equal_to_single_searches() {
    let Some((store, _serial)) = citus("a_batch_returns_k_hits_per_query_equal_to_single_searches")
    else {
        return;
    };
    let collection = indexed(store, "batch", 1_000, 16, 8);
    let mut rng = Rng::new(9);
    let queries: Vec<Vec<f32>> = (0..8).map(|_| rng.vector(16)).collect();
    let template = SearchRequest::vector(Vec::new(), 10).with_exact(true);
    let batch = store
        .search_batch(&collection, &queries, &template)
        .unwrap();
    assert_eq!(batch.len(), 8);
    for (query, response) in queries.iter().zip(&batch) {
        assert_eq!(response.returned, 10);
        let single = store
            .search(
                &collection,
                SearchRequest::vector(query.clone(), 10).with_exact(true),
            )
            .unwrap();
        assert_eq!(ids(response), ids(&single));
    }
}

#[test]
fn tenants_are_isolated_on_the_workers() {
    let Some((store, _serial)) = citus("tenants_are_isolated_on_the_workers") else {
        return;
    };
    let role = "embedstore_citus_app";
    let mut conn = owner_connection();
    diesel::sql_query(format!(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN \
         CREATE ROLE {role} LOGIN PASSWORD 'app'; END IF; END $$"
    ))
    .execute(&mut conn)
    .unwrap();
    store.grant_app_role(role, false).unwrap();
    let owner_url = std::env::var("EMBEDSTORE_CITUS_URL").unwrap();
    let (scheme, rest) = owner_url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let app =
        Store::connect(Config::new(format!("{scheme}://{role}:app@{host}")).unwrap()).unwrap();
    let collection = filled(store, "tenants", 10, 4, 10);
    let mut rng = Rng::new(11);
    let write = |tenant: &str, prefix: &str, rng: &mut Rng| {
        let rows: Vec<NewEmbedding> = (0..5)
            .map(|row| NewEmbedding::new(format!("{prefix}-{row}"), rng.vector(4)))
            .collect();
        app.run(&WorkOptions::write().tenant(tenant), |uow| {
            uow.embeddings().insert(&collection, rows.clone())
        })
        .unwrap()
    };
    write("acme", "a", &mut rng);
    write("globex", "g", &mut rng);
    let count = |options: &WorkOptions| {
        app.run(options, |uow| uow.embeddings().count(&collection))
            .unwrap()
    };
    assert_eq!(count(&WorkOptions::read().tenant("acme")), 5);
    assert_eq!(count(&WorkOptions::read().tenant("globex")), 5);
    // Without a tenant: only the rows without one (the ten the owner wrote).
    assert_eq!(count(&WorkOptions::read()), 10);
    let hits = app
        .run(&WorkOptions::read().tenant("acme"), |uow| {
            uow.search(&collection, SearchRequest::vector(rng.vector(4), 50))
        })
        .unwrap();
    assert_eq!(hits.returned, 5);
    assert!(
        ids(&hits).iter().all(|id| id.starts_with("a-")),
        "{:?}",
        ids(&hits)
    );
    // Upserts bound to a tenant change its own rows; another tenant's id is refused whole, and
    // a plain insert of a taken id is a conflict.
    let changed: Vec<NewEmbedding> = (0..5)
        .map(|row| NewEmbedding::new(format!("a-{row}"), rng.vector(4)))
        .collect();
    let summary = app
        .run(&WorkOptions::write().tenant("acme"), |uow| {
            uow.embeddings().upsert(&collection, changed.clone())
        })
        .unwrap();
    assert_eq!((summary.inserted, summary.updated), (0, 5));
    let theirs = vec![
        NewEmbedding::new("g-new", rng.vector(4)),
        NewEmbedding::new("a-0", rng.vector(4)),
    ];
    let refused = app
        .run(&WorkOptions::write().tenant("globex"), |uow| {
            uow.embeddings().upsert(&collection, theirs.clone())
        })
        .unwrap_err();
    // As on one server (crates/cli/tests/cli/tenants.rs): the policy refuses it, nothing is written.
    assert!(
        refused.to_string().contains("row-level security"),
        "{refused}"
    );
    assert_eq!(count(&WorkOptions::read().tenant("globex")), 5);
    let taken = app
        .run(&WorkOptions::write().tenant("globex"), |uow| {
            uow.embeddings()
                .insert(&collection, vec![NewEmbedding::new("g-0", rng.vector(4))])
        })
        .unwrap_err();
    assert!(matches!(taken, Error::Conflict { .. }), "{taken}");
    // A hostile tenant is only ever hex in the statement: bound, isolated, nothing else.
    let hostile = "x'; SET LOCAL embedstore.tenant_hex = '61636d65'; --";
    assert_eq!(count(&WorkOptions::read().tenant(hostile)), 0);
    let tenants: Vec<Value> = diesel::sql_query(
        "SELECT coalesce(tenant, '-') AS value FROM embeddings WHERE collection_id = $1 \
         GROUP BY tenant ORDER BY 1",
    )
    .bind::<Integer, _>(collection.id.0)
    .load(&mut conn)
    .unwrap();
    let tenants: Vec<&str> = tenants.iter().map(|row| row.value.as_str()).collect();
    assert_eq!(tenants, ["-", "acme", "globex"]);
}

#[test]
fn sizes_and_drift_are_the_shards_not_the_coordinators_shell() {
    let Some((store, _serial)) = citus("sizes_and_drift_are_the_shards_not_the_coordinators_shell")
    else {
        return;
    };
    let collection = indexed(store, "sizes", 3_000, 32, 12);
    let status = store.indexes(&collection).status().unwrap();
    // An empty HNSW index is 16 KB (what the coordinator's shell shows); 3,000 rows are more.
    assert!(status.size_bytes > 500_000, "{status:?}");
    assert_eq!(status.rows, 3_000);
    let stats = store.export(&collection.name).stats().unwrap();
    assert!(stats.table_bytes > stats.index_bytes && stats.index_bytes >= status.size_bytes);
    let mut rng = Rng::new(13);
    let changed: Vec<NewEmbedding> = (0..100)
        .map(|row| NewEmbedding::new(format!("item-{row}"), rng.vector(32)))
        .collect();
    store
        .write(|uow| uow.embeddings().upsert(&collection, changed))
        .unwrap();
    // The worker's counters reach its statistics within a second or so.
    let deadline = Instant::now() + Duration::from_secs(20);
    let health = loop {
        let health = store
            .indexes(&collection)
            .health(&HealthOptions::default().recall_queries(0))
            .unwrap();
        if health.updated_since_build == Some(100) || Instant::now() > deadline {
            break health;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(health.updated_since_build, Some(100), "{health:?}");
    assert!(health.dead_tuples >= 100, "{health:?}");
}

#[test]
fn a_caching_store_is_refused_up_front() {
    let Some((_, _serial)) = citus("a_caching_store_is_refused_up_front") else {
        return;
    };
    let url = std::env::var("EMBEDSTORE_CITUS_URL").unwrap();
    let mut config = Config::new(&url).unwrap();
    config.cache_bytes = Some(1 << 20);
    let error = Store::connect(config).unwrap_err();
    assert!(
        matches!(&error, Error::Config { variable: "EMBEDSTORE_CACHE_BYTES", reason }
            if reason.contains("Citus")),
        "{error}"
    );
}

#[test]
fn names_stay_one_collection_or_one_alias() {
    let Some((store, _serial)) = citus("names_stay_one_collection_or_one_alias") else {
        return;
    };
    let collection = filled(store, "names", 3, 4, 14);
    let alias = unique("alias");
    store
        .write(|uow| uow.aliases().set(&alias, &collection.name))
        .unwrap();
    let shadow = store
        .write(|uow| uow.aliases().set(&collection.name, &collection.name))
        .unwrap_err();
    assert!(
        shadow.to_string().contains("a collection's name"),
        "{shadow}"
    );
    let taken = store
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new(alias.clone(), 4, Metric::Cosine, "m"))
        })
        .unwrap_err();
    assert!(taken.to_string().contains("an alias's name"), "{taken}");
    store.write(|uow| uow.aliases().drop(&alias)).unwrap();
    let dropped = store
        .write(|uow| uow.collections().drop(&collection.name))
        .unwrap();
    assert_eq!(dropped.id, collection.id);
    // Both names are free again.
    let again = store
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new(alias.clone(), 4, Metric::Cosine, "m"))
        })
        .unwrap();
    assert_eq!(again.name, alias);
}

#[test]
fn a_worker_connection_lost_mid_work_fails_it_whole_with_a_clear_error() {
    let Some((_, _serial)) =
        citus("a_worker_connection_lost_mid_work_fails_it_whole_with_a_clear_error")
    else {
        return;
    };
    // A store of its own: its pooled sessions keep Citus's broken connections to the worker
    // until they next fail, which must not be another test's.
    let store =
        &Store::connect(Config::new(std::env::var("EMBEDSTORE_CITUS_URL").unwrap()).unwrap())
            .unwrap();
    let collection = filled(store, "lost", 10, 4, 15);
    let mut rng = Rng::new(16);
    let first: Vec<NewEmbedding> = (0..50)
        .map(|row| NewEmbedding::new(format!("first-{row}"), rng.vector(4)))
        .collect();
    let second: Vec<NewEmbedding> = (0..50)
        .map(|row| NewEmbedding::new(format!("second-{row}"), rng.vector(4)))
        .collect();
    // Ends this transaction's own connections on the workers (their application_name carries
    // the coordinator backend's global pid), from another session, between two statements.
    let kill_own_worker_backends = |uow: &mut embedstore::UnitOfWork<'_>| {
        let gpid: Count = diesel::sql_query("SELECT citus_backend_gpid() AS count")
            .get_result(uow.connection())
            .unwrap();
        let killed: Count = diesel::sql_query(
            "SELECT count(*) AS count FROM run_command_on_workers(format( \
               'SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                WHERE application_name = %L', 'citus_internal gpid=' || $1::text)) \
             WHERE result::int > 0",
        )
        .bind::<BigInt, _>(gpid.count)
        .get_result(&mut owner_connection())
        .unwrap();
        assert!(
            killed.count >= 1,
            "premise: a worker backend of this transaction was ended"
        );
    };
    let error = store
        .write(|uow| {
            uow.embeddings().insert(&collection, first.clone())?;
            kill_own_worker_backends(uow);
            uow.embeddings().insert(&collection, second.clone())
        })
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("127.0.0.1") || message.contains("connection"),
        "the error names the lost node or connection: {message}"
    );
    let rows = store
        .read(|uow| uow.embeddings().count(&collection))
        .unwrap();
    assert_eq!(rows, 10, "nothing of the failed unit of work was written");
    let search_error = store
        .read(|uow| {
            uow.search(&collection, SearchRequest::vector(rng.vector(4), 3))?;
            kill_own_worker_backends(uow);
            uow.search(&collection, SearchRequest::vector(rng.vector(4), 3))
        })
        .unwrap_err();
    assert!(
        search_error.to_string().contains("127.0.0.1")
            || search_error.to_string().contains("connection"),
        "{search_error}"
    );
    // The store recovers: the next search works.
    assert_eq!(
        store
            .search(&collection, SearchRequest::vector(rng.vector(4), 3))
            .unwrap()
            .returned,
        3
    );
}

#[test]
fn every_search_kind_ingest_export_and_the_index_lifecycle_work_on_a_distributed_collection() {
    let Some((store, _serial)) = citus(
        "every_search_kind_ingest_export_and_the_index_lifecycle_work_on_a_distributed_collection",
    ) else {
        return;
    };
    let collection = store
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new(unique("kinds"), 16, Metric::Cosine, "m"))
        })
        .unwrap();
    // The in-memory bulk path, two writers, then again as an upsert that changes nothing.
    let mut rng = Rng::new(18);
    let words = ["cat", "dog", "bird", "fish"];
    let rows: Vec<NewEmbedding> = (0..1_200)
        .map(|row| {
            NewEmbedding::new(format!("item-{row}"), rng.vector(16))
                .with_content(format!("a story about a {}", words[row % 4]))
                .with_metadata(json!({"tag": format!("t{}", row % 4), "bucket": row % 100}))
        })
        .collect();
    let options = crate::support::ingest_options(embedstore::WriteMode::Insert, 300, 2);
    let summary = embedstore::Ingest::new(store, &collection.name, options)
        .run_rows(rows.clone(), &mut ())
        .unwrap();
    assert_eq!((summary.rows, summary.inserted), (1_200, 1_200));
    let options = crate::support::ingest_options(embedstore::WriteMode::Upsert, 300, 2);
    let again = embedstore::Ingest::new(store, &collection.name, options)
        .run_rows(rows, &mut ())
        .unwrap();
    assert_eq!(
        (again.inserted, again.updated, again.unchanged),
        (0, 0, 1_200)
    );

    let indexes = store.indexes(&collection);
    indexes.create(&IndexSpec::hnsw(), None).unwrap();
    indexes
        .text()
        .create(embedstore::DEFAULT_TEXT_CONFIG)
        .unwrap();
    let query = rng.vector(16);
    let vector = |request: SearchRequest| store.search(&collection, request).unwrap();
    let ann = vector(SearchRequest::vector(query.clone(), 10).into());
    assert_eq!((ann.path, ann.returned), (SearchPath::Ann, 10));
    let text = vector(SearchRequest::text("dog", 5).into());
    assert_eq!((text.path, text.returned), (SearchPath::Text, 5));
    let hybrid = vector(SearchRequest::hybrid(query.clone(), "bird", 5).into());
    assert_eq!((hybrid.path, hybrid.returned), (SearchPath::Hybrid, 5));
    let mmr = vector(
        SearchRequest::vector(query.clone(), 5)
            .with_shape(embedstore::Shape::mmr(0.5, 40))
            .into(),
    );
    assert_eq!(mmr.returned, 5);
    let grouped = vector(
        SearchRequest::vector(query.clone(), 3)
            .with_shape(embedstore::Shape::grouped(
                &FieldPath::parse("tag").unwrap(),
                2,
            ))
            .into(),
    );
    assert_eq!((grouped.groups, grouped.returned), (Some(3), 6));
    let filtered = vector(
        SearchRequest::vector(query.clone(), 10)
            .with_filter(Filter::eq("tag", "t2"))
            .into(),
    );
    assert_eq!(filtered.returned, 10);
    assert!(
        filtered
            .hits
            .iter()
            .all(|hit| hit.metadata.as_ref().is_some_and(|m| m["tag"] == "t2")),
        "{filtered:?}"
    );
    let page = vector(
        SearchRequest::vector(query.clone(), 5)
            .with_shape(embedstore::Shape::after(
                ann.hits[4].distance,
                ann.hits[4].id,
            ))
            .into(),
    );
    assert_eq!(ids(&page), ids(&ann)[5..10]);

    // Quantized rebuild, then drop: the exact path answers without an index.
    let binary = indexes
        .rebuild(
            Some(&IndexSpec::hnsw().quantization(embedstore::Quantization::Binary)),
            None,
        )
        .unwrap();
    assert!(binary.valid && binary.size_bytes > 0, "{binary:?}");
    let reranked = vector(SearchRequest::vector(query.clone(), 10).into());
    assert_eq!((reranked.path, reranked.returned), (SearchPath::Ann, 10));
    assert!(reranked.reranked.is_some(), "{reranked:?}");
    assert!(indexes.drop().unwrap());
    let exact = vector(SearchRequest::vector(query, 10).into());
    assert_eq!((exact.path, exact.returned), (SearchPath::Exact, 10));

    let deleted = store
        .write(|uow| {
            uow.embeddings()
                .delete_where(&collection, &Filter::eq("tag", "t3"))
        })
        .unwrap();
    assert_eq!(deleted, 300);
    let dir = std::env::temp_dir().join(unique("citus-export"));
    let written = store
        .export(&collection.name)
        .jsonl(&dir, &mut |_, _| {})
        .unwrap();
    assert_eq!(written.rows, 900);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_index_build_records_the_workers_build_memory_and_refuses_a_setting_that_cannot_reach_them() {
    let Some((_, _serial)) = citus(
        "an_index_build_records_the_workers_build_memory_and_refuses_a_setting_that_cannot_reach_them",
    ) else {
        return;
    };
    // As the refusal tells a user to: ALTER DATABASE … SET on the coordinator, which Citus
    // passes on to the workers.
    let set_on_workers = |value: &str| {
        let mut conn = owner_connection();
        diesel::sql_query(format!(
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET maintenance_work_mem = %L', \
             current_database(), '{value}'); END $$"
        ))
        .execute(&mut conn)
        .unwrap();
        let on_workers: Vec<Value> = diesel::sql_query(
            "SELECT result AS value FROM run_command_on_workers( \
               'SELECT setconfig::text FROM pg_db_role_setting s JOIN pg_database d \
                ON d.oid = s.setdatabase WHERE d.datname = current_database()')",
        )
        .load(&mut conn)
        .unwrap();
        assert!(
            on_workers.iter().all(|row| row.value.contains(value)),
            "premise: the workers took the setting: {:?}",
            on_workers.iter().map(|row| &row.value).collect::<Vec<_>>()
        );
    };
    set_on_workers("77MB");
    // A store of its own, so that its sessions (and Citus's connections to the workers) are new
    // and see the workers' setting.
    let store =
        Store::connect(Config::new(std::env::var("EMBEDSTORE_CITUS_URL").unwrap()).unwrap())
            .unwrap();
    let collection = filled(&store, "memory", 500, 8, 19);
    let outcome = store.indexes(&collection).create(&IndexSpec::hnsw(), None);
    let refused = store
        .indexes(&collection)
        .rebuild(Some(&IndexSpec::hnsw().maintenance_work_mem_mb(512)), None);
    set_on_workers("64MB");
    let status = outcome.unwrap();
    assert_eq!(
        status.parameters["maintenance_work_mem_mb"], 77,
        "{status:?}"
    );
    let refused = refused.unwrap_err();
    assert!(
        matches!(&refused, Error::Validation(_)) && refused.to_string().contains("workers"),
        "{refused}"
    );
}
