//! The ingest report: every path's best round against the binary COPY ceiling, issue 6's
//! targets, and each round's own ratios with their median.

use std::time::Duration;

use serde_json::{Value, json};

use crate::ingest::args::IngestArgs;
use crate::ingest::cli::IngestRun;
use crate::ingest::measure::{IngestOutcome, Round};
use crate::report::{Report, Table, round3};
use crate::stats::{percentile, rows_per_second, to_ms};

/// Issue 6: insert mode reaches 0.9x the raw binary COPY.
pub const INSERT_TARGET: f64 = 0.9;
/// Issue 6: upsert mode (fresh) reaches 0.7x the raw binary COPY.
pub const UPSERT_TARGET: f64 = 0.7;
/// Issue 6: a re-run where every row is unchanged is at least as fast as the raw binary COPY.
pub const UNCHANGED_TARGET: f64 = 1.0;
/// Issue 6: insert mode is at least 100x the naive one-INSERT-one-COMMIT loop.
pub const NAIVE_TARGET: f64 = 100.0;
/// Issue 6: peak RSS below 256 MiB.
pub const RSS_LIMIT_BYTES: u64 = 256 * 1024 * 1024;

/// One `embedstore ingest` path: the best round's wall time and the CLI's own figures.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CliFigures {
    ms: f64,
    rows_per_s: f64,
    cli_rows_per_s: f64,
    batches: u64,
    /// The highest of every round's reported and polled peaks.
    peak_rss_bytes: u64,
    cli_peak_rss_bytes: Option<u64>,
    polled_peak_rss_bytes: Option<u64>,
}

/// One `embedstore ingest` path of a round.
type PickRun = fn(&Round) -> &IngestRun;

/// Rates, ratios and verdicts from the raw measurements.
pub fn report(args: &IngestArgs, outcome: &IngestOutcome, elapsed: Duration) -> Report {
    let rounds = &outcome.rounds;
    let best = |pick: fn(&Round) -> Duration| rounds.iter().map(pick).min().unwrap_or_default();
    let ceiling = rows_per_second(args.rows, best(|round| round.binary_copy));
    let title = format!(
        "{} rows x {} dimensions (cosine) with content and metadata; {} rounds on fresh \
         collections, order reversed every other round, best of each kept; measured: {} \
         (a shared, noisy machine: read the ratios, not the absolute figures)",
        args.rows,
        args.dim,
        rounds.len(),
        outcome.insert_command
    );
    let mut report = Report::new("ingest", title);
    report
        .figure(
            "ingest_file_mb",
            round3(outcome.ingest_file_bytes as f64 / 1e6),
        )
        .figure(
            "binary_copy_mb",
            round3(outcome.binary_copy_bytes as f64 / 1e6),
        )
        .figure("text_copy_mb", round3(outcome.text_copy_bytes as f64 / 1e6))
        .figure("checkpointed", outcome.checkpointed)
        .figure("batch_size", args.batch_size);
    let mut paths = Table::new(
        "paths",
        "path ms rows_per_s x_ceil cli_rows_per_s batches rss_mib",
    );
    for (label, rows, pick) in [
        (
            "binary COPY via psql (the ceiling)",
            args.rows,
            (|round| round.binary_copy) as fn(&Round) -> Duration,
        ),
        ("text COPY via psql", args.rows, |round| round.text_copy),
        ("naive INSERT+COMMIT", args.naive_sample, |round| {
            round.naive
        }),
    ] {
        let (rate, ms) = (rows_per_second(rows, best(pick)), round3(to_ms(best(pick))));
        let x_ceil = round3(rate / ceiling.max(f64::MIN_POSITIVE));
        let path = format!("{label} ({rows} rows)");
        paths.record(json!({"path": path, "ms": ms, "rows_per_s": rate.round(), "x_ceil": x_ceil}));
    }
    let naive_rate = rows_per_second(args.naive_sample, best(|round| round.naive));
    let mut peak = 0;
    let runs: [(&str, &str, f64, PickRun); 3] = [
        (
            "embedstore ingest --mode insert",
            "insert",
            INSERT_TARGET,
            |round| &round.insert,
        ),
        (
            "embedstore ingest --mode upsert",
            "upsert",
            UPSERT_TARGET,
            |round| &round.upsert,
        ),
        (
            "upsert re-run, every row unchanged",
            "unchanged",
            UNCHANGED_TARGET,
            |round| &round.unchanged,
        ),
    ];
    for (label, name, target, pick) in runs {
        let figures = cli_figures(args.rows, rounds.iter().map(pick));
        peak = peak.max(figures.peak_rss_bytes);
        let ratio = round3(figures.rows_per_s / ceiling.max(f64::MIN_POSITIVE));
        let rss_mib = round3(mib(figures.peak_rss_bytes));
        paths.record([
            json!(figures),
            json!({"path": label, "x_ceil": ratio, "rss_mib": rss_mib}),
        ]);
        report.target(
            &format!("{name}_vs_binary_copy"),
            ratio,
            &format!(">= {target:.1}"),
            Some(figures.rows_per_s / ceiling.max(f64::MIN_POSITIVE) >= target),
        );
        if name == "insert" {
            let versus_naive = figures.rows_per_s / naive_rate.max(f64::MIN_POSITIVE);
            report.target(
                "insert_vs_naive",
                round3(versus_naive),
                &format!(">= {NAIVE_TARGET:.0}"),
                Some(versus_naive >= NAIVE_TARGET),
            );
        }
    }
    report.table(paths);
    if let (Some(run), Some(rows)) = (&outcome.rss_run, args.rss_rows) {
        let figures = cli_figures(rows, std::iter::once(run));
        peak = peak.max(figures.peak_rss_bytes);
        report.figure("rss_run_rows_per_s", figures.rows_per_s);
        report.target(
            &format!("peak_rss_mib_at_{rows}_rows"),
            round3(mib(figures.peak_rss_bytes)),
            &format!("< {}", RSS_LIMIT_BYTES >> 20),
            Some(figures.peak_rss_bytes < RSS_LIMIT_BYTES),
        );
    }
    // The max of the CLI's peak_rss_bytes and /proc VmHWM polling, over every ingest.
    report.target(
        "peak_rss_mib",
        round3(mib(peak)),
        &format!("< {}", RSS_LIMIT_BYTES >> 20),
        Some(peak < RSS_LIMIT_BYTES),
    );
    report.table(round_table(rounds, args.rows, args.naive_sample));
    report
        .figure("problems", &outcome.problems)
        .figure("elapsed_s", round3(elapsed.as_secs_f64()));
    report
}

/// Each round's timings and the ratios within that round alone (paths that ran minutes apart
/// on a shared machine can differ more between rounds than within one), and the median of
/// each ratio over the rounds: less swayed than best-of-N by one path's single lucky round.
fn round_table(rounds: &[Round], rows: usize, naive_rows: usize) -> Table {
    let mut table = Table::new(
        "rounds",
        "round order binary_ms insert_ms upsert_ms unchanged_ms text_ms naive_ms insert_x_ceil upsert_x_ceil unchanged_x_ceil insert_x_naive",
    );
    let mut ratios: [Vec<f64>; 4] = Default::default();
    for (index, round) in rounds.iter().enumerate() {
        let ceiling = rows_per_second(rows, round.binary_copy);
        let insert = rows_per_second(rows, round.insert.wall);
        let within = [
            insert / ceiling,
            rows_per_second(rows, round.upsert.wall) / ceiling,
            rows_per_second(rows, round.unchanged.wall) / ceiling,
            insert / rows_per_second(naive_rows, round.naive),
        ]
        .map(round3);
        let order = if round.forward {
            "ceil first"
        } else {
            "ceil last"
        };
        let mut cells = vec![json!((index + 1).to_string()), json!(order)];
        for time in [
            round.binary_copy,
            round.insert.wall,
            round.upsert.wall,
            round.unchanged.wall,
            round.text_copy,
            round.naive,
        ] {
            cells.push(json!(round3(to_ms(time))));
        }
        for (all, value) in ratios.iter_mut().zip(within) {
            all.push(value);
            cells.push(json!(value));
        }
        table.row(cells);
    }
    let mut median = vec![json!("median"), Value::Null];
    median.extend(std::iter::repeat_n(Value::Null, 6));
    for values in &mut ratios {
        values.sort_by(f64::total_cmp);
        median.push(json!(round3(percentile(values, 50.0).unwrap_or(0.0))));
    }
    table.row(median);
    table
}

/// The fastest run's figures, with the highest peak RSS of all runs.
fn cli_figures<'a>(rows: usize, runs: impl Iterator<Item = &'a IngestRun>) -> CliFigures {
    let runs: Vec<&IngestRun> = runs.collect();
    let reported = runs
        .iter()
        .filter_map(|run| run.report.peak_rss_bytes)
        .max();
    let polled = runs
        .iter()
        .filter_map(|run| run.polled_peak_rss_bytes)
        .max();
    let best = runs.iter().min_by_key(|run| run.wall);
    CliFigures {
        ms: best.map_or(0.0, |best| round3(to_ms(best.wall))),
        rows_per_s: best.map_or(0.0, |best| rows_per_second(rows, best.wall).round()),
        cli_rows_per_s: best.map_or(0.0, |best| best.report.rows_per_second.round()),
        batches: best.map_or(0, |best| best.report.batches),
        peak_rss_bytes: reported.unwrap_or(0).max(polled.unwrap_or(0)),
        cli_peak_rss_bytes: reported,
        polled_peak_rss_bytes: polled,
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::parse_as;
    use crate::ingest::args::IngestArgs;
    use crate::ingest::cli::CliReport;

    fn run(wall_ms: u64, reported: Option<u64>, polled: Option<u64>) -> IngestRun {
        IngestRun {
            wall: Duration::from_millis(wall_ms),
            report: CliReport {
                rows: 1000,
                inserted: 1000,
                updated: 0,
                unchanged: 0,
                rejected: 0,
                batches: wall_ms,
                seconds: wall_ms as f64 / 1000.0,
                rows_per_second: 1.0,
                peak_rss_bytes: reported,
            },
            polled_peak_rss_bytes: polled,
        }
    }

    fn outcome(insert_ms: u64, copy_ms: u64, rss: u64) -> IngestOutcome {
        let round = |forward| Round {
            binary_copy: Duration::from_millis(copy_ms),
            text_copy: Duration::from_millis(copy_ms * 2),
            naive: Duration::from_millis(1000),
            insert: run(insert_ms, Some(rss), None),
            upsert: run(insert_ms * 2, None, Some(rss / 2)),
            unchanged: run(insert_ms / 2, Some(1), Some(2)),
            forward,
        };
        IngestOutcome {
            rounds: vec![round(true), round(false)],
            ingest_file_bytes: 1,
            binary_copy_bytes: 1,
            text_copy_bytes: 1,
            checkpointed: true,
            rss_run: None,
            insert_command: String::new(),
            problems: Vec::new(),
        }
    }

    fn args() -> IngestArgs {
        parse_as("--rows 1000 --naive-sample 10").unwrap()
    }

    #[test]
    fn the_fastest_run_counts_and_the_highest_peak() {
        let fast = run(100, Some(10), Some(30));
        let slow = run(300, Some(50), Some(20));
        let figures = cli_figures(1000, [&slow, &fast].into_iter());
        assert_eq!((figures.ms, figures.rows_per_s), (100.0, 10_000.0));
        assert_eq!(figures.batches, 100, "the fastest run's own figures");
        assert_eq!(figures.peak_rss_bytes, 50);
        assert_eq!(figures.cli_peak_rss_bytes, Some(50));
        assert_eq!(figures.polled_peak_rss_bytes, Some(30));
    }

    #[test]
    fn ratios_are_against_the_binary_copy_and_the_naive_loop() {
        // Insert 1000 rows in 100 ms (10,000/s) against a 95 ms COPY; naive 10 rows/s.
        let report = report(&args(), &outcome(100, 95, 1 << 20), Duration::ZERO);
        let json = report.json();
        let targets = report.get("targets").unwrap();
        let target = |name: &str, column: &str| targets.get(name, column).unwrap().clone();
        assert_eq!(target("insert_vs_binary_copy", "value"), 0.95);
        assert_eq!(target("insert_vs_binary_copy", "verdict"), "PASS");
        assert_eq!(target("upsert_vs_binary_copy", "value"), 0.475);
        assert_eq!(target("upsert_vs_binary_copy", "verdict"), "MISS");
        assert_eq!(target("unchanged_vs_binary_copy", "verdict"), "PASS");
        assert_eq!(target("insert_vs_naive", "value"), 1000.0);
        assert_eq!(target("peak_rss_mib", "verdict"), "PASS");
        assert_eq!(
            json["paths"][1]["x_ceil"], 0.5,
            "text COPY against the ceiling"
        );
        assert_eq!(json["paths"][3]["rows_per_s"], 10_000.0);
        assert_eq!(
            json["rounds"].as_array().unwrap().len(),
            3,
            "two rounds and the median"
        );
        assert_eq!(json["rounds"][0]["insert_x_ceil"], 0.95);
        assert_eq!(json["rounds"][0]["unchanged_x_ceil"], 1.9);
        assert_eq!(json["rounds"][1]["insert_x_naive"], 1000.0);
        assert_eq!(json["rounds"][2]["insert_x_ceil"], 0.95);
        assert_eq!(json["rounds"][2]["insert_x_naive"], 1000.0);
    }

    #[test]
    fn a_peak_at_the_limit_misses() {
        let report = report(&args(), &outcome(100, 95, RSS_LIMIT_BYTES), Duration::ZERO);
        let targets = report.get("targets").unwrap();
        assert_eq!(targets.get("peak_rss_mib", "value"), Some(&json!(256.0)));
        assert_eq!(targets.get("peak_rss_mib", "verdict"), Some(&json!("MISS")));
    }
}
