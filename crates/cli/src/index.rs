//! `embedstore index create|drop|status|rebuild|recall|health` and
//! `embedstore payload-index create|list|drop`.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use embedstore::{
    Collection, FieldPath, Filter, IndexMethod, IndexProgress, IndexSpec, PayloadKind,
    Quantization, RecallRequest, SearchRequest, Store,
};

use crate::error::CliError;
use crate::health::{self, HealthArgs};
use crate::output::{Column, Format, duration, write_index_line, write_json_line, write_table};

/// The `index` subcommands: a collection's ANN index.
#[derive(Debug, clap::Subcommand)]
pub enum IndexCommand {
    /// Build the collection's ANN index (CREATE INDEX CONCURRENTLY: writes continue).
    Create(BuildArgs),
    /// Build a fresh index beside the current one and swap it in (new parameters optional).
    Rebuild(BuildArgs),
    /// Drop the collection's ANN index (searches become exact scans).
    Drop {
        /// The collection (or an alias of it).
        collection: String,
    },
    /// Show the index: validity, method, parameters, size, rows, and advice.
    Status {
        /// The collection (or an alias of it).
        collection: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Measure recall@k of the index against exact search, with latencies.
    Recall(RecallArgs),
    /// Drift since the build (rows, updates, deletes, dead tuples), sampled recall@k and
    /// advice, for one collection or all; `--format json` for a cron job.
    Health(HealthArgs),
}

/// Arguments of `index create` and `index rebuild`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The collection (or an alias of it).
    pub collection: String,
    /// Index method (`rebuild` keeps the current one unless given).
    #[arg(long, value_parser = ["hnsw", "ivfflat"])]
    pub method: Option<String>,
    /// HNSW: links per node (default 16).
    #[arg(long)]
    pub m: Option<u32>,
    /// HNSW: build candidate list (default 64).
    #[arg(long)]
    pub ef_construction: Option<u32>,
    /// IVFFlat: lists (default rows / 1000, √rows above a million).
    #[arg(long)]
    pub lists: Option<u32>,
    /// HNSW: index a quantized copy (half: halfvec, binary: sign bits with Hamming distance);
    /// searches re-rank the candidates by the exact distance. `rebuild` keeps the current one
    /// unless given (`none` builds full precision).
    #[arg(long, value_parser = ["none", "half", "binary"])]
    pub quantization: Option<String>,
    /// maintenance_work_mem for this build, MiB.
    #[arg(long, value_name = "MIB")]
    pub maintenance_work_mem: Option<u32>,
    /// max_parallel_maintenance_workers for this build.
    #[arg(long)]
    pub parallel_workers: Option<u32>,
    /// Progress display: a bar on a terminal, lines otherwise (auto), or none.
    #[arg(long, value_parser = ["auto", "bar", "lines", "off"], default_value = "auto")]
    pub progress: String,
}

/// Arguments of `index recall`.
#[derive(Debug, clap::Args)]
pub struct RecallArgs {
    /// The collection (or an alias of it).
    pub collection: String,
    /// Held-out-style queries drawn from the collection: stored vectors moved by noise
    /// (dense collections), each with its own row left out of both answers.
    #[arg(long, default_value_t = 100)]
    pub queries: u32,
    /// The k of recall@k.
    #[arg(long, default_value_t = 10)]
    pub k: u32,
    /// hnsw.ef_search to measure.
    #[arg(long)]
    pub ef_search: Option<u32>,
    /// ivfflat.probes to measure.
    #[arg(long)]
    pub probes: Option<u32>,
    /// Candidates per hit a quantized index returns for the exact re-rank, to measure
    /// (default: the library's, `DEFAULT_RERANK_FACTOR`).
    #[arg(long, value_name = "N")]
    pub rerank_factor: Option<u32>,
    /// A metadata filter (JSON), to measure filtered recall.
    #[arg(long, value_name = "JSON")]
    pub filter: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// The `payload-index` subcommands: indexes on metadata fields.
#[derive(Debug, clap::Subcommand)]
pub enum PayloadIndexCommand {
    /// Index a metadata field's typed values (btree), or all metadata (`--type gin`).
    Create {
        /// The collection (or an alias of it).
        collection: String,
        /// The field path, e.g. `lang` or `source.year` (omit with `--type gin`).
        field: Option<String>,
        /// keyword, integer, float, bool, timestamp, or gin (all metadata, jsonb_path_ops).
        #[arg(long = "type", value_parser = ["keyword", "integer", "float", "bool", "timestamp", "gin"])]
        kind: String,
    },
    /// List the collection's payload indexes.
    List {
        /// The collection (or an alias of it).
        collection: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Drop a payload index by its id (see `list`).
    Drop {
        /// The collection (or an alias of it).
        collection: String,
        /// The payload index id.
        id: i32,
    },
}

/// Runs an `index` subcommand.
///
/// # Errors
/// An unknown collection, a spec the collection cannot have, or a failed build.
pub fn run(store: &Store, command: &IndexCommand, out: &mut dyn Write) -> Result<(), CliError> {
    match command {
        IndexCommand::Create(args) => {
            let collection = collection(store, &args.collection)?;
            let spec = spec(args, None)?;
            let status = with_progress(&args.progress, |progress| {
                store.indexes(&collection).create(&spec, progress)
            })?;
            write_status(out, &status, Format::Table)
        }
        IndexCommand::Rebuild(args) => {
            let collection = collection(store, &args.collection)?;
            let status = store.indexes(&collection).status()?;
            let current = status.method;
            let changed = args.method.is_some()
                || args.quantization.is_some()
                || args.m.is_some()
                || args.ef_construction.is_some()
                || args.lists.is_some()
                || args.maintenance_work_mem.is_some()
                || args.parallel_workers.is_some();
            let spec = if changed {
                let mut spec = spec(args, current)?;
                if args.quantization.is_none() {
                    spec.quantization = status.quantization;
                }
                Some(spec)
            } else {
                None
            };
            let status = with_progress(&args.progress, |progress| {
                store.indexes(&collection).rebuild(spec.as_ref(), progress)
            })?;
            write_status(out, &status, Format::Table)
        }
        IndexCommand::Drop { collection: name } => {
            let collection = collection(store, name)?;
            if store.indexes(&collection).drop()? {
                writeln!(out, "dropped the ANN index of {name:?}")?;
            } else {
                writeln!(out, "{name:?} had no ANN index")?;
            }
            Ok(())
        }
        IndexCommand::Status {
            collection: name,
            format,
        } => {
            let collection = collection(store, name)?;
            let status = store.indexes(&collection).status()?;
            write_status(out, &status, *format)
        }
        IndexCommand::Recall(args) => recall(store, args, out),
        IndexCommand::Health(args) => health::run(store, args, out),
    }
}

/// Runs a `payload-index` subcommand.
///
/// # Errors
/// An unknown collection, a bad field path, or a failed build.
pub fn run_payload(
    store: &Store,
    command: &PayloadIndexCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        PayloadIndexCommand::Create {
            collection: name,
            field,
            kind,
        } => {
            let collection = collection(store, name)?;
            let index = match (kind.as_str(), field) {
                ("gin", None) => store.indexes(&collection).payload().create_metadata()?,
                ("gin", Some(_)) => {
                    return Err(CliError::refused(
                        "a gin payload index covers all metadata: give no field",
                    ));
                }
                (_, None) => {
                    return Err(CliError::refused(format!(
                        "a {kind} payload index needs a field, e.g. `lang` or `source.year`"
                    )));
                }
                (kind, Some(field)) => {
                    let path = FieldPath::parse(field).map_err(|error| {
                        CliError::refused(format!("bad field path {field:?}: {error}"))
                    })?;
                    let kind: PayloadKind = kind
                        .parse()
                        .map_err(|_| CliError::refused(format!("unknown type {kind:?}")))?;
                    store.indexes(&collection).payload().create(&path, kind)?
                }
            };
            writeln!(
                out,
                "created payload index {} ({}) on {name:?}",
                index.id, index.name
            )?;
            Ok(())
        }
        PayloadIndexCommand::List {
            collection: name,
            format,
        } => {
            let collection = collection(store, name)?;
            let indexes = store.indexes(&collection).payload().list()?;
            if *format == Format::Json {
                write_json_line(out, &indexes)?;
                return Ok(());
            }
            let rows: Vec<Vec<String>> = indexes
                .iter()
                .map(|index| {
                    vec![
                        index.id.to_string(),
                        if index.field.is_empty() {
                            "(all metadata)".to_owned()
                        } else {
                            index.field.clone()
                        },
                        index.kind.map_or("gin", |kind| kind.as_str()).to_owned(),
                        if index.valid { "yes" } else { "NO" }.to_owned(),
                        index.size_bytes.to_string(),
                    ]
                })
                .collect();
            write_table(
                out,
                "",
                &[
                    Column::right("id"),
                    Column::left("field"),
                    Column::left("type"),
                    Column::left("valid"),
                    Column::right("bytes"),
                ],
                &rows,
            )?;
            Ok(())
        }
        PayloadIndexCommand::Drop {
            collection: name,
            id,
        } => {
            let collection = collection(store, name)?;
            if store.indexes(&collection).payload().drop(*id)? {
                writeln!(out, "dropped payload index {id} of {name:?}")?;
                Ok(())
            } else {
                Err(CliError::refused(format!(
                    "{name:?} has no payload index {id}"
                )))
            }
        }
    }
}

fn collection(store: &Store, name: &str) -> Result<Collection, CliError> {
    Ok(store.read(|uow| uow.collections().get(name))?)
}

fn spec(args: &BuildArgs, current: Option<IndexMethod>) -> Result<IndexSpec, CliError> {
    let method = match args.method.as_deref() {
        Some(name) => IndexMethod::from_name(name)
            .ok_or_else(|| CliError::refused(format!("unknown index method {name:?}")))?,
        None => current.unwrap_or(IndexMethod::Hnsw),
    };
    let mut spec = match method {
        IndexMethod::Hnsw => IndexSpec::hnsw(),
        IndexMethod::IvfFlat => IndexSpec::ivfflat(),
        // A method added to the library after this CLI was written has no parameters here.
        other => {
            return Err(CliError::refused(format!(
                "index method {:?} is not supported by this CLI",
                other.as_str()
            )));
        }
    };
    spec.m = args.m;
    spec.ef_construction = args.ef_construction;
    spec.lists = args.lists;
    spec.quantization = match args.quantization.as_deref() {
        None | Some("none") => None,
        Some(name) => Some(
            Quantization::from_name(name)
                .ok_or_else(|| CliError::refused(format!("unknown quantization {name:?}")))?,
        ),
    };
    spec.maintenance_work_mem_mb = args.maintenance_work_mem;
    spec.parallel_workers = args.parallel_workers;
    Ok(spec)
}

/// Runs `build` with a progress display on stderr: an indicatif bar on a terminal (the
/// server's phase, tuples or blocks done of total), one line every few seconds otherwise (CI
/// logs), nothing with `off`.
fn with_progress<T>(
    mode: &str,
    build: impl FnOnce(Option<&mut dyn FnMut(IndexProgress)>) -> embedstore::Result<T>,
) -> Result<T, CliError> {
    let terminal = std::io::stderr().is_terminal();
    let bar = match mode {
        "off" => return Ok(build(None)?),
        "bar" => true,
        "lines" => false,
        _ => terminal,
    };
    let display = bar.then(|| {
        let bar = indicatif::ProgressBar::new(0);
        let style = indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] [{bar:30}] {pos}/{len} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style.progress_chars("#>-"));
        bar
    });
    let mut last_line = Duration::ZERO;
    let mut report = |progress: IndexProgress| match &display {
        Some(bar) => {
            let (done, total) = if progress.tuples_total > 0 {
                (progress.tuples_done, progress.tuples_total)
            } else {
                (progress.blocks_done, progress.blocks_total)
            };
            bar.set_length(total);
            bar.set_position(done);
            bar.set_message(progress.phase.clone());
        }
        None => {
            if progress.elapsed >= last_line + Duration::from_secs(5) {
                last_line = progress.elapsed;
                let _ = writeln!(std::io::stderr().lock(), "{}", progress_text(&progress));
            }
        }
    };
    let outcome = build(Some(&mut report));
    if let Some(bar) = display {
        bar.finish_and_clear();
    }
    Ok(outcome?)
}

/// One plain progress line: `building index: loading tuples 42% (4200/10000) 12s`.
fn progress_text(progress: &IndexProgress) -> String {
    let elapsed = duration(progress.elapsed);
    match progress.fraction() {
        Some(fraction) => format!(
            "{} {:.0}% ({}/{}) {elapsed}",
            progress.phase,
            fraction * 100.0,
            progress.tuples_done.max(progress.blocks_done),
            progress.tuples_total.max(progress.blocks_total),
        ),
        None => format!("{} {elapsed}", progress.phase),
    }
}

fn write_status(
    out: &mut dyn Write,
    status: &embedstore::IndexStatus,
    format: Format,
) -> Result<(), CliError> {
    if format == Format::Json {
        write_json_line(out, status)?;
        return Ok(());
    }
    writeln!(out, "collection: {}", status.collection)?;
    write_index_line(
        out,
        status.exists,
        status.valid,
        &status.name,
        &format!("embedstore index create {}", status.collection),
    )?;
    if let Some(method) = status.method {
        writeln!(
            out,
            "method:     {} on {} ({})",
            method.as_str(),
            status.element.as_deref().unwrap_or("vector"),
            status.parameters
        )?;
        writeln!(out, "size:       {} bytes", status.size_bytes)?;
        if let Some(quantization) = status.quantization {
            write!(out, "quantized:  {}", quantization.as_str())?;
            if let Some(ratio) = status.full_precision_ratio {
                write!(
                    out,
                    " ({ratio:.2}× the estimated size of a full-precision index)"
                )?;
            }
            writeln!(
                out,
                "; searches re-rank k × rerank_factor candidates exactly"
            )?;
        }
    }
    write!(out, "rows:       {}", status.rows)?;
    if let Some(built) = status.built_rows {
        write!(out, " (built on {built})")?;
    }
    writeln!(out)?;
    for leftover in &status.leftovers {
        writeln!(out, "left-over:  {leftover} (invalid)")?;
    }
    for advice in &status.advice {
        writeln!(out, "advice:     {advice}")?;
    }
    Ok(())
}

fn recall(store: &Store, args: &RecallArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let collection = collection(store, &args.collection)?;
    let mut request = SearchRequest::vector(Vec::new(), args.k).include_metadata(false);
    if let Some(ef_search) = args.ef_search {
        request = request.with_ef_search(ef_search);
    }
    if let Some(probes) = args.probes {
        request = request.with_probes(probes);
    }
    if let Some(factor) = args.rerank_factor {
        request = request.with_rerank_factor(factor);
    }
    if let Some(json) = &args.filter {
        request = request.with_filter(parse_filter(json)?);
    }
    let report = store.measure_recall(
        &collection,
        &RecallRequest::sample(args.queries, args.k).with_request(request),
    )?;
    if args.format == Format::Json {
        write_json_line(out, &report)?;
        return Ok(());
    }
    writeln!(
        out,
        "recall@{}: {:.4} (worst query {:.2}) over {} queries, {} answered by the index",
        report.k, report.recall, report.min_recall, report.queries, report.approximate_answers
    )?;
    writeln!(
        out,
        "latency:   p50 {:.2} ms, p95 {:.2} ms (exact scan: p50 {:.2} ms, p95 {:.2} ms)",
        report.p50_ms, report.p95_ms, report.exact_p50_ms, report.exact_p95_ms
    )?;
    writeln!(out, "queries:   {}", report.query_kind)?;
    if let Some(factor) = report.rerank_factor {
        writeln!(
            out,
            "re-rank:   {} candidates per hit from the quantized index",
            factor
        )?;
    }
    Ok(())
}

/// Parses a `--filter` argument, naming the problem.
pub fn parse_filter(json: &str) -> Result<Filter, CliError> {
    json.parse::<Filter>().map_err(|error| CliError::Problems {
        summary: "--filter is not a valid filter".to_owned(),
        problems: vec![error.to_string()],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_name_the_phase_and_the_share_done() {
        let mut progress = IndexProgress::default();
        progress.phase = "building index: loading tuples".to_owned();
        progress.tuples_done = 4200;
        progress.tuples_total = 10_000;
        let line = progress_text(&progress);
        assert!(
            line.starts_with("building index: loading tuples 42% (4200/10000)"),
            "{line}"
        );
    }
}
