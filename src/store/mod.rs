//! The entry point: a connection pool, its per-connection settings, migrations, and the
//! transactional [`Store::write`] / [`Store::read`].

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use scheduled_thread_pool::ScheduledThreadPool;

use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use diesel::sql_types::BigInt;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::cache::Cache;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::repo::search::PlannerMemory;
use crate::repo::touched::Touched;
use crate::tenant;
use crate::trace::{self, Opaque};
use crate::uow::{self, Access, UnitOfWork, WorkOptions};

mod replicas;
mod routing;
mod session;
mod token;
mod versions;

use replicas::Replicas;
pub use replicas::{NodeStats, ReplicaStats};
use routing::OwnWrites;
use session::{SessionSettings, listener_name, origin_token, refuse_fast};
pub use token::{ReadFrom, WriteToken};
pub use versions::ServerVersions;

/// The schema migrations, embedded at compile time so a service can migrate without the CLI.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Key of the advisory lock that serialises migrations between processes.
const MIGRATION_LOCK: i64 = 0x656d_6265_6473_7401;

/// Background threads of the pool (r2d2's default): they open connections on demand.
const POOL_WORKERS: usize = 3;

/// A pooled connection.
pub(crate) type PooledPg = PooledConnection<ConnectionManager<PgConnection>>;

/// A pool of PostgreSQL connections and the transactions run on them.
///
/// What a service calls every day is here: [`connect`](Store::connect) and
/// [`migrate`](Store::migrate), units of work ([`write`](Store::write), [`read`](Store::read),
/// [`run`](Store::run)), [`search`](Store::search), lookups by key ([`get`](Store::get),
/// [`collection`](Store::collection)) and [`backfill`](Store::backfill). Index maintenance and
/// exports hang off handles: [`Store::indexes`] and [`Store::export`].
///
/// Cheap to clone (the pool is shared); share one per process.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: Pool<ConnectionManager<PgConnection>>,
    /// The pool's background workers (they open connections on demand): see [`Store::close`].
    workers: Arc<ScheduledThreadPool>,
    /// The replicas' pools' workers, when there are replicas.
    replica_workers: Option<Arc<ScheduledThreadPool>>,
    config: Config,
    pub(crate) indexes: PlannerMemory,
    /// The cache of hot lookups, when [`Config::cache_bytes`] asks for one.
    pub(crate) cache: Option<Arc<Cache>>,
    /// The read replicas, when [`Config::replica_urls`] names any.
    replicas: Option<Arc<Replicas>>,
    /// Which node this handle's reads may use ([`Store::reading`]).
    read_from: ReadFrom,
    /// This store's own writes (shared by its clones): the newest token, and whether a write
    /// committed whose token could not be read (its reads then go to the primary).
    own_writes: Arc<OwnWrites>,
    /// Whether the database is distributed with Citus (read at connect, set by
    /// [`Store::distribute`]): the tenant binding then travels as `SET LOCAL`.
    pub(crate) distributed: Arc<AtomicBool>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("target", &self.config.database_url.target())
            .field("pool", &self.pool.state())
            .field(
                "replicas",
                &self
                    .config
                    .replica_urls
                    .iter()
                    .map(|url| url.target())
                    .collect::<Vec<_>>(),
            )
            .field("read_from", &self.read_from)
            .finish()
    }
}

impl Store {
    /// Opens the pool and checks that the server answers.
    ///
    /// Each new connection gets the configured `statement_timeout` and `application_name`.
    /// Connections are not tested before every checkout (a round trip each); instead a unit of
    /// work or search that fails is followed by a liveness check of its connection: a dead one
    /// is dropped from the pool, and the work is run again on the next connection when nothing
    /// of it ran (its `BEGIN` failed) or it only read.
    ///
    /// # Errors
    /// [`Error::Connect`] naming `host:port/database` (never the password) when no connection
    /// could be opened within [`Config::connect_timeout`]; [`Error::Config`] for bad settings;
    /// [`Error::UnsupportedServer`] when the server's major is not 15 to 18 or its pgvector
    /// (installed, or else available) is older than 0.8.0.
    pub fn connect(config: Config) -> Result<Self> {
        config.check()?;
        let span = trace::span!(
            "connect",
            target = %config.database_url.target(),
            pool_max_size = config.pool_max_size
        );
        trace::traced(span, |_| Self::open(config))
    }

    fn open(config: Config) -> Result<Self> {
        let timeout_secs = config.connect_timeout.as_secs().max(1).to_string();
        // libpq's own connect_timeout bounds a single attempt (e.g. a blackholed host); the
        // pool's connection_timeout bounds the whole wait.
        let url = config
            .database_url
            .with_setting("connect_timeout", &timeout_secs);
        refuse_fast(&url, &config)?;
        let manager = ConnectionManager::<PgConnection>::new(url.expose_secret());
        // A caching store marks its own writes, so that its listener can skip their
        // notifications (it forgets exactly what they changed at commit).
        let origin = config.cache_bytes.map(|_| origin_token());
        let settings = SessionSettings {
            statement_timeout: config.statement_timeout,
            application_name: config.application_name.clone(),
            origin: origin.clone(),
        };
        let connect_error = |source: r2d2::Error| Error::Connect {
            target: config.database_url.target(),
            source: Box::new(source),
        };
        let workers = Arc::new(
            ScheduledThreadPool::builder()
                .num_threads(POOL_WORKERS)
                .thread_name_pattern("embedstore-pool-{}")
                .build(),
        );
        let pool = Pool::builder()
            .thread_pool(Arc::clone(&workers))
            .max_size(config.pool_max_size)
            .min_idle(Some(config.pool_min_idle))
            .connection_timeout(config.connect_timeout)
            // Liveness is checked after a failure instead of before every checkout (a round
            // trip per unit of work): see `Store::on_live_connection`.
            .test_on_check_out(false)
            .connection_customizer(Box::new(settings))
            .build(manager)
            .map_err(connect_error)?;
        // With min_idle = 0, build() opens nothing: prove the server answers either way, and
        // refuse a PostgreSQL major or pgvector outside the supported versions.
        let distributed = {
            let mut conn = pool.get().map_err(connect_error)?;
            versions::check(&versions::read(&mut conn)?, false)?;
            crate::repo::citus::is_distributed(&mut conn)?
        };
        session::refuse_cache_when_distributed(distributed, &config)?;
        let (replica_workers, replicas) = routing::open_replicas(&config, &timeout_secs, &pool);
        let cache = config.cache_bytes.zip(origin).map(|(bytes, origin)| {
            Arc::new(Cache::start(
                bytes,
                &url,
                &listener_name(&config.application_name),
                origin,
            ))
        });
        Ok(Self {
            pool,
            workers,
            replica_workers,
            config,
            indexes: PlannerMemory::default(),
            cache,
            replicas,
            read_from: ReadFrom::default(),
            own_writes: Arc::default(),
            distributed: Arc::new(AtomicBool::new(distributed)),
        })
    }

    /// Waits until the pool's background threads have finished opening any connection they
    /// started (at most the connect timeout), then drops this handle. Call it last in a
    /// short-lived program (a CLI, a job), when nothing uses the store any more.
    ///
    /// Why: r2d2 opens connections on background threads, also after the request that asked
    /// for one was served by a connection returned meanwhile. A process that exits while such a
    /// thread is inside libpq's connect can crash in OpenSSL's exit handlers (seen: `SIGSEGV`
    /// in `CRYPTO_THREAD_write_lock` from `PQconnectPoll`, about one `embedstore ingest` in
    /// eight on a 2-core machine). A long-running service does not need it.
    pub fn close(self) {
        if let Some(replicas) = &self.replicas {
            replicas.stop();
        }
        let deadline = Instant::now() + self.config.connect_timeout + Duration::from_secs(1);
        drain(&self.workers, deadline);
        if let Some(workers) = &self.replica_workers {
            drain(workers, deadline);
        }
    }

    /// [`Config::from_env`] then [`Store::connect`].
    ///
    /// # Errors
    /// As both.
    pub fn from_env() -> Result<Self> {
        Self::connect(Config::from_env()?)
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs the migrations that have not run yet and returns their names (e.g.
    /// `2026-11-23-000001_vector_extension`) in the order applied. Safe to call from several
    /// processes at once: an advisory lock serialises them.
    ///
    /// Needs a role that may `CREATE EXTENSION vector`, unless the extension already exists.
    ///
    /// # Errors
    /// [`Error::UnsupportedServer`] before anything runs when the server's major is not 15 to
    /// 18 or its pgvector (installed, or else available) is missing or older than 0.8.0;
    /// [`Error::Migration`] with the failing migration's message.
    pub fn migrate(&self) -> Result<Vec<String>> {
        let span = trace::span!("migrate", applied = tracing::field::Empty);
        trace::traced(span, |operation| {
            let mut conn = self.connection()?;
            versions::check(&versions::read(&mut conn)?, true)?;
            let applied = with_advisory_lock(&mut conn, MIGRATION_LOCK, |conn| {
                // Under the lock nobody else migrates: what is pending now is what gets applied.
                let pending = pending_names(conn)?;
                let applied = conn
                    .run_pending_migrations(MIGRATIONS)
                    .map_err(Error::Migration)?;
                Ok(pending.into_iter().take(applied.len()).collect::<Vec<_>>())
            })?;
            operation.record("applied", applied.len());
            Ok(applied)
        })
    }

    /// The server's PostgreSQL and pgvector versions, as it reports them.
    ///
    /// # Errors
    /// [`Error::Pool`] or [`Error::Database`] when they cannot be read.
    pub fn server_versions(&self) -> Result<ServerVersions> {
        let mut conn = self.connection()?;
        versions::read(&mut conn)
    }

    /// Names of the embedded migrations not yet applied to the database, oldest first.
    ///
    /// # Errors
    /// [`Error::Migration`] when the migration table cannot be read.
    pub fn pending_migrations(&self) -> Result<Vec<String>> {
        let mut conn = self.connection()?;
        pending_names(&mut conn)
    }

    /// Runs `work` in one read-write transaction: everything it wrote commits when it returns
    /// `Ok`, and nothing does when it returns `Err` or panics (the panic then continues).
    ///
    /// # Errors
    /// The closure's error, or [`Error::Pool`] / [`Error::Database`] (converted into `E`) when
    /// no connection is available or the commit fails.
    pub fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut UnitOfWork<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        self.unit_of_work(Access::ReadWrite, work)
    }

    /// Runs `work` in one `READ ONLY` transaction (a consistent snapshot; writes are refused),
    /// on a replica when the store has replicas and one has replayed what this handle must see
    /// (see [`Store::reading`]), else on the primary.
    ///
    /// # Errors
    /// As [`Store::write`]. A replica that fails before `work` starts is skipped (the
    /// primary runs it); one whose connection is lost while `work` runs surfaces that error
    /// (retryable), since `work` runs once. [`Store::run`] with [`WorkOptions::read`] takes a
    /// closure it may call again and runs it on the primary instead.
    pub fn read<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut UnitOfWork<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        self.unit_of_work(Access::ReadOnly, work)
    }

    /// [`Store::read`] on the primary whatever the handle says: for the reads a write depends
    /// on (an ingest's plan, a backfill's progress).
    pub(crate) fn read_primary<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut UnitOfWork<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        self.reading(ReadFrom::Primary)
            .unit_of_work(Access::ReadOnly, work)
    }

    /// Runs `work` in a transaction on a live connection: when `BEGIN` fails on a connection
    /// that turns out to be dead (the server restarted, or killed it while it idled in the
    /// pool), `work` has not run, so it runs on the next connection instead.
    fn unit_of_work<T, E, F>(&self, access: Access, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut UnitOfWork<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        self.unit_of_work_in(access, work, &Cell::new(false))
    }

    /// [`Store::unit_of_work`], setting `replica_lost` when it failed because the replica it
    /// ran on lost its connection while `work` ran (the primary could run it again).
    fn unit_of_work_in<T, E, F>(
        &self,
        access: Access,
        work: F,
        replica_lost: &Cell<bool>,
    ) -> Result<T, E>
    where
        F: FnOnce(&mut UnitOfWork<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        let span = trace::span!(
            "unit_of_work",
            read_only = access == Access::ReadOnly,
            dead_connections = tracing::field::Empty,
            node = tracing::field::Empty,
            replica_lag_ms = tracing::field::Empty,
            fallback = tracing::field::Empty
        );
        // The caller's error type has no kind of ours: the span records `failed`.
        trace::traced(span, |operation| {
            let mut work = Some(work);
            if access == Access::ReadOnly {
                if let Some(value) = self.on_replica(operation, &mut work, replica_lost)? {
                    return Ok(value);
                }
            }
            let mut dead = 0;
            loop {
                let mut conn = self.connection().map_err(|error| Opaque(E::from(error)))?;
                let mut touched = Touched::default();
                match uow::run(&mut conn, &self.indexes, access, &mut touched, &mut work) {
                    Ok(value) => {
                        // Committed: its token, then the partitions written to get statistics
                        // when they want them, and the cache forgets what changed, before the
                        // caller hears of it.
                        if access == Access::ReadWrite {
                            self.note_write(&mut conn);
                        }
                        self.refresh_statistics(&mut conn, touched.take_written());
                        self.forget_cached(touched);
                        return Ok(value);
                    }
                    Err(error) => {
                        let lost = discard_if_dead(&mut conn);
                        if lost {
                            // The connection died, perhaps during COMMIT: the writes may have
                            // committed, so forget them too. A rollback forgets nothing.
                            self.forget_cached(touched);
                        }
                        let retry = lost && work.is_some();
                        if retry && dead < self.config.pool_max_size {
                            dead += 1;
                            operation.record("dead_connections", dead);
                            continue;
                        }
                        return Err(Opaque(error));
                    }
                }
            }
        })
        .map_err(|Opaque(error)| error)
    }

    /// Runs `read` (one read-only statement, or several, safe to repeat) on a live
    /// connection: a failure on a connection that turns out to be dead is retried on the next.
    pub(crate) fn on_live_connection<T>(
        &self,
        mut read: impl FnMut(&mut PgConnection) -> Result<T>,
    ) -> Result<T> {
        let mut dead = 0;
        loop {
            let mut conn = self.connection()?;
            match read(&mut conn) {
                Ok(value) => return Ok(value),
                Err(error) => {
                    if discard_if_dead(&mut conn) && dead < self.config.pool_max_size {
                        dead += 1;
                        continue;
                    }
                    return Err(error);
                }
            }
        }
    }

    /// After a committed unit of work: analyzes each partition it wrote `rows` to that wants
    /// it (see `repo::stats`), and forgets the collection's plan verdicts when it did. The
    /// write has committed whatever happens here: a failure is logged, never returned.
    fn refresh_statistics(
        &self,
        conn: &mut PgConnection,
        written: std::collections::HashMap<crate::models::CollectionId, u64>,
    ) {
        for (collection, rows) in written {
            match crate::repo::stats::refresh_after_write(conn, collection, rows) {
                Ok(true) => self.indexes.forget(collection),
                Ok(false) => {}
                Err(error) => tracing::warn!(
                    collection_id = collection.0,
                    rows,
                    error = %error,
                    "analyze after a write failed; the planner keeps the old statistics"
                ),
            }
        }
    }

    /// [`refresh_statistics`](Self::refresh_statistics) of one collection written `rows` rows
    /// by units of work that deferred it (an ingest's batches), on a connection of the pool.
    pub(crate) fn refresh_statistics_of(&self, collection: crate::models::CollectionId, rows: u64) {
        match self.connection() {
            Ok(mut conn) => {
                self.refresh_statistics(&mut conn, std::iter::once((collection, rows)).collect());
            }
            Err(error) => tracing::warn!(
                collection_id = collection.0,
                error = %error,
                "no connection to analyze after an ingest; the planner keeps the old statistics"
            ),
        }
    }

    /// Forgets what a committed unit of work changed from the cache of hot lookups.
    fn forget_cached(&self, touched: Touched) {
        if let Some(cache) = &self.cache {
            cache.forget(touched);
        }
    }

    /// Forgets the cached index facts of `collection` (after this store changed them), and
    /// counts the change as this store's own write (a replica must have replayed the DDL before
    /// it serves this store's reads).
    pub(crate) fn forget_indexes(&self, collection: &crate::models::Collection) {
        self.indexes.forget(collection.id);
        if self.replicas.is_some() {
            match self.connection() {
                Ok(mut conn) => self.note_write(&mut conn),
                Err(_) => self.own_writes.unknown.store(true, Ordering::SeqCst),
            }
        }
    }

    /// Runs `work` in one transaction as `options` says: read-only or read-write, bound to a
    /// tenant for row-level security, retried after retryable failures (see [`WorkOptions`]).
    ///
    /// # Errors
    /// [`Error::Validation`] (path `tenant`) for an empty tenant or one over 256 bytes, before
    /// any SQL; otherwise as [`Store::write`] — with retries, the last error when it is not
    /// retryable or the attempts are spent. Upserting an `external_id` that another tenant
    /// holds in the collection fails (row-level security refuses the update) and writes nothing.
    pub fn run<T, F>(&self, options: &WorkOptions, mut work: F) -> Result<T>
    where
        F: FnMut(&mut UnitOfWork<'_>) -> Result<T>,
    {
        // The tenant itself is not recorded: only whether the work is bound to one.
        let span = trace::span!(
            "run",
            read_only = options.is_read_only(),
            tenant_bound = options.tenant.is_some(),
            retry = options.retry.is_some(),
            attempts = tracing::field::Empty
        );
        trace::traced(span, |operation| {
            if let Some(tenant) = &options.tenant {
                tenant::check(tenant)?;
            }
            let mut attempt = |number: u32| {
                operation.record("attempts", number);
                let mut body = |uow: &mut UnitOfWork<'_>| {
                    if let Some(tenant) = &options.tenant {
                        let distributed = self.distributed.load(Ordering::Relaxed);
                        tenant::bind(uow.settings_connection(), tenant, distributed)?;
                    }
                    if options.remote_apply {
                        diesel::sql_query(
                            "SELECT set_config('synchronous_commit', 'remote_apply', true)",
                        )
                        .execute(uow.settings_connection())?;
                    }
                    work(uow)
                };
                let replica_lost = Cell::new(false);
                let outcome = self.unit_of_work_in(options.access, &mut body, &replica_lost);
                if outcome.is_err() && replica_lost.get() {
                    // The replica went away while the work ran: the primary runs it again.
                    return self
                        .reading(ReadFrom::Primary)
                        .unit_of_work(options.access, &mut body);
                }
                outcome
            };
            match &options.retry {
                Some(policy) => policy.run(attempt, Error::is_retryable),
                None => attempt(1),
            }
        })
    }

    /// A raw pooled connection, for work outside a unit of work (e.g. index maintenance that
    /// cannot run in a transaction).
    ///
    /// # Errors
    /// [`Error::Pool`] when none becomes free within the connect timeout.
    pub(crate) fn connection(&self) -> Result<PooledPg> {
        self.pool
            .get()
            .map_err(|error| Error::Pool(Box::new(error)))
    }
}

/// Waits (until `deadline` at most) until every worker of `workers` has finished the job it
/// had and the jobs queued before: one job per worker that waits until all of them run (the
/// workers take jobs in order).
fn drain(workers: &ScheduledThreadPool, deadline: Instant) {
    let arrived = Arc::new(AtomicUsize::new(0));
    let released = Arc::new(AtomicBool::new(false));
    for _ in 0..POOL_WORKERS {
        let (arrived, released) = (Arc::clone(&arrived), Arc::clone(&released));
        workers.execute(move || {
            arrived.fetch_add(1, Ordering::SeqCst);
            while !released.load(Ordering::SeqCst) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
        });
    }
    while arrived.load(Ordering::SeqCst) < POOL_WORKERS && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    released.store(true, Ordering::SeqCst);
}

/// After a failure: whether `conn` is dead, asked with one `SELECT 1`. A dead connection is
/// marked broken, so the pool drops it instead of handing it out again. Failures are rare, so
/// this costs less than r2d2's test of every checkout, which it replaces.
fn discard_if_dead(conn: &mut PgConnection) -> bool {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    if diesel::sql_query("SELECT 1").execute(conn).is_ok() {
        return false;
    }
    AnsiTransactionManager::transaction_manager_status_mut(conn).set_in_error();
    true
}

fn pending_names(conn: &mut PgConnection) -> Result<Vec<String>> {
    let pending = conn
        .pending_migrations(MIGRATIONS)
        .map_err(Error::Migration)?;
    Ok(pending
        .iter()
        .map(|migration| migration.name().to_string())
        .collect())
}

/// Runs `work` while holding a session-level advisory lock; released whatever `work` returns.
pub(crate) fn with_advisory_lock<T>(
    conn: &mut PgConnection,
    key: i64,
    work: impl FnOnce(&mut PgConnection) -> Result<T>,
) -> Result<T> {
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(key)
        .execute(conn)?;
    let outcome = work(conn);
    diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(key)
        .execute(conn)?;
    outcome
}
