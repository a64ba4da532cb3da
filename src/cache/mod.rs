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
//! cache forgets the key, then the reader stores v1 — is closed by tickets
//! ([`state::Ticket`]): a reader takes one before its read and may store what it read only
//! when nothing of that collection was forgotten (and the cache was not emptied) in between.
//!
//! No absence is ever cached: an insert cannot make an entry stale, so inserts are not
//! recorded.
//!
//! [`Config::cache_bytes`]: crate::Config::cache_bytes

pub(crate) mod listener;
mod state;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::DatabaseUrl;
use crate::repo::touched::{Keys, Touched};

pub(crate) use state::State;

/// The `LISTEN`/`NOTIFY` channel of the change triggers (migration
/// `2026-12-03-000050_change_notifications`).
pub(crate) const CHANNEL: &str = "embedstore_changes";

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
        while state.serving() && state.synced() < number {
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
