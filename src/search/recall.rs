//! Recall probes: recall@k and latencies of a search's settings against the exact answer,
//! with held-out-style queries.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::dto::{DEFAULT_RERANK_FACTOR, MAX_K, SearchRequest, VectorSearch};
use crate::error::{Error, Result};
use crate::models::Collection;
use crate::repo::{self, SearchResponse};
use crate::store::Store;
use crate::trace;
use crate::vector::VectorValue;

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
