//! Integration tests: every test gets its own database cloned from a migrated template.
#![expect(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns fail loudly too"
)]

mod aliases;
mod ann;
mod backfill;
mod batch;
mod cache;
mod citus;
mod collections;
mod concurrency;
mod config;
mod copy_encoding;
mod embedded_fixture;
mod embeddings;
mod errors;
mod export;
mod faults;
mod filters;
mod grouped;
mod health;
mod hostile;
mod index;
mod ingest;
mod ingest_atomic;
mod ingest_memory;
mod ingest_optimistic;
mod ingest_writers;
mod kinds;
mod migrations;
mod mmr;
mod overflow;
#[cfg(feature = "parquet")]
mod parquet;
mod pipeline;
mod quantized;
mod replicas;
mod round_trips;
mod search;
mod soak;
mod support;
mod text;
mod tls;
mod transactions;
mod truth;
mod validation;
