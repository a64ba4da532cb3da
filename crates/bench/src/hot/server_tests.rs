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
    };
    let summary = run(&args).unwrap();
    let json: serde_json::Value = serde_json::from_str(&summary.json().unwrap()).unwrap();

    assert_eq!(json["mode"], "hot");
    let sweep = json["sweep"].as_array().unwrap();
    assert_eq!(sweep.len(), Cell::SWEEP.len() * 2);
    for cell in Cell::SWEEP {
        for threads in [1, 2] {
            let figures = sweep
                .iter()
                .find(|figures| figures["cell"] == cell.label() && figures["threads"] == threads)
                .unwrap_or_else(|| panic!("{} @ {threads} missing", cell.label()));
            for client in ["raw", "store", "uow"] {
                let qps = figures[client]["qps"].as_f64().unwrap();
                let p50 = figures[client]["p50_ms"].as_f64().unwrap();
                let p95 = figures[client]["p95_ms"].as_f64().unwrap();
                assert!(qps > 0.0 && p50 > 0.0 && p95 >= p50, "{figures}");
                assert_eq!(figures[client]["rows_min"], 5, "{figures}");
            }
            assert!(figures["store"]["qps_ratio"].as_f64().unwrap() > 0.0);
        }
    }
    assert_eq!(json["metadata"]["cell"], "ef40+metadata");
    assert_eq!(json["metadata"]["threads"], 1);

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

    let inserts = &json["inserts"];
    for figure in [
        "insert_rows_per_s",
        "upsert_new_rows_per_s",
        "upsert_update_rows_per_s",
        "copy_rows_per_s",
    ] {
        assert!(inserts[figure].as_f64().unwrap() > 0.0, "{inserts}");
    }
    assert_eq!(inserts["round_ms"].as_array().unwrap().len(), 2);

    let targets = json["targets"].as_object().unwrap();
    assert_eq!(targets.len(), 17);
    for (name, target) in targets {
        assert!(target["met"].is_boolean(), "{name}: {target}");
    }
    let missed: Vec<&str> = targets
        .iter()
        .filter(|(_, target)| target["met"] == false)
        .map(|(name, _)| name.as_str())
        .collect();
    let listed: Vec<&str> = json["missed"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    assert_eq!(missed, listed);
}
