//! Maximal marginal relevance over a search's candidates: the candidate request (the plain
//! search for `fetch_k` rows with their vectors, any vector shape) and [`diversify`], which
//! lets [`crate::mmr`] pick `k` of them.

use crate::dto::SearchRequest;
use crate::error::Result;
use crate::models::Collection;
use crate::repo::search::response::{SearchHit, SearchResponse, count};
use crate::repo::search::{Search, vector};
use crate::vector::VectorValue;

/// The MMR search for every vector of `queries`: their candidates in one statement (ANN,
/// quantized or exact, with the filter and fallback), then MMR's pick for each.
pub(super) fn run(search: &mut Search<'_>, queries: &[VectorValue]) -> Result<Vec<SearchResponse>> {
    let (collection, request) = (search.collection, search.request);
    let Some(candidates) = candidates(request) else {
        return vector::run(search, queries);
    };
    let responses = vector::run(&mut search.asking(&candidates), queries)?;
    Ok(responses
        .into_iter()
        .zip(queries)
        .map(|(response, query)| diversify(collection, request, query, response))
        .collect())
}

/// For an MMR request, the search for its candidates: the `fetch_k` nearest, with their
/// vectors.
pub(super) fn candidates(request: &SearchRequest) -> Option<SearchRequest> {
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
    request: &SearchRequest,
    query: &VectorValue,
    candidates: SearchResponse,
) -> SearchResponse {
    let lambda = request.mmr.map_or(1.0, |mmr| mmr.lambda);
    let missing = VectorValue::default();
    let vectors: Vec<&VectorValue> = candidates
        .hits
        .iter()
        .map(|hit| hit.vector.as_ref().unwrap_or(&missing))
        .collect();
    let metric = collection.metric;
    let picked = crate::mmr::select_with(
        metric,
        query,
        &vectors,
        |a: &VectorValue, b: &VectorValue| metric.value_distance(a, b),
        lambda,
        request.k as usize,
    );
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
