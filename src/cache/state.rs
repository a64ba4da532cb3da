//! The entries of a store's cache, their least-recently-used order and byte count, and the
//! generations that make a store after a read safe against invalidations during it
//! ([`Ticket`]).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use crate::cache::CacheStats;
use crate::cache::listener::LIVENESS;
use crate::models::{Collection, CollectionId, Embedding};

/// Bytes counted for an entry beyond its data: map slots, the LRU entry, allocation headers.
const ENTRY_OVERHEAD: usize = 96;

/// Taken before a read of the database: what that read finds may be stored only when nothing
/// it could have missed was forgotten meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    epoch: u64,
    generation: u64,
}

/// An entry and its place in the LRU order.
#[derive(Debug)]
struct Slot<V> {
    value: V,
    bytes: usize,
    tick: u64,
}

impl<V: Clone> Slot<V> {
    /// Marks the slot used at `tick`: its previous tick and a copy of its value.
    fn touch(&mut self, tick: u64) -> (u64, V) {
        (std::mem::replace(&mut self.tick, tick), self.value.clone())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum LruKey {
    Row(CollectionId, String),
    Handle(String),
}

/// The entries, their LRU order, and the counters that make stores safe against races.
#[derive(Debug)]
pub(crate) struct State {
    rows: HashMap<CollectionId, HashMap<String, Slot<Embedding>>>,
    handles: HashMap<String, Slot<Collection>>,
    lru: BTreeMap<u64, LruKey>,
    tick: u64,
    /// Bumped whenever everything is forgotten (clear, listener lost or back).
    epoch: u64,
    /// Per collection: bumped whenever any of its rows is forgotten. Never removed, so a
    /// generation never repeats.
    row_generations: HashMap<CollectionId, u64>,
    /// Bumped whenever any handle is forgotten.
    handle_generation: u64,
    connected: bool,
    /// When the listener last proved its connection alive (a heartbeat answered).
    alive_at: Instant,
    synced: u64,
    stats: CacheStats,
}

impl State {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            rows: HashMap::new(),
            handles: HashMap::new(),
            lru: BTreeMap::new(),
            tick: 0,
            epoch: 0,
            row_generations: HashMap::new(),
            handle_generation: 0,
            connected: false,
            alive_at: Instant::now(),
            synced: 0,
            stats: CacheStats {
                capacity_bytes: capacity,
                ..CacheStats::default()
            },
        }
    }

    /// The counters, with the current size.
    pub(crate) fn stats(&self) -> CacheStats {
        let mut stats = self.stats.clone();
        stats.entries = self.lru.len();
        stats.listener_connected = self.serving();
        stats
    }

    /// Whether entries may be served and stored: the listener is connected, and answered a
    /// heartbeat recently (a connection that hangs without closing, e.g. behind a network
    /// partition, stops the cache within [`LIVENESS`]).
    pub(crate) fn serving(&self) -> bool {
        self.connected && self.alive_at.elapsed() < LIVENESS
    }

    /// The highest sync number the listener has read.
    pub(crate) fn synced(&self) -> u64 {
        self.synced
    }

    /// The listener read sync `number`.
    pub(crate) fn mark_synced(&mut self, number: u64) {
        self.synced = self.synced.max(number);
    }

    /// The cached row, counted as a hit or a miss.
    pub(crate) fn row(&mut self, collection: CollectionId, external_id: &str) -> Option<Embedding> {
        let tick = self.serving().then(|| self.next_tick());
        let found = tick.and_then(|tick| {
            self.rows
                .get_mut(&collection)
                .and_then(|rows| rows.get_mut(external_id))
                .map(|slot| slot.touch(tick))
        });
        self.count(tick, found)
    }

    /// The cached handle of the collection called `name`, counted as a hit or a miss.
    pub(crate) fn handle(&mut self, name: &str) -> Option<Collection> {
        let tick = self.serving().then(|| self.next_tick());
        let found = tick.and_then(|tick| self.handles.get_mut(name).map(|slot| slot.touch(tick)));
        self.count(tick, found)
    }

    /// Counts a lookup at `tick` (`None`: the cache is not serving) as a hit when it `found`
    /// an entry (last used at the tick returned with it), which moves to the LRU's young end.
    fn count<V>(&mut self, tick: Option<u64>, found: Option<(u64, V)>) -> Option<V> {
        match (tick, found) {
            (Some(tick), Some((old, value))) => {
                if let Some(key) = self.lru.remove(&old) {
                    self.lru.insert(tick, key);
                }
                self.stats.hits += 1;
                Some(value)
            }
            _ => {
                self.stats.misses += 1;
                None
            }
        }
    }

    /// A ticket for reading rows of `collection`; `None` while nothing may be stored.
    pub(crate) fn row_ticket(&self, collection: CollectionId) -> Option<Ticket> {
        self.serving().then(|| Ticket {
            epoch: self.epoch,
            generation: self.row_generations.get(&collection).copied().unwrap_or(0),
        })
    }

    /// A ticket for reading a collection handle; `None` while nothing may be stored.
    pub(crate) fn handle_ticket(&self) -> Option<Ticket> {
        self.serving().then_some(Ticket {
            epoch: self.epoch,
            generation: self.handle_generation,
        })
    }

    /// Stores `row`, read under `ticket`, unless something was forgotten since.
    pub(crate) fn store_row(&mut self, ticket: Ticket, row: &Embedding) {
        if Some(ticket) != self.row_ticket(row.collection_id) {
            return;
        }
        let bytes = row_bytes(row);
        if bytes > self.stats.capacity_bytes {
            return;
        }
        let tick = self.next_tick();
        let slot = Slot {
            value: row.clone(),
            bytes,
            tick,
        };
        let rows = self.rows.entry(row.collection_id).or_default();
        let replaced = rows.insert(row.external_id.clone(), slot);
        self.account(replaced, bytes);
        self.lru.insert(
            tick,
            LruKey::Row(row.collection_id, row.external_id.clone()),
        );
        self.evict();
    }

    /// Stores `collection`'s handle, read under `ticket`, unless something was forgotten since.
    pub(crate) fn store_handle(&mut self, ticket: Ticket, collection: &Collection) {
        if Some(ticket) != self.handle_ticket() {
            return;
        }
        let bytes = handle_bytes(collection);
        if bytes > self.stats.capacity_bytes {
            return;
        }
        let tick = self.next_tick();
        let slot = Slot {
            value: collection.clone(),
            bytes,
            tick,
        };
        let replaced = self.handles.insert(collection.name.clone(), slot);
        self.account(replaced, bytes);
        self.lru
            .insert(tick, LruKey::Handle(collection.name.clone()));
        self.evict();
    }

    /// Forgets these rows of `collection`.
    pub(crate) fn forget_keys<'a>(
        &mut self,
        collection: CollectionId,
        external_ids: impl Iterator<Item = &'a String>,
    ) {
        *self.row_generations.entry(collection).or_default() += 1;
        self.stats.invalidations += 1;
        let Some(rows) = self.rows.get_mut(&collection) else {
            return;
        };
        let mut freed = Vec::new();
        for id in external_ids {
            if let Some(slot) = rows.remove(id) {
                freed.push(slot.tick);
                self.stats.bytes -= slot.bytes;
            }
        }
        for tick in freed {
            self.lru.remove(&tick);
        }
    }

    /// Forgets every row of `collection`.
    pub(crate) fn forget_rows(&mut self, collection: CollectionId) {
        *self.row_generations.entry(collection).or_default() += 1;
        self.stats.invalidations += 1;
        if let Some(rows) = self.rows.remove(&collection) {
            for slot in rows.into_values() {
                self.lru.remove(&slot.tick);
                self.stats.bytes -= slot.bytes;
            }
        }
    }

    /// Forgets the handle of the collection with this id (whatever its name now).
    pub(crate) fn forget_handles(&mut self, collection: CollectionId) {
        self.handle_generation += 1;
        self.stats.invalidations += 1;
        let names: Vec<String> = self
            .handles
            .iter()
            .filter(|(_, slot)| slot.value.id == collection)
            .map(|(name, _)| name.clone())
            .collect();
        for name in names {
            if let Some(slot) = self.handles.remove(&name) {
                self.lru.remove(&slot.tick);
                self.stats.bytes -= slot.bytes;
            }
        }
    }

    /// Forgets everything.
    pub(crate) fn clear(&mut self) {
        self.epoch += 1;
        self.rows.clear();
        self.handles.clear();
        self.lru.clear();
        self.stats.bytes = 0;
        self.stats.invalidations += 1;
        self.stats.clears += 1;
    }

    /// The listener is connected and listening (`true`), or lost (`false`): either way what
    /// is cached may have missed notifications, so it goes.
    pub(crate) fn set_connected(&mut self, connected: bool) {
        self.clear();
        self.connected = connected;
        if connected {
            self.alive_at = Instant::now();
            self.stats.listener_connects += 1;
        }
    }

    /// The listener's connection answered just now.
    pub(crate) fn alive(&mut self) {
        self.alive_at = Instant::now();
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    fn account<V>(&mut self, replaced: Option<Slot<V>>, bytes: usize) {
        if let Some(old) = replaced {
            self.lru.remove(&old.tick);
            self.stats.bytes -= old.bytes;
        }
        self.stats.bytes += bytes;
    }

    /// Drops least recently used entries until the bound holds.
    fn evict(&mut self) {
        while self.stats.bytes > self.stats.capacity_bytes {
            let Some((_, key)) = self.lru.pop_first() else {
                break;
            };
            let bytes = match key {
                LruKey::Row(collection, id) => {
                    let rows = self.rows.get_mut(&collection);
                    let slot = rows.and_then(|rows| rows.remove(&id));
                    slot.map_or(0, |slot| slot.bytes)
                }
                LruKey::Handle(name) => self.handles.remove(&name).map_or(0, |slot| slot.bytes),
            };
            self.stats.bytes -= bytes;
            self.stats.evictions += 1;
        }
    }
}

/// Estimated memory of a cached embedding.
fn row_bytes(row: &Embedding) -> usize {
    std::mem::size_of::<Embedding>()
        + 2 * row.external_id.len()
        + row.content.as_ref().map_or(0, String::len)
        + json_bytes(&row.metadata)
        + row.vector.heap_bytes()
        + ENTRY_OVERHEAD
}

/// Estimated memory of a cached collection handle.
fn handle_bytes(collection: &Collection) -> usize {
    std::mem::size_of::<Collection>()
        + 3 * collection.name.len()
        + collection.model.len()
        + json_bytes(&collection.description)
        + ENTRY_OVERHEAD
}

/// Estimated memory of a JSON value: each node, its strings and keys.
fn json_bytes(value: &serde_json::Value) -> usize {
    let node = std::mem::size_of::<serde_json::Value>();
    node + match value {
        serde_json::Value::String(text) => text.len(),
        serde_json::Value::Array(items) => items.iter().map(json_bytes).sum(),
        serde_json::Value::Object(fields) => fields
            .iter()
            .map(|(key, value)| key.len() + std::mem::size_of::<String>() + json_bytes(value))
            .sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(collection: i32, id: &str, value: f32) -> Embedding {
        Embedding {
            collection_id: CollectionId(collection),
            id: 1,
            external_id: id.to_owned(),
            vector: vec![value; 4].into(),
            content: None,
            metadata: serde_json::json!({}),
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    fn connected(capacity: usize) -> State {
        let mut state = State::new(capacity);
        state.set_connected(true);
        state
    }

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_stored() {
        let mut state = connected(1 << 20);
        // The reader misses and takes its ticket, then reads v1 from the database...
        assert!(state.row(CollectionId(1), "a").is_none());
        let ticket = state.row_ticket(CollectionId(1)).unwrap();
        // ...meanwhile a writer commits v2 and the cache forgets the key...
        state.forget_keys(CollectionId(1), [&"a".to_owned()].into_iter());
        // ...and then the reader tries to store v1: refused.
        state.store_row(ticket, &row(1, "a", 1.0));
        assert!(state.row(CollectionId(1), "a").is_none());
        // A read that started after the invalidation is stored.
        let ticket = state.row_ticket(CollectionId(1)).unwrap();
        state.store_row(ticket, &row(1, "a", 2.0));
        assert_eq!(state.row(CollectionId(1), "a"), Some(row(1, "a", 2.0)));
    }

    #[test]
    fn other_collections_and_clears_are_told_apart() {
        let mut state = connected(1 << 20);
        let ticket = state.row_ticket(CollectionId(1)).unwrap();
        state.forget_rows(CollectionId(2));
        state.store_row(ticket, &row(1, "a", 1.0));
        assert!(
            state.row(CollectionId(1), "a").is_some(),
            "another collection"
        );
        let ticket = state.row_ticket(CollectionId(1)).unwrap();
        state.clear();
        state.store_row(ticket, &row(1, "b", 1.0));
        assert!(
            state.row(CollectionId(1), "b").is_none(),
            "emptied meanwhile"
        );
    }

    #[test]
    fn nothing_is_stored_or_served_while_disconnected() {
        let mut state = connected(1 << 20);
        let ticket = state.row_ticket(CollectionId(1)).unwrap();
        state.store_row(ticket, &row(1, "a", 1.0));
        state.set_connected(false);
        assert!(state.row(CollectionId(1), "a").is_none());
        assert!(state.row_ticket(CollectionId(1)).is_none());
        // A read begun before the listener came back is not stored after it.
        state.set_connected(true);
        state.store_row(ticket, &row(1, "a", 1.0));
        assert!(state.row(CollectionId(1), "a").is_none());
    }

    #[test]
    fn the_bound_holds_and_the_least_recently_used_goes_first() {
        let one = row_bytes(&row(1, "k0", 0.0));
        let mut state = connected(3 * one);
        for n in 0..3 {
            let ticket = state.row_ticket(CollectionId(1)).unwrap();
            state.store_row(ticket, &row(1, &format!("k{n}"), 0.0));
        }
        assert!(state.row(CollectionId(1), "k0").is_some()); // k1 is now the oldest
        let ticket = state.row_ticket(CollectionId(1)).unwrap();
        state.store_row(ticket, &row(1, "k3", 0.0));
        let stats = state.stats();
        assert!(stats.bytes <= 3 * one, "{stats:?}");
        assert_eq!((stats.evictions, stats.entries), (1, 3));
        assert!(state.row(CollectionId(1), "k1").is_none());
        assert!(state.row(CollectionId(1), "k0").is_some());
        // An entry larger than the whole cache is not stored.
        let mut tiny = connected(one - 1);
        let ticket = tiny.row_ticket(CollectionId(1)).unwrap();
        tiny.store_row(ticket, &row(1, "k0", 0.0));
        assert_eq!(tiny.stats().entries, 0);
    }
}
