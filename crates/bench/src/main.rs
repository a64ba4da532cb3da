//! `embedstore-bench`: the measurement behind issue #2's speed targets.
//!
//! It runs in a throw-away database cloned from the migrated template
//! ([`TestDatabase`](embedstore_test_support::TestDatabase), found through `TEST_DATABASE_URL`, else `DATABASE_URL`), so it never
//! touches real data, and it reports ratios against baselines measured in the same run on
//! the same machine; absolute numbers are informative only.
//!
//! 1. **Insert**: `Embeddings::insert` (validation and binary COPY) against `psql`'s `\copy` of
//!    the same rows in text format. Target: library rows/s >= 0.5 x psql rows/s.
//! 2. **Search**: `UnitOfWork::search` against a hand-written pgvector SELECT (key, metadata,
//!    distance) sent through diesel on a plain connection. Target: library p50 <= 1.10 x
//!    hand-written p50, and both return the same ids in the same order for every query.
//!
//! Progress goes to stderr; the table and, last, one JSON line with every figure go to
//! stdout. The exit code is 0 whether or not a target is met, 1 when the two search paths
//! disagree, 2 on any error (including a refused command line).
//!
//! More benchmarks are subcommands with options of their own:
//! `embedstore-bench ann` runs issue 5's search benchmark (see the `ann` module),
//! `embedstore-bench ingest` issue 6's file-ingest benchmark (see the `ingest` module),
//! `embedstore-bench hot` issue 12's hot path under concurrency (see the `hot` module),
//! `embedstore-bench quant` issue 13's quantized indexes and `embedstore-bench hybrid` its
//! known-item search on real text (see the `quant` and `hybrid` modules).
//!
//! # Running it
//!
//! `scripts/dev bench [ARGS]` sets up the database, builds the release `embedstore` and
//! `embedstore-bench` binaries and runs the benchmark with `ARGS`. By hand, with
//! `TEST_DATABASE_URL` or `DATABASE_URL` set (`eval "$(scripts/dev env)"`):
//!
//! ```text
//! cargo run --release -p embedstore-bench -- [--rows 100000] [--dim 384] [--queries 500]
//!     [--k 10] [--batch-size N] [--rounds 2] [--warmup 10]
//! cargo run --release -p embedstore-bench -- ann [--rows 100000] [--clusters 100] …
//! cargo build --release -p embedstore-cli    # `ingest` runs the `embedstore` binary next to it
//! cargo run --release -p embedstore-bench -- ingest [--rows 200000] [--naive-sample 2000] …
//! cargo run --release -p embedstore-bench -- hot [--rows 5000 --queries 50] …
//! cargo run --release -p embedstore-bench -- hybrid [--dry-run] [--text-config simple] …
//! cargo run --release -p embedstore-bench -- [ann | ingest | hot] --help    # every option
//! ```

// The bottom layer, shared by every mode and importing none: arguments, data, ground truth,
// statistics, report formatting, the independent baselines, the calls into the library.
mod args;
mod baseline;
mod data;
mod library;
mod report;
mod stats;
mod truth;
// The modes: each imports the bottom layer and its own files only.
mod ann;
mod basic;
mod hot;
mod hybrid;
mod ingest;
mod quant;
// The top: the command line that names every mode.
mod cli;

use crate::cli::{Cli, Mode};
use std::process::ExitCode;

/// The benchmark's result type: any error ends the run.
pub type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    // Help goes to stdout with exit code 0, a refused command line to stderr with 2.
    let cli = Cli::try_parse_checked(std::env::args_os()).unwrap_or_else(|error| error.exit());
    match cli.mode {
        Some(Mode::Ann(args)) => ann::main(&args),
        Some(Mode::Ingest(args)) => ingest::main(&args),
        Some(Mode::Hot(args)) => hot::main(&args),
        Some(Mode::Quant(args)) => quant::main(&args),
        Some(Mode::Hybrid(args)) => hybrid::main(&args),
        None => basic::main(&cli.args),
    }
}
