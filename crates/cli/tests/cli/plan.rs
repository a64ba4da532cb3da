//! `embedstore plan`: its size predictions against what PostgreSQL really stores, and its
//! refusals.

use std::process::Command;

use embedstore::{IndexSpec, Metric, NewEmbedding};
use embedstore_test_support::{Rng, with_collection};
use serde_json::Value;

use crate::support::{embedstore, stderr_of_failure, stdout_of};

/// `embedstore plan … --format json`, no database.
fn plan(args: &[&str]) -> Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_embedstore"));
    command
        .arg("plan")
        .args(args)
        .args(["--format", "json"])
        .env_remove("DATABASE_URL");
    serde_json::from_str(&stdout_of(&mut command)).unwrap()
}

/// Loads `rows` random vectors of `dimension` with ids `row-00000…` (9 bytes) and `{}`
/// metadata, builds HNSW at the defaults (when `index`), and returns `stats --format json`'s
/// entry of the collection.
fn measured(rows: usize, dimension: u32, index: bool) -> Value {
    let (db, docs) = with_collection("docs", dimension, Metric::Cosine);
    let store = db.store();
    let mut rng = Rng::new(7);
    for chunk in (0..rows).collect::<Vec<_>>().chunks(1000) {
        let items = chunk
            .iter()
            .map(|row| NewEmbedding::new(format!("row-{row:05}"), rng.vector(dimension as usize)))
            .collect();
        store
            .write(|uow| uow.embeddings().insert(&docs, items))
            .unwrap();
    }
    if index {
        store
            .indexes(&docs)
            .create(&IndexSpec::hnsw(), None)
            .unwrap();
    }
    let stats: Value = serde_json::from_str(&stdout_of(
        embedstore(&db).args(["stats", "docs", "--format", "json"]),
    ))
    .unwrap();
    stats[0].clone()
}

#[track_caller]
fn within_15_percent(what: &str, planned: &Value, measured: &Value) {
    let (planned, measured) = (planned.as_f64().unwrap(), measured.as_f64().unwrap());
    let off = planned / measured - 1.0;
    println!(
        "{what}: planned {planned}, measured {measured} ({:+.1} %)",
        off * 100.0
    );
    assert!(
        off.abs() <= 0.15,
        "{what}: planned {planned}, measured {measured} ({:+.1} %)",
        off * 100.0
    );
}

#[test]
fn plan_predicts_the_bytes_a_384_dimension_collection_with_hnsw_takes() {
    let stats = measured(6_000, 384, true);
    let planned = plan(&["--rows", "6000", "--dim", "384", "--id-bytes", "9"]);
    let plan = &planned["plan"];
    let indexes =
        plan["key_index_bytes"].as_u64().unwrap() + plan["ann_index_bytes"].as_u64().unwrap();
    within_15_percent("all bytes", &plan["total_bytes"], &stats["table_bytes"]);
    within_15_percent("index bytes", &Value::from(indexes), &stats["index_bytes"]);
}

#[test]
fn plan_predicts_the_toast_a_1536_dimension_collection_takes() {
    // 6,152-byte vectors do not fit a row under PostgreSQL's 2 KB threshold: they go to TOAST.
    let stats = measured(1_500, 1536, false);
    let planned = plan(&[
        "--rows",
        "1500",
        "--dim",
        "1536",
        "--id-bytes",
        "9",
        "--method",
        "none",
    ]);
    assert!(
        planned["plan"]["toast_bytes"].as_u64().unwrap() > 1_500 * 6_000,
        "{planned}"
    );
    within_15_percent(
        "all bytes",
        &planned["plan"]["total_bytes"],
        &stats["table_bytes"],
    );
}

#[test]
fn plan_prints_the_build_and_the_nodes_a_load_needs() {
    let planned = plan(&[
        "--rows",
        "1000000",
        "--dim",
        "384",
        "--maintenance-work-mem",
        "64",
        "--target-qps",
        "20000",
        "--recall",
        "0.95",
        "--memory-per-node-gb",
        "2",
    ]);
    let plan = &planned["plan"];
    assert_eq!(plan["build"]["fits_in_memory"], false, "{planned}");
    assert_eq!(planned["input"]["load"]["ef_search"], 100, "{planned}");
    assert!(
        plan["nodes"]["replicas"].as_u64().unwrap() >= 1,
        "{planned}"
    );
    assert!(
        plan["nodes"]["citus_workers"].as_u64().unwrap() >= 2,
        "{planned}"
    );
    let notes = plan["notes"].to_string();
    assert!(
        notes.contains("does not fit maintenance_work_mem"),
        "{notes}"
    );
    let mut command = Command::new(env!("CARGO_BIN_EXE_embedstore"));
    let table = stdout_of(
        command
            .args(["plan", "--rows", "1000", "--dim", "8"])
            .env_remove("DATABASE_URL"),
    );
    assert!(
        table.starts_with("1000 rows x 8 (dense), index: hnsw\ntable:"),
        "{table}"
    );
    assert!(
        table.contains("\nmodel: sizes: PostgreSQL/pgvector page layout"),
        "{table}"
    );
}

#[test]
fn plan_refuses_what_does_not_fit_with_the_reason() {
    let refused = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_embedstore"));
        command.arg("plan").args(args).env_remove("DATABASE_URL");
        stderr_of_failure(&mut command)
    };
    let base = ["--rows", "1000", "--dim", "8"];
    let with = |extra: &[&'static str]| [base.as_slice(), extra].concat();
    assert!(
        refused(&with(&["--kind", "bit", "--metric", "cosine"]))
            .contains("--metric cosine does not suit bit collections")
    );
    assert!(
        refused(&with(&["--method", "ivfflat", "--m", "8"]))
            .contains("--m does not apply to --method ivfflat")
    );
    assert!(refused(&with(&["--lists", "8"])).contains("--lists does not apply to --method hnsw"));
    assert!(refused(&with(&["--target-qps", "0"])).contains("--target-qps 0: give a positive"));
    assert!(refused(&with(&["--target-qps", "NaN"])).contains("--target-qps NaN"));
    assert!(
        refused(&with(&["--target-qps", "5", "--recall", "1.5"]))
            .contains("--recall 1.5: give a fraction between 0 and 1")
    );
    assert!(
        refused(&with(&["--target-qps", "5", "--recall", "0.9999"]))
            .contains("no measured ef_search reaches it")
    );
    assert!(refused(&["--rows", "0", "--dim", "8"]).contains("--rows"));
}
