//! `tracing` spans around embedstore's operations. The library only emits them (it depends on
//! `tracing` alone and installs no subscriber); a service sees them through its own subscriber,
//! the CLI through `-v` / `RUST_LOG`.
//!
//! Every span is at level INFO under the target `embedstore::…` (the module that opens it) and
//! carries `duration_ms` (recorded when the operation ends) and, when it failed, `error`: the
//! error's kind only (`"conflict"`, `"not_found"`, a database error's own kind such as
//! `"statement_timeout"` …), never its message, which may quote caller text. Spans name collections by name and id and carry counts, the planner's path and
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
        Error::UnsupportedServer { .. } => "unsupported_server",
        Error::Migration(_) => "migration",
        Error::Embedder(_) => "embedder",
        Error::Database(error) => error.kind().as_str(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    use super::*;

    /// The fields of the one span a test opens, as text.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<BTreeMap<&'static str, String>>>);

    struct Fields<'a>(&'a mut BTreeMap<&'static str, String>);

    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name(), format!("{value:?}"));
        }

        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name(), value.to_owned());
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }

        fn new_span(&self, attributes: &Attributes<'_>) -> Id {
            attributes.record(&mut Fields(&mut self.0.lock().unwrap()));
            Id::from_u64(1)
        }

        fn record(&self, _: &Id, values: &Record<'_>) {
            values.record(&mut Fields(&mut self.0.lock().unwrap()));
        }

        fn record_follows_from(&self, _: &Id, _: &Id) {}

        fn event(&self, _: &Event<'_>) {}

        fn enter(&self, _: &Id) {}

        fn exit(&self, _: &Id) {}
    }

    /// Runs `work` under a capturing subscriber and returns the span's fields.
    fn captured(work: impl FnOnce()) -> BTreeMap<&'static str, String> {
        let capture = Capture::default();
        tracing::subscriber::with_default(capture.clone(), work);
        capture.0.lock().unwrap().clone()
    }

    #[test]
    fn traced_records_what_the_work_reports_and_the_duration_and_passes_the_value_through() {
        let fields = captured(|| {
            let span = span!("unit", items = 2, rows = tracing::field::Empty);
            let outcome: Result<u32, Error> = traced(span, |operation| {
                operation.record("rows", 3);
                Ok(7)
            });
            assert_eq!(outcome.unwrap(), 7);
        });
        assert_eq!(
            (fields["items"].as_str(), fields["rows"].as_str()),
            ("2", "3")
        );
        assert!(
            fields["duration_ms"].parse::<f64>().unwrap() >= 0.0,
            "{fields:?}"
        );
        assert!(!fields.contains_key("error"), "{fields:?}");
    }

    #[test]
    fn traced_records_an_errors_kind_never_its_message() {
        let fields = captured(|| {
            let outcome: Result<(), Error> = traced(span!("unit"), |_| {
                Err(Error::not_found("collection", "caller-text"))
            });
            assert!(matches!(outcome, Err(Error::NotFound { .. })));
        });
        assert_eq!(fields["error"], "not_found");
        assert!(!format!("{fields:?}").contains("caller-text"), "{fields:?}");
        assert!(fields.contains_key("duration_ms"), "{fields:?}");
    }

    #[test]
    fn traced_records_a_callers_own_error_as_failed() {
        let fields = captured(|| {
            let outcome = traced(span!("unit"), |_| Err::<(), _>(Opaque("caller-text")));
            assert!(matches!(outcome, Err(Opaque("caller-text"))));
        });
        assert_eq!(fields["error"], "failed");
    }
}
