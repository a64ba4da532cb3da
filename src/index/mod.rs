//! Index maintenance: [`Store::indexes`] hands out [`Indexes`] (`handle.rs`), the handle on one
//! collection's ANN index (the work in `ann.rs`, its drift in `health.rs`), payload indexes
//! ([`PayloadIndexes`], `payload.rs`) and full-text index ([`TextIndex`], `text.rs`), each
//! built, dropped and inspected outside any transaction.
//!
//! Builds run `CREATE INDEX CONCURRENTLY`, which cannot run inside a transaction, so the
//! handles hang off [`Store`] and never off [`UnitOfWork`](crate::UnitOfWork). A build gets a
//! pooled connection of its own for its whole duration, with `statement_timeout` lifted (a real
//! collection takes minutes) and the spec's `maintenance_work_mem` /
//! `max_parallel_maintenance_workers`; every one of those session settings is put back before
//! the connection returns to the pool.
//!
//! This layer holds no SQL: the statements, and the catalog tables `ann_indexes` and
//! `payload_indexes` they read and write, belong to `repo/` (`ann_index.rs`,
//! `payload_index.rs`, `index_build.rs`).
//!
//! [`Store`]: crate::Store
//! [`Store::indexes`]: crate::Store::indexes

pub(crate) mod ann;
mod handle;
mod health;
mod payload;
mod text;

pub use ann::{IndexProgress, IndexStatus};
pub use handle::Indexes;
pub use health::{HealthOptions, IndexHealth};
pub use payload::{PayloadIndex, PayloadIndexes};
pub use text::{DEFAULT_TEXT_CONFIG, TextIndex, TextIndexStatus};
