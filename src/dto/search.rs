use garde::{Valid, Validate};
use serde::{Deserialize, Serialize};

use crate::dto::rules::CollectionRules;
use crate::filter::{FieldPath, Filter};
use crate::models::Collection;
use crate::vector::VectorValue;

/// Most neighbours one search returns.
pub const MAX_K: u32 = 1000;

/// How pgvector continues an index scan when a filter removed rows (pgvector's
/// `hnsw.iterative_scan` / `ivfflat.iterative_scan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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

/// Where a previous page of results ended: the next page starts after this (distance, id).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Validate)]
#[garde(context(CollectionRules))]
pub struct SearchAfter {
    /// The last hit's distance.
    #[garde(custom(finite_distance))]
    pub distance: f64,
    /// The last hit's id.
    #[garde(skip)]
    pub id: i64,
}

/// A nearest-neighbour query against one collection.
///
/// ```
/// use embedstore::SearchRequest;
/// let request = SearchRequest::new(vec![0.1, 0.2, 0.3], 10).include_content(true);
/// assert_eq!(request.k, 10);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[garde(context(CollectionRules))]
#[non_exhaustive]
pub struct SearchRequest {
    /// The query vector: the collection's dimension, finite values. Empty for a full-text
    /// search without a vector ([`SearchRequest::text`]).
    #[garde(dive, custom(query_vector_present(self.text.is_some())))]
    pub vector: VectorValue,
    /// How many neighbours to return, 1..=[`MAX_K`].
    #[garde(range(min = 1, max = 1000))]
    pub k: u32,
    /// Return each hit's `content`.
    #[serde(default)]
    #[garde(skip)]
    pub include_content: bool,
    /// Return each hit's vector.
    #[serde(default)]
    #[garde(skip)]
    pub include_vector: bool,
    /// HNSW candidate list size for this query (`hnsw.ef_search`, 1..=1000), scoped to the
    /// statement (or the unit of work's transaction). `None` means pgvector's default, 40.
    /// Either way it is raised to `k` when lower, since an HNSW scan returns at most
    /// `ef_search` rows.
    #[serde(default)]
    #[garde(inner(range(min = 1, max = 1000)))]
    pub ef_search: Option<u32>,
    /// Return each hit's metadata (default true); false returns ids and distances only, which
    /// reads less of each row.
    #[serde(default = "yes")]
    #[garde(skip)]
    pub include_metadata: bool,
    /// IVFFlat lists to probe (`ivfflat.probes`, 1..=32768); `None` keeps pgvector's default, 1.
    #[serde(default)]
    #[garde(inner(range(min = 1, max = 32768)))]
    pub probes: Option<u32>,
    /// The iterative-scan mode; `None` lets embedstore choose: off without a filter,
    /// `relaxed_order` with one (hits are re-sorted, so they still come nearest first).
    #[serde(default)]
    #[garde(skip)]
    pub iterative: Option<IterativeScan>,
    /// Most tuples an iterative HNSW scan visits (`hnsw.max_scan_tuples`), or most lists an
    /// iterative IVFFlat scan probes (`ivfflat.max_probes`); `None` keeps pgvector's defaults.
    #[serde(default)]
    #[garde(inner(range(min = 1, max = 100_000_000)))]
    pub max_scan_tuples: Option<u32>,
    /// Always scan exactly (no ANN index), whatever the planner would pick.
    #[serde(default)]
    #[garde(skip)]
    pub exact: bool,
    /// Only rows whose metadata matches.
    #[serde(default)]
    #[garde(custom(filter_fits))]
    pub filter: Option<Filter>,
    /// Drop hits farther than this distance.
    #[serde(default)]
    #[garde(inner(custom(finite_distance)))]
    pub max_distance: Option<f64>,
    /// Drop hits whose score is below this.
    #[serde(default)]
    #[garde(inner(custom(finite_distance)))]
    pub min_score: Option<f64>,
    /// Return the neighbours after this one (keyset paging: the next `k` without OFFSET).
    #[serde(default)]
    #[garde(dive)]
    pub after: Option<SearchAfter>,
    /// With a filter served by a payload index: when the planner estimates fewer matching rows
    /// than this, scan exactly those rows instead of walking the ANN index (default
    /// [`DEFAULT_EXACT_THRESHOLD`]).
    #[serde(default)]
    #[garde(inner(range(min = 1, max = 10_000_000)))]
    pub exact_threshold: Option<u32>,
    /// On a quantized ANN index ([`IndexSpec::quantization`](crate::IndexSpec)): how many
    /// candidates per hit the index returns (`k * rerank_factor`, at most
    /// [`MAX_RERANK_CANDIDATES`]) before they are re-ranked by the exact distance in the same
    /// statement; 1..=100, `None` means [`DEFAULT_RERANK_FACTOR`]. Ignored by other paths.
    #[serde(default)]
    #[garde(inner(range(min = 1, max = 100)), custom(candidates_fit(self.k)))]
    pub rerank_factor: Option<u32>,
    /// Maximal marginal relevance: pick the `k` hits from `fetch_k` nearest candidates so that
    /// they are relevant and unlike each other (see [`Mmr`]).
    #[serde(default)]
    #[garde(custom(mmr_fits(self.k, self.after.is_some())))]
    pub mmr: Option<Mmr>,
    /// Grouped hits: the best `group_size` hits for each of the `k` groups (distinct values of
    /// a metadata field) nearest the query (see [`GroupBy`]).
    #[serde(default)]
    #[garde(custom(group_by_fits(self.k, self.after.is_some(), self.mmr.is_some())))]
    pub group_by: Option<GroupBy>,
    /// Full-text search on `content` ([`TextQuery`]): alone when `vector` is empty, fused with
    /// the vector search by reciprocal rank fusion otherwise.
    #[serde(default)]
    #[garde(custom(text_fits(
        self.k,
        self.after.is_some() || self.mmr.is_some() || self.group_by.is_some(),
        self.vector.is_empty() && self.max_distance.is_some(),
    )))]
    pub text: Option<TextQuery>,
}

/// Most bytes of a full-text query.
pub const MAX_TEXT_QUERY_BYTES: usize = 2048;

/// Reciprocal rank fusion's constant unless the request says.
pub const DEFAULT_RRF_K: u32 = 60;

/// A full-text query on `content` and, in a hybrid search, how it is fused with the vector
/// search.
///
/// The text reaches SQL only as a bound parameter of `websearch_to_tsquery(config, $n)` (the
/// syntax of web search engines: `"exact phrase"`, `or`, `-excluded`; it never fails on
/// syntax), `config` being the collection's text index's configuration (`simple` without
/// one). Hybrid: each side fetches `fetch_k` candidates — the vector side as a plain search
/// would (ANN or exact, with the filter), the text side ranked by `ts_rank_cd` — and every
/// candidate scores `vector_weight / (rrf_k + vector rank) + text_weight / (rrf_k + text rank)`
/// (a side that did not return it adds nothing); the `k` best come back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextQuery {
    /// The query text: at most [`MAX_TEXT_QUERY_BYTES`] bytes, no NUL, at least one letter
    /// or digit.
    pub query: String,
    /// Candidates per side in a hybrid search, `k..=1000`; `None` means `4 × k` (at most 1000).
    #[serde(default)]
    pub fetch_k: Option<u32>,
    /// RRF's constant, 1..=10,000; `None` means [`DEFAULT_RRF_K`].
    #[serde(default)]
    pub rrf_k: Option<u32>,
    /// Weight of the vector side's reciprocal rank (finite, ≥ 0; default 1).
    #[serde(default)]
    pub vector_weight: Option<f64>,
    /// Weight of the text side's reciprocal rank (finite, ≥ 0; default 1).
    #[serde(default)]
    pub text_weight: Option<f64>,
}

impl TextQuery {
    /// Candidates per side for a search of `k`.
    pub fn fetch_k_for(&self, k: u32) -> u32 {
        self.fetch_k
            .unwrap_or_else(|| k.saturating_mul(4).min(MAX_K))
            .max(k)
    }
}

/// An empty query vector is a text-only search's; otherwise [`VectorValue`]'s own validation
/// (`dive`) checks it against the collection.
fn query_vector_present(
    text: bool,
) -> impl FnOnce(&VectorValue, &CollectionRules) -> garde::Result {
    move |vector, rules| {
        if vector.is_empty() && !text {
            return Err(garde::Error::new(format!(
                "expected a vector of {} dimensions, got an empty one",
                rules.dimension
            )));
        }
        Ok(())
    }
}

fn text_fits(
    k: u32,
    combined: bool,
    distance_without_vector: bool,
) -> impl FnOnce(&Option<TextQuery>, &CollectionRules) -> garde::Result {
    move |text, _| {
        let Some(text) = text else {
            return Ok(());
        };
        let query = &text.query;
        if query.len() > MAX_TEXT_QUERY_BYTES {
            return Err(garde::Error::new(format!(
                "the query is {} bytes long, at most {MAX_TEXT_QUERY_BYTES} are allowed",
                query.len()
            )));
        }
        if query.contains('\0') {
            return Err(garde::Error::new("the query contains a NUL character"));
        }
        if !query.chars().any(char::is_alphanumeric) {
            return Err(garde::Error::new(
                "the query has no words (no letter or digit)",
            ));
        }
        if let Some(fetch_k) = text.fetch_k {
            if fetch_k < k || fetch_k > MAX_K {
                return Err(garde::Error::new(format!(
                    "fetch_k must be in k..={MAX_K} (k = {k}), got {fetch_k}"
                )));
            }
        }
        if let Some(rrf_k) = text.rrf_k {
            if !(1..=10_000).contains(&rrf_k) {
                return Err(garde::Error::new(format!(
                    "rrf_k must be in 1..=10000, got {rrf_k}"
                )));
            }
        }
        let weights = [text.vector_weight, text.text_weight];
        if weights
            .iter()
            .flatten()
            .any(|weight| !weight.is_finite() || *weight < 0.0)
        {
            return Err(garde::Error::new("weights must be finite and at least 0"));
        }
        if weights.iter().all(|weight| *weight == Some(0.0)) {
            return Err(garde::Error::new("at least one weight must be above 0"));
        }
        if combined {
            return Err(garde::Error::new(
                "cannot be combined with `after` paging, MMR or grouped hits",
            ));
        }
        if distance_without_vector {
            return Err(garde::Error::new(
                "max_distance needs a query vector (a text-only hit has no distance)",
            ));
        }
        Ok(())
    }
}

/// Most hits a grouped search returns (`k × group_size`).
pub const MAX_GROUPED_HITS: u32 = 10_000;

/// Grouped hits: rows are grouped by the value of a metadata field (e.g. the chunks of one
/// document); a group's distance is its nearest member's; the `k` nearest groups come back,
/// each with its `group_size` nearest members. Rows without the field (or with JSON `null`
/// there) belong to no group. One statement, an exact scan of the matching rows (a payload
/// index on the filter narrows them), so every group the filter admits is considered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupBy {
    /// The metadata field, as a dotted [`FieldPath`] (`doc.id`; `\.` for a dot in a key).
    pub field: String,
    /// Hits per group, 1..=100.
    pub group_size: u32,
}

fn group_by_fits(
    k: u32,
    after: bool,
    mmr: bool,
) -> impl FnOnce(&Option<GroupBy>, &CollectionRules) -> garde::Result {
    move |group_by, _| {
        let Some(group_by) = group_by else {
            return Ok(());
        };
        FieldPath::parse(&group_by.field).map_err(|error| garde::Error::new(error.to_string()))?;
        if !(1..=100).contains(&group_by.group_size) {
            return Err(garde::Error::new(format!(
                "group_size must be in 1..=100, got {}",
                group_by.group_size
            )));
        }
        let hits = u64::from(k) * u64::from(group_by.group_size);
        if hits > u64::from(MAX_GROUPED_HITS) {
            return Err(garde::Error::new(format!(
                "k * group_size = {hits} hits, at most {MAX_GROUPED_HITS} are returned"
            )));
        }
        if after || mmr {
            return Err(garde::Error::new(
                "cannot be combined with `after` paging or MMR",
            ));
        }
        Ok(())
    }
}

/// Maximal marginal relevance over the `fetch_k` nearest candidates, which the search fetches
/// with their stored vectors in its one statement; the greedy selection runs in Rust under the
/// collection's metric, its similarity being the metric's score ([`Metric::score`]):
/// `λ · sim(query, c) − (1 − λ) · max sim(c, chosen)`.
///
/// [`Metric::score`]: crate::Metric::score
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mmr {
    /// Weight of relevance against diversity, in [0, 1]: 1 ranks by relevance alone, 0 by
    /// diversity alone.
    pub lambda: f64,
    /// Candidates to choose from: at least `k`, at most [`MAX_K`].
    pub fetch_k: u32,
}

fn mmr_fits(k: u32, after: bool) -> impl FnOnce(&Option<Mmr>, &CollectionRules) -> garde::Result {
    move |mmr, _| {
        let Some(mmr) = mmr else {
            return Ok(());
        };
        if !mmr.lambda.is_finite() || !(0.0..=1.0).contains(&mmr.lambda) {
            return Err(garde::Error::new(format!(
                "lambda must be a number in [0, 1], got {}",
                mmr.lambda
            )));
        }
        if mmr.fetch_k < k || mmr.fetch_k > MAX_K {
            return Err(garde::Error::new(format!(
                "fetch_k must be in k..={MAX_K} (k = {k}), got {}",
                mmr.fetch_k
            )));
        }
        if after {
            return Err(garde::Error::new(
                "cannot page with `after`: MMR hits are not in distance order",
            ));
        }
        Ok(())
    }
}

/// Candidates per hit a quantized index returns for re-ranking unless the request says.
pub const DEFAULT_RERANK_FACTOR: u32 = 4;

/// Most candidates one quantized search re-ranks (`k * rerank_factor`).
pub const MAX_RERANK_CANDIDATES: u32 = 10_000;

fn candidates_fit(k: u32) -> impl FnOnce(&Option<u32>, &CollectionRules) -> garde::Result {
    move |factor, _| match factor {
        Some(factor) if u64::from(k) * u64::from(*factor) > u64::from(MAX_RERANK_CANDIDATES) => {
            Err(garde::Error::new(format!(
                "k * rerank_factor = {} candidates, at most {MAX_RERANK_CANDIDATES} are re-ranked",
                u64::from(k) * u64::from(*factor)
            )))
        }
        _ => Ok(()),
    }
}

/// Matching rows below which a filtered search with a payload-indexed filter scans exactly.
pub const DEFAULT_EXACT_THRESHOLD: u32 = 2000;

fn yes() -> bool {
    true
}

fn finite_distance(value: &f64, _: &CollectionRules) -> garde::Result {
    if value.is_finite() {
        Ok(())
    } else {
        Err(garde::Error::new("must be a finite number"))
    }
}

fn filter_fits(filter: &Option<Filter>, _: &CollectionRules) -> garde::Result {
    match filter {
        Some(filter) => filter
            .check()
            .map_err(|error| garde::Error::new(error.to_string())),
        None => Ok(()),
    }
}

impl SearchRequest {
    /// The `k` nearest neighbours of `vector`, without content or vectors.
    pub fn new(vector: impl Into<VectorValue>, k: u32) -> Self {
        Self {
            vector: vector.into(),
            k,
            include_content: false,
            include_vector: false,
            ef_search: None,
            include_metadata: true,
            probes: None,
            iterative: None,
            max_scan_tuples: None,
            exact: false,
            filter: None,
            max_distance: None,
            min_score: None,
            after: None,
            exact_threshold: None,
            rerank_factor: None,
            mmr: None,
            group_by: None,
            text: None,
        }
    }

    /// Whether hits carry their metadata (default true).
    pub fn include_metadata(mut self, include: bool) -> Self {
        self.include_metadata = include;
        self
    }

    /// Only rows matching `filter`.
    pub fn with_filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Sets `ivfflat.probes`.
    pub fn with_probes(mut self, probes: u32) -> Self {
        self.probes = Some(probes);
        self
    }

    /// Sets the iterative-scan mode.
    pub fn with_iterative(mut self, mode: IterativeScan) -> Self {
        self.iterative = Some(mode);
        self
    }

    /// Sets `hnsw.max_scan_tuples` / `ivfflat.max_probes`.
    pub fn with_max_scan_tuples(mut self, tuples: u32) -> Self {
        self.max_scan_tuples = Some(tuples);
        self
    }

    /// Forces an exact scan.
    pub fn with_exact(mut self, exact: bool) -> Self {
        self.exact = exact;
        self
    }

    /// Drops hits farther than `distance`.
    pub fn with_max_distance(mut self, distance: f64) -> Self {
        self.max_distance = Some(distance);
        self
    }

    /// Drops hits scoring below `score`.
    pub fn with_min_score(mut self, score: f64) -> Self {
        self.min_score = Some(score);
        self
    }

    /// Continues after a hit of a previous page.
    pub fn with_after(mut self, distance: f64, id: i64) -> Self {
        self.after = Some(SearchAfter { distance, id });
        self
    }

    /// Sets the exact-scan threshold for payload-indexed filters.
    pub fn with_exact_threshold(mut self, rows: u32) -> Self {
        self.exact_threshold = Some(rows);
        self
    }

    /// The same request for another query vector (batch search, recall probes).
    pub fn with_query(mut self, vector: impl Into<VectorValue>) -> Self {
        self.vector = vector.into();
        self
    }

    /// Whether hits carry their `content`.
    pub fn include_content(mut self, include: bool) -> Self {
        self.include_content = include;
        self
    }

    /// Whether hits carry their vectors.
    pub fn include_vector(mut self, include: bool) -> Self {
        self.include_vector = include;
        self
    }

    /// Checks the request against `collection` (dimension, metric, ranges).
    ///
    /// # Errors
    /// [`Error::Validation`](crate::Error::Validation) listing every failure with its path.
    pub(crate) fn validate_for(self, collection: &Collection) -> crate::Result<Valid<Self>> {
        super::valid_for(self, collection)
    }

    /// Picks the `k` hits by maximal marginal relevance from the `fetch_k` nearest candidates,
    /// weighing relevance by `lambda` in [0, 1] (see [`Mmr`]).
    pub fn with_mmr(mut self, lambda: f64, fetch_k: u32) -> Self {
        self.mmr = Some(Mmr { lambda, fetch_k });
        self
    }

    /// A full-text search of `query` on `content` without a vector: the `k` best matches by
    /// `ts_rank_cd` (see [`TextQuery`]).
    pub fn text(query: impl Into<String>, k: u32) -> Self {
        Self::new(Vec::new(), k).with_text(query)
    }

    /// Adds a full-text query: with a vector, a hybrid search fused by reciprocal rank fusion
    /// (see [`TextQuery`]).
    pub fn with_text(mut self, query: impl Into<String>) -> Self {
        self.text = Some(TextQuery {
            query: query.into(),
            fetch_k: None,
            rrf_k: None,
            vector_weight: None,
            text_weight: None,
        });
        self
    }

    /// Hybrid search: candidates per side (`k..=1000`). Needs [`SearchRequest::with_text`].
    pub fn with_fetch_k(mut self, fetch_k: u32) -> Self {
        if let Some(text) = &mut self.text {
            text.fetch_k = Some(fetch_k);
        }
        self
    }

    /// Hybrid search: RRF's constant. Needs [`SearchRequest::with_text`].
    pub fn with_rrf_k(mut self, rrf_k: u32) -> Self {
        if let Some(text) = &mut self.text {
            text.rrf_k = Some(rrf_k);
        }
        self
    }

    /// Hybrid search: the weights of the vector and the text side's reciprocal ranks. Needs
    /// [`SearchRequest::with_text`].
    pub fn with_weights(mut self, vector: f64, text: f64) -> Self {
        if let Some(query) = &mut self.text {
            query.vector_weight = Some(vector);
            query.text_weight = Some(text);
        }
        self
    }

    /// Groups hits by the metadata `field`: the `group_size` nearest hits of each of the `k`
    /// nearest groups (see [`GroupBy`]).
    pub fn with_group_by(mut self, field: &FieldPath, group_size: u32) -> Self {
        self.group_by = Some(GroupBy {
            field: field.to_string(),
            group_size,
        });
        self
    }

    /// Sets how many candidates per hit a quantized index returns for the exact re-rank.
    pub fn with_rerank_factor(mut self, factor: u32) -> Self {
        self.rerank_factor = Some(factor);
        self
    }

    /// The candidates a quantized index returns for this request's exact re-rank:
    /// `k * rerank_factor`, capped at [`MAX_RERANK_CANDIDATES`].
    pub fn rerank_candidates(&self) -> u32 {
        self.k
            .saturating_mul(self.rerank_factor.unwrap_or(DEFAULT_RERANK_FACTOR))
            .clamp(self.k, MAX_RERANK_CANDIDATES.max(self.k))
    }

    /// Sets `hnsw.ef_search` for this query.
    pub fn with_ef_search(mut self, ef_search: u32) -> Self {
        self.ef_search = Some(ef_search);
        self
    }
}
