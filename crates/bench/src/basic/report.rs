//! The default mode's report: the insert rounds and the search latencies against their
//! baselines, with issue 2's two targets.

use super::insert::InsertOutcome;
use super::search::SearchOutcome;
use crate::args::Args;
use crate::report::{Report, Table, round3};
use crate::stats::{rows_per_second, to_ms};
use serde_json::json;

/// Issue #2: the library inserts at least half as fast as `psql \copy`.
pub const INSERT_RATIO_TARGET: f64 = 0.5;
/// Issue #2: the library's median search is at most 10 % slower than the same SQL by hand.
pub const SEARCH_RATIO_TARGET: f64 = 1.10;

/// Every figure of a run: rates and ratios from the raw measurements.
pub fn report(args: &Args, insert: &InsertOutcome, search: &SearchOutcome) -> Report {
    let library_rate = rows_per_second(args.rows, insert.best_library);
    let psql_rate = rows_per_second(args.rows, insert.best_psql);
    let insert_ratio = library_rate / psql_rate;
    let search_ratio = search.library.p50_ms / search.sql.p50_ms;
    let title = format!(
        "{} rows x {} dimensions (cosine), {} queries, k = {}; insert: library {}, psql one \
         \\copy (text format); search: top-k exact scan, {} warm-up + {} measured query pairs, \
         interleaved",
        args.rows,
        args.dim,
        args.queries,
        args.k,
        args.insert_mode(),
        args.warmup,
        args.queries
    );
    let mut report = Report::new("default", title);
    report
        .figure("copy_file_mb", round3(insert.copy_file_bytes as f64 / 1e6))
        .figure("checkpointed", insert.checkpointed)
        .figure("batch_size", args.batch_size)
        .figure("validation_ms", round3(to_ms(insert.validation)))
        .figure(
            "validation_pct_of_insert",
            round3(100.0 * insert.validation.as_secs_f64() / insert.best_library.as_secs_f64()),
        )
        .figure("result_mismatches", search.mismatches)
        .figure("compared_query_pairs", search.compared);
    let mut rounds = Table::new("insert rounds", "round first library_ms psql_ms");
    for (index, round) in insert.rounds.iter().enumerate() {
        let first = if round.library_first {
            "library"
        } else {
            "psql"
        };
        let (library, psql) = (round3(to_ms(round.library)), round3(to_ms(round.psql)));
        let number = (index + 1).to_string();
        rounds.record(
            json!({"round": number, "first": first, "library_ms": library, "psql_ms": psql}),
        );
    }
    let mut paths = Table::new("best", "path rows_per_s ms p50_ms p95_ms mean_ms");
    for (path, rate, best) in [
        ("library insert", library_rate, insert.best_library),
        ("psql \\copy", psql_rate, insert.best_psql),
    ] {
        paths.record(json!({"path": path, "rows_per_s": rate.round(), "ms": round3(to_ms(best))}));
    }
    for (path, latency) in [
        ("library search", search.library),
        ("hand-written SQL", search.sql),
    ] {
        let (p50, p95, mean) = (latency.p50_ms, latency.p95_ms, latency.mean_ms);
        let [p50_ms, p95_ms, mean_ms] = [p50, p95, mean].map(round3);
        paths.record(json!({"path": path, "p50_ms": p50_ms, "p95_ms": p95_ms, "mean_ms": mean_ms}));
    }
    report.table(rounds).table(paths);
    report.target(
        "insert rows/s library / psql",
        round3(insert_ratio),
        &format!(">= {INSERT_RATIO_TARGET:.2}"),
        Some(insert_ratio >= INSERT_RATIO_TARGET),
    );
    report.target(
        "search p50 library / SQL",
        round3(search_ratio),
        &format!("<= {SEARCH_RATIO_TARGET:.2}"),
        Some(search_ratio <= SEARCH_RATIO_TARGET),
    );
    report.plan("the library's statement", search.plan.clone());
    report
}
