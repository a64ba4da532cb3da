//! The crate's one error type.
//!
//! Messages are lowercase without a trailing period, `source()` is chained, and nothing here
//! ever formats a password: connection targets are shown as `host:port/database` only.

use std::fmt;

use diesel::result::Error as DieselError;

mod classify;
mod validation;

pub(crate) use classify::{constraint_name, note_lc_messages};
pub use validation::ValidationError;

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in embedstore.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is missing or malformed.
    Config {
        /// The environment variable (or setting) at fault.
        variable: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// The server could not be reached within the configured connect timeout.
    Connect {
        /// `host:port/database`, never the password.
        target: String,
        /// What the pool reported last.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The server answered and refused the connection (wrong password, unknown role or
    /// database, no `pg_hba.conf` entry): reported at once, since retrying cannot help.
    ConnectRefused {
        /// `host:port/database`, never the password.
        target: String,
        /// The server's reason, as libpq reports it (it never contains the password).
        reason: String,
    },
    /// No pooled connection became free within the connect timeout.
    Pool(Box<dyn std::error::Error + Send + Sync>),
    /// Input was refused before anything was sent to the database.
    Validation(ValidationError),
    /// A named thing does not exist.
    NotFound {
        /// What kind of thing: `"collection"`, `"embedding"`.
        entity: &'static str,
        /// The key that was looked up.
        key: String,
    },
    /// A uniqueness rule was violated, e.g. a collection name or an `external_id` already taken.
    Conflict {
        /// What was in the way, as the database described it.
        message: String,
        /// The violated constraint, when the database named it.
        constraint: Option<String>,
    },
    /// A vector's length differs from its collection's dimension (refused by the database's
    /// partition `CHECK`, e.g. for a row written around validation).
    DimensionMismatch {
        /// The collection's dimension.
        expected: usize,
    },
    /// The server's PostgreSQL major or its pgvector is outside the supported versions
    /// (PostgreSQL 15 to 18, pgvector 0.8.0 or newer): refused by
    /// [`Store::connect`](crate::Store::connect) and [`Store::migrate`](crate::Store::migrate).
    UnsupportedServer {
        /// The server's `server_version`, e.g. `14.9`.
        postgres: String,
        /// pgvector's version (installed, or else available), `None` when the server has none.
        pgvector: Option<String>,
        /// What is out of range and, for pgvector, the feature that needs the newer one.
        reason: String,
    },
    /// Running the embedded migrations failed.
    Migration(Box<dyn std::error::Error + Send + Sync>),
    /// The caller's embedder failed during [`Store::backfill`](crate::Store::backfill) (what
    /// was written before stays; running the backfill again resumes).
    Embedder(Box<dyn std::error::Error + Send + Sync>),
    /// Any other database error, classified.
    Database(DatabaseError),
}

/// A database error that has no more specific variant, with a retry classification.
#[derive(Debug)]
pub struct DatabaseError {
    kind: DatabaseErrorKind,
    source: DieselError,
    /// Where a batch search stopped, when this failed one of its chunks.
    batch: Option<BatchProgress>,
}

/// Where a batch search ([`Store::search_batch`](crate::Store::search_batch) and
/// [`Store::search_batch_each`](crate::Store::search_batch_each)) stopped: attached to the
/// database error of the chunk that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchProgress {
    /// Queries answered before the failing chunk (their responses were handed over).
    pub answered: usize,
    /// The failing chunk: the indexes of its queries in the batch.
    pub chunk: std::ops::Range<usize>,
    /// Queries in the whole batch.
    pub total: usize,
    /// The statement timeout the store sets (`EMBEDSTORE_STATEMENT_TIMEOUT_MS`), if any.
    pub statement_timeout: Option<std::time::Duration>,
}

/// What kind of database failure a [`DatabaseError`] is: classified from the SQLSTATE where
/// the driver reports it, from the connection's state, and — for the SQLSTATEs the driver
/// keeps to itself (57014, 55P03, 40P01) — from the server's untranslated primary message, only
/// while every connection of the process reported untranslated messages (`lc_messages` `C`,
/// `POSIX` or English); a translated server gives [`Other`](Self::Other) instead, never a
/// wrong kind (decision record 0026).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DatabaseErrorKind {
    /// A serializable or repeatable-read transaction lost a conflict (SQLSTATE 40001): run it
    /// again.
    SerializationFailure,
    /// The server chose this transaction as the victim of a deadlock (SQLSTATE 40P01): it was
    /// rolled back; run it again.
    Deadlock,
    /// A statement ran longer than the session's `statement_timeout` (SQLSTATE 57014), which
    /// the store sets from `EMBEDSTORE_STATEMENT_TIMEOUT_MS` ([`Config::statement_timeout`]).
    /// The statement was cancelled and its transaction rolled back. Not retryable as is: the
    /// same work under the same limit usually times out again (make it smaller, e.g. fewer
    /// queries per batch, or raise the limit).
    ///
    /// [`Config::statement_timeout`]: crate::Config::statement_timeout
    StatementTimeout,
    /// A statement waited longer than `lock_timeout` for a lock another transaction held
    /// (SQLSTATE 55P03): contention that passes, so retryable.
    LockTimeout,
    /// The connection was closed or lost (class 08, a killed backend, a server gone).
    ConnectionLost,
    /// The transaction is read-only and the statement writes (SQLSTATE 25006).
    ReadOnlyTransaction,
    /// A foreign-key rule refused the write (SQLSTATE 23503).
    ForeignKeyViolation,
    /// A NOT NULL rule refused the write (SQLSTATE 23502).
    NotNullViolation,
    /// A CHECK rule other than a partition's dimension refused the write (SQLSTATE 23514).
    CheckViolation,
    /// Anything else: a missing table or function (the usual symptom of a schema older than the
    /// binary; see [`crate::Store::pending_migrations`]), a syntax error, a permission denied —
    /// and a timeout or deadlock reported by a server whose messages are translated.
    Other,
}

impl DatabaseErrorKind {
    /// The kind as spans record it (`statement_timeout`, `deadlock`, …).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DatabaseErrorKind::SerializationFailure => "serialization_failure",
            DatabaseErrorKind::Deadlock => "deadlock",
            DatabaseErrorKind::StatementTimeout => "statement_timeout",
            DatabaseErrorKind::LockTimeout => "lock_timeout",
            DatabaseErrorKind::ConnectionLost => "connection_lost",
            DatabaseErrorKind::ReadOnlyTransaction => "read_only_transaction",
            DatabaseErrorKind::ForeignKeyViolation => "foreign_key_violation",
            DatabaseErrorKind::NotNullViolation => "not_null_violation",
            DatabaseErrorKind::CheckViolation => "check_violation",
            DatabaseErrorKind::Other => "database",
        }
    }
}

impl DatabaseError {
    /// True when running the same transaction again may succeed: serialization failures,
    /// deadlocks, lock timeouts (all three lost to another transaction, which moves on) and
    /// connections lost or closed by the server. A statement timeout is not: the same work
    /// under the same limit usually times out again.
    ///
    /// A connection lost during `COMMIT` leaves the outcome unknown (the write may have
    /// committed): run again only work that is idempotent, such as an upsert (see the
    /// operations guide, "An error at commit").
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            DatabaseErrorKind::SerializationFailure
                | DatabaseErrorKind::Deadlock
                | DatabaseErrorKind::LockTimeout
                | DatabaseErrorKind::ConnectionLost
        )
    }

    /// The classification of this failure.
    pub fn kind(&self) -> DatabaseErrorKind {
        self.kind
    }

    /// Where the batch search stopped, when this error ended one.
    pub fn batch(&self) -> Option<&BatchProgress> {
        self.batch.as_ref()
    }
}

impl Error {
    /// This error with `progress` attached, when it is a database error (the others — a
    /// collection dropped meanwhile, a refused input — keep their variant and say enough).
    pub(crate) fn in_batch(self, progress: BatchProgress) -> Self {
        match self {
            Error::Database(mut error) => {
                error.batch = Some(progress);
                Error::Database(error)
            }
            other => other,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config { variable, reason } => {
                write!(f, "invalid configuration {variable}: {reason}")
            }
            Error::Connect { target, source } => {
                write!(f, "could not connect to postgres at {target}: {source}")
            }
            Error::ConnectRefused { target, reason } => {
                write!(f, "postgres at {target} refused the connection: {reason}")
            }
            Error::Pool(source) => write!(f, "no database connection available: {source}"),
            Error::Validation(report) => report.fmt(f),
            Error::NotFound { entity, key } => write!(f, "{entity} {} not found", bounded(key)),
            Error::Conflict { message, .. } => write!(f, "conflict: {}", cut(message)),
            Error::DimensionMismatch { expected } => {
                write!(
                    f,
                    "vector dimension differs from the collection's {expected}"
                )
            }
            Error::UnsupportedServer {
                postgres,
                pgvector,
                reason,
            } => {
                let pgvector = pgvector.as_deref().unwrap_or("(none)");
                write!(
                    f,
                    "unsupported server PostgreSQL {postgres} with pgvector {pgvector}: {reason}"
                )
            }
            Error::Migration(source) => write!(f, "migration failed: {source}"),
            Error::Embedder(source) => write!(f, "embedder failed: {source}"),
            Error::Database(error) => {
                let retry = if error.is_retryable() {
                    " (retryable)"
                } else {
                    ""
                };
                write!(f, "database error{retry}: {}", error.source)?;
                let timeout = error
                    .batch
                    .as_ref()
                    .and_then(|batch| batch.statement_timeout);
                if error.kind == DatabaseErrorKind::StatementTimeout {
                    f.write_str(" (the server's statement_timeout, set from EMBEDSTORE_STATEMENT_TIMEOUT_MS")?;
                    if let Some(timeout) = timeout {
                        write!(f, " = {} ms", timeout.as_millis())?;
                    }
                    f.write_str(")")?;
                }
                if let Some(batch) = &error.batch {
                    write!(
                        f,
                        "; batch search stopped in the chunk of queries {}..{} after {} of {} queries answered",
                        batch.chunk.start, batch.chunk.end, batch.answered, batch.total
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connect { source, .. } | Error::Pool(source) => Some(source.as_ref()),
            Error::Validation(report) => Some(report),
            Error::Migration(source) | Error::Embedder(source) => Some(source.as_ref()),
            Error::Database(error) => Some(&error.source),
            _ => None,
        }
    }
}

impl Error {
    /// True when retrying the whole unit of work may succeed (see [`DatabaseError::is_retryable`]).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Database(error) => error.is_retryable(),
            Error::Pool(_) => true,
            _ => false,
        }
    }

    /// The validation failures, when this is a validation error.
    pub fn as_validation(&self) -> Option<&ValidationError> {
        match self {
            Error::Validation(report) => Some(report),
            _ => None,
        }
    }

    pub(crate) fn not_found(entity: &'static str, key: impl Into<String>) -> Self {
        Error::NotFound {
            entity,
            key: key.into(),
        }
    }
}

impl Error {
    /// A validation error from a garde report (crate-internal: garde is not part of the API).
    pub(crate) fn invalid(report: &garde::Report) -> Self {
        Error::Validation(ValidationError::from_report(report))
    }

    /// A validation error with one failure at `path`.
    pub(crate) fn invalid_field(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation(ValidationError::field(path, message))
    }
}

/// Most characters of caller-supplied text (a name, a key) a message repeats.
const SHOWN_CHARS: usize = 80;

/// `text` quoted, cut to [`SHOWN_CHARS`] characters with its full size noted when longer, so
/// that a hostile 10 KB name cannot flood logs.
pub(crate) fn bounded(text: &str) -> String {
    if text.chars().count() <= SHOWN_CHARS {
        return format!("{text:?}");
    }
    let head: String = text.chars().take(SHOWN_CHARS).collect();
    format!("{head:?}… ({} bytes)", text.len())
}

/// A message that may embed caller text, cut to a few times [`SHOWN_CHARS`].
fn cut(text: &str) -> String {
    let limit = 4 * SHOWN_CHARS;
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let head: String = text.chars().take(limit).collect();
    format!("{head}… ({} bytes)", text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_caller_text_is_cut_in_messages() {
        let name = "x".repeat(10_240);
        let text = Error::not_found("collection", name).to_string();
        assert!(text.len() < 200, "{text}");
        assert!(text.contains("(10240 bytes)"), "{text}");
        assert_eq!(
            Error::not_found("collection", "docs").to_string(),
            "collection \"docs\" not found"
        );
    }
}
