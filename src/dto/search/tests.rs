//! The flat form's parser and the JSON round trip of every kind of request.

use crate::dto::search::options::SearchOptions;
use crate::dto::search::request::{IterativeScan, SearchRequest, Shape};
use crate::filter::Filter;

fn parse(json: &str) -> Result<SearchRequest, Vec<String>> {
    let options: SearchOptions = serde_json::from_str(json).map_err(|e| vec![e.to_string()])?;
    SearchRequest::try_from(options).map_err(|error| error.lines().collect())
}

#[test]
fn the_kind_follows_from_what_is_set() {
    assert!(matches!(
        parse(r#"{"vector": [1, 2], "k": 3}"#),
        Ok(SearchRequest::Vector(_))
    ));
    assert!(matches!(
        parse(r#"{"k": 3, "text": {"query": "rust"}}"#),
        Ok(SearchRequest::Text(_))
    ));
    assert!(matches!(
        parse(r#"{"vector": [], "k": 3, "text": {"query": "rust"}}"#),
        Ok(SearchRequest::Text(_))
    ));
    assert!(matches!(
        parse(r#"{"vector": [1, 2], "k": 3, "text": {"query": "rust", "rrf_k": 10}}"#),
        Ok(SearchRequest::Hybrid(_))
    ));
    assert_eq!(
        parse(r#"{"k": 3}"#).unwrap_err(),
        ["vector: a search needs a query vector or a text query (`text`)"]
    );
}

#[test]
fn every_option_a_text_search_cannot_use_is_named() {
    let lines = parse(
        r#"{"k": 3, "text": {"query": "rust", "fetch_k": 9, "text_weight": 2},
            "exact": true, "probes": 4, "max_distance": 0.3, "group_by": {"field": "a", "group_size": 2}}"#,
    )
    .unwrap_err();
    let fields: Vec<&str> = lines
        .iter()
        .map(|line| line.split(':').next().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "exact",
            "probes",
            "max_distance",
            "group_by",
            "text.fetch_k",
            "text.text_weight"
        ]
    );
    assert!(
        lines
            .iter()
            .all(|line| line.ends_with("has no effect on a text search (no query vector)"))
    );
}

#[test]
fn shapes_exclude_each_other_and_a_hybrid_search() {
    assert_eq!(
        parse(
            r#"{"vector": [1], "k": 3, "after": {"distance": 0.5, "id": 7},
                "mmr": {"lambda": 0.5, "fetch_k": 9}, "group_by": {"field": "a", "group_size": 2}}"#
        )
        .unwrap_err(),
        [
            "mmr: cannot be combined with `after`",
            "group_by: cannot be combined with `after`"
        ]
    );
    let lines = parse(
        r#"{"vector": [1], "k": 3, "text": {"query": "x"}, "after": {"distance": 0.5, "id": 7}}"#,
    )
    .unwrap_err();
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].starts_with("after: cannot be combined with a text query"),
        "{lines:?}"
    );
}

#[test]
fn unknown_and_hostile_fields_are_refused_not_ignored() {
    for json in [
        r#"{"vector": [1], "k": 3, "ef_serch": 80}"#,
        r#"{"vector": [1], "k": 3, "text": {"query": "x", "weight": 2}}"#,
        r#"{"vector": [1], "k": "3"}"#,
        r#"{"vector": [1], "k": -1}"#,
        r#"{"vector": "[1]", "k": 3, "text": null, "__proto__": {}}"#,
    ] {
        assert!(parse(json).is_err(), "{json}");
    }
    // Values themselves (ranges, NaN, dimensions) are checked against the collection when
    // the search runs; the parser only decides the kind.
    assert!(parse(r#"{"vector": [1e39], "k": 0, "ef_search": 0}"#).is_ok());
}

#[test]
fn every_kind_round_trips_through_its_json_form() {
    let requests: [SearchRequest; 4] = [
        SearchRequest::vector(vec![0.5, -1.0], 4)
            .with_ef_search(80)
            .with_rerank_factor(3)
            .with_exact_threshold(10)
            .with_iterative(IterativeScan::StrictOrder)
            .with_max_distance(0.9)
            .with_shape(Shape::after(0.25, 12))
            .into(),
        SearchRequest::vector(vec![0.5, -1.0], 4)
            .with_shape(Shape::mmr(0.3, 20))
            .include_vector(true)
            .into(),
        SearchRequest::text("\"quoted\" -not", 7)
            .with_filter(Filter::eq("lang", "de"))
            .include_metadata(false)
            .with_min_score(0.1)
            .into(),
        SearchRequest::hybrid(vec![1.0], "words", 5)
            .with_fetch_k(20)
            .with_rrf_k(30)
            .with_weights(1.0, 2.0)
            .with_probes(3)
            .include_content(true)
            .into(),
    ];
    for request in requests {
        let json = serde_json::to_string(&request).unwrap();
        let back: SearchRequest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, request, "{json}");
    }
}

#[test]
fn the_default_exact_threshold_grows_with_the_rows() {
    use crate::dto::search::{
        DEFAULT_EXACT_THRESHOLD, EXACT_THRESHOLD_ROWS, MIN_EXACT_THRESHOLD, default_exact_threshold,
    };
    assert_eq!(
        default_exact_threshold(EXACT_THRESHOLD_ROWS),
        DEFAULT_EXACT_THRESHOLD
    );
    // Never analyzed: no size to scale by.
    assert_eq!(default_exact_threshold(0), DEFAULT_EXACT_THRESHOLD);
    // As rows^0.75: 16 times the rows, 8 times the threshold; at a million rows above the
    // 10,000 rows a 1 % filter matches (measured: the exact scan costs what the walk does).
    assert_eq!(
        default_exact_threshold(1_600_000),
        8 * DEFAULT_EXACT_THRESHOLD
    );
    assert_eq!(default_exact_threshold(1_000_000), 11_247);
    assert_eq!(default_exact_threshold(10_000_000), 63_246);
    // Small collections keep the floor.
    for rows in [1, 10, 5_000, 20_000, 39_000] {
        assert_eq!(default_exact_threshold(rows), MIN_EXACT_THRESHOLD, "{rows}");
    }
    assert!(default_exact_threshold(45_000) > MIN_EXACT_THRESHOLD);
    // Monotonic, and no overflow at the ends of u64.
    let sizes = [
        30_000_u64,
        100_000,
        1_000_000,
        10_u64.pow(9),
        10_u64.pow(12),
        u64::MAX,
    ];
    for pair in sizes.windows(2) {
        assert!(default_exact_threshold(pair[0]) <= default_exact_threshold(pair[1]));
    }
    assert_eq!(default_exact_threshold(u64::MAX), u32::MAX);
}
