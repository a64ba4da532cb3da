//! [`Export`], the handle [`Store::export`] hands out: a collection written to files (NumPy +
//! JSONL, JSONL alone, Parquet under the `parquet` feature) and its figures. Each method is one
//! traced operation; the writers are in `mod.rs` and `parquet.rs`.

use std::path::Path;

use tracing::Span;

use crate::error::Result;
use crate::export::{CollectionStats, ExportSummary};
use crate::ingest::error::IngestError;
use crate::store::Store;
use crate::trace::{self, Operation};

impl Store {
    /// The export of the collection (or alias) named `collection`: its rows written to files,
    /// each export from one `REPEATABLE READ` snapshot of its own, and its figures.
    ///
    /// The collection is named, not passed as a [`Collection`](crate::Collection): each export
    /// resolves the name inside its own snapshot, so the collection it writes is the one that
    /// snapshot holds.
    ///
    /// # Example
    /// ```no_run
    /// # fn main() -> Result<(), embedstore::IngestError> {
    /// let store = embedstore::Store::from_env()?;
    /// let export = store.export("docs");
    /// let written = export.npy("out/docs".as_ref(), &mut |done, total| {
    ///     eprintln!("{done}/{total}");
    /// })?;
    /// println!("{} rows to {}", written.rows, written.vectors.display());
    /// # Ok(()) }
    /// ```
    pub fn export<'s>(&'s self, collection: &'s str) -> Export<'s> {
        Export {
            store: self,
            collection,
        }
    }
}

/// The export of one collection, from [`Store::export`].
///
/// Every file an export writes appears under its final name only when complete (it is written
/// as `<name>.partial` and renamed), ordered by `external_id` in the column's collation.
/// `progress` gets `(rows written, total rows)` after every page of 2,000 rows.
#[derive(Debug, Clone, Copy)]
pub struct Export<'s> {
    store: &'s Store,
    collection: &'s str,
}

impl Export<'_> {
    /// Writes the collection to `dir/vectors.npy` (float32, as `numpy.save` writes it) and
    /// `dir/records.jsonl` (`external_id`, `metadata`, `content`), streaming keyset pages of
    /// 2,000 rows. Everything is read in one `REPEATABLE READ` snapshot, so the row count in
    /// the header matches the rows written even while others write.
    ///
    /// # Errors
    /// [`IngestError::Store`] for an unknown collection or a failed read; [`IngestError::Format`]
    /// for a sparse collection (a dense matrix cannot hold it: use [`Export::jsonl`]);
    /// [`IngestError::Io`] when the files cannot be written.
    pub fn npy(
        &self,
        dir: &Path,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ExportSummary, IngestError> {
        trace::traced(span("npy"), |operation| {
            let summary = super::npy(self.store, self.collection, dir, progress)?;
            self.exported(operation, summary)
        })
    }

    /// Writes the collection to `dir/embeddings.jsonl`, one line per row —
    /// `{"external_id": …, "vector": …, "metadata": {…}, "content": …}` with the vector in its
    /// kind's JSON form (an array, a sparse object, a bit string) — the lines `embedstore
    /// insert` and [`JsonlSource`](crate::JsonlSource) read back. From one `REPEATABLE READ`
    /// snapshot, like [`Export::npy`], and the one export of a sparse collection.
    ///
    /// # Errors
    /// As [`Export::npy`].
    ///
    /// # Example
    /// ```no_run
    /// # fn main() -> Result<(), embedstore::IngestError> {
    /// let store = embedstore::Store::from_env()?;
    /// let written = store
    ///     .export("splade")
    ///     .jsonl("out/splade".as_ref(), &mut |_, _| {})?;
    /// assert_eq!(written.vectors, written.records);
    /// # Ok(()) }
    /// ```
    pub fn jsonl(
        &self,
        dir: &Path,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ExportSummary, IngestError> {
        trace::traced(span("jsonl"), |operation| {
            let summary = super::jsonl(self.store, self.collection, dir, progress)?;
            self.exported(operation, summary)
        })
    }

    /// Writes the collection to `dir/embeddings.parquet` (snappy-compressed; `external_id`,
    /// `vector` as `fixed_size_list<float32>`, `metadata` as JSON text, `content`), one row
    /// group per 2,000-row page, from one `REPEATABLE READ` snapshot: the layout
    /// [`ParquetSource`](crate::ParquetSource) reads back.
    ///
    /// # Errors
    /// As [`Export::npy`], plus Parquet encoding failures ([`IngestError::Format`]).
    ///
    /// # Example
    /// ```no_run
    /// # fn main() -> Result<(), embedstore::IngestError> {
    /// let store = embedstore::Store::from_env()?;
    /// let written = store
    ///     .export("docs")
    ///     .parquet("out/docs".as_ref(), &mut |_, _| {})?;
    /// println!("{} rows", written.rows);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "parquet")]
    pub fn parquet(
        &self,
        dir: &Path,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ExportSummary, IngestError> {
        trace::traced(span("parquet"), |operation| {
            let summary = super::parquet::parquet(self.store, self.collection, dir, progress)?;
            self.exported(operation, summary)
        })
    }

    /// The collection's figures: exact rows, dimension, metric, model, the partition's sizes
    /// and the last write, read in one read-only transaction.
    ///
    /// # Errors
    /// [`Error::NotFound`](crate::Error::NotFound) when there is no such collection or alias;
    /// [`Error::Database`](crate::Error::Database) when a query fails.
    ///
    /// # Example
    /// ```no_run
    /// # fn main() -> embedstore::Result<()> {
    /// let store = embedstore::Store::from_env()?;
    /// let stats = store.export("docs").stats()?;
    /// println!("{}: {} rows, {} bytes", stats.name, stats.rows, stats.table_bytes);
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> Result<CollectionStats> {
        super::stats(self.store, self.collection)
    }

    /// Records the collection (the name as asked, a collection's or an alias's: recorded only
    /// once the export found it, so no unchecked caller text reaches the span) and the rows
    /// written.
    fn exported(
        &self,
        operation: &Operation,
        summary: ExportSummary,
    ) -> Result<ExportSummary, IngestError> {
        operation.record("collection", self.collection);
        operation.record("rows", summary.rows);
        Ok(summary)
    }
}

/// The span of an export (`format`: `npy`, `jsonl` or `parquet`); the files' paths are never
/// recorded.
fn span(format: &'static str) -> Span {
    trace::span!(
        "export",
        format,
        collection = tracing::field::Empty,
        rows = tracing::field::Empty,
    )
}
