//! Where ingested rows come from: a `.npy` matrix paired with JSONL records or generated ids.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::dto::NewEmbedding;
use crate::ingest::error::IngestError;
use crate::ingest::npy::NpyReader;
use crate::ingest::records::RecordReader;

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
    /// Total rows the source will yield.
    fn total_rows(&self) -> u64;
    /// Length of every vector.
    fn dimension(&self) -> usize;
    /// Appends up to `max` more rows to `out`; appends none at the end.
    ///
    /// # Errors
    /// Unreadable or malformed input that stops the whole source.
    fn next_rows(&mut self, max: usize, out: &mut Vec<SourceRow>) -> Result<(), IngestError>;
}

/// Where the ids of a `.npy` source come from.
#[derive(Debug, Clone, PartialEq, Eq)]
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

    fn dimension(&self) -> usize {
        self.vectors.header().cols
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
                            vector,
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
