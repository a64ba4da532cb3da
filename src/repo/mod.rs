//! Concrete diesel queries, reached only through [`UnitOfWork`](crate::UnitOfWork).
//!
//! Invariant: every function here that writes takes a `garde::Valid<…>`; the public handles
//! validate their DTOs first. Nothing outside this module imports `crate::schema`.

pub(crate) mod collections;
pub(crate) mod embeddings;
pub(crate) mod pages;
pub(crate) mod search;

pub use collections::Collections;
pub use embeddings::{Embeddings, WriteSummary};
pub use search::{SearchHit, SearchResponse};
