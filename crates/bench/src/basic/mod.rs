//! The default mode, issue 2's insert and search: `Embeddings::insert` against `psql`'s text
//! `\copy` of the same rows ([`insert`]), `UnitOfWork::search` against the same SELECT sent
//! through diesel ([`search`]), over flat random rows ([`data`]).

mod data;
mod insert;
mod report;
mod search;

use std::process::ExitCode;
use std::time::Instant;

use embedstore_test_support::TestDatabase;

use self::report::Summary;
use crate::BenchResult;
use crate::args::Args;

/// Runs the default mode, insert and search.
pub fn main(args: &Args) -> ExitCode {
    match run(args) {
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
