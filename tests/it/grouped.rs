//! Grouped hits: the best `group_size` hits of each of the `k` nearest groups, in one
//! statement, against a brute-force grouping of every row's exact distance.

use std::collections::BTreeMap;

use embedstore::Shape;
use embedstore::{
    Collection, FieldPath, Filter, IndexSpec, Metric, NewCollection, NewEmbedding, SearchPath,
    SearchRequest, VectorValue,
};
use embedstore_test_support::TestDatabase;

use crate::support::{Rng, failures};

const DIMENSION: usize = 8;
const ROWS: usize = 600;

/// Rows with `{"src": {"doc": i % 37}, "lang": "l<i % 3>"}`; every 50th row lacks the field,
/// every 45th has it `null`.
fn corpus() -> (TestDatabase, Collection, Vec<NewEmbedding>) {
    let db = TestDatabase::new();
    let collection = db
        .store()
        .write(|uow| {
            uow.collections().create(NewCollection::new(
                "grouped",
                DIMENSION as u32,
                Metric::L2,
                "m",
            ))
        })
        .unwrap();
    let mut rng = Rng::new(31);
    let items: Vec<NewEmbedding> = (0..ROWS)
        .map(|index| {
            let metadata = if index % 50 == 0 {
                serde_json::json!({ "lang": format!("l{}", index % 3) })
            } else if index % 45 == 0 {
                serde_json::json!({ "src": { "doc": null }, "lang": format!("l{}", index % 3) })
            } else {
                serde_json::json!({ "src": { "doc": index % 37 }, "lang": format!("l{}", index % 3) })
            };
            NewEmbedding::new(format!("row-{index}"), rng.vector(DIMENSION)).with_metadata(metadata)
        })
        .collect();
    db.store()
        .write(|uow| uow.embeddings().insert(&collection, items.clone()))
        .unwrap();
    (db, collection, items)
}

/// Brute force: every matching row's distance (from an exact search of all rows), grouped by
/// `src.doc` in Rust: (group value, member ids) of the `k` nearest groups.
fn brute_force(
    db: &TestDatabase,
    collection: &Collection,
    query: &VectorValue,
    keep: impl Fn(&serde_json::Value) -> bool,
    k: usize,
    group_size: usize,
) -> Vec<(i64, Vec<i64>)> {
    let all = db
        .store()
        .search(
            collection,
            SearchRequest::vector(query.clone(), ROWS as u32).with_exact(true),
        )
        .unwrap();
    assert_eq!(all.hits.len(), ROWS);
    let mut groups: BTreeMap<i64, Vec<(f64, i64)>> = BTreeMap::new();
    for hit in &all.hits {
        let metadata = hit.metadata.as_ref().unwrap();
        if !keep(metadata) {
            continue;
        }
        if let Some(doc) = metadata["src"]["doc"].as_i64() {
            groups.entry(doc).or_default().push((hit.distance, hit.id));
        }
    }
    let mut ranked: Vec<(f64, i64, Vec<i64>)> = groups
        .into_iter()
        .map(|(doc, mut members)| {
            members.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let best = members[0].0;
            let ids = members
                .into_iter()
                .take(group_size)
                .map(|(_, id)| id)
                .collect();
            (best, doc, ids)
        })
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    ranked
        .into_iter()
        .take(k)
        .map(|(_, doc, ids)| (doc, ids))
        .collect()
}

fn grouped(response: &embedstore::SearchResponse) -> Vec<(i64, Vec<i64>)> {
    let mut out: Vec<(i64, Vec<i64>)> = Vec::new();
    for hit in &response.hits {
        let doc = hit.group.as_ref().unwrap().as_i64().unwrap();
        match out.last_mut() {
            Some((last, ids)) if *last == doc => ids.push(hit.id),
            _ => out.push((doc, vec![hit.id])),
        }
    }
    out
}

#[test]
fn grouped_hits_match_a_brute_force_grouping_with_and_without_filters_and_indexes() {
    let (db, collection, items) = corpus();
    let path = FieldPath::parse("src.doc").unwrap();
    for indexed in [false, true] {
        if indexed {
            db.store()
                .indexes(&collection)
                .create(&IndexSpec::hnsw(), None)
                .unwrap();
        }
        for (query_index, k, group_size) in [(1, 5, 3), (77, 10, 1), (300, 3, 20), (9, 50, 2)] {
            let query = items[query_index].vector.clone();
            let response = db
                .store()
                .search(
                    &collection,
                    SearchRequest::vector(query.clone(), k)
                        .with_shape(Shape::grouped(&path, group_size)),
                )
                .unwrap();
            let expected = brute_force(
                &db,
                &collection,
                &query,
                |_| true,
                k as usize,
                group_size as usize,
            );
            assert_eq!(grouped(&response), expected, "k={k} size={group_size}");
            // 37 groups exist: k of them whenever k ≤ 37.
            assert_eq!(response.groups, Some(k.min(37)));
            assert_eq!(response.path, SearchPath::Exact);
            assert!(response.exact);
            assert_eq!(response.returned as usize, response.hits.len());

            let filter = Filter::eq("lang", "l1");
            let filtered = db
                .store()
                .search(
                    &collection,
                    SearchRequest::vector(query.clone(), k)
                        .with_shape(Shape::grouped(&path, group_size))
                        .with_filter(filter),
                )
                .unwrap();
            let expected = brute_force(
                &db,
                &collection,
                &query,
                |metadata| metadata["lang"] == "l1",
                k as usize,
                group_size as usize,
            );
            assert_eq!(grouped(&filtered), expected, "filtered k={k}");
        }
    }
}

#[test]
fn grouped_batches_units_of_work_and_explain_agree() {
    let (db, collection, items) = corpus();
    let path = FieldPath::parse("src.doc").unwrap();
    let template = SearchRequest::vector(Vec::new(), 4)
        .with_shape(Shape::grouped(&path, 2))
        .include_metadata(false);
    let queries: Vec<Vec<f32>> = [3, 33, 333]
        .iter()
        .map(|i| items[*i].vector.to_vec())
        .collect();
    let batch = db
        .store()
        .search_batch(&collection, &queries, &template)
        .unwrap();
    for (query, response) in queries.iter().zip(&batch) {
        let single = db
            .store()
            .search(&collection, template.clone().with_query(query.clone()))
            .unwrap();
        assert_eq!(&single, response);
        assert!(single.hits.iter().all(|hit| hit.metadata.is_none()));
        let in_uow = db
            .store()
            .read(|uow| uow.search(&collection, template.clone().with_query(query.clone())))
            .unwrap();
        assert_eq!(in_uow, single);
    }
    let plan = db
        .store()
        .read(|uow| {
            uow.explain_search(&collection, template.clone().with_query(queries[0].clone()))
        })
        .unwrap();
    assert!(plan.contains("WindowAgg"), "{plan}");
    // A field nobody has: no groups, no hits.
    let none = db
        .store()
        .search(
            &collection,
            SearchRequest::vector(queries[0].clone(), 4)
                .with_shape(Shape::grouped(&FieldPath::from("missing"), 2)),
        )
        .unwrap();
    assert_eq!((none.returned, none.groups), (0, Some(0)));
}

#[test]
fn hostile_grouping_parameters_are_refused_with_paths() {
    let (db, collection, items) = corpus();
    let query = items[0].vector.clone();
    let path = FieldPath::parse("src.doc").unwrap();
    let mut bad_path = SearchRequest::vector(query.clone(), 5).with_shape(Shape::grouped(&path, 2));
    if let Shape::Grouped(group) = &mut bad_path.shape {
        group.field = "src\\x".to_owned();
    }
    let mut empty_path =
        SearchRequest::vector(query.clone(), 5).with_shape(Shape::grouped(&path, 2));
    if let Shape::Grouped(group) = &mut empty_path.shape {
        group.field = String::new();
    }
    for (request, expected) in [
        (
            SearchRequest::vector(query.clone(), 5).with_shape(Shape::grouped(&path, 0)),
            "group_by: group_size must be in 1..=100, got 0",
        ),
        (
            SearchRequest::vector(query.clone(), 5).with_shape(Shape::grouped(&path, 101)),
            "group_by: group_size must be in 1..=100, got 101",
        ),
        (
            SearchRequest::vector(query.clone(), 1000).with_shape(Shape::grouped(&path, 11)),
            "group_by: k * group_size = 11000 hits, at most 10000 are returned",
        ),
        (bad_path, "group_by: "),
        (empty_path, "group_by: "),
    ] {
        let error = db.store().search(&collection, request).unwrap_err();
        let lines = failures(&error);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with(expected), "{lines:?}");
    }
    // Two shapes at once cannot be built; the flat (JSON, CLI) form's one parser refuses them.
    let json = serde_json::json!({
        "vector": query, "k": 5,
        "group_by": {"field": "src.doc", "group_size": 2},
        "mmr": {"lambda": 0.5, "fetch_k": 10},
    });
    let options: embedstore::SearchOptions = serde_json::from_value(json).unwrap();
    let error = SearchRequest::try_from(options).unwrap_err();
    let lines: Vec<String> = error.lines().collect();
    assert_eq!(lines, ["group_by: cannot be combined with `mmr`"]);
}
