//! `embedstore backfill FROM TO --command CMD`: re-embed a collection into another with an
//! external embedder command, resumably, catching up writes made meanwhile.
//!
//! The command runs once per batch (`sh -c CMD`): it reads the batch's records on stdin, one
//! JSON object per line (`{"external_id", "content", "metadata"}`), until end of input, and
//! writes one line per record with its vector (`{"vector": [...]}`, optionally with the
//! record's `external_id`, which is then checked), in the same order. Its stderr is the user's.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use embedstore::{BackfillItem, BackfillOptions, BackfillProgress, EmbedResult, Store};

use crate::error::CliError;

/// Arguments of `embedstore backfill`.
#[derive(Debug, clap::Args)]
pub struct BackfillArgs {
    /// The collection to copy (or an alias of it).
    pub from: String,
    /// The collection to fill (or an alias of it), created beforehand with the new model's
    /// dimension and metric.
    pub to: String,
    /// The embedder, run with `sh -c` once per batch: JSONL records on stdin, one
    /// `{"vector": [...]}` line per record on stdout, in order.
    #[arg(long, value_name = "CMD")]
    pub command: String,
    /// Records per embedder run and per write.
    #[arg(long, default_value_t = embedstore::DEFAULT_BACKFILL_BATCH as u32,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_size: u32,
    /// Most passes over FROM (the first copies, the next catch up writes made meanwhile).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_passes: u32,
    /// Progress display: a bar on a terminal, lines otherwise (auto), or none.
    #[arg(long, value_parser = ["auto", "bar", "lines", "off"], default_value = "auto")]
    pub progress: String,
}

/// Runs `embedstore backfill`.
///
/// # Errors
/// Unknown collections, an embedder command that fails or answers badly, vectors that do not
/// fit TO, or a failed write; what was written before stays, and running again resumes.
pub fn run(store: &Store, args: &BackfillArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let options = BackfillOptions::default()
        .batch_size(usize::try_from(args.batch_size).unwrap_or(embedstore::DEFAULT_BACKFILL_BATCH))
        .max_passes(args.max_passes);
    let bar = match args.progress.as_str() {
        "off" => None,
        "bar" => Some(true),
        "lines" => Some(false),
        _ => Some(std::io::stderr().is_terminal()),
    };
    let display = (bar == Some(true)).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        let style = indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] [{bar:30}] {pos}/{len} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style.progress_chars("#>-"));
        bar
    });
    let started = Instant::now();
    let mut last_line = Duration::ZERO;
    let mut progress = |report: &BackfillProgress| {
        if let Some(bar) = &display {
            bar.set_length(report.total.max(report.scanned));
            bar.set_position(report.scanned);
            bar.set_message(format!("pass {}, {} embedded", report.pass, report.written));
        } else if bar.is_some() && started.elapsed() >= last_line + Duration::from_secs(2) {
            last_line = started.elapsed();
            let _ = writeln!(
                std::io::stderr().lock(),
                "pass {}: {}/{} rows read, {} embedded",
                report.pass,
                report.scanned,
                report.total,
                report.written
            );
        }
    };
    let mut embed = |items: &[BackfillItem]| run_embedder(&args.command, items);
    let outcome = store.backfill(&args.from, &args.to, &options, &mut embed, &mut progress);
    if let Some(bar) = display {
        bar.finish_and_clear();
    }
    let summary = outcome?;
    writeln!(
        out,
        "backfilled {:?} from {:?}: {} rows embedded ({} new, {} updated), {} deleted, {} pass(es), {}",
        args.to,
        args.from,
        summary.embedded,
        summary.inserted,
        summary.updated,
        summary.deleted,
        summary.passes,
        if summary.converged {
            "in step with the source"
        } else {
            "NOT in step with the source: writes kept coming; run it again"
        }
    )?;
    let rate = summary
        .rows_per_second()
        .map_or_else(|| "-".to_owned(), |rate| format!("{rate:.0}"));
    writeln!(
        out,
        "{:.1} s, of which {:.1} s in the embedder; {rate} rows/s excluding the embedder",
        summary.seconds, summary.embed_seconds
    )?;
    writeln!(
        out,
        "cut over with `embedstore alias set ALIAS {}`; the old collection stays until dropped",
        args.to
    )?;
    Ok(())
}

/// Runs the embedder command on one batch: records in, one vector per record out.
fn run_embedder(command: &str, items: &[BackfillItem]) -> EmbedResult {
    let mut input = Vec::new();
    for item in items {
        serde_json::to_writer(&mut input, item)?;
        input.push(b'\n');
    }
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot start the embedder command: {error}"))?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or("the embedder's stdin is not a pipe")?;
    // Written on a thread of its own: a command that answers line by line would otherwise
    // block on a full stdout pipe while this one blocks on a full stdin pipe.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let stdout = child
        .stdout
        .take()
        .ok_or("the embedder's stdout is not a pipe")?;
    let mut vectors = Vec::with_capacity(items.len());
    for (index, line) in BufReader::new(stdout).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let answer: Answer = serde_json::from_str(&line).map_err(|error| {
            format!(
                "output line {}: not {{\"vector\": [...]}}: {error}",
                index + 1
            )
        })?;
        let position = vectors.len();
        if let (Some(id), Some(item)) = (&answer.external_id, items.get(position)) {
            if *id != item.external_id {
                return Err(format!(
                    "output line {}: external_id {id:?}, expected {:?} (answer in input order)",
                    index + 1,
                    item.external_id
                )
                .into());
            }
        }
        vectors.push(answer.vector);
    }
    let status = child.wait()?;
    // A command that exits before reading all input breaks the pipe: its status says more.
    let written = writer
        .join()
        .map_err(|_| "the embedder's input writer panicked")?;
    if !status.success() {
        return Err(format!("the embedder command failed ({status})").into());
    }
    written.map_err(|error| format!("writing to the embedder command: {error}"))?;
    Ok(vectors)
}

/// One line of the embedder's output.
#[derive(serde::Deserialize)]
struct Answer {
    vector: Vec<f32>,
    #[serde(default)]
    external_id: Option<String>,
}
