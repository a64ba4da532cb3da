//! Searches outside a unit of work: the lean single search, batch search, and recall probes.
//!
//! A search is one read-only statement, so it needs no explicit transaction: run in autocommit
//! mode it sees one snapshot and its `set_config(…, true)` settings end with it. That saves
//! `BEGIN READ ONLY` and `COMMIT` — two of the round trips the transactional path pays (see
//! ARCHITECTURE.md, "Round trips").

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::dto::{DEFAULT_RERANK_FACTOR, MAX_K, SearchRequest, SearchSpec, VectorSearch};
use crate::error::{Error, Result};
use crate::models::Collection;
use crate::repo::search::SearchPath;
use crate::repo::search::{Scope, Search};
use crate::repo::{self, SearchResponse};
use crate::store::Store;
use crate::trace;
use crate::uow;
use crate::vector::VectorValue;

/// Most query vectors one batch search takes.
pub const MAX_BATCH: usize = 1000;

/// How far a held-out-style recall query is moved from the stored vector it is drawn from:
/// Gaussian noise of this norm relative to the vector's own (a cosine of about 0.89 between
/// the query and its origin).
pub const RECALL_NOISE: f64 = 0.5;

/// Which queries a recall measurement runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub enum RecallQueries {
    /// This many held-out-style queries drawn from the collection itself: stored rows picked at
    /// random, each row's vector moved by Gaussian noise of relative norm [`RECALL_NOISE`]
    /// (dense collections; sparse and bit vectors are used as stored), and that row left out
    /// of both the approximate and the exact answer. So no query finds itself: a stored vector
    /// is its own nearest neighbour at distance 0, which made recall look better than a real
    /// query would see it.
    Sample(u32),
    /// These vectors, as given (e.g. embeddings of real queries that are not in the table).
    Vectors(Vec<VectorValue>),
}

/// Which kind of queries a [`RecallReport`] measured with.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RecallQueryKind {
    /// Stored rows drawn at random, moved by noise of relative norm `noise` (`None`: sparse or
    /// bit vectors, used as stored), each with its own row left out of both answers.
    HeldOut {
        /// The noise's norm relative to the vector's ([`RECALL_NOISE`]), when noise was added.
        noise: Option<f64>,
    },
    /// The caller's vectors, as given.
    Given,
}

impl std::fmt::Display for RecallQueryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecallQueryKind::HeldOut { noise: Some(noise) } => write!(
                f,
                "held-out: stored vectors + noise of relative norm {noise}, own row left out"
            ),
            RecallQueryKind::HeldOut { noise: None } => {
                f.write_str("held-out: stored vectors, own row left out")
            }
            RecallQueryKind::Given => f.write_str("given vectors"),
        }
    }
}

/// A recall measurement: the same queries answered by the request as given and exactly.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RecallRequest {
    /// The queries.
    pub queries: RecallQueries,
    /// The settings under test (its vector is replaced by each query; `k` is recall's k).
    pub request: VectorSearch,
}

impl RecallRequest {
    /// `count` sampled held-out-style queries (see [`RecallQueries::Sample`]) at `k`,
    /// default settings.
    pub fn sample(count: u32, k: u32) -> Self {
        Self {
            queries: RecallQueries::Sample(count),
            request: SearchRequest::vector(Vec::new(), k),
        }
    }

    /// The given queries at `k`, default settings.
    pub fn vectors<V: Into<VectorValue>>(vectors: Vec<V>, k: u32) -> Self {
        Self {
            queries: RecallQueries::Vectors(vectors.into_iter().map(Into::into).collect()),
            request: SearchRequest::vector(Vec::new(), k),
        }
    }

    /// The settings to measure (filter, `ef_search`, `probes`, …); its `k` is kept.
    pub fn with_request(mut self, request: VectorSearch) -> Self {
        self.request = request;
        self
    }

    /// The candidates per hit a quantized index returns for the exact re-rank, to measure
    /// (1..=100; without it, [`DEFAULT_RERANK_FACTOR`](crate::DEFAULT_RERANK_FACTOR)).
    pub fn with_rerank_factor(mut self, factor: u32) -> Self {
        self.request = self.request.with_rerank_factor(factor);
        self
    }
}

/// Recall@k and latencies of a [`RecallRequest`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RecallReport {
    /// Queries run.
    pub queries: usize,
    /// The k measured.
    pub k: u32,
    /// Mean over queries of |approximate ∩ exact| / |exact| (1.0 when exact finds nothing).
    pub recall: f64,
    /// The worst single query's recall.
    pub min_recall: f64,
    /// Queries answered by the ANN index alone.
    pub approximate_answers: usize,
    /// Median latency of the request as given, milliseconds.
    pub p50_ms: f64,
    /// 95th percentile latency of the request as given, milliseconds.
    pub p95_ms: f64,
    /// Median latency of the exact scan, milliseconds.
    pub exact_p50_ms: f64,
    /// 95th percentile latency of the exact scan, milliseconds.
    pub exact_p95_ms: f64,
    /// The queries measured with.
    pub query_kind: RecallQueryKind,
    /// The re-rank factor in effect when a quantized index answered (the request's, or
    /// [`DEFAULT_RERANK_FACTOR`](crate::DEFAULT_RERANK_FACTOR)); `None` when none did.
    pub rerank_factor: Option<u32>,
}

impl Store {
    /// [`UnitOfWork::search`](crate::UnitOfWork::search) without a unit of work: one
    /// statement in autocommit mode when unfiltered (plus a bounded count first for a
    /// payload-indexed filter, and an exact statement when the ANN path came back short).
    ///
    /// # Errors
    /// As [`UnitOfWork::search`](crate::UnitOfWork::search).
    pub fn search(
        &self,
        collection: &Collection,
        request: impl Into<SearchRequest>,
    ) -> Result<SearchResponse> {
        let request = request.into().into_spec();
        let span = uow::search_span("autocommit", collection, &request, 1);
        trace::traced(span, |operation| {
            let request = request.validate_for(collection)?.into_inner();
            let response = self.on_live_connection(|conn| {
                let indexes = self.indexes.get(conn, collection)?;
                Search {
                    conn,
                    collection,
                    indexes: &indexes,
                    request: &request,
                    scope: Scope::Autocommit,
                    memory: &self.indexes,
                }
                .run()
            })?;
            uow::searched(operation, std::slice::from_ref(&response));
            Ok(response)
        })
    }

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
            let outcome = self.run_chunks(collection, queries, &request, &mut tally, &mut each);
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
                .on_live_connection(|conn| {
                    let indexes = self.indexes.get(conn, collection)?;
                    Search {
                        conn,
                        collection,
                        indexes: &indexes,
                        request,
                        scope: Scope::Autocommit,
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

    /// Measures recall@k of `request.request`'s settings: each query is answered as requested
    /// and by an exact scan, and the two id sets compared. Sampled queries are held-out style
    /// (see [`RecallQueries::Sample`]): never the stored vector itself, which would find itself.
    ///
    /// # Errors
    /// As [`Store::search`]; [`Error::Validation`] for an empty query set.
    pub fn measure_recall(
        &self,
        collection: &Collection,
        request: &RecallRequest,
    ) -> Result<RecallReport> {
        let span = trace::span!(
            "measure_recall",
            collection = %collection.name,
            collection_id = collection.id.0,
            k = request.request.k,
            queries = tracing::field::Empty,
            recall = tracing::field::Empty,
        );
        trace::traced(span, |operation| {
            let report = self.recall_of(collection, request)?;
            operation.record("queries", report.queries);
            operation.record("recall", report.recall);
            Ok(report)
        })
    }

    fn recall_of(&self, collection: &Collection, request: &RecallRequest) -> Result<RecallReport> {
        let (queries, query_kind) = match &request.queries {
            RecallQueries::Vectors(vectors) => (
                vectors
                    .iter()
                    .cloned()
                    .map(|vector| (None, vector))
                    .collect(),
                RecallQueryKind::Given,
            ),
            RecallQueries::Sample(count) => {
                let sampled = self.sample_vectors(collection, *count)?;
                let dense = sampled
                    .first()
                    .is_some_and(|(_, vector)| matches!(vector, VectorValue::Dense(_)));
                let queries: Vec<(Option<i64>, VectorValue)> = sampled
                    .into_iter()
                    .map(|(id, vector)| (Some(id), held_out(id, vector)))
                    .collect();
                let noise = dense.then_some(RECALL_NOISE);
                (queries, RecallQueryKind::HeldOut { noise })
            }
        };
        if queries.is_empty() {
            return Err(Error::invalid_field(
                "queries",
                "no queries: the collection is empty or none were given",
            ));
        }
        let k = request.request.k;
        let (mut approximate, mut exact) = (Vec::new(), Vec::new());
        let (mut recalls, mut approximate_answers, mut rerank_factor) = (Vec::new(), 0, None);
        for (own, query) in queries {
            // A held-out query's own row is left out: one more is asked for.
            let mut asked = request.request.clone().with_query(query);
            if own.is_some() {
                asked.k = k.saturating_add(1).min(MAX_K);
            }
            let started = Instant::now();
            let mut found = self.search(collection, asked.clone())?;
            approximate.push(started.elapsed());
            let started = Instant::now();
            let mut truth = self.search(collection, asked.with_exact(true))?;
            exact.push(started.elapsed());
            if !found.exact {
                approximate_answers += 1;
            }
            if found.reranked.is_some() {
                rerank_factor = Some(
                    request
                        .request
                        .ann
                        .rerank_factor
                        .unwrap_or(DEFAULT_RERANK_FACTOR),
                );
            }
            for response in [&mut found, &mut truth] {
                response.hits.retain(|hit| Some(hit.id) != own);
                response.hits.truncate(k as usize);
            }
            recalls.push(recall(&found, &truth));
        }
        let count = recalls.len();
        Ok(RecallReport {
            queries: count,
            k,
            recall: recalls.iter().sum::<f64>() / count as f64,
            min_recall: recalls.iter().copied().fold(1.0, f64::min),
            approximate_answers,
            p50_ms: percentile(&mut approximate, 0.50),
            p95_ms: percentile(&mut approximate, 0.95),
            exact_p50_ms: percentile(&mut exact, 0.50),
            exact_p95_ms: percentile(&mut exact, 0.95),
            query_kind,
            rerank_factor,
        })
    }

    fn sample_vectors(
        &self,
        collection: &Collection,
        count: u32,
    ) -> Result<Vec<(i64, VectorValue)>> {
        let mut conn = self.connection()?;
        repo::collections::ensure_partition(&mut conn, collection)?;
        repo::search::sample(&mut conn, collection, count.min(MAX_K * 10))
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

/// A held-out-style query from the stored row `id`'s `vector`: dense values moved by Gaussian
/// noise of norm [`RECALL_NOISE`] × the vector's (seeded by the id, so a rerun on the same
/// rows asks the same queries); sparse and bit vectors as stored.
fn held_out(id: i64, vector: VectorValue) -> VectorValue {
    let VectorValue::Dense(values) = vector else {
        return vector;
    };
    let mut state = (id as u64) ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        // splitmix64, then a uniform in (0, 1].
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 + f64::EPSILON
    };
    let noise: Vec<f64> = values
        .iter()
        .map(|_| {
            // Box–Muller: one standard normal per value.
            (-2.0 * next().ln()).sqrt() * (std::f64::consts::TAU * next()).cos()
        })
        .collect();
    let norm = |values: &mut dyn Iterator<Item = f64>| values.map(|v| v * v).sum::<f64>().sqrt();
    let own = norm(&mut values.iter().map(|v| f64::from(*v)));
    let drawn = norm(&mut noise.iter().copied()).max(f64::MIN_POSITIVE);
    let scale = RECALL_NOISE * own / drawn;
    VectorValue::Dense(
        values
            .iter()
            .zip(noise)
            .map(|(value, noise)| (f64::from(*value) + noise * scale) as f32)
            .collect(),
    )
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

fn recall(found: &SearchResponse, truth: &SearchResponse) -> f64 {
    if truth.hits.is_empty() {
        return 1.0;
    }
    let expected: std::collections::HashSet<i64> = truth.hits.iter().map(|hit| hit.id).collect();
    let matched = found
        .hits
        .iter()
        .filter(|hit| expected.contains(&hit.id))
        .count();
    matched as f64 / expected.len() as f64
}

fn percentile(samples: &mut [Duration], quantile: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort();
    let index = ((samples.len() - 1) as f64 * quantile).round() as usize;
    samples[index.min(samples.len() - 1)].as_secs_f64() * 1000.0
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
