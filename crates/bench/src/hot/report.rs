//! The hot-path benchmark's figures, its targets (issue 12) and their evaluation, and the
//! report: quality, sweep and insert tables.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

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
/// Issue 20: single-client `uow.search` p50 at most this × `Store::search`'s plus the cost of
/// its `BEGIN`/`COMMIT` ([`CellFigures::uow_vs_bound`]).
pub const UOW_TARGET: f64 = 1.05;
/// Issue 12: in-memory insert rows/s ÷ one binary COPY.
pub const INSERT_TARGET: f64 = 0.9;
/// Issue 12: upsert rows/s ÷ one binary COPY.
pub const UPSERT_TARGET: f64 = 0.8;
/// Issue 20: the bulk write from memory (`Ingest::run_rows`, default options; and in insert
/// mode) ÷ one binary COPY.
pub const MEMORY_INGEST_TARGET: f64 = 0.9;

/// One client's figures in one cell at one thread count, every round pooled.
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
pub struct Versus {
    /// The API's own figures.
    #[serde(skip)]
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
    /// `store.read(|_| Ok(()))`: a read unit of work's `BEGIN READ ONLY` and `COMMIT` alone
    /// (single client only).
    pub begin_commit: Option<ClientFigures>,
    /// The raw client's statement inside `BEGIN READ ONLY` / `COMMIT` (single client only).
    pub raw_in_transaction: Option<ClientFigures>,
}

impl CellFigures {
    /// What `BEGIN READ ONLY` and `COMMIT` cost around this cell's statement: the raw client's
    /// p50 inside a transaction less its p50 without (at least the empty unit of work's p50,
    /// the least two round trips cost); `None` unless both were measured.
    pub fn transaction_cost_ms(&self) -> Option<f64> {
        let around = self.raw_in_transaction.as_ref()?.p50_ms - self.raw.p50_ms;
        Some(around.max(self.begin_commit.as_ref()?.p50_ms))
    }

    /// `uow.search`'s p50 ÷ its bound (issue 20): 1.05 × `Store::search`'s p50 plus
    /// [`transaction_cost_ms`](Self::transaction_cost_ms), measured in the same cell.
    pub fn uow_vs_bound(&self) -> Option<f64> {
        let bound = UOW_TARGET * self.store.figures.p50_ms + self.transaction_cost_ms()?;
        ratio(self.uow.figures.p50_ms, bound)
    }
}

/// The single-client quality pass of a cell: every query once through each client.
#[derive(Debug, Clone, Serialize)]
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
    pub library_paths: String,
    /// Mean rows matching a query's filter (all rows when unfiltered).
    pub matching_rows_mean: f64,
}

/// The paths of the insert comparison, in the order of [`InsertFigures::rows_per_s`] (the
/// baseline, one binary COPY, last).
pub const INSERT_PATHS: [&str; 6] = [
    "library insert",
    "library upsert, new rows",
    "library upsert, every row changed",
    "library ingest from memory (default: upsert, 2 writers)",
    "library ingest from memory (insert mode, 2 writers)",
    "raw binary COPY",
];

/// The insert comparison.
#[derive(Debug, Clone)]
pub struct InsertFigures {
    /// Rows per path and round.
    pub rows: usize,
    /// Rows per library unit of work (the ingests from memory keep their default batches).
    pub batch: usize,
    /// Rounds (best of each path kept).
    pub rounds: usize,
    /// Whether `CHECKPOINT` before each timed write was allowed.
    pub checkpointed: bool,
    /// Each of [`INSERT_PATHS`], best round, rows/s.
    pub rows_per_s: [f64; INSERT_PATHS.len()],
    /// Every round's times of each of [`INSERT_PATHS`], ms.
    pub round_ms: Vec<[f64; INSERT_PATHS.len()]>,
}

impl InsertFigures {
    /// The rows/s of library path `path` ÷ COPY's (`None` for COPY itself).
    pub fn ratio(&self, path: usize) -> Option<f64> {
        let copy_path = INSERT_PATHS.len() - 1;
        let copy = self.rows_per_s[copy_path];
        (path < copy_path)
            .then(|| ratio(self.rows_per_s[path], copy))
            .flatten()
    }
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
    /// `higher`, else at most. A missing figure is a miss; no figure at all is not measured.
    pub fn worst_of(
        bound: f64,
        higher: bool,
        values: impl IntoIterator<Item = (String, Option<f64>)>,
    ) -> Self {
        let values: Vec<_> = values.into_iter().collect();
        let sign = if higher { 1.0 } else { -1.0 };
        let bound_text = format!("{} {bound:.2}", if higher { ">=" } else { "<=" });
        let (worst, at, met) = match values.iter().find(|(_, value)| value.is_none()) {
            Some((at, _)) => (None, format!("{at}: no figure"), Some(false)),
            None => match values
                .into_iter()
                .filter_map(|(at, value)| Some((at, value?)))
                .min_by(|a, b| (sign * a.1).total_cmp(&(sign * b.1)))
            {
                None => (None, "not measured".to_owned(), None),
                Some((at, value)) => (Some(round4(value)), at, Some(sign * (value - bound) >= 0.0)),
            },
        };
        Self {
            bound: bound_text,
            worst,
            at,
            met,
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
    let mut add = |name: String, bound, higher, values: Vec<(String, Option<f64>)>| {
        targets.insert(name, Target::worst_of(bound, higher, values));
    };
    let unfiltered = |cell: &&CellFigures| {
        let known = Cell::SWEEP.iter().find(|known| known.label() == cell.cell);
        known.is_some_and(|known| known.unfiltered())
    };
    let at = |cell: &CellFigures| format!("{} @ {} thr", cell.cell, cell.threads);
    type Pick = fn(&CellFigures) -> &Versus;
    let apis: [(&str, Pick); 2] = [("store", |cell| &cell.store), ("uow", |cell| &cell.uow)];
    for (api, pick) in apis {
        let values = |cells: &mut dyn Iterator<Item = &CellFigures>,
                      of: fn(&Versus) -> Option<f64>| {
            cells.map(|cell| (at(cell), of(pick(cell)))).collect()
        };
        let single = |label: &'static str| {
            let cells = sweep.iter().filter(move |cell| cell.threads == 1);
            cells.filter(move |cell| label.is_empty() || cell.cell == label)
        };
        let name = |what: &str| format!("{api}_{what}");
        add(
            name("qps_vs_raw"),
            QPS_TARGET,
            true,
            values(&mut sweep.iter().filter(unfiltered), |v| v.qps_ratio),
        );
        add(
            name("p95_vs_raw"),
            P95_TARGET,
            false,
            values(&mut sweep.iter().filter(unfiltered), |v| v.p95_ratio),
        );
        add(
            name("single_p50_ids_vs_raw"),
            P50_IDS_TARGET,
            false,
            values(&mut single("").filter(unfiltered), |v| v.p50_ratio),
        );
        add(
            name("single_p50_metadata_vs_raw"),
            P50_METADATA_TARGET,
            false,
            values(&mut metadata.into_iter(), |v| v.p50_ratio),
        );
        for (cell, bound) in [
            (Cell::Filter10, FILTER10_P50_TARGET),
            (Cell::Filter1, FILTER1_P50_TARGET),
        ] {
            let label = cell.label();
            add(
                name(&format!("{label}_single_p50_vs_raw_relaxed")),
                bound,
                false,
                values(&mut single(label), |v| v.p50_ratio),
            );
        }
    }
    for (cell, bound) in [
        (Cell::Filter10, RECALL_10_TARGET),
        (Cell::Filter1, RECALL_1_TARGET),
    ] {
        let passes = quality.iter().filter(|pass| pass.cell == cell.label());
        let values = passes.flat_map(|pass| {
            let store = (
                format!("{} Store::search", pass.cell),
                Some(pass.store_recall),
            );
            [
                store,
                (format!("{} uow.search", pass.cell), Some(pass.uow_recall)),
            ]
        });
        add(
            format!("{}_library_recall", cell.label()),
            bound,
            true,
            values.collect(),
        );
    }
    let single = sweep
        .iter()
        .filter(|cell| cell.threads == 1 && cell.begin_commit.is_some());
    add(
        "uow_single_p50_vs_store_plus_begin_commit".into(),
        1.0,
        false,
        single.map(|cell| (at(cell), cell.uow_vs_bound())).collect(),
    );
    let rows = format!("{} rows", inserts.rows);
    for (path, (name, bound)) in [
        ("insert_vs_copy", INSERT_TARGET),
        ("upsert_new_vs_copy", UPSERT_TARGET),
        ("upsert_update_vs_copy", UPSERT_TARGET),
        ("memory_ingest_vs_copy", MEMORY_INGEST_TARGET),
        ("memory_ingest_insert_vs_copy", MEMORY_INGEST_TARGET),
    ]
    .into_iter()
    .enumerate()
    {
        add(
            name.into(),
            bound,
            true,
            vec![(rows.clone(), inserts.ratio(path))],
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
    quality.iter().for_each(|pass| _ = passes.record(pass));
    // Raw = the postgres crate, prepared, session SET; ratios library ÷ raw (QPS: higher is
    // better; p50/p95: lower).
    let mut cells = Table::new(
        "sweep",
        "cell threads client qps p50_ms p95_ms mean_ms queries rows_min qps_ratio p50_ratio p95_ratio transaction_cost_ms uow_vs_bound round_qps",
    );
    for cell in sweep.iter().chain(metadata) {
        let key = |client| json!({"cell": cell.cell, "threads": cell.threads, "client": client});
        cells.record([key("raw"), json!(cell.raw)]);
        cells.record([key("store"), json!(cell.store.figures), json!(cell.store)]);
        cells.record([key("uow"), json!(cell.uow.figures), json!(cell.uow)]);
        if let Some(begin_commit) = &cell.begin_commit {
            cells.record([key("begin+commit"), json!(begin_commit)]);
        }
        if let Some(in_transaction) = &cell.raw_in_transaction {
            let cost = cell.transaction_cost_ms().map(round4);
            let figures = json!({"transaction_cost_ms": cost, "uow_vs_bound": cell.uow_vs_bound()});
            cells.record([key("raw in BEGIN/COMMIT"), json!(in_transaction), figures]);
        }
    }
    let mut writes = Table::new("inserts", "path rows_per_s ratio_vs_copy");
    for (path, (name, rate)) in INSERT_PATHS.iter().zip(inserts.rows_per_s).enumerate() {
        let ratio = inserts.ratio(path);
        writes.record(json!({"path": name, "rows_per_s": rate, "ratio_vs_copy": ratio}));
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
        let bound = format!("{} at {}", target.bound, target.at);
        report.target(&name, target.worst, &bound, target.met);
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
            begin_commit: (threads == 1).then(|| figures(2000.0, 0.05, 0.1)),
            raw_in_transaction: (threads == 1).then(|| figures(900.0, 1.04, 2.1)),
            raw,
        }
    }

    fn inserts(insert: f64, upsert: f64) -> InsertFigures {
        InsertFigures {
            rows: 100,
            batch: 10,
            rounds: 1,
            checkpointed: true,
            rows_per_s: [insert, upsert, upsert, insert, insert, 1.0],
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
            library_paths: String::new(),
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
        assert_eq!(verdict("memory_ingest_vs_copy"), Some(true));
        assert_eq!(verdict("memory_ingest_insert_vs_copy"), Some(true));
        // uow p50 1.04 against 1.05 × 1.04 + 0.05 (the empty unit of work's 0.05 is more than
        // the raw client's 0.04): met.
        assert_eq!(
            verdict("uow_single_p50_vs_store_plus_begin_commit"),
            Some(true)
        );
        assert_eq!(targets.len(), 20);
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
        // Three clients per cell, and the empty unit of work and the raw client in a
        // transaction in the five single-client cells.
        assert_eq!(
            report.json()["sweep"].as_array().unwrap().len(),
            6 * 3 + 5 * 2
        );
        // The filtered cells' QPS is no part of the unfiltered QPS target.
        assert_eq!(targets["uow_qps_vs_raw"].worst, Some(0.95));
    }
}
