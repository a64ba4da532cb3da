#![doc = include_str!("../README.md")]

mod catalog;
pub mod config;
pub mod dto;
mod error;
mod filter;
mod index;
pub mod ingest;
pub mod metric;
pub mod models;
mod repo;
mod retry;
mod schema;
mod search;
mod sql;
mod store;
mod tenant;
#[cfg(feature = "testing")]
pub mod testing;
mod uow;

pub use config::{Config, DatabaseUrl};
pub use dto::{
    CollectionRules, Duplicates, EmbeddingBatch, IndexMethod, IndexSpec, IterativeScan,
    NewCollection, NewEmbedding, SearchAfter, SearchRequest,
};
pub use error::{DatabaseError, DatabaseErrorKind, Error, Result, ValidationError};
pub use filter::{FieldPath, Filter, FilterError, PayloadKind};
pub use index::{IndexProgress, IndexStatus, PayloadIndex};
pub use metric::Metric;
pub use models::{Collection, CollectionId, Embedding};
pub use repo::{
    Collections, Embeddings, MAX_SCROLL_LIMIT, ScrollPage, ScrollRequest, SearchHit, SearchPath,
    SearchResponse, WriteSummary,
};
pub use retry::RetryPolicy;
pub use search::{MAX_BATCH, RecallQueries, RecallReport, RecallRequest};
pub use store::{MIGRATIONS, PooledPg, Store};
pub use uow::UnitOfWork;

/// Crate internals for embedstore's own integration tests (feature `testing`); not a stable API.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod internals {
    pub use crate::filter::{PayloadLayout, is_timestamp, render_filter};
    pub use crate::sql::{Bind, MAX_BINDS, SqlBuilder, TooManyBinds};
}
