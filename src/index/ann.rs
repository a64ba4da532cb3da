//! The ANN index's lifecycle behind [`Indexes`](crate::Indexes): create, drop, swap-rebuild
//! and inspect a collection's HNSW or IVFFlat index, with progress reports while a build runs
//! and advice in its status. The SQL it runs is in `repo/ann_index.rs` and
//! `repo/index_build.rs`.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use garde::Valid;
use serde::Serialize;

use crate::capacity::{CapacityInput, default_build_memory_mb, hnsw_layout_bytes};
use crate::dto::{IndexMethod, IndexSpec};
use crate::error::{Error, Result};
use crate::metric::{Element, Metric, Quantization};
use crate::models::Collection;
use crate::repo::ann_index;
use crate::repo::collections::{ann_name, ensure_partition};
use crate::repo::index_build::{self, backend_pid, drop_index_concurrently, run_build};
use crate::store::Store;

/// How often a build's progress is read while it runs.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);

/// A snapshot of a running index build, read from `pg_stat_progress_create_index`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct IndexProgress {
    /// The server's phase, e.g. `building index: loading tuples`.
    pub phase: String,
    /// Tuples processed so far in this phase.
    pub tuples_done: u64,
    /// Tuples this phase will process (0 when unknown).
    pub tuples_total: u64,
    /// Blocks processed so far in this phase.
    pub blocks_done: u64,
    /// Blocks this phase will process (0 when unknown).
    pub blocks_total: u64,
    /// Time since the build started.
    pub elapsed: Duration,
}

impl IndexProgress {
    /// Fraction of the current phase done, in [0, 1], when the server reports totals.
    pub fn fraction(&self) -> Option<f64> {
        if self.tuples_total > 0 {
            Some((self.tuples_done as f64 / self.tuples_total as f64).min(1.0))
        } else if self.blocks_total > 0 {
            Some((self.blocks_done as f64 / self.blocks_total as f64).min(1.0))
        } else {
            None
        }
    }
}

/// What a collection's ANN index looks like now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct IndexStatus {
    /// The collection's name.
    pub collection: String,
    /// The index's name (`embeddings_<id>_ann`); when `exists` is false, the name an index
    /// would be given (no index of that name exists).
    pub name: String,
    /// Whether the index exists at all (valid or not).
    pub exists: bool,
    /// Whether the server may use it: false after a failed or interrupted concurrent build.
    pub valid: bool,
    /// HNSW or IVFFlat, when it exists.
    pub method: Option<IndexMethod>,
    /// `vector`, `halfvec` or `bit`, the indexed expression's element type.
    pub element: Option<String>,
    /// The index's quantization, when it indexes a quantized copy of the vectors (searches
    /// then re-rank its candidates by the exact distance).
    pub quantization: Option<Quantization>,
    /// For a quantized index: its size relative to a full-precision (`vector(N)`) HNSW index
    /// with the same `m` on the same rows, that index's size *estimated* from pgvector's page
    /// layout (see `BENCHMARKS.md` for measured ratios).
    pub full_precision_ratio: Option<f64>,
    /// Build parameters (`m`, `ef_construction` and the `maintenance_work_mem_mb` the build ran
    /// with, or `lists`) as recorded when it was built.
    pub parameters: serde_json::Value,
    /// On-disk size in bytes.
    pub size_bytes: u64,
    /// Rows in the collection now.
    pub rows: u64,
    /// Rows it was built on.
    pub built_rows: Option<u64>,
    /// When it was built.
    pub built_at: Option<DateTime<Utc>>,
    /// Left-overs of interrupted builds or rebuilds (invalid indexes) that drop/rebuild remove.
    pub leftovers: Vec<String>,
    /// What to do about it, in plain words (empty when all is well).
    pub advice: Vec<String>,
}

/// Builds `collection`'s ANN index ([`Indexes::create`](crate::Indexes::create)).
pub(super) fn create(
    store: &Store,
    collection: &Collection,
    spec: &IndexSpec,
    progress: Option<&mut dyn FnMut(IndexProgress)>,
) -> Result<()> {
    let spec = spec.clone().validate_for(collection)?;
    let mut conn = store.connection()?;
    ensure_partition(&mut conn, collection)?;
    let existing = ann_index::index_state(&mut conn, &ann_name(collection))?;
    if existing == Some(true) {
        return Err(Error::Conflict {
            message: format!(
                "collection {:?} already has an ANN index: drop or rebuild it",
                collection.name
            ),
            constraint: None,
        });
    }
    ann_index::drop_leftovers(&mut conn, collection, true)?;
    drop(conn);
    build(store, collection, &spec, &ann_name(collection), progress)
}

/// Builds a fresh index beside the current one and swaps it in
/// ([`Indexes::rebuild`](crate::Indexes::rebuild)).
pub(super) fn rebuild(
    store: &Store,
    collection: &Collection,
    spec: Option<&IndexSpec>,
    progress: Option<&mut dyn FnMut(IndexProgress)>,
) -> Result<()> {
    let mut conn = store.connection()?;
    ensure_partition(&mut conn, collection)?;
    let spec = match spec {
        Some(spec) => spec.clone(),
        None => ann_index::recorded_spec(&mut conn, collection)?
            .ok_or_else(|| Error::not_found("ANN index of collection", &collection.name))?,
    };
    let spec = spec.validate_for(collection)?;
    let fresh = format!("{}_new", ann_name(collection));
    ann_index::drop_leftovers(&mut conn, collection, false)?;
    drop_index_concurrently(&mut conn, &fresh)?;
    drop(conn);
    build(store, collection, &spec, &fresh, progress)?;
    let mut conn = store.connection()?;
    drop_index_concurrently(&mut conn, &ann_name(collection))?;
    ann_index::rename(&mut conn, &fresh, collection)?;
    Ok(())
}

/// Drops the collection's ANN index and its left-overs; whether it existed
/// ([`Indexes::drop`](crate::Indexes::drop)).
pub(super) fn drop_index(store: &Store, collection: &Collection) -> Result<bool> {
    let mut conn = store.connection()?;
    let existed = ann_index::index_state(&mut conn, &ann_name(collection))?.is_some();
    ann_index::drop_leftovers(&mut conn, collection, true)?;
    ann_index::delete_record(&mut conn, collection)?;
    store.forget_indexes(collection);
    Ok(existed)
}

/// The collection's ANN index as it is now ([`Indexes::status`](crate::Indexes::status)).
pub(super) fn status(store: &Store, collection: &Collection) -> Result<IndexStatus> {
    let mut conn = store.connection()?;
    ensure_partition(&mut conn, collection)?;
    status_of(&mut conn, collection)
}

/// Runs the build on its own pooled connection while this thread reads its progress.
fn build(
    store: &Store,
    collection: &Collection,
    spec: &Valid<IndexSpec>,
    name: &str,
    progress: Option<&mut dyn FnMut(IndexProgress)>,
) -> Result<()> {
    let mut conn = store.connection()?;
    let rows = ann_index::row_count(&mut conn, collection)?;
    let distributed = store.distributed.load(std::sync::atomic::Ordering::Relaxed);
    let spec = &with_build_memory(&mut conn, collection, spec, rows, distributed)?;
    let ddl = ann_index::ddl(&mut conn, collection, spec, name, rows)?;
    let pid = backend_pid(&mut conn)?;
    let started = Instant::now();
    let outcome = match progress {
        None => run_build(&mut conn, spec, &ddl),
        Some(report) => std::thread::scope(|scope| {
            let builder = scope.spawn(|| run_build(&mut conn, spec, &ddl));
            while !builder.is_finished() {
                std::thread::sleep(PROGRESS_INTERVAL);
                if let Some(snapshot) = read_progress(store, pid, started) {
                    report(snapshot);
                }
            }
            builder
                .join()
                .unwrap_or_else(|payload| std::panic::resume_unwind(payload))
        }),
    };
    outcome?;
    ann_index::record_build(&mut conn, collection, spec, rows)?;
    // The planner weighs the new index with the partition's statistics: without them (a fresh
    // load that autovacuum has not visited) it prefers sorting a guessed handful of rows.
    crate::repo::stats::analyze(&mut conn, collection.id)?;
    store.forget_indexes(collection);
    Ok(())
}

/// `spec` with the `maintenance_work_mem` its build runs with: the spec's own, else for HNSW
/// what keeps the graph of `rows` rows in memory within the library's cap and never below the
/// server's setting ([`default_build_memory_mb`], decision record 0031). The chosen value is
/// recorded with the index, so its status shows it.
///
/// On a Citus-distributed database (`distributed`) the workers build with their own setting,
/// which no session of the coordinator changes: that is what is recorded, and a spec that asks
/// for build memory or parallel workers is refused rather than recorded as if it ran.
fn with_build_memory(
    conn: &mut PgConnection,
    collection: &Collection,
    spec: &IndexSpec,
    rows: u64,
    distributed: bool,
) -> Result<IndexSpec> {
    let mut chosen = spec.clone();
    if distributed {
        if spec.maintenance_work_mem_mb.is_some() || spec.parallel_workers.is_some() {
            return Err(crate::error::Error::invalid_field(
                "index",
                "on a Citus-distributed database the index is built on the workers with their \
                 own maintenance_work_mem and max_parallel_maintenance_workers (the \
                 coordinator's session settings do not reach them): set them for the database \
                 (ALTER DATABASE … SET maintenance_work_mem on the coordinator, which Citus \
                 passes on to the workers) and leave them out of the spec",
            ));
        }
        let megabytes = crate::repo::citus::worker_build_memory_mb(conn)?;
        chosen.maintenance_work_mem_mb = Some(u32::try_from(megabytes).unwrap_or(u32::MAX));
        return Ok(chosen);
    }
    if chosen.maintenance_work_mem_mb.is_none() && chosen.method == IndexMethod::Hnsw {
        let mut input = CapacityInput::dense(rows, collection.dimension);
        input.kind = collection.kind;
        input.index = Some(spec.clone());
        let server_mb = index_build::server_build_memory_mb(conn)?;
        let megabytes = default_build_memory_mb(&input, server_mb);
        chosen.maintenance_work_mem_mb = Some(u32::try_from(megabytes).unwrap_or(u32::MAX));
    }
    Ok(chosen)
}

/// One progress snapshot, read on another pooled connection; `None` when none is free soon or
/// the build has not registered yet (progress is best effort, the build is what matters).
fn read_progress(store: &Store, pid: i32, started: Instant) -> Option<IndexProgress> {
    let mut conn = store.pool.get_timeout(PROGRESS_INTERVAL).ok()?;
    let row = index_build::progress(&mut conn, pid).ok().flatten();
    row.map(|row| IndexProgress {
        phase: row.phase,
        tuples_done: row.tuples_done.unsigned_abs(),
        tuples_total: row.tuples_total.unsigned_abs(),
        blocks_done: row.blocks_done.unsigned_abs(),
        blocks_total: row.blocks_total.unsigned_abs(),
        elapsed: started.elapsed(),
    })
}

fn status_of(conn: &mut PgConnection, collection: &Collection) -> Result<IndexStatus> {
    let name = ann_name(collection);
    let row = ann_index::status_row(conn, collection, &name)?;
    let leftovers: Vec<String> = ann_index::leftovers(conn, collection)?
        .into_iter()
        .filter(|leftover| *leftover != name)
        .collect();
    let exists = row.valid.is_some();
    let valid = row.valid.unwrap_or(false);
    let method = row.method.as_deref().and_then(IndexMethod::from_name);
    let element = row.definition.as_deref().map(|definition| {
        let element = if definition.contains("binary_quantize(") {
            Element::Bit
        } else if definition.contains("halfvec") {
            Element::HalfVector
        } else {
            // A sparse or bit collection's own element, `vector` for a dense one.
            collection
                .search_expression()
                .element
                .unwrap_or(Element::Vector)
        };
        element.as_str().to_owned()
    });
    let recorded = row
        .parameters
        .as_ref()
        .and_then(|parameters| parameters["quantization"].as_str());
    let quantization = row.definition.as_deref().and_then(|definition| {
        crate::repo::catalog::quantization(collection, definition, recorded)
    });
    let rows = row.rows.unsigned_abs();
    let built_rows = row.built_rows.map(i64::unsigned_abs);
    let m = row
        .parameters
        .as_ref()
        .and_then(|parameters| parameters["m"].as_u64())
        .unwrap_or(16);
    let size_bytes = row.size_bytes.unsigned_abs();
    let full_precision_ratio = quantization
        .filter(|_| rows > 0)
        .map(|_| size_bytes as f64 / estimated_hnsw_bytes(rows, collection.dimension, m) as f64);
    let mut advice = advise(exists, valid, method, rows, built_rows, &leftovers);
    if quantization == Some(Quantization::Binary) && collection.metric != Metric::Cosine {
        advice.push(format!(
            "binary quantization under {} keeps only each value's sign: recall depends on \
             roughly zero-centred, unit-length data; measure it (`index recall`) and raise \
             rerank_factor if it is low",
            collection.metric
        ));
    }
    Ok(IndexStatus {
        collection: collection.name.clone(),
        name,
        exists,
        valid,
        method,
        element,
        quantization,
        full_precision_ratio,
        parameters: row
            .parameters
            .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new())),
        size_bytes,
        rows,
        built_rows,
        built_at: row.built_at,
        leftovers,
        advice,
    })
}

/// The estimated size of a full-precision HNSW index (`vector(dimension)`, links `m`) on
/// `rows` rows: [`hnsw_layout_bytes`] of a `vector` value (8 + 4·dimension bytes).
pub(crate) fn estimated_hnsw_bytes(rows: u64, dimension: u32, m: u64) -> u64 {
    hnsw_layout_bytes(rows, 8 + 4 * u64::from(dimension), m)
}

/// Rows above which an exact scan is slow enough to want an ANN index.
const ADVISE_INDEX_ROWS: u64 = 50_000;

fn advise(
    exists: bool,
    valid: bool,
    method: Option<IndexMethod>,
    rows: u64,
    built_rows: Option<u64>,
    leftovers: &[String],
) -> Vec<String> {
    let mut advice = Vec::new();
    if exists && !valid {
        advice.push(
            "the index is INVALID (a failed or interrupted concurrent build) and is not used: \
             rebuild or drop it"
                .to_owned(),
        );
    }
    if !leftovers.is_empty() {
        advice.push(format!(
            "{} invalid left-over index(es) from interrupted builds: drop or rebuild removes them",
            leftovers.len()
        ));
    }
    if !exists && rows >= ADVISE_INDEX_ROWS {
        advice.push(format!(
            "no ANN index: every search scans all {rows} rows exactly; create one"
        ));
    }
    if let (Some(IndexMethod::IvfFlat), Some(built)) = (method, built_rows) {
        if rows > built.saturating_mul(2).max(1000) || (built > 1000 && rows < built / 2) {
            advice.push(format!(
                "IVFFlat built on {built} rows, now {rows}: rebuild so its lists fit the data"
            ));
        }
    }
    if let (Some(IndexMethod::Hnsw), Some(built)) = (method, built_rows) {
        if built > 1000 && rows < built / 2 {
            advice.push(format!(
                "HNSW built on {built} rows, now {rows}: many deletions leave dead graph nodes; \
                 rebuild, then VACUUM"
            ));
        }
    }
    advice
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::PAGE_BYTES;

    #[test]
    fn full_precision_estimates_follow_the_page_layout() {
        // 384 dimensions, m = 16: 1,640 + 212 bytes a row, 4 rows a page.
        assert_eq!(
            estimated_hnsw_bytes(100_000, 384, 16),
            (25_000 + 1) * PAGE_BYTES
        );
        assert_eq!(estimated_hnsw_bytes(0, 384, 16), PAGE_BYTES);
        // 2,000 dimensions no longer share a page with their neighbours' tuple: two pages a row.
        assert_eq!(estimated_hnsw_bytes(10, 2000, 16), (20 + 1) * PAGE_BYTES);
    }

    #[test]
    fn advice_names_invalid_and_stale_indexes() {
        let invalid = advise(true, false, Some(IndexMethod::Hnsw), 10, Some(10), &[]);
        assert!(invalid[0].contains("INVALID"), "{invalid:?}");
        let stale = advise(
            true,
            true,
            Some(IndexMethod::IvfFlat),
            200_000,
            Some(10_000),
            &[],
        );
        assert_eq!(
            stale,
            ["IVFFlat built on 10000 rows, now 200000: rebuild so its lists fit the data"]
        );
        assert!(
            advise(
                true,
                true,
                Some(IndexMethod::IvfFlat),
                12_000,
                Some(10_000),
                &[]
            )
            .is_empty()
        );
        let missing = advise(false, false, None, 60_000, None, &[]);
        assert!(missing[0].starts_with("no ANN index"), "{missing:?}");
    }
}
