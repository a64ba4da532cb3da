use embedstore::{Error, Metric, NewCollection, NewEmbedding, SearchRequest};
use serde_json::json;

use crate::support::{Rng, count, failures, set_value, with_collection};

/// Inserts `items` into a fresh 3-dimension collection and returns the failures; asserts
/// that nothing was written.
fn insert_failures(metric: Metric, items: Vec<NewEmbedding>) -> Vec<String> {
    let (db, collection) = with_collection("checked", 3, metric);
    let error = db
        .store()
        .write(|uow| uow.embeddings().insert(&collection, items))
        .unwrap_err();
    assert_eq!(
        count(&db, &collection),
        0,
        "nothing of a refused batch may be written"
    );
    failures(&error)
}

#[test]
fn every_embedding_rule_reports_its_path_and_reason() {
    let found = insert_failures(
        Metric::Cosine,
        vec![
            NewEmbedding::new("good", vec![1.0, 2.0, 3.0]),
            NewEmbedding::new("", vec![1.0, 2.0, 3.0]),
            NewEmbedding::new("x".repeat(513), vec![1.0, 2.0, 3.0]),
            NewEmbedding::new("nul\0", vec![1.0, 2.0, 3.0]),
            NewEmbedding::new("short", vec![1.0, 2.0]),
            NewEmbedding::new("nan", vec![1.0, f32::NAN, 3.0]),
            NewEmbedding::new("inf", vec![f32::NEG_INFINITY, 2.0, 3.0]),
            NewEmbedding::new("zero", vec![0.0, 0.0, 0.0]),
            NewEmbedding::new("content", vec![1.0, 2.0, 3.0]).with_content("a\0b"),
            NewEmbedding::new("array-meta", vec![1.0, 2.0, 3.0])
                .with_metadata(json!(["not", "an", "object"])),
            NewEmbedding::new("nul-meta", vec![1.0, 2.0, 3.0])
                .with_metadata(json!({"k": "v\u{0}"})),
            NewEmbedding::new("big-meta", vec![1.0, 2.0, 3.0])
                .with_metadata(json!({"k": "v".repeat(70_000)})),
            NewEmbedding::new("good", vec![3.0, 2.0, 1.0]),
        ],
    );
    let expected = [
        "items[1].external_id: is empty",
        "items[2].external_id: is 513 bytes, at most 512 allowed",
        "items[3].external_id: contains a NUL character at byte 3",
        "items[4].vector: expected 3 values, got 2",
        "items[5].vector[1]: value is NaN",
        "items[6].vector[0]: value is infinite",
        "items[7].vector: all values are zero, which has no cosine distance",
        "items[8].content: contains a NUL character at byte 1",
        "items[9].metadata: must be a JSON object, got an array",
        "items[10].metadata: contains a NUL character (\\u0000), which PostgreSQL jsonb cannot store",
        "items[11].metadata: is 70008 bytes as JSON, at most 65536 allowed",
        "items[12].external_id: repeats items[0].external_id",
    ];
    assert_eq!(found, expected);
}

#[test]
fn zero_vectors_are_fine_where_the_metric_defines_them() {
    let (db, collection) = with_collection("euclid", 3, Metric::L2);
    let summary = db
        .store()
        .write(|uow| {
            uow.embeddings()
                .insert(&collection, vec![NewEmbedding::new("origin", vec![0.0; 3])])
        })
        .unwrap();
    assert_eq!(summary.inserted, 1);
}

#[test]
fn one_bad_item_in_a_large_batch_writes_nothing() {
    let mut rng = Rng::new(7);
    let mut batch = crate::support::items(&mut rng, 5000, 3);
    set_value(&mut batch[4321].vector, 2, f32::NAN);
    let (db, collection) = with_collection("large", 3, Metric::L2);
    let error = db
        .store()
        .write(|uow| uow.embeddings().upsert(&collection, batch))
        .unwrap_err();
    assert_eq!(failures(&error), ["items[4321].vector[2]: value is NaN"]);
    assert_eq!(count(&db, &collection), 0);
}

#[test]
fn collection_rules_report_each_field() {
    let db = embedstore_test_support::TestDatabase::new();
    let cases = [
        (NewCollection::new("", 3, Metric::L2, "m"), "name: is empty"),
        (
            NewCollection::new("9lives", 3, Metric::L2, "m"),
            "name: must start with a lowercase ASCII letter",
        ),
        (
            NewCollection::new("Docs", 3, Metric::L2, "m"),
            "name: must start with a lowercase ASCII letter",
        ),
        (
            NewCollection::new("my docs", 3, Metric::L2, "m"),
            "name: may contain only a-z, 0-9, _ and -, found ' '",
        ),
        (
            NewCollection::new(format!("a{}", "b".repeat(63)), 3, Metric::L2, "m"),
            "name: is 64 characters, at most 63 allowed",
        ),
        (
            NewCollection::new("zero", 0, Metric::L2, "m"),
            "dimension: must be 1..=16000 for a dense collection, got 0",
        ),
        (
            NewCollection::new("huge", 16_001, Metric::L2, "m"),
            "dimension: must be 1..=16000 for a dense collection, got 16001",
        ),
        (
            NewCollection::new("nomodel", 3, Metric::L2, ""),
            "model: is empty",
        ),
        (
            NewCollection::new("longmodel", 3, Metric::L2, "m".repeat(257)),
            "model: is 257 bytes, at most 256 allowed",
        ),
        (
            NewCollection::new("desc", 3, Metric::L2, "m").with_description(json!("text")),
            "description: must be a JSON object, got a string",
        ),
    ];
    for (spec, expected) in cases {
        let error = db
            .store()
            .write(|uow| uow.collections().create(spec))
            .unwrap_err();
        assert_eq!(failures(&error), [expected]);
    }
    let listed = db.store().read(|uow| uow.collections().list()).unwrap();
    assert!(
        listed.is_empty(),
        "refused collections must not be created: {listed:?}"
    );
}

#[test]
fn search_requests_are_checked_against_the_collection() {
    let (db, collection) = with_collection("queries", 3, Metric::Cosine);
    let cases = [
        (
            SearchRequest::vector(vec![1.0, 2.0], 5),
            vec!["vector: expected 3 values, got 2"],
        ),
        (
            SearchRequest::vector(vec![0.0, 0.0, 0.0], 5),
            vec!["vector: all values are zero, which has no cosine distance"],
        ),
        (
            SearchRequest::vector(vec![1.0, f32::NAN, 1.0], 0),
            vec!["vector[1]: value is NaN", "k: lower than 1"],
        ),
        (
            SearchRequest::vector(vec![1.0, 1.0, 1.0], 1001),
            vec!["k: greater than 1000"],
        ),
        (
            SearchRequest::vector(vec![1.0, 1.0, 1.0], 5).with_ef_search(5000),
            vec!["ef_search: greater than 1000"],
        ),
    ];
    for (request, expected) in cases {
        let error = db
            .store()
            .read(|uow| uow.search(&collection, request))
            .unwrap_err();
        let mut found = failures(&error);
        found.sort();
        let mut expected = expected;
        expected.sort();
        assert_eq!(found, expected);
    }
}

#[test]
fn validation_errors_display_paths_in_the_message() {
    let (db, collection) = with_collection("display", 2, Metric::L2);
    let error: Error = db
        .store()
        .write(|uow| {
            uow.embeddings().insert(
                &collection,
                vec![NewEmbedding::new("a", vec![1.0, f32::NAN])],
            )
        })
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid input (1 problem): items[0].vector[1]: value is NaN"
    );
}
