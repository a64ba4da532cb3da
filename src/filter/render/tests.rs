//! Filter → SQL text and binds (the database checks live in tests/it/filters.rs).

use serde_json::json;

use super::*;
use crate::filter::PayloadKind;
use crate::sql::Bind;

fn render(filter: &Filter, layout: &PayloadLayout) -> (String, Vec<Bind>) {
    assert_eq!(filter.check(), Ok(()));
    let mut sql = SqlBuilder::new();
    filter.render(&mut sql, layout);
    (sql.sql().to_owned(), sql.binds().to_vec())
}

fn plain(filter: &Filter) -> (String, Vec<Bind>) {
    render(filter, &PayloadLayout::default())
}

fn path(keys: &[&str]) -> Bind {
    Bind::TextArray(keys.iter().map(|key| (*key).to_owned()).collect())
}

#[test]
fn comparisons_use_the_accessor_of_the_value_type() {
    assert_eq!(
        plain(&Filter::eq("lang", "de")),
        (
            "embedstore_jsonb_text((metadata #> $1::text[])) = $2::text".to_owned(),
            vec![path(&["lang"]), Bind::Text("de".into())]
        )
    );
    assert_eq!(
        plain(&Filter::gt("a.b", 10.5)).0,
        "embedstore_jsonb_numeric((metadata #> $1::text[])) > $2::numeric"
    );
    assert_eq!(
        plain(&Filter::gt("a.b", 10.5)).1[1],
        Bind::Text("10.5".into())
    );
    assert_eq!(
        plain(&Filter::lte("at", "2026-11-25T08:00:00+01:00")).0,
        "embedstore_jsonb_timestamptz((metadata #> $1::text[])) <= $2::timestamptz"
    );
    assert_eq!(
        plain(&Filter::lt("name", "m")).0,
        "embedstore_jsonb_text((metadata #> $1::text[])) < $2::text"
    );
    assert_eq!(
        plain(&Filter::eq("ok", true)).0,
        "embedstore_jsonb_bool((metadata #> $1::text[])) = $2::boolean"
    );
    assert_eq!(
        plain(&Filter::eq("gone", json!(null))),
        (
            "(metadata #> $1::text[]) = 'null'::jsonb".to_owned(),
            vec![path(&["gone"])]
        )
    );
    assert_eq!(
        plain(&Filter::eq("obj", json!({"k": 1}))).0,
        "(metadata #> $1::text[]) = $2::jsonb"
    );
}

#[test]
fn big_integers_travel_exactly_as_decimal_text() {
    assert_eq!(
        plain(&Filter::eq("n", 9_007_199_254_740_993_u64)).1[1],
        Bind::Text("9007199254740993".into())
    );
}

#[test]
fn negations_are_is_not_true_so_missing_keys_match() {
    assert_eq!(
        plain(&Filter::ne("lang", "de")).0,
        "((embedstore_jsonb_text((metadata #> $1::text[])) = $2::text) IS NOT TRUE)"
    );
    assert_eq!(
        plain(&Filter::not(Filter::exists("a"))).0,
        "(((metadata #> $1::text[]) IS NOT NULL) IS NOT TRUE)"
    );
}

#[test]
fn in_lists_get_one_typed_any_per_json_type() {
    let (sql, binds) = plain(&Filter::is_in(
        "v",
        [
            json!("a"),
            json!(1),
            json!(true),
            json!(null),
            json!("b"),
            json!([1]),
        ],
    ));
    assert_eq!(
        sql,
        "(embedstore_jsonb_text((metadata #> $1::text[])) = ANY($2::text[]) \
         OR embedstore_jsonb_numeric((metadata #> $3::text[])) = ANY($4::numeric[]) \
         OR embedstore_jsonb_bool((metadata #> $5::text[])) = ANY($6::boolean[]) \
         OR (metadata #> $7::text[]) = ANY($8::jsonb[]))"
    );
    assert_eq!(binds[1], Bind::TextArray(vec!["a".into(), "b".into()]));
    assert_eq!(binds[7], Bind::JsonbArray(vec![json!(null), json!([1])]));
    assert_eq!(
        plain(&Filter::is_in("v", ["a"])).0,
        "(embedstore_jsonb_text((metadata #> $1::text[])) = ANY($2::text[]))"
    );
}

#[test]
fn contains_wraps_a_scalar_and_requires_an_array() {
    assert_eq!(
        plain(&Filter::contains("tags", "x")),
        (
            "(jsonb_typeof(metadata #> $1::text[]) = 'array' AND (metadata #> $2::text[]) @> $3::jsonb)"
                .to_owned(),
            vec![path(&["tags"]), path(&["tags"]), Bind::Jsonb(json!(["x"]))]
        )
    );
}

#[test]
fn a_gin_layout_renders_scalar_eq_and_contains_as_containment() {
    let gin = PayloadLayout {
        gin: true,
        typed: vec![(FieldPath::from("price"), PayloadKind::Float)],
    };
    assert_eq!(
        render(&Filter::eq("a.b", "x"), &gin),
        (
            "metadata @> $1::jsonb".to_owned(),
            vec![Bind::Jsonb(json!({"a": {"b": "x"}}))]
        )
    );
    assert_eq!(
        render(&Filter::contains("tags", json!(["x", "y"])), &gin).1,
        vec![Bind::Jsonb(json!({"tags": ["x", "y"]}))]
    );
    // A typed btree entry wins for $eq; whole-object equality and array indexes never use @>.
    assert!(
        render(&Filter::eq("price", 3), &gin)
            .0
            .starts_with("embedstore_jsonb_numeric")
    );
    assert!(
        render(&Filter::eq("obj", json!({"k": 1})), &gin)
            .0
            .ends_with("= $2::jsonb")
    );
    assert!(
        render(&Filter::eq("tags.0", "x"), &gin)
            .0
            .starts_with("embedstore_jsonb_text")
    );
}

#[test]
fn keys_and_values_never_reach_the_sql_text() {
    let hostile = "x'); DROP TABLE embeddings; --";
    let filter = Filter::eq(hostile, hostile)
        .or(Filter::gt(hostile, hostile))
        .or(Filter::is_in(hostile, [hostile]))
        .or(Filter::contains(hostile, hostile))
        .or(Filter::exists(hostile));
    for layout in [
        PayloadLayout::default(),
        PayloadLayout {
            gin: true,
            typed: vec![],
        },
    ] {
        let (sql, _) = render(&filter, &layout);
        assert!(!sql.contains("DROP"), "{sql}");
        assert!(!sql.contains("x'"), "{sql}");
    }
}

#[test]
fn timestamps_follow_the_sql_accessors_rules() {
    for accepted in [
        "2026-11-25T08:00:00Z",
        "2026-11-25t08:00:00z",
        "2026-11-25 08:00:00.123456789+01:00",
        "2024-02-29T00:00:00-15:59",
        "0001-01-01T00:00:00+00:00",
    ] {
        assert!(is_timestamp(accepted), "{accepted}");
    }
    for refused in [
        "2026-11-25T08:00:00",
        "2026-11-25",
        "2023-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-11-25T24:00:00Z",
        "2026-11-25T08:00:60Z",
        "2026-11-25T08:00:00.Z",
        "2026-11-25T08:00:00+16:00",
        "2026-11-25T08:00:00+01:60",
        "2026-11-25T08:00:00+0100",
        "2026-11-25T08:00:00 Z",
        "２０２６-11-25T08:00:00Z",
        "2026-11-25T08:00:00Zjunk",
    ] {
        assert!(!is_timestamp(refused), "{refused}");
    }
}

#[test]
fn payload_kinds_have_stable_names() {
    for kind in PayloadKind::ALL {
        assert_eq!(kind.as_str().parse::<PayloadKind>().ok(), Some(kind));
        assert_eq!(serde_json::to_value(kind).ok(), Some(json!(kind.as_str())));
    }
    assert_eq!(PayloadKind::Integer.accessor(), "embedstore_jsonb_numeric");
    assert_eq!(
        "Keyword"
            .parse::<PayloadKind>()
            .err()
            .map(|error| error.to_string()),
        Some(
            "unknown payload kind \"Keyword\"; expected keyword, integer, float, bool or timestamp"
                .into()
        )
    );
}
