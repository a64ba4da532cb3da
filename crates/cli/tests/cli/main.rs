//! Integration tests of the `embedstore` binary, run as a user would against a real database:
//! every test gets its own database cloned from a migrated template
//! (`embedstore_test_support::TestDatabase`).
#![expect(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns fail loudly too"
)]

mod aliases;
mod backfill;
mod batch;
mod health;
mod help;
mod hostile;
mod ingest;
#[cfg(feature = "parquet")]
mod parquet;
mod pipeline;
mod plan;
mod privileges;
mod search;
mod stats;
mod support;
mod tenants;
mod tls;
mod verbose;
