//! Drift signals of a collection's ANN index ([`Indexes::health`]): what changed since the
//! build (rows, updates and deletes from `pg_stat_user_tables`), dead tuples, and a sampled
//! recall@k, with advice on when to rebuild, `REINDEX CONCURRENTLY` or `VACUUM`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::SearchRequest;
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::index::ann::IndexStatus;
use crate::index::handle::Indexes;
use crate::repo;
use crate::repo::ann_index;
use crate::repo::search::SearchAdvice;
use crate::search::RecallRequest;

/// How [`Indexes::health`] measures: the recall sample and the floor below which it
/// advises action.
///
/// ```
/// let options = embedstore::HealthOptions::default();
/// assert_eq!((options.recall_queries, options.k, options.recall_floor), (20, 10, 0.9));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HealthOptions {
    /// Stored vectors drawn at random as queries (0: no recall measurement). Each costs one
    /// ANN search and one exact scan.
    pub recall_queries: u32,
    /// The `k` of recall@k.
    pub k: u32,
    /// Recall below this is advised on, in [0, 1].
    pub recall_floor: f64,
    /// Filters the application searches with: each is searched once (with a stored vector),
    /// and a rare one no payload index serves is advised on
    /// ([`SearchAdvice::PayloadIndex`]).
    pub filters: Vec<Filter>,
}

impl Default for HealthOptions {
    fn default() -> Self {
        Self {
            recall_queries: 20,
            k: 10,
            recall_floor: 0.9,
            filters: Vec::new(),
        }
    }
}

impl HealthOptions {
    /// Sets [`HealthOptions::recall_queries`].
    pub fn recall_queries(mut self, queries: u32) -> Self {
        self.recall_queries = queries;
        self
    }

    /// Sets [`HealthOptions::k`].
    pub fn k(mut self, k: u32) -> Self {
        self.k = k;
        self
    }

    /// Sets [`HealthOptions::recall_floor`].
    pub fn recall_floor(mut self, floor: f64) -> Self {
        self.recall_floor = floor;
        self
    }

    /// Adds a filter to [`HealthOptions::filters`].
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filters.push(filter);
        self
    }
}

/// A collection's ANN index and how far the collection drifted from it; JSON-serializable for
/// a cron job.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct IndexHealth {
    /// The index as [`Indexes::status`] reports it (rows now, rows at build, …); its
    /// `advice` is included in [`IndexHealth::advice`].
    pub status: IndexStatus,
    /// Rows updated since the build, from the partition's `n_tup_upd` (`None` when the build
    /// recorded no counters, or there is no index).
    pub updated_since_build: Option<u64>,
    /// Rows deleted since the build, from `n_tup_del`.
    pub deleted_since_build: Option<u64>,
    /// Dead tuples in the partition (`n_dead_tup`): removed by `VACUUM`.
    pub dead_tuples: u64,
    /// The last `VACUUM` or autovacuum of the partition.
    pub last_vacuum: Option<DateTime<Utc>>,
    /// Sampled recall@k of the ANN path against exact scans, when measured (a valid index and
    /// stored rows).
    pub recall: Option<f64>,
    /// The `k` of [`IndexHealth::recall`].
    pub recall_k: u32,
    /// Queries the recall was measured with.
    pub recall_queries: usize,
    /// When the recall was measured.
    pub recall_measured_at: Option<DateTime<Utc>>,
    /// What the planner does with the index now: a plain k-nearest search (of a stored
    /// vector) and one search per [`HealthOptions::filters`] entry are planned, and their
    /// advice collected — [`SearchAdvice::IndexNotUsed`] when PostgreSQL's plan passes the
    /// index over (with the reason), [`SearchAdvice::PayloadIndex`] for a rare filter no
    /// payload index serves. Empty when all is well or nothing was searched (no valid index,
    /// no rows).
    pub search_advice: Vec<SearchAdvice>,
    /// What to do, in plain words: the status's advice, the planner's and the drift's (empty
    /// when all is well).
    pub advice: Vec<String>,
}

/// Changes since the build, as a fraction of the rows it was built on, above which a
/// `REINDEX CONCURRENTLY` is advised.
const CHANGED_FRACTION: f64 = 0.2;
/// Dead tuples, as a fraction of live ones, above which a `VACUUM` is advised.
const DEAD_FRACTION: f64 = 0.2;
/// Collections smaller than this get no drift advice: their statistics are noise.
const MIN_ROWS: u64 = 100;

/// Measures the drift of the collection's ANN index ([`Indexes::health`]).
pub(super) fn measure(indexes: &Indexes<'_>, options: &HealthOptions) -> Result<IndexHealth> {
    let (store, collection) = (indexes.store, indexes.collection);
    if !(0.0..=1.0).contains(&options.recall_floor) {
        return Err(Error::invalid_field(
            "recall_floor",
            format!("{} is outside [0, 1]", options.recall_floor),
        ));
    }
    if options.k == 0 || options.k > crate::dto::MAX_K {
        return Err(Error::invalid_field(
            "k",
            format!("{} is outside 1..={}", options.k, crate::dto::MAX_K),
        ));
    }
    let status = indexes.status()?;
    let drift = store.on_live_connection(|conn| ann_index::drift_row(conn, collection))?;
    let since = |now: Option<i64>, built: Option<i64>| match (now, built) {
        // A statistics reset since the build makes the counters smaller: nothing known.
        (Some(now), Some(built)) if status.exists => Some(now.saturating_sub(built).max(0)),
        _ => None,
    };
    let updated = since(drift.updates, drift.built_updates).map(i64::unsigned_abs);
    let deleted = since(drift.deletes, drift.built_deletes).map(i64::unsigned_abs);
    let dead_tuples = drift.dead_tuples.unwrap_or(0).unsigned_abs();
    let live_tuples = drift.live_tuples.unwrap_or(0).unsigned_abs();
    let measure = status.exists && status.valid && status.rows > 0 && options.recall_queries > 0;
    let (recall, recall_queries, measured_at) = if measure {
        let report = store.measure_recall(
            collection,
            &RecallRequest::sample(options.recall_queries, options.k),
        )?;
        (Some(report.recall), report.queries, Some(Utc::now()))
    } else {
        (None, 0, None)
    };
    let search_advice = if status.exists && status.valid && status.rows > 0 {
        planner_advice(indexes, options)?
    } else {
        Vec::new()
    };
    let mut advice = status.advice.clone();
    advice.extend(search_advice.iter().map(ToString::to_string));
    if let Some(recall) = recall.filter(|recall| *recall < options.recall_floor) {
        advice.push(format!(
            "recall@{} is {recall:.3} on {recall_queries} sampled vectors, below the floor {}: \
             raise ef_search (HNSW) or probes (IVFFlat) for searches, or rebuild the index",
            options.k, options.recall_floor
        ));
    }
    let built = status.built_rows.unwrap_or(0);
    let changed = updated.unwrap_or(0) + deleted.unwrap_or(0);
    if built >= MIN_ROWS && changed as f64 > CHANGED_FRACTION * built as f64 {
        advice.push(format!(
            "{} rows updated and {} deleted since the build on {built} rows: the index holds \
             stale entries; REINDEX INDEX CONCURRENTLY {} (or `embedstore index rebuild`)",
            updated.unwrap_or(0),
            deleted.unwrap_or(0),
            status.name
        ));
    }
    if dead_tuples >= MIN_ROWS && dead_tuples as f64 > DEAD_FRACTION * live_tuples.max(1) as f64 {
        advice.push(format!(
            "{dead_tuples} dead tuples beside {live_tuples} live ones: VACUUM (ANALYZE) {} \
             (autovacuum has not caught up)",
            collection.partition_name()
        ));
    }
    Ok(IndexHealth {
        status,
        updated_since_build: updated,
        deleted_since_build: deleted,
        dead_tuples,
        last_vacuum: drift.last_vacuum,
        recall,
        recall_k: options.k,
        recall_queries,
        recall_measured_at: measured_at,
        search_advice,
        advice,
    })
}

/// The advice of a plain k-nearest search of a stored vector and of one search per filter of
/// `options`, without repeats.
fn planner_advice(indexes: &Indexes<'_>, options: &HealthOptions) -> Result<Vec<SearchAdvice>> {
    let (store, collection) = (indexes.store, indexes.collection);
    let sampled = store.on_live_connection(|conn| repo::search::sample(conn, collection, 1))?;
    let Some((_, query)) = sampled.into_iter().next() else {
        return Ok(Vec::new());
    };
    let plain = SearchRequest::vector(query.clone(), options.k);
    let mut requests = vec![plain.clone()];
    requests.extend(
        options
            .filters
            .iter()
            .map(|filter| plain.clone().with_filter(filter.clone())),
    );
    let mut advice: Vec<SearchAdvice> = Vec::new();
    for request in requests {
        for found in store.search(collection, request)?.advice {
            if !advice.contains(&found) {
                advice.push(found);
            }
        }
    }
    Ok(advice)
}
