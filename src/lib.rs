#![doc = include_str!("../README.md")]

mod backfill;
mod cache;
mod catalog;
mod config;
mod dto;
mod error;
mod export;
mod filter;
mod grant;
mod index;
mod ingest;
mod lookup;
mod metric;
mod mmr;
mod models;
mod names;
mod repo;
mod retry;
mod schema;
mod search;
mod sql;
mod store;
mod tenant;
#[cfg(feature = "testing")]
pub mod testing;
mod trace;
mod uow;
mod vector;

// Every public item has exactly one path: here, at the crate root. The modules are private;
// only `testing` (feature `testing`) is a public module of its own.
pub use backfill::{
    BackfillItem, BackfillOptions, BackfillProgress, BackfillSummary, DEFAULT_BACKFILL_BATCH,
    EmbedResult,
};
pub use cache::CacheStats;
pub use config::{Config, DatabaseUrl, MAX_CACHE_BYTES};
pub use dto::{
    CollectionRules, DEFAULT_EXACT_THRESHOLD, DEFAULT_RERANK_FACTOR, DEFAULT_RRF_K, Duplicates,
    EmbeddingBatch, GroupBy, IndexMethod, IndexSpec, IterativeScan, MAX_CONTENT_BYTES,
    MAX_DESCRIPTION_BYTES, MAX_GROUPED_HITS, MAX_JSON_DEPTH, MAX_K, MAX_METADATA_BYTES,
    MAX_RERANK_CANDIDATES, MAX_TEXT_QUERY_BYTES, Mmr, NewCollection, NewEmbedding, SearchAfter,
    SearchRequest, TextQuery,
};
pub use error::{DatabaseError, DatabaseErrorKind, Error, Result, ValidationError};
pub use export::{CollectionStats, ExportSummary};
pub use filter::{FieldPath, Filter, FilterError, PayloadKind};
pub use index::{
    DEFAULT_TEXT_CONFIG, HealthOptions, IndexHealth, IndexProgress, IndexStatus, PayloadIndex,
    TextIndexStatus,
};
#[cfg(feature = "parquet")]
pub use ingest::ParquetSource;
pub use ingest::{
    DEFAULT_BATCH_SIZE, DEFAULT_WRITERS, Ids, Ingest, IngestError, IngestObserver, IngestOptions,
    IngestProgress, IngestSummary, JsonlSource, NpySource, RejectedRow, RowProblem, RowSource,
    SourceRow, WriteMode,
};
pub use metric::{Metric, Quantization, UnknownMetric};
pub use models::{Alias, Collection, CollectionId, Embedding};
pub use repo::{
    Aliases, Collections, Embeddings, MAX_SCROLL_LIMIT, ScrollPage, ScrollRequest, SearchHit,
    SearchPath, SearchResponse, WriteSummary,
};
pub use retry::RetryPolicy;
pub use search::{MAX_BATCH, RecallQueries, RecallReport, RecallRequest};
pub use store::{MIGRATIONS, Store};
pub use uow::{UnitOfWork, WorkOptions};
pub use vector::{
    BitVector, MAX_BIT_DIMENSION, MAX_DENSE_DIMENSION, MAX_SPARSE_DIMENSION, MAX_SPARSE_NONZEROS,
    NotBits, SparseVector, UnknownKind, VectorKind, VectorValue,
};

/// Crate internals for embedstore's own tests and its unpublished test-support crate (feature
/// `testing`); not a stable API.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod internals {
    pub use crate::filter::{PayloadLayout, is_timestamp, render_filter};
    pub use crate::ingest::npy::NpyReader;
    pub use crate::ingest::npy_writer::{NpyWriter, npy_header_bytes};
    pub use crate::ingest::records::RecordReader;
    pub use crate::sql::{Bind, MAX_BINDS, SqlBuilder, TooManyBinds};
}
