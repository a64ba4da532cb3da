//! The JSON form: shapes, round trips, messages and hostile input.

use serde_json::{Value, json};

use crate::filter::{FieldPath, Filter};

fn parse(value: Value) -> Filter {
    Filter::from_json(&value).unwrap_or_else(|error| panic!("{value}: {error}"))
}

fn error(value: Value) -> String {
    match Filter::from_json(&value) {
        Ok(filter) => panic!("{value} parsed as {filter:?}"),
        Err(error) => error.to_string(),
    }
}

fn text_error(text: &str) -> String {
    match text.parse::<Filter>() {
        Ok(filter) => panic!("{text} parsed as {filter:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn shorthand_and_operator_forms_mean_the_same() {
    assert_eq!(parse(json!({"lang": "de"})), Filter::eq("lang", "de"));
    assert_eq!(
        parse(json!({"lang": {"$eq": "de"}})),
        Filter::eq("lang", "de")
    );
    assert_eq!(parse(json!({"n": 1.5})), Filter::eq("n", 1.5));
    assert_eq!(parse(json!({"flag": true})), Filter::eq("flag", true));
    assert_eq!(
        parse(json!({"gone": null})),
        Filter::eq("gone", Value::Null)
    );
}

#[test]
fn several_keys_and_several_operators_are_and() {
    assert_eq!(
        parse(json!({"lang": "de", "price": {"$gt": 10, "$lte": 99}})),
        Filter::And(vec![
            Filter::eq("lang", "de"),
            Filter::gt("price", 10),
            Filter::lte("price", 99),
        ])
    );
}

#[test]
fn every_operator_parses() {
    let filter = parse(json!({"$and": [
        {"a": {"$ne": 1}}, {"a": {"$lt": 1}}, {"a": {"$lte": 1}}, {"a": {"$gt": 1}},
        {"a": {"$gte": "2026-01-01T00:00:00Z"}}, {"a": {"$in": [1, "x", true, null]}},
        {"a": {"$nin": ["y"]}}, {"a": {"$exists": true}}, {"a": {"$exists": false}},
        {"tags": {"$contains": "x"}}, {"$or": [{"b": 1}, {"c": 2}]}, {"$not": {"d": 1}}
    ]}));
    let expected = Filter::And(vec![
        Filter::ne("a", 1),
        Filter::lt("a", 1),
        Filter::lte("a", 1),
        Filter::gt("a", 1),
        Filter::gte("a", "2026-01-01T00:00:00Z"),
        Filter::is_in("a", [json!(1), json!("x"), json!(true), Value::Null]),
        Filter::not_in("a", ["y"]),
        Filter::exists("a"),
        Filter::not(Filter::exists("a")),
        Filter::contains("tags", "x"),
        Filter::eq("b", 1).or(Filter::eq("c", 2)),
        Filter::not(Filter::eq("d", 1)),
    ]);
    assert_eq!(filter, expected);
}

#[test]
fn to_json_round_trips_through_from_json_and_serde() {
    let filter = Filter::eq("lang", "de")
        .and(Filter::gt("price", 10).or(Filter::contains("tags", json!(["a", "b"]))))
        .and(Filter::not(Filter::exists("a.b")))
        .and(Filter::not(Filter::is_in("x", [1, 2])))
        .and(Filter::eq(
            FieldPath::from_segments(["dotted.key", r"back\slash"]),
            json!({"k": [1]}),
        ));
    assert_eq!(parse(filter.to_json()), filter);
    let text = serde_json::to_string(&filter).unwrap_or_default();
    assert_eq!(text.parse::<Filter>().ok(), Some(filter.clone()));
    let back: Filter = serde_json::from_str(&text).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(back, filter);
    assert_eq!(
        Filter::not(Filter::exists("a")).to_json(),
        json!({"a": {"$exists": false}})
    );
}

#[test]
fn dotted_keys_are_paths_and_escapes_keep_dots() {
    assert_eq!(
        parse(json!({"a.b": 1})),
        Filter::eq(FieldPath::from_segments(["a", "b"]), 1)
    );
    assert_eq!(
        parse(json!({r"a\.b": 1})),
        Filter::eq(FieldPath::from_segments(["a.b"]), 1)
    );
    assert_eq!(
        parse(json!({" spaced key ": "x"})),
        Filter::eq(FieldPath::from_segments([" spaced key "]), "x")
    );
    assert_eq!(
        parse(json!({"größe.名前": "ü"})),
        Filter::eq(FieldPath::from_segments(["größe", "名前"]), "ü")
    );
}

#[test]
fn messages_name_the_location_the_operator_and_the_reason() {
    assert_eq!(
        error(json!({"$or": [{"a": 1}, {"price": {"$gt": {}}}]})),
        "$or[1].price.$gt: expects a number, string or RFC 3339 timestamp, found an object"
    );
    assert_eq!(
        error(json!({"a": {"$regex": "x.*"}})),
        "a.$regex: unknown operator $regex; expected one of $eq, $ne, $lt, $lte, $gt, $gte, $in, $nin, $exists, $contains"
    );
    assert_eq!(
        error(json!({"$regex": "x"})),
        "$regex: unknown operator $regex; expected $and, $or or $not, or a field name"
    );
    assert_eq!(
        error(json!({"$eq": "x"})),
        "$eq: $eq needs a field: write {\"<field>\": {\"$eq\": …}}"
    );
    assert_eq!(
        error(json!({"lang": {"$in": []}})),
        "lang.$in: expects a non-empty array of values"
    );
    assert_eq!(
        error(json!({"lang": {"$in": "de"}})),
        "lang.$in: expects a non-empty array of values, found a string"
    );
    assert_eq!(
        error(json!({"a": {"$exists": "yes"}})),
        "a.$exists: expects true or false, found a string"
    );
    assert_eq!(
        error(json!({"$and": {"a": 1}})),
        "$and: expects a non-empty array of filters, found an object"
    );
    assert_eq!(
        error(json!({"$and": []})),
        "$and: expects a non-empty array of filters, found an empty array"
    );
    assert_eq!(
        error(json!({"$or": [{"a": 1}, 7]})),
        "$or[1]: a filter is a JSON object, found a number"
    );
    assert_eq!(
        error(json!({"$not": {"flag": {"$gte": true}}})),
        "$not.flag.$gte: expects a number, string or RFC 3339 timestamp, found a boolean \
         (booleans are matched with $eq, $ne, $in or $nin)"
    );
    assert_eq!(
        error(json!({"a": {"$lt": null}})),
        "a.$lt: expects a number, string or RFC 3339 timestamp, found null"
    );
    assert_eq!(
        error(json!({"a": {"$or": [1]}})),
        "a.$or: $or combines filters and goes outside the field: {\"$or\": [{\"<field>\": …}, …]}"
    );
    assert!(error(json!({"tags": ["a"]})).starts_with("tags: an array needs an operator"));
    assert!(error(json!({"a": {"b": 1}})).starts_with(
        "a: expects a value or an operator object, found an object with key \"b\"; write a nested key as a dotted path (\"a.b\")"
    ));
    assert!(
        error(json!({"a": {"$eq": 1, "b": 1}}))
            .starts_with("a: expects a value or an operator object")
    );
    assert!(
        error(json!({"a": {}}))
            .starts_with("a: expects a value or an operator object, found an empty object")
    );
    assert_eq!(
        error(json!({})),
        "an empty filter object; leave the filter out to match every row"
    );
    assert_eq!(
        error(json!([1])),
        "a filter is a JSON object, found an array"
    );
}

#[test]
fn bad_keys_are_named() {
    assert_eq!(
        error(json!({"a..b": 1})),
        "a..b: key 2 of the path is empty"
    );
    assert_eq!(error(json!({"": 1})), "a field name may not be empty");
    assert_eq!(
        error(json!({"$or": [{"": 1}]})),
        "$or[0]: a field name may not be empty"
    );
    assert_eq!(
        error(json!({r"a\x": 1})),
        r"a\x: unknown escape \x (write \. for a dot and \\ for a backslash)"
    );
    assert_eq!(
        error(json!({"a\u{0}b": 1})),
        "a\u{0}b: key 1 of the path contains a NUL character"
    );
    assert!(error(json!({"k".repeat(257): 1})).ends_with("at most 256 are allowed"));
    assert_eq!(
        error(json!({"$or": [{"a": {"$in": ["ok", "bad\u{0}"]}}]})),
        "$or[0].a.$in[1]: strings may not contain NUL characters (jsonb cannot store them)"
    );
}

#[test]
fn hostile_keys_and_values_are_plain_data() {
    let sql_key = "x'); DROP TABLE embeddings; --";
    assert_eq!(
        parse(json!({ sql_key: "'; DELETE FROM embeddings; --" })),
        Filter::eq(
            FieldPath::from_segments([sql_key]),
            "'; DELETE FROM embeddings; --"
        )
    );
    // A JSONPath-looking key is one key name (its dots and brackets are just characters,
    // except that the dot splits it, as every dot does).
    assert_eq!(
        parse(json!({"q.$.a[*] ? (@ > 1)": 1})),
        Filter::eq(FieldPath::from_segments(["q", "$", "a[*] ? (@ > 1)"]), 1)
    );
    assert!(
        error(json!({"$.a[*] ? (@ > 1)": 1})).starts_with("$.a[*] ? (@ > 1): unknown operator")
    );
    assert_eq!(
        parse(json!({r#"quote"s and \\ backslash"#: "\"'`"})),
        Filter::eq(
            FieldPath::from_segments([r#"quote"s and \ backslash"#]),
            "\"'`"
        )
    );
}

#[test]
fn deep_nesting_is_a_clean_error_not_a_stack_overflow() {
    // Built as a Value (serde_json's text parser stops at 128 levels by itself).
    let mut value = json!({"a": 1});
    for _ in 0..1_000 {
        value = json!({ "$not": value });
    }
    let message = error(value.clone());
    assert!(
        message.ends_with("filters nest at most 32 levels deep"),
        "{message}"
    );
    assert!(message.starts_with("$not.$not."), "{message}");
    let mut text = String::from("{\"a\": 1}");
    for _ in 0..1_000 {
        text = format!("{{\"$or\": [{text}]}}");
    }
    assert!(text_error(&text).starts_with("not valid JSON: recursion limit exceeded"));
    // Dropping a 1,000-deep Value recurses 1,000 frames: fine, but not needed.
    std::mem::forget(value);
}

#[test]
fn depth_and_node_limits_match_check() {
    let mut at_limit = json!({"a": 1});
    for _ in 1..32 {
        at_limit = json!({ "$not": at_limit });
    }
    let filter = parse(at_limit.clone());
    assert_eq!(filter.check(), Ok(()));
    // `$exists: false` is two levels: one too many at the bottom of 32.
    let mut over = json!({"a": {"$exists": false}});
    for _ in 1..32 {
        over = json!({ "$not": over });
    }
    assert!(error(over).ends_with("filters nest at most 32 levels deep"));
    // Two keys put their conditions one level down.
    let mut implicit = json!({"a": 1, "b": 2});
    for _ in 1..32 {
        implicit = json!({ "$not": implicit });
    }
    assert!(error(implicit).ends_with("filters nest at most 32 levels deep"));

    let fits: Vec<Value> = (0..999).map(|n| json!({ "n": n })).collect();
    assert_eq!(parse(json!({ "$or": fits })).check(), Ok(()));
    let wide: Vec<Value> = (0..1_000).map(|n| json!({ "n": n })).collect();
    assert_eq!(
        error(json!({ "$or": wide })),
        "$or: a filter holds at most 1000 conditions and combinators"
    );
    let huge: Vec<Value> = (0..100_000).map(|n| json!({ "n": n })).collect();
    assert!(error(json!({ "$or": huge })).ends_with("at most 1000 conditions and combinators"));
    let values: Vec<Value> = (0..10_001).map(Value::from).collect();
    assert_eq!(
        error(json!({"n": {"$in": values}})),
        "n.$in: expects at most 10000 values, found 10001"
    );
}

#[test]
fn text_form_reports_json_syntax_errors() {
    assert!(text_error("{\"a\": ").starts_with("not valid JSON: EOF while parsing"));
    assert!(text_error("{'a': 1}").starts_with("not valid JSON: key must be a string"));
    assert_eq!(
        "  {\"lang\" : \"de\"}\n".parse::<Filter>().ok(),
        Some(Filter::eq("lang", "de"))
    );
}

#[test]
fn fields_and_combinators_mix_in_one_object() {
    let filter = parse(
        json!({"lang": "de", "price": {"$lt": 10}, "$or": [{"tags": {"$contains": "new"}}, {"stock": {"$gt": 0}}]}),
    );
    let Filter::And(parts) = &filter else {
        panic!("{filter:?}");
    };
    assert_eq!(parts.len(), 3);
    assert!(parts.contains(&Filter::eq("lang", "de")));
    assert!(parts.contains(&Filter::lt("price", 10)));
    assert!(parts.contains(&Filter::contains("tags", "new").or(Filter::gt("stock", 0))));
}
