//! `embedstore-bench`: the measurement behind issue #2's speed targets.
//!
//! It runs in a throw-away database cloned from the migrated template
//! ([`TestDatabase`], found through `TEST_DATABASE_URL`, else `DATABASE_URL`), so it never
//! touches real data, and it reports ratios against baselines measured in the same run on
//! the same machine; absolute numbers are informative only.
//!
//! 1. **Insert**: `Embeddings::insert` (validation and binary COPY) against `psql`'s `\copy` of
//!    the same rows in text format. Target: library rows/s >= 0.5 x psql rows/s.
//! 2. **Search**: `UnitOfWork::search` against a hand-written pgvector SELECT (key, metadata,
//!    distance) sent through diesel on a plain connection. Target: library p50 <= 1.10 x
//!    hand-written p50, and both return the same ids in the same order for every query.
//!
//! ```text
//! cargo run --release --features bench --bin embedstore-bench -- [--rows 100000] [--dim 384]
//!     [--queries 500] [--k 10] [--batch-size N] [--rounds 2] [--warmup 10]
//! ```
//!
//! `embedstore-bench ann [--help]` runs issue 5's search benchmark instead (see [`ann`]).
//!
//! Progress goes to stderr; the table and, last, one JSON line with every figure go to
//! stdout. The exit code is 0 whether or not a target is met, 1 when the two search paths
//! disagree, 2 on any error.
//!
//! `embedstore-bench ingest [--rows 200000] [--dim 384] …` runs issue 6's file-ingest
//! benchmark instead (see the `ingest` module).

mod ann;
mod args;
mod copy_text;
mod data;
mod ingest;
mod insert;
mod psql;
mod report;
mod search;
mod stats;

use std::process::ExitCode;
use std::time::Instant;

use embedstore::testing::TestDatabase;

use crate::args::{Args, ArgsError, USAGE};
use crate::report::Summary;

/// The benchmark's result type: any error ends the run.
pub type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    let mut arguments = std::env::args().skip(1).peekable();
    if arguments.peek().map(String::as_str) == Some("ann") {
        return ann::main(arguments.skip(1));
    }
    if arguments.peek().map(String::as_str) == Some(ingest::MODE) {
        return ingest::main(arguments.skip(1));
    }
    let args = match Args::parse(arguments) {
        Ok(args) => args,
        Err(ArgsError::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("error: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(summary) if summary.results_agree() => ExitCode::SUCCESS,
        Ok(_) => {
            eprintln!("error: the library and the hand-written SQL returned different results");
            ExitCode::from(1)
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

/// Generates the data, measures, prints the report, and drops the database on the way out.
fn run(args: &Args) -> BenchResult<Summary> {
    let started = Instant::now();
    let dimension = usize::try_from(args.dim)?;
    eprintln!(
        "generating {} rows and {} queries of {dimension} dimensions …",
        args.rows, args.queries
    );
    let items = data::embeddings(args.rows, dimension);
    let queries = data::queries(args.queries, dimension);
    eprintln!("creating the benchmark database …");
    let db = TestDatabase::new();
    eprintln!("benchmark database: {}", db.name());
    let insert = insert::measure(&db, args, &items)?;
    drop(items);
    eprintln!(
        "searching ({} warm-up + {} measured query pairs) …",
        args.warmup, args.queries
    );
    let search = search::measure(
        &db,
        &insert.search_collection,
        &queries,
        args.k,
        args.warmup,
    )?;
    drop(db);
    let summary = Summary::new(args, &insert, &search, started.elapsed());
    report::print_table(args, &insert, &search, &summary);
    println!("{}", summary.json()?);
    Ok(summary)
}
