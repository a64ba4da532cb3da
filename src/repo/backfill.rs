//! The reads and the delete behind [`Store::backfill`](crate::Store::backfill): keyset pages of
//! the source collection without vectors, what the target holds for the same ids, and the
//! removal from the target of ids the source no longer has.

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Jsonb, Nullable, Text};

use crate::error::Result;
use crate::models::Collection;

/// A row as the backfill copies it: everything but the vector (which the embedder makes anew).
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub(crate) struct CopiedRow {
    #[diesel(sql_type = Text)]
    pub(crate) external_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub(crate) content: Option<String>,
    #[diesel(sql_type = Jsonb)]
    pub(crate) metadata: serde_json::Value,
    #[diesel(sql_type = Nullable<Text>)]
    pub(crate) tenant: Option<String>,
}

/// Up to `limit` rows of `collection` after `after` in `external_id` order (the unique index
/// `(collection_id, external_id)` serves filter and order).
pub(crate) fn page_after(
    conn: &mut PgConnection,
    collection: &Collection,
    after: &str,
    limit: i64,
) -> Result<Vec<CopiedRow>> {
    Ok(diesel::sql_query(
        "SELECT external_id, content, metadata, tenant FROM embeddings \
         WHERE collection_id = $1 AND external_id > $2 ORDER BY external_id LIMIT $3",
    )
    .bind::<Integer, _>(collection.id.0)
    .bind::<Text, _>(after)
    .bind::<BigInt, _>(limit)
    .load(conn)?)
}

/// The rows of `collection` with these external ids (one array parameter).
pub(crate) fn with_ids(
    conn: &mut PgConnection,
    collection: &Collection,
    ids: &[&str],
) -> Result<Vec<CopiedRow>> {
    Ok(diesel::sql_query(
        "SELECT external_id, content, metadata, tenant FROM embeddings \
         WHERE collection_id = $1 AND external_id = ANY($2)",
    )
    .bind::<Integer, _>(collection.id.0)
    .bind::<Array<Text>, _>(ids)
    .load(conn)?)
}

/// Deletes from `to` every row whose `external_id` `from` does not hold; returns how many.
pub(crate) fn delete_missing(
    conn: &mut PgConnection,
    from: &Collection,
    to: &Collection,
) -> Result<u64> {
    let deleted = diesel::sql_query(
        "DELETE FROM embeddings t WHERE t.collection_id = $2 AND NOT EXISTS \
         (SELECT 1 FROM embeddings f WHERE f.collection_id = $1 AND f.external_id = t.external_id)",
    )
    .bind::<Integer, _>(from.id.0)
    .bind::<Integer, _>(to.id.0)
    .execute(conn)?;
    Ok(deleted as u64)
}
