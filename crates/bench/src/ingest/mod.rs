//! `embedstore-bench ingest`: issue 6's file-ingest benchmark.
//!
//! Generates `--rows` rows (seeded, so every run writes the same data: vectors, a short
//! content string, `{"lang", "n", "tags"}` metadata) once as `.npy` + JSONL, and per round as a
//! binary and a text COPY stream, in a temporary directory removed at the end. Then, in a
//! throw-away database ([`TestDatabase`]), each path writes the same rows into a fresh
//! collection of its own:
//!
//! - `embedstore ingest … --mode insert`, `--mode upsert`, and the same upsert again (every
//!   row unchanged), run as a subprocess of the release `embedstore` binary and timed from
//!   spawn to exit here; the CLI's own figures are reported beside;
//! - the ceiling: the pre-encoded binary COPY stream sent by `psql` (no validation, encoding
//!   not timed), written by this benchmark's own encoder, not the library's;
//! - `psql`'s text `COPY … FROM STDIN` of the same rows;
//! - the naive pattern, one INSERT and one COMMIT per row, on the first `--naive-sample` rows.
//!
//! Targets (issue 6): insert >= 0.9x the ceiling, upsert >= 0.7x, unchanged re-run >= 1.0x,
//! insert >= 100x naive, peak RSS < 256 MiB (also for an `--rss-rows` file when asked). Every
//! path's rows are counted, and in the first round compared row by row with the ceiling's.
//! Exit code 0 whether or not a target is met, 1 when a check found a problem, 2 on an error.

pub mod args;
mod baseline;
mod checks;
mod cli;
mod files;
mod measure;
mod report;
mod rows;

use std::process::ExitCode;
use std::time::Instant;

use embedstore_test_support::TestDatabase;

use crate::BenchResult;
use crate::ingest::args::IngestArgs;

/// Runs the ingest benchmark.
pub fn main(args: &IngestArgs) -> ExitCode {
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(_) => {
            eprintln!(
                "error: a path stored or reported something other than the rows it was given"
            );
            ExitCode::from(1)
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

/// Measures, prints the report, and drops the database and the files on the way out; whether
/// every path stored exactly what it was given and reported it correctly.
fn run(args: &IngestArgs) -> BenchResult<bool> {
    let started = Instant::now();
    eprintln!("creating the benchmark database …");
    let db = TestDatabase::try_new()?;
    eprintln!("benchmark database: {}", db.name());
    let outcome = measure::measure(&db, args)?;
    drop(db);
    report::report(args, &outcome, started.elapsed()).print();
    Ok(outcome.problems.is_empty())
}
