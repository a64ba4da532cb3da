//! Integration tests: every test gets its own database cloned from a migrated template.
#![expect(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns fail loudly too"
)]

mod ann;
mod cli_search;
mod collections;
mod config;
mod embeddings;
mod filters;
mod index;
mod migrations;
mod round_trips;
mod search;
mod support;
mod transactions;
mod validation;
