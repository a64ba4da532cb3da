//! Where a store's reads go when it has replicas: the handles that choose ([`Store::reading`]),
//! the own-write token every committed write raises, and the routing of a read or a read-only
//! unit of work to a replica that has replayed what it must see, else the primary. The
//! replicas themselves (pools, prober, health) are in `replicas.rs`.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool};
use scheduled_thread_pool::ScheduledThreadPool;

use super::replicas::{self, Answered, Node, Replicas, Routed};
use super::session::SessionSettings;
use super::{POOL_WORKERS, Store};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::repo::touched::Touched;
use crate::store::{ReadFrom, ReplicaStats, WriteToken};
use crate::trace::{Opaque, Operation};
use crate::uow::{self, Access, UnitOfWork};

/// The replicas' pools (on worker threads of their own: a replica that does not answer must
/// not hold up the primary's pool) and their prober; `(None, None)` without replicas.
pub(super) fn open_replicas(
    config: &Config,
    timeout_secs: &str,
    primary: &Pool<ConnectionManager<PgConnection>>,
) -> (Option<Arc<ScheduledThreadPool>>, Option<Arc<Replicas>>) {
    let replica_workers = (!config.replica_urls.is_empty()).then(|| {
        Arc::new(
            ScheduledThreadPool::builder()
                .num_threads(POOL_WORKERS)
                .thread_name_pattern("embedstore-replica-pool-{}")
                .build(),
        )
    });
    let replicas = replica_workers.as_ref().map(|replica_workers| {
        let nodes = config
            .replica_urls
            .iter()
            .map(|replica| {
                let url = replica.with_setting("connect_timeout", timeout_secs);
                let pool = Pool::builder()
                    .thread_pool(Arc::clone(replica_workers))
                    .max_size(config.pool_max_size)
                    .min_idle(Some(config.pool_min_idle))
                    .connection_timeout(config.connect_timeout)
                    .test_on_check_out(false)
                    .connection_customizer(Box::new(SessionSettings {
                        statement_timeout: config.statement_timeout,
                        application_name: config.application_name.clone(),
                        origin: None,
                    }))
                    // A replica that is down when the store opens is out of service, not
                    // an error: the prober puts it in once it answers.
                    .build_unchecked(ConnectionManager::<PgConnection>::new(url.expose_secret()));
                Node::new(replica.target(), pool)
            })
            .collect();
        let replicas = Arc::new(Replicas::new(
            nodes,
            config.replica_max_lag,
            config.replica_wait,
        ));
        replicas.start_prober(primary.clone());
        replicas
    });
    (replica_workers, replicas)
}

impl Store {
    /// A handle of the same store (same pools, cache, replicas and own-write token) whose reads
    /// go where `from` says: [`Store::search`], [`Store::search_batch`], [`Store::read`],
    /// [`Store::run`] with [`WorkOptions::read`](crate::WorkOptions::read), [`Store::get`] / [`Store::get_many`] /
    /// [`Store::collection`] when the store has no cache, exports and recall probes. Writes,
    /// DDL and the reads a write depends on (an ingest's plan, a backfill's pages) always use
    /// the primary. Without replicas every read goes to the primary.
    ///
    /// ```no_run
    /// use embedstore::{ReadFrom, Store};
    /// # fn main() -> embedstore::Result<()> {
    /// # let store = Store::from_env()?;
    /// // Another process wrote and handed over its token (e.g. in a session cookie):
    /// let token = "16/B374D848".parse()?;
    /// let reader = store.reading(ReadFrom::AtLeast(token));
    /// # drop(reader);
    /// # Ok(())
    /// # }
    /// ```
    pub fn reading(&self, from: ReadFrom) -> Store {
        let mut handle = self.clone();
        handle.read_from = from;
        handle
    }

    /// Where this handle's reads go (see [`Store::reading`]).
    pub fn read_from(&self) -> ReadFrom {
        self.read_from
    }

    /// A token at or after the commit of this store's newest write (by any clone of it):
    /// hand it to [`ReadFrom::AtLeast`] to read that write on a replica from elsewhere. `None`
    /// without replicas (no write asks for its position then) or before the first write.
    pub fn last_write_token(&self) -> Option<WriteToken> {
        let newest = self.own_writes.newest.load(Ordering::SeqCst);
        (self.replicas.is_some() && newest > 0).then(|| WriteToken::from_lsn(newest))
    }

    /// What the replicas have done and how they stand; `None` without replicas.
    pub fn replica_stats(&self) -> Option<ReplicaStats> {
        self.replicas.as_ref().map(|replicas| replicas.stats())
    }

    /// After a committed write on the primary: raises this store's own-write token to the
    /// primary's WAL insert position (one statement, only when the store has replicas).
    pub(crate) fn note_write(&self, conn: &mut PgConnection) {
        if self.replicas.is_none() {
            return;
        }
        match replicas::written_up_to(conn) {
            Ok(lsn) => {
                self.own_writes.newest.fetch_max(lsn, Ordering::SeqCst);
                self.own_writes.unknown.store(false, Ordering::SeqCst);
            }
            Err(error) => {
                // Reads that must see it go to the primary until the next write's position.
                self.own_writes.unknown.store(true, Ordering::SeqCst);
                tracing::warn!(error = %error, "the position of a committed write could not be read; own-write reads go to the primary");
            }
        }
    }

    /// The token a read of this handle needs: `Err(())` when it must go to the primary.
    fn read_token(&self) -> std::result::Result<Option<u64>, &'static str> {
        match self.read_from {
            ReadFrom::Primary => Err("read_from primary"),
            ReadFrom::AnyReplica => Ok(None),
            ReadFrom::AtLeast(token) => Ok(Some(token.lsn())),
            ReadFrom::OwnWrites if self.own_writes.unknown.load(Ordering::SeqCst) => {
                Err("own write of unknown position")
            }
            ReadFrom::OwnWrites => {
                let newest = self.own_writes.newest.load(Ordering::SeqCst);
                Ok((newest > 0).then_some(newest))
            }
        }
    }

    /// Runs `read` (read-only statements, safe to repeat) where this handle's reads go: a
    /// replica that has replayed what the read must see, else the primary;
    /// `operation`'s span records which node answered (`node`), its lag (`replica_lag_ms`) and
    /// why a read that wanted a replica went to the primary (`fallback`).
    pub(crate) fn on_read_connection<T>(
        &self,
        operation: &Operation,
        mut read: impl FnMut(&mut PgConnection) -> Result<T>,
    ) -> Result<T> {
        let Some(replicas) = self.replicas.as_deref() else {
            return self.on_live_connection(read);
        };
        let routed = match self.read_token() {
            Ok(token) => replicas.route(token, &mut read),
            Err(reason) => {
                replicas.count_primary_read();
                Routed::Primary(reason)
            }
        };
        match routed {
            Routed::Answer(value, index) => {
                self.record_node(operation, Answered::Replica(index), None);
                Ok(value)
            }
            Routed::Primary(reason) => {
                self.record_node(operation, Answered::Primary, Some(reason));
                self.on_live_connection(read)
            }
        }
    }

    /// Records on `operation`'s span which node answered a read.
    fn record_node(&self, span: &Operation, answered: Answered, fallback: Option<&'static str>) {
        match answered {
            Answered::Primary => {
                span.record("node", "primary");
            }
            Answered::Replica(index) => {
                span.record("node", format!("replica-{}", index + 1).as_str());
                if let Some(lag) = self
                    .replicas
                    .as_ref()
                    .and_then(|replicas| replicas.lag(index))
                {
                    span.record(
                        "replica_lag_ms",
                        u64::try_from(lag.as_millis()).unwrap_or(u64::MAX),
                    );
                }
            }
        }
        if let Some(reason) = fallback {
            span.record("fallback", reason);
        }
    }

    /// A read-only unit of work on a replica, when one may serve this handle: `Ok(Some)` with
    /// its value; `Ok(None)` when the primary must run it (no replica could, or the replica
    /// failed before `work` started, which is then still in `work`).
    pub(super) fn on_replica<T, E, F>(
        &self,
        operation: &Operation,
        work: &mut Option<F>,
        replica_lost: &Cell<bool>,
    ) -> Result<Option<T>, Opaque<E>>
    where
        F: FnOnce(&mut UnitOfWork<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        let Some(replicas) = self.replicas.as_deref() else {
            return Ok(None);
        };
        let checkout = match self.read_token() {
            Ok(token) => replicas.checkout(token),
            Err(reason) => {
                replicas.count_primary_read();
                self.record_node(operation, Answered::Primary, Some(reason));
                return Ok(None);
            }
        };
        let (mut conn, index) = match checkout {
            Ok(found) => found,
            Err(reason) => {
                self.record_node(
                    operation,
                    Answered::Primary,
                    Some(replicas.fell_back(reason)),
                );
                return Ok(None);
            }
        };
        let mut touched = Touched::default();
        match uow::run(
            &mut conn,
            &self.indexes,
            Access::ReadOnly,
            &mut touched,
            work,
        ) {
            Ok(value) => {
                replicas.served(index);
                self.record_node(operation, Answered::Replica(index), None);
                Ok(Some(value))
            }
            Err(error) => {
                replica_lost.set(replicas.failed_on(index, &mut conn, "failed"));
                if work.is_some() {
                    let reason = replicas.fell_back("replica failed");
                    self.record_node(operation, Answered::Primary, Some(reason));
                    return Ok(None);
                }
                self.record_node(operation, Answered::Replica(index), None);
                Err(Opaque(error))
            }
        }
    }
}

/// The newest [`WriteToken`](super::WriteToken) of a store's own committed writes.
#[derive(Default)]
pub(super) struct OwnWrites {
    /// LSN; 0 before the first write.
    pub(super) newest: std::sync::atomic::AtomicU64,
    /// A write committed but its position could not be read.
    pub(super) unknown: std::sync::atomic::AtomicBool,
}
