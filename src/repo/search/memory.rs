//! What the search planner needs to know about a collection's indexes, cached per [`Store`].
//!
//! A search decides between the ANN path and an exact scan from the collection's ANN index
//! and payload indexes. Reading them costs a round trip, so each store keeps them for
//! [`CACHE_TTL`]; its own index operations forget the entry at once, and another process's
//! changes are seen within the TTL. A stale entry can only make a response call an exact
//! result "approximate" (or take the exact path where an index just appeared): results stay
//! correct either way, because the exact path is exact whatever indexes exist.
//!
//! The same cache keeps what the search planner remembers (see [`PlannerMemory`]): row
//! estimates of filters for [`ESTIMATE_TTL`], at most [`MAX_ESTIMATES`] of them, forgotten with
//! a collection's index facts; and the search statement texts admitted to run prepared, at most
//! [`MAX_PREPARED_SHAPES`].
//!
//! [`Store`]: crate::Store

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use diesel::PgConnection;

use crate::error::Result;
use crate::models::{Collection, CollectionId};
use crate::repo::catalog::{CollectionIndexes, read};
use crate::repo::planner::PlannerMemory;

/// How long a collection's index facts are trusted.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(5);

/// How long a filter's row estimate is trusted. Statistics change only when the table is
/// analyzed (by autovacuum after about a tenth of its rows changed, or by an index build,
/// which forgets the collection's estimates at once).
pub(crate) const ESTIMATE_TTL: Duration = Duration::from_secs(60);

/// Most row estimates kept per store; when full, expired ones go, then all.
pub(crate) const MAX_ESTIMATES: usize = 4096;

/// Most search statement texts a store runs prepared: each of its pooled connections then keeps
/// at most this many prepared search statements on the server, however many collections (each
/// has its own texts) and filter shapes there are.
pub(crate) const MAX_PREPARED_SHAPES: usize = 512;

/// A filter's row estimate: when it was read, and the rows.
type Estimate = (Instant, u64);

/// Per-store cache of [`CollectionIndexes`] and of the planner's filter estimates.
#[derive(Debug, Clone, Default)]
pub(crate) struct IndexCache {
    entries: Arc<Mutex<HashMap<CollectionId, (Instant, CollectionIndexes)>>>,
    estimates: Arc<Mutex<HashMap<(CollectionId, String), Estimate>>>,
    prepared: Arc<Mutex<HashSet<String>>>,
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

    /// Drops the cached entry and the collection's estimates (after this store changed the
    /// collection's indexes, whose build also analyzes the table).
    pub(crate) fn forget(&self, collection: CollectionId) {
        self.lock().remove(&collection);
        self.lock_estimates().retain(|(id, _), _| *id != collection);
    }

    fn lock_estimates(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(CollectionId, String), Estimate>> {
        // Plain data, as for `lock`.
        self.estimates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<CollectionId, (Instant, CollectionIndexes)>> {
        // The map holds plain data: a panic elsewhere cannot leave it half-updated.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl PlannerMemory for IndexCache {
    fn estimate(&self, collection: CollectionId, key: &str) -> Option<u64> {
        // The key is looked up by value; building the tuple costs one copy of the key, far
        // less than the statement it saves.
        let estimates = self.lock_estimates();
        let (read_at, rows) = estimates.get(&(collection, key.to_owned()))?;
        (read_at.elapsed() < ESTIMATE_TTL).then_some(*rows)
    }

    fn keep_estimate(&self, collection: CollectionId, key: String, rows: u64) {
        let mut estimates = self.lock_estimates();
        if estimates.len() >= MAX_ESTIMATES {
            estimates.retain(|_, (read_at, _)| read_at.elapsed() < ESTIMATE_TTL);
            if estimates.len() >= MAX_ESTIMATES {
                estimates.clear();
            }
        }
        estimates.insert((collection, key), (Instant::now(), rows));
    }

    fn admit_prepared(&self, text: &str) -> bool {
        // Plain data, as for `lock`.
        let mut prepared = self.prepared.lock().unwrap_or_else(PoisonError::into_inner);
        if prepared.contains(text) {
            return true;
        }
        if prepared.len() >= MAX_PREPARED_SHAPES {
            return false;
        }
        prepared.insert(text.to_owned());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_are_kept_per_collection_and_forgotten_with_its_indexes() {
        let cache = IndexCache::default();
        let (one, two) = (CollectionId(1), CollectionId(2));
        cache.keep_estimate(one, "f".into(), 10);
        cache.keep_estimate(two, "f".into(), 20);
        assert_eq!(cache.estimate(one, "f"), Some(10));
        assert_eq!(cache.estimate(two, "f"), Some(20));
        assert_eq!(cache.estimate(one, "g"), None);
        cache.forget(one);
        assert_eq!(cache.estimate(one, "f"), None);
        assert_eq!(cache.estimate(two, "f"), Some(20));
    }

    #[test]
    fn only_a_bounded_number_of_statement_texts_runs_prepared() {
        let cache = IndexCache::default();
        let texts: Vec<String> = (0..MAX_PREPARED_SHAPES + 40)
            .map(|index| format!("SELECT {index}"))
            .collect();
        let admitted: Vec<bool> = texts
            .iter()
            .map(|text| cache.admit_prepared(text))
            .collect();
        assert!(admitted[..MAX_PREPARED_SHAPES].iter().all(|yes| *yes));
        assert!(admitted[MAX_PREPARED_SHAPES..].iter().all(|yes| !*yes));
        // What was admitted stays admitted: its prepared statements keep being used.
        assert!(cache.admit_prepared(&texts[0]));
        // Another store has its own bound.
        assert!(IndexCache::default().admit_prepared("SELECT 'other'"));
    }

    #[test]
    fn the_estimate_cache_stays_bounded() {
        let cache = IndexCache::default();
        for index in 0..MAX_ESTIMATES + 10 {
            cache.keep_estimate(CollectionId(1), format!("f{index}"), index as u64);
            assert!(cache.lock_estimates().len() <= MAX_ESTIMATES);
        }
        let last = MAX_ESTIMATES + 9;
        assert_eq!(
            cache.estimate(CollectionId(1), &format!("f{last}")),
            Some(last as u64)
        );
    }
}
