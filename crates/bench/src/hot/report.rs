//! The hot-path benchmark's figures, its targets (issue 12) and their evaluation, and the
//! report: quality, sweep and insert tables.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::hot::sweep::{Cell, Slice};
use crate::report::{Report, Table, ratio, round3, round4};
use crate::stats::{Latency, to_ms};

/// Issue 12: library QPS at least the baseline's at every concurrency (unfiltered cells).
pub const QPS_TARGET: f64 = 1.0;
/// Issue 12: library p95 at most 1.1 × the baseline's at every concurrency (unfiltered cells).
pub const P95_TARGET: f64 = 1.1;
/// Issue 12: single-client p50, ids and distances only.
pub const P50_IDS_TARGET: f64 = 1.05;
/// Issue 12: single-client p50 with metadata.
pub const P50_METADATA_TARGET: f64 = 1.10;
/// Issue 12 (unchanged from issue 5): recall@k of the 10 % filter by default.
pub const RECALL_10_TARGET: f64 = 0.95;
/// Issue 12: single-client p50 of the 10 % filter ÷ the raw `relaxed_order` SQL.
pub const FILTER10_P50_TARGET: f64 = 1.0;
/// Issue 5, unchanged: recall@k of the 1 % filter.
pub const RECALL_1_TARGET: f64 = 0.99;
/// Issue 5, unchanged: single-client p50 of the 1 % filter ÷ the raw `relaxed_order` SQL.
pub const FILTER1_P50_TARGET: f64 = 0.5;
/// Issue 12: in-memory insert rows/s ÷ one binary COPY.
pub const INSERT_TARGET: f64 = 0.9;
/// Issue 12: upsert rows/s ÷ one binary COPY.
pub const UPSERT_TARGET: f64 = 0.8;

/// One client's figures in one cell at one thread count, every round pooled.
#[derive(Debug, Clone)]
pub struct ClientFigures {
    /// Queries completed ÷ wall time, all rounds.
    pub qps: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 95th percentile latency, ms.
    pub p95_ms: f64,
    /// Mean latency, ms.
    pub mean_ms: f64,
    /// Queries measured.
    pub queries: usize,
    /// Each round's QPS (how noisy the machine was).
    pub round_qps: Vec<f64>,
    /// Fewest rows a query returned.
    pub rows_min: usize,
}

impl ClientFigures {
    /// The figures of one client's slices.
    pub fn of(slices: &[Slice]) -> Option<Self> {
        let samples: Vec<Duration> = slices
            .iter()
            .flat_map(|slice| slice.samples.iter().copied())
            .collect();
        let latency = Latency::of(&samples)?;
        let wall: f64 = slices.iter().map(|slice| slice.wall.as_secs_f64()).sum();
        Some(Self {
            qps: round3(samples.len() as f64 / wall.max(f64::MIN_POSITIVE)),
            p50_ms: round4(latency.p50_ms),
            p95_ms: round4(latency.p95_ms),
            mean_ms: round4(latency.mean_ms),
            queries: samples.len(),
            round_qps: slices
                .iter()
                .map(|slice| {
                    round3(slice.samples.len() as f64 / slice.wall.as_secs_f64().max(1e-9))
                })
                .collect(),
            rows_min: slices.iter().map(|slice| slice.min_rows).min().unwrap_or(0),
        })
    }
}

/// A library API's figures beside the baseline's.
#[derive(Debug, Clone)]
pub struct Versus {
    /// The API's own figures.
    pub figures: ClientFigures,
    /// QPS ÷ the baseline's (higher is better).
    pub qps_ratio: Option<f64>,
    /// p50 ÷ the baseline's (lower is better).
    pub p50_ratio: Option<f64>,
    /// p95 ÷ the baseline's (lower is better).
    pub p95_ratio: Option<f64>,
}

impl Versus {
    /// `figures` against `baseline`.
    pub fn new(figures: ClientFigures, baseline: &ClientFigures) -> Self {
        Self {
            qps_ratio: ratio(figures.qps, baseline.qps),
            p50_ratio: ratio(figures.p50_ms, baseline.p50_ms),
            p95_ratio: ratio(figures.p95_ms, baseline.p95_ms),
            figures,
        }
    }
}

/// One cell at one thread count.
#[derive(Debug, Clone)]
pub struct CellFigures {
    /// The cell's label.
    pub cell: &'static str,
    /// Client threads (and connections per client).
    pub threads: usize,
    /// The raw `postgres` crate baseline.
    pub raw: ClientFigures,
    /// `Store::search`.
    pub store: Versus,
    /// `store.read(|uow| uow.search(..))`.
    pub uow: Versus,
}

/// The single-client quality pass of a cell: every query once through each client.
#[derive(Debug, Clone)]
pub struct Quality {
    /// The cell's label.
    pub cell: &'static str,
    /// Mean recall@k of the baseline against brute force.
    pub raw_recall: f64,
    /// Mean recall@k of `Store::search` (the library's default request for filtered cells).
    pub store_recall: f64,
    /// Mean recall@k of `uow.search`.
    pub uow_recall: f64,
    /// Fewest rows the baseline returned.
    pub raw_rows_min: usize,
    /// Fewest rows the library returned (either API).
    pub library_rows_min: usize,
    /// Queries whose ids differ between `Store::search` and `uow.search`.
    pub store_uow_id_mismatches: usize,
    /// Queries whose ids (or order) differ between `Store::search` and the baseline.
    pub store_raw_id_mismatches: usize,
    /// The paths the library reported, and how often.
    pub library_paths: Vec<(String, usize)>,
    /// Mean rows matching a query's filter (all rows when unfiltered).
    pub matching_rows_mean: f64,
}

/// The insert comparison.
#[derive(Debug, Clone)]
pub struct InsertFigures {
    /// Rows per path and round.
    pub rows: usize,
    /// Rows per library unit of work.
    pub batch: usize,
    /// Rounds (best of each path kept).
    pub rounds: usize,
    /// Whether `CHECKPOINT` before each timed write was allowed.
    pub checkpointed: bool,
    /// Library `insert`, best round, rows/s.
    pub insert_rows_per_s: f64,
    /// Library `upsert` of new rows into an empty collection, best round, rows/s.
    pub upsert_new_rows_per_s: f64,
    /// Library `upsert` changing every stored row, best round, rows/s.
    pub upsert_update_rows_per_s: f64,
    /// One binary COPY of the same rows, best round, rows/s.
    pub copy_rows_per_s: f64,
    /// insert ÷ COPY.
    pub insert_ratio: Option<f64>,
    /// upsert (new rows) ÷ COPY.
    pub upsert_new_ratio: Option<f64>,
    /// upsert (every row changed) ÷ COPY.
    pub upsert_update_ratio: Option<f64>,
    /// Every round's times, ms: insert, upsert new, upsert update, COPY.
    pub round_ms: Vec<[f64; 4]>,
}

/// One target's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// `>= 1.00` or `<= 1.10`.
    pub bound: String,
    /// The worst measured value (`None` when not measured).
    pub worst: Option<f64>,
    /// Where the worst value was measured (`ef40 @ 16 threads`).
    pub at: String,
    /// Met, missed, or not measured (`None`: e.g. no single-thread step in `--threads`).
    pub met: Option<bool>,
}

impl Target {
    /// A target that the worst of `values` (label, value) must reach: at least `bound` when
    /// `higher_is_better`, else at most.
    pub fn worst_of(
        bound: f64,
        higher_is_better: bool,
        values: impl IntoIterator<Item = (String, Option<f64>)>,
    ) -> Self {
        let mut worst: Option<(String, f64)> = None;
        let mut unmeasured: Option<String> = None;
        for (at, value) in values {
            match value {
                None => {
                    unmeasured.get_or_insert(at);
                }
                Some(value) => {
                    let worse = worst.as_ref().is_none_or(|(_, current)| {
                        if higher_is_better {
                            value < *current
                        } else {
                            value > *current
                        }
                    });
                    if worse {
                        worst = Some((at, value));
                    }
                }
            }
        }
        let bound_text = format!("{} {bound:.2}", if higher_is_better { ">=" } else { "<=" });
        match (worst, unmeasured) {
            (_, Some(at)) => Self {
                bound: bound_text,
                worst: None,
                at: format!("{at}: no figure"),
                met: Some(false),
            },
            (None, None) => Self {
                bound: bound_text,
                worst: None,
                at: "not measured".to_owned(),
                met: None,
            },
            (Some((at, value)), None) => Self {
                bound: bound_text,
                worst: Some(round4(value)),
                at,
                met: Some(if higher_is_better {
                    value >= bound
                } else {
                    value <= bound
                }),
            },
        }
    }
}

/// Evaluates every target of issue 12 on the measured figures.
pub fn evaluate(
    sweep: &[CellFigures],
    metadata: Option<&CellFigures>,
    quality: &[Quality],
    inserts: &InsertFigures,
) -> BTreeMap<String, Target> {
    let mut targets = BTreeMap::new();
    let unfiltered = |cell: &&CellFigures| {
        Cell::SWEEP
            .iter()
            .any(|known| known.label() == cell.cell && known.unfiltered())
    };
    let at = |cell: &CellFigures| format!("{} @ {} thr", cell.cell, cell.threads);
    type Pick = fn(&CellFigures) -> &Versus;
    let apis: [(&str, Pick); 2] = [("store", |cell| &cell.store), ("uow", |cell| &cell.uow)];
    for (api, pick) in apis {
        let cells = || sweep.iter().filter(unfiltered);
        targets.insert(
            format!("{api}_qps_vs_raw"),
            Target::worst_of(
                QPS_TARGET,
                true,
                cells().map(|cell| (at(cell), pick(cell).qps_ratio)),
            ),
        );
        targets.insert(
            format!("{api}_p95_vs_raw"),
            Target::worst_of(
                P95_TARGET,
                false,
                cells().map(|cell| (at(cell), pick(cell).p95_ratio)),
            ),
        );
        targets.insert(
            format!("{api}_single_p50_ids_vs_raw"),
            Target::worst_of(
                P50_IDS_TARGET,
                false,
                cells()
                    .filter(|cell| cell.threads == 1)
                    .map(|cell| (at(cell), pick(cell).p50_ratio)),
            ),
        );
        targets.insert(
            format!("{api}_single_p50_metadata_vs_raw"),
            Target::worst_of(
                P50_METADATA_TARGET,
                false,
                metadata.map(|cell| (at(cell), pick(cell).p50_ratio)),
            ),
        );
        for (cell, bound) in [
            (Cell::Filter10, FILTER10_P50_TARGET),
            (Cell::Filter1, FILTER1_P50_TARGET),
        ] {
            targets.insert(
                format!("{api}_{}_single_p50_vs_raw_relaxed", cell.label()),
                Target::worst_of(
                    bound,
                    false,
                    sweep
                        .iter()
                        .filter(|figures| figures.cell == cell.label() && figures.threads == 1)
                        .map(|figures| (at(figures), pick(figures).p50_ratio)),
                ),
            );
        }
    }
    for (cell, bound) in [
        (Cell::Filter10, RECALL_10_TARGET),
        (Cell::Filter1, RECALL_1_TARGET),
    ] {
        targets.insert(
            format!("{}_library_recall", cell.label()),
            Target::worst_of(
                bound,
                true,
                quality
                    .iter()
                    .filter(|pass| pass.cell == cell.label())
                    .flat_map(|pass| {
                        [
                            (
                                format!("{} Store::search", pass.cell),
                                Some(pass.store_recall),
                            ),
                            (format!("{} uow.search", pass.cell), Some(pass.uow_recall)),
                        ]
                    }),
            ),
        );
    }
    for (name, bound, value) in [
        ("insert_vs_copy", INSERT_TARGET, inserts.insert_ratio),
        (
            "upsert_new_vs_copy",
            UPSERT_TARGET,
            inserts.upsert_new_ratio,
        ),
        (
            "upsert_update_vs_copy",
            UPSERT_TARGET,
            inserts.upsert_update_ratio,
        ),
    ] {
        targets.insert(
            name.to_owned(),
            Target::worst_of(bound, true, [(format!("{} rows", inserts.rows), value)]),
        );
    }
    targets
}

/// The report of a run: the quality passes, the sweep (one row per cell, thread count and
/// client), the inserts and every target's verdict.
pub fn report(
    title: String,
    quality: &[Quality],
    sweep: &[CellFigures],
    metadata: Option<&CellFigures>,
    inserts: &InsertFigures,
) -> Report {
    let mut report = Report::new("hot", title);
    let mut passes = Table::new(
        "quality",
        "cell raw_recall store_recall uow_recall raw_rows_min library_rows_min store_uow_id_mismatches store_raw_id_mismatches matching_rows_mean library_paths",
    );
    for pass in quality {
        let paths: Vec<String> = pass
            .library_paths
            .iter()
            .map(|(path, count)| format!("{path} x{count}"))
            .collect();
        passes.row(vec![
            json!(pass.cell),
            json!(pass.raw_recall),
            json!(pass.store_recall),
            json!(pass.uow_recall),
            json!(pass.raw_rows_min),
            json!(pass.library_rows_min),
            json!(pass.store_uow_id_mismatches),
            json!(pass.store_raw_id_mismatches),
            json!(pass.matching_rows_mean),
            json!(paths.join(", ")),
        ]);
    }
    // Raw = the postgres crate, prepared, session SET; ratios library ÷ raw (QPS: higher is
    // better; p50/p95: lower).
    let mut cells = Table::new(
        "sweep",
        "cell threads client qps p50_ms p95_ms mean_ms queries rows_min qps_ratio p50_ratio p95_ratio round_qps",
    );
    for cell in sweep.iter().chain(metadata) {
        let clients = [
            ("raw", &cell.raw, None),
            ("store", &cell.store.figures, Some(&cell.store)),
            ("uow", &cell.uow.figures, Some(&cell.uow)),
        ];
        for (client, figures, versus) in clients {
            cells.row(vec![
                json!(cell.cell),
                json!(cell.threads),
                json!(client),
                json!(figures.qps),
                json!(figures.p50_ms),
                json!(figures.p95_ms),
                json!(figures.mean_ms),
                json!(figures.queries),
                json!(figures.rows_min),
                json!(versus.and_then(|versus| versus.qps_ratio)),
                json!(versus.and_then(|versus| versus.p50_ratio)),
                json!(versus.and_then(|versus| versus.p95_ratio)),
                json!(figures.round_qps),
            ]);
        }
    }
    let mut writes = Table::new("inserts", "path rows_per_s ratio_vs_copy");
    for (path, rate, ratio) in [
        (
            "library insert",
            inserts.insert_rows_per_s,
            inserts.insert_ratio,
        ),
        (
            "library upsert, new rows",
            inserts.upsert_new_rows_per_s,
            inserts.upsert_new_ratio,
        ),
        (
            "library upsert, every row changed",
            inserts.upsert_update_rows_per_s,
            inserts.upsert_update_ratio,
        ),
        ("raw binary COPY", inserts.copy_rows_per_s, None),
    ] {
        writes.row(vec![json!(path), json!(rate), json!(ratio)]);
    }
    report
        .figure("insert_rows", inserts.rows)
        .figure("insert_batch", inserts.batch)
        .figure("insert_rounds", inserts.rounds)
        .figure("insert_checkpointed", inserts.checkpointed)
        .figure("insert_round_ms", &inserts.round_ms)
        .table(passes)
        .table(cells)
        .table(writes);
    for (name, target) in evaluate(sweep, metadata, quality, inserts) {
        let value = target.worst.map_or(Value::Null, |worst| json!(worst));
        let bound = format!("{} at {}", target.bound, target.at);
        report.target(&name, value, &bound, target.met);
    }
    report
}

/// Milliseconds of `duration`, rounded for the JSON.
pub fn ms(duration: Duration) -> f64 {
    round3(to_ms(duration))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(millis: &[u64], wall_ms: u64) -> Slice {
        Slice {
            samples: millis.iter().copied().map(Duration::from_millis).collect(),
            wall: Duration::from_millis(wall_ms),
            min_rows: 10,
        }
    }

    fn figures(qps: f64, p50: f64, p95: f64) -> ClientFigures {
        ClientFigures {
            qps,
            p50_ms: p50,
            p95_ms: p95,
            mean_ms: p50,
            queries: 100,
            round_qps: vec![qps],
            rows_min: 10,
        }
    }

    fn cell(label: &'static str, threads: usize, library: ClientFigures) -> CellFigures {
        let raw = figures(1000.0, 1.0, 2.0);
        CellFigures {
            cell: label,
            threads,
            store: Versus::new(library.clone(), &raw),
            uow: Versus::new(library, &raw),
            raw,
        }
    }

    fn inserts(insert: f64, upsert: f64) -> InsertFigures {
        InsertFigures {
            rows: 100,
            batch: 10,
            rounds: 1,
            checkpointed: true,
            insert_rows_per_s: insert,
            upsert_new_rows_per_s: upsert,
            upsert_update_rows_per_s: upsert,
            copy_rows_per_s: 1.0,
            insert_ratio: ratio(insert, 1.0),
            upsert_new_ratio: ratio(upsert, 1.0),
            upsert_update_ratio: ratio(upsert, 1.0),
            round_ms: vec![],
        }
    }

    fn quality(cell: &'static str, recall: f64) -> Quality {
        Quality {
            cell,
            raw_recall: 0.9,
            store_recall: recall,
            uow_recall: recall,
            raw_rows_min: 10,
            library_rows_min: 10,
            store_uow_id_mismatches: 0,
            store_raw_id_mismatches: 0,
            library_paths: vec![],
            matching_rows_mean: 1.0,
        }
    }

    #[test]
    fn client_figures_pool_every_round() {
        let slices = [slice(&[1, 2, 3, 4], 2), slice(&[5, 6], 1)];
        let pooled = ClientFigures::of(&slices).unwrap();
        assert_eq!(pooled.queries, 6);
        assert_eq!(pooled.qps, 2000.0, "6 queries in 3 ms");
        assert_eq!(pooled.p50_ms, 3.5);
        assert_eq!(pooled.round_qps, vec![2000.0, 2000.0]);
        assert_eq!(pooled.rows_min, 10);
        assert!(ClientFigures::of(&[]).is_none());
        let versus = Versus::new(figures(900.0, 1.1, 2.4), &figures(1000.0, 1.0, 2.0));
        assert_eq!(
            (versus.qps_ratio, versus.p50_ratio, versus.p95_ratio),
            (Some(0.9), Some(1.1), Some(1.2))
        );
    }

    #[test]
    fn worst_values_decide_targets() {
        let values = |list: &[(&str, Option<f64>)]| {
            list.iter()
                .map(|(at, value)| ((*at).to_owned(), *value))
                .collect::<Vec<_>>()
        };
        let met = Target::worst_of(1.0, true, values(&[("a", Some(1.2)), ("b", Some(1.0))]));
        assert_eq!(
            (met.met, met.worst, met.at.as_str()),
            (Some(true), Some(1.0), "b")
        );
        let missed = Target::worst_of(1.1, false, values(&[("a", Some(1.2)), ("b", Some(0.9))]));
        assert_eq!((missed.met, missed.at.as_str()), (Some(false), "a"));
        assert_eq!(missed.bound, "<= 1.10");
        let none = Target::worst_of(1.0, true, values(&[]));
        assert_eq!(none.met, None);
        let hole = Target::worst_of(1.0, true, values(&[("a", Some(2.0)), ("b", None)]));
        assert_eq!(
            hole.met,
            Some(false),
            "a missing figure is a miss, not a pass"
        );
    }

    #[test]
    fn every_target_is_evaluated() {
        let sweep = vec![
            cell("ef40", 1, figures(1000.0, 1.0, 2.0)),
            cell("ef40", 4, figures(950.0, 1.0, 2.0)),
            cell("exact", 1, figures(1100.0, 1.04, 2.0)),
            cell("filter10", 1, figures(500.0, 0.9, 3.0)),
            cell("filter1", 1, figures(500.0, 0.6, 3.0)),
        ];
        let metadata = cell("ef40+metadata", 1, figures(900.0, 1.2, 2.0));
        let passes = [quality("filter10", 0.96), quality("filter1", 0.98)];
        let targets = evaluate(&sweep, Some(&metadata), &passes, &inserts(0.95, 0.7));
        let verdict = |name: &str| targets[name].met;
        assert_eq!(verdict("store_qps_vs_raw"), Some(false));
        assert_eq!(targets["store_qps_vs_raw"].at, "ef40 @ 4 thr");
        assert_eq!(verdict("uow_p95_vs_raw"), Some(true));
        assert_eq!(verdict("store_single_p50_ids_vs_raw"), Some(true));
        assert_eq!(verdict("store_single_p50_metadata_vs_raw"), Some(false));
        assert_eq!(
            verdict("store_filter10_single_p50_vs_raw_relaxed"),
            Some(true)
        );
        assert_eq!(
            verdict("uow_filter1_single_p50_vs_raw_relaxed"),
            Some(false)
        );
        assert_eq!(verdict("filter10_library_recall"), Some(true));
        assert_eq!(verdict("filter1_library_recall"), Some(false));
        assert_eq!(verdict("insert_vs_copy"), Some(true));
        assert_eq!(verdict("upsert_new_vs_copy"), Some(false));
        assert_eq!(targets.len(), 17);
        let report = report(
            String::new(),
            &passes,
            &sweep,
            Some(&metadata),
            &inserts(0.95, 0.7),
        );
        let names = report.missed();
        assert!(names.contains(&"filter1_library_recall".to_owned()));
        assert!(!names.contains(&"insert_vs_copy".to_owned()));
        assert_eq!(report.json()["sweep"].as_array().unwrap().len(), 6 * 3);
        // The filtered cells' QPS is no part of the unfiltered QPS target.
        assert_eq!(targets["uow_qps_vs_raw"].worst, Some(0.95));
    }
}
