//! Where ingested rows come from: a `.npy` matrix paired with JSONL records or generated ids.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::dto::NewEmbedding;
use crate::ingest::error::IngestError;
use crate::ingest::npy::NpyReader;
use crate::ingest::records::{RecordReader, VectorRecord};

/// One row read from a source, ready to validate, or the problems that stopped it.
#[derive(Debug, Clone)]
pub struct SourceRow {
    /// Row number, from 0 (the matrix row).
    pub row: u64,
    /// Line of the records file, from 1, when there is one.
    pub line: Option<u64>,
    /// The embedding, or the `(field, reason)` problems of the row.
    pub outcome: Result<NewEmbedding, Vec<(String, String)>>,
}

/// A stream of rows to ingest.
pub trait RowSource {
    /// The inputs, for messages (e.g. `vectors.npy + records.jsonl`).
    fn describe(&self) -> String;
    /// Total rows the source will yield (0 when it cannot know, e.g. a stream; progress
    /// then reports no total).
    fn total_rows(&self) -> u64;
    /// Length of every vector, when the source declares one (a `.npy` header, a Parquet
    /// schema): it is compared with the collection's before anything is read. `None`: every
    /// row's vector is checked against the collection as it comes (JSONL).
    fn dimension(&self) -> Option<usize>;
    /// Appends up to `max` more rows to `out`; appends none at the end.
    ///
    /// # Errors
    /// Unreadable or malformed input that stops the whole source.
    fn next_rows(&mut self, max: usize, out: &mut Vec<SourceRow>) -> Result<(), IngestError>;
}

/// Where the ids of a `.npy` source come from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ids {
    /// A JSONL records file, one record per matrix row, in the same order.
    Records(PathBuf),
    /// `<prefix><row>` for row 0, 1, 2, … (no metadata, no content).
    Prefix(String),
}

/// A `.npy` matrix and its ids.
#[derive(Debug)]
pub struct NpySource {
    vectors: NpyReader<BufReader<File>>,
    records: Option<RecordReader<BufReader<File>>>,
    prefix: String,
    describe: String,
    vector: Vec<f32>,
}

impl NpySource {
    /// Opens the matrix and the ids, checking before anything is read that the matrix is
    /// complete and that the records file has exactly one record per row.
    ///
    /// # Errors
    /// [`IngestError::Format`] for a malformed matrix or a count mismatch, [`IngestError::Io`]
    /// when a file cannot be read.
    pub fn open(vectors: &Path, ids: &Ids) -> Result<Self, IngestError> {
        let matrix = NpyReader::open(vectors)?;
        let rows = matrix.header().rows;
        let (records, prefix, describe) = match ids {
            Ids::Records(path) => {
                let counted = RecordReader::open(path)?.count_remaining()?;
                if counted != rows {
                    return Err(IngestError::format(
                        path.display().to_string(),
                        format!(
                            "{counted} records (non-blank lines) but {} has {rows} rows; they must pair up one to one",
                            matrix.file()
                        ),
                    ));
                }
                let describe = format!("{} + {}", matrix.file(), path.display());
                (Some(RecordReader::open(path)?), String::new(), describe)
            }
            Ids::Prefix(prefix) => (None, prefix.clone(), matrix.file().to_owned()),
        };
        Ok(Self {
            vectors: matrix,
            records,
            prefix,
            describe,
            vector: Vec::new(),
        })
    }
}

impl RowSource for NpySource {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn total_rows(&self) -> u64 {
        self.vectors.header().rows
    }

    fn dimension(&self) -> Option<usize> {
        Some(self.vectors.header().cols)
    }

    fn next_rows(&mut self, max: usize, out: &mut Vec<SourceRow>) -> Result<(), IngestError> {
        for _ in 0..max {
            let row = self.vectors.rows_read();
            if !self.vectors.read_row(&mut self.vector)? {
                return Ok(());
            }
            let vector = std::mem::take(&mut self.vector);
            let (line, outcome) = match &mut self.records {
                None => (
                    None,
                    Ok(NewEmbedding::new(format!("{}{row}", self.prefix), vector)),
                ),
                Some(records) => {
                    // The counts were compared when the source was opened; a file that
                    // shrank since then is reported rather than paired wrongly.
                    let Some((line, record)) = records.next_record()? else {
                        return Err(IngestError::format(
                            &self.describe,
                            format!("the records file ended before row {row}"),
                        ));
                    };
                    let outcome = record
                        .map(|record| NewEmbedding {
                            external_id: record.external_id,
                            vector: vector.into(),
                            content: record.content,
                            metadata: record.metadata,
                        })
                        .map_err(|problem| vec![problem]);
                    (Some(line), outcome)
                }
            };
            out.push(SourceRow { row, line, outcome });
        }
        Ok(())
    }
}

/// JSONL records that carry their vectors, one per non-blank line:
/// `{"external_id" (or "id"): "…", "vector": [0.1, …], "metadata": {…}, "content": "…"}`.
/// Unknown fields are refused by name, and a JSON error names its line and field (e.g.
/// `vector[1]: NaN is not valid JSON …`); a UTF-8 byte-order mark at the start is skipped.
///
/// ```no_run
/// use embedstore::{Ingest, IngestOptions, JsonlSource, Store};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Store::from_env()?;
/// let mut source = JsonlSource::open("records.jsonl".as_ref())?;
/// let summary = Ingest::new(&store, "docs", IngestOptions::default()).run(&mut source, &mut ())?;
/// # Ok(()) }
/// ```
pub struct JsonlSource {
    records: RecordReader<Box<dyn std::io::BufRead + Send>>,
    /// Records read so far: the next row number (blank lines are not rows).
    rows_read: u64,
    total_rows: u64,
    describe: String,
}

impl std::fmt::Debug for JsonlSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonlSource")
            .field("describe", &self.describe)
            .field("total_rows", &self.total_rows)
            .finish_non_exhaustive()
    }
}

impl JsonlSource {
    /// Opens a file, counting its records first (so progress knows the total).
    ///
    /// # Errors
    /// [`IngestError::Io`] when the file cannot be read.
    pub fn open(path: &Path) -> Result<Self, IngestError> {
        let total_rows = RecordReader::open(path)?.count_remaining()?;
        let describe = path.display().to_string();
        let file = File::open(path).map_err(|error| IngestError::io(&describe, error))?;
        let reader: Box<dyn std::io::BufRead + Send> =
            Box::new(BufReader::with_capacity(1 << 20, file));
        Ok(Self {
            records: RecordReader::new(reader, describe.clone()),
            rows_read: 0,
            total_rows,
            describe,
        })
    }

    /// Reads a stream (e.g. stdin) read once, front to back; `name` names it in messages.
    /// Its total is unknown (0).
    pub fn from_reader(reader: impl std::io::BufRead + Send + 'static, name: &str) -> Self {
        Self {
            records: RecordReader::new(Box::new(reader), name.to_owned()),
            rows_read: 0,
            total_rows: 0,
            describe: name.to_owned(),
        }
    }
}

impl RowSource for JsonlSource {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn total_rows(&self) -> u64 {
        self.total_rows
    }

    fn dimension(&self) -> Option<usize> {
        None
    }

    fn next_rows(&mut self, max: usize, out: &mut Vec<SourceRow>) -> Result<(), IngestError> {
        for _ in 0..max {
            let Some((line, record)) = self.records.next_as::<VectorRecord>()? else {
                return Ok(());
            };
            let outcome = record
                .map(|record| NewEmbedding {
                    external_id: record.external_id,
                    vector: record.vector,
                    content: record.content,
                    metadata: record.metadata,
                })
                .map_err(|problem| vec![problem]);
            out.push(SourceRow {
                row: self.rows_read,
                line: Some(line),
                outcome,
            });
            self.rows_read += 1;
        }
        Ok(())
    }
}
