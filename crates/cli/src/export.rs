//! `embedstore export` and `embedstore stats`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use embedstore::Store;

use crate::error::CliError;
use crate::ingest::cli_error;
use crate::output::{Column, Format, duration, thousands, write_table};

/// Arguments of `embedstore export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The collection to export (or an alias of it).
    pub collection: String,
    /// Directory for the files (vectors.npy and records.jsonl, embeddings.jsonl or
    /// embeddings.parquet; created if missing; files replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// File format of the vectors.
    #[arg(long, value_enum, default_value_t = ExportFormat::Npy)]
    pub format: ExportFormat,
}

/// `--format` of `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// vectors.npy (float32, as numpy.save writes it) + records.jsonl; bit collections as
    /// 0.0/1.0 values; not for sparse collections.
    Npy,
    /// embeddings.jsonl: one {"external_id", "vector", "metadata", "content"} object per line,
    /// the vector in its kind's JSON form — what `insert` reads back; every kind.
    Jsonl,
    /// embeddings.parquet: external_id, vector (fixed_size_list<float32>), metadata (JSON
    /// text), content.
    #[cfg(feature = "parquet")]
    Parquet,
}

/// Arguments of `embedstore stats`.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Only this collection (default: all).
    pub collection: Option<String>,
    /// A table for people or JSON (one array) for programs.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Runs `embedstore export`.
///
/// # Errors
/// An unknown collection, a failed read, or files that cannot be written.
pub fn run_export(store: &Store, args: &ExportArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let started = Instant::now();
    let summary = match args.format {
        ExportFormat::Npy => store
            .export(&args.collection)
            .npy(&args.out, &mut |_, _| {}),
        ExportFormat::Jsonl => store
            .export(&args.collection)
            .jsonl(&args.out, &mut |_, _| {}),
        #[cfg(feature = "parquet")]
        ExportFormat::Parquet => store
            .export(&args.collection)
            .parquet(&args.out, &mut |_, _| {}),
    }
    .map_err(cli_error)?;
    let files = if summary.vectors == summary.records {
        summary.vectors.display().to_string()
    } else {
        format!(
            "{} + {}",
            summary.vectors.display(),
            summary.records.display()
        )
    };
    writeln!(
        out,
        "exported {} rows of {:?} to {files} in {}",
        thousands(summary.rows),
        args.collection,
        duration(started.elapsed()),
    )?;
    Ok(())
}

/// Runs `embedstore stats`.
///
/// # Errors
/// An unknown collection or a failed query.
pub fn run_stats(store: &Store, args: &StatsArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let names = match &args.collection {
        Some(name) => vec![name.clone()],
        None => store
            .read(|uow| uow.collections().list())?
            .into_iter()
            .map(|collection| collection.name)
            .collect(),
    };
    let stats = names
        .iter()
        .map(|name| store.export(name).stats())
        .collect::<embedstore::Result<Vec<_>>>()?;
    match args.format {
        Format::Json => {
            writeln!(out, "{}", serde_json::to_string(&stats).unwrap_or_default())?;
        }
        Format::Table => {
            if stats.is_empty() {
                writeln!(out, "no collections")?;
                return Ok(());
            }
            let rows: Vec<Vec<String>> = stats
                .iter()
                .map(|stat| {
                    vec![
                        stat.name.clone(),
                        thousands(stat.rows),
                        stat.dimension.to_string(),
                        stat.metric.to_string(),
                        stat.model.clone(),
                        megabytes(stat.table_bytes),
                        megabytes(stat.index_bytes),
                        stat.last_write.map_or_else(
                            || "-".to_owned(),
                            |at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                        ),
                    ]
                })
                .collect();
            write_table(
                out,
                "",
                &[
                    Column::left("collection"),
                    Column::right("rows"),
                    Column::right("dimension"),
                    Column::left("metric"),
                    Column::left("model"),
                    Column::right("total size"),
                    Column::right("index size"),
                    Column::left("last write (max updated_at)"),
                ],
                &rows,
            )?;
        }
    }
    Ok(())
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
