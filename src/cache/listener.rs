//! The listener: a connection of its own (not from the pool) that runs `LISTEN
//! embedstore_changes` and applies every notification to the cache, on a thread that ends when
//! the store's last clone is dropped.
//!
//! diesel exposes neither libpq's socket nor a blocking wait, so the thread polls:
//! `notifications_iter` reads whatever has arrived (`PQconsumeInput`, a non-blocking `recv`),
//! every [`POLL_FAST`] after activity (a notification, or a wake-up from `Store::cache_sync`),
//! slowing down to every [`POLL_IDLE`] while nothing happens — polling every millisecond all the
//! time cost 2.8 % of a core per store. A `SELECT 1` every [`HEARTBEAT`] finds a connection
//! that died without closing its socket. A lost connection empties the cache (which then serves nothing) until a
//! new one listens again; it is retried with backoff. Errors are never logged with the URL.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use diesel::prelude::*;

use crate::cache::{CHANNEL, Shared};
use crate::config::DatabaseUrl;
use crate::models::CollectionId;

/// How often arrived notifications are read right after activity: one `recv` system call each.
const POLL_FAST: Duration = Duration::from_millis(1);

/// How often they are read after a quiet while: the longest delay before another process's
/// commit is seen (plus delivery), about 100 wake-ups a second.
pub(crate) const POLL_IDLE: Duration = Duration::from_millis(10);

/// How often the connection is checked with a round trip.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// How long after the last answered heartbeat the cache still serves: a connection that hangs
/// without failing stops the cache after this (and TCP gives up on it after
/// [`TCP_USER_TIMEOUT_MS`]).
pub(crate) const LIVENESS: Duration = Duration::from_secs(3);

/// libpq's `tcp_user_timeout` for the listener: unacknowledged data fails the connection.
const TCP_USER_TIMEOUT_MS: &str = "5000";

/// First and longest wait before connecting again.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(20), Duration::from_secs(2));

/// Starts the thread; `None` when the system cannot start one (the cache then stays empty and
/// serves nothing, as with a lost listener).
pub(crate) fn spawn(shared: Arc<Shared>, url: DatabaseUrl) -> Option<JoinHandle<()>> {
    // Over TCP, find a dead peer without waiting for the kernel's defaults (minutes); libpq
    // ignores these for Unix-domain sockets.
    let url = url
        .with_setting("keepalives", "1")
        .with_setting("keepalives_idle", "5")
        .with_setting("keepalives_interval", "1")
        .with_setting("keepalives_count", "3")
        .with_setting("tcp_user_timeout", TCP_USER_TIMEOUT_MS);
    thread::Builder::new()
        .name("embedstore-cache-listener".to_owned())
        .spawn(move || run(&shared, &url))
        .ok()
}

fn run(shared: &Shared, url: &DatabaseUrl) {
    let mut backoff = BACKOFF.0;
    while !stopped(shared) {
        if let Some(mut conn) = listen(url) {
            backoff = BACKOFF.0;
            shared.lock().set_connected(true);
            shared.synced.notify_all();
            serve(shared, &mut conn);
            shared.lock().set_connected(false);
            shared.synced.notify_all();
        }
        sleep_unless_stopped(shared, backoff);
        backoff = (backoff * 2).min(BACKOFF.1);
    }
}

/// A new connection that listens: notifications of every commit after this returns arrive.
/// Failures are not reported: the cache stays empty meanwhile, and
/// [`CacheStats::listener_connected`](crate::CacheStats::listener_connected) says so.
fn listen(url: &DatabaseUrl) -> Option<PgConnection> {
    let mut conn = PgConnection::establish(url.expose_secret()).ok()?;
    // The channel is our constant, not caller text.
    diesel::sql_query(format!("LISTEN {CHANNEL}"))
        .execute(&mut conn)
        .ok()?;
    Some(conn)
}

/// Applies notifications until the connection fails or the store is dropped.
fn serve(shared: &Shared, conn: &mut PgConnection) {
    let mut checked = Instant::now();
    let mut interval = POLL_FAST;
    while !stopped(shared) {
        let mut any = false;
        for notification in conn.notifications_iter() {
            let Ok(notification) = notification else {
                return;
            };
            any = true;
            apply(shared, &notification.payload);
        }
        if checked.elapsed() >= HEARTBEAT {
            if diesel::sql_query("SELECT 1").execute(conn).is_err() {
                return;
            }
            shared.lock().alive();
            checked = Instant::now();
        }
        // Fast again after a notification or a wake-up; slower with every quiet poll.
        interval = if any || nap(shared, interval) {
            POLL_FAST
        } else {
            (interval * 2).min(POLL_IDLE)
        };
    }
}

/// Waits `interval` or until woken ([`wake`]); returns whether it was woken.
fn nap(shared: &Shared, interval: Duration) -> bool {
    let mut woken = shared.woken.lock().unwrap_or_else(PoisonError::into_inner);
    if !*woken {
        woken = shared
            .wake
            .wait_timeout(woken, interval)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    std::mem::replace(&mut *woken, false)
}

/// Makes the listener poll now and keep polling fast for a while (a sync is on its way, or the
/// store is being dropped).
pub(crate) fn wake(shared: &Shared) {
    *shared.woken.lock().unwrap_or_else(PoisonError::into_inner) = true;
    shared.wake.notify_one();
}

/// One notification (see the migration for the payloads). Anything unexpected empties the
/// cache: forgetting too much is safe.
fn apply(shared: &Shared, payload: &str) {
    let mut parts = payload.splitn(3, ':');
    let (kind, first, rest) = (parts.next(), parts.next(), parts.next());
    let own = |origin: Option<&str>| origin == Some(shared.origin.as_str());
    let collection = first.and_then(|id| id.parse().ok()).map(CollectionId);
    let mut state = shared.lock();
    match (kind, collection) {
        // This store forgot its own writes key by key when they committed.
        (Some("e" | "c"), Some(_)) if own(rest) => {}
        (Some("e"), Some(collection)) => state.forget_rows(collection),
        (Some("c"), Some(collection)) => {
            state.forget_rows(collection);
            state.forget_handles(collection);
        }
        (Some("*"), _) if own(first) => {}
        (Some("s"), _) if own(first) => {
            if let Some(number) = rest.and_then(|number| number.parse().ok()) {
                state.mark_synced(number);
                drop(state);
                shared.synced.notify_all();
            }
        }
        // Another store's sync.
        (Some("s"), _) => {}
        _ => state.clear(),
    }
}

fn stopped(shared: &Shared) -> bool {
    shared.stop.load(Ordering::Relaxed)
}

fn sleep_unless_stopped(shared: &Shared, total: Duration) {
    let deadline = Instant::now() + total;
    while !stopped(shared) && Instant::now() < deadline {
        nap(shared, deadline.saturating_duration_since(Instant::now()));
    }
}
