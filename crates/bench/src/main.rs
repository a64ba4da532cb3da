//! `embedstore-bench`: the benchmarks behind the issues' speed targets, each a ratio against an
//! independent baseline measured in the same run, in a throw-away database cloned from the
//! migrated template. The default mode is issue 2's insert and search; the others are
//! subcommands (`ann`, `ingest`, `hot`, `quant`, `hybrid`, `replicas`, `citus`). How to run them, their methods and
//! targets: `docs/benchmark.md`; figures: `BENCHMARKS.md`.

// The bottom layer, shared by every mode and importing none: arguments, data, ground truth,
// statistics, report formatting, the independent baselines, the calls into the library.
mod args;
mod baseline;
mod library;
mod phases;
mod report;
mod scratch;
mod stats;
mod truth;
// The modes: each imports the bottom layer and its own files only.
mod ann;
mod basic;
mod citus;
mod hot;
mod hybrid;
mod ingest;
mod quant;
mod replicas;
// The top: the command line that names every mode.
mod cli;

use crate::cli::{Cli, Mode};
use std::process::ExitCode;

/// The benchmark's result type: any error ends the run.
pub type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    // Help goes to stdout with exit code 0, a refused command line to stderr with 2.
    let cli = Cli::try_parse_checked(std::env::args_os()).unwrap_or_else(|error| error.exit());
    let outcome = match cli.mode {
        Some(Mode::Ann(args)) => ann::main(&args),
        Some(Mode::Ingest(args)) => ingest::main(&args),
        Some(Mode::Hot(args)) => hot::main(&args),
        Some(Mode::Quant(args)) => quant::main(&args),
        Some(Mode::Hybrid(args)) => hybrid::main(&args),
        Some(Mode::Replicas(args)) => replicas::main(&args),
        Some(Mode::Citus(args)) => citus::main(&args),
        None => basic::main(&cli.args),
    };
    // Each mode's `main`: `Some(line)` when the run found a failure (exit 1), an error when it
    // could not run (exit 2).
    match outcome {
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some(failure)) => {
            eprintln!("{failure}");
            ExitCode::from(1)
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}
