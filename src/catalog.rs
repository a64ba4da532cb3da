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

use diesel::PgConnection;

use crate::error::Result;
use crate::models::{Collection, CollectionId};
use crate::repo::catalog::{CollectionIndexes, read};

/// How long a collection's index facts are trusted.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(5);

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
