//! A reference evaluator of the documented filter semantics, written from the docs in plain
//! Rust, and random filters checked against it on the semantic matrix.

use chrono::{DateTime, FixedOffset};
use embedstore::{Error, Filter, ScrollRequest};
use embedstore_test_support::Rng;
use serde_json::{Value, json};

use super::{matrix, matrix_rows, rendered_ids};

/// Does `filter` select a row with this `metadata`, by the documented rules?
fn selects(filter: &Filter, metadata: &Value) -> bool {
    match filter {
        Filter::And(filters) => filters.iter().all(|filter| selects(filter, metadata)),
        Filter::Or(filters) => filters.iter().any(|filter| selects(filter, metadata)),
        Filter::Not(filter) => !selects(filter, metadata),
        Filter::Eq(path, value) => {
            lookup(metadata, path.segments()).is_some_and(|v| same(v, value))
        }
        Filter::Ne(path, value) => !selects(&Filter::Eq(path.clone(), value.clone()), metadata),
        Filter::In(path, values) => lookup(metadata, path.segments())
            .is_some_and(|v| values.iter().any(|value| same(v, value))),
        Filter::NotIn(path, values) => {
            !selects(&Filter::In(path.clone(), values.clone()), metadata)
        }
        Filter::Lt(path, value) => ordered(metadata, path.segments(), value, |o| o.is_lt()),
        Filter::Lte(path, value) => ordered(metadata, path.segments(), value, |o| o.is_le()),
        Filter::Gt(path, value) => ordered(metadata, path.segments(), value, |o| o.is_gt()),
        Filter::Gte(path, value) => ordered(metadata, path.segments(), value, |o| o.is_ge()),
        Filter::Exists(path) => lookup(metadata, path.segments()).is_some(),
        Filter::Contains(path, value) => match lookup(metadata, path.segments()) {
            Some(Value::Array(stored)) => {
                let wanted = match value {
                    Value::Array(wanted) => wanted.clone(),
                    scalar => vec![scalar.clone()],
                };
                wanted
                    .iter()
                    .all(|w| stored.iter().any(|s| contained(s, w)))
            }
            _ => false,
        },
        other => panic!("no reference semantics for {other:?}"),
    }
}

fn lookup<'v>(metadata: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter()
        .try_fold(metadata, |value, key| value.as_object()?.get(key))
}

/// JSON equality with numbers compared by value (as jsonb does).
fn same(stored: &Value, wanted: &Value) -> bool {
    match (stored, wanted) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
        }
        (a, b) => a == b,
    }
}

/// jsonb containment of one array element.
fn contained(stored: &Value, wanted: &Value) -> bool {
    match (stored, wanted) {
        (Value::Object(s), Value::Object(w)) => w
            .iter()
            .all(|(k, wv)| s.get(k).is_some_and(|sv| contained(sv, wv))),
        (Value::Array(s), Value::Array(w)) => {
            w.iter().all(|wv| s.iter().any(|sv| contained(sv, wv)))
        }
        (s, w) => same(s, w),
    }
}

fn timestamp(text: &str) -> Option<DateTime<FixedOffset>> {
    if !embedstore::internals::is_timestamp(text) {
        return None;
    }
    DateTime::parse_from_rfc3339(&text.replace([' ', 't'], "T").replace('z', "Z")).ok()
}

fn ordered(
    metadata: &Value,
    path: &[String],
    wanted: &Value,
    accept: impl Fn(std::cmp::Ordering) -> bool,
) -> bool {
    let Some(stored) = lookup(metadata, path) else {
        return false;
    };
    let ordering = match (stored, wanted) {
        (Value::Number(s), Value::Number(w)) => s
            .as_f64()
            .zip(w.as_f64())
            .and_then(|(s, w)| s.partial_cmp(&w)),
        (Value::String(s), Value::String(w)) => match timestamp(w) {
            Some(w) => timestamp(s).map(|s| s.cmp(&w)),
            None => Some(s.as_str().cmp(w.as_str())),
        },
        _ => None,
    };
    ordering.is_some_and(accept)
}

const PATHS: [&str; 9] = [
    "lang",
    "n",
    "price",
    "tags",
    "ok",
    "at",
    "nested.a.b",
    "missing",
    "arr",
];

fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
    &items[(rng.next_u64() % items.len() as u64) as usize]
}

/// A value for equality: scalars of every type, look-alikes, a few arrays.
fn equality_value(rng: &mut Rng) -> Value {
    pick(
        rng,
        &[
            json!("de"),
            json!("fr"),
            json!("10"),
            json!("true"),
            json!("x"),
            json!("a"),
            json!(1),
            json!(1.0),
            json!(10),
            json!(100),
            json!(2),
            json!(-3),
            json!(10.5),
            json!(true),
            json!(false),
            json!(null),
            json!(["b"]),
            json!([]),
            json!({"a": {"b": "x"}}),
        ],
    )
    .clone()
}

/// A value for ranges: numbers, collation-safe strings, timestamps.
fn range_value(rng: &mut Rng) -> Value {
    pick(
        rng,
        &[
            json!(0),
            json!(1),
            json!(10),
            json!(10.5),
            json!(-5),
            json!(500),
            json!("a"),
            json!("e"),
            json!("m"),
            json!("0"),
            json!("2026-01-01T00:00:00Z"),
            json!("2026-06-01T10:00:00Z"),
            json!("2026-03-01T00:00:00+05:00"),
        ],
    )
    .clone()
}

fn contains_value(rng: &mut Rng) -> Value {
    pick(
        rng,
        &[
            json!("a"),
            json!("b"),
            json!(["a", "b"]),
            json!({"k": 1}),
            json!([[2, 3]]),
            json!(1),
            json!("de"),
            json!("ü"),
        ],
    )
    .clone()
}

fn random_filter(rng: &mut Rng, depth: usize) -> Filter {
    let path = *pick(rng, &PATHS);
    let choice = rng.next_u64() % if depth == 0 { 10 } else { 13 };
    match choice {
        0 => Filter::eq(path, equality_value(rng)),
        1 => Filter::ne(path, equality_value(rng)),
        2 => Filter::lt(path, range_value(rng)),
        3 => Filter::lte(path, range_value(rng)),
        4 => Filter::gt(path, range_value(rng)),
        5 => Filter::gte(path, range_value(rng)),
        6 => Filter::is_in(
            path,
            (0..1 + rng.next_u64() % 3).map(|_| equality_value(rng)),
        ),
        7 => Filter::not_in(
            path,
            (0..1 + rng.next_u64() % 3).map(|_| equality_value(rng)),
        ),
        8 => Filter::exists(path),
        9 => Filter::contains(path, contains_value(rng)),
        10 => Filter::And((0..2).map(|_| random_filter(rng, depth - 1)).collect()),
        11 => Filter::Or((0..2).map(|_| random_filter(rng, depth - 1)).collect()),
        _ => Filter::not(random_filter(rng, depth - 1)),
    }
}

#[test]
fn random_filters_select_what_the_documented_semantics_say() {
    let (db, collection) = matrix();
    let rows = matrix_rows();
    let mut rng = Rng::new(20_261_125);
    let mut non_trivial = 0;
    for _ in 0..600 {
        let filter = random_filter(&mut rng, 2);
        let expected: Vec<String> = rows
            .iter()
            .filter(|(_, metadata)| selects(&filter, metadata))
            .map(|(id, _)| (*id).to_owned())
            .collect();
        if !expected.is_empty() && expected.len() < rows.len() {
            non_trivial += 1;
        }
        let page = db
            .store()
            .read(|uow| {
                uow.embeddings().scroll(
                    &collection,
                    &ScrollRequest::new(100).with_filter(filter.clone()),
                )
            })
            .unwrap_or_else(|error: Error| panic!("{}: {error}", filter.to_json()));
        let found: Vec<String> = page
            .items
            .into_iter()
            .map(|item| item.external_id)
            .collect();
        assert_eq!(found, expected, "{}", filter.to_json());
        assert_eq!(
            rendered_ids(&db, &collection, &filter, true),
            expected,
            "gin {}",
            filter.to_json()
        );
    }
    assert!(
        non_trivial > 150,
        "only {non_trivial} filters split the rows"
    );
}
