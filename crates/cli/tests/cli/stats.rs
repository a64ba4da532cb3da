//! `embedstore stats` against a real database.

use embedstore::{Metric, NewEmbedding};
use embedstore_test_support::with_collection;

use crate::support::{embedstore, stdout_of};

#[test]
fn cli_stats_prints_a_table_and_json() {
    let (db, collection) = with_collection("docs", 3, Metric::L2);
    let items = (0..7)
        .map(|index| NewEmbedding::new(format!("e{index}"), vec![1.0, 2.0, index as f32]))
        .collect();
    db.store()
        .write(|uow| uow.embeddings().insert(&collection, items))
        .unwrap();
    let stats = |args: &[&str]| stdout_of(embedstore(&db).args(args));
    let table = stats(&["stats"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("collection  rows  dimension  metric  model"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("docs           7          3  l2      test-model"),
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stats(&["stats", "docs", "--format", "json"])).unwrap();
    assert_eq!(json[0]["rows"], 7);
    assert_eq!(json[0]["metric"], "l2");
    assert!(json[0]["index_bytes"].as_u64().unwrap() > 0);
    assert!(json[0]["last_write"].is_string());
}
