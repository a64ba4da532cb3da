//! The typed search request: what is asked ([`VectorSearch`], [`TextSearch`],
//! [`HybridSearch`]) and, for a vector search, the [`Shape`] that comes back. Each kind carries
//! only the options that act on it, so a combination that cannot run cannot be written.

use serde::{Deserialize, Serialize};

use crate::dto::search::options::SearchOptions;
use crate::dto::search::spec::SearchSpec;
use crate::filter::{FieldPath, Filter};
use crate::vector::VectorValue;

/// A search of one collection: a vector search, a full-text search or both fused (hybrid).
///
/// Built with [`SearchRequest::vector`], [`SearchRequest::text`] or [`SearchRequest::hybrid`];
/// `Store::search` takes any of the three builders. The JSON form is [`SearchOptions`]'s (the
/// flat form the CLI and JSON callers use), parsed by one conversion that refuses an impossible
/// combination with the field it names.
///
/// ```
/// use embedstore::{Filter, SearchRequest, Shape};
/// let nearest = SearchRequest::vector(vec![0.1, 0.2, 0.3], 10).with_ef_search(80);
/// let diverse = SearchRequest::vector(vec![0.1, 0.2, 0.3], 10).with_shape(Shape::mmr(0.5, 40));
/// let text = SearchRequest::text("vector databases", 5);
/// let hybrid = SearchRequest::hybrid(vec![0.1, 0.2, 0.3], "vector databases", 5).with_rrf_k(30);
/// let request: SearchRequest = nearest.into();
/// assert_eq!(request.k(), 10);
/// # let _ = (diverse, text, hybrid);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SearchOptions", into = "SearchOptions")]
#[non_exhaustive]
pub enum SearchRequest {
    /// The nearest neighbours of a vector.
    Vector(VectorSearch),
    /// A full-text search of the rows' `content`, without a vector.
    Text(TextSearch),
    /// A vector and a text search fused by reciprocal rank fusion.
    Hybrid(HybridSearch),
}

/// How the ANN index is (or is not) used: pgvector's settings for one search and the
/// planner's overrides. An option that has no effect on the path the search took (`probes` on
/// an HNSW index, `rerank_factor` without a quantized index, any of them on an exact scan) is
/// listed in [`SearchResponse::ignored`](crate::SearchResponse::ignored).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AnnOptions {
    /// Always scan exactly (no ANN index), whatever the planner would pick.
    pub exact: bool,
    /// HNSW candidate list size (`hnsw.ef_search`, 1..=1000); `None` means pgvector's default,
    /// 40. Either way it is raised to `k` when lower, since an HNSW scan returns at most
    /// `ef_search` rows.
    pub ef_search: Option<u32>,
    /// IVFFlat lists to probe (`ivfflat.probes`, 1..=32768); `None` keeps pgvector's default, 1.
    pub probes: Option<u32>,
    /// The iterative-scan mode; `None` lets embedstore choose: off without a filter,
    /// `relaxed_order` with one (hits are re-sorted, so they still come nearest first).
    pub iterative: Option<IterativeScan>,
    /// Most tuples an iterative HNSW scan visits (`hnsw.max_scan_tuples`), or most lists an
    /// iterative IVFFlat scan probes (`ivfflat.max_probes`), 1..=100,000,000.
    pub max_scan_tuples: Option<u32>,
    /// With a filter served by a payload index: below this many estimated matching rows, scan
    /// those rows exactly instead of walking the ANN index (1..=10,000,000; default
    /// [`default_exact_threshold`](crate::default_exact_threshold) of the collection's rows,
    /// [`DEFAULT_EXACT_THRESHOLD`](crate::DEFAULT_EXACT_THRESHOLD) at 100,000 rows).
    pub exact_threshold: Option<u32>,
    /// On a quantized index: candidates per hit the index returns (`k * rerank_factor`, at most
    /// [`MAX_RERANK_CANDIDATES`](crate::MAX_RERANK_CANDIDATES)) before the exact re-rank;
    /// 1..=100, `None` means [`DEFAULT_RERANK_FACTOR`](crate::DEFAULT_RERANK_FACTOR).
    pub rerank_factor: Option<u32>,
}

/// How pgvector continues an index scan when a filter removed rows (pgvector's
/// `hnsw.iterative_scan` / `ivfflat.iterative_scan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IterativeScan {
    /// Stop after one scan of `ef_search` candidates (pgvector's default today): a filter can
    /// leave fewer than `k` rows.
    Off,
    /// Keep scanning, returning rows in exact distance order (HNSW only; IVFFlat treats it as
    /// `relaxed_order`).
    StrictOrder,
    /// Keep scanning, rows slightly out of order; embedstore re-sorts the `k` it returns.
    RelaxedOrder,
}

impl IterativeScan {
    /// The setting's value in SQL.
    pub fn as_str(self) -> &'static str {
        match self {
            IterativeScan::Off => "off",
            IterativeScan::StrictOrder => "strict_order",
            IterativeScan::RelaxedOrder => "relaxed_order",
        }
    }
}

/// What a vector search returns: the `k` nearest (optionally the page after a previous hit),
/// `k` picked by maximal marginal relevance, or `k` groups. One value, so no two shapes can be
/// asked for at once.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub enum Shape {
    /// The `k` nearest neighbours, nearest first.
    #[default]
    Nearest,
    /// The `k` nearest after a hit of a previous page (keyset paging, no OFFSET).
    After(SearchAfter),
    /// `k` hits chosen by maximal marginal relevance (see [`Mmr`]).
    Mmr(Mmr),
    /// The `k` nearest groups of hits (see [`GroupBy`]).
    Grouped(GroupBy),
}

impl Shape {
    /// The page after the hit with this `distance` and `id`.
    pub fn after(distance: f64, id: i64) -> Self {
        Shape::After(SearchAfter::new(distance, id))
    }

    /// Maximal marginal relevance over the `fetch_k` nearest, weighing relevance by `lambda`.
    pub fn mmr(lambda: f64, fetch_k: u32) -> Self {
        Shape::Mmr(Mmr::new(lambda, fetch_k))
    }

    /// The `group_size` nearest hits of each of the `k` nearest groups of `field`'s values.
    pub fn grouped(field: &FieldPath, group_size: u32) -> Self {
        Shape::Grouped(GroupBy::new(field, group_size))
    }
}

impl SearchAfter {
    /// After the hit with this `distance` and `id`.
    pub fn new(distance: f64, id: i64) -> Self {
        Self { distance, id }
    }
}

impl Mmr {
    /// MMR over `fetch_k` candidates, weighing relevance by `lambda`.
    pub fn new(lambda: f64, fetch_k: u32) -> Self {
        Self { lambda, fetch_k }
    }
}

impl GroupBy {
    /// `group_size` hits per group of `field`'s values.
    pub fn new(field: &FieldPath, group_size: u32) -> Self {
        Self {
            field: field.to_string(),
            group_size,
        }
    }
}

/// Where a previous page of results ended: the next page starts after this (distance, id).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SearchAfter {
    /// The last hit's distance.
    pub distance: f64,
    /// The last hit's id.
    pub id: i64,
}

/// Maximal marginal relevance over the `fetch_k` nearest candidates, which the search fetches
/// with their stored vectors in its one statement; the greedy selection runs in Rust under the
/// collection's metric, its similarity being the metric's score ([`Metric::score`]):
/// `λ · sim(query, c) − (1 − λ) · max sim(c, chosen)`.
///
/// [`Metric::score`]: crate::Metric::score
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Mmr {
    /// Weight of relevance against diversity, in [0, 1]: 1 ranks by relevance alone, 0 by
    /// diversity alone.
    pub lambda: f64,
    /// Candidates to choose from: at least `k`, at most [`MAX_K`](crate::MAX_K).
    pub fetch_k: u32,
}

/// Grouped hits: rows are grouped by the value of a metadata field (e.g. the chunks of one
/// document); a group's distance is its nearest member's; the `k` nearest groups come back,
/// each with its `group_size` nearest members. Rows without the field (or with JSON `null`
/// there) belong to no group. One statement, an exact scan of the matching rows (a payload
/// index on the filter narrows them), so every group the filter admits is considered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GroupBy {
    /// The metadata field, as a dotted [`FieldPath`] (`doc.id`; `\.` for a dot in a key).
    pub field: String,
    /// Hits per group, 1..=100.
    pub group_size: u32,
}

/// How a hybrid search fuses its two sides: each side fetches `fetch_k` candidates and every
/// candidate scores `vector_weight / (rrf_k + vector rank) + text_weight / (rrf_k + text rank)`
/// (a side that did not return it adds nothing); the `k` best come back. Ties in that score go
/// to the better single-side rank, then to the other side's rank (a row both sides returned
/// first), then to the row id.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct Fusion {
    /// Candidates per side, `k..=1000`; `None` means `4 × k` (at most 1000).
    pub fetch_k: Option<u32>,
    /// RRF's constant, 1..=10,000; `None` means [`DEFAULT_RRF_K`](crate::DEFAULT_RRF_K).
    pub rrf_k: Option<u32>,
    /// Weight of the vector side's reciprocal rank (finite, ≥ 0); `None` means
    /// [`DEFAULT_VECTOR_WEIGHT`](crate::DEFAULT_VECTOR_WEIGHT).
    pub vector_weight: Option<f64>,
    /// Weight of the text side's reciprocal rank (finite, ≥ 0); `None` means
    /// [`DEFAULT_TEXT_WEIGHT`](crate::DEFAULT_TEXT_WEIGHT).
    pub text_weight: Option<f64>,
}

/// What every hit carries besides its id, key and distance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Include {
    /// The stored `content` (default false).
    pub content: bool,
    /// The stored vector (default false).
    pub vector: bool,
    /// The stored metadata (default true); false reads less of each row.
    pub metadata: bool,
}

impl Default for Include {
    fn default() -> Self {
        Self {
            content: false,
            vector: false,
            metadata: true,
        }
    }
}

/// The `k` nearest neighbours of a vector ([`SearchRequest::vector`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct VectorSearch {
    /// The query vector: the collection's dimension, finite values.
    pub vector: VectorValue,
    /// How many neighbours (or groups) to return, 1..=[`MAX_K`](crate::MAX_K).
    pub k: u32,
    /// Only rows whose metadata matches.
    pub filter: Option<Filter>,
    /// What each hit carries.
    pub include: Include,
    /// What comes back: the nearest, a page, MMR or groups.
    pub shape: Shape,
    /// How the ANN index is used.
    pub ann: AnnOptions,
    /// Drop hits farther than this distance.
    pub max_distance: Option<f64>,
    /// Drop hits whose score is below this.
    pub min_score: Option<f64>,
}

/// A full-text search of the rows' `content` without a vector ([`SearchRequest::text`]): the
/// `k` best matches by `ts_rank_cd`.
///
/// The text reaches SQL only as a bound parameter of `websearch_to_tsquery(config, $n)` (the
/// syntax of web search engines: `"exact phrase"`, `or`, `-excluded`; it never fails on
/// syntax), `config` being the collection's text index's configuration (`simple` without one).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TextSearch {
    /// The query text: at most [`MAX_TEXT_QUERY_BYTES`](crate::MAX_TEXT_QUERY_BYTES) bytes, no
    /// NUL, at least one letter or digit.
    pub text: String,
    /// How many matches to return, 1..=[`MAX_K`](crate::MAX_K).
    pub k: u32,
    /// Only rows whose metadata matches.
    pub filter: Option<Filter>,
    /// What each hit carries.
    pub include: Include,
    /// Drop hits whose text score (`ts_rank_cd`) is below this.
    pub min_score: Option<f64>,
}

/// A vector search and a full-text search fused by reciprocal rank fusion
/// ([`SearchRequest::hybrid`], see [`Fusion`]). The vector side runs as a [`VectorSearch`] of
/// `fetch_k` would (ANN or exact, with the filter and the [`AnnOptions`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HybridSearch {
    /// The query vector.
    pub vector: VectorValue,
    /// The query text (as [`TextSearch::text`]).
    pub text: String,
    /// How many fused hits to return, 1..=[`MAX_K`](crate::MAX_K).
    pub k: u32,
    /// Only rows whose metadata matches (both sides).
    pub filter: Option<Filter>,
    /// What each hit carries.
    pub include: Include,
    /// How the vector side uses the ANN index.
    pub ann: AnnOptions,
    /// How the sides are fused.
    pub fusion: Fusion,
    /// Drop hits farther than this distance.
    pub max_distance: Option<f64>,
    /// Drop hits whose score is below this.
    pub min_score: Option<f64>,
}

impl SearchRequest {
    /// The `k` nearest neighbours of `vector`, with metadata, without content or vectors.
    pub fn vector(vector: impl Into<VectorValue>, k: u32) -> VectorSearch {
        VectorSearch {
            vector: vector.into(),
            k,
            filter: None,
            include: Include::default(),
            shape: Shape::Nearest,
            ann: AnnOptions::default(),
            max_distance: None,
            min_score: None,
        }
    }

    /// The `k` best full-text matches of `text` on `content` (see [`TextSearch`]).
    pub fn text(text: impl Into<String>, k: u32) -> TextSearch {
        TextSearch {
            text: text.into(),
            k,
            filter: None,
            include: Include::default(),
            min_score: None,
        }
    }

    /// The `k` best of `vector`'s nearest neighbours and `text`'s full-text matches, fused by
    /// reciprocal rank fusion (see [`HybridSearch`] and [`Fusion`]).
    pub fn hybrid(vector: impl Into<VectorValue>, text: impl Into<String>, k: u32) -> HybridSearch {
        HybridSearch {
            vector: vector.into(),
            text: text.into(),
            k,
            filter: None,
            include: Include::default(),
            ann: AnnOptions::default(),
            fusion: Fusion::default(),
            max_distance: None,
            min_score: None,
        }
    }

    /// How many hits (or groups) are asked for.
    pub fn k(&self) -> u32 {
        match self {
            SearchRequest::Vector(search) => search.k,
            SearchRequest::Text(search) => search.k,
            SearchRequest::Hybrid(search) => search.k,
        }
    }

    /// The metadata filter, if any.
    pub fn filter(&self) -> Option<&Filter> {
        match self {
            SearchRequest::Vector(search) => search.filter.as_ref(),
            SearchRequest::Text(search) => search.filter.as_ref(),
            SearchRequest::Hybrid(search) => search.filter.as_ref(),
        }
    }

    /// The query vector (`None` for a text search).
    pub fn query_vector(&self) -> Option<&VectorValue> {
        match self {
            SearchRequest::Vector(search) => Some(&search.vector),
            SearchRequest::Text(_) => None,
            SearchRequest::Hybrid(search) => Some(&search.vector),
        }
    }

    /// The flat form the planner reads (crate-internal): the JSON form's fields, validated
    /// later against the collection.
    pub(crate) fn into_spec(self) -> SearchSpec {
        let vector_required = !matches!(self, SearchRequest::Text(_));
        SearchSpec::from_options(SearchOptions::from(self), vector_required)
    }
}
