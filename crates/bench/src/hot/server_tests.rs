//! A tiny `hot` run against the real server (`TEST_DATABASE_URL` / `DATABASE_URL`, as every
//! server test of the workspace): every cell, every thread count and every target are in the
//! JSON, and the figures are sane.

use std::time::Duration;

use crate::args::DataArgs;
use crate::hot::args::{HotArgs, ThreadCounts};
use crate::hot::run;
use crate::hot::sweep::Cell;

#[test]
fn a_tiny_run_reports_every_cell_and_target() {
    let args = HotArgs {
        data: DataArgs {
            rows: 2_000,
            dim: 16,
            queries: 12,
            k: 5,
            clusters: 8,
        },
        threads: ThreadCounts(vec![1, 2]),
        seconds: Duration::from_millis(100),
        rounds: 2,
        warmup: 2,
        insert_rows: Some(300),
        insert_batch: 100,
        insert_rounds: 2,
        fail_on_miss: false,
        builds: true,
        vectors: None,
        ef_sweep: vec![10, 40],
        no_raw_builds: false,
        writes_only: false,
        defaults_build_limit: Duration::from_secs(600),
    };
    let report = run(&args).unwrap();
    let json = report.json();

    assert_eq!(json["mode"], "hot");
    let sweep = json["sweep"].as_array().unwrap();
    // Three clients per cell and thread count; at one thread also the empty unit of work and
    // the raw client inside a transaction.
    assert_eq!(
        sweep.len(),
        (Cell::SWEEP.len() * 2 + 1) * 3 + (Cell::SWEEP.len() + 1) * 2
    );
    for cell in Cell::SWEEP
        .iter()
        .map(|cell| cell.label())
        .chain(["ef40+metadata"])
    {
        for client in ["begin+commit", "raw in BEGIN/COMMIT"] {
            let row = sweep
                .iter()
                .find(|row| row["cell"] == cell && row["client"] == client)
                .unwrap_or_else(|| panic!("{cell}: no {client} row"));
            assert_eq!(row["threads"], 1, "{row}");
            assert!(row["p50_ms"].as_f64().unwrap() > 0.0, "{row}");
        }
        let in_transaction = sweep
            .iter()
            .find(|row| row["cell"] == cell && row["client"] == "raw in BEGIN/COMMIT")
            .unwrap();
        assert!(in_transaction["transaction_cost_ms"].as_f64().unwrap() > 0.0);
        assert!(in_transaction["uow_vs_bound"].as_f64().unwrap() > 0.0);
    }

    let quality = json["quality"].as_array().unwrap();
    assert_eq!(quality.len(), Cell::SWEEP.len());
    for pass in quality {
        // Store::search and uow.search send the same statements.
        assert_eq!(pass["store_uow_id_mismatches"], 0, "{pass}");
        assert_eq!(pass["library_rows_min"], 5, "{pass}");
        for recall in ["raw_recall", "store_recall", "uow_recall"] {
            let value = pass[recall].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&value), "{pass}");
        }
    }
    let exact = quality.iter().find(|pass| pass["cell"] == "exact").unwrap();
    assert!(exact["store_recall"].as_f64().unwrap() >= 0.99, "{exact}");
    assert!(exact["raw_recall"].as_f64().unwrap() >= 0.99, "{exact}");

    let inserts = json["inserts"].as_array().unwrap();
    assert_eq!(inserts.len(), 6);
    for path in inserts {
        assert!(path["rows_per_s"].as_f64().unwrap() > 0.0, "{path}");
    }
    assert_eq!(json["insert_round_ms"].as_array().unwrap().len(), 2);

    // The capacity planner beside the sizes PostgreSQL stores: close even on a tiny
    // collection, where a few pages of the key indexes are a third of them.
    let sizes = json["sizes"].as_array().unwrap();
    let parts: Vec<&str> = sizes
        .iter()
        .map(|part| part["part"].as_str().unwrap())
        .collect();
    assert_eq!(parts, ["table", "toast", "key_indexes", "ann_index"]);
    for part in sizes {
        assert!(part["measured"].as_u64().unwrap() > 0, "{part}");
        let bounds = match part["part"].as_str().unwrap() {
            "toast" => continue,
            "key_indexes" => 0.75..=1.35,
            _ => 0.85..=1.15,
        };
        let ratio = part["planned_over_measured"].as_f64().unwrap();
        assert!(bounds.contains(&ratio), "{part}");
    }

    // The probes: both clients at each --ef-sweep value (recall rising with it), and each
    // filtered cell's default, exact, and forced walks.
    let sweep = json["ef_sweep"].as_array().unwrap();
    assert_eq!(sweep.len(), 2);
    assert_eq!(
        (
            sweep[0]["ef_search"].as_u64(),
            sweep[1]["ef_search"].as_u64()
        ),
        (Some(10), Some(40))
    );
    for row in sweep {
        for recall in ["raw_recall", "store_recall"] {
            assert!(
                (0.0..=1.0).contains(&row[recall].as_f64().unwrap()),
                "{row}"
            );
        }
    }
    let paths = json["filter_paths"].as_array().unwrap();
    assert_eq!(paths.len(), 2 * (2 + 3 * 2));
    for row in paths {
        assert!(row["p50_ms"].as_f64().unwrap() > 0.0, "{row}");
        if row["path"] == "exact" {
            assert_eq!(row["recall"], 1.0, "{row}");
            assert!(row["paths"].as_str().unwrap().starts_with("Exact"), "{row}");
        }
        if row["path"] == "ann" && row["client"] == "store" {
            assert!(!row["paths"].as_str().unwrap().contains("Exact x"), "{row}");
        }
    }

    // --builds: four writes of every row and three builds, each beside its raw counterpart
    // and (builds) the planner's time; the library chose the build's memory.
    let writes = json["writes"].as_array().unwrap();
    assert_eq!(writes.len(), 4);
    for path in writes {
        assert_eq!(path["rows"], 2_000, "{path}");
        assert!(path["over_copy"].as_f64().unwrap() > 0.0, "{path}");
    }
    let builds = json["builds"].as_array().unwrap();
    assert_eq!(builds.len(), 3);
    for build in builds {
        assert!(build["seconds"].as_f64().unwrap() > 0.0, "{build}");
        assert!(build["cancelled_after_s"].is_null(), "{build}");
        assert!(build["memory_mb"].as_u64().unwrap() >= 1, "{build}");
        assert!(build["planned_s"].as_f64().unwrap() > 0.0, "{build}");
    }
    assert!(json["client_peak_rss_mb"].as_u64().unwrap() > 0);

    let targets = json["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 20);
    for target in targets {
        assert!(
            ["PASS", "MISS"].contains(&target["verdict"].as_str().unwrap()),
            "{target}"
        );
    }
    let missed: Vec<String> = targets
        .iter()
        .filter(|target| target["verdict"] == "MISS")
        .map(|target| target["target"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(missed, report.missed());
}
