//! `embedstore-bench ingest`: issue 6's file-ingest benchmark.
//! Method and targets: `docs/benchmark.md`.

pub mod args;
mod baseline;
mod checks;
mod cli;
mod files;
mod measure;
mod report;
mod rows;

use std::time::Instant;

use embedstore_test_support::TestDatabase;

use crate::BenchResult;
use crate::ingest::args::IngestArgs;

/// Runs the ingest benchmark.
pub fn main(args: &IngestArgs) -> BenchResult<Option<String>> {
    let failure = "error: a path stored or reported something other than the rows it was given";
    Ok((!run(args)?).then(|| failure.to_owned()))
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
