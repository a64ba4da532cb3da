//! What the embeddings handle (`embeddings.rs`) and the upsert below it (`upsert.rs`) share:
//! [`WriteSummary`], the lookup of rows by external id, and the write paths' questions to the
//! server — whether row-level security forbids the direct `COPY`, and what a failed write means.
//!
//! A leaf of `repo/`, so that `upsert` never reaches back into `embeddings`.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::models::{Collection, CollectionId};
use crate::schema::embeddings;

/// What a batch write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct WriteSummary {
    /// Items in the batch as given.
    pub received: usize,
    /// Earlier occurrences of a repeated `external_id` that the batch dropped (upserts only).
    pub duplicates_dropped: usize,
    /// Rows created.
    pub inserted: u64,
    /// Existing rows whose vector, content or metadata changed.
    pub updated: u64,
    /// Existing rows the batch left exactly as they were (re-ingest of the same data).
    pub unchanged: u64,
}

/// The rows of `collection` with these external ids: one array parameter, however many ids,
/// so the 65,535 bind-parameter limit never applies.
///
/// Written `external_id IN (SELECT unnest($2))` rather than `= ANY($2)`: for `= ANY` of a
/// few thousand values PostgreSQL estimates, without statistics (a fresh collection, a server
/// with autovacuum off), that every row matches and scans the whole partition for each batch
/// (220 ms instead of 20 ms for 2,000 ids in 200,000 rows, measured); the semi-join probes the
/// unique index once per id whatever the statistics say.
#[diesel::dsl::auto_type(no_type_alias)]
pub(super) fn with_external_ids<'a>(collection: CollectionId, ids: &'a [&'a str]) -> _ {
    let wanted: diesel::dsl::select<unnest<&'a [&'a str]>> = diesel::select(unnest(ids));
    let collection_id: i32 = collection.0;
    embeddings::table
        .filter(embeddings::collection_id.eq(collection_id))
        .filter(embeddings::external_id.eq_any(wanted))
}

diesel::define_sql_function! {
    /// The elements of an array as rows.
    fn unnest(values: diesel::sql_types::Array<diesel::sql_types::Text>) -> diesel::sql_types::Text;
}

/// How this role's writes reach `embeddings`, asked in one round trip.
#[derive(QueryableByName)]
pub(super) struct WritePath {
    /// Whether row-level security applies to this role (then PostgreSQL refuses `COPY … FROM`
    /// into it). Owners and superusers bypass it and keep the direct `COPY`.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub(super) secured: bool,
    /// Whether the database is distributed with Citus ([`crate::repo::citus::is_distributed`]).
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub(super) distributed: bool,
}

/// See [`WritePath`].
pub(super) fn write_path(conn: &mut PgConnection) -> Result<WritePath> {
    Ok(diesel::sql_query(format!(
        "SELECT row_security_active('embeddings') AS secured, {} AS distributed",
        crate::repo::citus::DISTRIBUTED
    ))
    .get_result(conn)?)
}

/// Gives write failures the most useful variant: a taken `external_id` is a conflict, a
/// missing partition means the collection was dropped meanwhile.
pub(super) fn write_error(error: DieselError, collection: &Collection) -> Error {
    match &error {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => Error::Conflict {
            message: taken_external_id(&collection.name, info.details()),
            constraint: crate::error::constraint_name(info.as_ref()).map(str::to_owned),
        },
        // "No partition of relation embeddings found for row": SQLSTATE 23514 without a
        // constraint, reported against the parent table — the collection's partition is gone.
        DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, info)
            if info.constraint_name().is_none() && info.table_name() == Some("embeddings") =>
        {
            Error::not_found("collection", collection.name.clone())
        }
        _ => Error::from(error),
    }
}

/// The name PostgreSQL gives the `UNIQUE (collection_id, external_id)` of `embeddings`
/// (migration …000003), and each partition's index of it after the partition's name.
const EXTERNAL_ID_KEY: &str = "collection_id_external_id_key";

/// Whether `error`, from an insert into `collection`, says that one of its `external_id`s is
/// already stored: a unique violation (SQLSTATE 23505, [`Error::Conflict`]) of the external-id
/// key — the partition's (`embeddings_<id>_collection_id_external_id_key`; on Citus without
/// the shard's suffix, which [`crate::error::constraint_name`] strips) or the parent's. A
/// conflict naming no constraint is the staged insert's own under row-level security on Citus
/// (fewer rows written than staged: an id taken), which is that key too. Any other unique
/// index someone added is not.
pub(super) fn is_taken_external_id(error: &Error, collection: &Collection) -> bool {
    let Error::Conflict { constraint, .. } = error else {
        return false;
    };
    let Some(constraint) = constraint.as_deref() else {
        return true;
    };
    constraint
        .strip_suffix(EXTERNAL_ID_KEY)
        .and_then(|table| table.strip_suffix('_'))
        .is_some_and(|table| table == collection.partition_name() || table == "embeddings")
}

/// The message of a unique violation on `external_id`: with the server's key detail when it
/// gives one, and saying why not when it does not — PostgreSQL withholds the key (and so the
/// id) from a role under row-level security, where the row in the way may be another tenant's.
pub(super) fn taken_external_id(collection: &str, detail: Option<&str>) -> String {
    let collection = crate::error::bounded(collection);
    match detail.map(|detail| detail.trim().trim_end_matches('.')) {
        Some(detail) if !detail.is_empty() => format!(
            "an external_id already exists in collection {collection} ({})",
            detail.to_lowercase()
        ),
        _ => format!(
            "an external_id of this write already exists in collection {collection}; the \
             server does not say which under row-level security (the row may belong to another \
             tenant: see the tenants guide)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::{is_taken_external_id, taken_external_id};
    use crate::error::Error;

    #[test]
    fn only_the_external_id_key_of_the_collection_or_its_parent_is_a_taken_id() {
        let collection = crate::repo::search::fixtures::collection();
        let conflict = |constraint: Option<&str>| Error::Conflict {
            message: "taken".to_owned(),
            constraint: constraint.map(str::to_owned),
        };
        // The partition's key (on Citus, after `constraint_name` stripped the shard's
        // suffix), the parent's, and the staged insert's own conflict under row-level security.
        for taken in [
            Some("embeddings_7_collection_id_external_id_key"),
            Some("embeddings_collection_id_external_id_key"),
            None,
        ] {
            assert!(
                is_taken_external_id(&conflict(taken), &collection),
                "{taken:?}"
            );
        }
        // Another collection's partition, someone's own unique index, and anything else.
        for other in [
            "embeddings_17_collection_id_external_id_key",
            "embeddings_7_collection_id_external_id_key_102040",
            "docs_one_tag",
            "embeddings_7_pkey",
        ] {
            assert!(
                !is_taken_external_id(&conflict(Some(other)), &collection),
                "{other}"
            );
        }
        assert!(!is_taken_external_id(
            &Error::not_found("collection", "docs"),
            &collection
        ));
    }

    #[test]
    fn a_conflict_without_the_servers_key_detail_shows_no_empty_brackets() {
        for detail in [None, Some(""), Some(" ")] {
            let message = taken_external_id("docs", detail);
            assert!(!message.contains("()"), "{message}");
            assert!(message.contains("row-level security"), "{message}");
        }
        assert_eq!(
            taken_external_id(
                "docs",
                Some("Key (collection_id, external_id)=(3, a-1) already exists.")
            ),
            "an external_id already exists in collection \"docs\" \
             (key (collection_id, external_id)=(3, a-1) already exists)"
        );
    }
}
