//! `embedstore-bench ann`: issue 5's search benchmark.
//! Method and targets: `docs/benchmark.md`.

pub mod args;

mod report;
mod sql;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use embedstore::Collection;
use embedstore_test_support::TestDatabase;
use pgvector::sql_types::Vector as VectorSql;

use crate::BenchResult;
use crate::library::{self, Library};
use crate::report::round3;
use crate::stats::to_ms;
use crate::truth;

use self::args::AnnArgs;
use self::report::{Batch, Build, Filtered, SideFigures, Unfiltered};
use self::sql::{HandWritten, IterativeScan};
use crate::phases::{Searcher, alternate_best_of, interleaved};
use embedstore_test_support::dataset::{Dataset, Selectivity, row_of};

/// Rows per library write while loading.
const LOAD_CHUNK: usize = 10_000;
/// Queries whose brute-force truth is checked against an exact SQL scan.
const TRUTH_CHECKS: usize = 5;
/// The `ef_search` values of the unfiltered phases.
const EF_SEARCH: [u32; 2] = [40, 100];
/// pgvector's default `ef_search`, which the filtered SQL baselines keep.
const DEFAULT_EF_SEARCH: u32 = 40;

/// Runs the `ann` mode.
pub fn main(args: &AnnArgs) -> BenchResult<Option<String>> {
    let failure = "error: embedstore and the hand-written SQL (or batch and single searches) \
                   returned different ids at the same settings";
    Ok((!run(args)?).then(|| failure.to_owned()))
}

/// Generates, loads, builds, measures, reports; the database is dropped on the way out.
fn run(args: &AnnArgs) -> BenchResult<bool> {
    let started = Instant::now();
    let k = usize::try_from(args.data.k)?;
    let (data, truth_all) = truth::generate(&args.data, args.data.queries.max(args.batch))?;
    let truth_ten = truth::nearest(&data, k, Some(Selectivity::TenPercent));
    let truth_one = truth::nearest(&data, k, Some(Selectivity::OnePercent));

    eprintln!("creating the benchmark database …");
    let db = TestDatabase::try_new()?;
    let url = db.url().expose_secret();
    let batches = (0..data.rows()).step_by(LOAD_CHUNK);
    let batches = batches.map(|start| data.items(start, start + LOAD_CHUNK));
    let (collection, load) = library::create_and_load(
        db.store(),
        "ann",
        args.data.dim,
        "embedstore-bench",
        batches,
    )?;
    library::analyze(url, &collection, true)?;
    let mut admin = PgConnection::establish(url)?;
    check_truth(&mut admin, &collection, &data, &truth_all, k)?;

    let library = Library::new(db.store(), &collection);
    let build = build_phase(&library, &mut admin, args.build_rounds)?;
    eprintln!("creating payload indexes on lang and shard …");
    library.create_payload_indexes()?;
    library::analyze(url, &collection, false)?;

    let mut plain = HandWritten::connect(&db, &collection, DEFAULT_EF_SEARCH, IterativeScan::Off)?;
    let mut relaxed = HandWritten::connect(
        &db,
        &collection,
        DEFAULT_EF_SEARCH,
        IterativeScan::RelaxedOrder,
    )?;
    let mut plans = plans(&library, &mut plain, &mut relaxed, &data, args)?;
    let mut unfiltered = Vec::new();
    for ef_search in EF_SEARCH {
        eprintln!("unfiltered, ef_search {ef_search} …");
        unfiltered.push(unfiltered_phase(
            &library, &mut plain, &data, &truth_all, args, ef_search,
        )?);
    }
    plain.set_ef_search(DEFAULT_EF_SEARCH)?;
    let round_trip = round_trip_p50(&mut plain, args.data.queries)?;
    let mut filtered = Vec::new();
    for (selectivity, truth) in [
        (Selectivity::TenPercent, &truth_ten),
        (Selectivity::OnePercent, &truth_one),
    ] {
        eprintln!("filtered, {} …", selectivity.label());
        filtered.push(filtered_phase(
            &library,
            [&mut plain, &mut relaxed],
            &data,
            truth,
            args,
            selectivity,
        )?);
    }
    eprintln!("batch of {} against single searches …", args.batch);
    let batch = batch_phase(&library, &data, args)?;
    plans.retain(|(_, plan)| !plan.is_empty());
    drop(plain);
    drop(relaxed);
    drop(admin);
    drop(db);
    let agree = unfiltered.iter().all(|phase| phase.id_mismatches == 0) && batch.id_mismatches == 0;
    let mut report = report::report(args, &build, &unfiltered, &filtered, &batch);
    report
        .figure("load_s", round3(load.as_secs_f64()))
        .figure("round_trip_p50_ms", round3(round_trip))
        .figure("elapsed_s", round3(started.elapsed().as_secs_f64()));
    for (label, plan) in plans {
        report.plan(label, plan);
    }
    report.print();
    Ok(agree)
}

#[derive(QueryableByName)]
struct ExternalId {
    #[diesel(sql_type = Text)]
    external_id: String,
}

/// Checks the brute force against the server's own exact scan for the first queries: the
/// uncast `embedding <=> $1` cannot use the expression index, so the server compares every row.
fn check_truth(
    conn: &mut PgConnection,
    collection: &Collection,
    data: &Dataset,
    truth: &[Vec<usize>],
    k: usize,
) -> BenchResult<()> {
    for (query, expected) in data.queries.iter().zip(truth).take(TRUTH_CHECKS) {
        let rows: Vec<ExternalId> = diesel::sql_query(
            "SELECT external_id FROM embeddings WHERE collection_id = $2 \
             ORDER BY embedding <=> $1 LIMIT $3",
        )
        .bind::<VectorSql, _>(pgvector::Vector::from(query.clone()))
        .bind::<Integer, _>(collection.id.0)
        .bind::<BigInt, _>(i64::try_from(k)?)
        .load(conn)?;
        let found: Vec<usize> = rows
            .iter()
            .filter_map(|row| row_of(&row.external_id))
            .collect();
        // Distances that tie to the last float bit may order differently: allow one swap.
        let recall = truth::recall(&found, expected, k);
        if recall < 1.0 - 1.0 / k as f64 {
            return Err(format!(
                "brute force and the server's exact scan disagree (recall {recall:.2}): \
                 the ground truth would be wrong"
            )
            .into());
        }
    }
    Ok(())
}

/// Builds the index `rounds` times with progress on and `rounds` times off, alternating, with a
/// `CHECKPOINT` before each build; the last build is kept.
fn build_phase(
    library: &Library<'_>,
    admin: &mut PgConnection,
    rounds: usize,
) -> BenchResult<Build> {
    let mut built = false;
    let mut progress_reports = 0;
    let (on, off) = alternate_best_of(rounds, |with_progress| {
        if built {
            library.drop_index()?;
        }
        // Without superuser rights the builds simply share the background writer's noise.
        let _ = diesel::sql_query("CHECKPOINT").execute(admin);
        eprintln!(
            "building HNSW, progress {} …",
            if with_progress { "on" } else { "off" }
        );
        let build = library.build_index(&crate::library::hnsw(16, 64, 1024), with_progress)?;
        built = true;
        if with_progress {
            progress_reports = build.reports;
        }
        eprintln!("  {:.2} s", build.elapsed.as_secs_f64());
        Ok(build.elapsed)
    })?;
    Ok(Build {
        rounds,
        progress_on_s: round3(on.as_secs_f64()),
        progress_off_s: round3(off.as_secs_f64()),
        progress_reports,
    })
}

/// The plans of the statements compared, for the report; errors when the hand-written SQL
/// would not use the index (the comparison would then flatter the library).
fn plans(
    library: &Library<'_>,
    plain: &mut HandWritten,
    relaxed: &mut HandWritten,
    data: &Dataset,
    args: &AnnArgs,
) -> BenchResult<Vec<(String, String)>> {
    let query = data.queries.first().ok_or("no queries")?;
    let value = Selectivity::OnePercent.value_text(data.filter_values[0]);
    let filter = Some((Selectivity::OnePercent, value.as_str()));
    let sql_plain = plain.explain(query, args.data.k, None)?;
    if !sql_plain.contains("Index Scan") {
        return Err(
            format!("the hand-written SQL does not use the HNSW index:\n{sql_plain}").into(),
        );
    }
    Ok(vec![
        (
            "embedstore, unfiltered, ef_search 40".to_owned(),
            library.explain(query, args.data.k, Some(DEFAULT_EF_SEARCH), None)?,
        ),
        ("hand-written SQL, unfiltered".to_owned(), sql_plain),
        (
            "embedstore, 1 % filter".to_owned(),
            library.explain(query, args.data.k, None, filter)?,
        ),
        (
            "hand-written SQL, 1 % filter (same plan with relaxed_order)".to_owned(),
            relaxed.explain(query, args.data.k, filter)?,
        ),
    ])
}

fn unfiltered_phase(
    library: &Library<'_>,
    sql: &mut HandWritten,
    data: &Dataset,
    truth: &[Vec<usize>],
    args: &AnnArgs,
    ef_search: u32,
) -> BenchResult<Unfiltered> {
    sql.set_ef_search(ef_search)?;
    let queries = &data.queries[..args.data.queries];
    let sides: Vec<Searcher<'_>> = vec![
        // embedstore
        Box::new(|query| {
            Ok(library
                .search(&queries[query], args.data.k, Some(ef_search), None)?
                .rows)
        }),
        // hand-written SQL
        Box::new(|query| sql.nearest(&queries[query], args.data.k, None)),
    ];
    let outcomes = interleaved(sides, args.data.queries, args.warmup, args.rounds)?;
    let k = usize::try_from(args.data.k)?;
    let (library_side, sql_side) = (&outcomes[0], &outcomes[1]);
    let ratio = library_side.latency.p50_ms / sql_side.latency.p50_ms;
    let id_mismatches = library_side.disagreements(sql_side);
    Ok(Unfiltered {
        ef_search,
        library: SideFigures::of(library_side, truth, k),
        sql: SideFigures::of(sql_side, truth, k),
        p50_ratio: round3(ratio),
        id_mismatches,
    })
}

fn filtered_phase(
    library: &Library<'_>,
    [plain, relaxed]: [&mut HandWritten; 2],
    data: &Dataset,
    truth: &[Vec<usize>],
    args: &AnnArgs,
    selectivity: Selectivity,
) -> BenchResult<Filtered> {
    let queries = &data.queries[..args.data.queries];
    let values: Vec<String> = data.filter_values[..args.data.queries]
        .iter()
        .map(|value| selectivity.value_text(*value))
        .collect();
    let paths = RefCell::new(vec![String::new(); args.data.queries]);
    let sides: Vec<Searcher<'_>> = vec![
        // embedstore
        Box::new(|query| {
            let filter = Some((selectivity, values[query].as_str()));
            let answer = library.search(&queries[query], args.data.k, None, filter)?;
            paths.borrow_mut()[query] = answer.path;
            Ok(answer.rows)
        }),
        // hand-written SQL under pgvector's defaults
        Box::new(|query| {
            let filter = Some((selectivity, values[query].as_str()));
            plain.nearest(&queries[query], args.data.k, filter)
        }),
        // hand-written SQL with relaxed_order
        Box::new(|query| {
            let filter = Some((selectivity, values[query].as_str()));
            relaxed.nearest(&queries[query], args.data.k, filter)
        }),
        // diagnostic: embedstore asked for relaxed_order (no target)
        Box::new(|query| {
            let filter = Some((selectivity, values[query].as_str()));
            Ok(library
                .search_relaxed(&queries[query], args.data.k, filter)?
                .rows)
        }),
    ];
    let outcomes = interleaved(sides, args.data.queries, args.warmup, args.rounds)?;
    let k = usize::try_from(args.data.k)?;
    let ratio = outcomes[0].latency.p50_ms / outcomes[2].latency.p50_ms;
    let mut path_counts = BTreeMap::new();
    for path in paths.into_inner() {
        *path_counts.entry(path).or_insert(0) += 1;
    }
    let matching: usize = data.filter_values[..args.data.queries]
        .iter()
        .map(|value| {
            (0..data.rows())
                .filter(|row| data.matches(*row, selectivity, *value))
                .count()
        })
        .sum();
    Ok(Filtered {
        selectivity: selectivity.label(),
        matching_rows_mean: round3(matching as f64 / args.data.queries.max(1) as f64),
        sides: [0, 1, 2, 3].map(|side| SideFigures::of(&outcomes[side], truth, k)),
        library_paths: path_counts.into_iter().collect(),
        p50_ratio_vs_relaxed: round3(ratio),
    })
}

/// The median of `count` `SELECT 1` round trips (after a few unmeasured ones), ms.
fn round_trip_p50(conn: &mut HandWritten, count: usize) -> BenchResult<f64> {
    for _ in 0..10 {
        conn.round_trip()?;
    }
    let samples = (0..count)
        .map(|_| conn.round_trip())
        .collect::<BenchResult<Vec<_>>>()?;
    Ok(crate::stats::Latency::of(&samples)
        .ok_or("no round trips measured")?
        .p50_ms)
}

/// `args.batch` single searches against one batch search of the same queries, alternating,
/// best of `args.rounds` (after one unmeasured pass of each).
fn batch_phase(library: &Library<'_>, data: &Dataset, args: &AnnArgs) -> BenchResult<Batch> {
    let queries = &data.queries[..args.batch];
    let mut singles: Vec<Vec<usize>> = Vec::new();
    let mut batched: Vec<Vec<usize>> = Vec::new();
    let mut run = |single: bool| -> BenchResult<Duration> {
        let started = Instant::now();
        if single {
            let mut answers = Vec::with_capacity(queries.len());
            for query in queries {
                answers.push(library.search(query, args.data.k, None, None)?.rows);
            }
            let elapsed = started.elapsed();
            singles = answers;
            Ok(elapsed)
        } else {
            let answers = library.search_batch(queries, args.data.k, None)?;
            let elapsed = started.elapsed();
            batched = answers.into_iter().map(|answer| answer.rows).collect();
            Ok(elapsed)
        }
    };
    run(true)?;
    run(false)?;
    let (single, batch) = alternate_best_of(args.rounds, run)?;
    let id_mismatches = singles
        .iter()
        .zip(&batched)
        .filter(|(single, batched)| single != batched)
        .count()
        + singles.len().abs_diff(batched.len());
    Ok(Batch {
        queries: queries.len(),
        single_ms: round3(to_ms(single)),
        batch_ms: round3(to_ms(batch)),
        id_mismatches,
    })
}
