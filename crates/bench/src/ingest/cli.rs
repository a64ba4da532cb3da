//! The thing measured: `embedstore ingest` run as a subprocess, timed from spawn to exit by
//! the benchmark itself, its peak RSS cross-checked by polling `/proc/<pid>/status`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::BenchResult;
use crate::ingest::files::IngestFiles;
use crate::stats::parse_vm_hwm;

/// How often `/proc/<pid>/status` is read while the CLI runs.
const RSS_POLL_INTERVAL: Duration = Duration::from_millis(10);
/// Lines of the CLI's stderr shown when it fails.
const STDERR_TAIL_LINES: usize = 20;

/// `embedstore ingest --mode …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Refuse ids that exist.
    Insert,
    /// Insert new ids, update changed rows, skip unchanged ones.
    Upsert,
}

impl Mode {
    /// The flag's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Insert => "insert",
            Mode::Upsert => "upsert",
        }
    }
}

/// The summary `embedstore ingest --format json` prints as its last stdout line (the fields
/// the benchmark uses; others are ignored).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct CliReport {
    /// Rows read from the files.
    pub rows: u64,
    /// Rows written as new.
    pub inserted: u64,
    /// Existing rows that changed.
    pub updated: u64,
    /// Existing rows left as they were.
    pub unchanged: u64,
    /// Rows refused.
    pub rejected: u64,
    /// Transactions.
    pub batches: u64,
    /// The CLI's own wall time.
    pub seconds: f64,
    /// The CLI's own rate.
    pub rows_per_second: f64,
    /// The CLI's own peak RSS (`None` where it cannot tell).
    pub peak_rss_bytes: Option<u64>,
}

/// One finished `embedstore ingest`.
#[derive(Debug, Clone, Copy)]
pub struct IngestRun {
    /// Spawn to exit, measured here.
    pub wall: Duration,
    /// What the CLI reported.
    pub report: CliReport,
    /// The highest `VmHWM` seen while polling (a lower bound of the true peak).
    pub polled_peak_rss_bytes: Option<u64>,
}

/// The `embedstore` binary: `explicit` when given, else the one next to this benchmark
/// (`target/release/embedstore` when run through `scripts/dev bench`).
pub fn locate(explicit: Option<&Path>) -> BenchResult<PathBuf> {
    let path = match explicit {
        Some(path) => path.to_owned(),
        None => std::env::current_exe()?.with_file_name("embedstore"),
    };
    if !path.is_file() {
        return Err(format!(
            "the embedstore binary is not at {}: build it with `cargo build --release --locked \
             -p embedstore-cli` (`scripts/dev bench` does; without `--release` for a debug \
             benchmark) or pass --embedstore PATH",
            path.display()
        )
        .into());
    }
    Ok(path)
}

/// The command line run, for the report (paths shortened to their file names).
pub fn describe(collection: &str, files: &IngestFiles, mode: Mode, batch: Option<usize>) -> String {
    let name = |path: &Path| {
        path.file_name()
            .map_or_else(String::new, |name| name.to_string_lossy().into_owned())
    };
    let mut line = format!(
        "embedstore ingest {collection} --vectors {} --records {} --mode {} --progress off \
         --format json",
        name(&files.vectors),
        name(&files.records),
        mode.as_str()
    );
    if let Some(size) = batch {
        line.push_str(&format!(" --batch-size {size}"));
    }
    line
}

/// Runs `embedstore ingest` on `files` into `collection` and waits for it. The database URL
pub fn run(
    binary: &Path,
    database_url: &str,
    collection: &str,
    files: &IngestFiles,
    mode: Mode,
    batch: Option<usize>,
) -> BenchResult<IngestRun> {
    let mut command = Command::new(binary);
    command
        .arg("ingest")
        .arg(collection)
        .arg("--vectors")
        .arg(&files.vectors)
        .arg("--records")
        .arg(&files.records)
        .args([
            "--mode",
            mode.as_str(),
            "--progress",
            "off",
            "--format",
            "json",
        ])
        .env("DATABASE_URL", database_url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(size) = batch {
        command.args(["--batch-size", &size.to_string()]);
    }
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|error| format!("cannot start {}: {error}", binary.display()))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let done = Arc::new(AtomicBool::new(false));
    let poller = poll_peak_rss(child.id(), Arc::clone(&done));
    let status = child.wait()?;
    let wall = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let polled_peak_rss_bytes = poller.join().map_err(|_| "the RSS poller panicked")?;
    let stdout = stdout.join().map_err(|_| "the stdout reader panicked")?;
    let stderr = stderr.join().map_err(|_| "the stderr reader panicked")?;
    if !status.success() {
        return Err(format!(
            "`{}` failed ({status}):\n{}",
            describe(collection, files, mode, batch),
            tail(&stderr, STDERR_TAIL_LINES)
        )
        .into());
    }
    let report = parse_report(&stdout)
        .map_err(|error| format!("`{}`: {error}", describe(collection, files, mode, batch)))?;
    Ok(IngestRun {
        wall,
        report,
        polled_peak_rss_bytes,
    })
}

/// The summary on the last non-empty line of `stdout`.
pub fn parse_report(stdout: &str) -> Result<CliReport, String> {
    let line = stdout
        .lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty())
        .ok_or("printed nothing on stdout; expected a JSON summary as its last line")?;
    serde_json::from_str(line).map_err(|error| {
        let shown: String = line.chars().take(200).collect();
        format!("the last stdout line is not the JSON summary ({error}): {shown}")
    })
}

/// Reads a child's pipe to the end on a thread of its own, so that neither pipe can fill up
/// and stall the child.
fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut text);
        }
        String::from_utf8_lossy(&text).into_owned()
    })
}

/// Polls the child's `VmHWM` until `done`; the highest value seen.
fn poll_peak_rss(pid: u32, done: Arc<AtomicBool>) -> JoinHandle<Option<u64>> {
    let path = format!("/proc/{pid}/status");
    thread::spawn(move || {
        let mut peak = None;
        while !done.load(Ordering::Relaxed) {
            // Once the child has exited (a zombie) its status has no Vm lines: nothing to add.
            if let Some(current) = std::fs::read_to_string(&path)
                .ok()
                .and_then(|status| parse_vm_hwm(&status))
            {
                peak = peak.max(Some(current));
            }
            thread::sleep(RSS_POLL_INTERVAL);
        }
        peak
    })
}

/// The last `count` lines of `text`.
fn tail(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUMMARY: &str = r#"{"rows":200000,"inserted":200000,"updated":0,"unchanged":0,"rejected":0,"batches":20,"seconds":4.5,"rows_per_second":44444.4,"peak_rss_bytes":52428800}"#;

    #[test]
    fn the_summary_is_read_from_the_last_line() {
        let stdout = format!("ingested 100000 rows\n{{\"not\": \"this\"}}\n{SUMMARY}\n");
        let report = parse_report(&stdout).unwrap();
        assert_eq!(report.rows, 200_000);
        assert_eq!(report.inserted, 200_000);
        assert_eq!(report.batches, 20);
        assert_eq!(report.seconds, 4.5);
        assert_eq!(report.peak_rss_bytes, Some(52_428_800));
    }

    #[test]
    fn trailing_blank_lines_and_spaces_are_ignored() {
        let stdout = format!("  {SUMMARY}  \r\n\n   \n");
        assert_eq!(parse_report(&stdout).unwrap().rows, 200_000);
    }

    #[test]
    fn extra_fields_are_ignored_and_a_null_rss_is_accepted() {
        let line = SUMMARY.replace("52428800", "null").replace(
            "{\"rows\"",
            "{\"collection\":\"x\",\"mode\":\"upsert\",\"rows\"",
        );
        let report = parse_report(&line).unwrap();
        assert_eq!(report.peak_rss_bytes, None);
        assert_eq!(report.rows, 200_000);
    }

    #[test]
    fn a_missing_field_is_named() {
        let line = SUMMARY.replace("\"unchanged\":0,", "");
        let error = parse_report(&line).unwrap_err();
        assert!(error.contains("missing field `unchanged`"), "{error}");
    }

    #[test]
    fn output_that_does_not_end_in_json_is_refused() {
        assert!(parse_report("").unwrap_err().contains("printed nothing"));
        assert!(
            parse_report("\n  \n")
                .unwrap_err()
                .contains("printed nothing")
        );
        let error = parse_report(&format!("{SUMMARY}\ndone: 200000 rows")).unwrap_err();
        assert!(error.contains("not the JSON summary"), "{error}");
        assert!(error.ends_with("done: 200000 rows"), "{error}");
        let wrong_type = SUMMARY.replace("\"rows\":200000", "\"rows\":\"200000\"");
        assert!(parse_report(&wrong_type).is_err());
        let negative = SUMMARY.replace("\"rejected\":0", "\"rejected\":-1");
        assert!(parse_report(&negative).is_err());
    }

    #[test]
    fn the_command_is_described_without_directories() {
        let files = IngestFiles {
            vectors: PathBuf::from("/tmp/x/rows.npy"),
            records: PathBuf::from("/tmp/x/rows.jsonl"),
            bytes: 0,
        };
        assert_eq!(
            describe("c1", &files, Mode::Upsert, Some(5000)),
            "embedstore ingest c1 --vectors rows.npy --records rows.jsonl --mode upsert \
             --progress off --format json --batch-size 5000"
        );
    }

    #[test]
    fn stderr_tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
