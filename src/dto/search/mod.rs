//! Search requests: the typed [`SearchRequest`] a caller builds (`request.rs`), its flat JSON
//! and CLI form [`SearchOptions`] with the one parser between the two (`options.rs`), and the
//! validated flat form the planner reads (`spec.rs`, crate-internal); `builders.rs` holds the
//! builders' setters.

mod builders;
mod options;
mod request;
mod spec;
#[cfg(test)]
mod tests;

pub use options::{SearchOptions, TextOptions};
pub use request::{
    AnnOptions, Fusion, GroupBy, HybridSearch, Include, IterativeScan, Mmr, SearchAfter,
    SearchRequest, Shape, TextSearch, VectorSearch,
};
pub(crate) use spec::SearchSpec;

/// Most neighbours one search returns.
pub const MAX_K: u32 = 1000;

/// Most bytes of a full-text query.
pub const MAX_TEXT_QUERY_BYTES: usize = 2048;

/// Reciprocal rank fusion's constant unless the request says.
///
/// Chosen with [`DEFAULT_VECTOR_WEIGHT`] and [`DEFAULT_TEXT_WEIGHT`] on a real-text known-item
/// set with real sentence embeddings (all-MiniLM-L6-v2; `embedstore-bench hybrid`, see
/// BENCHMARKS.md): the only setting swept where hybrid's MRR@10 is at least the better single
/// side's under both the `simple` and the `english` text configuration. The common 60 (with
/// equal weights) ranked hybrid below text alone there (0.951 vs 0.993): a text side's #1 that
/// the vector side did not return tied the vector side's #1 and lost on the id. A small
/// constant lets a side's first ranks count; the text side weighs more because it only returns
/// rows holding every query word, while the vector side always returns its nearest rows,
/// related or not.
pub const DEFAULT_RRF_K: u32 = 1;

/// The weight of a hybrid search's vector side unless the request says (see
/// [`DEFAULT_RRF_K`]).
pub const DEFAULT_VECTOR_WEIGHT: f64 = 1.0;

/// The weight of a hybrid search's text side unless the request says (see
/// [`DEFAULT_RRF_K`]).
pub const DEFAULT_TEXT_WEIGHT: f64 = 3.0;

/// Most hits a grouped search returns (`k × group_size`).
pub const MAX_GROUPED_HITS: u32 = 10_000;

/// Candidates per hit a quantized index returns for re-ranking unless the request says.
///
/// Measured on real sentence embeddings (13,752 paragraphs of CPython's docstrings embedded
/// with all-MiniLM-L6-v2, 500 withheld paragraphs as queries, HNSW m 16, k 10;
/// `embedstore-bench quant --vectors`, see BENCHMARKS.md): a `binary` index's recall@10 is
/// 0.927 at 4 (the old default), 0.959 at 6, 0.974 at 8, 0.980 at 10, 0.994 at 20; 10 keeps
/// it above 0.95 with room for other data. A `half` index reaches 0.998 at 10 (0.992 at 4;
/// full precision 0.992).
pub const DEFAULT_RERANK_FACTOR: u32 = 10;

/// Most candidates one quantized search re-ranks (`k * rerank_factor`).
pub const MAX_RERANK_CANDIDATES: u32 = 10_000;

/// Matching rows below which a filtered search with a payload-indexed filter scans exactly, in
/// a collection of [`EXACT_THRESHOLD_ROWS`] rows; [`default_exact_threshold`] scales it to the
/// collection's size.
pub const DEFAULT_EXACT_THRESHOLD: u32 = 2000;

/// The collection size at which the default exact threshold is [`DEFAULT_EXACT_THRESHOLD`].
pub const EXACT_THRESHOLD_ROWS: u64 = 100_000;

/// How the default exact threshold grows with the collection's rows (see
/// [`default_exact_threshold`]).
const EXACT_THRESHOLD_EXPONENT: f64 = 0.75;

/// The least default exact threshold, however small the collection: below a thousand matching
/// rows an exact scan costs less than the index walk's fixed cost.
pub const MIN_EXACT_THRESHOLD: u32 = 1000;

/// The exact threshold a filtered search uses unless the request sets one, for a collection of
/// `rows` rows (the partition's statistics; 0 when never analyzed, which gives the
/// [`DEFAULT_EXACT_THRESHOLD`]).
///
/// An exact scan of the `m` matching rows costs a fixed time per row (2.1–3.3 µs for 384
/// dimensions, measured at 100,000 and 1,000,000 rows); a filtered index walk costs about
/// `a + b / s` at selectivity `s = m / rows`, and both `a` and `b` grow with the collection
/// (the graph is deeper and fewer of its pages are cached). Where the two meet — 1,900–2,100
/// matching rows at 100,000 rows, 9,000–10,400 at 1,000,000 (two runs each,
/// `embedstore-bench hot`'s `filter_paths`, BENCHMARKS.md) — grows as `rows^0.64–0.73`. The
/// default is `DEFAULT_EXACT_THRESHOLD · (rows / EXACT_THRESHOLD_ROWS)^0.75`, never below
/// [`MIN_EXACT_THRESHOLD`]: a little above the crossing, since near it the exact scan returns
/// the true neighbours for about the walk's time (a 1 % filter at a million rows: recall 1.0 at
/// 1.0–1.2× the walk's p50, where the walk's recall was 0.87–0.88 at any `ef_search`). Two sizes on one 2-core machine: an order of magnitude, not a law; a request that
/// knows better sets [`with_exact_threshold`](crate::VectorSearch::with_exact_threshold).
#[must_use]
pub fn default_exact_threshold(rows: u64) -> u32 {
    if rows == 0 {
        return DEFAULT_EXACT_THRESHOLD;
    }
    let scale = (rows as f64 / EXACT_THRESHOLD_ROWS as f64).powf(EXACT_THRESHOLD_EXPONENT);
    let threshold = (f64::from(DEFAULT_EXACT_THRESHOLD) * scale).round();
    // Beyond u32::MAX for the largest u64 row counts: clamp.
    (threshold.min(f64::from(u32::MAX)) as u32).max(MIN_EXACT_THRESHOLD)
}
