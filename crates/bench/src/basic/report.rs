//! The results: a table for people, then one JSON line for machines.

use std::time::Duration;

use serde::Serialize;

use super::insert::InsertOutcome;
use super::search::SearchOutcome;
use crate::args::Args;
use crate::report::{abbreviate_vectors, round3};
use crate::stats::{rows_per_second, to_ms};

/// Issue #2: the library inserts at least half as fast as `psql \copy`.
pub const INSERT_RATIO_TARGET: f64 = 0.5;
/// Issue #2: the library's median search is at most 10 % slower than the same SQL by hand.
pub const SEARCH_RATIO_TARGET: f64 = 1.10;

/// Every figure of a run; serialized as the final JSON line.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    rows: usize,
    dim: u32,
    queries: usize,
    k: u32,
    insert_mode: String,
    batch_size: Option<usize>,
    insert_rounds: usize,
    insert_lib_ms: f64,
    insert_psql_ms: f64,
    insert_lib_rows_per_s: f64,
    insert_psql_rows_per_s: f64,
    insert_ratio: f64,
    search_lib_p50_ms: f64,
    search_sql_p50_ms: f64,
    search_p50_ratio: f64,
    search_lib_p95_ms: f64,
    search_sql_p95_ms: f64,
    search_lib_mean_ms: f64,
    search_sql_mean_ms: f64,
    result_mismatches: usize,
    validation_ms: f64,
    validation_pct_of_insert: f64,
    insert_target_met: bool,
    search_target_met: bool,
    elapsed_s: f64,
}

impl Summary {
    /// Derives the ratios and verdicts from the raw measurements.
    pub fn new(
        args: &Args,
        insert: &InsertOutcome,
        search: &SearchOutcome,
        elapsed: Duration,
    ) -> Self {
        let library_rate = rows_per_second(args.rows, insert.best_library);
        let psql_rate = rows_per_second(args.rows, insert.best_psql);
        let insert_ratio = library_rate / psql_rate;
        let search_ratio = search.library.p50_ms / search.sql.p50_ms;
        Self {
            rows: args.rows,
            dim: args.dim,
            queries: args.queries,
            k: args.k,
            insert_mode: args.insert_mode(),
            batch_size: args.batch_size,
            insert_rounds: insert.rounds.len(),
            insert_lib_ms: round3(to_ms(insert.best_library)),
            insert_psql_ms: round3(to_ms(insert.best_psql)),
            insert_lib_rows_per_s: library_rate.round(),
            insert_psql_rows_per_s: psql_rate.round(),
            insert_ratio: round3(insert_ratio),
            search_lib_p50_ms: round3(search.library.p50_ms),
            search_sql_p50_ms: round3(search.sql.p50_ms),
            search_p50_ratio: round3(search_ratio),
            search_lib_p95_ms: round3(search.library.p95_ms),
            search_sql_p95_ms: round3(search.sql.p95_ms),
            search_lib_mean_ms: round3(search.library.mean_ms),
            search_sql_mean_ms: round3(search.sql.mean_ms),
            result_mismatches: search.mismatches,
            validation_ms: round3(to_ms(insert.validation)),
            validation_pct_of_insert: round3(
                100.0 * insert.validation.as_secs_f64() / insert.best_library.as_secs_f64(),
            ),
            insert_target_met: insert_ratio >= INSERT_RATIO_TARGET,
            search_target_met: search_ratio <= SEARCH_RATIO_TARGET,
            elapsed_s: round3(elapsed.as_secs_f64()),
        }
    }

    /// Whether the results of both search paths agreed on every query.
    pub fn results_agree(&self) -> bool {
        self.result_mismatches == 0
    }

    /// The one-line JSON form.
    ///
    /// # Errors
    /// Never in practice (every field serializes).
    pub fn json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// Prints the human-readable table.
pub fn print_table(args: &Args, insert: &InsertOutcome, search: &SearchOutcome, summary: &Summary) {
    println!();
    println!(
        "embedstore-bench: {} rows x {} dimensions (cosine), {} queries, k = {}",
        args.rows, args.dim, args.queries, args.k
    );
    println!();
    println!(
        "INSERT  library: {}; psql: one \\copy (text format, {:.1} MB file)",
        summary.insert_mode,
        insert.copy_file_bytes as f64 / 1e6
    );
    let checkpoint_note = if insert.checkpointed {
        "CHECKPOINT before each"
    } else {
        "CHECKPOINT not permitted, none"
    };
    println!(
        "        {} rounds on fresh collections, alternating order, {checkpoint_note}",
        insert.rounds.len()
    );
    println!("  round  first     library ms     psql ms");
    for (index, round) in insert.rounds.iter().enumerate() {
        let first = if round.library_first {
            "library"
        } else {
            "psql"
        };
        println!(
            "  {:<5}  {first:<8} {:>11.1} {:>11.1}",
            index + 1,
            to_ms(round.library),
            to_ms(round.psql)
        );
    }
    println!("  best of each              rows/s          ms");
    println!(
        "  library insert      {:>12.0} {:>11.1}",
        summary.insert_lib_rows_per_s, summary.insert_lib_ms
    );
    println!(
        "  psql \\copy          {:>12.0} {:>11.1}",
        summary.insert_psql_rows_per_s, summary.insert_psql_ms
    );
    println!(
        "  ratio library/psql  {:>12.3}   target >= {INSERT_RATIO_TARGET:.2}  {}",
        summary.insert_ratio,
        verdict(summary.insert_target_met)
    );
    println!(
        "  garde validation of the whole batch: {:.1} ms = {:.1} % of the best library insert",
        summary.validation_ms, summary.validation_pct_of_insert
    );
    println!();
    println!(
        "SEARCH  top-{} exact scan (no ANN index yet), {} warm-up + {} measured query pairs, \
         interleaved",
        args.k, args.warmup, args.queries
    );
    println!("                         p50 ms      p95 ms     mean ms");
    for (label, latency) in [
        ("library search", search.library),
        ("hand-written SQL", search.sql),
    ] {
        println!(
            "  {label:<18} {:>11.3} {:>11.3} {:>11.3}",
            latency.p50_ms, latency.p95_ms, latency.mean_ms
        );
    }
    println!(
        "  ratio p50 library/SQL {:>9.3}   target <= {SEARCH_RATIO_TARGET:.2}  {}",
        summary.search_p50_ratio,
        verdict(summary.search_target_met)
    );
    println!(
        "  result mismatches: {} of {} query pairs",
        search.mismatches, search.compared
    );
    println!("  plan of the library's statement:");
    for line in search.plan.lines() {
        println!("    {}", abbreviate_vectors(line));
    }
    println!();
    println!("total {:.1} s", summary.elapsed_s);
}

fn verdict(met: bool) -> &'static str {
    if met { "MET" } else { "MISSED" }
}
