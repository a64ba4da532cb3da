//! The crate's one error type.
//!
//! Messages are lowercase without a trailing period, `source()` is chained, and nothing here
//! ever formats a password: connection targets are shown as `host:port/database` only.

use std::fmt;

use diesel::result::{DatabaseErrorKind as DieselKind, Error as DieselError};

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
}

/// What kind of database failure a [`DatabaseError`] is, classified from the SQLSTATE (as far
/// as the driver reports it) and the connection's state — never from the message text, which
/// the server localizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DatabaseErrorKind {
    /// A serializable transaction lost a conflict (SQLSTATE 40001): run it again.
    SerializationFailure,
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
    /// Anything the driver does not classify: a missing table or function (the usual symptom of
    /// a schema older than the binary; see [`crate::Store::pending_migrations`]), a syntax
    /// error, a statement timeout, a permission denied.
    Other,
}

impl DatabaseError {
    /// True when running the same transaction again may succeed: serialization failures and
    /// connections lost or closed by the server (classified by SQLSTATE and connection state,
    /// never by message text).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            DatabaseErrorKind::SerializationFailure | DatabaseErrorKind::ConnectionLost
        )
    }

    /// The classification of this failure.
    pub fn kind(&self) -> DatabaseErrorKind {
        self.kind
    }
}

/// Input refused by validation: every failing item with its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    failures: Vec<(String, String)>,
}

impl ValidationError {
    /// One failure at `path` (empty for the whole input), e.g. `("tenant", "is empty")`.
    pub(crate) fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            failures: vec![(path.into(), message.into())],
        }
    }

    /// Failures as `(path, message)` pairs, in order: for a service that checks its own
    /// input before calling embedstore and wants one error type for both.
    ///
    /// ```
    /// let error = embedstore::ValidationError::new([("items[3].vector", "is empty")]);
    /// assert_eq!(error.to_string(), "invalid input (1 problem): items[3].vector: is empty");
    /// ```
    pub fn new<P: Into<String>, M: Into<String>>(
        failures: impl IntoIterator<Item = (P, M)>,
    ) -> Self {
        Self {
            failures: failures
                .into_iter()
                .map(|(path, message)| (path.into(), message.into()))
                .collect(),
        }
    }

    /// A garde report's failures, in the report's order. The one place a report becomes an
    /// error: garde stays out of the public API.
    pub(crate) fn from_report(report: &garde::Report) -> Self {
        Self {
            failures: report
                .iter()
                .map(|(path, error)| (path.to_string(), error.message().to_string()))
                .collect(),
        }
    }

    /// Every failure as `(path, message)`, e.g. `("items[17].vector[3]", "value is NaN")`.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.failures
            .iter()
            .map(|(path, message)| (path.as_str(), message.as_str()))
    }

    /// How many failures there are.
    pub fn len(&self) -> usize {
        self.failures.len()
    }

    /// True when there is no failure (never for an error this crate returns).
    pub fn is_empty(&self) -> bool {
        self.failures.is_empty()
    }

    /// Every failure as one line, `path: message` (just `message` for the whole input), e.g.
    /// `items[17].vector[3]: value is NaN`.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.failures().map(|(path, message)| {
            if path.is_empty() {
                message.to_owned()
            } else {
                format!("{path}: {message}")
            }
        })
    }
}

/// How many failures `Display` lists before summarising the rest.
const DISPLAYED_FAILURES: usize = 20;

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.failures.len();
        write!(f, "invalid input ({total} problem")?;
        if total != 1 {
            f.write_str("s")?;
        }
        f.write_str(")")?;
        for (index, line) in self.lines().enumerate() {
            if index == DISPLAYED_FAILURES {
                write!(f, "; and {} more", total - DISPLAYED_FAILURES)?;
                break;
            }
            let separator = if index == 0 { ": " } else { "; " };
            write!(f, "{separator}{line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationError {}

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
            Error::Migration(source) => write!(f, "migration failed: {source}"),
            Error::Embedder(source) => write!(f, "embedder failed: {source}"),
            Error::Database(error) => {
                let retry = if error.is_retryable() {
                    " (retryable)"
                } else {
                    ""
                };
                write!(f, "database error{retry}: {}", error.source)
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

impl From<DieselError> for Error {
    fn from(error: DieselError) -> Self {
        classify(error)
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

/// Turns a diesel error into the most specific variant.
fn classify(error: DieselError) -> Error {
    if let DieselError::DatabaseError(kind, info) = &error {
        match kind {
            DieselKind::UniqueViolation => {
                let message = info
                    .details()
                    .map(str::to_owned)
                    .unwrap_or_else(|| info.message().to_owned());
                return Error::Conflict {
                    message,
                    constraint: info.constraint_name().map(str::to_owned),
                };
            }
            DieselKind::CheckViolation => {
                if let Some(expected) = info.constraint_name().and_then(partition_dimension) {
                    return Error::DimensionMismatch { expected };
                }
            }
            _ => {}
        }
    }
    Error::Database(DatabaseError {
        kind: kind_of(&error),
        source: error,
    })
}

/// The dimension a partition's CHECK constraint enforces, parsed from its name
/// `embeddings_<collection id>_dim_<dimension>`.
fn partition_dimension(constraint: &str) -> Option<usize> {
    let rest = constraint.strip_prefix("embeddings_")?;
    let (_, dimension) = rest.split_once("_dim_")?;
    dimension.parse().ok()
}

/// Classified by diesel's error kind, which comes from the SQLSTATE (40001 serialization
/// failure; class 08 connection exceptions; 23xxx integrity rules; 25006 read-only) or from
/// libpq's connection status (a backend killed or a server gone: the connection is bad). Never
/// by message text, which the server localizes. diesel 2.3 exposes no other SQLSTATE: a
/// deadlock (40P01) arrives as `Unknown` and is not marked retryable here — embedstore's own
/// writes take their row locks in one global order, so they do not deadlock with each other
/// (see ARCHITECTURE.md).
fn kind_of(error: &DieselError) -> DatabaseErrorKind {
    use diesel::result::DatabaseErrorKind as Diesel;
    match error {
        DieselError::DatabaseError(kind, _) => match kind {
            Diesel::SerializationFailure => DatabaseErrorKind::SerializationFailure,
            Diesel::ClosedConnection | Diesel::UnableToSendCommand => {
                DatabaseErrorKind::ConnectionLost
            }
            Diesel::ReadOnlyTransaction => DatabaseErrorKind::ReadOnlyTransaction,
            Diesel::ForeignKeyViolation => DatabaseErrorKind::ForeignKeyViolation,
            Diesel::NotNullViolation => DatabaseErrorKind::NotNullViolation,
            Diesel::CheckViolation => DatabaseErrorKind::CheckViolation,
            _ => DatabaseErrorKind::Other,
        },
        DieselError::BrokenTransactionManager => DatabaseErrorKind::ConnectionLost,
        _ => DatabaseErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_dimension_is_parsed_from_constraint_name() {
        assert_eq!(partition_dimension("embeddings_12_dim_384"), Some(384));
        assert_eq!(partition_dimension("embeddings_pkey"), None);
        assert_eq!(partition_dimension("collections_name_check"), None);
    }

    #[test]
    fn validation_display_lists_paths_and_summarises_the_rest() {
        let failures: Vec<_> = (0..25)
            .map(|index| (format!("items[{index}].external_id"), "is empty".to_owned()))
            .collect();
        let text = ValidationError::new(failures).to_string();
        assert!(text.starts_with("invalid input (25 problems): items[0].external_id: is empty; "));
        assert!(text.ends_with("; and 5 more"), "{text}");
    }

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
