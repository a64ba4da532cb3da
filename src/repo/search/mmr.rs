//! Maximal marginal relevance over a search's candidates: the candidate request (the plain
//! search for `fetch_k` rows with their vectors, any vector shape) and [`diversify`], which
//! lets [`crate::mmr`] pick `k` of them.

use crate::dto::SearchSpec;
use crate::error::Result;
use crate::models::Collection;
use crate::repo::search::context::Search;
use crate::repo::search::nearest;
use crate::repo::search::response::{SearchHit, SearchResponse, count};
use crate::vector::VectorValue;

/// The MMR search for every vector of `queries`: their candidates in one statement (ANN,
/// quantized or exact, with the filter and fallback), then MMR's pick for each.
pub(super) fn run(search: &mut Search<'_>, queries: &[VectorValue]) -> Result<Vec<SearchResponse>> {
    let (collection, request) = (search.collection, search.request);
    let Some(candidates) = candidates(request) else {
        return nearest::run(search, queries);
    };
    let responses = nearest::run(&mut search.asking(&candidates), queries)?;
    Ok(responses
        .into_iter()
        .zip(queries)
        .map(|(response, query)| diversify(collection, request, query, response))
        .collect())
}

/// For an MMR request, the search for its candidates: the `fetch_k` nearest, with their
/// vectors.
pub(super) fn candidates(request: &SearchSpec) -> Option<SearchSpec> {
    let mmr = request.mmr?;
    let mut candidates = request.clone();
    candidates.k = mmr.fetch_k;
    candidates.include_vector = true;
    candidates.mmr = None;
    Some(candidates)
}

/// The `k` hits MMR picks from `candidates`' hits (see [`crate::mmr`]), in the order picked.
fn diversify(
    collection: &Collection,
    request: &SearchSpec,
    query: &VectorValue,
    candidates: SearchResponse,
) -> SearchResponse {
    let lambda = request.mmr.map_or(1.0, |mmr| mmr.lambda);
    let missing = VectorValue::default();
    // A hit whose distance the server could not compute (a vector written around embedstore's
    // validation) is no candidate: its relevance is unknown. It comes after MMR's picks, as
    // PostgreSQL ranks it after every finite distance, when fewer than `k` are left.
    let (finite, not_finite): (Vec<usize>, Vec<usize>) =
        (0..candidates.hits.len()).partition(|&index| !candidates.hits[index].distance_not_finite);
    let vectors: Vec<&VectorValue> = finite
        .iter()
        .map(|&index| candidates.hits[index].vector.as_ref().unwrap_or(&missing))
        .collect();
    let metric = collection.metric;
    let k = request.k as usize;
    let mut picked: Vec<usize> = crate::mmr::select_with(
        metric,
        query,
        &vectors,
        |a: &VectorValue, b: &VectorValue| metric.value_distance(a, b),
        lambda,
        k,
    )
    .into_iter()
    .map(|index| finite[index])
    .collect();
    let room = k.saturating_sub(picked.len());
    picked.extend(not_finite.into_iter().take(room));
    let mut slots: Vec<Option<SearchHit>> = candidates.hits.into_iter().map(Some).collect();
    let hits: Vec<SearchHit> = picked
        .into_iter()
        .filter_map(|index| slots.get_mut(index).and_then(Option::take))
        .map(|mut hit| {
            if !request.include_vector {
                hit.vector = None;
            }
            hit
        })
        .collect();
    SearchResponse {
        requested: request.k,
        returned: count(hits.len()),
        hits,
        ..candidates
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dto::IndexMethod;
    use crate::repo::search::context::Target;
    use crate::repo::search::fixtures::{ann, assert_binds_match, collection, integers, request};
    use crate::repo::search::plan::Mode;
    use crate::repo::search::vector;

    #[test]
    fn mmr_fetches_fetch_k_candidates_with_their_vectors_in_the_plain_statement() {
        let ask = request(5).with_mmr(0.5, 50);
        let candidates = candidates(&ask).unwrap_or_else(|| request(0));
        assert_eq!((candidates.k, candidates.include_vector), (50, true));
        assert!(candidates.mmr.is_none());
        assert!(super::candidates(&request(5)).is_none());
        let collection = collection();
        let indexes = ann(IndexMethod::Hnsw, None);
        let target = Target::new(&collection, &indexes, &candidates);
        let mode = Mode::Ann(IndexMethod::Hnsw, None);
        let sql = vector::statement(&target, mode, std::slice::from_ref(&ask.vector));
        assert_binds_match(&sql);
        assert!(
            sql.sql().contains("vector_send(embedding) AS embedding"),
            "{}",
            sql.sql()
        );
        assert!(
            sql.sql().ends_with("LIMIT 100) hit LIMIT $6"),
            "{}",
            sql.sql()
        );
        assert_eq!(integers(&sql), [50]);
    }

    #[test]
    fn diversify_keeps_k_hits_and_drops_vectors_not_asked_for() {
        let collection = collection();
        let hit = |id: i64, vector: Vec<f32>| SearchHit {
            id,
            external_id: id.to_string(),
            distance: 0.0,
            score: 1.0,
            distance_not_finite: false,
            metadata: None,
            content: None,
            vector: Some(VectorValue::from(vector)),
            group: None,
            vector_rank: None,
            text_rank: None,
            text_score: None,
            fused_score: None,
        };
        let ask = request(2).with_mmr(0.3, 3);
        let hits = vec![
            hit(1, vec![1.0, 0.0, 0.0]),
            hit(2, vec![1.0, 0.01, 0.0]),
            hit(3, vec![0.0, 1.0, 0.0]),
        ];
        let candidates = crate::repo::search::response::response(
            &ask,
            hits,
            true,
            crate::repo::search::response::SearchPath::Exact,
            None,
        );
        let query = VectorValue::from(vec![1.0_f32, 0.0, 0.0]);
        let picked = diversify(&collection, &ask, &query, candidates);
        let ids: Vec<i64> = picked.hits.iter().map(|hit| hit.id).collect();
        assert_eq!(
            ids,
            [1, 3],
            "the near duplicate of the first pick is passed over"
        );
        assert_eq!((picked.requested, picked.returned), (2, 2));
        assert!(picked.hits.iter().all(|hit| hit.vector.is_none()));
    }

    #[test]
    fn a_hit_without_a_finite_distance_comes_after_every_pick() {
        let collection = collection();
        let hit = |id: i64, distance: f64, vector: Vec<f32>| {
            let mut hit = SearchHit::new(id, id.to_string(), distance, 1.0 - distance);
            hit.vector = Some(VectorValue::from(vector));
            hit
        };
        // The poisoned vector points the query's way: by its vector alone (in f64, where it
        // does not overflow) MMR would pick it first.
        let hits = vec![
            hit(1, f64::NAN, vec![3e38, 0.0, 0.0]),
            hit(2, 0.1, vec![1.0, 0.5, 0.0]),
            hit(3, 0.9, vec![0.0, 1.0, 0.0]),
        ];
        let query = VectorValue::from(vec![1.0_f32, 0.0, 0.0]);
        for (k, expected) in [(2, vec![2, 3]), (3, vec![2, 3, 1])] {
            let ask = request(k).with_mmr(0.5, 3);
            let candidates = crate::repo::search::response::response(
                &ask,
                hits.clone(),
                true,
                crate::repo::search::response::SearchPath::Exact,
                None,
            );
            let picked = diversify(&collection, &ask, &query, candidates);
            let ids: Vec<i64> = picked.hits.iter().map(|hit| hit.id).collect();
            assert_eq!(ids, expected, "k = {k}");
        }
    }
}
