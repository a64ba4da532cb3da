//! The unit of work: one transaction, and the repositories that run inside it.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use diesel::PgConnection;
use tracing::Span;

use crate::dto::{IterativeScan, SearchRequest, SearchSpec};
use crate::error::{Error, Result};
use crate::models::Collection;
use crate::repo::search::{PlannerMemory, Search};
use crate::repo::touched::Touched;
use crate::repo::{Aliases, Collections, Embeddings, SearchPath, SearchResponse};
use crate::retry::RetryPolicy;
use crate::trace::{self, Operation};

/// One open transaction. Everything done through it commits or rolls back together.
///
/// Obtained only from [`Store::write`](crate::Store::write), [`Store::read`](crate::Store::read)
/// or [`Store::run`](crate::Store::run); it cannot outlive the closure it is lent to.
pub struct UnitOfWork<'c> {
    conn: &'c mut PgConnection,
    indexes: &'c PlannerMemory,
    access: Access,
    /// What this unit of work's writes changed: the store's cache forgets it after commit.
    touched: &'c mut Touched,
}

impl UnitOfWork<'_> {
    /// Create, find, list and drop collections.
    pub fn collections(&mut self) -> Collections<'_> {
        Collections::new(self.conn, self.touched)
    }

    /// Point names at collections, move them, list and drop them: see [`Aliases`].
    pub fn aliases(&mut self) -> Aliases<'_> {
        Aliases::new(self.conn)
    }

    /// No `ANALYZE` after this unit of work commits: its writer (an ingest of many batches)
    /// analyzes once when it is done (`Store::refresh_statistics_of`).
    pub(crate) fn defer_statistics(&mut self) {
        self.touched.defer_statistics();
    }

    /// Insert, upsert, read, delete and count embeddings.
    pub fn embeddings(&mut self) -> Embeddings<'_> {
        Embeddings::new(self.conn, self.touched)
    }

    /// The `request.k` nearest neighbours of `request.vector` in `collection` (among rows
    /// matching `request.filter`), nearest first, by the collection's metric — through the ANN
    /// index or an exact scan as the planner decides; the response says which. pgvector's
    /// settings for the request last until this transaction ends.
    ///
    /// # Errors
    /// [`Error::Validation`] when the query vector does not fit the collection (wrong length,
    /// NaN/infinite values, all zeros under cosine), `k` is out of range or the filter is bad;
    /// [`Error::NotFound`] when the collection was dropped.
    pub fn search(
        &mut self,
        collection: &Collection,
        request: impl Into<SearchRequest>,
    ) -> Result<SearchResponse> {
        let request = request.into().into_spec();
        let span = search_span("transaction", collection, &request, 1);
        trace::traced(span, |operation| {
            let request = request.validate_for(collection)?.into_inner();
            let indexes = self.indexes.get(self.conn, collection)?;
            let response = Search {
                conn: self.conn,
                collection,
                indexes: &indexes,
                request: &request,
                memory: self.indexes,
            }
            .run()?;
            searched(operation, std::slice::from_ref(&response));
            Ok(response)
        })
    }

    /// The server's `EXPLAIN` of the exact statement [`UnitOfWork::search`] sends for this
    /// request, with the same parameters: shows whether an index is used.
    ///
    /// # Errors
    /// As [`UnitOfWork::search`].
    pub fn explain_search(
        &mut self,
        collection: &Collection,
        request: impl Into<SearchRequest>,
    ) -> Result<String> {
        let request = request.into().into_spec();
        let span = search_span("explain", collection, &request, 1);
        trace::traced(span, |_| {
            let request = request.validate_for(collection)?.into_inner();
            let indexes = self.indexes.get(self.conn, collection)?;
            Search {
                conn: self.conn,
                collection,
                indexes: &indexes,
                request: &request,
                memory: self.indexes,
            }
            .explain()
        })
    }

    /// The transaction's connection, to run your own diesel queries (e.g. joins with your
    /// tables) atomically with embedstore's.
    ///
    /// What raw SQL writes is unknown to the store: when the store has a cache
    /// ([`Config::cache_bytes`](crate::Config::cache_bytes)), a read-write unit of work that
    /// asked for its connection empties the whole cache when it commits.
    pub fn connection(&mut self) -> &mut PgConnection {
        if self.access == Access::ReadWrite {
            self.touched.everything();
        }
        self.conn
    }

    /// The connection for this crate's own statements that change no rows (session settings
    /// such as `SET LOCAL`, the tenant binding): unlike [`connection`](Self::connection), it
    /// leaves the cache alone.
    pub(crate) fn settings_connection(&mut self) -> &mut PgConnection {
        self.conn
    }
}

/// The span of a search (`mode`: `transaction`, `autocommit`, `batch` or `explain`) over
/// `queries` query vectors: the collection, `k` and the settings asked for — never the vector
/// or the filter's values, only whether there is a filter.
pub(crate) fn search_span(
    mode: &'static str,
    collection: &Collection,
    request: &SearchSpec,
    queries: usize,
) -> Span {
    trace::span!(
        "search",
        mode,
        collection = %collection.name,
        collection_id = collection.id.0,
        metric = collection.metric.as_str(),
        queries,
        k = request.k,
        filtered = request.filter.is_some(),
        exact_forced = request.exact,
        ef_search = request.ef_search,
        probes = request.probes,
        iterative = request.iterative.map(IterativeScan::as_str),
        max_scan_tuples = request.max_scan_tuples,
        exact_threshold = request.exact_threshold,
        path = tracing::field::Empty,
        exact = tracing::field::Empty,
        returned = tracing::field::Empty,
        estimated_matches = tracing::field::Empty,
        exact_threshold_applied = tracing::field::Empty,
        chunks = tracing::field::Empty,
        node = tracing::field::Empty,
        replica_lag_ms = tracing::field::Empty,
        fallback = tracing::field::Empty,
    )
}

/// Records what the planner did and how many hits came back (the first response's path for a
/// batch, whose queries share one statement).
pub(crate) fn searched(operation: &Operation, responses: &[SearchResponse]) {
    if let Some(first) = responses.first() {
        operation.record("path", path_name(first.path));
        operation.record("exact", responses.iter().all(|response| response.exact));
        if let Some(estimate) = first.estimated_matches {
            operation.record("estimated_matches", estimate);
        }
        if let Some(threshold) = first.exact_threshold {
            operation.record("exact_threshold_applied", threshold);
        }
    }
    let returned: u64 = responses
        .iter()
        .map(|response| u64::from(response.returned))
        .sum();
    operation.record("returned", returned);
}

/// The planner's path as the span records it: the statement shape that answered.
pub(crate) fn path_name(path: SearchPath) -> &'static str {
    match path {
        SearchPath::Exact => "exact",
        SearchPath::Ann => "ann",
        SearchPath::AnnThenExact => "ann_then_exact",
        SearchPath::Text => "text",
        SearchPath::Hybrid => "hybrid",
    }
}

/// How a unit of work runs: read-only or read-write, bound to a tenant or not, retried or not.
/// One value instead of a method for every combination; [`Store::run`](crate::Store::run)
/// takes it ([`Store::write`](crate::Store::write) and [`Store::read`](crate::Store::read)
/// are the plain cases).
///
/// ```no_run
/// use embedstore::{RetryPolicy, Store, WorkOptions};
/// # fn main() -> embedstore::Result<()> {
/// # let store = Store::from_env()?;
/// let options = WorkOptions::read()
///     .tenant("acme")
///     .retry(RetryPolicy::default());
/// let docs = store.run(&options, |uow| uow.collections().get("docs"))?;
/// let rows = store.run(&options, |uow| uow.embeddings().count(&docs))?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkOptions {
    pub(crate) access: Access,
    pub(crate) tenant: Option<String>,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) remote_apply: bool,
}

impl WorkOptions {
    /// A read-write transaction: everything the work wrote commits when it returns `Ok`.
    pub fn write() -> Self {
        Self {
            access: Access::ReadWrite,
            tenant: None,
            retry: None,
            remote_apply: false,
        }
    }

    /// A `READ ONLY` transaction: one consistent snapshot; writes are refused.
    pub fn read() -> Self {
        Self {
            access: Access::ReadOnly,
            ..Self::write()
        }
    }

    /// Binds the transaction to `tenant` for row-level security: new rows get this tenant,
    /// and the unit of work sees, counts, updates and deletes only this tenant's rows —
    /// filters and raw SQL through [`UnitOfWork::connection`] included. The binding
    /// (`set_config('embedstore.tenant', …, true)`) ends with the transaction, so it never
    /// reaches the next user of the pooled connection.
    ///
    /// Enforced for ordinary roles (e.g. one prepared with
    /// [`Store::grant_app_role`](crate::Store::grant_app_role)); the table owner and
    /// superusers bypass row-level security. Collections are shared by all tenants. An empty
    /// tenant or one over 256 bytes is refused ([`Error::Validation`], path `tenant`) before
    /// any SQL runs.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Runs the whole unit of work again, from the start in a new transaction, while it fails
    /// with an error that [`Error::is_retryable`] accepts, as `policy` allows. The work may then
    /// run more than once: keep it free of side effects outside the unit of work.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Commits with `synchronous_commit = remote_apply` (for this transaction only): the
    /// commit returns once the synchronous standbys have applied it, so a read on them right
    /// after sees it without waiting for replay.
    ///
    /// It waits only for the standbys the primary's `synchronous_standby_names` names (without
    /// any, it is an ordinary local commit), and it costs the round trip to the slowest of them
    /// and its replay on every such commit; while a named standby is down, the commit waits
    /// until it is back. [`ReadFrom::OwnWrites`](crate::ReadFrom::OwnWrites) already gives
    /// read-your-writes without it, at the cost of a replay check (or a wait) on the read.
    pub fn remote_apply(mut self) -> Self {
        self.remote_apply = true;
        self
    }

    /// Whether the transaction is read-only.
    pub fn is_read_only(&self) -> bool {
        self.access == Access::ReadOnly
    }
}

/// Whether a transaction may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    ReadWrite,
    ReadOnly,
}

/// Why a transaction was rolled back.
enum Abort<E> {
    Caller(E),
    Database(diesel::result::Error),
    Panicked,
    /// `run` was handed a unit of work that had already run (a bug in the caller).
    AlreadyRan,
}

impl<E> From<diesel::result::Error> for Abort<E> {
    fn from(error: diesel::result::Error) -> Self {
        Abort::Database(error)
    }
}

/// Runs `work` in a transaction on `conn`, taking it out of `work` only once `BEGIN` has
/// succeeded: when this returns an error and `work` is still `Some`, nothing of it ran and the
/// caller may run it elsewhere. A panic inside `work` rolls back first and then continues
/// unwinding, so the pooled connection goes back clean.
pub(crate) fn run<T, E, F>(
    conn: &mut PgConnection,
    indexes: &PlannerMemory,
    access: Access,
    touched: &mut Touched,
    work: &mut Option<F>,
) -> Result<T, E>
where
    F: FnOnce(&mut UnitOfWork<'_>) -> Result<T, E>,
    E: From<Error>,
{
    let mut panic_payload = None;
    let mut transaction = conn.build_transaction();
    if access == Access::ReadOnly {
        transaction = transaction.read_only();
    }
    let outcome = transaction.run(|conn| {
        let Some(work) = work.take() else {
            return Err(Abort::AlreadyRan);
        };
        let mut uow = UnitOfWork {
            conn,
            indexes,
            access,
            touched: &mut *touched,
        };
        match catch_unwind(AssertUnwindSafe(|| work(&mut uow))) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(Abort::Caller(error)),
            Err(payload) => {
                panic_payload = Some(payload);
                Err(Abort::Panicked)
            }
        }
    });
    if let Some(payload) = panic_payload {
        resume_unwind(payload);
    }
    outcome.map_err(|abort| match abort {
        Abort::Caller(error) => error,
        Abort::Database(error) => E::from(Error::from(error)),
        Abort::Panicked => unreachable!("a panic resumed unwinding above"),
        Abort::AlreadyRan => E::from(Error::from(diesel::result::Error::QueryBuilderError(
            "a unit of work can run only once".into(),
        ))),
    })
}
