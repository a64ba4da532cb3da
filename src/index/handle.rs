//! [`Indexes`], the handle on one collection's indexes that [`Store::indexes`] hands out: the
//! ANN index that vector searches use, its drift, and the payload and text sub-handles. Each
//! method is one traced operation; the work is in `ann.rs` and `health.rs`.

use tracing::Span;

use crate::dto::IndexSpec;
use crate::error::Result;
use crate::index::ann::{self, IndexProgress, IndexStatus};
use crate::index::health::{self, HealthOptions, IndexHealth};
use crate::index::payload::PayloadIndexes;
use crate::index::text::TextIndex;
use crate::models::Collection;
use crate::store::Store;
use crate::trace::{self, Operation};

impl Store {
    /// The indexes of `collection`: its ANN index (build, swap-rebuild, drop, status, drift),
    /// its payload indexes ([`Indexes::payload`]) and its full-text index ([`Indexes::text`]).
    ///
    /// Index builds run `CREATE INDEX CONCURRENTLY`, which cannot run inside a transaction: so
    /// they hang off the store and never off a [`UnitOfWork`](crate::UnitOfWork). Each build
    /// takes a pooled connection of its own for its whole duration.
    ///
    /// # Example
    /// ```no_run
    /// # fn main() -> embedstore::Result<()> {
    /// use embedstore::{IndexSpec, Store};
    ///
    /// let store = Store::from_env()?;
    /// let docs = store.collection("docs")?;
    /// let indexes = store.indexes(&docs);
    /// if !indexes.status()?.exists {
    ///     indexes.create(&IndexSpec::hnsw().m(16).ef_construction(64), None)?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn indexes<'s>(&'s self, collection: &'s Collection) -> Indexes<'s> {
        Indexes {
            store: self,
            collection,
        }
    }
}

/// One collection's indexes, from [`Store::indexes`]. The methods on the handle itself are
/// about the ANN index, the one vector searches use (described by [`IndexSpec`], reported as
/// [`IndexStatus`] and [`IndexHealth`]); [`Indexes::payload`] and [`Indexes::text`] reach the
/// others.
///
/// Cheap to make (two references): make one where it is needed.
#[derive(Debug, Clone, Copy)]
pub struct Indexes<'s> {
    pub(super) store: &'s Store,
    pub(super) collection: &'s Collection,
}

impl<'s> Indexes<'s> {
    /// Builds the collection's ANN index with `CREATE INDEX CONCURRENTLY` (writes continue
    /// meanwhile) on the exact expression searches order by, with the operator class of the
    /// collection's metric. `progress`, when given, is called about five times a second with
    /// the server's progress report while the build runs.
    ///
    /// An invalid index left by an earlier failed build is dropped first.
    ///
    /// # Errors
    /// [`Error::Validation`](crate::Error::Validation) for a spec the collection cannot have
    /// (over 4,000 dimensions, IVFFlat with `l1`, bad parameters);
    /// [`Error::Conflict`](crate::Error::Conflict) when a valid index exists (drop or rebuild
    /// it); [`Error::NotFound`](crate::Error::NotFound) when the collection was dropped;
    /// [`Error::Database`](crate::Error::Database) when the build fails (nothing valid is left
    /// behind).
    ///
    /// # Example
    /// ```no_run
    /// # fn main() -> embedstore::Result<()> {
    /// use embedstore::{IndexProgress, IndexSpec, Store};
    ///
    /// let store = Store::from_env()?;
    /// let docs = store.collection("docs")?;
    /// let mut report = |progress: IndexProgress| eprintln!("{}", progress.phase);
    /// let status = store
    ///     .indexes(&docs)
    ///     .create(&IndexSpec::hnsw(), Some(&mut report))?;
    /// assert!(status.valid);
    /// # Ok(()) }
    /// ```
    pub fn create(
        &self,
        spec: &IndexSpec,
        progress: Option<&mut dyn FnMut(IndexProgress)>,
    ) -> Result<IndexStatus> {
        trace::traced(self.span("create", Some(spec)), |operation| {
            ann::create(self.store, self.collection, spec, progress)?;
            self.built(operation)
        })
    }

    /// Builds a fresh index beside the current one (`CREATE INDEX CONCURRENTLY` under a
    /// temporary name), then drops the old one and renames the new one into place, so
    /// searches keep an index throughout. `spec` changes the parameters; `None` keeps them,
    /// except that IVFFlat's derived `lists` are derived again from today's row count. Also
    /// cleans up invalid left-overs of interrupted builds.
    ///
    /// # Errors
    /// As [`Indexes::create`]; [`Error::NotFound`](crate::Error::NotFound) when there is no
    /// index to rebuild.
    ///
    /// # Example
    /// ```no_run
    /// # fn main() -> embedstore::Result<()> {
    /// let store = embedstore::Store::from_env()?;
    /// let docs = store.collection("docs")?;
    /// // The same parameters, on today's rows.
    /// store.indexes(&docs).rebuild(None, None)?;
    /// # Ok(()) }
    /// ```
    pub fn rebuild(
        &self,
        spec: Option<&IndexSpec>,
        progress: Option<&mut dyn FnMut(IndexProgress)>,
    ) -> Result<IndexStatus> {
        trace::traced(self.span("rebuild", spec), |operation| {
            ann::rebuild(self.store, self.collection, spec, progress)?;
            self.built(operation)
        })
    }

    /// Drops the collection's ANN index (`DROP INDEX CONCURRENTLY`) and any invalid
    /// left-overs; searches become exact scans. Returns whether an index existed.
    ///
    /// # Errors
    /// [`Error::Database`](crate::Error::Database) when the server refuses.
    ///
    /// # Example
    /// ```no_run
    /// # fn main() -> embedstore::Result<()> {
    /// let store = embedstore::Store::from_env()?;
    /// let docs = store.collection("docs")?;
    /// let existed = store.indexes(&docs).drop()?;
    /// # Ok(()) }
    /// ```
    pub fn drop(&self) -> Result<bool> {
        trace::traced(self.span("drop", None), |_| {
            ann::drop_index(self.store, self.collection)
        })
    }

    /// The collection's ANN index as it is now, with advice.
    ///
    /// # Errors
    /// [`Error::NotFound`](crate::Error::NotFound) when the collection was dropped;
    /// [`Error::Database`](crate::Error::Database) otherwise.
    ///
    /// # Example
    /// ```no_run
    /// # fn main() -> embedstore::Result<()> {
    /// let store = embedstore::Store::from_env()?;
    /// let docs = store.collection("docs")?;
    /// let status = store.indexes(&docs).status()?;
    /// for advice in &status.advice {
    ///     eprintln!("{}: {advice}", status.name);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn status(&self) -> Result<IndexStatus> {
        trace::traced(self.span("status", None), |_| {
            ann::status(self.store, self.collection)
        })
    }

    /// The collection's ANN index with drift signals: rows at build time and now, rows
    /// updated and deleted since the build and dead tuples (PostgreSQL's cumulative
    /// statistics, which show other sessions' writes within about a second), and recall@k
    /// measured now on `options.recall_queries` stored vectors drawn at random (as
    /// [`Store::measure_recall`]). The advice says when to rebuild (IVFFlat built on under
    /// half of today's rows, recall below `options.recall_floor`), `REINDEX CONCURRENTLY`
    /// (many rows changed since the build) or `VACUUM` (many dead tuples).
    ///
    /// # Errors
    /// [`Error::Validation`](crate::Error::Validation) for a `k` outside
    /// 1..=[`MAX_K`](crate::MAX_K) or a floor outside [0, 1];
    /// [`Error::NotFound`](crate::Error::NotFound) when the collection was dropped;
    /// [`Error::Database`](crate::Error::Database) otherwise.
    ///
    /// # Example
    /// ```no_run
    /// # fn main() -> embedstore::Result<()> {
    /// use embedstore::HealthOptions;
    ///
    /// let store = embedstore::Store::from_env()?;
    /// let docs = store.collection("docs")?;
    /// let health = store
    ///     .indexes(&docs)
    ///     .health(&HealthOptions::default().recall_queries(50))?;
    /// println!("recall {:?}, advice {:?}", health.recall, health.advice);
    /// # Ok(()) }
    /// ```
    pub fn health(&self, options: &HealthOptions) -> Result<IndexHealth> {
        let span = trace::span!(
            "index_health",
            collection = %self.collection.name,
            collection_id = self.collection.id.0,
            recall_queries = options.recall_queries,
            k = options.k,
            recall = tracing::field::Empty,
            advice = tracing::field::Empty,
        );
        trace::traced(span, |operation| {
            let health = health::measure(self, options)?;
            if let Some(recall) = health.recall {
                operation.record("recall", recall);
            }
            operation.record("advice", health.advice.len());
            Ok(health)
        })
    }

    /// The collection's payload indexes: btree indexes on one metadata field each, and the
    /// GIN index on all of `metadata`.
    pub fn payload(&self) -> PayloadIndexes<'s> {
        PayloadIndexes::new(self.store, self.collection)
    }

    /// The collection's full-text index, the one text and hybrid searches use.
    pub fn text(&self) -> TextIndex<'s> {
        TextIndex::new(self.store, self.collection)
    }

    /// Reads the status after a build (a `status` operation of its own) and records the rows
    /// the index was built on.
    fn built(&self, operation: &Operation) -> Result<IndexStatus> {
        let status = self.status()?;
        operation.record("rows", status.rows);
        Ok(status)
    }

    /// The span of an ANN index operation (`create`, `rebuild`, `drop`, `status`): the
    /// collection, the method and build parameters asked for, and the rows a build covered.
    fn span(&self, action: &'static str, spec: Option<&IndexSpec>) -> Span {
        trace::span!(
            "ann_index",
            action,
            collection = %self.collection.name,
            collection_id = self.collection.id.0,
            method = spec.map(|spec| spec.method.as_str()),
            m = spec.and_then(|spec| spec.m),
            ef_construction = spec.and_then(|spec| spec.ef_construction),
            lists = spec.and_then(|spec| spec.lists),
            maintenance_work_mem_mb = spec.and_then(|spec| spec.maintenance_work_mem_mb),
            parallel_workers = spec.and_then(|spec| spec.parallel_workers),
            rows = tracing::field::Empty,
        )
    }
}
