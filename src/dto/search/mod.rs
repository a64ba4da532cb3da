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
pub const DEFAULT_RRF_K: u32 = 60;

/// Most hits a grouped search returns (`k × group_size`).
pub const MAX_GROUPED_HITS: u32 = 10_000;

/// Candidates per hit a quantized index returns for re-ranking unless the request says.
pub const DEFAULT_RERANK_FACTOR: u32 = 4;

/// Most candidates one quantized search re-ranks (`k * rerank_factor`).
pub const MAX_RERANK_CANDIDATES: u32 = 10_000;

/// Matching rows below which a filtered search with a payload-indexed filter scans exactly.
pub const DEFAULT_EXACT_THRESHOLD: u32 = 2000;
