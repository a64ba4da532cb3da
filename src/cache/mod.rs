//! The per-store cache of hot lookups (opt-in with [`Config::cache_bytes`]): embeddings by
//! `external_id` and collection handles by name, bounded in bytes, least recently used first
//! out.
//!
//! It never serves a row older than a committed write it could know of:
//! - this store's own writes are forgotten key by key when their unit of work commits (the
//!   repositories record what they change in [`Touched`]), before `write` returns; a rolled
//!   back unit of work forgets nothing;
//! - everyone else's writes arrive as `NOTIFY embedstore_changes` from the triggers of
//!   migration `…000050_change_notifications`, read by a [`listener`] thread on a connection
//!   of its own; they forget a whole collection. The store's own notifications carry its
//!   origin token (session setting `embedstore.origin`) and are skipped;
//! - while the listener is not connected, the cache is empty and serves nothing, and it starts
//!   empty again once the listener is back (what was sent meanwhile is lost).
//!
//! The race that would break this — a reader misses, reads v1, a writer commits v2 and the
//! cache forgets the key, then the reader stores v1 — is closed by [`Ticket`]s: a reader takes
//! one before its read and may store what it read only when nothing of that collection was
//! forgotten (and the cache was not emptied) in between.
//!
//! No absence is ever cached: an insert cannot make an entry stale, so inserts are not
//! recorded.
//!
//! [`Config::cache_bytes`]: crate::Config::cache_bytes

pub(crate) mod listener;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::DatabaseUrl;
use crate::models::{Collection, CollectionId, Embedding};
use crate::repo::touched::{Keys, Touched};

/// The `LISTEN`/`NOTIFY` channel of the change triggers (migration
/// `2026-12-03-000050_change_notifications`).
pub(crate) const CHANNEL: &str = "embedstore_changes";

/// Bytes counted for an entry beyond its data: map slots, the LRU entry, allocation headers.
const ENTRY_OVERHEAD: usize = 96;

/// What a store's cache has done so far, from [`Store::cache_stats`](crate::Store::cache_stats).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups answered from memory.
    pub hits: u64,
    /// Lookups that went to the database (including every lookup while the listener is down).
    pub misses: u64,
    /// Entries dropped to stay within the byte bound.
    pub evictions: u64,
    /// Invalidations applied: keys or collections forgotten after a commit or a notification,
    /// and every time the cache was emptied.
    pub invalidations: u64,
    /// Times the cache was emptied whole (listener lost or back, a write of unknown extent,
    /// a `TRUNCATE`, a sync that timed out).
    pub clears: u64,
    /// Estimated bytes held now (never above `capacity_bytes`).
    pub bytes: usize,
    /// Entries held now (embeddings and collection handles).
    pub entries: usize,
    /// The bound, [`Config::cache_bytes`](crate::Config::cache_bytes).
    pub capacity_bytes: usize,
    /// Whether the listener is connected and listening; while it is not, the cache is empty
    /// and every lookup reads the database.
    pub listener_connected: bool,
    /// Times the listener connected (the first time included).
    pub listener_connects: u64,
}

/// The cache of one store (shared by its clones); stops its listener when dropped.
#[derive(Debug)]
pub(crate) struct Cache {
    shared: Arc<Shared>,
    listener: Mutex<Option<JoinHandle<()>>>,
}

impl Cache {
    /// A cache of at most `capacity` bytes whose listener connects to `url` as
    /// `application_name`, and skips the notifications of writes made with `origin` set.
    pub(crate) fn start(
        capacity: usize,
        url: &DatabaseUrl,
        application_name: &str,
        origin: String,
    ) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(capacity)),
            synced: Condvar::new(),
            stop: AtomicBool::new(false),
            woken: Mutex::new(false),
            wake: Condvar::new(),
            next_sync: AtomicU64::new(0),
            origin,
        });
        let url = url.with_setting("application_name", application_name);
        let thread = listener::spawn(Arc::clone(&shared), url);
        Self {
            shared,
            listener: Mutex::new(thread),
        }
    }

    /// The lock on the entries.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.shared.lock()
    }

    /// Forgets what a committed unit of work changed.
    pub(crate) fn forget(&self, touched: Touched) {
        if touched.is_empty() {
            return;
        }
        let mut state = self.state();
        match touched.into_parts() {
            None => state.clear(),
            Some(collections) => {
                for (collection, keys) in collections {
                    match keys {
                        Keys::All => {
                            state.forget_rows(collection);
                            state.forget_handles(collection);
                        }
                        Keys::Some(ids) => state.forget_keys(collection, ids.iter()),
                    }
                }
            }
        }
    }

    /// The next sync number and its `NOTIFY` payload.
    pub(crate) fn next_sync(&self) -> (u64, String) {
        let number = self.shared.next_sync.fetch_add(1, Ordering::Relaxed) + 1;
        (number, format!("s:{}:{number}", self.shared.origin))
    }

    /// Waits until the listener has read sync `number` (so every notification of a commit
    /// before it), or is disconnected (then the cache serves nothing anyway); after `timeout`
    /// empties the cache instead, which is as strict.
    pub(crate) fn wait_synced(&self, number: u64, timeout: Duration) {
        listener::wake(&self.shared);
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        while state.serving() && state.synced < number {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                state.clear();
                return;
            }
            state = self
                .shared
                .synced
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        listener::wake(&self.shared);
        let thread = self
            .listener
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            // The listener checks the flag at least every poll interval.
            let _ = thread.join();
        }
    }
}

/// What the store and its listener thread share.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    synced: Condvar,
    stop: AtomicBool,
    /// Set (and `wake` notified) to make the listener poll at once.
    woken: Mutex<bool>,
    wake: Condvar,
    next_sync: AtomicU64,
    origin: String,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every method leaves the state consistent before it can panic (no user code runs
        // under the lock): a poisoned lock holds usable data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

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
    fn new(capacity: usize) -> Self {
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
    /// partition, stops the cache within [`listener::LIVENESS`]).
    fn serving(&self) -> bool {
        self.connected && self.alive_at.elapsed() < listener::LIVENESS
    }

    /// The cached row, counted as a hit or a miss.
    pub(crate) fn row(&mut self, collection: CollectionId, external_id: &str) -> Option<Embedding> {
        if !self.serving() {
            self.stats.misses += 1;
            return None;
        }
        let tick = self.next_tick();
        let found = self
            .rows
            .get_mut(&collection)
            .and_then(|rows| rows.get_mut(external_id))
            .map(|slot| {
                let old = std::mem::replace(&mut slot.tick, tick);
                (old, slot.value.clone())
            });
        match found {
            Some((old, value)) => {
                if let Some(key) = self.lru.remove(&old) {
                    self.lru.insert(tick, key);
                }
                self.stats.hits += 1;
                Some(value)
            }
            None => {
                self.stats.misses += 1;
                None
            }
        }
    }

    /// The cached handle of the collection called `name`, counted as a hit or a miss.
    pub(crate) fn handle(&mut self, name: &str) -> Option<Collection> {
        if !self.serving() {
            self.stats.misses += 1;
            return None;
        }
        let tick = self.next_tick();
        let found = self.handles.get_mut(name).map(|slot| {
            let old = std::mem::replace(&mut slot.tick, tick);
            (old, slot.value.clone())
        });
        match found {
            Some((old, value)) => {
                if let Some(key) = self.lru.remove(&old) {
                    self.lru.insert(tick, key);
                }
                self.stats.hits += 1;
                Some(value)
            }
            None => {
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
        + std::mem::size_of_val(row.vector.as_slice())
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
            vector: pgvector::Vector::from(vec![value; 4]),
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
