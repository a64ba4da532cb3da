//! `embedstore-bench quant`: issue 13's quantized-index benchmark.
//! Method and targets: `docs/benchmark.md`.

use std::time::{Duration, Instant};

use embedstore::{Collection, Quantization, SearchRequest, Store};
use embedstore_test_support::TestDatabase;
use serde_json::json;

use crate::BenchResult;
use crate::args::{DataArgs, positive};
use crate::library::{self, Library};
use crate::report::{Report, Table, round4};
use crate::stats::Latency;
use crate::truth;
use embedstore_test_support::dataset::{Dataset, row_of};

/// Held-out-style queries `Store::measure_recall` draws per index and factor.
const SAMPLED_QUERIES: u32 = 200;
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
    /// Candidates per hit the quantized indexes re-rank; several (`4,10,20`) are measured on
    /// the same index one after the other. The targets are judged at the library's default.
    #[arg(long, value_name = "N,…", value_delimiter = ',',
          default_values_t = [embedstore::DEFAULT_RERANK_FACTOR])]
    pub rerank_factor: Vec<u32>,
    /// Real embeddings instead of the generated clusters: a directory written by
    /// `scripts/bench-data/real_embeddings.py corpus` (rows.f32, queries.f32, meta.json); the
    /// queries are withheld paragraphs, not stored rows. `--rows` and `--queries` cap what is
    /// read; `--dim` and `--clusters` are ignored.
    #[arg(long, value_name = "DIR")]
    pub vectors: Option<std::path::PathBuf>,
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

/// Runs the `quant` mode.
pub fn main(args: &QuantArgs) -> BenchResult<Option<String>> {
    run(args).map(|()| None)
}

fn run(args: &QuantArgs) -> BenchResult<()> {
    let started = Instant::now();
    let (data, truth) =
        truth::load_or_generate(&args.data, args.vectors.as_deref(), args.data.queries)?;
    eprintln!(
        "creating the benchmark database and loading {} rows …",
        data.rows()
    );
    let db = TestDatabase::try_new()?;
    let store = db.store();
    let dim = u32::try_from(data.dimension)?;
    let batches = (0..data.rows()).step_by(LOAD_CHUNK);
    let batches = batches.map(|start| data.items(start, start + LOAD_CHUNK));
    let (collection, _) =
        library::create_and_load(store, "quant", dim, "embedstore-bench", batches)?;
    library::analyze(db.url().expose_secret(), &collection, true)?;
    let mut table = Table::new(
        "indexes",
        "index rerank_factor recall sampled_recall p50_ms p95_ms size_bytes size_ratio est_size_ratio p50_ratio build_s ann_answers",
    );
    let mut full: Option<Measured> = None;
    let mut verdicts = Vec::new();
    for (index, quantization) in [
        ("full", None),
        ("half", Some(Quantization::Half)),
        ("binary", Some(Quantization::Binary)),
    ] {
        for measured in measure(store, &collection, &data, &truth, args, quantization)? {
            let base = full.as_ref().unwrap_or(&measured);
            let size_ratio = round4(measured.size_bytes as f64 / base.size_bytes.max(1) as f64);
            let p50_ratio =
                round4(measured.latency.p50_ms / base.latency.p50_ms.max(f64::MIN_POSITIVE));
            let recall = round4(measured.recall);
            let (p50, p95) = (measured.latency.p50_ms, measured.latency.p95_ms);
            let (build_s, answers) = (measured.build.as_secs_f64(), measured.ann_answers);
            let row = json!({"index": index, "rerank_factor": measured.rerank_factor,
                "recall": recall, "sampled_recall": round4(measured.sampled_recall),
                "p50_ms": round4(p50),
                "p95_ms": round4(p95), "size_bytes": measured.size_bytes, "size_ratio": size_ratio,
                "est_size_ratio": measured.estimated_ratio.map(round4), "p50_ratio": p50_ratio,
                "build_s": round4(build_s), "ann_answers": answers});
            table.record(row);
            let full_recall = full.as_ref().map_or(recall, |full| round4(full.recall));
            let at_default = measured.rerank_factor == Some(embedstore::DEFAULT_RERANK_FACTOR);
            match index {
                "half" if at_default => verdicts.push((
                    index,
                    recall >= full_recall - HALF_RECALL_GAP && size_ratio <= HALF_SIZE_RATIO,
                )),
                "binary" if at_default => verdicts.push((
                    index,
                    recall >= BINARY_RECALL
                        && size_ratio <= BINARY_SIZE_RATIO
                        && p50_ratio <= BINARY_P50_RATIO,
                )),
                "full" => full = Some(measured),
                _ => {}
            }
        }
    }
    let factors: Vec<String> = args.rerank_factor.iter().map(u32::to_string).collect();
    let title = format!(
        "quantized HNSW, {} rows x {dim} ({}), k = {}, m = {}, ef_construction = {}, \
         ef_search = {}, rerank_factor = {} (library default {})",
        data.rows(),
        data.source,
        args.data.k,
        args.m,
        args.ef_construction,
        args.ef_search,
        factors.join(","),
        embedstore::DEFAULT_RERANK_FACTOR
    );
    let mut report = Report::new("quant", title);
    report.table(table);
    for (index, met) in verdicts {
        let bound = if index == "half" {
            format!("recall within {HALF_RECALL_GAP} of full at <= {HALF_SIZE_RATIO}x size")
        } else {
            format!(
                "recall >= {BINARY_RECALL} at <= {BINARY_SIZE_RATIO}x size and <= \
                 {BINARY_P50_RATIO}x p50"
            )
        };
        report.target(index, serde_json::Value::Null, &bound, Some(met));
    }
    report.figure("seconds", round4(started.elapsed().as_secs_f64()));
    report.print();
    Ok(())
}

struct Measured {
    /// `None` for full precision (nothing re-ranked).
    rerank_factor: Option<u32>,
    recall: f64,
    /// What `Store::measure_recall` (`index recall`) reports for the same settings with its
    /// own held-out-style queries drawn from the table (against the exact scan).
    sampled_recall: f64,
    latency: Latency,
    size_bytes: u64,
    estimated_ratio: Option<f64>,
    build: Duration,
    ann_answers: usize,
}

/// Builds the index, runs the queries at each re-rank factor (quantized indexes; full
/// precision once), `rounds` times each with the best p50 kept, drops the index.
fn measure(
    store: &Store,
    collection: &Collection,
    data: &Dataset,
    truth: &[Vec<usize>],
    args: &QuantArgs,
    quantization: Option<Quantization>,
) -> BenchResult<Vec<Measured>> {
    let mut spec = library::hnsw(args.m, args.ef_construction, args.maintenance_work_mem);
    spec.quantization = quantization;
    eprintln!("building HNSW ({quantization:?}) …");
    let indexes = Library::new(store, collection);
    let build = indexes.build_index(&spec, false)?;
    let factors: Vec<Option<u32>> = match quantization {
        None => vec![None],
        Some(_) => args.rerank_factor.iter().copied().map(Some).collect(),
    };
    let mut all = Vec::with_capacity(factors.len());
    for factor in factors {
        let request = |query: &[f32]| {
            let request = SearchRequest::vector(query.to_vec(), args.data.k)
                .include_metadata(false)
                .with_ef_search(args.ef_search);
            match factor {
                Some(factor) => request.with_rerank_factor(factor),
                None => request,
            }
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
        // The request's vector is replaced by each sampled query.
        let sampled = embedstore::RecallRequest::sample(SAMPLED_QUERIES, args.data.k)
            .with_request(request(&[]));
        let sampled_recall = store.measure_recall(collection, &sampled)?.recall;
        all.push(Measured {
            rerank_factor: factor,
            recall,
            sampled_recall,
            latency: best.ok_or("no rounds")?,
            size_bytes: build.size_bytes,
            estimated_ratio: build.full_precision_ratio,
            build: build.elapsed,
            ann_answers,
        });
    }
    indexes.drop_index()?;
    Ok(all)
}
