//! Integration tests: every test gets its own database cloned from a migrated template.
#![expect(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns fail loudly too"
)]

mod collections;
mod config;
mod embeddings;
mod faults;
mod migrations;
#[cfg(feature = "cli")]
mod privileges;
mod search;
mod support;
#[cfg(feature = "cli")]
mod tenants;
mod tls;
mod transactions;
mod validation;
