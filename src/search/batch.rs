//! Batch search: many query vectors in chunks sized to the statement timeout, each response
//! handed over as its chunk is answered.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use super::MAX_BATCH;
use crate::dto::{SearchRequest, SearchSpec};
use crate::error::{Error, Result};
use crate::models::Collection;
use crate::repo::SearchResponse;
use crate::repo::search::Search;
use crate::repo::search::SearchPath;
use crate::store::Store;
use crate::trace::{self, Operation};
use crate::uow;
use crate::vector::VectorValue;

impl Store {
    /// The same search for every vector in `queries`, one response per query in the same
    /// order. `template` gives `k`, the filter and the settings; its own vector is ignored.
    /// The queries run in chunks (one statement each for plain searches), sized to stay well
    /// inside the statement timeout: see [`Store::search_batch_each`], which hands over each
    /// response as its chunk is answered.
    ///
    /// # Errors
    /// [`Error::Validation`] naming the bad query (`queries[3].vector[7]: value is NaN`) or
    /// more than [`MAX_BATCH`] queries, before anything runs; otherwise as [`Store::search`],
    /// a database error saying where the batch stopped ([`DatabaseError::batch`]).
    ///
    /// [`DatabaseError::batch`]: crate::DatabaseError::batch
    pub fn search_batch<V>(
        &self,
        collection: &Collection,
        queries: &[V],
        template: impl Into<SearchRequest>,
    ) -> Result<Vec<SearchResponse>>
    where
        V: Clone + Into<VectorValue>,
    {
        let mut responses = Vec::with_capacity(queries.len());
        self.search_batch_each(collection, queries, template, |_, response| {
            responses.push(response);
            ControlFlow::Continue(())
        })?;
        Ok(responses)
    }

    /// [`Store::search_batch`], handing each query's response to `each` (with the query's
    /// index) as soon as its chunk is answered, in order; `each` returns
    /// [`ControlFlow::Break`] to stop: no further response is handed over and no further
    /// chunk runs. Returns how many responses were handed over.
    ///
    /// **Chunks.** The first chunk holds 16 queries; each next one is sized from the time per
    /// query measured on the chunk before so that it should take at most a quarter of the
    /// configured statement timeout (`EMBEDSTORE_STATEMENT_TIMEOUT_MS`), never more than twice
    /// the chunk before, and at most 128 queries (also without a timeout, so that responses
    /// keep coming). A batch that would take longer than the timeout as one statement
    /// completes; a chunk that still times out (the server slowed down fourfold between two
    /// chunks, or waited on a lock) fails with [`DatabaseErrorKind::StatementTimeout`] and the
    /// chunk and the number answered before it ([`DatabaseError::batch`]). Each chunk is its
    /// own snapshot: rows written while a batch runs may be seen by later chunks only.
    ///
    /// ```no_run
    /// use std::ops::ControlFlow;
    /// use embedstore::SearchRequest;
    /// # fn main() -> embedstore::Result<()> {
    /// # let store = embedstore::Store::from_env()?;
    /// # let docs = store.collection("docs")?;
    /// let queries = vec![vec![0.1_f32; 384]; 500];
    /// let answered = store.search_batch_each(&docs, &queries, SearchRequest::vector(vec![], 10), |index, response| {
    ///     println!("query {index}: {} hits", response.hits.len());
    ///     ControlFlow::Continue(())
    /// })?;
    /// # let _ = answered; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Store::search_batch`]; the responses handed over before an error stay valid.
    ///
    /// [`DatabaseErrorKind::StatementTimeout`]: crate::DatabaseErrorKind::StatementTimeout
    /// [`DatabaseError::batch`]: crate::DatabaseError::batch
    pub fn search_batch_each<V>(
        &self,
        collection: &Collection,
        queries: &[V],
        template: impl Into<SearchRequest>,
        mut each: impl FnMut(usize, SearchResponse) -> ControlFlow<()>,
    ) -> Result<usize>
    where
        V: Clone + Into<VectorValue>,
    {
        let template = template.into().into_spec();
        if queries.is_empty() {
            return Ok(0);
        }
        let queries: Vec<VectorValue> = queries.iter().cloned().map(Into::into).collect();
        let queries = queries.as_slice();
        let span = uow::search_span("batch", collection, &template, queries.len());
        trace::traced(span, |operation| {
            let request = validate_batch(collection, queries, &template)?;
            let mut tally = Tally::default();
            let outcome = self.run_chunks(
                operation, collection, queries, &request, &mut tally, &mut each,
            );
            // Recorded once, however the batch ended: what was handed over.
            if let Some((path, estimate)) = tally.first {
                operation.record("path", uow::path_name(path));
                if let Some(estimate) = estimate {
                    operation.record("estimated_matches", estimate);
                }
            }
            operation.record("chunks", tally.chunks);
            operation.record("returned", tally.returned);
            operation.record("exact", tally.all_exact);
            outcome
        })
    }

    /// Runs `queries` chunk by chunk (see [`Store::search_batch_each`]), handing each response
    /// to `each` and counting in `tally`; returns how many responses were handed over.
    fn run_chunks(
        &self,
        operation: &Operation,
        collection: &Collection,
        queries: &[VectorValue],
        request: &SearchSpec,
        tally: &mut Tally,
        each: &mut impl FnMut(usize, SearchResponse) -> ControlFlow<()>,
    ) -> Result<usize> {
        let timeout = self.config().statement_timeout;
        let mut answered = 0;
        let mut size = FIRST_CHUNK;
        while answered < queries.len() {
            let chunk = answered..(answered + size).min(queries.len());
            let started = Instant::now();
            let responses = self
                .on_read_connection(operation, |conn| {
                    let indexes = self.indexes.get(conn, collection)?;
                    Search {
                        conn,
                        collection,
                        indexes: &indexes,
                        request,
                        memory: &self.indexes,
                    }
                    .run_many(&queries[chunk.clone()])
                })
                .map_err(|error| {
                    error.in_batch(crate::BatchProgress {
                        answered,
                        chunk: chunk.clone(),
                        total: queries.len(),
                        statement_timeout: timeout,
                    })
                })?;
            let elapsed = started.elapsed();
            tally.chunks += 1;
            for (offset, response) in responses.into_iter().enumerate() {
                tally
                    .first
                    .get_or_insert((response.path, response.estimated_matches));
                tally.returned += u64::from(response.returned);
                tally.all_exact &= response.exact;
                if each(chunk.start + offset, response).is_break() {
                    return Ok(chunk.start + offset + 1);
                }
            }
            answered = chunk.end;
            size = next_chunk(chunk.len(), elapsed, timeout);
        }
        Ok(answered)
    }
}

/// What a batch search handed over, for its span.
struct Tally {
    /// The first response's path and filter estimate.
    first: Option<(SearchPath, Option<u64>)>,
    chunks: u32,
    returned: u64,
    all_exact: bool,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            first: None,
            chunks: 0,
            returned: 0,
            all_exact: true,
        }
    }
}

/// Queries in a batch's first chunk: few, so that its time can size the next ones.
const FIRST_CHUNK: usize = 16;
/// Most queries in one chunk, with or without a statement timeout (responses keep coming).
const MAX_CHUNK: usize = 128;
/// A chunk is sized to take at most this fraction of the statement timeout: room for a server
/// that slows down (a concurrent load, a colder cache) between two chunks.
const TIMEOUT_SHARE: u32 = 4;

/// The size of the chunk after one of `done` queries that took `elapsed`: what fits in a
/// quarter of `timeout` at the measured time per query, at least 1, at most twice `done` and
/// [`MAX_CHUNK`].
fn next_chunk(done: usize, elapsed: Duration, timeout: Option<Duration>) -> usize {
    let grown = (done * 2).clamp(1, MAX_CHUNK);
    let Some(timeout) = timeout else {
        return grown;
    };
    let per_query = elapsed.as_secs_f64() / done.max(1) as f64;
    if per_query <= 0.0 {
        return grown;
    }
    let budget = timeout.as_secs_f64() / f64::from(TIMEOUT_SHARE);
    let fits = (budget / per_query).floor() as usize;
    fits.clamp(1, grown)
}

/// Validates every query against the collection (reporting each bad one by index) and the
/// template's other fields once.
fn validate_batch(
    collection: &Collection,
    queries: &[VectorValue],
    template: &SearchSpec,
) -> Result<SearchSpec> {
    if queries.len() > MAX_BATCH {
        return Err(Error::invalid_field(
            "queries",
            format!("{} queries, at most {MAX_BATCH} per batch", queries.len()),
        ));
    }
    let mut failures = Vec::new();
    let mut checked = None;
    for (index, query) in queries.iter().enumerate() {
        match template
            .clone()
            .with_query(query.clone())
            .validate_for(collection)
        {
            Ok(valid) => {
                checked.get_or_insert(valid.into_inner());
            }
            Err(error) => {
                let Some(invalid) = error.as_validation() else {
                    return Err(error);
                };
                failures.extend(invalid.failures().map(|(path, message)| {
                    (format!("queries[{index}].{path}"), message.to_owned())
                }));
            }
        }
    }
    match checked {
        Some(request) if failures.is_empty() => Ok(request),
        _ => Err(Error::Validation(crate::ValidationError::new(failures))),
    }
}

#[cfg(test)]
mod chunk_tests {
    use std::time::Duration;

    use super::{MAX_CHUNK, next_chunk};

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_chunk_fits_a_quarter_of_the_timeout_at_the_measured_pace() {
        // 16 queries in 800 ms = 50 ms each; a quarter of 10 s fits 50.
        assert_eq!(next_chunk(16, 800 * MS, Some(10_000 * MS)), 32);
        assert_eq!(next_chunk(32, 1_600 * MS, Some(10_000 * MS)), 50);
        // Slower than the budget allows: down to what fits, at least one query.
        assert_eq!(next_chunk(50, 5_000 * MS, Some(1_000 * MS)), 2);
        assert_eq!(next_chunk(16, 16_000 * MS, Some(1_000 * MS)), 1);
    }

    #[test]
    fn a_chunk_grows_at_most_twofold_and_never_past_the_cap() {
        assert_eq!(next_chunk(16, MS, Some(30_000 * MS)), 32);
        assert_eq!(next_chunk(100, MS, Some(30_000 * MS)), MAX_CHUNK);
        // No timeout, or a chunk too fast to measure: grown, capped.
        assert_eq!(next_chunk(16, 800 * MS, None), 32);
        assert_eq!(next_chunk(128, Duration::ZERO, Some(MS)), MAX_CHUNK);
    }
}
