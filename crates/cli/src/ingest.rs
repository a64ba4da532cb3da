//! `embedstore ingest`: a `.npy` matrix with JSONL records (or generated ids) into a
//! collection, streamed in batches of one transaction each, with progress and a summary.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[cfg(feature = "parquet")]
use embedstore::ParquetSource;
use embedstore::Store;
use embedstore::{
    DEFAULT_BATCH_SIZE, DEFAULT_WRITERS, Ids, Ingest, IngestError, IngestObserver, IngestOptions,
    IngestProgress, IngestSummary, NpySource, RejectedRow, RowSource, WriteMode,
};

use crate::error::CliError;
use crate::output::{plural, thousands};

/// Arguments of `embedstore ingest`.
#[derive(Debug, clap::Args)]
// The group lists its members from their side (`group = "input"`), so an argument that only
// exists with a feature (`--parquet`) is never named where it is absent.
#[command(group(clap::ArgGroup::new("input").required(true)))]
pub struct IngestArgs {
    /// The collection to write to (or an alias of it).
    pub collection: String,
    /// The vectors: a 2-D float16/32/64 C-order `.npy` matrix (as numpy.save writes it).
    #[arg(long, value_name = "FILE.npy", group = "input")]
    pub vectors: Option<PathBuf>,
    /// A Parquet file instead: a list<float> or fixed_size_list<float> vector column plus
    /// external_id (or id), metadata (JSON text) and content columns.
    #[cfg(feature = "parquet")]
    #[arg(long, value_name = "FILE", group = "input", conflicts_with_all = ["vectors", "records"])]
    pub parquet: Option<PathBuf>,
    /// The Parquet file's vector column.
    #[cfg(feature = "parquet")]
    #[arg(long, value_name = "C", default_value = "vector", requires = "parquet")]
    pub vector_column: String,
    /// JSONL records, one per matrix row in the same order: {"external_id" (or "id"): "…",
    /// "metadata": {…}, "content": "…"}.
    #[arg(long, value_name = "FILE.jsonl", conflicts_with = "id_prefix")]
    pub records: Option<PathBuf>,
    /// Generate the ids instead: PREFIX followed by the row number from 0 (doc-0, doc-1, …).
    #[arg(long, value_name = "PREFIX")]
    pub id_prefix: Option<String>,
    /// insert refuses external_ids that exist; upsert updates changed rows and skips unchanged
    /// ones, so re-running after a crash resumes.
    #[arg(long, value_enum, default_value_t = Mode::Upsert)]
    pub mode: Mode,
    /// Rows per transaction (a crash loses at most one batch per writer; memory grows with it).
    #[arg(long, default_value_t = DEFAULT_BATCH_SIZE as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub batch_size: u32,
    /// Batches written at once, each in its own transaction on its own connection. With more
    /// than one a crash loses at most that many batches, and when a batch fails in the
    /// database the later ones already being written may commit (each stays all or nothing).
    #[arg(long, default_value_t = DEFAULT_WRITERS as u32, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub writers: u32,
    /// Make every batch wait for its disk flush. Without it batches commit with
    /// synchronous_commit = off: a server crash may lose the last ~0.6 s of batches, which
    /// re-running the same (upsert) command writes again.
    #[arg(long)]
    pub synchronous_commit: bool,
    /// Write valid rows and send each invalid one, with its reasons, to FILE as JSONL;
    /// without it an invalid row refuses its whole batch and stops the ingest.
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// Progress on stderr: a bar on a terminal (auto), plain lines every 2 s otherwise.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Summary format; with json the last line of stdout is one JSON object.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Refuse existing external_ids.
    Insert,
    /// Insert new, update changed, skip unchanged.
    Upsert,
}

/// `--progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, lines otherwise.
    Auto,
    /// A progress bar.
    Bar,
    /// A plain line every 2 seconds.
    Lines,
    /// Nothing.
    Off,
}

/// `--format` of commands that print a summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SummaryFormat {
    /// Lines for people.
    Text,
    /// One JSON object, the last line of stdout.
    Json,
}

/// Runs `embedstore ingest`.
///
/// # Errors
/// Malformed files (before anything is written), a batch with invalid rows (every problem
/// listed, nothing of it written), an unknown collection, or a failed write.
pub fn run(store: &Store, args: &IngestArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let mut source = open_source(args)?;
    let options = IngestOptions {
        mode: match args.mode {
            Mode::Insert => WriteMode::Insert,
            Mode::Upsert => WriteMode::Upsert,
        },
        batch_size: usize::try_from(args.batch_size).unwrap_or(DEFAULT_BATCH_SIZE),
        skip_invalid: args.rejects.is_some(),
        synchronous_commit: args.synchronous_commit,
        writers: usize::try_from(args.writers).unwrap_or(DEFAULT_WRITERS),
        atomic: false,
    };
    let rejects = match &args.rejects {
        Some(path) => Some(RejectsFile::create(path)?),
        None => None,
    };
    let mut observer = Observer {
        progress: Progress::new(args.progress),
        rejects,
    };
    let outcome = Ingest::new(store, &args.collection, options).run(source.as_mut(), &mut observer);
    observer.progress.finish();
    if let Some(rejects) = observer.rejects.take() {
        rejects.finish()?;
    }
    let summary = outcome.map_err(cli_error)?;
    print_summary(out, args, &summary)
}

/// The `.npy` (+ records or prefix) or Parquet input named on the command line.
fn open_source(args: &IngestArgs) -> Result<Box<dyn RowSource + Send>, CliError> {
    #[cfg(feature = "parquet")]
    if let Some(path) = &args.parquet {
        let source = ParquetSource::open(path, &args.vector_column, args.id_prefix.as_deref())
            .map_err(cli_error)?;
        return Ok(Box::new(source));
    }
    let Some(vectors) = &args.vectors else {
        return Err(CliError::refused("give --vectors FILE.npy"));
    };
    let ids = match (&args.records, &args.id_prefix) {
        (Some(records), _) => Ids::Records(records.clone()),
        (None, Some(prefix)) => Ids::Prefix(prefix.clone()),
        (None, None) => {
            return Err(CliError::refused(
                "give --records FILE.jsonl (one record per row) or --id-prefix PREFIX with --vectors",
            ));
        }
    };
    Ok(Box::new(NpySource::open(vectors, &ids).map_err(cli_error)?))
}

/// The library's error as the CLI shows it: file problems one per line.
pub fn cli_error(error: IngestError) -> CliError {
    match error {
        IngestError::Store(error) => CliError::Store(error),
        IngestError::Io { file, source } => CliError::io(file, source),
        IngestError::Rejected { .. } => CliError::Problems {
            summary: error.to_string(),
            problems: error.problems().iter().map(ToString::to_string).collect(),
        },
        other => CliError::refused(other.to_string()),
    }
}

fn print_summary(
    out: &mut dyn Write,
    args: &IngestArgs,
    summary: &IngestSummary,
) -> Result<(), CliError> {
    let rows_per_second = if summary.seconds > 0.0 {
        summary.rows as f64 / summary.seconds
    } else {
        0.0
    };
    let peak_rss_bytes = peak_rss_bytes();
    match args.format {
        SummaryFormat::Json => {
            let line = serde_json::json!({
                "collection": args.collection,
                "mode": match args.mode { Mode::Insert => "insert", Mode::Upsert => "upsert" },
                "rows": summary.rows,
                "inserted": summary.inserted,
                "updated": summary.updated,
                "unchanged": summary.unchanged,
                "rejected": summary.rejected,
                "duplicates_dropped": summary.duplicates_dropped,
                "batches": summary.batches,
                "batch_size": args.batch_size,
                "writers": args.writers,
                "seconds": summary.seconds,
                "rows_per_second": rows_per_second,
                "peak_rss_bytes": peak_rss_bytes,
            });
            writeln!(out, "{line}")?;
        }
        SummaryFormat::Text => {
            writeln!(
                out,
                "ingested {} into {:?} in {:.2} s ({} rows/s, {} of up to {} rows, {} at once)",
                plural(summary.rows, "row", "rows"),
                args.collection,
                summary.seconds,
                thousands(rows_per_second.round() as u64),
                plural(summary.batches, "batch", "batches"),
                thousands(u64::from(args.batch_size)),
                args.writers,
            )?;
            writeln!(
                out,
                "  inserted {}, updated {}, unchanged {}, rejected {}, duplicates dropped {}",
                thousands(summary.inserted),
                thousands(summary.updated),
                thousands(summary.unchanged),
                thousands(summary.rejected),
                thousands(summary.duplicates_dropped),
            )?;
            if let (Some(path), true) = (&args.rejects, summary.rejected > 0) {
                writeln!(out, "  rejected rows and their reasons: {}", path.display())?;
            }
            if let Some(bytes) = peak_rss_bytes {
                writeln!(out, "  peak memory (RSS) {:.1} MB", bytes as f64 / 1e6)?;
            }
        }
    }
    Ok(())
}

/// The process's peak resident set size (`VmHWM` of `/proc/self/status`); `None` where there
/// is no such file (not Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kilobytes: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kilobytes * 1024)
}

struct Observer {
    progress: Progress,
    rejects: Option<RejectsFile>,
}

impl IngestObserver for Observer {
    fn progress(&mut self, progress: &IngestProgress) {
        self.progress.update(progress);
    }

    fn rejected(&mut self, row: &RejectedRow) -> Result<(), IngestError> {
        match &mut self.rejects {
            Some(rejects) => rejects.write(row),
            None => Ok(()),
        }
    }
}

/// `--rejects FILE`: one JSON object per rejected row.
struct RejectsFile {
    name: String,
    out: BufWriter<File>,
}

impl RejectsFile {
    fn create(path: &PathBuf) -> Result<Self, CliError> {
        let name = path.display().to_string();
        let file = File::create(path)
            .map_err(|error| CliError::io(format!("cannot create {name}"), error))?;
        Ok(Self {
            name,
            out: BufWriter::new(file),
        })
    }

    fn write(&mut self, row: &RejectedRow) -> Result<(), IngestError> {
        let problems: Vec<serde_json::Value> = row
            .problems
            .iter()
            .map(|problem| serde_json::json!({"field": problem.field, "reason": problem.reason}))
            .collect();
        let line = serde_json::json!({
            "row": row.row,
            "line": row.line,
            "external_id": row.external_id,
            "problems": problems,
        });
        writeln!(self.out, "{line}").map_err(|error| IngestError::Io {
            file: self.name.clone(),
            source: error,
        })
    }

    fn finish(mut self) -> Result<(), CliError> {
        self.out
            .flush()
            .map_err(|error| CliError::io(format!("cannot write {}", self.name), error))
    }
}

/// Progress on stderr: an indicatif bar, plain lines, or nothing.
enum Progress {
    Bar(indicatif::ProgressBar),
    Lines { last: Option<Instant> },
    Off,
}

/// How often plain progress lines are printed.
const LINE_INTERVAL: Duration = Duration::from_secs(2);

impl Progress {
    fn new(mode: ProgressMode) -> Self {
        let terminal = std::io::stderr().is_terminal();
        match mode {
            ProgressMode::Off => Progress::Off,
            ProgressMode::Lines => Progress::Lines { last: None },
            ProgressMode::Auto if !terminal => Progress::Lines { last: None },
            ProgressMode::Auto | ProgressMode::Bar => {
                let bar = indicatif::ProgressBar::new(0);
                let style = indicatif::ProgressStyle::with_template(
                    "{bar:40} {human_pos}/{human_len} rows  {per_sec}  ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
                bar.set_style(style);
                Progress::Bar(bar)
            }
        }
    }

    fn update(&mut self, progress: &IngestProgress) {
        match self {
            Progress::Bar(bar) => {
                bar.set_length(progress.total_rows);
                bar.set_position(progress.rows);
            }
            Progress::Lines { last } => {
                let due = last.is_none_or(|at| at.elapsed() >= LINE_INTERVAL);
                if due || progress.rows == progress.total_rows {
                    *last = Some(Instant::now());
                    eprintln!("{}", progress_line(progress));
                }
            }
            Progress::Off => {}
        }
    }

    fn finish(&mut self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// `ingest: 120,000/1,000,000 rows (12.0%), 45,000 rows/s, ETA 20 s`.
fn progress_line(progress: &IngestProgress) -> String {
    let secs = progress.elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        progress.rows as f64 / secs
    } else {
        0.0
    };
    let percent = if progress.total_rows > 0 {
        100.0 * progress.rows as f64 / progress.total_rows as f64
    } else {
        100.0
    };
    let remaining = progress.total_rows.saturating_sub(progress.rows);
    let eta = if rate > 0.0 {
        format!("{:.0} s", remaining as f64 / rate)
    } else {
        "?".to_owned()
    };
    format!(
        "ingest: {}/{} rows ({percent:.1}%), {} rows/s, ETA {eta}",
        thousands(progress.rows),
        thousands(progress.total_rows),
        thousands(rate.round() as u64),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_show_rows_rate_and_eta() {
        let line = progress_line(&IngestProgress {
            rows: 20_000,
            total_rows: 100_000,
            elapsed: Duration::from_secs(2),
        });
        assert_eq!(
            line,
            "ingest: 20,000/100,000 rows (20.0%), 10,000 rows/s, ETA 8 s"
        );
    }

    #[test]
    fn peak_rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_bytes().is_some_and(|bytes| bytes > 0));
        }
    }
}
