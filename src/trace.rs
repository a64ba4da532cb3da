//! `tracing` spans around embedstore's operations. The library only emits them (it depends on
//! `tracing` alone and installs no subscriber); a service sees them through its own subscriber,
//! the CLI through `-v` / `RUST_LOG`.
//!
//! Every span is at level INFO under the target `embedstore::…` (the module that opens it) and
//! carries `duration_ms` (recorded when the operation ends) and, when it failed, `error`: the
//! error's kind only (`"conflict"`, `"not_found"` …), never its message, which may quote
//! caller text. Spans name collections by name and id and carry counts, the planner's path and
//! settings; **never** a vector, a metadata or filter value, content, an `external_id`, a tenant
//! or a connection URL (`tests/spans.rs` captures them and checks).

use std::time::Instant;

use tracing::Span;
use tracing::span::EnteredSpan;

use crate::error::Error;

/// An INFO span named `$name` with the fields every operation has (`duration_ms`, `error`,
/// empty until the operation ends) and the given ones.
macro_rules! span {
    ($name:literal $(, $($fields:tt)*)?) => {
        tracing::info_span!(
            $name,
            duration_ms = tracing::field::Empty,
            error = tracing::field::Empty
            $(, $($fields)*)?
        )
    };
}
pub(crate) use span;

/// Runs `work` as one operation inside `span`: enters the span, hands `work` the running
/// [`Operation`] (to record the fields it learns on the way, such as the rows written), records
/// the error's kind when `work` fails and `duration_ms` when it returns. Every operation the
/// library traces goes through here, so none needs a twin of itself just to be wrapped.
pub(crate) fn traced<T, E: Failure>(
    span: Span,
    work: impl FnOnce(&Operation) -> Result<T, E>,
) -> Result<T, E> {
    let operation = Operation::start(span);
    operation.finish(work(&operation))
}

/// An error as a span records it: by its kind, never its message (which may quote caller
/// text).
pub(crate) trait Failure {
    /// The kind recorded in the span's `error` field.
    fn kind(&self) -> &'static str;
}

impl Failure for Error {
    fn kind(&self) -> &'static str {
        kind(self)
    }
}

/// An error of a type this crate only converts into (the caller's own, in
/// [`Store::write`](crate::Store::write)): recorded as `failed`, without a kind.
pub(crate) struct Opaque<E>(pub(crate) E);

impl<E> Failure for Opaque<E> {
    fn kind(&self) -> &'static str {
        "failed"
    }
}

/// A running operation: its span, entered until this is dropped, when `duration_ms` is
/// recorded. [`traced`] runs one; the statements in `repo/` still start and finish theirs by
/// hand.
pub(crate) struct Operation {
    span: EnteredSpan,
    started: Instant,
}

impl Operation {
    /// Enters `span` and starts the clock.
    pub(crate) fn start(span: Span) -> Self {
        Self {
            span: span.entered(),
            started: Instant::now(),
        }
    }

    /// Records `value` in the span's field `field` (declared at the span's creation).
    pub(crate) fn record(&self, field: &'static str, value: impl tracing::Value) {
        self.span.record(field, value);
    }

    /// Passes `outcome` through, recording the error's kind when it failed.
    pub(crate) fn finish<T, E: Failure>(&self, outcome: Result<T, E>) -> Result<T, E> {
        if let Err(error) = &outcome {
            self.span.record("error", error.kind());
        }
        outcome
    }
}

impl Drop for Operation {
    fn drop(&mut self) {
        let elapsed = self.started.elapsed();
        self.span
            .record("duration_ms", elapsed.as_secs_f64() * 1000.0);
    }
}

/// The error's kind, safe to log: no caller text.
pub(crate) fn kind(error: &Error) -> &'static str {
    match error {
        Error::Config { .. } => "config",
        Error::Connect { .. } => "connect",
        Error::ConnectRefused { .. } => "connect_refused",
        Error::Pool(_) => "pool",
        Error::Validation(_) => "validation",
        Error::NotFound { .. } => "not_found",
        Error::Conflict { .. } => "conflict",
        Error::DimensionMismatch { .. } => "dimension_mismatch",
        Error::Migration(_) => "migration",
        Error::Embedder(_) => "embedder",
        Error::Database(error) if error.is_retryable() => "database_retryable",
        Error::Database(_) => "database",
    }
}
