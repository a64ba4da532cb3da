//! `embedstore insert`: JSONL records that carry their vectors into a collection, all of them
//! in one transaction.
//!
//! This is the library's ingest with [`IngestOptions::atomic`] over a [`JsonlSource`]: the
//! input is streamed in `--batch-size` chunks, each checked and written inside the one
//! transaction; once a problem is found the rest is still checked but not written, and the
//! transaction rolls back, so one run reports every bad line and a refused input leaves the
//! collection as it was. This works for stdin too (no second read). Unknown fields are refused
//! by name; NaN/Infinity tokens and other JSON errors name the line and the field (e.g.
//! `line 3: vector[1]: NaN is not valid JSON …`).
//!
//! In upsert mode an `external_id` repeated inside one chunk keeps its last occurrence (the
//! earlier ones are counted as dropped); repeated across chunks, the later chunk updates the
//! row the earlier one wrote, with the same end state.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::time::Instant;

use embedstore::{
    Ingest, IngestError, IngestOptions, IngestSummary, JsonlSource, RowProblem, Store, WriteMode,
};

use crate::error::CliError;
use crate::output::{duration, per_second, plural, thousands};

/// Arguments of `embedstore insert`.
#[derive(Debug, clap::Args)]
pub struct InsertArgs {
    /// The collection to write to (or an alias of it).
    pub collection: String,
    /// JSONL file, one record per line: {"external_id": "…", "vector": […], "content": "…",
    /// "metadata": {…}}; `-` or nothing reads stdin.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Update records whose external_id exists instead of failing (a repeated external_id
    /// in the input: the last one wins).
    #[arg(long)]
    pub upsert: bool,
    /// Records per write statement; all of them still commit in one transaction.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub batch_size: u32,
}

/// Runs `embedstore insert`.
///
/// # Errors
/// Unreadable input, bad lines (all of them, by line number), an unknown collection, or a
/// failed write; nothing is written in any of these cases.
pub fn run(store: &Store, args: &InsertArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let started = Instant::now();
    // A file can be read again: a retryable failure (lost connection, serialization failure)
    // runs the whole transaction again. Stdin cannot, so it gets one attempt.
    let rereadable = args
        .file
        .as_ref()
        .is_some_and(|path| path.as_os_str() != "-");
    let policy = embedstore::RetryPolicy {
        max_attempts: if rereadable { 5 } else { 1 },
        ..embedstore::RetryPolicy::default()
    };
    let mut source = String::new();
    let summary = policy.run(
        |attempt| {
            if attempt > 1 {
                eprintln!("retrying (attempt {attempt}) after a retryable failure");
            }
            let (name, input) = open_input(args.file.as_ref())?;
            source = name;
            let options = IngestOptions {
                mode: if args.upsert {
                    WriteMode::Upsert
                } else {
                    WriteMode::Insert
                },
                batch_size: usize::try_from(args.batch_size).unwrap_or(usize::MAX),
                atomic: true,
                synchronous_commit: true,
                ..IngestOptions::default()
            };
            let mut records = JsonlSource::from_reader(input, &source);
            Ingest::new(store, &args.collection, options)
                .run(&mut records, &mut ())
                .map_err(|error| insert_error(error, &source))
        },
        |error| matches!(error, CliError::Store(error) if error.is_retryable()),
    )?;
    report(out, args, &source, &summary, started)
}

/// Bad records become one problem line each, by input line; the rest as the ingest says.
fn insert_error(error: IngestError, source: &str) -> CliError {
    match error {
        IngestError::Rejected { problems, .. } => {
            let mut lines: Vec<u64> = problems.iter().map(line_of).collect();
            lines.dedup();
            CliError::Problems {
                summary: format!(
                    "{} in {source}; nothing was written",
                    plural(lines.len() as u64, "bad line", "bad lines")
                ),
                problems: problems.iter().map(line_problem).collect(),
            }
        }
        other => crate::ingest::cli_error(other),
    }
}

/// The input line of a problem (every JSONL row has one).
fn line_of(problem: &RowProblem) -> u64 {
    problem.line.unwrap_or(problem.row + 1)
}

/// `line 3: vector[1]: value is NaN`.
fn line_problem(problem: &RowProblem) -> String {
    let line = line_of(problem);
    if problem.field.is_empty() {
        format!("line {line}: {}", problem.reason)
    } else {
        format!("line {line}: {}: {}", problem.field, problem.reason)
    }
}

fn report(
    out: &mut dyn Write,
    args: &InsertArgs,
    source: &str,
    summary: &IngestSummary,
    started: Instant,
) -> Result<(), CliError> {
    let elapsed = started.elapsed();
    if summary.rows == 0 {
        writeln!(out, "no records in {source}; nothing was written")?;
        return Ok(());
    }
    let written = summary.inserted + summary.updated + summary.unchanged;
    writeln!(
        out,
        "{} {} into {:?} from {source} in one transaction, {} ({} rows/s)",
        if args.upsert { "upserted" } else { "inserted" },
        plural(written, "row", "rows"),
        args.collection,
        duration(elapsed),
        per_second(written, elapsed),
    )?;
    writeln!(
        out,
        "  received {}, inserted {}, updated {}, unchanged {}, duplicates dropped {}",
        thousands(summary.rows),
        thousands(summary.inserted),
        thousands(summary.updated),
        thousands(summary.unchanged),
        thousands(summary.duplicates_dropped),
    )?;
    Ok(())
}

/// Opens the input named on the command line (stdin for `-` or none); returns a name for
/// messages and a buffered reader.
fn open_input(file: Option<&PathBuf>) -> Result<(String, Box<dyn BufRead + Send>), CliError> {
    match file {
        Some(path) if path.as_os_str() != "-" => {
            let name = path.display().to_string();
            let reader = std::fs::File::open(path)
                .map_err(|error| CliError::io(format!("cannot open {name}"), error))?;
            Ok((name, Box::new(BufReader::with_capacity(1 << 20, reader))))
        }
        _ => Ok((
            "stdin".to_owned(),
            Box::new(BufReader::new(std::io::stdin())),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_printed_by_input_line() {
        let problem = |row, line, field: &str| RowProblem {
            row,
            line: Some(line),
            field: field.to_owned(),
            reason: "bad".to_owned(),
        };
        let error = insert_error(
            IngestError::Rejected {
                source: "in.jsonl".to_owned(),
                problems: vec![
                    problem(1, 3, "vector[1]"),
                    problem(1, 3, ""),
                    problem(4, 9, "id"),
                ],
            },
            "in.jsonl",
        );
        let CliError::Problems { summary, problems } = error else {
            panic!("{error:?}");
        };
        assert_eq!(summary, "2 bad lines in in.jsonl; nothing was written");
        assert_eq!(
            problems,
            ["line 3: vector[1]: bad", "line 3: bad", "line 9: id: bad"]
        );
    }
}
