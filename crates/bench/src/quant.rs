//! `embedstore-bench quant`: issue 13's quantized-index benchmark.
//!
//! One run, one throw-away database, the `ann` benchmark's clustered data set (cosine, unit
//! vectors) loaded through the library. The same HNSW parameters (m, ef_construction) are built
//! three times through `Store::create_index` — full precision, `half`, `binary` — one after the
//! other (a collection has one ANN index), and each is measured with the same queries through
//! `Store::search` at the same `ef_search` (quantized indexes re-rank `k × rerank_factor`
//! candidates exactly): recall@k against brute force, p50/p95 latency (best of the rounds),
//! on-disk index size and build time; sizes and p50 are also reported relative to the
//! full-precision index, beside the size ratio `index_status` estimates.
//!
//! Targets (issue 13): `half` recall within 0.005 of full precision at ≤ 0.55× its size;
//! `binary` + re-rank recall ≥ 0.95 at ≤ 0.25× its size and ≤ 1.0× its p50.
//!
//! Progress goes to stderr; the table and, last, one JSON line go to stdout. Exit code 0
//! whether or not a target is met, 2 on any error.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};
use embedstore::{
    Collection, IndexSpec, Metric, NewCollection, Quantization, SearchRequest, Store,
};
use embedstore_test_support::TestDatabase;
use serde::Serialize;

use crate::BenchResult;
use crate::args::{DataArgs, positive};
use crate::data::{Dataset, row_of};
use crate::report::round4;
use crate::stats::Latency;
use crate::truth;

/// The `quant --help` description.
pub const QUANT_ABOUT: &str = "\
Measures issue 13's quantized HNSW indexes beside full precision on the same clustered data
(cosine), same m / ef_construction / ef_search, in one run on a throw-away database:
recall@k, p50/p95 latency, index size and build time for full precision, half (halfvec) and
binary (bit, Hamming) with the exact re-rank of k x rerank_factor candidates.";

/// Rows per library write while loading.
const LOAD_CHUNK: usize = 10_000;

/// `half` recall may trail full precision by at most this.
const HALF_RECALL_GAP: f64 = 0.005;
/// `half` index size, at most this share of full precision's.
const HALF_SIZE_RATIO: f64 = 0.55;
/// `binary` + re-rank recall@k, at least.
const BINARY_RECALL: f64 = 0.95;
/// `binary` index size, at most this share of full precision's.
const BINARY_SIZE_RATIO: f64 = 0.25;
/// `binary` p50, at most this multiple of full precision's.
const BINARY_P50_RATIO: f64 = 1.0;

/// What the quantization benchmark measures and how much of it.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct QuantArgs {
    /// The data set and the searches.
    #[command(flatten)]
    pub data: DataArgs,
    /// HNSW links per node (every index).
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub m: u32,
    /// HNSW build candidate list (every index).
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub ef_construction: u32,
    /// hnsw.ef_search of every search (raised by the library to the candidates it re-ranks).
    #[arg(long, value_name = "N", default_value_t = 40)]
    pub ef_search: u32,
    /// Candidates per hit the quantized indexes re-rank.
    #[arg(long, value_name = "N", default_value_t = embedstore::DEFAULT_RERANK_FACTOR)]
    pub rerank_factor: u32,
    /// maintenance_work_mem of each build, MiB.
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    pub maintenance_work_mem: u32,
    /// Unmeasured queries before each index's rounds.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub warmup: usize,
    /// Latency rounds per index; the best round's p50/p95 are reported.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = positive())]
    pub rounds: usize,
}

/// One index's figures.
#[derive(Debug, Clone, Serialize)]
struct Figures {
    index: &'static str,
    recall: f64,
    p50_ms: f64,
    p95_ms: f64,
    size_bytes: u64,
    size_ratio: f64,
    estimated_size_ratio: Option<f64>,
    p50_ratio: f64,
    build_s: f64,
    ann_answers: usize,
}

/// The run's summary (the JSON line).
#[derive(Debug, Clone, Serialize)]
struct Summary {
    rows: usize,
    dim: u32,
    k: u32,
    m: u32,
    ef_construction: u32,
    ef_search: u32,
    rerank_factor: u32,
    indexes: Vec<Figures>,
    half_met: bool,
    binary_met: bool,
    seconds: f64,
}

/// Runs the `quant` mode.
pub fn main(args: &QuantArgs) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &QuantArgs) -> BenchResult<()> {
    let started = Instant::now();
    let (data, truth) = truth::generate(&args.data, args.data.queries)?;
    eprintln!(
        "creating the benchmark database and loading {} rows …",
        args.data.rows
    );
    let db = TestDatabase::try_new()?;
    let store = db.store();
    let collection = store.write(|uow| {
        uow.collections().create(NewCollection::new(
            "quant",
            args.data.dim,
            Metric::Cosine,
            "embedstore-bench",
        ))
    })?;
    for start in (0..data.rows()).step_by(LOAD_CHUNK) {
        let items = data.items(start, start + LOAD_CHUNK);
        store.write(|uow| uow.embeddings().insert(&collection, items))?;
    }
    // What a DBA runs after a bulk load (and the `ann` benchmark does): without statistics
    // the planner may sort a sequential scan instead of walking the index.
    let mut admin = PgConnection::establish(db.url().expose_secret())?;
    diesel::sql_query(format!("VACUUM (ANALYZE) {}", collection.partition_name()))
        .execute(&mut admin)?;
    let mut figures: Vec<Figures> = Vec::new();
    for (index, quantization) in [
        ("full", None),
        ("half", Some(Quantization::Half)),
        ("binary", Some(Quantization::Binary)),
    ] {
        let measured = measure(store, &collection, &data, &truth, args, quantization)?;
        let (full_size, full_p50) = figures
            .first()
            .map_or((measured.size_bytes, measured.latency.p50_ms), |full| {
                (full.size_bytes, full.p50_ms)
            });
        let row = Figures {
            index,
            recall: round4(measured.recall),
            p50_ms: round4(measured.latency.p50_ms),
            p95_ms: round4(measured.latency.p95_ms),
            size_bytes: measured.size_bytes,
            size_ratio: round4(measured.size_bytes as f64 / full_size.max(1) as f64),
            estimated_size_ratio: measured.estimated_ratio.map(round4),
            p50_ratio: round4(measured.latency.p50_ms / full_p50.max(f64::MIN_POSITIVE)),
            build_s: round4(measured.build.as_secs_f64()),
            ann_answers: measured.ann_answers,
        };
        eprintln!("{index}: {row:?}");
        figures.push(row);
    }
    let full_recall = figures[0].recall;
    let half_met = figures[1].recall >= full_recall - HALF_RECALL_GAP
        && figures[1].size_ratio <= HALF_SIZE_RATIO;
    let binary_met = figures[2].recall >= BINARY_RECALL
        && figures[2].size_ratio <= BINARY_SIZE_RATIO
        && figures[2].p50_ratio <= BINARY_P50_RATIO;
    let summary = Summary {
        rows: args.data.rows,
        dim: args.data.dim,
        k: args.data.k,
        m: args.m,
        ef_construction: args.ef_construction,
        ef_search: args.ef_search,
        rerank_factor: args.rerank_factor,
        indexes: figures,
        half_met,
        binary_met,
        seconds: round4(started.elapsed().as_secs_f64()),
    };
    print_table(&summary);
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

struct Measured {
    recall: f64,
    latency: Latency,
    size_bytes: u64,
    estimated_ratio: Option<f64>,
    build: Duration,
    ann_answers: usize,
}

/// Builds the index, runs the queries (`rounds` times, best p50 kept), drops the index.
fn measure(
    store: &Store,
    collection: &Collection,
    data: &Dataset,
    truth: &[Vec<usize>],
    args: &QuantArgs,
    quantization: Option<Quantization>,
) -> BenchResult<Measured> {
    let mut spec = IndexSpec::hnsw()
        .m(args.m)
        .ef_construction(args.ef_construction)
        .maintenance_work_mem_mb(args.maintenance_work_mem);
    spec.quantization = quantization;
    eprintln!("building HNSW ({quantization:?}) …");
    let building = Instant::now();
    let status = store.indexes(collection).create(&spec, None)?;
    let build = building.elapsed();
    let request = |query: &[f32]| {
        SearchRequest::vector(query.to_vec(), args.data.k)
            .include_metadata(false)
            .with_ef_search(args.ef_search)
            .with_rerank_factor(args.rerank_factor)
    };
    for query in data.queries.iter().cycle().take(args.warmup) {
        store.search(collection, request(query))?;
    }
    let k = usize::try_from(args.data.k)?;
    let mut best: Option<Latency> = None;
    let mut recall = 0.0;
    let mut ann_answers = 0;
    for _ in 0..args.rounds {
        ann_answers = 0;
        let mut samples = Vec::with_capacity(data.queries.len());
        let mut total = 0.0;
        for (query, expected) in data.queries.iter().zip(truth) {
            let started = Instant::now();
            let response = store.search(collection, request(query))?;
            samples.push(started.elapsed());
            if response.path == embedstore::SearchPath::Ann {
                ann_answers += 1;
            }
            let found: Vec<usize> = response
                .hits
                .iter()
                .filter_map(|hit| row_of(&hit.external_id))
                .collect();
            total += truth::recall(&found, expected, k);
        }
        recall = total / data.queries.len().max(1) as f64;
        let latency = Latency::of(&samples).ok_or("no queries")?;
        if best.is_none_or(|best| latency.p50_ms < best.p50_ms) {
            best = Some(latency);
        }
    }
    store.indexes(collection).drop()?;
    Ok(Measured {
        recall,
        latency: best.ok_or("no rounds")?,
        size_bytes: status.size_bytes,
        estimated_ratio: status.full_precision_ratio,
        build,
        ann_answers,
    })
}

fn print_table(summary: &Summary) {
    println!(
        "quantized HNSW: {} rows x {}, k = {}, m = {}, ef_construction = {}, ef_search = {}, \
         rerank_factor = {}",
        summary.rows,
        summary.dim,
        summary.k,
        summary.m,
        summary.ef_construction,
        summary.ef_search,
        summary.rerank_factor
    );
    println!(
        "{:<8} {:>9} {:>9} {:>9} {:>12} {:>7} {:>9} {:>7} {:>8} {:>5}",
        "index",
        "recall",
        "p50 ms",
        "p95 ms",
        "size bytes",
        "size×",
        "est. size×",
        "p50×",
        "build s",
        "ann"
    );
    for row in &summary.indexes {
        println!(
            "{:<8} {:>9.4} {:>9.3} {:>9.3} {:>12} {:>7.3} {:>9} {:>7.3} {:>8.1} {:>5}",
            row.index,
            row.recall,
            row.p50_ms,
            row.p95_ms,
            row.size_bytes,
            row.size_ratio,
            row.estimated_size_ratio
                .map_or_else(|| "-".to_owned(), |ratio| format!("{ratio:.3}")),
            row.p50_ratio,
            row.build_s,
            row.ann_answers
        );
    }
    println!(
        "half:   recall within {HALF_RECALL_GAP} of full at <= {HALF_SIZE_RATIO}x size: {}",
        if summary.half_met { "met" } else { "NOT met" }
    );
    println!(
        "binary: recall >= {BINARY_RECALL} at <= {BINARY_SIZE_RATIO}x size and <= \
         {BINARY_P50_RATIO}x p50: {}",
        if summary.binary_met { "met" } else { "NOT met" }
    );
}
