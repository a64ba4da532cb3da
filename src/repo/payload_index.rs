//! The payload indexes' SQL: their `payload_indexes` catalog rows (what field and kind each
//! index serves; the id is part of its name), the `CREATE INDEX CONCURRENTLY` text of a btree
//! on one field's typed accessor or a GIN index on all of `metadata`, the `ANALYZE` that gives
//! the planner the field's statistics, and the listing joined with pg_catalog.
//!
//! A field's path reaches the DDL only through the server's `format('… %L …', $1)`; the
//! template holds our integers and the closed set of accessor names.

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Text};

use crate::error::{Error, Result};
use crate::filter::{FieldPath, PayloadKind};
use crate::models::Collection;
use crate::repo::collections::payload_prefix;
use crate::repo::index_build::DdlText;

#[derive(QueryableByName)]
struct PayloadId {
    #[diesel(sql_type = Integer)]
    id: i32,
}

/// One `payload_indexes` row with its index's state in pg_catalog.
#[derive(QueryableByName)]
pub(crate) struct PayloadRow {
    #[diesel(sql_type = Integer)]
    pub(crate) id: i32,
    #[diesel(sql_type = Array<Text>)]
    pub(crate) field: Vec<String>,
    #[diesel(sql_type = Text)]
    pub(crate) kind: String,
    #[diesel(sql_type = Bool)]
    pub(crate) valid: bool,
    #[diesel(sql_type = BigInt)]
    pub(crate) size_bytes: i64,
}

/// Records a payload index on `field` of kind `kind_name` and returns its catalog id.
///
/// # Errors
/// [`Error::Conflict`] when the collection already has that index.
pub(crate) fn insert(
    conn: &mut PgConnection,
    collection: &Collection,
    field: &[String],
    kind_name: &str,
) -> Result<i32> {
    let id: Option<PayloadId> = diesel::sql_query(
        "INSERT INTO payload_indexes (collection_id, field, kind) VALUES ($1, $2, $3) \
         ON CONFLICT (collection_id, field, kind) DO NOTHING RETURNING id",
    )
    .bind::<Integer, _>(collection.id.0)
    .bind::<Array<Text>, _>(field)
    .bind::<Text, _>(kind_name)
    .get_result(conn)
    .optional()?;
    let Some(PayloadId { id }) = id else {
        return Err(Error::Conflict {
            message: format!(
                "collection {:?} already has a {kind_name} payload index on {:?}",
                collection.name,
                FieldPath::from_segments(field.iter().cloned()).to_string()
            ),
            constraint: Some("payload_indexes_collection_id_field_kind_key".to_owned()),
        });
    };
    Ok(id)
}

/// The `CREATE INDEX CONCURRENTLY` text of the payload index `name`: a btree on `field`'s
/// `kind` accessor, or with `kind` `None` a GIN index on all of `metadata`.
pub(crate) fn ddl(
    conn: &mut PgConnection,
    collection: &Collection,
    name: &str,
    field: &[String],
    kind: Option<PayloadKind>,
) -> Result<String> {
    let partition = collection.partition_name();
    let template = match kind {
        None => format!(
            "SELECT format('CREATE INDEX CONCURRENTLY {name} ON {partition} \
             USING gin (metadata jsonb_path_ops)') AS sql"
        ),
        Some(kind) => format!(
            "SELECT format('CREATE INDEX CONCURRENTLY {name} ON {partition} \
             (({}(metadata #> %L::text[])))', $1::text[]) AS sql",
            kind.accessor()
        ),
    };
    let mut query = diesel::sql_query(template).into_boxed();
    if kind.is_some() {
        query = query.bind::<Array<Text>, _>(field.to_vec());
    }
    let ddl: DdlText = query.get_result(conn)?;
    Ok(ddl.sql)
}

/// Refreshes the partition's statistics: expression statistics come from `ANALYZE`, and the
/// planner's estimates need them.
pub(crate) fn analyze(conn: &mut PgConnection, collection: &Collection) -> Result<()> {
    crate::repo::stats::analyze(conn, collection.id)
}

/// Removes the catalog row of a payload index whose build failed.
pub(crate) fn delete(conn: &mut PgConnection, id: i32) -> Result<()> {
    diesel::sql_query("DELETE FROM payload_indexes WHERE id = $1")
        .bind::<Integer, _>(id)
        .execute(conn)?;
    Ok(())
}

/// Removes the collection's catalog row `id`; returns whether there was one.
pub(crate) fn delete_of(conn: &mut PgConnection, collection: &Collection, id: i32) -> Result<bool> {
    let deleted =
        diesel::sql_query("DELETE FROM payload_indexes WHERE collection_id = $1 AND id = $2")
            .bind::<Integer, _>(collection.id.0)
            .bind::<Integer, _>(id)
            .execute(conn)?;
    Ok(deleted > 0)
}

/// The collection's payload indexes in creation order, each with its index's validity and size.
pub(crate) fn list(conn: &mut PgConnection, collection: &Collection) -> Result<Vec<PayloadRow>> {
    Ok(diesel::sql_query(
        "SELECT p.id, p.field, p.kind, coalesce(i.indisvalid, false) AS valid, \
                coalesce(embedstore_index_bytes(c.oid), 0) AS size_bytes \
         FROM payload_indexes p \
         LEFT JOIN pg_class c ON c.relname = $1 || p.id \
              AND c.relnamespace = current_schema()::text::regnamespace \
         LEFT JOIN pg_index i ON i.indexrelid = c.oid \
         WHERE p.collection_id = $2 ORDER BY p.id",
    )
    .bind::<Text, _>(payload_prefix(collection))
    .bind::<Integer, _>(collection.id.0)
    .load(conn)?)
}
