//! The flat, validated form of a [`SearchRequest`](crate::SearchRequest) that the planner and
//! the statement builders read: one field per setting, checked by garde against the
//! collection. Never public: a caller states a search through the typed request, whose kinds
//! rule out the combinations this form could hold.

use garde::{Valid, Validate};

use crate::dto::rules::CollectionRules;
use crate::dto::search::options::{SearchOptions, TextOptions};
use crate::dto::search::request::{GroupBy, IterativeScan, Mmr, SearchAfter};
use crate::dto::search::{
    DEFAULT_RERANK_FACTOR, MAX_GROUPED_HITS, MAX_K, MAX_RERANK_CANDIDATES, MAX_TEXT_QUERY_BYTES,
};
use crate::filter::{FieldPath, Filter};
use crate::models::Collection;
use crate::vector::VectorValue;

/// A search as the planner reads it. Field names are the JSON form's, so a validation failure
/// names the field the caller set (`vector[3]`, `ef_search`, `text`).
#[derive(Debug, Clone, PartialEq, Validate)]
#[garde(context(CollectionRules))]
pub(crate) struct SearchSpec {
    /// The query vector; empty for a text search.
    #[garde(dive, custom(query_vector_present(self.vector_required)))]
    pub vector: VectorValue,
    /// Whether the kind of search needs a vector (vector and hybrid searches).
    #[garde(skip)]
    pub vector_required: bool,
    #[garde(range(min = 1, max = 1000))]
    pub k: u32,
    #[garde(skip)]
    pub include_content: bool,
    #[garde(skip)]
    pub include_vector: bool,
    #[garde(skip)]
    pub include_metadata: bool,
    #[garde(inner(range(min = 1, max = 1000)))]
    pub ef_search: Option<u32>,
    #[garde(inner(range(min = 1, max = 32768)))]
    pub probes: Option<u32>,
    #[garde(skip)]
    pub iterative: Option<IterativeScan>,
    #[garde(inner(range(min = 1, max = 100_000_000)))]
    pub max_scan_tuples: Option<u32>,
    #[garde(skip)]
    pub exact: bool,
    #[garde(custom(filter_fits))]
    pub filter: Option<Filter>,
    #[garde(inner(custom(finite_distance)))]
    pub max_distance: Option<f64>,
    #[garde(inner(custom(finite_distance)))]
    pub min_score: Option<f64>,
    #[garde(custom(after_fits))]
    pub after: Option<SearchAfter>,
    #[garde(inner(range(min = 1, max = 10_000_000)))]
    pub exact_threshold: Option<u32>,
    #[garde(inner(range(min = 1, max = 100)), custom(candidates_fit(self.k)))]
    pub rerank_factor: Option<u32>,
    #[garde(custom(mmr_fits(self.k)))]
    pub mmr: Option<Mmr>,
    #[garde(custom(group_by_fits(self.k)))]
    pub group_by: Option<GroupBy>,
    #[garde(custom(text_fits(self.k)))]
    pub text: Option<TextSpec>,
}

/// A text query and, in a hybrid search, how it is fused.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TextSpec {
    pub query: String,
    pub fetch_k: Option<u32>,
    pub rrf_k: Option<u32>,
    pub vector_weight: Option<f64>,
    pub text_weight: Option<f64>,
}

impl From<TextOptions> for TextSpec {
    fn from(text: TextOptions) -> Self {
        Self {
            query: text.query,
            fetch_k: text.fetch_k,
            rrf_k: text.rrf_k,
            vector_weight: text.vector_weight,
            text_weight: text.text_weight,
        }
    }
}

impl TextSpec {
    /// Candidates per side for a search of `k`.
    pub(crate) fn fetch_k_for(&self, k: u32) -> u32 {
        self.fetch_k
            .unwrap_or_else(|| k.saturating_mul(4).min(MAX_K))
            .max(k)
    }
}

impl SearchSpec {
    /// The spec of a search stated in the flat form; `vector_required` for the kinds that have a
    /// vector side (vector and hybrid searches).
    pub(crate) fn from_options(options: SearchOptions, vector_required: bool) -> Self {
        Self {
            vector: options.vector,
            vector_required,
            k: options.k,
            include_content: options.include_content,
            include_vector: options.include_vector,
            include_metadata: options.include_metadata,
            ef_search: options.ef_search,
            probes: options.probes,
            iterative: options.iterative,
            max_scan_tuples: options.max_scan_tuples,
            exact: options.exact,
            filter: options.filter,
            max_distance: options.max_distance,
            min_score: options.min_score,
            after: options.after,
            exact_threshold: options.exact_threshold,
            rerank_factor: options.rerank_factor,
            mmr: options.mmr,
            group_by: options.group_by,
            text: options.text.map(TextSpec::from),
        }
    }

    /// The same search for another query vector (batch search, recall probes).
    pub(crate) fn with_query(mut self, vector: impl Into<VectorValue>) -> Self {
        self.vector = vector.into();
        self
    }

    /// The candidates a quantized index returns for this request's exact re-rank:
    /// `k * rerank_factor`, capped at [`MAX_RERANK_CANDIDATES`].
    pub(crate) fn rerank_candidates(&self) -> u32 {
        self.k
            .saturating_mul(self.rerank_factor.unwrap_or(DEFAULT_RERANK_FACTOR))
            .clamp(self.k, MAX_RERANK_CANDIDATES.max(self.k))
    }

    /// Checks the request against `collection` (dimension, metric, ranges).
    ///
    /// # Errors
    /// [`Error::Validation`](crate::Error::Validation) listing every failure with its path.
    pub(crate) fn validate_for(self, collection: &Collection) -> crate::Result<Valid<Self>> {
        crate::dto::valid_for(self, collection)
    }
}

/// A vector or hybrid search needs its vector; [`VectorValue`]'s own validation (`dive`) checks
/// it against the collection.
fn query_vector_present(
    required: bool,
) -> impl FnOnce(&VectorValue, &CollectionRules) -> garde::Result {
    move |vector, rules| {
        if vector.is_empty() && required {
            return Err(garde::Error::new(format!(
                "expected a vector of {} dimensions, got an empty one",
                rules.dimension
            )));
        }
        Ok(())
    }
}

fn text_fits(k: u32) -> impl FnOnce(&Option<TextSpec>, &CollectionRules) -> garde::Result {
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
        Ok(())
    }
}

fn group_by_fits(k: u32) -> impl FnOnce(&Option<GroupBy>, &CollectionRules) -> garde::Result {
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
        Ok(())
    }
}

fn mmr_fits(k: u32) -> impl FnOnce(&Option<Mmr>, &CollectionRules) -> garde::Result {
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
        Ok(())
    }
}

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

fn finite_distance(value: &f64, _: &CollectionRules) -> garde::Result {
    if value.is_finite() {
        Ok(())
    } else {
        Err(garde::Error::new("must be a finite number"))
    }
}

fn after_fits(after: &Option<SearchAfter>, rules: &CollectionRules) -> garde::Result {
    match after {
        Some(after) => finite_distance(&after.distance, rules),
        None => Ok(()),
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

/// Setters for the statement builders' unit tests, which state specs directly.
#[cfg(test)]
impl SearchSpec {
    pub(crate) fn new(vector: impl Into<VectorValue>, k: u32) -> Self {
        let mut options = SearchOptions::new(k);
        options.vector = vector.into();
        Self::from_options(options, true)
    }

    pub(crate) fn with_filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    pub(crate) fn with_probes(mut self, probes: u32) -> Self {
        self.probes = Some(probes);
        self
    }

    pub(crate) fn with_iterative(mut self, mode: IterativeScan) -> Self {
        self.iterative = Some(mode);
        self
    }

    pub(crate) fn with_max_scan_tuples(mut self, tuples: u32) -> Self {
        self.max_scan_tuples = Some(tuples);
        self
    }

    pub(crate) fn with_rerank_factor(mut self, factor: u32) -> Self {
        self.rerank_factor = Some(factor);
        self
    }

    pub(crate) fn with_max_distance(mut self, distance: f64) -> Self {
        self.max_distance = Some(distance);
        self
    }

    pub(crate) fn with_after(mut self, distance: f64, id: i64) -> Self {
        self.after = Some(SearchAfter::new(distance, id));
        self
    }

    pub(crate) fn with_mmr(mut self, lambda: f64, fetch_k: u32) -> Self {
        self.mmr = Some(Mmr::new(lambda, fetch_k));
        self
    }

    pub(crate) fn with_group_by(mut self, field: &FieldPath, group_size: u32) -> Self {
        self.group_by = Some(GroupBy::new(field, group_size));
        self
    }

    pub(crate) fn with_text(mut self, query: &str) -> Self {
        self.text = Some(TextSpec::from(TextOptions::query(query)));
        self
    }

    pub(crate) fn with_fetch_k(mut self, fetch_k: u32) -> Self {
        if let Some(text) = &mut self.text {
            text.fetch_k = Some(fetch_k);
        }
        self
    }

    pub(crate) fn with_rrf_k(mut self, rrf_k: u32) -> Self {
        if let Some(text) = &mut self.text {
            text.rrf_k = Some(rrf_k);
        }
        self
    }

    pub(crate) fn with_weights(mut self, vector: f64, text: f64) -> Self {
        if let Some(query) = &mut self.text {
            query.vector_weight = Some(vector);
            query.text_weight = Some(text);
        }
        self
    }

    pub(crate) fn include_content(mut self, include: bool) -> Self {
        self.include_content = include;
        self
    }

    pub(crate) fn include_vector(mut self, include: bool) -> Self {
        self.include_vector = include;
        self
    }

    pub(crate) fn include_metadata(mut self, include: bool) -> Self {
        self.include_metadata = include;
        self
    }
}
