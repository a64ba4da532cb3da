//! The hostile-input matrix: every case through the library (and the CLI: the CLI crate's
//! tests) gets a specific error naming the item and field, and the database is unchanged
//! afterwards — row counts and a checksum over `embeddings` and `collections`, compared before
//! and after.

use embedstore::{Error, Filter, Metric, NewCollection, NewEmbedding, SearchRequest, Store};
use embedstore_test_support::fingerprint;

use crate::support::with_items;

fn item(id: &str, vector: Vec<f32>) -> NewEmbedding {
    NewEmbedding::new(id, vector)
}

fn nested(levels: usize) -> serde_json::Value {
    let mut value = serde_json::json!(1);
    for _ in 0..levels {
        value = serde_json::json!({ "a": value });
    }
    value
}

/// A call into the library against the test collection.
type Call = Box<dyn Fn(&Store, &embedstore::Collection) -> Result<(), Error>>;

/// One library case: `run` must fail with an error whose text contains every `expected` piece.
struct Case {
    name: &'static str,
    expected: Vec<&'static str>,
    run: Call,
}

fn insert_case(name: &'static str, items: Vec<NewEmbedding>, expected: Vec<&'static str>) -> Case {
    Case {
        name,
        expected,
        run: Box::new(move |store, collection| {
            store
                .write(|uow| uow.embeddings().insert(collection, items.clone()))
                .map(drop)
        }),
    }
}

fn search_case(
    name: &'static str,
    request: impl Into<SearchRequest>,
    expected: Vec<&'static str>,
) -> Case {
    Case {
        name,
        expected,
        run: Box::new({
            let request = request.into();
            move |store, collection| store.search(collection, request.clone()).map(drop)
        }),
    }
}

#[test]
fn hostile_inputs_through_the_library_get_specific_errors_and_change_nothing() {
    let (db, collection) = with_items("docs", 4, Metric::Cosine, 50, 1);
    let ok = vec![0.1, 0.2, 0.3, 0.4];
    let mut metadata_big = serde_json::Map::new();
    metadata_big.insert("blob".into(), serde_json::json!("x".repeat(70_000)));
    let cases = vec![
        insert_case(
            "NaN",
            vec![item("a", vec![0.1, f32::NAN, 0.3, 0.4])],
            vec!["items[0].vector[1]", "NaN"],
        ),
        insert_case(
            "+Inf",
            vec![item("a", vec![f32::INFINITY, 0.2, 0.3, 0.4])],
            vec!["items[0].vector[0]", "infinite"],
        ),
        insert_case(
            "-Inf",
            vec![item("a", vec![0.1, 0.2, 0.3, f32::NEG_INFINITY])],
            vec!["items[0].vector[3]", "infinite"],
        ),
        insert_case(
            "subnormal only",
            vec![item("a", vec![1e-45; 4])],
            vec!["items[0].vector", "subnormal"],
        ),
        insert_case(
            "all zero",
            vec![item("a", vec![0.0; 4])],
            vec!["items[0].vector", "zero"],
        ),
        insert_case(
            "empty vector",
            vec![item("a", Vec::new())],
            vec!["items[0].vector", "expected 4 values, got 0"],
        ),
        insert_case(
            "wrong dimension",
            vec![item("a", vec![0.5; 5])],
            vec!["items[0].vector", "got 5"],
        ),
        insert_case(
            "16,001 values",
            vec![item("a", vec![0.5; 16_001])],
            vec!["items[0].vector", "got 16001"],
        ),
        insert_case(
            "65,536 values",
            vec![item("a", vec![0.5; 65_536])],
            vec!["items[0].vector", "got 65536"],
        ),
        insert_case(
            "NUL in id",
            vec![item("a\0b", ok.clone())],
            vec!["items[0].external_id", "NUL"],
        ),
        insert_case(
            "empty id",
            vec![item("", ok.clone())],
            vec!["items[0].external_id", "empty"],
        ),
        insert_case(
            "10 KB id",
            vec![item(&"i".repeat(10_240), ok.clone())],
            vec!["items[0].external_id", "10240 bytes"],
        ),
        insert_case(
            "NUL in content",
            vec![item("a", ok.clone()).with_content("x\0y")],
            vec!["items[0].content", "NUL"],
        ),
        insert_case(
            "NUL in a metadata key",
            vec![item("a", ok.clone()).with_metadata(serde_json::json!({"k\u{0}": 1}))],
            vec!["items[0].metadata", "NUL"],
        ),
        insert_case(
            "NUL in a metadata value",
            vec![item("a", ok.clone()).with_metadata(serde_json::json!({"k": ["x\u{0}"]}))],
            vec!["items[0].metadata", "NUL"],
        ),
        insert_case(
            "metadata not an object",
            vec![item("a", ok.clone()).with_metadata(serde_json::json!([1, 2]))],
            vec!["items[0].metadata", "an array"],
        ),
        insert_case(
            "metadata 1,000 deep",
            vec![item("a", ok.clone()).with_metadata(nested(1000))],
            vec!["items[0].metadata", "deeper than 32"],
        ),
        insert_case(
            "metadata over 64 KiB",
            vec![item("a", ok.clone()).with_metadata(serde_json::Value::Object(metadata_big))],
            vec!["items[0].metadata", "at most 65536"],
        ),
        insert_case(
            "duplicate ids",
            vec![
                item("a", ok.clone()),
                item("b", ok.clone()),
                item("a", ok.clone()),
            ],
            vec!["items[2].external_id", "items[0]"],
        ),
        insert_case(
            "one bad among good",
            vec![
                item("good-1", ok.clone()),
                item("good-2", vec![0.1, 0.2, f32::NAN, 0.4]),
            ],
            vec!["items[1].vector[2]"],
        ),
        search_case("k = 0", SearchRequest::vector(ok.clone(), 0), vec!["k"]),
        search_case(
            "k = 1,000,000",
            SearchRequest::vector(ok.clone(), 1_000_000),
            vec!["k"],
        ),
        search_case(
            "NaN query",
            SearchRequest::vector(vec![f32::NAN, 0.2, 0.3, 0.4], 5),
            vec!["vector[0]", "NaN"],
        ),
        search_case(
            "wrong query length",
            SearchRequest::vector(vec![0.1], 5),
            vec!["vector", "got 1"],
        ),
    ];
    // Filters the parser refuses, naming the place.
    for (text, expected) in [
        (r#"{"a": {"$gt": {"b": 1}}}"#, "a.$gt"),
        (r#"{"a": {"$regex": "x"}}"#, "$regex"),
        (r#"{"$where": "1=1"}"#, "$where"),
        (r#"{"a": {"$in": []}}"#, "$in"),
    ] {
        let error = text.parse::<Filter>().unwrap_err().to_string();
        assert!(error.contains(expected), "{text}: {error}");
    }
    let collections: Vec<(&str, &str)> = vec![
        ("x; DROP TABLE embeddings; --", "name"),
        ("docs'--", "name"),
        ("dоcs", "name"), // Cyrillic о
        ("Docs", "name"),
    ];
    let store = db.store();
    let before = fingerprint(&db);
    let mut checked = 0;
    for case in &cases {
        let error = (case.run)(store, &collection)
            .err()
            .unwrap_or_else(|| panic!("{}: accepted", case.name));
        let text = error.to_string();
        for piece in &case.expected {
            assert!(text.contains(piece), "{}: {text}", case.name);
        }
        assert!(
            text.len() < 2_000,
            "{}: an error of {} bytes",
            case.name,
            text.len()
        );
        assert_eq!(
            fingerprint(&db),
            before,
            "{} changed the database",
            case.name
        );
        checked += 1;
    }
    for (name, field) in &collections {
        let error = store
            .write(|uow| {
                uow.collections()
                    .create(NewCollection::new(*name, 4, Metric::L2, "m"))
            })
            .unwrap_err();
        assert!(error.to_string().contains(field), "{name}: {error}");
        let missing = store.read(|uow| uow.collections().get(name)).unwrap_err();
        assert!(
            matches!(missing, Error::NotFound { .. }),
            "{name}: {missing:?}"
        );
        checked += 2;
    }
    let long = "x".repeat(10_240);
    let error = store
        .read(|uow| uow.collections().get(&long))
        .unwrap_err()
        .to_string();
    assert!(
        error.len() < 200 && error.contains("10240 bytes"),
        "{error}"
    );
    checked += 1;
    // Keys and values built to inject SQL or JSONPath are data: they match nothing and break
    // nothing.
    for filter in [
        Filter::eq("x'); DROP TABLE embeddings; --", 1),
        Filter::eq("lang", "'; DELETE FROM embeddings; --"),
        Filter::eq("a[*] ? (@ > 1)", "x"),
        Filter::contains("tags", "\"]}, {\"$or"),
    ] {
        let found = store
            .search(
                &collection,
                SearchRequest::vector(ok.clone(), 5).with_filter(filter.clone()),
            )
            .unwrap();
        assert_eq!(found.returned, 0, "{filter:?}");
        let counted = store
            .read(|uow| uow.embeddings().count_where(&collection, &filter))
            .unwrap();
        assert_eq!(counted, 0);
        checked += 2;
    }
    // A JSONPath-looking key starting with `$` is refused as a reserved operator name.
    let error = store
        .search(
            &collection,
            SearchRequest::vector(ok.clone(), 5).with_filter(Filter::eq("$.a[*] ? (@ > 1)", "x")),
        )
        .unwrap_err();
    assert!(error.to_string().contains("reserved"), "{error}");
    checked += 1;
    assert_eq!(fingerprint(&db), before);
    println!("hostile (library): {checked} cases, database unchanged");
}
