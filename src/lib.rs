#![doc = include_str!("../README.md")]

pub mod config;
pub mod dto;
mod error;
mod filter;
pub mod metric;
pub mod models;
mod repo;
mod schema;
mod sql;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod uow;

pub use config::{Config, DatabaseUrl};
pub use dto::{
    CollectionRules, Duplicates, EmbeddingBatch, NewCollection, NewEmbedding, SearchRequest,
};
pub use error::{DatabaseError, Error, Result, ValidationError};
pub use filter::{FieldPath, Filter, FilterError, PayloadKind};
pub use metric::Metric;
pub use models::{Collection, CollectionId, Embedding};
pub use repo::{Collections, Embeddings, SearchHit, SearchResponse, WriteSummary};
pub use repo::{MAX_SCROLL_LIMIT, ScrollPage, ScrollRequest};
pub use store::{MIGRATIONS, PooledPg, Store};
pub use uow::UnitOfWork;

/// Crate internals for embedstore's own integration tests (feature `testing`); not a stable API.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod internals {
    pub use crate::filter::{PayloadLayout, is_timestamp, render_filter};
    pub use crate::sql::{Bind, MAX_BINDS, SqlBuilder, TooManyBinds};
}
