//! Maximal marginal relevance: the library's picks against a naive reference written here,
//! on the candidates the same search fetches, under each metric and path.

use embedstore::Shape;
use embedstore::{
    Collection, Filter, IndexSpec, Metric, NewCollection, NewEmbedding, SearchRequest, VectorSearch,
};
use embedstore_test_support::TestDatabase;

use crate::support::{Rng, failures};

const DIMENSION: usize = 16;

fn corpus(metric: Metric, seed: u64) -> (TestDatabase, Collection, Vec<NewEmbedding>) {
    let db = TestDatabase::new();
    let collection = db
        .store()
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new("mmr", DIMENSION as u32, metric, "m"))
        })
        .unwrap();
    let mut rng = Rng::new(seed);
    // Near-duplicates in groups of 5, so diversity has something to avoid.
    let mut items = Vec::new();
    for group in 0..100 {
        let base = rng.vector(DIMENSION);
        for member in 0..5 {
            let vector: Vec<f32> = base
                .iter()
                .map(|value| value + 0.02 * rng.unit_value())
                .collect();
            items.push(
                NewEmbedding::new(format!("g{group}-{member}"), vector)
                    .with_metadata(serde_json::json!({ "group": group, "odd": group % 2 == 1 })),
            );
        }
    }
    db.store()
        .write(|uow| uow.embeddings().insert(&collection, items.clone()))
        .unwrap();
    (db, collection, items)
}

/// Similarity as each metric's score defines it, computed from scratch.
fn similarity(metric: Metric, a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    match metric {
        Metric::Cosine => dot / (norm(a) * norm(b)),
        Metric::InnerProduct => dot,
        Metric::L2 => {
            let squared: f64 = a
                .iter()
                .zip(b)
                .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
                .sum();
            1.0 / (1.0 + squared.sqrt())
        }
        Metric::L1 => {
            let sum: f64 = a
                .iter()
                .zip(b)
                .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
                .sum();
            1.0 / (1.0 + sum)
        }
        // Bit metrics (a non-zero value is a set bit), as their scores define them.
        Metric::Hamming => {
            let differing = a
                .iter()
                .zip(b)
                .filter(|(x, y)| (**x != 0.0) != (**y != 0.0))
                .count();
            1.0 / (1.0 + differing as f64)
        }
        Metric::Jaccard => {
            let both = a
                .iter()
                .zip(b)
                .filter(|(x, y)| **x != 0.0 && **y != 0.0)
                .count();
            let either = a
                .iter()
                .zip(b)
                .filter(|(x, y)| **x != 0.0 || **y != 0.0)
                .count();
            both as f64 / either as f64
        }
        other => panic!("unsupported metric {other}: this test has no reference similarity"),
    }
}

/// Naive MMR, O(n²k): every step recomputes every remaining candidate's score from scratch.
fn reference(
    metric: Metric,
    query: &[f32],
    candidates: &[(i64, Vec<f32>)],
    lambda: f64,
    k: usize,
) -> Vec<i64> {
    let mut chosen: Vec<usize> = Vec::new();
    while chosen.len() < k.min(candidates.len()) {
        let mut best: Option<(f64, usize)> = None;
        for index in 0..candidates.len() {
            if chosen.contains(&index) {
                continue;
            }
            let relevance = similarity(metric, query, &candidates[index].1);
            let redundancy = chosen
                .iter()
                .map(|picked| similarity(metric, &candidates[*picked].1, &candidates[index].1))
                .fold(None, |top: Option<f64>, value| {
                    Some(top.map_or(value, |top| top.max(value)))
                })
                .unwrap_or(0.0);
            let score = lambda * relevance - (1.0 - lambda) * redundancy;
            // Strictly greater: ties keep the earlier (nearer) candidate.
            if best.is_none_or(|(top, _)| score > top) {
                best = Some((score, index));
            }
        }
        chosen.push(best.unwrap().1);
    }
    chosen
        .into_iter()
        .map(|index| candidates[index].0)
        .collect()
}

fn candidates(
    db: &TestDatabase,
    collection: &Collection,
    request: &VectorSearch,
    fetch_k: u32,
) -> Vec<(i64, Vec<f32>)> {
    let mut plain = request.clone().include_vector(true);
    plain.k = fetch_k;
    plain.shape = Shape::Nearest;
    db.store()
        .search(collection, plain)
        .unwrap()
        .hits
        .into_iter()
        .map(|hit| (hit.id, hit.vector.unwrap().to_vec()))
        .collect()
}

#[test]
fn mmr_picks_what_the_reference_picks_under_every_metric_and_path() {
    for (seed, metric) in [Metric::Cosine, Metric::L2, Metric::InnerProduct, Metric::L1]
        .into_iter()
        .enumerate()
    {
        let (db, collection, items) = corpus(metric, 60 + seed as u64);
        for indexed in [false, true] {
            if indexed {
                db.store()
                    .indexes(&collection)
                    .create(&IndexSpec::hnsw(), None)
                    .unwrap();
            }
            for (query_index, lambda) in [(3, 0.0), (77, 0.3), (150, 0.5), (421, 0.7), (9, 1.0)] {
                let query = items[query_index].vector.clone();
                let request = SearchRequest::vector(query.clone(), 10);
                let pool = candidates(&db, &collection, &request, 50);
                let expected = reference(metric, &query.to_vec(), &pool, lambda, 10);
                let response = db
                    .store()
                    .search(
                        &collection,
                        request.clone().with_shape(Shape::mmr(lambda, 50)),
                    )
                    .unwrap();
                let ids: Vec<i64> = response.hits.iter().map(|hit| hit.id).collect();
                assert_eq!(ids, expected, "{metric} indexed={indexed} lambda={lambda}");
                assert_eq!((response.requested, response.returned), (10, 10));
                assert!(response.hits.iter().all(|hit| hit.vector.is_none()));
                if lambda == 1.0 {
                    // Pure relevance: the plain nearest 10.
                    let plain: Vec<i64> = pool.iter().take(10).map(|(id, _)| *id).collect();
                    assert_eq!(ids, plain, "{metric}");
                }
            }
        }
    }
}

#[test]
fn mmr_spreads_over_near_duplicates_and_keeps_filters_and_batches() {
    let (db, collection, items) = corpus(Metric::Cosine, 5);
    // Near group 0, but not one of its vectors.
    let mut rng = Rng::new(99);
    let query: Vec<f32> = items[0]
        .vector
        .to_vec()
        .into_iter()
        .map(|value| value + 0.05 * rng.unit_value())
        .collect();
    let plain = db
        .store()
        .search(&collection, SearchRequest::vector(query.clone(), 5))
        .unwrap();
    let group = |external_id: &str| external_id.split('-').next().unwrap().to_owned();
    // Plainly, the 5 nearest are the query's own group of near-duplicates.
    assert!(plain.hits.iter().all(|hit| group(&hit.external_id) == "g0"));
    let diverse = db
        .store()
        .search(
            &collection,
            SearchRequest::vector(query.clone(), 5)
                .with_shape(Shape::mmr(0.3, 100))
                .include_vector(true),
        )
        .unwrap();
    let mut groups: Vec<String> = diverse
        .hits
        .iter()
        .map(|hit| group(&hit.external_id))
        .collect();
    groups.sort();
    groups.dedup();
    assert_eq!(groups.len(), 5, "one hit per group: {groups:?}");
    assert!(diverse.hits.iter().all(|hit| hit.vector.is_some()));
    // Filters apply to the candidates.
    let filtered = db
        .store()
        .search(
            &collection,
            SearchRequest::vector(query.clone(), 5)
                .with_shape(Shape::mmr(0.5, 40))
                .with_filter(Filter::eq("odd", true)),
        )
        .unwrap();
    assert_eq!(filtered.hits.len(), 5);
    assert!(
        filtered
            .hits
            .iter()
            .all(|hit| hit.metadata.as_ref().unwrap()["odd"] == true)
    );
    // A batch answers each query as a single search does.
    let queries: Vec<Vec<f32>> = [0, 100, 200]
        .iter()
        .map(|i| items[*i].vector.to_vec())
        .collect();
    let template = SearchRequest::vector(Vec::new(), 4).with_shape(Shape::mmr(0.6, 30));
    let batch = db
        .store()
        .search_batch(&collection, &queries, &template)
        .unwrap();
    for (query, response) in queries.iter().zip(batch) {
        let single = db
            .store()
            .search(&collection, template.clone().with_query(query.clone()))
            .unwrap();
        assert_eq!(response, single);
    }
    // Fewer matching rows than k: all of them.
    let few = db
        .store()
        .search(
            &collection,
            SearchRequest::vector(query, 8)
                .with_shape(Shape::mmr(0.5, 8))
                .with_filter(Filter::eq("group", 3)),
        )
        .unwrap();
    assert_eq!(few.returned, 5);
}

#[test]
fn hostile_mmr_parameters_are_refused_with_paths() {
    let (db, collection, items) = corpus(Metric::Cosine, 8);
    let query = items[0].vector.clone();
    for (request, expected) in [
        (
            SearchRequest::vector(query.clone(), 10).with_shape(Shape::mmr(f64::NAN, 50)),
            "mmr: lambda must be a number in [0, 1], got NaN",
        ),
        (
            SearchRequest::vector(query.clone(), 10).with_shape(Shape::mmr(-0.1, 50)),
            "mmr: lambda must be a number in [0, 1], got -0.1",
        ),
        (
            SearchRequest::vector(query.clone(), 10).with_shape(Shape::mmr(1.5, 50)),
            "mmr: lambda must be a number in [0, 1], got 1.5",
        ),
        (
            SearchRequest::vector(query.clone(), 10).with_shape(Shape::mmr(0.5, 9)),
            "mmr: fetch_k must be in k..=1000 (k = 10), got 9",
        ),
        (
            SearchRequest::vector(query.clone(), 10).with_shape(Shape::mmr(0.5, 1001)),
            "mmr: fetch_k must be in k..=1000 (k = 10), got 1001",
        ),
    ] {
        let error = db.store().search(&collection, request).unwrap_err();
        assert_eq!(failures(&error), [expected]);
    }
    // MMR with `after` paging cannot be built; the flat (JSON, CLI) form's parser refuses it.
    let json = serde_json::json!({
        "vector": query, "k": 10,
        "after": {"distance": 0.1, "id": 3},
        "mmr": {"lambda": 0.5, "fetch_k": 20},
    });
    let options: embedstore::SearchOptions = serde_json::from_value(json).unwrap();
    let error = SearchRequest::try_from(options).unwrap_err();
    let lines: Vec<String> = error.lines().collect();
    assert_eq!(lines, ["mmr: cannot be combined with `after`"]);
}
