//! The `collections` table and each collection's partition of `embeddings`: the
//! [`Collections`] handle (create with the partition's DDL, find, list, drop), the check that
//! a handle's collection still exists ([`ensure_partition`]), and the names derived from the
//! partition's (`embeddings_<id>_ann`, `embeddings_<id>_payload_<n>`).

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{BigInt, Bool, Integer, Text};
use garde::{Unvalidated, Valid};

use crate::dto::NewCollection;
use crate::error::{Error, Result, bounded};
use crate::metric::column_of;
use crate::models::{Collection, CollectionRow};
use crate::repo::aliases;
use crate::repo::touched::Touched;
use crate::schema::collections;
use crate::trace::{self, Operation};
use crate::vector::VectorKind;

/// Collections inside a unit of work.
pub struct Collections<'u> {
    conn: &'u mut PgConnection,
    /// What the writes changed, for the store's cache (forgotten after commit).
    touched: &'u mut Touched,
}

impl<'u> Collections<'u> {
    pub(crate) fn new(conn: &'u mut PgConnection, touched: &'u mut Touched) -> Self {
        Self { conn, touched }
    }

    /// Creates a collection and its partition (whose CHECK enforces the dimension).
    ///
    /// # Errors
    /// [`Error::Validation`] for a bad spec; [`Error::Conflict`] when the name is taken.
    pub fn create(&mut self, spec: NewCollection) -> Result<Collection> {
        // The name only once validated: a hostile name never reaches a span.
        let operation = Operation::start(trace::span!(
            "create_collection",
            collection = tracing::field::Empty,
            dimension = spec.dimension,
            metric = spec.metric.as_str(),
        ));
        let spec = Unvalidated::new(spec)
            .validate()
            .map_err(|report| Error::invalid(&report));
        let spec = operation.finish(spec)?;
        operation.record("collection", spec.name.as_str());
        operation.finish(insert(self.conn, &spec))
    }

    /// The collection called `name`, or the one the alias `name` points at.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is neither.
    pub fn get(&mut self, name: &str) -> Result<Collection> {
        self.find(name)?
            .ok_or_else(|| Error::not_found("collection", name))
    }

    /// The collection called `name`, or the one the alias `name` points at, if any: one
    /// statement, so a unit of work that keeps the returned handle works on one collection
    /// from start to end, whenever the alias moves.
    ///
    /// # Errors
    /// [`Error::Database`] when the query fails.
    pub fn find(&mut self, name: &str) -> Result<Option<Collection>> {
        // Collection and alias names never overlap (`catalog_names`), so at most one matches.
        let through_alias = diesel::dsl::sql::<Bool>(
            "collections.id = (SELECT collection_id FROM collection_aliases WHERE collection_aliases.name = ",
        )
        .bind::<Text, _>(name)
        .sql(")");
        Ok(collections::table
            .filter(collections::name.eq(name).or(through_alias))
            .select(CollectionRow::as_select())
            .first(self.conn)
            .optional()?
            .map(Collection::from))
    }

    /// Every collection, by name.
    ///
    /// # Errors
    /// [`Error::Database`] when the query fails.
    pub fn list(&mut self) -> Result<Vec<Collection>> {
        Ok(collections::table
            .order(collections::name)
            .select(CollectionRow::as_select())
            .load(self.conn)?
            .into_iter()
            .map(Collection::from)
            .collect())
    }

    /// Drops the collection called `name` with all its embeddings (its partition is dropped:
    /// no row-by-row delete) and returns what it was.
    ///
    /// Takes an exclusive lock on `embeddings` until the transaction ends, like any
    /// partition DDL: keep the transaction short. Unlike every other method, this one takes a
    /// collection's own name only, never an alias: dropping data through a name that moves is
    /// refused.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is none; [`Error::Conflict`] when `name` is an alias, or
    /// an alias points at the collection (constraint `collection_aliases_collection_id_fkey`:
    /// move or drop the alias first).
    pub fn drop(&mut self, name: &str) -> Result<Collection> {
        let operation = Operation::start(trace::span!(
            "drop_collection",
            collection = tracing::field::Empty,
            collection_id = tracing::field::Empty,
        ));
        let dropped = self.drop_named(name);
        if let Ok(collection) = &dropped {
            operation.record("collection", collection.name.as_str());
            operation.record("collection_id", collection.id.0);
        }
        operation.finish(dropped)
    }

    fn drop_named(&mut self, name: &str) -> Result<Collection> {
        // The row lock waits for transactions that are pointing an alias at the collection (the
        // foreign key locks the row too) and keeps new ones out until this one ends.
        let Some(collection) = collections::table
            .filter(collections::name.eq(name))
            .select(CollectionRow::as_select())
            .for_update()
            .first(self.conn)
            .optional()?
            .map(Collection::from)
        else {
            return Err(match aliases::target_of(self.conn, name)? {
                Some(target) => Error::Conflict {
                    message: format!(
                        "{} is an alias (of collection {}), not a collection: drop the alias \
                         (`alias drop`), or the collection by its own name",
                        bounded(name),
                        bounded(&target)
                    ),
                    constraint: None,
                },
                None => Error::not_found("collection", name),
            });
        };
        let pointing = aliases::pointing_at(self.conn, collection.id)?;
        if !pointing.is_empty() {
            return Err(aliases::still_aliased(&collection, &pointing));
        }
        self.touched.collection(collection.id);
        // The partition name is built from our own integer id, never from caller text.
        diesel::sql_query(format!("DROP TABLE {}", collection.partition_name()))
            .execute(self.conn)?;
        diesel::delete(collections::table.find(collection.id.0))
            .execute(self.conn)
            .and_then(|_| aliases::release_name(self.conn, &collection.name, "collection"))
            .map_err(|error| match error {
                // A transaction at another isolation level pointed an alias at it meanwhile.
                DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info)
                    if crate::error::constraint_name(info.as_ref())
                        == Some(aliases::ALIAS_TARGET) =>
                {
                    aliases::still_aliased(&collection, &[])
                }
                other => Error::from(other),
            })?;
        Ok(collection)
    }
}

fn insert(conn: &mut PgConnection, spec: &Valid<NewCollection>) -> Result<Collection> {
    let collection = diesel::insert_into(collections::table)
        .values(spec.as_row())
        .returning(CollectionRow::as_returning())
        .get_result(conn)
        .map(Collection::from)
        .and_then(|collection| {
            aliases::claim_name(conn, &collection.name, "collection")?;
            Ok(collection)
        })
        .map_err(|error| match error {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
                if crate::error::constraint_name(info.as_ref()) == Some(aliases::NAME_TAKEN) =>
            {
                Error::Conflict {
                    message: format!(
                        "{} is an alias's name: a collection cannot take it",
                        bounded(&spec.name)
                    ),
                    constraint: Some(aliases::NAME_TAKEN.to_owned()),
                }
            }
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => Error::Conflict {
                message: format!("a collection named {:?} already exists", spec.name),
                constraint: Some("collections_name_key".to_owned()),
            },
            other => Error::from(other),
        })?;
    create_partition(conn, &collection)?;
    Ok(collection)
}

/// Creates the collection's partition. Only integers from our own catalog reach the SQL text:
/// the id (in the name and the partition bound) and the dimension (in the CHECK).
fn create_partition(conn: &mut PgConnection, collection: &Collection) -> Result<()> {
    let partition = collection.partition_name();
    let dimension = collection.dimension;
    let id = collection.id.0;
    let kind = collection.kind;
    let distributed = crate::repo::citus::is_distributed(conn)?;
    // Which column the rows fill (the parent's CHECK keeps the other two NULL), and the
    // dimension of what it holds: `sparsevec` has no dimension function, but its cast to
    // `sparsevec(N)` refuses any other dimension.
    let column = column_of(kind);
    let dimension_check = match kind {
        VectorKind::Dense => format!("vector_dims(embedding) = {dimension}"),
        VectorKind::Sparse => format!("sparse::sparsevec({dimension}) IS NOT NULL"),
        VectorKind::Bit => format!("length(bits) = {dimension}"),
    };
    diesel::sql_query(format!(
        "CREATE TABLE {partition} PARTITION OF embeddings \
         (CONSTRAINT {partition}_kind_{kind} CHECK ({column} IS NOT NULL), \
          CONSTRAINT {partition}_dim_{dimension} CHECK ({dimension_check})) \
         FOR VALUES IN ({id})"
    ))
    .execute(conn)?;
    // Statement-level triggers are not inherited by partitions: a TRUNCATE of this partition
    // alone must notify caching stores too (migration …000050_change_notifications). A
    // distributed database has no triggers (see `crate::citus`), and no caching store.
    if !distributed {
        diesel::sql_query(format!(
            "CREATE TRIGGER {partition}_notify_truncate AFTER TRUNCATE ON {partition} \
             FOR EACH STATEMENT EXECUTE FUNCTION embedstore_notify_embeddings()"
        ))
        .execute(conn)?;
    }
    diesel::sql_query(format!(
        "COMMENT ON TABLE {partition} IS 'Embeddings of collection {id} ({kind}, {dimension} dimensions); created and dropped by embedstore.'"
    ))
    .execute(conn)?;
    Ok(())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    #[expect(dead_code, reason = "only whether a row came back matters")]
    count: i64,
}

/// `NotFound` when the collection's partition is gone (the handle outlived a drop).
pub(crate) fn ensure_partition(conn: &mut PgConnection, collection: &Collection) -> Result<()> {
    let exists: Option<Count> =
        diesel::sql_query("SELECT 1::bigint AS count FROM collections WHERE id = $1 AND name = $2")
            .bind::<Integer, _>(collection.id.0)
            .bind::<Text, _>(&collection.name)
            .get_result(conn)
            .optional()?;
    match exists {
        Some(_) => Ok(()),
        None => Err(Error::not_found("collection", collection.name.clone())),
    }
}

/// The prefix of the collection's payload index names (`embeddings_<id>_payload_<payload id>`).
pub(crate) fn payload_prefix(collection: &Collection) -> String {
    format!("{}_payload_", collection.partition_name())
}

/// The ANN index's name; only our integer id goes into it.
pub(crate) fn ann_name(collection: &Collection) -> String {
    format!("{}_ann", collection.partition_name())
}
