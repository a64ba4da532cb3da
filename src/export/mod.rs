//! Export of a collection to `vectors.npy` + `records.jsonl`, `embeddings.jsonl` (and Parquet,
//! feature `parquet`), and its statistics: the [`Export`] handle ([`Store::export`], in
//! `handle.rs`) and the writers behind it. Each export reads one snapshot of its own, outside
//! any unit of work.

mod handle;
#[cfg(feature = "parquet")]
mod parquet;

pub use handle::Export;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::Result;
use crate::ingest::error::IngestError;
use crate::ingest::npy_writer::NpyWriter;
use crate::metric::Metric;
use crate::repo::pages;
use crate::store::Store;
use crate::vector::{VectorKind, VectorValue};

/// Rows fetched per keyset page.
const PAGE_ROWS: i64 = 2_000;

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportSummary {
    /// Rows written.
    pub rows: u64,
    /// The `.npy` matrix (for a Parquet export: the one file).
    pub vectors: PathBuf,
    /// The JSONL records, line `i` describing matrix row `i` (for Parquet: the same file).
    pub records: PathBuf,
}

/// One collection's figures, from [`Export::stats`] (`embedstore stats`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollectionStats {
    /// Collection name.
    pub name: String,
    /// Exact number of rows.
    pub rows: u64,
    /// Vector dimension.
    pub dimension: usize,
    /// Distance metric.
    pub metric: Metric,
    /// Embedding model.
    pub model: String,
    /// `pg_total_relation_size` of the collection's partition: table, TOAST and indexes (on a
    /// distributed database, summed over the partition's shards).
    pub table_bytes: u64,
    /// `pg_indexes_size` of the partition (on a distributed database, of its shards).
    pub index_bytes: u64,
    /// The latest `updated_at` of any row (the last ingest that changed something); `None`
    /// when empty. Unchanged rows of a re-run upsert are not rewritten and so do not move it.
    pub last_write: Option<DateTime<Utc>>,
}

/// One line of `records.jsonl` (no vector: the matrix holds it) or of `embeddings.jsonl`.
#[derive(Serialize)]
struct RecordLine<'a> {
    external_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    vector: Option<&'a VectorValue>,
    metadata: &'a serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
}

impl<'a> RecordLine<'a> {
    fn of(row: &'a pages::ExportRow, with_vector: bool) -> Self {
        Self {
            external_id: &row.external_id,
            vector: with_vector.then_some(&row.vector),
            metadata: &row.metadata,
            content: row.content.as_deref(),
        }
    }
}

/// A JSONL file being written through a 1 MiB buffer; errors name the file.
struct JsonLines {
    out: BufWriter<File>,
    name: String,
}

impl JsonLines {
    fn create(path: &Path) -> Result<Self, IngestError> {
        let name = path.display().to_string();
        let file = File::create(path).map_err(|error| IngestError::io(&name, error))?;
        Ok(Self {
            out: BufWriter::with_capacity(1 << 20, file),
            name,
        })
    }

    fn write(&mut self, line: &impl Serialize) -> Result<(), IngestError> {
        serde_json::to_writer(&mut self.out, line)
            .map_err(|error| IngestError::io(&self.name, error.into()))?;
        self.out
            .write_all(b"\n")
            .map_err(|error| IngestError::io(&self.name, error))
    }

    fn finish(mut self) -> Result<(), IngestError> {
        self.out
            .flush()
            .map_err(|error| IngestError::io(&self.name, error))
    }
}

/// Writes `dir/vectors.npy` and `dir/records.jsonl` ([`Export::npy`]).
pub(super) fn npy(
    store: &Store,
    collection: &str,
    dir: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ExportSummary, IngestError> {
    let (rows, [vectors, records]) = write_via_partials(
        dir,
        ["vectors.npy", "records.jsonl"],
        |[vectors_partial, records_partial]| {
            let (sink, rows) = for_each_page(
                store,
                collection,
                |collection, total| {
                    dense_export(collection, "vectors.npy")?;
                    let matrix =
                        NpyWriter::create(vectors_partial, total, collection.dimension as usize)?;
                    Ok((matrix, JsonLines::create(records_partial)?))
                },
                |(matrix, lines), page| {
                    for row in page {
                        matrix.write_row(&row.vector.values())?;
                        lines.write(&RecordLine::of(row, false))?;
                    }
                    Ok(())
                },
                progress,
            )?;
            let (matrix, lines) = sink;
            matrix.finish()?;
            lines.finish()?;
            Ok(rows)
        },
    )?;
    Ok(ExportSummary {
        rows,
        vectors,
        records,
    })
}

/// Writes `dir/embeddings.jsonl` ([`Export::jsonl`]).
pub(super) fn jsonl(
    store: &Store,
    collection: &str,
    dir: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ExportSummary, IngestError> {
    let (rows, [path]) = write_via_partials(dir, ["embeddings.jsonl"], |[partial]| {
        let (lines, rows) = for_each_page(
            store,
            collection,
            |_, _| JsonLines::create(partial),
            |lines, page| {
                page.iter()
                    .try_for_each(|row| lines.write(&RecordLine::of(row, true)))
            },
            progress,
        )?;
        lines.finish()?;
        Ok(rows)
    })?;
    Ok(ExportSummary {
        rows,
        vectors: path.clone(),
        records: path,
    })
}

/// The figures of the collection (or alias) `collection` ([`Export::stats`]).
pub(super) fn stats(store: &Store, collection: &str) -> Result<CollectionStats> {
    store.read(|uow| {
        let collection = uow.collections().get(collection)?;
        let partition = pages::partition_stats(uow.connection(), &collection)?;
        Ok(CollectionStats {
            rows: partition.rows.unsigned_abs(),
            dimension: collection.dimension as usize,
            metric: collection.metric,
            model: collection.model,
            table_bytes: partition.total_bytes.unsigned_abs(),
            index_bytes: partition.index_bytes.unsigned_abs(),
            last_write: partition.last_write,
            name: collection.name,
        })
    })
}

/// Refuses a dense-matrix export (`.npy`, Parquet) of a sparse collection: its matrix would
/// hold every one of up to 10⁹ dimensions. Bit collections export as 0.0/1.0 values.
pub(crate) fn dense_export(collection: &crate::Collection, file: &str) -> Result<(), IngestError> {
    if collection.kind == VectorKind::Sparse {
        return Err(IngestError::format(
            file,
            format!(
                "collection {} stores sparse vectors of {} dimensions, which a dense matrix cannot hold: export it to JSONL (`export --format jsonl`, Export::jsonl)",
                crate::error::bounded(&collection.name),
                collection.dimension
            ),
        ));
    }
    Ok(())
}

/// Writes an export's files so that they appear under their final names only when complete:
/// creates `dir`, has `write` fill `dir/<name>.partial` for each of `names` (given in the same
/// order), and only when it succeeds renames them, in order, to `dir/<name>`. Returns what
/// `write` returned and the final paths. On an error the `.partial` files are left as they are.
pub(crate) fn write_via_partials<T, const N: usize>(
    dir: &Path,
    names: [&str; N],
    write: impl FnOnce([&Path; N]) -> Result<T, IngestError>,
) -> Result<(T, [PathBuf; N]), IngestError> {
    std::fs::create_dir_all(dir)
        .map_err(|error| IngestError::io(dir.display().to_string(), error))?;
    let paths = names.map(|name| dir.join(name));
    let partials = names.map(|name| dir.join(format!("{name}.partial")));
    let written = write(partials.each_ref().map(PathBuf::as_path))?;
    for (partial, path) in partials.iter().zip(&paths) {
        std::fs::rename(partial, path)
            .map_err(|error| IngestError::io(path.display().to_string(), error))?;
    }
    Ok((written, paths))
}

/// Reads the collection in keyset pages inside one `REPEATABLE READ` snapshot: `start` gets
/// the collection and its row count and makes the sink, `page` gets every page in
/// `external_id` order. Returns the sink and the rows read.
pub(crate) fn for_each_page<S>(
    store: &Store,
    collection: &str,
    start: impl FnOnce(&crate::Collection, u64) -> Result<S, IngestError>,
    mut page: impl FnMut(&mut S, &[pages::ExportRow]) -> Result<(), IngestError>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(S, u64), IngestError> {
    store.read(|uow| {
        diesel::RunQueryDsl::execute(
            diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"),
            uow.connection(),
        )?;
        let collection = uow.collections().get(collection)?;
        let total = uow.embeddings().count(&collection)?;
        let mut sink = start(&collection, total)?;
        let mut after: Option<String> = None;
        let mut written = 0u64;
        loop {
            let rows =
                pages::page_after(uow.connection(), collection.id, after.as_deref(), PAGE_ROWS)?;
            let Some(last) = rows.last() else { break };
            after = Some(last.external_id.clone());
            page(&mut sink, &rows)?;
            written += rows.len() as u64;
            progress(written, total);
        }
        Ok((sink, written))
    })
}
