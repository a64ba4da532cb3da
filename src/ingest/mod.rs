//! Streaming bulk ingest: [`Ingest`] (its docs describe the whole path) over a [`RowSource`]
//! (`.npy` + JSONL records, JSONL with vectors, Parquet, or rows already in memory).

mod atomic;
mod batch;
pub(crate) mod error;
mod memory;
pub(crate) mod npy;
mod npy_header;
pub(crate) mod npy_writer;
mod parallel;
#[cfg(feature = "parquet")]
mod parquet_source;
mod problems;
pub(crate) mod records;
mod source;

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::dto::{CollectionRules, NewEmbedding};
use crate::store::Store;
use crate::trace::{self, Operation};

pub use error::{IngestError, RowProblem};
pub use memory::MemorySource;
#[cfg(feature = "parquet")]
pub use parquet_source::ParquetSource;
pub use source::{Ids, JsonlSource, NpySource, RowSource, SourceRow};

/// Rows per transaction unless told otherwise, chosen by measurement (README, "Bulk ingest
/// from pipeline files"): past a few thousand rows the per-transaction cost is amortised and
/// larger batches mostly cost memory.
pub const DEFAULT_BATCH_SIZE: usize = 2_000;

/// Whether existing `external_id`s are refused or updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum WriteMode {
    /// Refuse rows whose `external_id` the collection already holds.
    Insert,
    /// Insert new rows, update changed ones, skip unchanged ones (resumable).
    #[default]
    Upsert,
}

/// How an ingest runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestOptions {
    /// Insert or upsert.
    pub mode: WriteMode,
    /// Rows per batch (one transaction each); at least 1.
    pub batch_size: usize,
    /// `false` (the default): a batch with an invalid row is refused whole, every problem
    /// listed, and the ingest stops. `true`: valid rows are written and each invalid one is
    /// handed to [`IngestObserver::rejected`].
    pub skip_invalid: bool,
    /// `false` (the default): batches commit with `synchronous_commit = off`, so the load does
    /// not wait for a disk flush per batch. A server crash (not a client one) may then lose the
    /// last batches reported committed — at most about 3 × `wal_writer_delay` (600 ms by
    /// default) — which re-running the same upsert ingest writes again; the database stays
    /// consistent either way. `true`: every batch waits for its flush, as other writes do.
    pub synchronous_commit: bool,
    /// Batches written at once, each in its own transaction on its own connection
    /// ([`DEFAULT_WRITERS`]; at least 1). With more than one, a crash loses at most this many
    /// batches, and when a batch fails in the database the later batches already being
    /// written may commit; every batch stays all or nothing, and a row still wins over an
    /// earlier row with the same `external_id`.
    pub writers: usize,
    /// `false` (the default): one transaction per batch, as above. `true`: the whole source
    /// in one transaction on one connection (`writers` does not apply): stored whole or not at
    /// all, and every problem of the source is reported at once (reading and checking go on
    /// after the first, writing stops). Memory still holds one batch (plus, in insert mode,
    /// the ids seen so far); locks and dead tuples of the load last until the one commit, so
    /// this suits inputs of thousands of rows (`embedstore insert`), not a nightly million.
    pub atomic: bool,
}

/// Batches written at once unless told otherwise: two backends load a 2-core server about a
/// quarter faster than one (README, "Bulk ingest from pipeline files").
pub const DEFAULT_WRITERS: usize = 2;

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            mode: WriteMode::Upsert,
            batch_size: DEFAULT_BATCH_SIZE,
            skip_invalid: false,
            synchronous_commit: false,
            writers: DEFAULT_WRITERS,
            atomic: false,
        }
    }
}

/// Where an ingest stands, reported after every batch.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct IngestProgress {
    /// Rows read so far (written, unchanged or rejected).
    pub rows: u64,
    /// Rows the source holds.
    pub total_rows: u64,
    /// Time since the ingest started.
    pub elapsed: Duration,
}

/// A row skipped under [`IngestOptions::skip_invalid`], with every reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedRow {
    /// Row number, from 0.
    pub row: u64,
    /// Line of the records file, from 1, when there is one.
    pub line: Option<u64>,
    /// The row's `external_id`, when it could be read.
    pub external_id: Option<String>,
    /// Every problem of the row.
    pub problems: Vec<RowProblem>,
}

/// Receives progress and rejected rows; both do nothing by default (`()` ignores everything).
pub trait IngestObserver {
    /// Called after every batch.
    fn progress(&mut self, _progress: &IngestProgress) {}

    /// Called for each row skipped under [`IngestOptions::skip_invalid`].
    ///
    /// # Errors
    /// An error here (e.g. the rejects file cannot be written) stops the ingest.
    fn rejected(&mut self, _row: &RejectedRow) -> Result<(), IngestError> {
        Ok(())
    }
}

impl IngestObserver for () {}

/// What an ingest did.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct IngestSummary {
    /// Rows read from the source.
    pub rows: u64,
    /// Rows created.
    pub inserted: u64,
    /// Existing rows changed.
    pub updated: u64,
    /// Existing rows already as the source has them (not rewritten).
    pub unchanged: u64,
    /// Rows skipped as invalid (only under [`IngestOptions::skip_invalid`]).
    pub rejected: u64,
    /// Earlier occurrences of an `external_id` repeated inside one batch (upsert: last wins).
    pub duplicates_dropped: u64,
    /// Batches read (each written in one transaction, unless all its rows were unchanged or
    /// rejected).
    pub batches: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// An ingest into one collection: `.npy` matrices with JSONL records, JSONL records with
/// their vectors, Parquet, or [`NewEmbedding`]s already in memory ([`Ingest::run_rows`],
/// [`MemorySource`]), streamed in. It is the way to write many rows: a service's
/// `store.write(|uow| uow.embeddings().insert(..))` per 1,000 rows waits, batch after batch,
/// for its `COPY`, a flushed commit and, each time the collection grew by a tenth, an
/// `ANALYZE`; an ingest writes two batches at once, commits without waiting for the flush and
/// analyzes once at the end (BENCHMARKS.md, "Bulk writes from memory": 0.61–0.67× against
/// 0.94–0.98× one binary `COPY` in insert mode).
///
/// [`Ingest::run`] reads a [`RowSource`] in batches of [`IngestOptions::batch_size`] rows and
/// writes each batch in its own transaction ([`Store::write`] with the repository's insert or
/// upsert), up to [`IngestOptions::writers`] batches at once on connections of their own. Memory
/// is bounded by the batch (at most `writers + 2` batches in memory), a crash loses at most the
/// batches in flight, and re-running the same ingest in upsert mode resumes: rows already stored
/// are "unchanged" and not rewritten (a batch of unchanged rows costs a read, no write). An
/// upsert into a collection that holds no row when the ingest starts skips that read: its
/// batches are inserted as insert-mode batches are, until one meets a stored id (an id repeated
/// from an earlier batch, a row another writer stored meanwhile); that batch, rolled back, and
/// every later one are compared and written the usual way, with the same counts and results.
/// The atomic ingest ([`IngestOptions::atomic`]) always compares.
///
/// ```no_run
/// use std::path::Path;
/// use embedstore::Store;
/// use embedstore::{Ids, Ingest, IngestOptions, NpySource};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Store::from_env()?;
/// let mut source = NpySource::open(Path::new("vectors.npy"), &Ids::Records("records.jsonl".into()))?;
/// let summary = Ingest::new(&store, "docs", IngestOptions::default()).run(&mut source, &mut ())?;
/// println!("{} inserted, {} unchanged", summary.inserted, summary.unchanged);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Ingest<'s> {
    store: &'s Store,
    collection: String,
    options: IngestOptions,
}

impl<'s> Ingest<'s> {
    /// An ingest into the collection named `collection`.
    pub fn new(store: &'s Store, collection: impl Into<String>, options: IngestOptions) -> Self {
        Self {
            store,
            collection: collection.into(),
            options,
        }
    }

    /// Reads `source` to the end, batch by batch, one transaction per batch (or one for all,
    /// with [`IngestOptions::atomic`]).
    ///
    /// # Errors
    /// [`IngestError::Format`] before anything is written when the source's dimension differs
    /// from the collection's; [`IngestError::Rejected`] with every problem of the first batch
    /// holding invalid rows (or, in insert mode, `external_id`s already stored), nothing of that
    /// batch written (atomic: every problem of the source, nothing written);
    /// [`IngestError::Store`] for an unknown collection or a failed write;
    /// errors of the source or the observer.
    pub fn run(
        &self,
        source: &mut (dyn RowSource + Send),
        observer: &mut dyn IngestObserver,
    ) -> Result<IngestSummary, IngestError> {
        let span = trace::span!(
            "ingest",
            collection = tracing::field::Empty,
            collection_id = tracing::field::Empty,
            mode = ?self.options.mode,
            atomic = self.options.atomic,
            batch_size = self.options.batch_size,
            writers = self.options.writers,
            rows = tracing::field::Empty,
            inserted = tracing::field::Empty,
            updated = tracing::field::Empty,
            unchanged = tracing::field::Empty,
            rejected = tracing::field::Empty,
            batches = tracing::field::Empty,
        );
        trace::traced(span, |operation| {
            let summary = self.write_source(source, observer, operation)?;
            operation.record("rows", summary.rows);
            operation.record("inserted", summary.inserted);
            operation.record("updated", summary.updated);
            operation.record("unchanged", summary.unchanged);
            operation.record("rejected", summary.rejected);
            operation.record("batches", summary.batches);
            Ok(summary)
        })
    }

    /// Writes `rows`, already in memory, as [`run`](Self::run) writes a file: in batches of
    /// [`IngestOptions::batch_size`], each checked against the collection's rules (a bad row
    /// is named by its index in `rows`, from 0, and its field, and nothing of its batch is
    /// written) and written in one transaction, up to [`IngestOptions::writers`] at once.
    /// Shorthand for [`run`](Self::run) over a [`MemorySource`] (which can also be named in
    /// messages).
    ///
    /// ```no_run
    /// use embedstore::{Ingest, IngestOptions, NewEmbedding, Store, WriteMode};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = Store::from_env()?;
    /// let rows: Vec<NewEmbedding> = (0..100_000)
    ///     .map(|n| {
    ///         NewEmbedding::new(format!("doc-{n}"), vec![0.5_f32; 384])
    ///             .with_metadata(serde_json::json!({"lang": "en"}))
    ///     })
    ///     .collect();
    /// let options = IngestOptions { mode: WriteMode::Insert, ..IngestOptions::default() };
    /// let summary = Ingest::new(&store, "docs", options).run_rows(rows, &mut ())?;
    /// assert_eq!(summary.inserted, 100_000);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`run`](Self::run); [`IngestError::Rejected`] names `rows in memory` as its source.
    pub fn run_rows<R>(
        &self,
        rows: R,
        observer: &mut dyn IngestObserver,
    ) -> Result<IngestSummary, IngestError>
    where
        R: IntoIterator<Item = NewEmbedding>,
        R::IntoIter: Send,
    {
        self.run(&mut MemorySource::new(rows), observer)
    }

    /// [`Ingest::run`]'s work: resolves the collection (recorded in `operation` once found),
    /// checks the source's dimension and writes the batches.
    fn write_source(
        &self,
        source: &mut (dyn RowSource + Send),
        observer: &mut dyn IngestObserver,
        operation: &Operation,
    ) -> Result<IngestSummary, IngestError> {
        let started = Instant::now();
        let collection = self
            .store
            .read_primary(|uow| uow.collections().get(&self.collection))?;
        // The resolved collection's own name: an alias, or a name that was not found, is not.
        operation.record("collection", collection.name.as_str());
        operation.record("collection_id", collection.id.0);
        if let Some(dimension) = source
            .dimension()
            .filter(|&dimension| dimension != collection.dimension as usize)
        {
            return Err(IngestError::format(
                source.describe(),
                format!(
                    "vectors have {} values, collection {:?} has dimension {}",
                    dimension, collection.name, collection.dimension as usize
                ),
            ));
        }
        let describe = source.describe();
        let total_rows = source.total_rows();
        let batch_size = self.options.batch_size.max(1);
        let mut summary = IngestSummary::default();
        if self.options.atomic {
            let mut report = parallel::Report {
                observer,
                summary: &mut summary,
                started,
                total_rows,
            };
            self.run_atomic(&collection, &describe, source, &mut report)?;
            summary.seconds = started.elapsed().as_secs_f64();
            return Ok(summary);
        }
        // The next batches are read, parsed and checked against the collection's rules on a
        // thread of their own while up to `writers` earlier ones are compared with the stored
        // rows (upsert mode) and written, each on a thread and a connection of its own, so that
        // the client's work overlaps the database's. The channel holds one batch: at most
        // `writers + 2` are in memory.
        // Asked once: values beyond half precision are then refused row by row; and, for an
        // upsert, whether the collection holds any row — if not, batches skip the comparison
        // with the stored rows until one meets a stored id (see `batch`).
        let upsert = self.options.mode == WriteMode::Upsert;
        let facts = self.store.read_primary(|uow| {
            let half_index = uow.embeddings().ann_on_halfvec(&collection)?;
            let empty = upsert && !uow.embeddings().holds_rows(&collection)?;
            Ok::<_, crate::Error>((half_index, empty))
        });
        let (half_index, unplanned) = match facts {
            Ok((half_index, empty)) => (Ok(half_index), AtomicBool::new(empty)),
            Err(error) => (Err(error), AtomicBool::new(false)),
        };
        let written = std::thread::scope(|scope| {
            let (prepared_sender, prepared) = std::sync::mpsc::sync_channel(1);
            let (rules, mode) = (CollectionRules::of(&collection), self.options.mode);
            let half_index = half_index?;
            scope.spawn(move || {
                loop {
                    let mut rows = Vec::with_capacity(batch_size);
                    let outcome = source
                        .next_rows(batch_size, &mut rows)
                        .map(|()| batch::prepare(&rules, half_index, mode, rows));
                    let done = !matches!(&outcome, Ok(batch) if batch.len() > 0);
                    // A send fails only when the writing stopped; then so does the reading.
                    if prepared_sender.send(outcome).is_err() || done {
                        return;
                    }
                }
            });
            let collection = &collection;
            let mut report = parallel::Report {
                observer,
                summary: &mut summary,
                started,
                total_rows,
            };
            self.write_all(
                scope,
                collection,
                &describe,
                &unplanned,
                prepared,
                &mut report,
            )
        });
        // Each batch committed on its own and left its analyze to here: one for the run (also
        // after a failed batch, for those that committed), not one per batch.
        self.store
            .refresh_statistics_of(collection.id, summary.inserted + summary.updated);
        written?;
        summary.seconds = started.elapsed().as_secs_f64();
        Ok(summary)
    }
}
