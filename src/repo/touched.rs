//! What a unit of work's writes touched, so that the store's cache of hot lookups can forget
//! exactly that once the transaction has committed (and nothing when it rolled back).
//!
//! Inserts are not recorded: the cache never remembers that an id is absent, so a new row
//! cannot make any entry stale.

use std::collections::{HashMap, HashSet};

use crate::models::CollectionId;

/// Above this many keys of one collection in one unit of work, the whole collection is
/// recorded instead (a bulk ingest batch must not keep every id it wrote).
pub(crate) const MAX_KEYS_PER_COLLECTION: usize = 4096;

/// The rows and collections a unit of work changed.
#[derive(Debug, Default)]
pub(crate) struct Touched {
    collections: HashMap<CollectionId, Keys>,
    /// Writes whose extent is unknown (raw SQL through `UnitOfWork::connection`).
    everything: bool,
    /// Rows written (inserted or upserted) per collection: the store analyzes the partitions
    /// that want it after the commit (see `repo::stats`).
    written: HashMap<CollectionId, u64>,
    /// The writer analyzes once itself when it is done (an ingest of many batches): no
    /// analyze after this commit.
    statistics_deferred: bool,
}

/// The changed keys of one collection.
#[derive(Debug)]
pub(crate) enum Keys {
    /// These rows (by `external_id`).
    Some(HashSet<String>),
    /// Any row, or the collection itself (dropped).
    All,
}

impl Touched {
    /// Records changed rows of `collection`.
    pub(crate) fn rows<'a>(
        &mut self,
        collection: CollectionId,
        external_ids: impl IntoIterator<Item = &'a str>,
    ) {
        if self.everything {
            return;
        }
        let keys = self
            .collections
            .entry(collection)
            .or_insert_with(|| Keys::Some(HashSet::new()));
        let Keys::Some(set) = keys else {
            return;
        };
        for id in external_ids {
            if set.len() >= MAX_KEYS_PER_COLLECTION {
                *keys = Keys::All;
                return;
            }
            set.insert(id.to_owned());
        }
    }

    /// Records that any row of `collection`, or the collection itself, may have changed.
    pub(crate) fn collection(&mut self, collection: CollectionId) {
        if !self.everything {
            self.collections.insert(collection, Keys::All);
        }
    }

    /// Records that `rows` rows of `collection` were inserted or upserted (for its statistics;
    /// the cache needs no record of inserts).
    pub(crate) fn wrote(&mut self, collection: CollectionId, rows: u64) {
        let count = self.written.entry(collection).or_default();
        *count = count.saturating_add(rows);
    }

    /// The rows written per collection, taken out (the rest stays for the cache); none when
    /// the writer deferred the statistics.
    pub(crate) fn take_written(&mut self) -> HashMap<CollectionId, u64> {
        let written = std::mem::take(&mut self.written);
        if self.statistics_deferred {
            HashMap::new()
        } else {
            written
        }
    }

    /// No analyze after this commit: the writer analyzes once when it is done.
    pub(crate) fn defer_statistics(&mut self) {
        self.statistics_deferred = true;
    }

    /// Records a write of unknown extent.
    pub(crate) fn everything(&mut self) {
        self.everything = true;
        self.collections.clear();
    }

    /// Whether nothing was recorded.
    pub(crate) fn is_empty(&self) -> bool {
        !self.everything && self.collections.is_empty()
    }

    /// `None` for a write of unknown extent, otherwise each collection's changed keys.
    pub(crate) fn into_parts(self) -> Option<HashMap<CollectionId, Keys>> {
        (!self.everything).then_some(self.collections)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_keys_become_the_whole_collection() {
        let mut touched = Touched::default();
        let ids: Vec<String> = (0..=MAX_KEYS_PER_COLLECTION)
            .map(|n| format!("id-{n}"))
            .collect();
        touched.rows(CollectionId(1), ids.iter().map(String::as_str));
        touched.rows(CollectionId(2), ["a"]);
        let parts = touched.into_parts().unwrap();
        assert!(matches!(parts[&CollectionId(1)], Keys::All));
        assert!(matches!(&parts[&CollectionId(2)], Keys::Some(set) if set.len() == 1));
    }

    #[test]
    fn an_unknown_write_swallows_everything_else() {
        let mut touched = Touched::default();
        touched.everything();
        touched.rows(CollectionId(1), ["a"]);
        touched.collection(CollectionId(2));
        assert!(!touched.is_empty());
        assert!(touched.into_parts().is_none());
    }
}
