//! The crate's one error type.
//!
//! Messages are lowercase without a trailing period, `source()` is chained, and nothing here
//! ever formats a password: connection targets are shown as `host:port/database` only.

use std::fmt;

use diesel::result::{DatabaseErrorKind, Error as DieselError};

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
        source: r2d2::Error,
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
    Pool(r2d2::Error),
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
    /// Any other database error, classified.
    Database(DatabaseError),
}

/// A database error that has no more specific variant, with a retry classification.
#[derive(Debug)]
pub struct DatabaseError {
    retryable: bool,
    source: DieselError,
}

impl DatabaseError {
    /// True when running the same transaction again may succeed: serialization failures and
    /// connections lost or closed by the server (classified by SQLSTATE and connection state,
    /// never by message text).
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// The underlying diesel error.
    pub fn diesel_error(&self) -> &DieselError {
        &self.source
    }
}

/// Input refused by validation: every failing item with its path.
#[derive(Debug, Clone)]
pub struct ValidationError {
    report: garde::Report,
}

impl ValidationError {
    /// Wraps a garde report.
    pub fn new(report: garde::Report) -> Self {
        Self { report }
    }

    /// Every failure as `(path, message)`, e.g. `("items[17].vector[3]", "value is NaN")`.
    pub fn failures(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.report
            .iter()
            .map(|(path, error)| (path.to_string(), error.message().to_string()))
    }

    /// Every failure as one line, `path: message` (just `message` for the whole input), e.g.
    /// `items[17].vector[3]: value is NaN`.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.failures().map(|(path, message)| {
            if path.is_empty() {
                message
            } else {
                format!("{path}: {message}")
            }
        })
    }

    /// The garde report itself.
    pub fn report(&self) -> &garde::Report {
        &self.report
    }
}

/// How many failures `Display` lists before summarising the rest.
const DISPLAYED_FAILURES: usize = 20;

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.report.iter().count();
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
            Error::Database(error) => {
                let retry = if error.retryable { " (retryable)" } else { "" };
                write!(f, "database error{retry}: {}", error.source)
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connect { source, .. } | Error::Pool(source) => Some(source),
            Error::Validation(report) => Some(report),
            Error::Migration(source) => Some(source.as_ref()),
            Error::Database(error) => Some(&error.source),
            _ => None,
        }
    }
}

impl Error {
    /// True when retrying the whole unit of work may succeed (see [`DatabaseError::is_retryable`]).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Database(error) => error.retryable,
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

impl From<garde::Report> for Error {
    fn from(report: garde::Report) -> Self {
        Error::Validation(ValidationError::new(report))
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
            DatabaseErrorKind::UniqueViolation => {
                let message = info
                    .details()
                    .map(str::to_owned)
                    .unwrap_or_else(|| info.message().to_owned());
                return Error::Conflict {
                    message,
                    constraint: info.constraint_name().map(str::to_owned),
                };
            }
            DatabaseErrorKind::CheckViolation => {
                if let Some(expected) = info.constraint_name().and_then(partition_dimension) {
                    return Error::DimensionMismatch { expected };
                }
            }
            _ => {}
        }
    }
    let retryable = is_retryable(&error);
    Error::Database(DatabaseError {
        retryable,
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
/// failure; class 08 connection exceptions) or from libpq's connection status (a backend killed
/// or a server gone: the connection is bad). Never by message text, which the server
/// localizes. diesel 2.3 exposes no other SQLSTATE: a deadlock (40P01) arrives as
/// `Unknown` and is not marked retryable here — embedstore's own writes take their row locks in
/// one global order, so they do not deadlock with each other (see ARCHITECTURE.md).
fn is_retryable(error: &DieselError) -> bool {
    match error {
        DieselError::DatabaseError(kind, _) => matches!(
            kind,
            DatabaseErrorKind::SerializationFailure
                | DatabaseErrorKind::ClosedConnection
                | DatabaseErrorKind::UnableToSendCommand
        ),
        DieselError::BrokenTransactionManager => true,
        _ => false,
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
        let mut report = garde::Report::new();
        for index in 0..25 {
            report.append(
                garde::Path::new("items").join(index).join("external_id"),
                garde::Error::new("is empty"),
            );
        }
        let text = ValidationError::new(report).to_string();
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
