//! `embedstore ingest --parquet` (feature `parquet`) on a file written by pyarrow.

use embedstore::Metric;
use embedstore::testing::{example_fixture as fixture, stored, with_collection};

#[test]
fn cli_ingests_parquet() {
    let (db, collection) = with_collection("docs", 4, Metric::L2);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_embedstore"))
        .env("DATABASE_URL", db.url().expose_secret())
        .args([
            "ingest",
            "docs",
            "--progress",
            "off",
            "--format",
            "json",
            "--parquet",
        ])
        .arg(fixture("fixed_size_list.parquet"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["inserted"], 3);
    assert_eq!(stored(&db, &collection).len(), 3);
}
