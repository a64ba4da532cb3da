//! `embedstore ingest --parquet` (feature `parquet`) on a file written by pyarrow.

use embedstore::Metric;
use embedstore_test_support::{example_fixture as fixture, stored, with_collection};

use crate::support::{embedstore, stdout_of};

#[test]
fn cli_ingests_parquet() {
    let (db, collection) = with_collection("docs", 4, Metric::L2);
    let stdout = stdout_of(
        embedstore(&db)
            .args([
                "ingest",
                "docs",
                "--progress",
                "off",
                "--format",
                "json",
                "--parquet",
            ])
            .arg(fixture("fixed_size_list.parquet")),
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["inserted"], 3);
    assert_eq!(stored(&db, &collection).len(), 3);
}
