//! The path a search reports is the plan PostgreSQL ran (issue 22, items 1 and 6), on a server
//! with autovacuum off: statistics exist straight after a write and an index build, for every
//! index kind; a plan that passes the index over is reported exact with its reason; a rare
//! filter no payload index serves is scanned exactly and advised on.

use crate::support::{ids, without_autovacuum};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use embedstore::{
    BitVector, Collection, Filter, HealthOptions, IndexNotUsedReason, IndexSpec, Ingest,
    IngestOptions, JsonlSource, Metric, NewCollection, NewEmbedding, PayloadKind, Quantization,
    SearchAdvice, SearchPath, SearchRequest, SparseVector, VectorKind, VectorValue,
};
use embedstore_test_support::{Rng, TestDatabase};
use serde_json::json;

const ROWS: usize = 3000;

/// One index kind under test: the collection's kind, dimension and metric, the index, and a
/// vector drawer.
struct Kind {
    name: &'static str,
    kind: VectorKind,
    dimension: u32,
    metric: Metric,
    index: IndexSpec,
}

fn kinds() -> Vec<Kind> {
    let dense = |name, index| Kind {
        name,
        kind: VectorKind::Dense,
        dimension: 16,
        metric: Metric::Cosine,
        index,
    };
    vec![
        dense("hnsw", IndexSpec::hnsw()),
        dense("ivfflat", IndexSpec::ivfflat().lists(20)),
        dense("half", IndexSpec::hnsw().quantization(Quantization::Half)),
        dense(
            "binary",
            IndexSpec::hnsw().quantization(Quantization::Binary),
        ),
        Kind {
            name: "sparse",
            kind: VectorKind::Sparse,
            dimension: 1000,
            metric: Metric::InnerProduct,
            index: IndexSpec::hnsw(),
        },
        Kind {
            name: "bits",
            kind: VectorKind::Bit,
            dimension: 64,
            metric: Metric::Hamming,
            index: IndexSpec::hnsw(),
        },
    ]
}

fn vector(rng: &mut Rng, kind: &Kind) -> VectorValue {
    match kind.kind {
        VectorKind::Dense => rng.vector(kind.dimension as usize).into(),
        VectorKind::Sparse => {
            let mut indices: Vec<u32> = (0..12)
                .map(|_| (rng.next_u64() % u64::from(kind.dimension)) as u32)
                .collect();
            indices.sort_unstable();
            indices.dedup();
            let values = indices.iter().map(|_| rng.unit_value() + 0.1).collect();
            SparseVector::new(kind.dimension, indices, values).into()
        }
        VectorKind::Bit => {
            let bools: Vec<bool> = (0..kind.dimension)
                .map(|index| index == 0 || rng.next_u64().is_multiple_of(2))
                .collect();
            BitVector::from_bools(&bools).into()
        }
        _ => unreachable!("no other kind"),
    }
}

fn items(kind: &Kind, count: usize, seed: u64) -> Vec<NewEmbedding> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|index| {
            NewEmbedding::new(format!("item-{index}"), vector(&mut rng, kind))
                .with_metadata(json!({ "n": index }))
        })
        .collect()
}

/// A new collection whose partition autovacuum never visits (on any server: the CI's runs
/// with `autovacuum = off`, a cluster `scripts/setup-postgres.sh` creates with it on), so the
/// statistics these tests find are the ones embedstore made.
fn create(db: &TestDatabase, name: &str, kind: &Kind) -> Collection {
    let collection = db
        .store()
        .write(|uow| {
            uow.collections().create(
                NewCollection::new(name, kind.dimension, kind.metric, "m").with_kind(kind.kind),
            )
        })
        .unwrap();
    without_autovacuum(db, &collection);
    collection
}

/// Whether the partition has planner statistics (`pg_stats` rows), read by another client.
fn analyzed(db: &TestDatabase, collection: &Collection) -> bool {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Bool)]
        analyzed: bool,
    }
    diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM pg_stats WHERE schemaname = current_schema() \
         AND tablename = $1) AS analyzed",
    )
    .bind::<Text, _>(collection.partition_name())
    .get_result::<Row>(&mut db.raw_connection())
    .unwrap()
    .analyzed
}

/// How many times the partition was analyzed (manually: autovacuum is off).
fn analyze_count(db: &TestDatabase, collection: &Collection) -> i64 {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    diesel::sql_query("SELECT pg_stat_get_analyze_count(to_regclass($1)) AS count")
        .bind::<Text, _>(collection.partition_name())
        .get_result::<Row>(&mut db.raw_connection())
        .unwrap()
        .count
}

/// The server's plan of the statement `request` sends, as `EXPLAIN` prints it.
fn plan(db: &TestDatabase, collection: &Collection, request: impl Into<SearchRequest>) -> String {
    db.store()
        .read(|uow| uow.explain_search(collection, request))
        .unwrap()
}

fn index_scan(collection: &Collection) -> String {
    format!("Index Scan using {}_ann", collection.partition_name())
}

/// A search of `query` reports the ANN path, and the server's plan of that statement walks
/// the ANN index.
fn assert_ann_and_index_used(
    db: &TestDatabase,
    collection: &Collection,
    query: &VectorValue,
    what: &str,
) {
    let request = SearchRequest::vector(query.clone(), 10);
    let response = db.store().search(collection, request.clone()).unwrap();
    let plan = plan(db, collection, request);
    assert_eq!(
        (response.path, response.exact),
        (SearchPath::Ann, false),
        "{what}: {response:?}\n{plan}"
    );
    assert!(response.advice.is_empty(), "{what}: {:?}", response.advice);
    assert!(plan.contains(&index_scan(collection)), "{what}: {plan}");
    assert_eq!(response.returned, 10, "{what}");
}

/// Copies `from`'s rows into `to` with plain SQL, as another client would: nothing analyzes.
fn copy_rows_raw(db: &TestDatabase, from: &Collection, to: &Collection) {
    diesel::sql_query(format!(
        "INSERT INTO embeddings (collection_id, external_id, embedding, sparse, bits, metadata) \
         SELECT {}, external_id, embedding, sparse, bits, metadata FROM embeddings \
         WHERE collection_id = {}",
        to.id.0, from.id.0
    ))
    .execute(&mut db.raw_connection())
    .unwrap();
}

#[test]
fn the_partitions_these_tests_create_are_never_autovacuumed() {
    #[derive(QueryableByName)]
    struct Options {
        #[diesel(sql_type = Text)]
        options: String,
    }
    let db = TestDatabase::new();
    let collection = create(&db, "premise", &kinds()[0]);
    let found: Options = diesel::sql_query(
        "SELECT coalesce(array_to_string(reloptions, ','), '') AS options FROM pg_class \
         WHERE relname = $1",
    )
    .bind::<Text, _>(collection.partition_name())
    .get_result(&mut db.raw_connection())
    .unwrap();
    // The tests below prove statistics embedstore made itself only when nothing else does.
    assert_eq!(found.options, "autovacuum_enabled=false");
}

#[test]
fn straight_after_a_write_every_index_kind_answers_through_its_index() {
    let db = TestDatabase::new();
    for kind in kinds() {
        let collection = create(&db, kind.name, &kind);
        // The index first, on an empty partition (its analyze finds no rows): then the write.
        db.store()
            .indexes(&collection)
            .create(&kind.index, None)
            .unwrap();
        let items = items(&kind, ROWS, 7);
        let query = items[5].vector.clone();
        db.store()
            .write(|uow| uow.embeddings().insert(&collection, items))
            .unwrap();
        assert!(analyzed(&db, &collection), "{}: not analyzed", kind.name);
        assert_ann_and_index_used(&db, &collection, &query, kind.name);
    }
}

#[test]
fn straight_after_an_ingest_the_search_answers_through_the_index() {
    let db = TestDatabase::new();
    let kind = &kinds()[0];
    let collection = create(&db, "ingested", kind);
    db.store()
        .indexes(&collection)
        .create(&kind.index, None)
        .unwrap();
    let items = items(kind, ROWS, 11);
    let lines: String = items
        .iter()
        .map(|item| {
            format!(
                "{}\n",
                json!({"id": item.external_id, "vector": item.vector.to_vec()})
            )
        })
        .collect();
    let mut source = JsonlSource::from_reader(std::io::Cursor::new(lines.into_bytes()), "in.jsonl");
    let options = IngestOptions {
        batch_size: 500,
        ..IngestOptions::default()
    };
    let before = analyze_count(&db, &collection);
    let summary = Ingest::new(db.store(), "ingested", options)
        .run(&mut source, &mut ())
        .unwrap();
    assert_eq!(summary.inserted, ROWS as u64);
    assert!(summary.batches >= 6, "{summary:?}");
    assert!(analyzed(&db, &collection));
    // One analyze for the run, not one per batch.
    assert_eq!(analyze_count(&db, &collection) - before, 1);
    assert_ann_and_index_used(&db, &collection, &items[3].vector, "ingest");
}

#[test]
fn straight_after_an_index_build_every_index_kind_answers_through_its_index() {
    let db = TestDatabase::new();
    for kind in kinds() {
        let written = create(&db, &format!("{}-source", kind.name), &kind);
        let items = items(&kind, ROWS, 13);
        let query = items[9].vector.clone();
        db.store()
            .write(|uow| uow.embeddings().insert(&written, items))
            .unwrap();
        // Rows another client wrote: no statistics until the build.
        let collection = create(&db, kind.name, &kind);
        copy_rows_raw(&db, &written, &collection);
        assert!(!analyzed(&db, &collection), "{}", kind.name);
        db.store()
            .indexes(&collection)
            .create(&kind.index, None)
            .unwrap();
        assert!(analyzed(&db, &collection), "{}: not analyzed", kind.name);
        assert_ann_and_index_used(&db, &collection, &query, kind.name);
    }
}

#[test]
fn a_plan_that_passes_over_the_index_is_reported_exact_with_its_reason() {
    let db = TestDatabase::new();
    let kind = &kinds()[0];
    let written = create(&db, "source", kind);
    let items = items(kind, ROWS, 17);
    let query = items[2].vector.clone();
    db.store()
        .write(|uow| uow.embeddings().insert(&written, items))
        .unwrap();
    // The index on an empty partition, then rows by another client: no statistics, and the
    // planner sorts its guess of a handful of rows instead of walking the index.
    let collection = create(&db, "unanalyzed", kind);
    db.store()
        .indexes(&collection)
        .create(&kind.index, None)
        .unwrap();
    copy_rows_raw(&db, &written, &collection);
    let request = SearchRequest::vector(query.clone(), 10);
    let response = db.store().search(&collection, request.clone()).unwrap();
    let plan = plan(&db, &collection, request.clone());
    assert!(!plan.contains(&index_scan(&collection)), "{plan}");
    assert_eq!(
        (response.path, response.exact),
        (SearchPath::Exact, true),
        "{plan}"
    );
    assert_eq!(
        response.advice,
        [SearchAdvice::IndexNotUsed {
            index: format!("{}_ann", collection.partition_name()),
            reason: IndexNotUsedReason::NoStatistics,
        }]
    );
    assert!(
        response.ignored.is_empty(),
        "no option was set: {:?}",
        response.ignored
    );
    let exact = db
        .store()
        .search(&collection, request.clone().with_exact(true))
        .unwrap();
    assert_eq!(ids(&response), ids(&exact));
    // `index health` says so, with the reason.
    let health = db
        .store()
        .indexes(&collection)
        .health(&HealthOptions::default().recall_queries(0))
        .unwrap();
    assert!(
        health.advice.iter().any(|advice| advice
            .contains("is present but not used by the planner: the partition was never analyzed")),
        "{:?}",
        health.advice
    );
    // One write through the store analyzes the partition: the next search walks the index.
    db.store()
        .write(|uow| {
            uow.embeddings().insert(
                &collection,
                vec![NewEmbedding::new("one-more", query.clone())],
            )
        })
        .unwrap();
    assert!(analyzed(&db, &collection));
    assert_ann_and_index_used(&db, &collection, &query, "after one write");
}

#[test]
fn a_collection_small_enough_to_scan_is_reported_exact_and_health_says_why() {
    let db = TestDatabase::new();
    let kind = &kinds()[0];
    let collection = create(&db, "small", kind);
    let items = items(kind, 40, 19);
    let query = items[1].vector.clone();
    db.store()
        .write(|uow| uow.embeddings().insert(&collection, items))
        .unwrap();
    db.store()
        .indexes(&collection)
        .create(&kind.index, None)
        .unwrap();
    assert!(analyzed(&db, &collection));
    let request = SearchRequest::vector(query, 10);
    let response = db.store().search(&collection, request.clone()).unwrap();
    let plan = plan(&db, &collection, request);
    assert!(!plan.contains(&index_scan(&collection)), "{plan}");
    assert_eq!((response.path, response.exact), (SearchPath::Exact, true));
    assert_eq!(
        response.advice,
        [SearchAdvice::IndexNotUsed {
            index: format!("{}_ann", collection.partition_name()),
            reason: IndexNotUsedReason::ScanIsCheaper,
        }]
    );
    let health = db
        .store()
        .indexes(&collection)
        .health(&HealthOptions::default().recall_queries(5))
        .unwrap();
    assert_eq!(health.search_advice, response.advice);
    assert!(
        health
            .advice
            .iter()
            .any(|advice| advice.contains("prefers a sequential scan at this size")),
        "{:?}",
        health.advice
    );
    // `index recall` counts the answers the index gave: none.
    let report = db
        .store()
        .measure_recall(&collection, &embedstore::RecallRequest::sample(5, 10))
        .unwrap();
    assert_eq!(report.approximate_answers, 0);
}

#[test]
fn a_rare_filter_without_a_payload_index_scans_exactly_and_says_which_index_would_help() {
    let db = TestDatabase::new();
    let kind = &kinds()[0];
    let collection = create(&db, "docs", kind);
    let mut rng = Rng::new(23);
    // `doc`: "style-guide" on 0.5 % of the rows, "manual" on 40 %, the rest spread thin.
    let items: Vec<NewEmbedding> = (0..4000)
        .map(|index| {
            let doc = if index % 200 == 0 {
                "style-guide".to_owned()
            } else if index % 5 < 2 {
                "manual".to_owned()
            } else {
                format!("page-{}", index % 97)
            };
            NewEmbedding::new(format!("item-{index}"), rng.vector(kind.dimension as usize))
                .with_metadata(json!({ "doc": doc }))
        })
        .collect();
    let query = items[1].vector.clone();
    db.store()
        .write(|uow| uow.embeddings().insert(&collection, items.clone()))
        .unwrap();
    db.store()
        .indexes(&collection)
        .create(&kind.index, None)
        .unwrap();
    let search = |doc: &str| {
        db.store()
            .search(
                &collection,
                SearchRequest::vector(query.clone(), 10).with_filter(Filter::eq("doc", doc)),
            )
            .unwrap()
    };
    let truth = |doc: &str| -> Vec<String> {
        db.store()
            .search(
                &collection,
                SearchRequest::vector(query.clone(), 10)
                    .with_filter(Filter::eq("doc", doc))
                    .with_exact(true),
            )
            .unwrap()
            .hits
            .iter()
            .map(|hit| hit.external_id.clone())
            .collect()
    };

    let rare = search("style-guide");
    assert_eq!(
        (rare.path, rare.exact),
        (SearchPath::Exact, true),
        "{rare:?}"
    );
    assert_eq!(ids(&rare), truth("style-guide"));
    let [
        SearchAdvice::PayloadIndex {
            field,
            estimated_fraction,
        },
    ] = &rare.advice[..]
    else {
        panic!("{:?}", rare.advice);
    };
    assert_eq!(field, "doc");
    assert!(*estimated_fraction < 0.01, "{estimated_fraction}");
    assert!(
        rare.advice[0]
            .to_string()
            .starts_with("a payload index on `doc` would make this filter exact"),
        "{}",
        rare.advice[0]
    );

    let common = search("manual");
    assert_eq!(common.path, SearchPath::Ann, "{common:?}");
    assert!(common.advice.is_empty(), "{:?}", common.advice);
    assert_eq!(common.returned, 10);

    // `index health` advises on the rare filter the application names, not on the common one.
    let health = db
        .store()
        .indexes(&collection)
        .health(
            &HealthOptions::default()
                .recall_queries(0)
                .filter(Filter::eq("doc", "manual"))
                .filter(Filter::eq("doc", "style-guide")),
        )
        .unwrap();
    let advised: Vec<&String> = health
        .advice
        .iter()
        .filter(|advice| advice.contains("payload index on `doc`"))
        .collect();
    assert_eq!(advised.len(), 1, "{:?}", health.advice);

    // With the payload index, the planner's own estimate decides, and nothing is advised.
    db.store()
        .indexes(&collection)
        .payload()
        .create(&"doc".parse().unwrap(), PayloadKind::Keyword)
        .unwrap();
    let indexed = search("style-guide");
    assert_eq!(indexed.path, SearchPath::Exact);
    assert!(indexed.advice.is_empty(), "{:?}", indexed.advice);
    assert!(indexed.estimated_matches.is_some());
    assert_eq!(ids(&indexed), truth("style-guide"));
}
