//! What the search planner remembers between searches: one value per [`Store`], shared by its
//! connections and units of work.
//!
//! | what | kept for | bound | forgotten when |
//! | --- | --- | --- | --- |
//! | a collection's index facts ([`CollectionIndexes`]: ANN method and quantization, text configuration, valid payload indexes) | [`INDEX_TTL`] | one entry per collection | this store builds or drops one of the collection's indexes ([`PlannerMemory::forget`]), or the TTL ends |
//! | a filter's row estimate (keyed by the filter's rendered SQL and values) | [`ESTIMATE_TTL`] | [`MAX_ESTIMATES`]: when full, expired ones go, then all | with the collection's index facts (an index build analyzes the table), or the TTL ends |
//! | whether PostgreSQL's plan for an ANN statement text uses the index ([`verdict`](super::verdict)) | while the index facts and the partition's statistics stamp (analyze count, size class) it was read under stay the same | [`MAX_VERDICTS`]: when full, all go | with the collection's index facts, or when a fresh read of them differs |
//! | the search statement texts admitted to run prepared | the store's life | [`MAX_PREPARED_SHAPES`]: later texts run as one-off statements | never: what was admitted keeps being used by the connections that prepared it |
//!
//! Why each is safe to keep:
//! - **Index facts**: reading them costs a round trip. Another process's index changes are seen
//!   within the TTL; a stale entry can only make a response call an exact result "approximate"
//!   (or take the exact path where an index just appeared): results stay correct either way,
//!   because the exact path is exact whatever indexes exist.
//! - **Row estimates**: asking PostgreSQL costs planning a statement, and the answer changes
//!   only with the statistics (`ANALYZE`, by autovacuum after about a tenth of the rows
//!   changed). A stale estimate can only pick the slower of two correct paths: the exact path
//!   is exact, and a short ANN answer under a filter is completed exactly.
//! - **Plan verdicts**: reading one costs planning the statement. The plan of a statement
//!   shape changes with the statistics (a new `ANALYZE`, by embedstore after bulk writes and
//!   index builds, or by autovacuum), the indexes, or the partition's size; the stamp holds
//!   all three and is re-read with the index facts, so another process's analyze is seen
//!   within [`INDEX_TTL`]. Until then a stale verdict can only report the exact path for a
//!   plan that now uses the index, or the reverse — for one TTL.
//! - **Prepared texts**: diesel's per-connection statement cache never evicts, and every
//!   collection has its own texts, so each pooled connection keeps at most
//!   [`MAX_PREPARED_SHAPES`] prepared search statements on the server, however many
//!   collections and filter shapes there are.
//!
//! [`Store`]: crate::Store

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use diesel::PgConnection;

use crate::error::Result;
use crate::models::{Collection, CollectionId};
use crate::repo::catalog::{CollectionIndexes, read};
use crate::repo::search::advice::IndexNotUsedReason;

/// How long a collection's index facts are trusted.
pub(crate) const INDEX_TTL: Duration = Duration::from_secs(5);

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

/// Most plan verdicts kept per store; when full, all go.
pub(crate) const MAX_VERDICTS: usize = 1024;

/// A plan verdict: the stamp it was read under, and why the plan passes the index over
/// (`None`: it uses it).
type Verdict = (String, Option<IndexNotUsedReason>);

/// A collection's index facts: when they were read, and what.
type IndexFacts = (Instant, CollectionIndexes);

/// A filter's row estimate: when it was read, and the rows.
type Estimate = (Instant, u64);

/// The planner's memory of one store (see the module documentation). Clones share it.
#[derive(Debug, Clone, Default)]
pub(crate) struct PlannerMemory {
    indexes: Arc<Mutex<HashMap<CollectionId, IndexFacts>>>,
    estimates: Arc<Mutex<HashMap<(CollectionId, String), Estimate>>>,
    prepared: Arc<Mutex<HashSet<String>>>,
    verdicts: Arc<Mutex<HashMap<(CollectionId, String), Verdict>>>,
}

impl PlannerMemory {
    /// The collection's indexes, read from the database when not kept or too old.
    pub(crate) fn get(
        &self,
        conn: &mut PgConnection,
        collection: &Collection,
    ) -> Result<CollectionIndexes> {
        if let Some((read_at, indexes)) = lock(&self.indexes).get(&collection.id) {
            if read_at.elapsed() < INDEX_TTL {
                return Ok(indexes.clone());
            }
        }
        let indexes = read(conn, collection)?;
        lock(&self.indexes).insert(collection.id, (Instant::now(), indexes.clone()));
        Ok(indexes)
    }

    /// Forgets the collection's index facts and its estimates (after this store changed the
    /// collection's indexes, whose build also analyzes the table).
    pub(crate) fn forget(&self, collection: CollectionId) {
        lock(&self.indexes).remove(&collection);
        lock(&self.estimates).retain(|(id, _), _| *id != collection);
        lock(&self.verdicts).retain(|(id, _), _| *id != collection);
    }

    /// The plan verdict kept for the statement `text` of `collection`, when it was read under
    /// `stamp`: `Some(None)` the plan uses the index, `Some(Some(reason))` it does not.
    pub(crate) fn verdict(
        &self,
        collection: CollectionId,
        text: &str,
        stamp: &str,
    ) -> Option<Option<IndexNotUsedReason>> {
        let verdicts = lock(&self.verdicts);
        let (kept, verdict) = verdicts.get(&(collection, text.to_owned()))?;
        (kept == stamp).then_some(*verdict)
    }

    /// Keeps `verdict` for the statement `text` of `collection`, read under `stamp`.
    pub(crate) fn keep_verdict(
        &self,
        collection: CollectionId,
        text: String,
        stamp: String,
        verdict: Option<IndexNotUsedReason>,
    ) {
        let mut verdicts = lock(&self.verdicts);
        if verdicts.len() >= MAX_VERDICTS {
            verdicts.clear();
        }
        verdicts.insert((collection, text), (stamp, verdict));
    }

    /// The estimate kept for `key` (the filter's rendered SQL and values) in `collection`.
    pub(crate) fn estimate(&self, collection: CollectionId, key: &str) -> Option<u64> {
        // The key is looked up by value; building the tuple costs one copy of the key, far
        // less than the statement it saves.
        let estimates = lock(&self.estimates);
        let (read_at, rows) = estimates.get(&(collection, key.to_owned()))?;
        (read_at.elapsed() < ESTIMATE_TTL).then_some(*rows)
    }

    /// Keeps `rows` as the estimate for `key` in `collection`.
    pub(crate) fn keep_estimate(&self, collection: CollectionId, key: String, rows: u64) {
        let mut estimates = lock(&self.estimates);
        if estimates.len() >= MAX_ESTIMATES {
            estimates.retain(|_, (read_at, _)| read_at.elapsed() < ESTIMATE_TTL);
            if estimates.len() >= MAX_ESTIMATES {
                estimates.clear();
            }
        }
        estimates.insert((collection, key), (Instant::now(), rows));
    }

    /// Whether the statement `text` may run prepared: it was admitted before, or the store's
    /// bound leaves room for it.
    pub(crate) fn admit_prepared(&self, text: &str) -> bool {
        let mut prepared = lock(&self.prepared);
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every map holds plain data: a panic elsewhere cannot leave it half-updated.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_are_kept_per_collection_and_forgotten_with_its_indexes() {
        let memory = PlannerMemory::default();
        let (one, two) = (CollectionId(1), CollectionId(2));
        memory.keep_estimate(one, "f".into(), 10);
        memory.keep_estimate(two, "f".into(), 20);
        assert_eq!(memory.estimate(one, "f"), Some(10));
        assert_eq!(memory.estimate(two, "f"), Some(20));
        assert_eq!(memory.estimate(one, "g"), None);
        memory.forget(one);
        assert_eq!(memory.estimate(one, "f"), None);
        assert_eq!(memory.estimate(two, "f"), Some(20));
    }

    #[test]
    fn a_plan_verdict_holds_only_under_the_stamp_it_was_read_under() {
        let memory = PlannerMemory::default();
        let one = CollectionId(1);
        memory.keep_verdict(one, "S".into(), "0:5".into(), None);
        memory.keep_verdict(
            CollectionId(2),
            "S".into(),
            "0:5".into(),
            Some(IndexNotUsedReason::NoStatistics),
        );
        assert_eq!(memory.verdict(one, "S", "0:5"), Some(None));
        // A new analyze (or index, or size class) changes the stamp: asked again.
        assert_eq!(memory.verdict(one, "S", "1:5"), None);
        assert_eq!(
            memory.verdict(CollectionId(2), "S", "0:5"),
            Some(Some(IndexNotUsedReason::NoStatistics))
        );
        memory.forget(one);
        assert_eq!(memory.verdict(one, "S", "0:5"), None);
        for index in 0..MAX_VERDICTS + 5 {
            memory.keep_verdict(one, format!("S{index}"), "0:5".into(), None);
            assert!(lock(&memory.verdicts).len() <= MAX_VERDICTS);
        }
    }

    #[test]
    fn only_a_bounded_number_of_statement_texts_runs_prepared() {
        let memory = PlannerMemory::default();
        let texts: Vec<String> = (0..MAX_PREPARED_SHAPES + 40)
            .map(|index| format!("SELECT {index}"))
            .collect();
        let admitted: Vec<bool> = texts
            .iter()
            .map(|text| memory.admit_prepared(text))
            .collect();
        assert!(admitted[..MAX_PREPARED_SHAPES].iter().all(|yes| *yes));
        assert!(admitted[MAX_PREPARED_SHAPES..].iter().all(|yes| !*yes));
        // What was admitted stays admitted: its prepared statements keep being used.
        assert!(memory.admit_prepared(&texts[0]));
        // Another store has its own bound.
        assert!(PlannerMemory::default().admit_prepared("SELECT 'other'"));
    }

    #[test]
    fn the_estimate_cache_stays_bounded() {
        let memory = PlannerMemory::default();
        for index in 0..MAX_ESTIMATES + 10 {
            memory.keep_estimate(CollectionId(1), format!("f{index}"), index as u64);
            assert!(lock(&memory.estimates).len() <= MAX_ESTIMATES);
        }
        let last = MAX_ESTIMATES + 9;
        assert_eq!(
            memory.estimate(CollectionId(1), &format!("f{last}")),
            Some(last as u64)
        );
    }
}
