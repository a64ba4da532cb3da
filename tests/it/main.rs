//! Integration tests: every test gets its own database cloned from a migrated template.
#![expect(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns fail loudly too"
)]

mod bench_copy;
mod collections;
mod config;
mod embeddings;
mod export;
mod ingest;
mod migrations;
#[cfg(feature = "parquet")]
mod parquet;
mod pipeline;
mod search;
mod support;
mod transactions;
mod validation;
