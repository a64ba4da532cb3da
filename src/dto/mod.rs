//! Validated inputs. This is the only module that uses garde: every DTO is checked here
//! (against its collection's dimension and metric where that matters) and handed on as a
//! `garde::Valid<…>`, the only form the repositories accept.
//!
//! Limits, chosen so that one bad item cannot blow up a batch or a row:
//!
//! | field | rule |
//! | --- | --- |
//! | collection and alias `name` | 1..=63 chars, `^[a-z][a-z0-9_-]*$` |
//! | collection `dimension` | 1..=16000 (pgvector's storage limit) |
//! | collection `model` | 1..=256 bytes, no NUL |
//! | collection `description` | JSON object, at most [`MAX_DESCRIPTION_BYTES`] serialized |
//! | `external_id` | 1..=512 bytes, no NUL |
//! | `vector` | exactly the collection's dimension; every value finite; not all zero under cosine |
//! | `content` | no NUL, at most [`MAX_CONTENT_BYTES`] |
//! | `metadata` | JSON object, at most [`MAX_METADATA_BYTES`] serialized and [`MAX_JSON_DEPTH`] levels deep, no NUL in any key or string |
//! | search `k` | 1..=[`MAX_K`] |

mod alias;
mod collection;
mod embedding;
mod index;
mod rules;
mod search;

pub(crate) use alias::AliasSpec;
pub use collection::NewCollection;
pub(crate) use embedding::CheckedBatch;
pub use embedding::{Duplicates, EmbeddingBatch, NewEmbedding};
pub use index::{IndexMethod, IndexSpec};
pub use rules::{
    CollectionRules, MAX_CONTENT_BYTES, MAX_DESCRIPTION_BYTES, MAX_JSON_DEPTH, MAX_METADATA_BYTES,
};
pub(crate) use rules::{HALF_MAX, beyond_half, conform, half_misfits};
pub(crate) use search::SearchSpec;
pub use search::{
    AnnOptions, DEFAULT_EXACT_THRESHOLD, DEFAULT_RERANK_FACTOR, DEFAULT_RRF_K, DEFAULT_TEXT_WEIGHT,
    DEFAULT_VECTOR_WEIGHT, EXACT_THRESHOLD_ROWS, Fusion, GroupBy, HybridSearch, Include,
    IterativeScan, MAX_GROUPED_HITS, MAX_K, MAX_RERANK_CANDIDATES, MAX_TEXT_QUERY_BYTES,
    MIN_EXACT_THRESHOLD, Mmr, SearchAfter, SearchOptions, SearchRequest, Shape, TextOptions,
    TextSearch, VectorSearch, default_exact_threshold,
};

/// `value` checked against `collection`'s rules: the proof the repositories take, or
/// [`Error::Validation`](crate::Error::Validation) with every failure.
pub(crate) fn valid_for<T: garde::Validate<Context = CollectionRules>>(
    value: T,
    collection: &crate::models::Collection,
) -> crate::Result<garde::Valid<T>> {
    garde::Unvalidated::new(value)
        .validate_with(&CollectionRules::of(collection))
        .map_err(|report| crate::Error::invalid(&report))
}

/// Checks `value` against `collection`'s rules without touching the database: every failure
/// with its path, as a store call would report it.
fn check_against<T: garde::Validate<Context = CollectionRules>>(
    value: &T,
    collection: &crate::models::Collection,
) -> Result<(), crate::ValidationError> {
    value
        .validate_with(&CollectionRules::of(collection))
        .map_err(|report| crate::ValidationError::from_report(&report))
}

impl EmbeddingBatch {
    /// Checks the batch against `collection` (dimension, values, sizes, repeated ids under
    /// [`Duplicates::Reject`]) without touching the database — what a write would refuse, with
    /// every failure's `items[i]…` path.
    ///
    /// # Errors
    /// Every failure.
    pub fn validate_against(
        &self,
        collection: &crate::models::Collection,
    ) -> Result<(), crate::ValidationError> {
        check_against(self, collection)
    }
}

impl SearchRequest {
    /// Checks the request against `collection` (dimension, metric, ranges, filter) without
    /// touching the database — what a search would refuse.
    ///
    /// # Errors
    /// Every failure.
    pub fn validate_against(
        &self,
        collection: &crate::models::Collection,
    ) -> Result<(), crate::ValidationError> {
        self.validate_with_rules(&CollectionRules::of(collection))
    }

    /// Checks the request against a collection's rules (dimension, metric, kind) without a
    /// collection at hand — what a search of such a collection would refuse.
    ///
    /// # Errors
    /// Every failure.
    pub fn validate_with_rules(
        &self,
        rules: &CollectionRules,
    ) -> Result<(), crate::ValidationError> {
        use garde::Validate;
        self.clone()
            .into_spec()
            .validate_with(rules)
            .map_err(|report| crate::ValidationError::from_report(&report))
    }
}
