//! Validated inputs. This is the only module that uses garde: every DTO is checked here
//! (against its collection's dimension and metric where that matters) and handed on as a
//! `garde::Valid<…>`, the only form the repositories accept.
//!
//! Limits, chosen so that one bad item cannot blow up a batch or a row:
//!
//! | field | rule |
//! | --- | --- |
//! | collection `name` | 1..=63 chars, `^[a-z][a-z0-9_-]*$` |
//! | collection `dimension` | 1..=16000 (pgvector's storage limit) |
//! | collection `model` | 1..=256 bytes, no NUL |
//! | collection `description` | JSON object, at most [`MAX_DESCRIPTION_BYTES`] serialized |
//! | `external_id` | 1..=512 bytes, no NUL |
//! | `vector` | exactly the collection's dimension; every value finite; not all zero under cosine |
//! | `content` | no NUL, at most [`MAX_CONTENT_BYTES`] |
//! | `metadata` | JSON object, at most [`MAX_METADATA_BYTES`] serialized and [`MAX_JSON_DEPTH`] levels deep, no NUL in any key or string |
//! | search `k` | 1..=[`MAX_K`] |

mod collection;
mod embedding;
mod index;
mod rules;
mod search;

pub use collection::NewCollection;
pub(crate) use embedding::CheckedBatch;
pub use embedding::{Duplicates, EmbeddingBatch, NewEmbedding};
pub use index::{IndexMethod, IndexSpec, default_lists};
pub use rules::{
    CollectionRules, MAX_CONTENT_BYTES, MAX_DESCRIPTION_BYTES, MAX_JSON_DEPTH, MAX_METADATA_BYTES,
};
pub use search::{DEFAULT_EXACT_THRESHOLD, IterativeScan, MAX_K, SearchAfter, SearchRequest};
