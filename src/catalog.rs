//! What the search planner needs to know about a collection's indexes, cached per [`Store`].
//!
//! A search decides between the ANN path and an exact scan from the collection's ANN index
//! and payload indexes. Reading them costs a round trip, so each store keeps them for
//! [`CACHE_TTL`]; its own index operations forget the entry at once, and another process's
//! changes are seen within the TTL. A stale entry can only make a response call an exact
//! result "approximate" (or take the exact path where an index just appeared): results stay
//! correct either way, because the exact path is exact whatever indexes exist.
//!
//! [`Store`]: crate::Store

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Integer, Nullable, Text};

use crate::dto::IndexMethod;
use crate::error::Result;
use crate::models::{Collection, CollectionId};

/// How long a collection's index facts are trusted.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(5);

/// The indexes of one collection, as the planner needs them.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CollectionIndexes {
    /// The valid ANN index's method; `None` when there is none (or it is invalid).
    pub(crate) ann: Option<IndexMethod>,
    /// Valid payload indexes: (field path, kind name); kind `gin` has an empty path.
    pub(crate) payload: Vec<(Vec<String>, String)>,
}

/// Per-store cache of [`CollectionIndexes`].
#[derive(Debug, Clone, Default)]
pub(crate) struct IndexCache {
    entries: Arc<Mutex<HashMap<CollectionId, (Instant, CollectionIndexes)>>>,
}

impl IndexCache {
    /// The collection's indexes, read from the database when not cached or too old.
    pub(crate) fn get(
        &self,
        conn: &mut PgConnection,
        collection: &Collection,
    ) -> Result<CollectionIndexes> {
        if let Some((read_at, indexes)) = self.lock().get(&collection.id) {
            if read_at.elapsed() < CACHE_TTL {
                return Ok(indexes.clone());
            }
        }
        let indexes = read(conn, collection)?;
        self.lock()
            .insert(collection.id, (Instant::now(), indexes.clone()));
        Ok(indexes)
    }

    /// Drops the cached entry (after this store changed the collection's indexes).
    pub(crate) fn forget(&self, collection: CollectionId) {
        self.lock().remove(&collection);
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<CollectionId, (Instant, CollectionIndexes)>> {
        // The map holds plain data: a panic elsewhere cannot leave it half-updated.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The collection's payload layout read now, uncached: for count, delete and scroll inside a
/// unit of work (which sees its own transaction's snapshot of the catalog).
pub(crate) fn layout_now(
    conn: &mut PgConnection,
    collection: &Collection,
) -> Result<crate::filter::PayloadLayout> {
    Ok(crate::repo::planner::layout(
        &read(conn, collection)?.payload,
    ))
}

#[derive(QueryableByName)]
struct IndexRow {
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Nullable<Text>)]
    method: Option<String>,
    #[diesel(sql_type = Nullable<Array<Text>>)]
    field: Option<Vec<String>>,
    #[diesel(sql_type = Nullable<Text>)]
    kind: Option<String>,
    #[diesel(sql_type = Bool)]
    valid: bool,
}

/// One query: the ANN index (from pg_catalog: it counts only when valid) and the payload
/// indexes recorded in our catalog whose index exists and is valid.
fn read(conn: &mut PgConnection, collection: &Collection) -> Result<CollectionIndexes> {
    let rows: Vec<IndexRow> = diesel::sql_query(
        "SELECT 'ann' AS source, am.amname::text AS method, NULL::text[] AS field, \
                NULL::text AS kind, i.indisvalid AS valid \
         FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid JOIN pg_am am ON am.oid = c.relam \
         WHERE c.relname = $1 AND c.relnamespace = current_schema()::text::regnamespace \
         UNION ALL \
         SELECT 'payload', NULL, p.field, p.kind, coalesce(i.indisvalid, false) \
         FROM payload_indexes p \
         LEFT JOIN pg_class c ON c.relname = $2 || p.id \
              AND c.relnamespace = current_schema()::text::regnamespace \
         LEFT JOIN pg_index i ON i.indexrelid = c.oid \
         WHERE p.collection_id = $3",
    )
    .bind::<Text, _>(crate::index::ann_name(collection))
    .bind::<Text, _>(crate::index::payload_prefix(collection))
    .bind::<Integer, _>(collection.id.0)
    .load(conn)?;
    let mut indexes = CollectionIndexes::default();
    for row in rows.into_iter().filter(|row| row.valid) {
        if row.source == "ann" {
            indexes.ann = row.method.as_deref().and_then(IndexMethod::from_name);
        } else if let (Some(field), Some(kind)) = (row.field, row.kind) {
            indexes.payload.push((field, kind));
        }
    }
    Ok(indexes)
}
