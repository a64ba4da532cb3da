//! How a diesel error becomes the most specific [`Error`]: by diesel's kind, the violated
//! constraint's name, and — for the SQLSTATEs diesel keeps to itself — the server's untranslated
//! message (decision 0026).

use std::sync::atomic::{AtomicU8, Ordering};

use diesel::result::{
    DatabaseErrorInformation, DatabaseErrorKind as DieselKind, Error as DieselError,
};

use super::{DatabaseError, DatabaseErrorKind, Error};

impl From<DieselError> for Error {
    fn from(error: DieselError) -> Self {
        classify(error)
    }
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
                    constraint: constraint_name(info.as_ref()).map(str::to_owned),
                };
            }
            DieselKind::CheckViolation => {
                if let Some(expected) = constraint_name(info.as_ref()).and_then(partition_dimension)
                {
                    return Error::DimensionMismatch { expected };
                }
            }
            _ => {}
        }
    }
    Error::Database(DatabaseError {
        kind: kind_of(&error),
        source: error,
        batch: None,
    })
}

/// The constraint an error names, as the migrations and embedstore's DDL named it. On Citus the
/// error comes from a shard, whose table and constraints carry the shard's id
/// (`catalog_names_102009`, `catalog_names_pkey_102009`): that suffix is removed when the table
/// carries it too.
pub(crate) fn constraint_name(info: &dyn diesel::result::DatabaseErrorInformation) -> Option<&str> {
    let constraint = info.constraint_name()?;
    let numeric = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let Some(table) = info.table_name() else {
        // An error Citus relays from a worker names the constraint but not the table (one
        // server always names both): a shard id's suffix (six digits or more) goes.
        return Some(match constraint.rsplit_once('_') {
            Some((name, shard)) if shard.len() >= 6 && numeric(shard) => name,
            _ => constraint,
        });
    };
    // A shard's id: Citus numbers shards from 102008, so six digits or more; a collection's
    // partition on one server (`embeddings_<id>`) has a shorter suffix for any id below 100000.
    let Some((_, shard)) = table.rsplit_once('_') else {
        return Some(constraint);
    };
    if shard.len() < 6 || !numeric(shard) {
        return Some(constraint);
    }
    Some(
        constraint
            .strip_suffix(shard)
            .and_then(|rest| rest.strip_suffix('_'))
            .unwrap_or(constraint),
    )
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
/// libpq's connection status (a backend killed or a server gone: the connection is bad).
/// diesel 2.3 keeps every other SQLSTATE to itself (no accessor; its `Unknown` covers them):
/// for those, [`unreported_sqlstate`] reads the primary message, and only while every
/// connection reported untranslated messages (see [`note_lc_messages`]).
fn kind_of(error: &DieselError) -> DatabaseErrorKind {
    use diesel::result::DatabaseErrorKind as Diesel;
    match error {
        DieselError::DatabaseError(Diesel::Unknown, info) => {
            unreported_sqlstate(info.as_ref()).unwrap_or(DatabaseErrorKind::Other)
        }
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

/// What the connections of this process said about their server's message language.
static MESSAGES: AtomicU8 = AtomicU8::new(MESSAGES_UNKNOWN);
/// No connection checked yet.
const MESSAGES_UNKNOWN: u8 = 0;
/// Every connection checked reported untranslated messages.
const MESSAGES_UNTRANSLATED: u8 = 1;
/// Some connection reported translated (or unknown) messages: sticky for the process.
const MESSAGES_TRANSLATED: u8 = 2;

/// Records one new connection's `lc_messages` (asked once per connection, with its session
/// settings). The server sends its messages untranslated when it is `C`, `POSIX`, `C.<encoding>`
/// or English (`en`, `en_US.UTF-8` …: PostgreSQL ships no English translation). An empty value
/// (inherited from the server's environment) or any other language turns reading messages off
/// for the whole process, for good: a wrong kind is worse than [`DatabaseErrorKind::Other`].
pub(crate) fn note_lc_messages(lc_messages: &str) {
    if untranslated(lc_messages) {
        // Unknown becomes untranslated; translated stays translated.
        let _ = MESSAGES.compare_exchange(
            MESSAGES_UNKNOWN,
            MESSAGES_UNTRANSLATED,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    } else {
        MESSAGES.store(MESSAGES_TRANSLATED, Ordering::SeqCst);
    }
}

/// Whether a server with this `lc_messages` sends its messages as written in its source.
fn untranslated(lc_messages: &str) -> bool {
    lc_messages == "C"
        || lc_messages == "POSIX"
        || lc_messages.starts_with("C.")
        || lc_messages == "en"
        || lc_messages.starts_with("en_")
        || lc_messages.starts_with("en.")
}

/// The kind of an error whose SQLSTATE diesel does not report, from PostgreSQL's untranslated
/// primary message — each of these texts is raised by the server with exactly one SQLSTATE —
/// when every connection said its messages are untranslated; `None` otherwise. A deadlock is
/// recognised only with the server's own detail (`Process N waits for …`), so a
/// `RAISE EXCEPTION 'deadlock detected'` of a user's function stays `Other`.
fn unreported_sqlstate(info: &dyn DatabaseErrorInformation) -> Option<DatabaseErrorKind> {
    if MESSAGES.load(Ordering::SeqCst) != MESSAGES_UNTRANSLATED {
        return None;
    }
    match info.message() {
        // 57014 query_canceled, raised for the statement timeout.
        "canceling statement due to statement timeout" => Some(DatabaseErrorKind::StatementTimeout),
        // 55P03 lock_not_available, raised for the lock timeout.
        "canceling statement due to lock timeout" => Some(DatabaseErrorKind::LockTimeout),
        // 40P01 deadlock_detected.
        "deadlock detected"
            if info.details().is_some_and(|detail| {
                detail.starts_with("Process ") && detail.contains(" waits for ")
            }) =>
        {
            Some(DatabaseErrorKind::Deadlock)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_untranslated_message_languages_let_messages_be_read() {
        for language in ["C", "POSIX", "C.UTF-8", "en", "en_US.UTF-8", "en_GB.utf8"] {
            assert!(untranslated(language), "{language}");
        }
        // Empty: inherited from the server's environment, unknown here.
        for language in ["", "de_DE.UTF-8", "fr_FR", "eng", "Czech_Czechia.1250"] {
            assert!(!untranslated(language), "{language}");
        }
    }

    #[test]
    fn a_citus_shards_suffix_is_removed_from_the_constraints_of_our_tables_only() {
        struct Info(Option<&'static str>, Option<&'static str>);
        impl diesel::result::DatabaseErrorInformation for Info {
            fn message(&self) -> &str {
                "duplicate key"
            }
            fn details(&self) -> Option<&str> {
                None
            }
            fn hint(&self) -> Option<&str> {
                None
            }
            fn table_name(&self) -> Option<&str> {
                self.0
            }
            fn column_name(&self) -> Option<&str> {
                None
            }
            fn constraint_name(&self) -> Option<&str> {
                self.1
            }
            fn statement_position(&self) -> Option<i32> {
                None
            }
        }
        let name = |table, constraint| constraint_name(&Info(table, constraint)).map(str::to_owned);
        // Citus shards of a catalog table and of a partition.
        let shard = Some("catalog_names_102009");
        assert_eq!(
            name(shard, Some("catalog_names_pkey_102009")).as_deref(),
            Some("catalog_names_pkey")
        );
        let partition = Some("embeddings_7_102040");
        assert_eq!(
            name(partition, Some("embeddings_7_dim_16_102040")).as_deref(),
            Some("embeddings_7_dim_16")
        );
        // One server: a partition is not a shard of embeddings, a dimension equal to the id stays.
        assert_eq!(
            name(Some("embeddings_1"), Some("embeddings_1_dim_1")).as_deref(),
            Some("embeddings_1_dim_1")
        );
        // Someone else's table, and no table.
        assert_eq!(
            name(Some("orders_2024"), Some("orders_pkey_2024")).as_deref(),
            Some("orders_pkey_2024")
        );
        assert_eq!(name(None, Some("x_1")).as_deref(), Some("x_1"));
        // Relayed from a worker: no table, the shard's suffix goes.
        assert_eq!(
            name(None, Some("catalog_names_pkey_102012")).as_deref(),
            Some("catalog_names_pkey")
        );
        assert_eq!(name(shard, None), None);
    }

    #[test]
    fn partition_dimension_is_parsed_from_constraint_name() {
        assert_eq!(partition_dimension("embeddings_12_dim_384"), Some(384));
        assert_eq!(partition_dimension("embeddings_pkey"), None);
        assert_eq!(partition_dimension("collections_name_check"), None);
    }
}
