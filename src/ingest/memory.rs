//! Rows already in memory as a [`RowSource`]: the bulk write path for a service that holds its
//! embeddings as [`NewEmbedding`]s rather than in files.

use std::fmt;

use crate::dto::NewEmbedding;
use crate::ingest::error::IngestError;
use crate::ingest::source::{RowSource, SourceRow};

/// What a [`MemorySource`] is called in messages unless named otherwise.
const DEFAULT_NAME: &str = "rows in memory";

/// A [`RowSource`] over [`NewEmbedding`]s already in memory: any `IntoIterator` of owned rows
/// (a `Vec`, a `map` over the caller's own records, a channel's iterator …), read once, front
/// to back.
///
/// Through [`Ingest::run`](crate::Ingest::run) (or [`Ingest::run_rows`](crate::Ingest::run_rows),
/// which builds one) the rows are written as the files are: in batches of
/// [`IngestOptions::batch_size`](crate::IngestOptions::batch_size) rows, each checked against
/// the collection's rules off the write path and written in one transaction by one binary
/// `COPY`, up to [`IngestOptions::writers`](crate::IngestOptions::writers) batches at once.
/// A bad row is reported by its index in the iterator (from 0) and its field, e.g.
/// `row 1200: vector[3]: value is NaN`, and nothing of its batch is written; the error is
/// [`IngestError::Rejected`]. The source declares no dimension: every row's vector is checked
/// against the collection as it comes, so a vector of the wrong length is refused with its row
/// (`row 7: vector: expected 384 values, got 3`) like any other problem.
///
/// [`RowSource::total_rows`] (what progress reports as the total) is the iterator's length when
/// it says exactly (a `Vec`, a slice's `iter().cloned()`, any `ExactSizeIterator`), else 0.
/// Rows are moved out of the iterator one batch at a time and freed once their batch is
/// written: a `Vec`'s vectors and texts do not outlive their batch, and a lazy iterator makes
/// each row only when its batch is read. [`Ingest::run`](crate::Ingest::run) reads the rows on
/// a thread of its own, so the iterator must be `Send`. An iterator that panics makes the run
/// panic too, once the batches it completed before (handed to the writers) are written and
/// committed; the batch it was in the middle of writes nothing.
///
/// ```no_run
/// use embedstore::{Ingest, IngestOptions, MemorySource, NewEmbedding, Store};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Store::from_env()?;
/// let rows = (0..100_000).map(|n| NewEmbedding::new(format!("doc-{n}"), vec![0.5_f32; 384]));
/// let mut source = MemorySource::new(rows).named("embedding service batch");
/// let summary = Ingest::new(&store, "docs", IngestOptions::default()).run(&mut source, &mut ())?;
/// println!("{} inserted in {:.2} s", summary.inserted, summary.seconds);
/// # Ok(())
/// # }
/// ```
pub struct MemorySource<I> {
    rows: I,
    /// Rows handed out so far: the next row's number.
    rows_read: u64,
    total_rows: u64,
    name: String,
}

impl<I: Iterator<Item = NewEmbedding>> MemorySource<I> {
    /// A source over `rows`, named "rows in memory" in messages.
    ///
    /// ```
    /// use embedstore::{MemorySource, NewEmbedding, RowSource};
    ///
    /// let rows = vec![
    ///     NewEmbedding::new("a", vec![1.0_f32, 0.0]),
    ///     NewEmbedding::new("b", vec![0.0_f32, 1.0]),
    /// ];
    /// let source = MemorySource::new(rows);
    /// assert_eq!(source.total_rows(), 2);
    /// assert_eq!(source.describe(), "rows in memory");
    /// ```
    pub fn new(rows: impl IntoIterator<IntoIter = I>) -> Self {
        let rows = rows.into_iter();
        // Only an exact size hint (an `ExactSizeIterator`'s) is a total; a `filter` or a
        // channel says a range, and progress then shows no total.
        let total_rows = match rows.size_hint() {
            (lower, Some(upper)) if lower == upper => lower as u64,
            _ => 0,
        };
        Self {
            rows,
            rows_read: 0,
            total_rows,
            name: DEFAULT_NAME.to_owned(),
        }
    }

    /// Names the rows in messages (e.g. the job or request they came from): errors say
    /// `<name>: 1 invalid row in a batch; …`. Never put a secret in it.
    ///
    /// ```
    /// use embedstore::{MemorySource, NewEmbedding, RowSource};
    ///
    /// let source = MemorySource::new(Vec::<NewEmbedding>::new()).named("nightly refresh");
    /// assert_eq!(source.describe(), "nightly refresh");
    /// ```
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

/// The name and the counts only: the rows may hold anything.
impl<I> fmt::Debug for MemorySource<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySource")
            .field("name", &self.name)
            .field("rows_read", &self.rows_read)
            .field("total_rows", &self.total_rows)
            .finish_non_exhaustive()
    }
}

impl<I: Iterator<Item = NewEmbedding>> RowSource for MemorySource<I> {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn total_rows(&self) -> u64 {
        self.total_rows
    }

    fn dimension(&self) -> Option<usize> {
        None
    }

    fn next_rows(&mut self, max: usize, out: &mut Vec<SourceRow>) -> Result<(), IngestError> {
        out.extend(self.rows.by_ref().take(max).map(|item| {
            let row = SourceRow {
                row: self.rows_read,
                line: None,
                outcome: Ok(item),
            };
            self.rows_read += 1;
            row
        }));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(count: usize) -> impl Iterator<Item = NewEmbedding> {
        (0..count).map(|n| NewEmbedding::new(format!("r{n}"), vec![n as f32, 1.0]))
    }

    #[test]
    fn rows_come_in_order_numbered_from_zero_in_batches_of_at_most_max() {
        let mut source = MemorySource::new(rows(5).collect::<Vec<_>>());
        assert_eq!((source.total_rows(), source.dimension()), (5, None));
        let mut batches = Vec::new();
        loop {
            let mut out = Vec::new();
            source.next_rows(2, &mut out).unwrap();
            if out.is_empty() {
                break;
            }
            batches.push(
                out.into_iter()
                    .map(|row| (row.row, row.line, row.outcome.unwrap().external_id))
                    .collect::<Vec<_>>(),
            );
        }
        assert_eq!(
            batches,
            vec![
                vec![(0, None, "r0".to_owned()), (1, None, "r1".to_owned())],
                vec![(2, None, "r2".to_owned()), (3, None, "r3".to_owned())],
                vec![(4, None, "r4".to_owned())],
            ]
        );
    }

    #[test]
    fn the_total_is_known_only_from_an_exact_size() {
        assert_eq!(MemorySource::new(rows(7)).total_rows(), 7);
        let filtered = rows(7).filter(|row| row.external_id != "r3");
        assert_eq!(MemorySource::new(filtered).total_rows(), 0);
    }

    #[test]
    fn debug_shows_the_name_and_counts_never_a_row() {
        let secret = NewEmbedding::new("id", vec![1.0_f32]).with_content("hunter2");
        let source = MemorySource::new(vec![secret]).named("job 7");
        let debug = format!("{source:?}");
        assert!(
            debug.contains("job 7") && debug.contains("total_rows: 1"),
            "{debug}"
        );
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
