use super::*;
use crate::repo::search::fixtures::{ann, collection, filter_on, request, texts};
use crate::sql::Bind;

/// The settings `push_settings` binds, as (name, value) pairs.
fn settings_of(
    method: IndexMethod,
    quantization: Option<Quantization>,
    ask: &SearchSpec,
) -> Vec<(String, String)> {
    let mut sql = SqlBuilder::new();
    push_settings(&mut sql, method, quantization, ask);
    texts(&sql)
        .chunks(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect()
}

fn pair(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

#[test]
fn hnsw_settings_are_local_to_the_statement_and_raise_ef_search_to_k() {
    let mut sql = SqlBuilder::new();
    push_settings(&mut sql, IndexMethod::Hnsw, None, &request(64));
    assert_eq!(
        sql.sql(),
        "(SELECT concat(set_config($1::text, $2::text, true), \
         set_config($3::text, $4::text, true))) IS NOT NULL"
    );
    assert_eq!(sql.bind_count(), 4);
    assert_eq!(
        settings_of(IndexMethod::Hnsw, None, &request(64)),
        [
            pair("hnsw.ef_search", "64"),
            pair("hnsw.iterative_scan", "off")
        ]
    );
    assert_eq!(
        settings_of(IndexMethod::Hnsw, None, &request(5)),
        [
            pair("hnsw.ef_search", "40"),
            pair("hnsw.iterative_scan", "off")
        ]
    );
}

#[test]
fn a_filter_turns_the_iterative_scan_on_and_a_quantized_index_widens_ef_search() {
    let filtered = request(10)
        .with_filter(filter_on("tag"))
        .with_max_scan_tuples(500);
    assert_eq!(
        settings_of(IndexMethod::Hnsw, None, &filtered),
        [
            pair("hnsw.ef_search", "40"),
            pair("hnsw.iterative_scan", "relaxed_order"),
            pair("hnsw.max_scan_tuples", "500"),
        ]
    );
    let quantized = request(10).with_rerank_factor(8);
    assert_eq!(
        settings_of(IndexMethod::Hnsw, Some(Quantization::Binary), &quantized),
        [
            pair("hnsw.ef_search", "80"),
            pair("hnsw.iterative_scan", "off")
        ]
    );
}

#[test]
fn ivfflat_settings_name_probes_and_max_probes() {
    let ask = request(10).with_probes(7).with_max_scan_tuples(3);
    assert_eq!(
        settings_of(IndexMethod::IvfFlat, None, &ask),
        [
            pair("ivfflat.probes", "7"),
            pair("ivfflat.iterative_scan", "off"),
            pair("ivfflat.max_probes", "3"),
        ]
    );
    let strict = request(10).with_iterative(IterativeScan::StrictOrder);
    assert_eq!(
        settings_of(IndexMethod::IvfFlat, None, &strict),
        [pair("ivfflat.iterative_scan", "relaxed_order")]
    );
}

#[test]
fn the_filter_estimate_explains_a_count_of_the_collections_matching_rows() {
    let collection = collection();
    let indexes = ann(IndexMethod::Hnsw, None);
    let ask = request(10);
    let target = Target::new(&collection, &indexes, &ask);
    let sql = estimate_statement(&target, &filter_on("tag"));
    assert!(
        sql.sql().starts_with(
            "EXPLAIN (FORMAT JSON) SELECT 1 FROM embeddings WHERE collection_id = $1 AND ("
        ),
        "{}",
        sql.sql()
    );
    assert!(sql.sql().ends_with(')'), "{}", sql.sql());
    assert_eq!(sql.binds().first(), Some(&Bind::Int4(collection.id.0)));
    assert!(sql.bind_count() >= 2, "the filter's value is bound");
}

#[test]
fn only_a_filtered_exact_statement_runs_unprepared() {
    let ann = Mode::Ann(IndexMethod::Hnsw, None);
    let filtered = request(10).with_filter(filter_on("tag"));
    assert!(prepared(&request(10), Mode::Exact));
    assert!(prepared(&filtered, ann));
    assert!(!prepared(&filtered, Mode::Exact));
    assert!(needs_fallback(&filtered));
    assert!(needs_fallback(&request(10).with_after(0.5, 3)));
    assert!(!needs_fallback(&request(10)));
}

#[test]
fn the_inner_limit_of_a_prepared_search_is_one_of_three_constants() {
    assert_eq!(plan_limit(1), PLAN_LIMIT);
    assert_eq!(plan_limit(PLAN_LIMIT), PLAN_LIMIT);
    assert_eq!(plan_limit(PLAN_LIMIT + 1), MAX_K);
    assert_eq!(plan_limit(MAX_K + 1), MAX_RERANK_CANDIDATES);
}

#[test]
fn the_estimate_on_citus_is_the_sum_of_the_tasks_remote_plans() {
    let one_server: Value =
        serde_json::from_str(r#"{"Node Type": "Seq Scan", "Plan Rows": 120}"#).expect("json");
    assert_eq!(plan_rows(&one_server), Some(120.0));
    let citus: Value = serde_json::from_str(
        r#"{"Node Type": "Custom Scan", "Plan Rows": 0, "Distributed Query": {"Job": {"Tasks": [
            {"Remote Plan": [[{"Plan": {"Node Type": "Bitmap Heap Scan", "Plan Rows": 480}}]]},
            {"Remote Plan": [[{"Plan": {"Node Type": "Seq Scan", "Plan Rows": 20}}]]}]}}}"#,
    )
    .expect("json");
    assert_eq!(plan_rows(&citus), Some(500.0));
    let unreadable: Value = serde_json::from_str(
        r#"{"Node Type": "Custom Scan", "Distributed Query": {"Job": {"Tasks": [{"Remote Plan": "x"}]}}}"#,
    )
    .expect("json");
    assert_eq!(plan_rows(&unreadable), None);
}
