//! Concrete diesel queries, reached only through [`UnitOfWork`](crate::UnitOfWork).
//!
//! Invariant: every function here that writes takes a `garde::Valid<…>` (or, for embeddings,
//! a `CheckedBatch`, the same proof made without losing a refused batch); the public handles
//! validate their DTOs first. Nothing outside this module imports `crate::schema`.

pub(crate) mod aliases;
pub(crate) mod ann_index;
pub(crate) mod backfill;
pub(crate) mod catalog;
pub(crate) mod citus;
pub(crate) mod collections;
mod copy;
pub(crate) mod embeddings;
pub(crate) mod filtered;
pub(crate) mod grant;
pub(crate) mod index_build;
pub(crate) mod pages;
pub(crate) mod payload_index;
mod rows;
pub(crate) mod search;
mod staging;
pub(crate) mod stats;
pub(crate) mod text_index;
pub(crate) mod touched;
pub(crate) mod upsert;

pub use aliases::Aliases;
pub use collections::Collections;
pub use embeddings::Embeddings;
pub use filtered::{MAX_SCROLL_LIMIT, ScrollPage, ScrollRequest};
pub use rows::WriteSummary;
pub use search::{
    AppliedSetting, IgnoredOption, IndexNotUsedReason, SearchAdvice, SearchHit, SearchPath,
    SearchResponse,
};
