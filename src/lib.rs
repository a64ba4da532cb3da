#![doc = include_str!("../README.md")]

pub mod config;
pub mod dto;
mod error;
pub mod metric;
pub mod models;
mod repo;
mod schema;
mod store;
mod tenant;
#[cfg(feature = "testing")]
pub mod testing;
mod uow;

pub use config::{Config, DatabaseUrl};
pub use dto::{
    CollectionRules, Duplicates, EmbeddingBatch, NewCollection, NewEmbedding, SearchRequest,
};
pub use error::{DatabaseError, Error, Result, ValidationError};
pub use metric::Metric;
pub use models::{Collection, CollectionId, Embedding};
pub use repo::{Collections, Embeddings, SearchHit, SearchResponse, WriteSummary};
pub use store::{MIGRATIONS, PooledPg, Store};
pub use uow::UnitOfWork;
