//! `embedstore plan`: what a collection will cost before it exists — table and index sizes,
//! build time, the memory to keep its index cached, and the nodes a read load needs. No
//! database is needed.

use std::io::Write;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use embedstore::{
    CapacityInput, CapacityPlan, IndexMethod, IndexSpec, Load, MODEL_SOURCE, Metric, Quantization,
    VectorKind,
};
use serde::Serialize;

use crate::error::CliError;
use crate::output::{Format, write_json_line};

/// Arguments of `embedstore plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Rows the collection will hold.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000_000))]
    pub rows: u64,
    /// Values a vector (dense, bit) or positions (sparse).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000_000))]
    pub dim: u32,
    /// What the collection stores.
    #[arg(long, default_value = "dense", value_parser = PossibleValuesParser::new(VectorKind::ALL.map(VectorKind::as_str)).try_map(|name| name.parse::<VectorKind>()))]
    pub kind: VectorKind,
    /// Sparse collections: mean non-zero entries a row.
    #[arg(long, default_value_t = 100)]
    pub nonzero: u32,
    /// How distance is measured (checked against --kind; sizes do not depend on it).
    #[arg(long, value_parser = PossibleValuesParser::new(Metric::EVERY.map(Metric::as_str)).try_map(|name| name.parse::<Metric>()))]
    pub metric: Option<Metric>,
    /// The ANN index: hnsw, ivfflat or none.
    #[arg(long, default_value = "hnsw", value_parser = ["hnsw", "ivfflat", "none"])]
    pub method: String,
    /// HNSW links a node.
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=100))]
    pub m: Option<u32>,
    /// HNSW build candidate list.
    #[arg(long, value_parser = clap::value_parser!(u32).range(4..=1000))]
    pub ef_construction: Option<u32>,
    /// IVFFlat lists (default: rows / 1000, or √rows above a million).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=32768))]
    pub lists: Option<u32>,
    /// Index a quantized copy: half or binary (HNSW).
    #[arg(long, value_parser = ["none", "half", "binary"])]
    pub quantization: Option<String>,
    /// `maintenance_work_mem` of the build, MiB (default: as the library chooses it, HNSW's
    /// graph and 10 %, at most 4 GiB, at least PostgreSQL's default 64).
    #[arg(long, value_name = "MB")]
    pub maintenance_work_mem: Option<u32>,
    /// Parallel maintenance workers of the build (default: PostgreSQL's 2).
    #[arg(long)]
    pub parallel_workers: Option<u32>,
    /// Mean bytes of an external id.
    #[arg(long, default_value_t = 12)]
    pub id_bytes: u32,
    /// Mean bytes of the metadata as JSON text.
    #[arg(long, default_value_t = 2)]
    pub metadata_bytes: u32,
    /// Mean bytes of the content (0: none stored).
    #[arg(long, default_value_t = 0)]
    pub content_bytes: u32,
    /// Searches a second to carry: prints the replicas (and Citus workers) needed.
    #[arg(long)]
    pub target_qps: Option<f64>,
    /// Recall@10 the searches need: picks `ef_search` from measured figures.
    #[arg(long, conflicts_with = "ef_search")]
    pub recall: Option<f64>,
    /// `hnsw.ef_search` of the searches (default 40, pgvector's).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub ef_search: Option<u32>,
    /// Cores of each database node.
    #[arg(long, default_value_t = 8)]
    pub cores_per_node: u32,
    /// Memory of each database node, GiB.
    #[arg(long, default_value_t = 32)]
    pub memory_per_node_gb: u32,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// What `--format json` prints: the input, the plan and where its constants come from.
#[derive(Serialize)]
struct Printed<'a> {
    input: &'a CapacityInput,
    plan: &'a CapacityPlan,
    model: &'static str,
}

/// Runs `embedstore plan`.
///
/// # Errors
/// A metric that does not suit the kind, an option the method does not take, a recall no
/// measured `ef_search` reaches, a target QPS that is not positive, or a failed write.
pub fn run(args: &PlanArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let input = input(args)?;
    let plan = input.plan();
    if args.format == Format::Json {
        return Ok(write_json_line(
            out,
            &Printed {
                input: &input,
                plan: &plan,
                model: MODEL_SOURCE,
            },
        )?);
    }
    write_table(out, &input, &plan)?;
    Ok(())
}

fn input(args: &PlanArgs) -> Result<CapacityInput, CliError> {
    if let Some(metric) = args.metric {
        if !Metric::of_kind(args.kind).contains(&metric) {
            return Err(CliError::refused(format!(
                "--metric {metric} does not suit {} collections",
                args.kind
            )));
        }
    }
    let index = match args.method.as_str() {
        "none" => None,
        method => {
            let mut spec = if method == "ivfflat" {
                IndexSpec::ivfflat()
            } else {
                IndexSpec::hnsw()
            };
            spec.m = args.m;
            spec.ef_construction = args.ef_construction;
            spec.lists = args.lists;
            spec.quantization = match args.quantization.as_deref() {
                Some("half") => Some(Quantization::Half),
                Some("binary") => Some(Quantization::Binary),
                _ => None,
            };
            spec.maintenance_work_mem_mb = args.maintenance_work_mem;
            spec.parallel_workers = args.parallel_workers;
            Some(spec)
        }
    };
    if let Some(spec) = &index {
        let hnsw_only = [
            ("--m", args.m.is_some()),
            ("--ef-construction", args.ef_construction.is_some()),
            (
                "--quantization",
                args.quantization.as_deref().is_some_and(|q| q != "none"),
            ),
        ];
        let wrong = match spec.method {
            IndexMethod::IvfFlat => hnsw_only.iter().find(|(_, given)| *given).map(|(f, _)| *f),
            _ => args.lists.is_some().then_some("--lists"),
        };
        if let Some(flag) = wrong {
            return Err(CliError::refused(format!(
                "{flag} does not apply to --method {}",
                args.method
            )));
        }
    }
    let load = match args.target_qps {
        None => None,
        Some(qps) if !(qps.is_finite() && qps > 0.0) => {
            return Err(CliError::refused(format!(
                "--target-qps {qps}: give a positive number of searches a second"
            )));
        }
        Some(target_qps) => Some(Load {
            target_qps,
            ef_search: ef_search(args)?,
            cores_per_node: args.cores_per_node.max(1),
            memory_per_node: u64::from(args.memory_per_node_gb) << 30,
        }),
    };
    let mut input = CapacityInput::dense(args.rows, args.dim);
    input.kind = args.kind;
    input.sparse_nonzero = args.nonzero.min(args.dim);
    input.external_id_bytes = args.id_bytes;
    input.metadata_bytes = args.metadata_bytes;
    input.content_bytes = args.content_bytes;
    input.index = index;
    input.load = load;
    Ok(input)
}

/// `--ef-search`, or the smallest measured one reaching `--recall`, or pgvector's 40.
fn ef_search(args: &PlanArgs) -> Result<u32, CliError> {
    match (args.ef_search, args.recall) {
        (Some(ef), _) => Ok(ef),
        (None, Some(recall)) if !(0.0..=1.0).contains(&recall) => Err(CliError::refused(format!(
            "--recall {recall}: give a fraction between 0 and 1"
        ))),
        (None, Some(recall)) => Load::ef_search_for(recall).ok_or_else(|| {
            CliError::refused(format!(
                "--recall {recall}: no measured ef_search reaches it (0.995 at 400 is the \
                 highest measured); pass --ef-search and measure with `embedstore index recall`"
            ))
        }),
        (None, None) => Ok(40),
    }
}

fn write_table(
    out: &mut dyn Write,
    input: &CapacityInput,
    plan: &CapacityPlan,
) -> std::io::Result<()> {
    let size = |bytes: u64| format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20));
    writeln!(
        out,
        "{} rows x {} ({}), index: {}",
        input.rows,
        input.dimension,
        input.kind,
        input
            .index
            .as_ref()
            .map_or("none", |spec| spec.method.as_str())
    )?;
    writeln!(out, "table:              {}", size(plan.table_bytes))?;
    if plan.toast_bytes > 0 {
        writeln!(out, "toast:              {}", size(plan.toast_bytes))?;
    }
    writeln!(out, "key indexes:        {}", size(plan.key_index_bytes))?;
    writeln!(out, "ann index:          {}", size(plan.ann_index_bytes))?;
    writeln!(out, "total:              {}", size(plan.total_bytes))?;
    writeln!(out, "ram for the index:  {}", size(plan.ram_for_index))?;
    writeln!(
        out,
        "ram for all:        {}",
        size(plan.ram_for_index_and_table)
    )?;
    if let Some(build) = &plan.build {
        writeln!(
            out,
            "build:              {:.0} s ({:.0} core-s); graph {} in {} maintenance_work_mem: {}",
            build.seconds,
            build.core_seconds,
            size(build.graph_bytes),
            size(build.build_memory),
            if build.fits_in_memory {
                "fits"
            } else {
                "DOES NOT FIT"
            }
        )?;
    }
    if let (Some(nodes), Some(load)) = (&plan.nodes, &input.load) {
        writeln!(
            out,
            "load:               {} QPS at ef_search {}: {:.0} QPS a core, {:.0} a {}-core node -> {} replica(s) beside the primary, {} Citus worker(s)",
            load.target_qps,
            load.ef_search,
            nodes.qps_per_core,
            nodes.qps_per_node,
            load.cores_per_node,
            nodes.replicas,
            nodes.citus_workers
        )?;
    }
    for note in &plan.notes {
        writeln!(out, "note: {note}")?;
    }
    writeln!(out, "model: {MODEL_SOURCE}")
}
