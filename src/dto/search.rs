use garde::{Unvalidated, Valid, Validate};
use serde::{Deserialize, Serialize};

use crate::dto::rules::{self, CollectionRules};
use crate::models::Collection;

/// Most neighbours one search returns.
pub const MAX_K: u32 = 1000;

/// A nearest-neighbour query against one collection.
///
/// ```
/// use embedstore::SearchRequest;
/// let request = SearchRequest::new(vec![0.1, 0.2, 0.3], 10).with_content(true);
/// assert_eq!(request.k, 10);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[garde(context(CollectionRules))]
#[non_exhaustive]
pub struct SearchRequest {
    /// The query vector: the collection's dimension, finite values.
    #[garde(custom(rules::vector_fits), inner(custom(rules::finite)))]
    pub vector: Vec<f32>,
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
    /// transaction. `None` means pgvector's default, 40. Either way it is raised to `k` when
    /// lower, since an HNSW scan returns at most `ef_search` rows.
    #[serde(default)]
    #[garde(inner(range(min = 1, max = 1000)))]
    pub ef_search: Option<u32>,
}

impl SearchRequest {
    /// The `k` nearest neighbours of `vector`, without content or vectors.
    pub fn new(vector: Vec<f32>, k: u32) -> Self {
        Self {
            vector,
            k,
            include_content: false,
            include_vector: false,
            ef_search: None,
        }
    }

    /// Whether hits carry their `content`.
    pub fn with_content(mut self, include: bool) -> Self {
        self.include_content = include;
        self
    }

    /// Whether hits carry their vectors.
    pub fn with_vector(mut self, include: bool) -> Self {
        self.include_vector = include;
        self
    }

    /// Checks the request against `collection` (dimension, metric, ranges).
    ///
    /// # Errors
    /// The garde report listing every failure.
    pub fn validate_for(self, collection: &Collection) -> Result<Valid<Self>, garde::Report> {
        Unvalidated::new(self).validate_with(&CollectionRules::of(collection))
    }

    /// Sets `hnsw.ef_search` for this query.
    pub fn with_ef_search(mut self, ef_search: u32) -> Self {
        self.ef_search = Some(ef_search);
        self
    }
}
