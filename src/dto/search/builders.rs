//! The builders' setters: the ones every kind of search has, the vector side's (vector and
//! hybrid searches), and each kind's own; and the conversions into [`SearchRequest`].

use crate::dto::search::request::{
    AnnOptions, HybridSearch, IterativeScan, SearchRequest, Shape, TextSearch, VectorSearch,
};
use crate::filter::Filter;
use crate::vector::VectorValue;

impl From<&SearchRequest> for SearchRequest {
    fn from(request: &SearchRequest) -> Self {
        request.clone()
    }
}

/// The setters every kind of search has.
macro_rules! common_setters {
    ($kind:ty) => {
        impl $kind {
            /// Only rows matching `filter`.
            pub fn with_filter(mut self, filter: Filter) -> Self {
                self.filter = Some(filter);
                self
            }

            /// Whether hits carry their `content` (default false).
            pub fn include_content(mut self, include: bool) -> Self {
                self.include.content = include;
                self
            }

            /// Whether hits carry their vectors (default false).
            pub fn include_vector(mut self, include: bool) -> Self {
                self.include.vector = include;
                self
            }

            /// Whether hits carry their metadata (default true).
            pub fn include_metadata(mut self, include: bool) -> Self {
                self.include.metadata = include;
                self
            }

            /// Drops hits scoring below `score`.
            pub fn with_min_score(mut self, score: f64) -> Self {
                self.min_score = Some(score);
                self
            }
        }

        impl From<$kind> for SearchRequest {
            fn from(search: $kind) -> Self {
                search.into_request()
            }
        }

        impl From<&$kind> for SearchRequest {
            fn from(search: &$kind) -> Self {
                search.clone().into_request()
            }
        }
    };
}

/// The setters of the searches that have a vector side.
macro_rules! vector_setters {
    ($kind:ty) => {
        impl $kind {
            /// Forces an exact scan (no ANN index).
            pub fn with_exact(mut self, exact: bool) -> Self {
                self.ann.exact = exact;
                self
            }

            /// Sets `hnsw.ef_search` for this query.
            pub fn with_ef_search(mut self, ef_search: u32) -> Self {
                self.ann.ef_search = Some(ef_search);
                self
            }

            /// Sets `ivfflat.probes`.
            pub fn with_probes(mut self, probes: u32) -> Self {
                self.ann.probes = Some(probes);
                self
            }

            /// Sets the iterative-scan mode.
            pub fn with_iterative(mut self, mode: IterativeScan) -> Self {
                self.ann.iterative = Some(mode);
                self
            }

            /// Sets `hnsw.max_scan_tuples` / `ivfflat.max_probes`.
            pub fn with_max_scan_tuples(mut self, tuples: u32) -> Self {
                self.ann.max_scan_tuples = Some(tuples);
                self
            }

            /// Sets the exact-scan threshold for payload-indexed filters.
            pub fn with_exact_threshold(mut self, rows: u32) -> Self {
                self.ann.exact_threshold = Some(rows);
                self
            }

            /// Sets how many candidates per hit a quantized index returns for the exact
            /// re-rank.
            pub fn with_rerank_factor(mut self, factor: u32) -> Self {
                self.ann.rerank_factor = Some(factor);
                self
            }

            /// Replaces every ANN option at once.
            pub fn with_ann(mut self, ann: AnnOptions) -> Self {
                self.ann = ann;
                self
            }

            /// Drops hits farther than `distance`.
            pub fn with_max_distance(mut self, distance: f64) -> Self {
                self.max_distance = Some(distance);
                self
            }

            /// The same search for another query vector (batch search, recall probes).
            pub fn with_query(mut self, vector: impl Into<VectorValue>) -> Self {
                self.vector = vector.into();
                self
            }
        }
    };
}

common_setters!(VectorSearch);
common_setters!(TextSearch);
common_setters!(HybridSearch);
vector_setters!(VectorSearch);
vector_setters!(HybridSearch);

impl VectorSearch {
    /// What comes back: the nearest (default), a page after a hit, MMR or groups.
    pub fn with_shape(mut self, shape: Shape) -> Self {
        self.shape = shape;
        self
    }

    fn into_request(self) -> SearchRequest {
        SearchRequest::Vector(self)
    }
}

impl TextSearch {
    fn into_request(self) -> SearchRequest {
        SearchRequest::Text(self)
    }
}

impl HybridSearch {
    /// Candidates per side (`k..=1000`).
    pub fn with_fetch_k(mut self, fetch_k: u32) -> Self {
        self.fusion.fetch_k = Some(fetch_k);
        self
    }

    /// Reciprocal rank fusion's constant.
    pub fn with_rrf_k(mut self, rrf_k: u32) -> Self {
        self.fusion.rrf_k = Some(rrf_k);
        self
    }

    /// The weights of the vector and the text side's reciprocal ranks.
    pub fn with_weights(mut self, vector: f64, text: f64) -> Self {
        self.fusion.vector_weight = Some(vector);
        self.fusion.text_weight = Some(text);
        self
    }

    fn into_request(self) -> SearchRequest {
        SearchRequest::Hybrid(self)
    }
}
