//! Read replicas: one pool per streaming standby, the health of each (probed in the background,
//! taken out on failure or lag), and the routing of a read to a replica that has replayed the
//! write it must see — or else to the primary.
//!
//! Read-your-writes is by replay position: a committed write's token is an LSN at or after its
//! commit record ([`WriteToken`]); a standby whose `pg_last_wal_replay_lsn()` has passed it shows
//! the write. Each node remembers the newest replay position it reported, so a read whose token
//! is already passed costs no check; otherwise the check is one `SELECT` on the connection the
//! read then uses. See `docs/replicas.md` and decision record 0031.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel::sql_types::{BigInt, Bool, Nullable};

use super::token::WriteToken;
use crate::error::{Error, Result};

/// How often the background prober asks the primary for its WAL position and every replica
/// for its replay position.
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_millis(250);

/// Longest wait for a connection of a replica's pool before the read goes elsewhere: a replica
/// whose pool is exhausted or whose server does not answer must not hold a read up.
const CHECKOUT_WAIT: Duration = Duration::from_millis(250);

/// Pause between two replay-position checks while a read waits for a replica to catch up.
const POLL: Duration = Duration::from_millis(2);

/// One node as [`Store::replica_stats`](crate::Store::replica_stats) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeStats {
    /// `host:port/database` (never user or password).
    pub target: String,
    /// Whether reads are routed to it now.
    pub in_service: bool,
    /// Why it is out of service, when it is (its last error, its lag, not a standby).
    pub out_because: Option<String>,
    /// How far behind the primary its replay was at the last probe; `None` before the first.
    pub lag: Option<Duration>,
    /// The newest replay position it reported.
    pub replayed: Option<WriteToken>,
    /// Reads it answered.
    pub reads: u64,
    /// Reads that failed on it (and went to the primary instead).
    pub failures: u64,
}

/// What the replicas of a store have done: per node, and the reads that went to the primary.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplicaStats {
    /// Every replica, in the order configured.
    pub nodes: Vec<NodeStats>,
    /// Reads routed to the primary on purpose ([`ReadFrom::Primary`](super::ReadFrom::Primary)).
    pub primary_reads: u64,
    /// Reads that wanted a replica and fell back to the primary: none in service, none caught up
    /// within [`Config::replica_wait`](crate::Config::replica_wait), or the replica failed.
    pub fallbacks: u64,
    /// Reads that waited for a replica to replay their token (and then were served by it).
    pub waited: u64,
}

/// Who answered a read, as spans record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answered {
    Primary,
    Replica(usize),
}

type PgPool = Pool<ConnectionManager<PgConnection>>;

use super::PooledPg;

/// One standby.
pub(crate) struct Node {
    target: String,
    pool: PgPool,
    /// Newest replay LSN seen (0: none yet).
    replayed: AtomicU64,
    in_service: AtomicBool,
    /// Lag at the last probe in microseconds; `u64::MAX` before the first.
    lag_micros: AtomicU64,
    out_because: Mutex<Option<String>>,
    reads: AtomicU64,
    failures: AtomicU64,
}

impl Node {
    pub(crate) fn new(target: String, pool: PgPool) -> Self {
        Self {
            target,
            pool,
            replayed: AtomicU64::new(0),
            in_service: AtomicBool::new(false),
            lag_micros: AtomicU64::new(u64::MAX),
            out_because: Mutex::new(Some("not probed yet".to_owned())),
            reads: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    fn take_out(&self, why: String) {
        self.in_service.store(false, Ordering::SeqCst);
        *self.out_because.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
    }

    fn put_in(&self) {
        *self.out_because.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.in_service.store(true, Ordering::SeqCst);
    }

    fn raise(&self, lsn: u64) {
        self.replayed.fetch_max(lsn, Ordering::SeqCst);
    }

    fn stats(&self) -> NodeStats {
        let lag = self.lag_micros.load(Ordering::SeqCst);
        let replayed = self.replayed.load(Ordering::SeqCst);
        NodeStats {
            target: self.target.clone(),
            in_service: self.in_service.load(Ordering::SeqCst),
            out_because: self
                .out_because
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            lag: (lag != u64::MAX).then(|| Duration::from_micros(lag)),
            replayed: (replayed != 0).then_some(WriteToken::from_lsn(replayed)),
            reads: self.reads.load(Ordering::SeqCst),
            failures: self.failures.load(Ordering::SeqCst),
        }
    }
}

/// The replicas of a store, their health and their counters.
pub(crate) struct Replicas {
    nodes: Vec<Node>,
    next: AtomicUsize,
    max_lag: Duration,
    wait: Duration,
    primary_reads: AtomicU64,
    fallbacks: AtomicU64,
    waited: AtomicU64,
    /// The primary's WAL positions at the last probes, oldest first: a replica's lag is how
    /// long ago the primary first held WAL the replica has not replayed.
    history: Mutex<VecDeque<(Instant, u64)>>,
    stop: AtomicBool,
    prober: Mutex<Option<JoinHandle<()>>>,
}

/// How a read went on the replicas.
pub(crate) enum Routed<T> {
    /// A replica answered.
    Answer(T, usize),
    /// No replica could (none in service, none caught up in time, or it failed): ask the
    /// primary. The reason is for the span.
    Primary(&'static str),
}

impl Replicas {
    pub(crate) fn new(nodes: Vec<Node>, max_lag: Duration, wait: Duration) -> Self {
        Self {
            nodes,
            next: AtomicUsize::new(0),
            max_lag,
            wait,
            primary_reads: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            waited: AtomicU64::new(0),
            history: Mutex::new(VecDeque::new()),
            stop: AtomicBool::new(false),
            prober: Mutex::new(None),
        }
    }

    /// Probes once now, then every [`PROBE_INTERVAL`] on a thread of its own until the last
    /// store handle is dropped or [`Replicas::stop`] is called.
    pub(crate) fn start_prober(self: &Arc<Self>, primary: PgPool) {
        self.probe(&primary);
        let weak: Weak<Self> = Arc::downgrade(self);
        let handle = std::thread::Builder::new()
            .name("embedstore-replicas".to_owned())
            .spawn(move || {
                loop {
                    let slept = Instant::now();
                    while slept.elapsed() < PROBE_INTERVAL {
                        std::thread::sleep(Duration::from_millis(10));
                        match weak.upgrade() {
                            Some(replicas) if !replicas.stop.load(Ordering::SeqCst) => {}
                            _ => return,
                        }
                    }
                    match weak.upgrade() {
                        Some(replicas) => replicas.probe(&primary),
                        None => return,
                    }
                }
            });
        if let Ok(handle) = handle {
            *self.prober.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        }
    }

    /// Stops the prober and waits for it (it finishes the probe it is in).
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let handle = self.prober.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            if handle.thread().id() != std::thread::current().id() {
                let _ = handle.join();
            }
        }
    }

    /// One round: the primary's position, then each replica's replay position and lag; a
    /// replica that fails, is not a standby or lags past the bound is taken out, one that
    /// answers within the bound is put back.
    fn probe(&self, primary: &PgPool) {
        let now = Instant::now();
        if let Ok(mut conn) = primary.get_timeout(CHECKOUT_WAIT) {
            if let Ok(position) =
                diesel::sql_query("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint AS lsn")
                    .get_result::<Position>(&mut conn)
            {
                let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
                history.push_back((now, position.lsn as u64));
                // Keep what a lag up to twice the bound needs.
                let keep = self.max_lag * 2 + PROBE_INTERVAL * 4;
                while history
                    .front()
                    .is_some_and(|(at, _)| now.duration_since(*at) > keep)
                    && history.len() > 1
                {
                    history.pop_front();
                }
            }
        }
        for node in &self.nodes {
            match self.replay_state(node) {
                Ok(None) => node.take_out(
                    "not a standby: pg_is_in_recovery() is false, so its data may differ from \
                     the primary's"
                        .to_owned(),
                ),
                Ok(Some(replayed)) => {
                    node.raise(replayed);
                    let lag = self.lag_of(replayed, now);
                    node.lag_micros.store(
                        u64::try_from(lag.as_micros()).unwrap_or(u64::MAX - 1),
                        Ordering::SeqCst,
                    );
                    if lag > self.max_lag {
                        node.take_out(format!(
                            "replay lags the primary by {} ms, more than \
                             EMBEDSTORE_REPLICA_MAX_LAG_MS ({} ms)",
                            lag.as_millis(),
                            self.max_lag.as_millis()
                        ));
                    } else {
                        node.put_in();
                    }
                }
                Err(error) => node.take_out(error.to_string()),
            }
        }
    }

    /// `Some(replay LSN)` of a standby, `None` for a server that is not in recovery.
    fn replay_state(&self, node: &Node) -> Result<Option<u64>> {
        let mut conn = node
            .pool
            .get_timeout(CHECKOUT_WAIT.max(PROBE_INTERVAL))
            .map_err(|error| Error::Pool(Box::new(error)))?;
        let state: Replay = diesel::sql_query(
            "SELECT pg_is_in_recovery() AS standby, \
                (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint AS lsn",
        )
        .get_result(&mut conn)?;
        Ok(match (state.standby, state.lsn) {
            (true, Some(lsn)) => Some(lsn as u64),
            // In recovery but nothing replayed yet (still starting): position 0.
            (true, None) => Some(0),
            (false, _) => None,
        })
    }

    /// How long ago the primary first held WAL past `replayed` (zero when the replica has
    /// replayed everything the probes saw).
    fn lag_of(&self, replayed: u64, now: Instant) -> Duration {
        let history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        history
            .iter()
            .find(|(_, position)| *position > replayed)
            .map_or(Duration::ZERO, |(at, _)| now.duration_since(*at))
    }

    /// Runs `read` on a replica in service that has replayed `token` (see
    /// [`Replicas::checkout`]). A replica that fails is counted (taken out when its connection
    /// died; the prober puts it back) and the read goes to the primary.
    pub(crate) fn route<T>(
        &self,
        token: Option<u64>,
        read: &mut impl FnMut(&mut PgConnection) -> Result<T>,
    ) -> Routed<T> {
        match self.checkout(token) {
            Ok((mut conn, index)) => match self.run_on(&self.nodes[index], &mut conn, read) {
                Some(value) => Routed::Answer(value, index),
                None => Routed::Primary(self.fell_back("replica failed")),
            },
            Err(reason) => Routed::Primary(self.fell_back(reason)),
        }
    }

    /// A connection of a replica in service that has replayed `token` (any in service when
    /// `None`), round robin; when every one in service is behind, waits up to
    /// [`Config::replica_wait`](crate::Config::replica_wait) for the first one asked. `Err`
    /// says why none could serve; the caller goes to the primary and counts it with
    /// [`Replicas::fell_back`].
    pub(crate) fn checkout(
        &self,
        token: Option<u64>,
    ) -> std::result::Result<(PooledPg, usize), &'static str> {
        let count = self.nodes.len();
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        let mut behind = None;
        let mut reason = "no replica in service";
        for step in 0..count {
            let index = (first + step) % count;
            let node = &self.nodes[index];
            if !node.in_service.load(Ordering::SeqCst) {
                continue;
            }
            // No connection in time: every one busy, or the server does not answer. Skipped
            // for this read only; the prober judges whether the replica is down.
            let Ok(mut conn) = node.pool.get_timeout(CHECKOUT_WAIT) else {
                reason = "replica unreachable";
                continue;
            };
            let Some(token) = token else {
                return Ok((conn, index));
            };
            if node.replayed.load(Ordering::SeqCst) < token {
                match replayed_now(&mut conn) {
                    Ok(lsn) => node.raise(lsn),
                    Err(error) => {
                        self.failed(node, &mut conn, error_kind(&error));
                        reason = "replica failed";
                        continue;
                    }
                }
            }
            if node.replayed.load(Ordering::SeqCst) >= token {
                return Ok((conn, index));
            }
            if behind.is_none() {
                behind = Some((index, conn));
            }
            reason = "replicas behind the token";
        }
        let (Some(token), Some((index, mut conn))) = (token, behind) else {
            return Err(reason);
        };
        let node = &self.nodes[index];
        let deadline = Instant::now() + self.wait;
        while Instant::now() < deadline {
            std::thread::sleep(POLL);
            match replayed_now(&mut conn) {
                Ok(lsn) => node.raise(lsn),
                Err(error) => {
                    self.failed(node, &mut conn, error_kind(&error));
                    return Err("replica failed");
                }
            }
            if node.replayed.load(Ordering::SeqCst) >= token {
                self.waited.fetch_add(1, Ordering::Relaxed);
                return Ok((conn, index));
            }
        }
        Err("no replica caught up within EMBEDSTORE_REPLICA_WAIT_MS")
    }

    /// Counts a read that went to the primary because no replica could serve it; passes the
    /// reason through.
    pub(crate) fn fell_back(&self, reason: &'static str) -> &'static str {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        reason
    }

    /// Counts a failure of a unit of work on replica `index` (see [`Replicas::failed`]);
    /// whether its connection was lost.
    pub(crate) fn failed_on(&self, index: usize, conn: &mut PgConnection, kind: &str) -> bool {
        self.failed(&self.nodes[index], conn, kind)
    }

    /// Counts a read answered by replica `index` outside [`Replicas::route`].
    pub(crate) fn served(&self, index: usize) {
        self.nodes[index].reads.fetch_add(1, Ordering::Relaxed);
    }

    /// `read` on `conn` of `node`: `None` when it failed there (the primary is asked instead,
    /// whatever the error: the promise is that a replica never surfaces an error the primary
    /// could have answered).
    fn run_on<T>(
        &self,
        node: &Node,
        conn: &mut PgConnection,
        read: &mut impl FnMut(&mut PgConnection) -> Result<T>,
    ) -> Option<T> {
        match read(conn) {
            Ok(value) => {
                node.reads.fetch_add(1, Ordering::Relaxed);
                Some(value)
            }
            Err(error) => {
                self.failed(node, conn, error_kind(&error));
                None
            }
        }
    }

    /// Counts a failure on `node`; takes it out of service when its connection is dead (and
    /// says so).
    fn failed(&self, node: &Node, conn: &mut PgConnection, kind: &str) -> bool {
        node.failures.fetch_add(1, Ordering::Relaxed);
        let dead = super::discard_if_dead(conn);
        if dead {
            node.take_out(format!("connection lost ({kind})"));
        }
        dead
    }

    /// Counts a read sent to the primary on purpose.
    pub(crate) fn count_primary_read(&self) {
        self.primary_reads.fetch_add(1, Ordering::Relaxed);
    }

    /// The node's lag at the last probe, when known.
    pub(crate) fn lag(&self, index: usize) -> Option<Duration> {
        let lag = self.nodes[index].lag_micros.load(Ordering::SeqCst);
        (lag != u64::MAX).then(|| Duration::from_micros(lag))
    }

    pub(crate) fn stats(&self) -> ReplicaStats {
        ReplicaStats {
            nodes: self.nodes.iter().map(Node::stats).collect(),
            primary_reads: self.primary_reads.load(Ordering::Relaxed),
            fallbacks: self.fallbacks.load(Ordering::Relaxed),
            waited: self.waited.load(Ordering::Relaxed),
        }
    }
}

/// An error as the node's `out_because` names it: by kind, never its message.
fn error_kind(error: &Error) -> &'static str {
    crate::trace::Failure::kind(error)
}

/// The replay position of the standby `conn` is connected to.
fn replayed_now(conn: &mut PgConnection) -> Result<u64> {
    let position: NullablePosition =
        diesel::sql_query("SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint AS lsn")
            .get_result(conn)?;
    Ok(position.lsn.map_or(0, |lsn| lsn as u64))
}

/// The WAL insert position of the primary `conn` is connected to, after a commit there: at or
/// after the end of that commit's record.
pub(crate) fn written_up_to(conn: &mut PgConnection) -> Result<u64> {
    let position: Position =
        diesel::sql_query("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint AS lsn")
            .get_result(conn)?;
    Ok(position.lsn as u64)
}

#[derive(QueryableByName)]
struct Position {
    #[diesel(sql_type = BigInt)]
    lsn: i64,
}

#[derive(QueryableByName)]
struct NullablePosition {
    #[diesel(sql_type = Nullable<BigInt>)]
    lsn: Option<i64>,
}

#[derive(QueryableByName)]
struct Replay {
    #[diesel(sql_type = Bool)]
    standby: bool,
    #[diesel(sql_type = Nullable<BigInt>)]
    lsn: Option<i64>,
}
