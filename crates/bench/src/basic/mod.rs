//! The default mode, issue 2's insert and search: `Embeddings::insert` against `psql`'s text
//! `\copy` of the same rows ([`insert`]), `UnitOfWork::search` against the same SELECT sent
//! through diesel ([`search`]), over flat random rows ([`data`]).

mod data;
mod insert;
mod report;
mod search;

use std::time::Instant;

use embedstore_test_support::TestDatabase;

use crate::BenchResult;
use crate::args::Args;
use crate::report::round3;

/// Runs the default mode, insert and search.
pub fn main(args: &Args) -> BenchResult<Option<String>> {
    let failure = "error: the library and the hand-written SQL returned different results";
    Ok((run(args)? > 0).then(|| failure.to_owned()))
}

/// Generates the data, measures, prints the report, and drops the database on the way out;
/// the number of queries whose results differed between the two search paths.
fn run(args: &Args) -> BenchResult<usize> {
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
    let mut report = report::report(args, &insert, &search);
    report.figure("elapsed_s", round3(started.elapsed().as_secs_f64()));
    report.print();
    Ok(search.mismatches)
}
