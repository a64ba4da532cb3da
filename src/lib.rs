// The README is the front page. Its links to the guides are Markdown reference links whose
// file targets (for GitHub) are defined at the README's end; `docs/rustdoc-links.txt` defines
// the same labels first, as intra-doc links to the `guide` modules, and in Markdown the first
// definition of a label wins, so on docs.rs they lead to the guides' pages.
#![doc = include_str!("../docs/rustdoc-links.txt")]
#![doc = include_str!("../README.md")]

mod backfill;
mod cache;
mod capacity;
mod citus;
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
pub use capacity::{BuildPlan, CapacityInput, CapacityPlan, Load, MODEL_SOURCE, NodePlan};
pub use citus::{CitusCluster, DistributeReport, Distribution};
pub use config::{Config, DatabaseUrl, MAX_CACHE_BYTES, MAX_REPLICAS};
pub use dto::{
    AnnOptions, CollectionRules, DEFAULT_EXACT_THRESHOLD, DEFAULT_RERANK_FACTOR, DEFAULT_RRF_K,
    DEFAULT_TEXT_WEIGHT, DEFAULT_VECTOR_WEIGHT, Duplicates, EXACT_THRESHOLD_ROWS, EmbeddingBatch,
    Fusion, GroupBy, HybridSearch, Include, IndexMethod, IndexSpec, IterativeScan,
    MAX_CONTENT_BYTES, MAX_DESCRIPTION_BYTES, MAX_GROUPED_HITS, MAX_JSON_DEPTH, MAX_K,
    MAX_METADATA_BYTES, MAX_RERANK_CANDIDATES, MAX_TEXT_QUERY_BYTES, MIN_EXACT_THRESHOLD, Mmr,
    NewCollection, NewEmbedding, SearchAfter, SearchOptions, SearchRequest, Shape, TextOptions,
    TextSearch, VectorSearch, default_exact_threshold,
};
pub use error::{BatchProgress, DatabaseError, DatabaseErrorKind, Error, Result, ValidationError};
pub use export::{CollectionStats, Export, ExportSummary};
pub use filter::{FieldPath, Filter, FilterError, PayloadKind};
pub use index::{
    DEFAULT_TEXT_CONFIG, HealthOptions, IndexHealth, IndexProgress, IndexStatus, Indexes,
    PayloadIndex, PayloadIndexes, TextIndex, TextIndexStatus,
};
#[cfg(feature = "parquet")]
pub use ingest::ParquetSource;
pub use ingest::{
    DEFAULT_BATCH_SIZE, DEFAULT_WRITERS, Ids, Ingest, IngestError, IngestObserver, IngestOptions,
    IngestProgress, IngestSummary, JsonlSource, MemorySource, NpySource, RejectedRow, RowProblem,
    RowSource, SourceRow, WriteMode,
};
pub use metric::{Metric, Quantization, UnknownMetric};
pub use models::{Alias, Collection, CollectionId, Embedding};
pub use repo::{
    Aliases, AppliedSetting, Collections, Embeddings, IgnoredOption, IndexNotUsedReason,
    MAX_SCROLL_LIMIT, ScrollPage, ScrollRequest, SearchAdvice, SearchHit, SearchPath,
    SearchResponse, WriteSummary,
};
pub use retry::RetryPolicy;
pub use search::{
    MAX_BATCH, RECALL_NOISE, RecallQueries, RecallQueryKind, RecallReport, RecallRequest,
};
pub use store::{MIGRATIONS, NodeStats, ReadFrom, ReplicaStats, ServerVersions, Store, WriteToken};
pub use uow::{UnitOfWork, WorkOptions};
pub use vector::{
    BitVector, MAX_BIT_DIMENSION, MAX_DENSE_DIMENSION, MAX_SPARSE_DIMENSION, MAX_SPARSE_NONZEROS,
    MAX_VECTOR_NORM, NotBits, SparseVector, UnknownKind, VectorKind, VectorValue,
};

/// The guides: how to set up, write, search, index, ingest, change models, operate and test
/// (the Markdown files of the repository's `docs/` folder). Their examples compile as doctests.
pub mod guide {
    // Intra-doc links in a module's outer docs resolve in the parent's scope: here.
    #[cfg(doc)]
    use crate::*;

    // Each guide's docs start with `docs/rustdoc-links.txt` (see the crate docs above), so
    // rustdoc names a guide's doctests after that file, and their line numbers (and those of
    // compile errors in them) count its lines too: line N is line N − 19 of `docs/<guide>.md`.

    #[doc = include_str!("../docs/rustdoc-links.txt")]
    #[doc = include_str!("../docs/setup.md")]
    pub mod setup {}
    #[doc = include_str!("../docs/rustdoc-links.txt")]
    #[doc = include_str!("../docs/collections.md")]
    pub mod collections {}
    #[doc = include_str!("../docs/rustdoc-links.txt")]
    #[doc = include_str!("../docs/search.md")]
    pub mod search {}
    #[doc = include_str!("../docs/rustdoc-links.txt")]
    #[doc = include_str!("../docs/indexes.md")]
    pub mod indexes {}
    #[doc = include_str!("../docs/rustdoc-links.txt")]
    #[doc = include_str!("../docs/ingest.md")]
    pub mod ingest {}
    #[doc = include_str!("../docs/rustdoc-links.txt")]
    #[doc = include_str!("../docs/changing-models.md")]
    pub mod changing_models {}
    #[doc = include_str!("../docs/rustdoc-links.txt")]
    #[doc = include_str!("../docs/cache.md")]
    pub mod cache {}
    #[doc = include_str!("../docs/rustdoc-links.txt")]
    #[doc = include_str!("../docs/replicas.md")]
    pub mod replicas {}
    #[doc = include_str!("../docs/rustdoc-links.txt")]
    #[doc = include_str!("../docs/citus.md")]
    pub mod citus {}
    #[doc = include_str!("../docs/rustdoc-links.txt")]
    #[doc = include_str!("../docs/tenants-roles-tls.md")]
    pub mod tenants_roles_tls {}
    #[doc = include_str!("../docs/rustdoc-links.txt")]
    #[doc = include_str!("../docs/tracing.md")]
    pub mod tracing {}
    #[doc = include_str!("../docs/rustdoc-links.txt")]
    #[doc = include_str!("../docs/operations.md")]
    pub mod operations {}
    #[doc = include_str!("../docs/rustdoc-links.txt")]
    #[doc = include_str!("../docs/cli.md")]
    pub mod cli {}
    #[doc = include_str!("../docs/rustdoc-links.txt")]
    #[doc = include_str!("../docs/testing.md")]
    pub mod testing {}
    #[doc = include_str!("../docs/rustdoc-links.txt")]
    #[doc = include_str!("../docs/benchmark.md")]
    pub mod benchmark {}
}

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
