//! What a search answers: the public [`SearchResponse`], [`SearchHit`] and [`SearchPath`], the
//! row every statement returns ([`HitRow`]) and how rows become hits.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bytea, Double, Jsonb, Nullable, Text};
use serde::Serialize;

use crate::dto::SearchSpec;
use crate::models::Collection;
use crate::repo::search::advice::SearchAdvice;
use crate::repo::search::ignored::IgnoredOption;
use crate::vector::VectorValue;

/// Which statement(s) answered a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SearchPath {
    /// An exact scan (forced, no valid ANN index, or a selective payload-indexed filter).
    Exact,
    /// The ANN index alone.
    Ann,
    /// The ANN index returned fewer than `k` rows under a filter; an exact scan answered.
    AnnThenExact,
    /// A full-text search without a vector (ranked by `ts_rank_cd`).
    Text,
    /// A hybrid search: the vector and the text side fused by reciprocal rank fusion
    /// (`exact` tells whether the vector side was exact).
    Hybrid,
}

/// The answer to a nearest-neighbour query.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SearchResponse {
    /// The `k` that was asked for.
    pub requested: u32,
    /// How many hits came back: fewer than `requested` only when fewer rows match (or a
    /// distance/score threshold dropped some).
    pub returned: u32,
    /// Whether the hits are the exact nearest neighbours (false: approximate, from the index).
    pub exact: bool,
    /// Which statement(s) answered.
    pub path: SearchPath,
    /// The planner's estimate of the rows matching the filter, when the search planner asked
    /// for it (filters a payload index serves) to choose between the paths.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_matches: Option<u64>,
    /// The exact threshold `estimated_matches` was compared with, when it was: the request's
    /// [`with_exact_threshold`](crate::VectorSearch::with_exact_threshold), else
    /// [`default_exact_threshold`](crate::default_exact_threshold) of the collection's rows.
    /// Fewer estimated matches than this took the exact path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact_threshold: Option<u32>,
    /// On a grouped search ([`Shape::Grouped`](crate::Shape::Grouped)): how many groups came back (at
    /// most `requested`); the hits are ordered group by group, nearest group first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<u32>,
    /// When a quantized index answered: how many candidates it was asked for
    /// (`k * rerank_factor`) before the exact re-rank. The hits' distances are exact; `exact`
    /// stays false, since the candidates themselves are approximate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reranked: Option<u32>,
    /// The neighbours, nearest first (with [`Shape::Mmr`](crate::Shape::Mmr), in the order MMR
    /// picked them).
    pub hits: Vec<SearchHit>,
    /// The options the request set that had no effect on the path this search took (e.g.
    /// `rerank_factor` without a quantized index), each with the reason; empty when every
    /// option acted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<IgnoredOption>,
    /// pgvector's settings the ANN statement set, with the values that took effect
    /// (`hnsw.ef_search` raised to `k`, the iterative-scan mode embedstore chose, …); empty
    /// when no ANN index was used.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<AppliedSetting>,
    /// What would make this search's plan better, from what PostgreSQL chose and knows: an
    /// ANN index the plan passed over, a rare filter no payload index serves. Empty when
    /// there is nothing to advise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub advice: Vec<SearchAdvice>,
}

/// One of pgvector's settings as a search set it: `hnsw.ef_search` = `"100"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AppliedSetting {
    /// The setting's name (`hnsw.ef_search`, `hnsw.iterative_scan`, `ivfflat.probes`, …).
    pub name: &'static str,
    /// Its value, as PostgreSQL's `set_config` took it.
    pub value: String,
}

impl AppliedSetting {
    /// The settings `pairs` as the response reports them.
    pub(super) fn all(pairs: Vec<(&'static str, String)>) -> Vec<Self> {
        pairs
            .into_iter()
            .map(|(name, value)| Self { name, value })
            .collect()
    }
}

/// One neighbour.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SearchHit {
    /// The row's surrogate id (with `distance`, the key for [`Shape::after`](crate::Shape::after)).
    pub id: i64,
    /// The caller's key.
    pub external_id: String,
    /// The value of the metric's operator (smaller is nearer); see [`Metric`](crate::Metric).
    /// NaN or infinite only when the server computed no finite distance for a stored vector
    /// that embedstore's validation would refuse (written by another client): then
    /// [`distance_not_finite`](Self::distance_not_finite) is set. On a text-only search, which
    /// computes no distance, it is NaN.
    pub distance: f64,
    /// Higher is more similar; its meaning per metric is documented on [`Metric`](crate::Metric).
    pub score: f64,
    /// The server computed a distance that is not a finite number (NaN or ±infinity) for this
    /// row: its stored vector holds values too large for pgvector's single-precision
    /// arithmetic (written around embedstore, e.g. by raw SQL; embedstore refuses such
    /// vectors, see [`MAX_VECTOR_NORM`](crate::MAX_VECTOR_NORM)). Such a hit ranks where
    /// PostgreSQL's `ORDER BY` puts its distance — NaN after every number — never ahead of a
    /// finite one, and MMR picks it only when nothing else is left. In JSON, absent when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub distance_not_finite: bool,
    /// The stored metadata, unless the request left it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// The stored content, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The stored vector, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<VectorValue>,
    /// On a grouped search: the hit's group, the value of the `group_by` field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<serde_json::Value>,
    /// On a hybrid search: the hit's rank (1 = nearest) among the vector side's candidates,
    /// `None` when that side did not return it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector_rank: Option<u32>,
    /// On a text or hybrid search: the hit's rank (1 = best) among the text side's matches,
    /// `None` when that side did not return it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_rank: Option<u32>,
    /// On a text or hybrid search: the hit's `ts_rank_cd` (higher is better), when the text
    /// side returned it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_score: Option<f64>,
    /// On a hybrid search: the reciprocal-rank-fusion score the hits are ordered by
    /// (`vector_weight / (rrf_k + vector_rank) + text_weight / (rrf_k + text_rank)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fused_score: Option<f64>,
}

impl SearchResponse {
    /// A response of `hits` to a search of `requested` answered by `path`, as a service's own
    /// tests fake one: `returned` is the number of hits, `exact` follows from the path
    /// ([`SearchPath::Exact`] and [`SearchPath::AnnThenExact`]); nothing else is set.
    ///
    /// ```
    /// use embedstore::{SearchHit, SearchPath, SearchResponse};
    /// let hit = SearchHit::new(7, "doc-7", 0.25, 0.75);
    /// let response = SearchResponse::new(SearchPath::Ann, 10, vec![hit]);
    /// assert_eq!((response.returned, response.exact), (1, false));
    /// assert!(response.ignored.is_empty());
    /// ```
    pub fn new(path: SearchPath, requested: u32, hits: Vec<SearchHit>) -> Self {
        Self {
            requested,
            returned: count(hits.len()),
            exact: matches!(path, SearchPath::Exact | SearchPath::AnnThenExact),
            path,
            estimated_matches: None,
            exact_threshold: None,
            groups: None,
            reranked: None,
            hits,
            ignored: Vec::new(),
            settings: Vec::new(),
            advice: Vec::new(),
        }
    }
}

impl SearchHit {
    /// A hit with its row id, key, distance and score; every optional field (metadata,
    /// content, vector, group, ranks) empty, for a test to set as it needs;
    /// `distance_not_finite` tells whether `distance` is NaN or infinite.
    pub fn new(id: i64, external_id: impl Into<String>, distance: f64, score: f64) -> Self {
        Self {
            id,
            external_id: external_id.into(),
            distance,
            score,
            distance_not_finite: !distance.is_finite(),
            metadata: None,
            content: None,
            vector: None,
            group: None,
            vector_rank: None,
            text_rank: None,
            text_score: None,
            fused_score: None,
        }
    }
}

/// The columns every search statement selects: the query's number (1.. in a batch), the row,
/// and its distance.
#[derive(QueryableByName)]
pub(super) struct HitRow {
    #[diesel(sql_type = BigInt)]
    pub(super) query: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) id: i64,
    #[diesel(sql_type = Text)]
    external_id: String,
    #[diesel(sql_type = Nullable<Jsonb>)]
    metadata: Option<serde_json::Value>,
    #[diesel(sql_type = Nullable<Text>)]
    content: Option<String>,
    /// The vector column's binary output (`vector_send`, …), decoded by the collection's kind.
    #[diesel(sql_type = Nullable<Bytea>)]
    embedding: Option<Vec<u8>>,
    #[diesel(sql_type = Double)]
    pub(super) distance: f64,
}

/// The response for `rows` answered by `path`: their hits, thresholds applied.
pub(super) fn respond(
    collection: &Collection,
    request: &SearchSpec,
    rows: Vec<HitRow>,
    path: SearchPath,
    matched: Option<u64>,
) -> SearchResponse {
    let hits = rows
        .into_iter()
        .map(|row| to_hit(collection, row))
        .filter(|hit| kept(request, hit))
        .collect();
    response(request, hits, path != SearchPath::Ann, path, matched)
}

/// A response of `hits` to `request`, with none of the mode-specific counts.
pub(super) fn response(
    request: &SearchSpec,
    hits: Vec<SearchHit>,
    exact: bool,
    path: SearchPath,
    matched: Option<u64>,
) -> SearchResponse {
    SearchResponse {
        requested: request.k,
        returned: count(hits.len()),
        exact,
        path,
        estimated_matches: matched,
        exact_threshold: None,
        groups: None,
        reranked: None,
        hits,
        ignored: Vec::new(),
        settings: Vec::new(),
        advice: Vec::new(),
    }
}

/// Distances in the order PostgreSQL's `ORDER BY` puts `float8` values: NaN after every
/// number (+∞ included), NaNs equal — whatever NaN's sign bit, which `f64::total_cmp` would
/// put first for pgvector's NaN.
pub(super) fn by_distance(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (false, false) => a.total_cmp(&b),
        (a_nan, b_nan) => a_nan.cmp(&b_nan),
    }
}

/// Whether `hit` passes the request's distance and score thresholds.
pub(super) fn kept(request: &SearchSpec, hit: &SearchHit) -> bool {
    request.max_distance.is_none_or(|max| hit.distance <= max)
        && request.min_score.is_none_or(|min| hit.score >= min)
}

/// A count as the response reports it.
pub(super) fn count(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// A row as a hit: its score from the distance, its vector decoded; no mode-specific field.
pub(super) fn to_hit(collection: &Collection, row: HitRow) -> SearchHit {
    let score = collection.metric.score(row.distance);
    let mut hit = SearchHit::new(row.id, row.external_id, row.distance, score);
    hit.metadata = row.metadata;
    hit.content = row.content;
    hit.vector = row
        .embedding
        .and_then(|bytes| VectorValue::from_send(collection.kind, &bytes));
    hit
}
