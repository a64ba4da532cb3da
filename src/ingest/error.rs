//! What can go wrong while ingesting or exporting files.

use std::fmt;
use std::io;

/// Why an ingest or export stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum IngestError {
    /// A file is malformed or does not fit the collection; found before anything was written.
    Format {
        /// The file at fault (as named by the caller).
        file: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A batch held invalid rows: every problem in it is listed and nothing of the batch was
    /// written (earlier batches stay committed; re-running resumes).
    Rejected {
        /// What was being read, e.g. `vectors.npy + records.jsonl`.
        source: String,
        /// Every problem of the batch, in row order.
        problems: Vec<RowProblem>,
    },
    /// Reading or writing a file failed.
    Io {
        /// The file.
        file: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// The store refused or failed.
    Store(crate::Error),
}

/// One problem with one input row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowProblem {
    /// The row, counted from 0 as NumPy indexes it.
    pub row: u64,
    /// The line of the JSONL records file it came from (counted from 1), if any.
    pub line: Option<u64>,
    /// The field at fault, e.g. `metadata`, `vector[3]`, `external_id`; empty for the row.
    pub field: String,
    /// Why it was refused.
    pub reason: String,
}

/// Recorded by what failed: the files (`format`, `rejected`, `io`) or the store (its error's
/// own kind: `not_found`, `statement_timeout` …).
impl crate::trace::Failure for IngestError {
    fn kind(&self) -> &'static str {
        match self {
            IngestError::Format { .. } => "format",
            IngestError::Rejected { .. } => "rejected",
            IngestError::Io { .. } => "io",
            IngestError::Store(error) => crate::trace::kind(error),
        }
    }
}

impl IngestError {
    pub(crate) fn format(file: impl Into<String>, reason: impl Into<String>) -> Self {
        IngestError::Format {
            file: file.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(file: impl Into<String>, source: io::Error) -> Self {
        IngestError::Io {
            file: file.into(),
            source,
        }
    }

    /// The row problems of a [`IngestError::Rejected`], empty for the other variants.
    pub fn problems(&self) -> &[RowProblem] {
        match self {
            IngestError::Rejected { problems, .. } => problems,
            _ => &[],
        }
    }
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}", self.row)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        if self.field.is_empty() {
            write!(f, ": {}", self.reason)
        } else {
            write!(f, ": {}: {}", self.field, self.reason)
        }
    }
}

impl fmt::Display for IngestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IngestError::Format { file, reason } => write!(f, "{file}: {reason}"),
            IngestError::Rejected { source, problems } => {
                let rows = {
                    let mut rows: Vec<u64> = problems.iter().map(|problem| problem.row).collect();
                    rows.dedup();
                    rows.len()
                };
                write!(
                    f,
                    "{source}: {rows} invalid row{} in a batch; nothing of that batch was written",
                    if rows == 1 { "" } else { "s" }
                )
            }
            IngestError::Io { file, source } => write!(f, "{file}: {source}"),
            IngestError::Store(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for IngestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IngestError::Io { source, .. } => Some(source),
            IngestError::Store(error) => Some(error),
            _ => None,
        }
    }
}

impl From<crate::Error> for IngestError {
    fn from(error: crate::Error) -> Self {
        IngestError::Store(error)
    }
}

impl From<diesel::result::Error> for IngestError {
    fn from(error: diesel::result::Error) -> Self {
        IngestError::Store(crate::Error::from(error))
    }
}
