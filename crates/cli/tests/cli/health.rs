//! `embedstore index health`: drift signals and advice as a table and as JSON for a cron job.

use embedstore::{IndexSpec, Metric, NewCollection};
use embedstore_test_support::with_items;

use crate::support::{embedstore, stderr_of_failure, stdout_of};

#[test]
fn index_health_reports_drift_recall_and_advice_as_table_and_json() {
    let (db, docs) = with_items("docs", 8, Metric::Cosine, 300, 21);
    let store = db.store();
    store
        .indexes(&docs)
        .create(&IndexSpec::hnsw(), None)
        .unwrap();
    store
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new("empty", 4, Metric::L2, "m"))?;
            uow.aliases().set("live", "docs")
        })
        .unwrap();

    let json = stdout_of(embedstore(&db).args([
        "index",
        "health",
        "live",
        "--format",
        "json",
        "--queries",
        "5",
        "--k",
        "3",
    ]));
    let reports: serde_json::Value = serde_json::from_str(&json).unwrap();
    let report = &reports[0];
    assert_eq!(reports.as_array().unwrap().len(), 1, "{json}");
    assert_eq!(report["status"]["collection"], "docs");
    assert_eq!(report["status"]["rows"], 300);
    assert_eq!(report["status"]["built_rows"], 300);
    assert_eq!(report["updated_since_build"], 0);
    assert_eq!(report["deleted_since_build"], 0);
    assert_eq!(
        (report["recall_k"].clone(), report["recall_queries"].clone()),
        (3.into(), 5.into())
    );
    assert!(report["recall"].as_f64().unwrap() > 0.5, "{json}");
    assert!(report["recall_measured_at"].is_string(), "{json}");
    // 300 rows of 8 dimensions: PostgreSQL's plan scans instead of walking the index, and
    // health says so (the only advice).
    assert_eq!(
        report["search_advice"],
        serde_json::json!([{"kind": "index_not_used", "index": "embeddings_1_ann", "reason": "scan_is_cheaper"}]),
        "{json}"
    );
    assert_eq!(
        report["advice"],
        serde_json::json!([
            "index embeddings_1_ann is present but not used by the planner: it prefers a \
             sequential scan at this size"
        ]),
        "{json}"
    );

    // Every collection when none is named; advice from a floor no recall reaches.
    let table = stdout_of(embedstore(&db).args([
        "index",
        "health",
        "--queries",
        "3",
        "--recall-floor",
        "1",
    ]));
    let expected = [
        "docs",
        "  index           embeddings_1_ann (hnsw)",
        "  rows now        300",
        "  rows at build   300",
        "  updated since   0",
        "  deleted since   0",
        "empty",
        "  index           no ANN index",
        "  rows at build   unknown",
        "  recall@10       not measured (no valid index, or no rows)",
        "  advice          none",
    ];
    for line in expected {
        assert!(
            table.lines().any(|got| got == line),
            "no line {line:?} in:\n{table}"
        );
    }
    assert!(table.contains("  recall@10       "), "{table}");

    let error =
        stderr_of_failure(embedstore(&db).args(["index", "health", "docs", "--recall-floor", "2"]));
    assert!(
        error.contains("recall_floor: 2 is outside [0, 1]"),
        "{error}"
    );
    let error = stderr_of_failure(embedstore(&db).args(["index", "health", "nope"]));
    assert!(error.contains("collection \"nope\" not found"), "{error}");
}
