//! Search through ANN indexes: the planner's paths, filters that still give k rows, settings
//! that stay inside the statement, plans that use the indexes.

use diesel::prelude::*;
use embedstore::Shape;
use embedstore::{
    Collection, Error, Filter, IndexSpec, IterativeScan, Metric, NewCollection, NewEmbedding,
    PayloadKind, RECALL_NOISE, RecallQueryKind, RecallRequest, SearchPath, SearchRequest, Store,
    VectorValue,
};
use embedstore_test_support::TestDatabase;

use crate::support::{Rng, ids, single_connection_store};

const DIMENSION: usize = 16;

/// A collection of `count` rows with metadata `{"n": i, "shard": i % 100, "lang": …}`:
/// `shard` is 1 % selective, `lang` (10 values) 10 %.
fn corpus(count: usize, seed: u64) -> (TestDatabase, Collection, Vec<NewEmbedding>) {
    let db = TestDatabase::new();
    let collection = db
        .store()
        .write(|uow| {
            uow.collections().create(NewCollection::new(
                "ann",
                DIMENSION as u32,
                Metric::Cosine,
                "test-model",
            ))
        })
        .unwrap();
    let mut rng = Rng::new(seed);
    let items: Vec<NewEmbedding> = (0..count)
        .map(|index| {
            NewEmbedding::new(format!("item-{index}"), rng.vector(DIMENSION)).with_metadata(
                serde_json::json!({
                    "n": index,
                    "shard": index % 100,
                    "lang": format!("l{}", index % 10),
                }),
            )
        })
        .collect();
    db.store()
        .write(|uow| uow.embeddings().insert(&collection, items.clone()))
        .unwrap();
    analyze(&db, &collection);
    (db, collection, items)
}

fn analyze(db: &TestDatabase, collection: &Collection) {
    diesel::sql_query(format!("ANALYZE {}", collection.partition_name()))
        .execute(&mut db.raw_connection())
        .unwrap();
}

/// The exact answer, computed in Rust over the rows `keep` accepts.
fn brute_force(
    items: &[NewEmbedding],
    query: &VectorValue,
    k: usize,
    keep: impl Fn(&NewEmbedding) -> bool,
) -> Vec<String> {
    let query = query.to_vec();
    let mut scored: Vec<(f64, &str)> = items
        .iter()
        .filter(|item| keep(item))
        .map(|item| {
            (
                Metric::Cosine.distance(&query, &item.vector.to_vec()),
                item.external_id.as_str(),
            )
        })
        .collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    scored
        .into_iter()
        .take(k)
        .map(|(_, id)| id.to_owned())
        .collect()
}

fn shard(item: &NewEmbedding) -> i64 {
    item.metadata["shard"].as_i64().unwrap()
}

#[test]
fn unfiltered_search_walks_the_hnsw_index_and_reports_it() {
    let (db, collection, items) = corpus(2000, 1);
    let store = db.store();
    let exact = store
        .search(
            &collection,
            SearchRequest::vector(items[7].vector.clone(), 10),
        )
        .unwrap();
    assert_eq!((exact.path, exact.exact), (SearchPath::Exact, true));
    assert_eq!(
        ids(&exact),
        brute_force(&items, &items[7].vector, 10, |_| true)
    );

    store
        .indexes(&collection)
        .create(&IndexSpec::hnsw(), None)
        .unwrap();
    let response = store
        .search(
            &collection,
            SearchRequest::vector(items[7].vector.clone(), 10),
        )
        .unwrap();
    assert_eq!((response.path, response.exact), (SearchPath::Ann, false));
    assert_eq!((response.requested, response.returned), (10, 10));
    assert_eq!(response.hits[0].external_id, "item-7");
    assert!(response.hits.iter().all(|hit| hit.metadata.is_some()));
}

#[test]
fn options_that_do_not_act_on_the_path_taken_are_reported_as_ignored() {
    // Large enough that PostgreSQL's plan walks the index (at 500 rows it scans, and the search
    // says so).
    let (db, collection, items) = corpus(3000, 3);
    let store = db.store();
    let tuned = SearchRequest::vector(items[3].vector.clone(), 10)
        .with_ef_search(64)
        .with_probes(5)
        .with_rerank_factor(3)
        .with_exact_threshold(100);
    let ignored = |response: &embedstore::SearchResponse| -> Vec<(&str, &str)> {
        response
            .ignored
            .iter()
            .map(|option| (option.option, option.reason))
            .collect()
    };
    // No index yet: every ANN option is ignored, and why.
    let exact = store.search(&collection, &tuned).unwrap();
    assert_eq!(exact.path, SearchPath::Exact);
    let reported = ignored(&exact);
    let options: Vec<&str> = reported.iter().map(|(option, _)| *option).collect();
    assert_eq!(
        options,
        ["ef_search", "probes", "rerank_factor", "exact_threshold"]
    );
    assert!(
        reported
            .iter()
            .all(|(_, reason)| reason.contains("no valid ANN index"))
    );
    // An HNSW index at full precision: ef_search acts; probes and the re-rank do not, nor the
    // threshold without a payload-indexed filter.
    store
        .indexes(&collection)
        .create(&IndexSpec::hnsw(), None)
        .unwrap();
    assert!(exact.settings.is_empty(), "no index, no setting: {exact:?}");
    let ann = store.search(&collection, &tuned).unwrap();
    assert_eq!(ann.path, SearchPath::Ann);
    // The settings the ANN statement set, with the values that took effect.
    let settings: Vec<(&str, &str)> = ann
        .settings
        .iter()
        .map(|setting| (setting.name, setting.value.as_str()))
        .collect();
    assert!(settings.contains(&("hnsw.ef_search", "64")), "{settings:?}");
    assert!(
        settings.contains(&("hnsw.iterative_scan", "off")),
        "{settings:?}"
    );
    // ef_search below k is raised to k, and the response says so.
    let raised = store
        .search(
            &collection,
            SearchRequest::vector(items[3].vector.clone(), 100).with_ef_search(40),
        )
        .unwrap();
    assert!(
        raised
            .settings
            .iter()
            .any(|setting| setting.name == "hnsw.ef_search" && setting.value == "100"),
        "{:?}",
        raised.settings
    );
    let options: Vec<&str> = ignored(&ann).iter().map(|(option, _)| *option).collect();
    assert_eq!(options, ["probes", "rerank_factor", "exact_threshold"]);
    // Nothing set that could be ignored: nothing reported, and nothing in the JSON form.
    let plain = store
        .search(
            &collection,
            SearchRequest::vector(items[3].vector.clone(), 10),
        )
        .unwrap();
    assert!(plain.ignored.is_empty());
    assert!(
        serde_json::to_value(&plain)
            .unwrap()
            .get("ignored")
            .is_none()
    );
    let json = serde_json::to_value(&ann).unwrap();
    assert_eq!(json["ignored"][0]["option"], "probes");
}

#[test]
fn the_statement_sent_uses_the_ann_index_also_after_many_runs_on_one_connection() {
    let (db, collection, items) = corpus(3000, 2);
    db.store()
        .indexes(&collection)
        .create(&IndexSpec::hnsw(), None)
        .unwrap();
    let store = single_connection_store(&db);
    let ann = format!("{}_ann", collection.partition_name());
    let request = SearchRequest::vector(items[1].vector.clone(), 10);
    for _ in 0..12 {
        store.search(&collection, request.clone()).unwrap();
    }
    let plan = store
        .read(|uow| uow.explain_search(&collection, request.clone()))
        .unwrap();
    assert!(plan.contains(&format!("Index Scan using {ann}")), "{plan}");
    assert!(
        plan.contains("One-Time Filter"),
        "settings gate the scan: {plan}"
    );

    // A filtered ANN-path request (no payload index: the planner walks the index).
    let filtered = request.with_filter(Filter::eq("lang", "l3"));
    for _ in 0..12 {
        let response = store.search(&collection, filtered.clone()).unwrap();
        assert_eq!(response.path, SearchPath::Ann);
    }
    let plan = store
        .read(|uow| uow.explain_search(&collection, filtered.clone()))
        .unwrap();
    assert!(plan.contains(&format!("Index Scan using {ann}")), "{plan}");

    // Forced exact: the index is not used.
    let plan = store
        .read(|uow| uow.explain_search(&collection, filtered.with_exact(true)))
        .unwrap();
    assert!(!plan.contains(&ann), "{plan}");
}

#[test]
fn settings_never_leak_to_the_next_user_of_a_pooled_connection() {
    let (db, collection, items) = corpus(500, 3);
    db.store()
        .indexes(&collection)
        .create(&IndexSpec::hnsw(), None)
        .unwrap();
    let store = single_connection_store(&db);
    let settings = |store: &Store| -> (String, String) {
        store
            .read(|uow| {
                diesel::select((
                    diesel::dsl::sql::<diesel::sql_types::Text>(
                        "coalesce(current_setting('hnsw.ef_search', true), '')",
                    ),
                    diesel::dsl::sql::<diesel::sql_types::Text>(
                        "coalesce(current_setting('hnsw.iterative_scan', true), '')",
                    ),
                ))
                .get_result(uow.connection())
                .map_err(Error::from)
            })
            .unwrap()
    };
    // The first search loads pgvector into the backend, which defines its settings.
    store
        .search(
            &collection,
            SearchRequest::vector(items[0].vector.clone(), 3),
        )
        .unwrap();
    let before = settings(&store);
    assert_eq!(before, ("40".to_owned(), "off".to_owned()));
    let tuned = SearchRequest::vector(items[0].vector.clone(), 10)
        .with_ef_search(321)
        .with_iterative(IterativeScan::RelaxedOrder)
        .with_filter(Filter::gte("n", 0));
    store.search(&collection, tuned.clone()).unwrap();
    assert_eq!(settings(&store), before);
    store
        .read(|uow| uow.search(&collection, tuned.clone()))
        .unwrap();
    assert_eq!(settings(&store), before);
    // Nor to the caller's own statements later in the same unit of work.
    let (inside, planner): (String, String) = store
        .read(|uow| {
            uow.search(&collection, tuned.clone())?;
            diesel::select((
                diesel::dsl::sql::<diesel::sql_types::Text>(
                    "current_setting('hnsw.iterative_scan')",
                ),
                diesel::dsl::sql::<diesel::sql_types::Text>("current_setting('enable_seqscan')"),
            ))
            .get_result(uow.connection())
            .map_err(Error::from)
        })
        .unwrap();
    assert_eq!((inside.as_str(), planner.as_str()), ("off", "on"));
}

#[test]
fn a_selective_filter_still_returns_k_rows_where_plain_pgvector_returns_fewer() {
    let (db, collection, items) = corpus(6000, 4);
    db.store()
        .indexes(&collection)
        .create(&IndexSpec::hnsw().m(8).ef_construction(32), None)
        .unwrap();
    let query = items[11].vector.clone();
    // What a pgvector user gets with the defaults: the index filters after its scan.
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Text)]
        external_id: String,
    }
    let mut conn = db.raw_connection();
    // On 6,000 rows the planner would rather scan everything; at scale it walks the index.
    diesel::connection::SimpleConnection::batch_execute(
        &mut conn,
        "SET enable_seqscan = off; SET enable_sort = off",
    )
    .unwrap();
    let naive: Vec<Id> = diesel::sql_query(
        "SELECT external_id FROM embeddings WHERE collection_id = $1 \
         AND (metadata->>'shard')::int = 11 ORDER BY embedding::vector(16) <=> $2 LIMIT 10",
    )
    .bind::<diesel::sql_types::Integer, _>(collection.id.0)
    .bind::<pgvector::sql_types::Vector, _>(pgvector::Vector::from(query.to_vec()))
    .load(&mut conn)
    .unwrap();
    assert!(
        naive.len() < 10,
        "pgvector's default returned {}",
        naive.len()
    );
    assert!(naive.iter().all(|row| {
        items
            .iter()
            .any(|item| item.external_id == row.external_id && shard(item) == 11)
    }));

    let response = db
        .store()
        .search(
            &collection,
            SearchRequest::vector(query.clone(), 10).with_filter(Filter::eq("shard", 11)),
        )
        .unwrap();
    assert_eq!((response.requested, response.returned), (10, 10));
    assert!(
        response
            .hits
            .iter()
            .all(|hit| hit.metadata.as_ref().unwrap()["shard"] == 11)
    );
    let expected = brute_force(&items, &query, 10, |item| shard(item) == 11);
    let found = ids(&response);
    let overlap = found.iter().filter(|id| expected.contains(id)).count();
    assert!(overlap >= 8, "recall {overlap}/10 via {:?}", response.path);
}

#[test]
fn a_payload_indexed_selective_filter_takes_the_exact_path_through_the_payload_index() {
    let (db, collection, items) = corpus(6000, 5);
    let store = db.store();
    store
        .indexes(&collection)
        .create(&IndexSpec::hnsw(), None)
        .unwrap();
    let payload = store
        .indexes(&collection)
        .payload()
        .create(
            &embedstore::FieldPath::parse("shard").unwrap(),
            PayloadKind::Integer,
        )
        .unwrap();
    assert!(payload.valid, "{payload:?}");
    let query = items[42].vector.clone();
    let request = SearchRequest::vector(query.clone(), 10).with_filter(Filter::eq("shard", 42));
    let response = store.search(&collection, request.clone()).unwrap();
    assert_eq!((response.path, response.exact), (SearchPath::Exact, true));
    let estimated = response.estimated_matches.unwrap();
    assert!(
        (20..200).contains(&estimated),
        "planner estimate {estimated} for 60 rows"
    );
    assert_eq!(
        ids(&response),
        brute_force(&items, &query, 10, |item| shard(item) == 42)
    );
    // The same request many times on one connection still goes through the payload index.
    let single = single_connection_store(&db);
    for _ in 0..12 {
        single.search(&collection, request.clone()).unwrap();
    }
    let plan = single
        .read(|uow| uow.explain_search(&collection, request))
        .unwrap();
    assert!(plan.contains(&payload.name), "{plan}");

    // A broad filter on the same field (3,000 rows, above the threshold) walks the ANN index.
    let broad = SearchRequest::vector(query, 10)
        .with_filter(Filter::lt("shard", 50))
        .with_exact_threshold(1000);
    assert!(
        store
            .search(&collection, broad.clone())
            .unwrap()
            .estimated_matches
            .unwrap()
            > 1000
    );
    let response = store.search(&collection, broad).unwrap();
    assert_eq!(response.path, SearchPath::Ann);
    assert_eq!(response.returned, 10);
}

#[test]
fn the_default_exact_threshold_scales_with_the_collection_and_is_reported() {
    let (db, collection, items) = corpus(60_000, 8);
    let store = db.store();
    store
        .indexes(&collection)
        .create(&IndexSpec::hnsw(), None)
        .unwrap();
    store
        .indexes(&collection)
        .payload()
        .create(&"shard".parse().unwrap(), PayloadKind::Integer)
        .unwrap();
    let query = items[9].vector.clone();
    // 1,200 matching rows: over the floor (1,000) but under the threshold for 60,000 rows.
    let two_shards = Filter::is_in("shard", [3, 4]);
    let response = store
        .search(
            &collection,
            SearchRequest::vector(query.clone(), 10).with_filter(two_shards.clone()),
        )
        .unwrap();
    let threshold = response.exact_threshold.expect("the planner compared");
    // The statistics' row count is an estimate (ANALYZE samples 30,000 rows): the threshold
    // is the default of about 60,000 rows.
    let around =
        embedstore::default_exact_threshold(57_000)..=embedstore::default_exact_threshold(63_000);
    assert!(around.contains(&threshold), "{threshold} not in {around:?}");
    assert_ne!(threshold, embedstore::DEFAULT_EXACT_THRESHOLD);
    let estimated = response.estimated_matches.unwrap();
    assert!(
        (1000..u64::from(threshold)).contains(&estimated),
        "estimate {estimated} for 1,200 rows"
    );
    assert_eq!((response.path, response.exact), (SearchPath::Exact, true));
    assert_eq!(
        ids(&response),
        brute_force(&items, &query, 10, |item| [3, 4].contains(&shard(item)))
    );
    // The request's own threshold is the one compared, and reported.
    let own = store
        .search(
            &collection,
            SearchRequest::vector(query.clone(), 10)
                .with_filter(two_shards)
                .with_exact_threshold(1100),
        )
        .unwrap();
    assert_eq!(own.exact_threshold, Some(1100));
    assert_eq!(own.path, SearchPath::Ann);
    // An unfiltered search compares nothing.
    let plain = store
        .search(&collection, SearchRequest::vector(query, 10))
        .unwrap();
    assert_eq!(
        (plain.exact_threshold, plain.estimated_matches),
        (None, None)
    );
}

#[test]
fn when_the_ann_path_comes_back_short_the_exact_scan_answers() {
    let (db, collection, items) = corpus(4000, 6);
    db.store()
        .indexes(&collection)
        .create(&IndexSpec::hnsw(), None)
        .unwrap();
    // Five rows match; an iterative scan capped at a few tuples cannot find them all. (A
    // filter this rare would be scanned exactly: the payload index's estimate and a threshold
    // of one row keep it on the graph.)
    db.store()
        .indexes(&collection)
        .payload()
        .create(&"n".parse().unwrap(), PayloadKind::Integer)
        .unwrap();
    let rare = Filter::is_in("n", [5, 1005, 2005, 3005, 3999]);
    let request = SearchRequest::vector(items[0].vector.clone(), 10)
        .with_filter(rare)
        .with_exact_threshold(1)
        .with_max_scan_tuples(1);
    let response = db.store().search(&collection, request).unwrap();
    assert_eq!(response.path, SearchPath::AnnThenExact);
    assert!(response.exact);
    assert_eq!(response.returned, 5);
}

#[test]
fn exact_requests_ids_only_and_thresholds() {
    let (db, collection, items) = corpus(1500, 7);
    let store = db.store();
    store
        .indexes(&collection)
        .create(&IndexSpec::hnsw(), None)
        .unwrap();
    let query = items[3].vector.clone();
    let response = store
        .search(
            &collection,
            SearchRequest::vector(query.clone(), 10)
                .with_exact(true)
                .include_metadata(false),
        )
        .unwrap();
    assert_eq!(response.path, SearchPath::Exact);
    assert_eq!(ids(&response), brute_force(&items, &query, 10, |_| true));
    assert!(response.hits.iter().all(|hit| hit.metadata.is_none()));

    let cut = response.hits[4].distance;
    let near = store
        .search(
            &collection,
            SearchRequest::vector(query, 10)
                .with_exact(true)
                .with_max_distance(cut),
        )
        .unwrap();
    assert_eq!(near.returned, 5);
    assert!(near.hits.iter().all(|hit| hit.distance <= cut));
}

#[test]
fn search_after_pages_through_neighbours_without_offset() {
    let (db, collection, items) = corpus(1200, 8);
    let store = db.store();
    store
        .indexes(&collection)
        .create(&IndexSpec::hnsw(), None)
        .unwrap();
    let query = items[9].vector.clone();
    let expected = brute_force(&items, &query, 60, |_| true);
    let mut seen = Vec::new();
    let mut request = SearchRequest::vector(query, 20).with_exact(true);
    for _ in 0..3 {
        let page = store.search(&collection, request.clone()).unwrap();
        assert_eq!(page.returned, 20);
        let last = page.hits.last().unwrap();
        request = request.with_shape(Shape::after(last.distance, last.id));
        seen.extend(ids(&page));
    }
    assert_eq!(seen, expected);

    // Through the index too: pages never repeat a row.
    let mut request = SearchRequest::vector(items[9].vector.clone(), 20);
    let mut through_index = Vec::new();
    for _ in 0..3 {
        let page = store.search(&collection, request.clone()).unwrap();
        assert_eq!(page.returned, 20);
        let last = page.hits.last().unwrap();
        request = request.with_shape(Shape::after(last.distance, last.id));
        through_index.extend(ids(&page));
    }
    let unique: std::collections::HashSet<&String> = through_index.iter().collect();
    assert_eq!(unique.len(), 60);
}

#[test]
fn batch_search_answers_each_query_as_a_single_search_would() {
    let (db, collection, items) = corpus(2000, 9);
    let store = db.store();
    store
        .indexes(&collection)
        .create(&IndexSpec::hnsw(), None)
        .unwrap();
    let queries: Vec<Vec<f32>> = (0..25)
        .map(|index| items[index * 7].vector.to_vec())
        .collect();
    for template in [
        SearchRequest::vector(Vec::new(), 5),
        SearchRequest::vector(Vec::new(), 5).with_filter(Filter::eq("lang", "l4")),
        SearchRequest::vector(Vec::new(), 5).with_exact(true),
    ] {
        let batch = store
            .search_batch(&collection, &queries, &template)
            .unwrap();
        assert_eq!(batch.len(), queries.len());
        for (query, answer) in queries.iter().zip(&batch) {
            let single = store
                .search(&collection, template.clone().with_query(query.clone()))
                .unwrap();
            assert_eq!(ids(answer), ids(&single));
            assert_eq!(answer.path, single.path);
        }
    }
    let mut bad = queries.clone();
    bad[3][2] = f32::NAN;
    let error = store
        .search_batch(&collection, &bad, SearchRequest::vector(Vec::new(), 5))
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("queries[3]") && message.contains("NaN"),
        "{message}"
    );
}

#[test]
fn searching_a_dropped_collection_says_not_found() {
    let (db, collection, items) = corpus(50, 10);
    db.store()
        .write(|uow| uow.collections().drop("ann"))
        .unwrap();
    let request = SearchRequest::vector(items[0].vector.clone(), 5);
    let error = db.store().search(&collection, request.clone()).unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    let error = db
        .store()
        .read(|uow| uow.search(&collection, request))
        .unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
}

#[test]
fn recall_is_measured_against_the_exact_answer() {
    let (db, collection, _) = corpus(3000, 11);
    let store = db.store();
    store
        .indexes(&collection)
        .create(&IndexSpec::ivfflat().lists(30), None)
        .unwrap();
    let low = store
        .measure_recall(
            &collection,
            &RecallRequest::sample(30, 10)
                .with_request(SearchRequest::vector(Vec::new(), 10).with_probes(1)),
        )
        .unwrap();
    let full = store
        .measure_recall(
            &collection,
            &RecallRequest::sample(30, 10)
                .with_request(SearchRequest::vector(Vec::new(), 10).with_probes(30)),
        )
        .unwrap();
    assert_eq!((low.queries, full.queries), (30, 30));
    assert_eq!(full.approximate_answers, 30);
    assert!(full.recall > 0.999, "all lists probed: {full:?}");
    assert!(low.recall < full.recall, "{low:?} vs {full:?}");
    assert!(low.p50_ms > 0.0 && low.exact_p50_ms > 0.0);
}

/// Sampled recall queries are held out: a stored vector moved by noise, its own row left out of
/// both answers. The stored vector itself would find itself: with one IVFFlat list probed, its
/// own list (the nearest centroid's, where the build filed it) always holds it at distance 0,
/// so recall@1 was 1.0 whatever the index's quality; held out, the nearest other row is often in
/// another list.
#[test]
fn sampled_recall_queries_are_held_out_not_the_stored_vector_itself() {
    let (db, collection, items) = corpus(3000, 12);
    let store = db.store();
    store
        .indexes(&collection)
        .create(&IndexSpec::ivfflat().lists(30), None)
        .unwrap();
    let one_list = SearchRequest::vector(Vec::new(), 1).with_probes(1);
    let held_out = store
        .measure_recall(
            &collection,
            &RecallRequest::sample(60, 1).with_request(one_list.clone()),
        )
        .unwrap();
    assert_eq!(
        held_out.query_kind,
        RecallQueryKind::HeldOut {
            noise: Some(RECALL_NOISE)
        }
    );
    assert_eq!((held_out.queries, held_out.k), (60, 1));
    assert_eq!(held_out.approximate_answers, 60);
    assert!(held_out.recall < 0.95, "held-out recall: {held_out:?}");
    assert_eq!(held_out.rerank_factor, None, "no quantized index answered");
    // The stored vectors themselves, given: each finds itself in its own list.
    let stored: Vec<Vec<f32>> = items[..60]
        .iter()
        .map(|item| item.vector.to_vec())
        .collect();
    let given = store
        .measure_recall(
            &collection,
            &RecallRequest::vectors(stored, 1).with_request(one_list),
        )
        .unwrap();
    assert_eq!(given.query_kind, RecallQueryKind::Given);
    assert!(given.recall > 0.999, "{given:?}");
    assert!(held_out.recall < given.recall);
}
