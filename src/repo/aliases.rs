//! The `collection_aliases` table: the [`Aliases`] handle (set, find, list, drop), and what
//! [`Collections`](crate::Collections) asks of it (which aliases point at a collection, which
//! collection an alias points at).
//!
//! Alias and collection names share one namespace (`catalog_names`, kept by triggers), so a
//! name is either a collection or an alias, never both; errors are told apart by SQLSTATE and
//! constraint name, never by message text.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{Integer, Text};
use garde::Valid;

use crate::dto::AliasSpec;
use crate::error::{Error, Result, bounded};
use crate::models::{Alias, AliasRow, Collection, CollectionId};
use crate::trace::{self, Operation};

/// The constraint that keeps collection and alias names apart.
pub(crate) const NAME_TAKEN: &str = "catalog_names_pkey";
/// The foreign key that refuses to drop a collection an alias points at.
pub(crate) const ALIAS_TARGET: &str = "collection_aliases_collection_id_fkey";

/// An alias with its collection, in the columns [`Alias`] reads.
const ALIAS_COLUMNS: &str = "a.name AS alias, a.updated_at AS alias_updated_at, c.*";

/// Aliases inside a unit of work.
pub struct Aliases<'u> {
    conn: &'u mut PgConnection,
}

impl<'u> Aliases<'u> {
    pub(crate) fn new(conn: &'u mut PgConnection) -> Self {
        Self { conn }
    }

    /// Points the alias `name` at the collection called `collection`, creating the alias or
    /// moving it, in one statement: a transaction that reads through the alias sees the old
    /// collection or the new one, never neither. The previous collection stays as it was.
    ///
    /// # Errors
    /// [`Error::Validation`] when either name is not a slug (paths `name`, `collection`);
    /// [`Error::NotFound`] when there is no collection called `collection`;
    /// [`Error::Conflict`] when `name` is a collection's name (an alias cannot shadow a
    /// collection; constraint `catalog_names_pkey`) or `collection` is itself an alias.
    pub fn set(&mut self, name: &str, collection: &str) -> Result<Alias> {
        let operation = Operation::start(trace::span!(
            "set_alias",
            alias = tracing::field::Empty,
            collection = tracing::field::Empty,
            collection_id = tracing::field::Empty,
        ));
        let alias = self.set_checked(name, collection);
        if let Ok(alias) = &alias {
            operation.record("alias", alias.name.as_str());
            operation.record("collection", alias.collection.name.as_str());
            operation.record("collection_id", alias.collection.id.0);
        }
        operation.finish(alias)
    }

    fn set_checked(&mut self, name: &str, collection: &str) -> Result<Alias> {
        let spec = AliasSpec::checked(name, collection)?;
        match upsert(self.conn, &spec)? {
            Some(alias) => Ok(alias),
            None => match target_of(self.conn, &spec.collection)? {
                Some(target) => Err(Error::Conflict {
                    message: format!(
                        "{} is an alias (of collection {}), not a collection: point {} at a collection",
                        bounded(&spec.collection),
                        bounded(&target),
                        bounded(&spec.name)
                    ),
                    constraint: None,
                }),
                None => Err(Error::not_found("collection", spec.collection.clone())),
            },
        }
    }

    /// The alias called `name`, with its collection.
    ///
    /// # Errors
    /// [`Error::NotFound`] (entity `"alias"`) when there is none.
    pub fn get(&mut self, name: &str) -> Result<Alias> {
        self.find(name)?
            .ok_or_else(|| Error::not_found("alias", name))
    }

    /// The alias called `name`, if any.
    ///
    /// # Errors
    /// [`Error::Database`] when the query fails.
    pub fn find(&mut self, name: &str) -> Result<Option<Alias>> {
        let row: Option<AliasRow> = diesel::sql_query(format!(
            "SELECT {ALIAS_COLUMNS} FROM collection_aliases a \
             JOIN collections c ON c.id = a.collection_id WHERE a.name = $1"
        ))
        .bind::<Text, _>(name)
        .get_result(self.conn)
        .optional()?;
        Ok(row.map(Alias::from))
    }

    /// Every alias with its collection, by alias name.
    ///
    /// # Errors
    /// [`Error::Database`] when the query fails.
    pub fn list(&mut self) -> Result<Vec<Alias>> {
        let rows: Vec<AliasRow> = diesel::sql_query(format!(
            "SELECT {ALIAS_COLUMNS} FROM collection_aliases a \
             JOIN collections c ON c.id = a.collection_id ORDER BY a.name"
        ))
        .load(self.conn)?;
        Ok(rows.into_iter().map(Alias::from).collect())
    }

    /// Drops the alias called `name` and returns what it was; its collection stays.
    ///
    /// # Errors
    /// [`Error::NotFound`] (entity `"alias"`) when there is none (a collection's name is not
    /// an alias: collections are dropped with [`Collections::drop`](crate::Collections::drop)).
    pub fn drop(&mut self, name: &str) -> Result<Alias> {
        let operation = Operation::start(trace::span!(
            "drop_alias",
            alias = tracing::field::Empty,
            collection = tracing::field::Empty,
        ));
        let dropped = self.drop_named(name);
        if let Ok(alias) = &dropped {
            operation.record("alias", alias.name.as_str());
            operation.record("collection", alias.collection.name.as_str());
        }
        operation.finish(dropped)
    }

    fn drop_named(&mut self, name: &str) -> Result<Alias> {
        let row: Option<AliasRow> = diesel::sql_query(format!(
            "WITH a AS (DELETE FROM collection_aliases WHERE name = $1 \
                        RETURNING name, collection_id, updated_at) \
             SELECT {ALIAS_COLUMNS} FROM a JOIN collections c ON c.id = a.collection_id"
        ))
        .bind::<Text, _>(name)
        .get_result(self.conn)
        .optional()?;
        if row.is_some() {
            release_name(self.conn, name, "alias")?;
        }
        row.map(Alias::from)
            .ok_or_else(|| Error::not_found("alias", name))
    }
}

/// Inserts or moves the alias; `None` when `spec.collection` names no collection (it may be
/// an alias). One statement, so the alias row is either the old or the new one for everybody.
fn upsert(conn: &mut PgConnection, spec: &Valid<AliasSpec>) -> Result<Option<Alias>> {
    let row: Option<AliasRow> = diesel::sql_query(format!(
        "WITH a AS (INSERT INTO collection_aliases (name, collection_id) \
                    SELECT $1, id FROM collections WHERE name = $2 \
                    ON CONFLICT (name) DO UPDATE SET collection_id = EXCLUDED.collection_id, \
                       updated_at = EXCLUDED.updated_at \
                    RETURNING name, collection_id, updated_at) \
         SELECT {ALIAS_COLUMNS} FROM a JOIN collections c ON c.id = a.collection_id"
    ))
    .bind::<Text, _>(&spec.name)
    .bind::<Text, _>(&spec.collection)
    .get_result(conn)
    .optional()
    .and_then(|row: Option<AliasRow>| {
        if row.is_some() {
            claim_name(conn, &spec.name, "alias")?;
        }
        Ok(row)
    })
    .map_err(|error| match error {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if crate::error::constraint_name(info.as_ref()) == Some(NAME_TAKEN) =>
        {
            Error::Conflict {
                message: format!(
                    "{} is a collection's name: an alias cannot shadow a collection",
                    bounded(&spec.name)
                ),
                constraint: Some(NAME_TAKEN.to_owned()),
            }
        }
        // The collection was dropped between our read of it and the foreign key's check.
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info)
            if crate::error::constraint_name(info.as_ref()) == Some(ALIAS_TARGET) =>
        {
            Error::not_found("collection", spec.collection.clone())
        }
        other => Error::from(other),
    })?;
    Ok(row.map(Alias::from))
}

/// Claims `name` for a `kind` ("collection" or "alias") in `catalog_names`, unless it holds
/// that claim already. On one server the claim triggers made it (this is then a no-op); on a
/// distributed database, which has no triggers (Citus cannot run a trigger that writes another
/// table from a shard), this statement makes it, and a name the other kind holds fails on
/// [`NAME_TAKEN`] as the trigger's insert would.
///
/// A unique violation of this statement can only be the name taken, so it is reported on
/// [`NAME_TAKEN`] whatever the server names: Citus relays a worker's error without its
/// constraint.
pub(crate) fn claim_name(conn: &mut PgConnection, name: &str, kind: &str) -> QueryResult<usize> {
    diesel::sql_query(
        "INSERT INTO catalog_names (name, kind) SELECT $1, $2 \
         WHERE NOT EXISTS (SELECT 1 FROM catalog_names WHERE name = $1 AND kind = $2)",
    )
    .bind::<Text, _>(name)
    .bind::<Text, _>(kind)
    .execute(conn)
    .map_err(|error| match error {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation,
                Box::new(NameTaken(info.message().to_owned())),
            )
        }
        other => other,
    })
}

/// A unique violation of `catalog_names`' primary key (see [`claim_name`]).
#[derive(Debug)]
struct NameTaken(String);

impl diesel::result::DatabaseErrorInformation for NameTaken {
    fn message(&self) -> &str {
        &self.0
    }
    fn details(&self) -> Option<&str> {
        None
    }
    fn hint(&self) -> Option<&str> {
        None
    }
    fn table_name(&self) -> Option<&str> {
        Some("catalog_names")
    }
    fn column_name(&self) -> Option<&str> {
        None
    }
    fn constraint_name(&self) -> Option<&str> {
        Some(NAME_TAKEN)
    }
    fn statement_position(&self) -> Option<i32> {
        None
    }
}

/// Gives up the `kind` claim on `name` (see [`claim_name`]): a no-op where a trigger did.
pub(crate) fn release_name(conn: &mut PgConnection, name: &str, kind: &str) -> QueryResult<usize> {
    diesel::sql_query("DELETE FROM catalog_names WHERE name = $1 AND kind = $2")
        .bind::<Text, _>(name)
        .bind::<Text, _>(kind)
        .execute(conn)
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// The name of the collection the alias `name` points at, if `name` is an alias.
pub(crate) fn target_of(conn: &mut PgConnection, name: &str) -> Result<Option<String>> {
    let row: Option<Name> = diesel::sql_query(
        "SELECT c.name FROM collection_aliases a JOIN collections c ON c.id = a.collection_id \
         WHERE a.name = $1",
    )
    .bind::<Text, _>(name)
    .get_result(conn)
    .optional()?;
    Ok(row.map(|row| row.name))
}

/// The aliases that point at `collection`, by name.
pub(crate) fn pointing_at(
    conn: &mut PgConnection,
    collection: CollectionId,
) -> Result<Vec<String>> {
    let rows: Vec<Name> = diesel::sql_query(
        "SELECT name FROM collection_aliases WHERE collection_id = $1 ORDER BY name",
    )
    .bind::<Integer, _>(collection.0)
    .load(conn)?;
    Ok(rows.into_iter().map(|row| row.name).collect())
}

/// The refusal to drop `collection` while `aliases` point at it.
pub(crate) fn still_aliased(collection: &Collection, aliases: &[String]) -> Error {
    let names: Vec<String> = aliases.iter().map(|name| bounded(name)).collect();
    Error::Conflict {
        message: format!(
            "collection {} is the target of alias {}: point the alias at another collection \
             (`alias set`) or drop it (`alias drop`) first",
            bounded(&collection.name),
            names.join(", ")
        ),
        constraint: Some(ALIAS_TARGET.to_owned()),
    }
}
