//! Full-text and hybrid search: the text index's lifecycle, text-only ranking against the
//! server's own `ts_rank_cd` query, reciprocal rank fusion against a reference computed here
//! from two separate searches, filters, the k-rows guarantee and hostile query text.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Integer, Text};
use embedstore::{
    Collection, Error, Filter, IndexSpec, Metric, NewCollection, NewEmbedding, SearchPath,
    SearchRequest,
};
use embedstore_test_support::TestDatabase;

use crate::support::{Rng, failures};

const DIMENSION: usize = 8;
const ROWS: usize = 400;
const WORDS: [&str; 12] = [
    "apple", "banana", "cherry", "running", "runner", "database", "vector", "search", "quick",
    "brown", "fox", "jumps",
];

/// Rows with five words of content each (every 40th row has none) and `{"lang": "l<i % 4>"}`.
fn corpus() -> (TestDatabase, Collection, Vec<NewEmbedding>) {
    let db = TestDatabase::new();
    let collection = db
        .store()
        .write(|uow| {
            uow.collections().create(NewCollection::new(
                "text",
                DIMENSION as u32,
                Metric::Cosine,
                "m",
            ))
        })
        .unwrap();
    let mut rng = Rng::new(77);
    let items: Vec<NewEmbedding> = (0..ROWS)
        .map(|index| {
            let item = NewEmbedding::new(format!("doc-{index}"), rng.vector(DIMENSION))
                .with_metadata(serde_json::json!({ "lang": format!("l{}", index % 4) }));
            if index % 40 == 0 {
                return item;
            }
            let words: Vec<&str> = (0..5)
                .map(|_| WORDS[(rng.next_u64() % WORDS.len() as u64) as usize])
                .collect();
            item.with_content(words.join(" "))
        })
        .collect();
    db.store()
        .write(|uow| uow.embeddings().insert(&collection, items.clone()))
        .unwrap();
    (db, collection, items)
}

#[derive(QueryableByName)]
struct Ranked {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Double)]
    rank: f64,
}

/// The server's own ranking, written out here: the best `k` rows by `ts_rank_cd`.
fn reference_text(
    db: &TestDatabase,
    collection: &Collection,
    config: &str,
    query: &str,
    k: i64,
) -> Vec<(i64, f64)> {
    diesel::sql_query(
        "SELECT id, ts_rank_cd(to_tsvector($1::regconfig, coalesce(content, '')), \
                websearch_to_tsquery($1::regconfig, $2))::float8 AS rank \
         FROM embeddings WHERE collection_id = $3 \
           AND to_tsvector($1::regconfig, coalesce(content, '')) @@ websearch_to_tsquery($1::regconfig, $2) \
         ORDER BY rank DESC, id LIMIT $4",
    )
    .bind::<Text, _>(config)
    .bind::<Text, _>(query)
    .bind::<Integer, _>(collection.id.0)
    .bind::<BigInt, _>(k)
    .load::<Ranked>(&mut db.raw_connection())
    .unwrap()
    .into_iter()
    .map(|row| (row.id, row.rank))
    .collect()
}

#[test]
fn the_text_index_is_created_rebuilt_reported_and_dropped() {
    let (db, collection, _) = corpus();
    let none = db.store().indexes(&collection).text().status().unwrap();
    assert!(!none.exists && none.config.is_none());
    let created = db
        .store()
        .indexes(&collection)
        .text()
        .create("english")
        .unwrap();
    assert!(created.exists && created.valid, "{created:?}");
    assert_eq!(created.config.as_deref(), Some("english"));
    assert!(created.size_bytes > 0);
    assert_eq!(created.rows, ROWS as u64);
    let again = db
        .store()
        .indexes(&collection)
        .text()
        .create("english")
        .unwrap_err();
    assert!(matches!(again, Error::Conflict { .. }), "{again:?}");
    let unknown = db
        .store()
        .indexes(&collection)
        .text()
        .create("klingon'; DROP TABLE embeddings; --")
        .unwrap_err();
    let lines = failures(&unknown);
    assert!(
        lines[0].starts_with("config: unknown text search configuration")
            && lines[0].contains("english")
            && lines[0].contains("simple"),
        "{lines:?}"
    );
    let rebuilt = db
        .store()
        .indexes(&collection)
        .text()
        .rebuild(Some("simple"))
        .unwrap();
    assert_eq!(rebuilt.config.as_deref(), Some("simple"));
    // The search uses the index's configuration: `simple` does not stem "run".
    let simple = db
        .store()
        .search(&collection, SearchRequest::text("run", 10))
        .unwrap();
    assert_eq!(simple.returned, 0);
    db.store()
        .indexes(&collection)
        .text()
        .rebuild(Some("english"))
        .unwrap();
    let english = db
        .store()
        .search(&collection, SearchRequest::text("run", 10))
        .unwrap();
    assert!(
        english.returned > 0,
        "english stems running/runner? {english:?}"
    );
    diesel::sql_query(format!("ANALYZE {}", collection.partition_name()))
        .execute(&mut db.raw_connection())
        .unwrap();
    let plan = db
        .store()
        .read(|uow| {
            diesel::sql_query("SET LOCAL enable_seqscan = off").execute(uow.connection())?;
            uow.explain_search(&collection, SearchRequest::text("apple", 10))
        })
        .unwrap();
    assert!(
        plan.contains(&format!("{}_text", collection.partition_name())),
        "{plan}"
    );
    assert!(db.store().indexes(&collection).text().drop().unwrap());
    assert!(!db.store().indexes(&collection).text().drop().unwrap());
    assert!(
        !db.store()
            .indexes(&collection)
            .text()
            .status()
            .unwrap()
            .exists
    );
}

#[test]
fn text_only_search_ranks_like_the_servers_ts_rank_cd() {
    let (db, collection, _) = corpus();
    for indexed in [false, true] {
        if indexed {
            db.store()
                .indexes(&collection)
                .text()
                .create("english")
                .unwrap();
        }
        let config = if indexed { "english" } else { "simple" };
        for query in [
            "apple",
            "quick fox",
            "\"brown fox\"",
            "apple or cherry -banana",
        ] {
            let response = db
                .store()
                .search(
                    &collection,
                    SearchRequest::text(query, 15).include_content(true),
                )
                .unwrap();
            assert_eq!(response.path, SearchPath::Text);
            let expected = reference_text(&db, &collection, config, query, 15);
            let found: Vec<(i64, f64)> = response
                .hits
                .iter()
                .map(|hit| (hit.id, hit.text_score.unwrap()))
                .collect();
            assert_eq!(found.len(), expected.len(), "{query}");
            for ((id, score), (want_id, want_score)) in found.iter().zip(&expected) {
                assert_eq!(id, want_id, "{query}");
                assert!((score - want_score).abs() < 1e-6, "{query}");
            }
            for (rank, hit) in response.hits.iter().enumerate() {
                assert_eq!(hit.text_rank, Some(rank as u32 + 1));
                assert_eq!(hit.vector_rank, None);
                assert!(hit.distance.is_nan());
                assert_eq!(Some(hit.score), hit.text_score);
            }
        }
    }
}

/// Reciprocal rank fusion of two separate searches, computed here.
fn reference_fusion(
    vector: &[i64],
    text: &[i64],
    rrf_k: f64,
    weights: (f64, f64),
    k: usize,
) -> Vec<(i64, Option<u32>, Option<u32>, f64)> {
    let mut ids: Vec<i64> = vector.iter().chain(text).copied().collect();
    ids.sort_unstable();
    ids.dedup();
    let rank = |list: &[i64], id: i64| {
        list.iter()
            .position(|other| *other == id)
            .map(|index| index as u32 + 1)
    };
    let mut fused: Vec<(i64, Option<u32>, Option<u32>, f64)> = ids
        .into_iter()
        .map(|id| {
            let (vr, tr) = (rank(vector, id), rank(text, id));
            let score = vr.map_or(0.0, |r| weights.0 / (rrf_k + f64::from(r)))
                + tr.map_or(0.0, |r| weights.1 / (rrf_k + f64::from(r)));
            (id, vr, tr, score)
        })
        .collect();
    // Ties: the better single-side rank, then the other side's (absent last), then the id.
    let best = |row: &(i64, Option<u32>, Option<u32>, f64)| row.1.into_iter().chain(row.2).min();
    let other = |row: &(i64, Option<u32>, Option<u32>, f64)| match (row.1, row.2) {
        (Some(v), Some(t)) => v.max(t),
        _ => u32::MAX,
    };
    fused.sort_by(|a, b| {
        b.3.total_cmp(&a.3)
            .then(best(a).cmp(&best(b)))
            .then(other(a).cmp(&other(b)))
            .then(a.0.cmp(&b.0))
    });
    fused.truncate(k);
    fused
}

#[test]
fn hybrid_search_fuses_like_a_reference_over_two_separate_searches() {
    let (db, collection, items) = corpus();
    db.store()
        .indexes(&collection)
        .text()
        .create("english")
        .unwrap();
    for indexed in [false, true] {
        if indexed {
            db.store()
                .indexes(&collection)
                .create(&IndexSpec::hnsw(), None)
                .unwrap();
        }
        for (query_index, text, k, fetch_k, rrf_k, weights, filter) in [
            (5, "apple", 10, None, None, (1.0, 1.0), None),
            (17, "quick fox", 8, Some(20), Some(10), (1.0, 1.0), None),
            (99, "database search", 5, Some(30), None, (0.3, 2.0), None),
            (
                123,
                "cherry",
                7,
                None,
                Some(1),
                (1.0, 1.0),
                Some(Filter::eq("lang", "l2")),
            ),
        ] {
            let vector = items[query_index].vector.clone();
            let mut request =
                SearchRequest::hybrid(vector.clone(), text, k).with_weights(weights.0, weights.1);
            if let Some(fetch_k) = fetch_k {
                request = request.with_fetch_k(fetch_k);
            }
            if let Some(rrf_k) = rrf_k {
                request = request.with_rrf_k(rrf_k);
            }
            let mut plain = SearchRequest::vector(vector.clone(), fetch_k.unwrap_or(4 * k));
            let mut text_only = SearchRequest::text(text, fetch_k.unwrap_or(4 * k));
            if let Some(filter) = &filter {
                request = request.with_filter(filter.clone());
                plain = plain.with_filter(filter.clone());
                text_only = text_only.with_filter(filter.clone());
            }
            let response = db.store().search(&collection, request).unwrap();
            assert_eq!(response.path, SearchPath::Hybrid);
            // On 400 rows PostgreSQL's plan may scan instead of walking the index: then the
            // vector side ran exactly, and the response says so.
            let skipped = response
                .advice
                .iter()
                .any(|advice| matches!(advice, embedstore::SearchAdvice::IndexNotUsed { .. }));
            assert_eq!(response.exact, !indexed || skipped);
            // The reference: the same two sides as separate searches, fused here.
            let vector_side = db.store().search(&collection, plain).unwrap();
            let text_side = db.store().search(&collection, text_only).unwrap();
            let vector_ids: Vec<i64> = vector_side.hits.iter().map(|hit| hit.id).collect();
            let text_ids: Vec<i64> = text_side.hits.iter().map(|hit| hit.id).collect();
            let expected = reference_fusion(
                &vector_ids,
                &text_ids,
                f64::from(rrf_k.unwrap_or(embedstore::DEFAULT_RRF_K)),
                weights,
                k as usize,
            );
            let found: Vec<(i64, Option<u32>, Option<u32>)> = response
                .hits
                .iter()
                .map(|hit| (hit.id, hit.vector_rank, hit.text_rank))
                .collect();
            let wanted: Vec<(i64, Option<u32>, Option<u32>)> = expected
                .iter()
                .map(|(id, vr, tr, _)| (*id, *vr, *tr))
                .collect();
            assert_eq!(found, wanted, "{text} indexed={indexed}");
            for (hit, (_, _, _, score)) in response.hits.iter().zip(&expected) {
                assert!((hit.fused_score.unwrap() - score).abs() < 1e-12);
                let exact = Metric::Cosine
                    .distance(&vector.to_vec(), &items_vector(&items, &hit.external_id));
                assert!((hit.distance - exact).abs() < 1e-5, "exact distance");
                if filter.is_some() {
                    // The only filter here: lang = l2.
                    assert_eq!(hit.metadata.as_ref().unwrap()["lang"], "l2");
                }
            }
        }
    }
}

fn items_vector(items: &[NewEmbedding], external_id: &str) -> Vec<f32> {
    items
        .iter()
        .find(|item| item.external_id == external_id)
        .unwrap()
        .vector
        .to_vec()
}

#[test]
fn hybrid_returns_k_rows_whenever_k_match_either_side() {
    let (db, collection, items) = corpus();
    db.store()
        .indexes(&collection)
        .text()
        .create("english")
        .unwrap();
    db.store()
        .indexes(&collection)
        .create(&IndexSpec::hnsw(), None)
        .unwrap();
    let vector = items[0].vector.clone();
    // No text match at all: the vector side alone fills k.
    let nothing = db
        .store()
        .search(
            &collection,
            SearchRequest::hybrid(vector.clone(), "zeppelin", 12),
        )
        .unwrap();
    assert_eq!(nothing.returned, 12);
    assert!(nothing.hits.iter().all(|hit| hit.text_rank.is_none()));
    // A quarter of the rows pass the filter; without iterative scan the ANN side finds about
    // a quarter of its 60 candidates, and the exact rerun fills k.
    let response = db
        .store()
        .search(
            &collection,
            SearchRequest::hybrid(vector.clone(), "zeppelin", 60)
                .with_fetch_k(60)
                .with_filter(Filter::eq("lang", "l3"))
                .with_iterative(embedstore::IterativeScan::Off),
        )
        .unwrap();
    assert_eq!(response.returned, 60, "100 rows match the filter");
    assert!(response.exact, "the exact rerun answered");
    assert!(
        response
            .hits
            .iter()
            .all(|hit| hit.metadata.as_ref().unwrap()["lang"] == "l3")
    );
}

#[test]
fn hostile_text_queries_are_bound_or_refused_with_paths() {
    let (db, collection, items) = corpus();
    db.store()
        .indexes(&collection)
        .text()
        .create("english")
        .unwrap();
    // Quotes, backslashes, operators, unicode: data, never syntax errors.
    for text in [
        "it's \"quoted\" \\ back\\slash",
        "'); DROP TABLE embeddings; --",
        "apple & | ! <-> :* (banana",
        "Grüße 日本語 🦀 apple",
        "\"unterminated phrase",
    ] {
        let response = db
            .store()
            .search(&collection, SearchRequest::text(text, 5))
            .unwrap();
        assert!(response.returned <= 5, "{text}");
    }
    // Stop words only: a valid query that matches nothing (documented), not an error.
    let stop = db
        .store()
        .search(&collection, SearchRequest::text("the and of", 5))
        .unwrap();
    assert_eq!(stop.returned, 0);
    let vector = items[0].vector.clone();
    let long = "apple ".repeat(400);
    for (request, expected) in [
        (
            SearchRequest::from(SearchRequest::text("", 5)),
            "text: the query has no words (no letter or digit)",
        ),
        (
            SearchRequest::from(SearchRequest::text("!!! \"\" --", 5)),
            "text: the query has no words (no letter or digit)",
        ),
        (
            SearchRequest::from(SearchRequest::text(long.as_str(), 5)),
            "text: the query is 2400 bytes long, at most 2048 are allowed",
        ),
        (
            SearchRequest::from(SearchRequest::text("nul\0byte", 5)),
            "text: the query contains a NUL character",
        ),
        (
            SearchRequest::from(SearchRequest::hybrid(vector.clone(), "apple", 10).with_fetch_k(5)),
            "text: fetch_k must be in k..=1000 (k = 10), got 5",
        ),
        (
            SearchRequest::from(SearchRequest::hybrid(vector.clone(), "apple", 10).with_rrf_k(0)),
            "text: rrf_k must be in 1..=10000, got 0",
        ),
        (
            SearchRequest::from(
                SearchRequest::hybrid(vector.clone(), "apple", 10).with_weights(f64::NAN, 1.0),
            ),
            "text: weights must be finite and at least 0",
        ),
        (
            SearchRequest::from(
                SearchRequest::hybrid(vector.clone(), "apple", 10).with_weights(0.0, 0.0),
            ),
            "text: at least one weight must be above 0",
        ),
        (
            SearchRequest::from(SearchRequest::hybrid(vec![1.0; 3], "apple", 5)),
            "vector: expected 8 values, got 3",
        ),
    ] {
        let error = db.store().search(&collection, request).unwrap_err();
        let lines = failures(&error);
        assert!(lines.iter().any(|line| line == expected), "{lines:?}");
    }
    // What no typed request can state is refused by the one parser of the flat (JSON, CLI)
    // form, naming the field.
    let vector_json = serde_json::to_string(&vector).unwrap();
    for (json, expected) in [
        (
            format!(
                r#"{{"vector": {vector_json}, "k": 10, "text": {{"query": "apple"}}, "mmr": {{"lambda": 0.5, "fetch_k": 20}}}}"#
            ),
            "mmr: cannot be combined with a text query (a hybrid search returns the k best fused hits)",
        ),
        (
            r#"{"k": 5, "text": {"query": "apple"}, "max_distance": 0.5}"#.to_owned(),
            "max_distance: has no effect on a text search (no query vector)",
        ),
        (
            r#"{"k": 5, "text": {"query": "apple", "rrf_k": 10}}"#.to_owned(),
            "text.rrf_k: has no effect on a text search (no query vector)",
        ),
    ] {
        let options: embedstore::SearchOptions = serde_json::from_str(&json).unwrap();
        let error = SearchRequest::try_from(options).unwrap_err();
        let lines: Vec<String> = error.lines().collect();
        assert!(lines.iter().any(|line| line == expected), "{lines:?}");
    }
}

/// A fused-score tie goes to the better single-side rank, then to the other side's rank, then
/// to the id — never to the id alone. With `rrf_k` 1, the vector side's #1 that the text side
/// does not return (`1/2`), the text side's #1 that the vector side does not return (`1/2`)
/// and a row both sides rank 3rd (`1/4 + 1/4`) tie exactly (equal weights); the row found 3rd
/// on both sides has the lowest id and came first before (by id).
#[test]
fn a_fused_tie_goes_to_the_better_single_side_rank_not_the_id() {
    let db = TestDatabase::new();
    let collection = db
        .store()
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new("ties", 4, Metric::Cosine, "m"))
        })
        .unwrap();
    // Ids are given in external-id order: the row 3rd on both sides has the lowest.
    let rows = [
        ("a-both-third", [1.0, 0.6, 0.0, 0.0], "zephyr notes"),
        ("b-text-first", [0.0, 0.0, 1.0, 0.0], "zephyr zephyr zephyr"),
        ("c-text-second", [0.0, 0.0, 0.0, 1.0], "zephyr zephyr"),
        ("d-vector-first", [1.0, 0.0, 0.0, 0.0], "unrelated words"),
        ("e-vector-second", [1.0, 0.3, 0.0, 0.0], "other words"),
    ];
    let items: Vec<NewEmbedding> = rows
        .iter()
        .map(|(id, vector, content)| NewEmbedding::new(*id, vector.to_vec()).with_content(*content))
        .collect();
    db.store()
        .write(|uow| uow.embeddings().insert(&collection, items))
        .unwrap();
    let response = db
        .store()
        .search(
            &collection,
            SearchRequest::hybrid(vec![1.0, 0.0, 0.0, 0.0], "zephyr", 3)
                .with_fetch_k(3)
                .with_rrf_k(1)
                .with_weights(1.0, 1.0),
        )
        .unwrap();
    let found: Vec<(&str, Option<u32>, Option<u32>, f64)> = response
        .hits
        .iter()
        .map(|hit| {
            (
                hit.external_id.as_str(),
                hit.vector_rank,
                hit.text_rank,
                hit.fused_score.unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            // Both single-side #1s (by id between them), then the row 3rd on both sides.
            ("b-text-first", None, Some(1), 0.5),
            ("d-vector-first", Some(1), None, 0.5),
            ("a-both-third", Some(3), Some(3), 0.5),
        ],
        "{:?}",
        response.hits
    );
}
