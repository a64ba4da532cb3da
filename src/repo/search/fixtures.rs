//! Hand-made inputs for the statement tests: a collection, its index facts, requests, and
//! readers of what a built statement binds. No database.

use chrono::{TimeZone, Utc};

use crate::dto::{IndexMethod, SearchSpec};
use crate::filter::Filter;
use crate::metric::{Metric, Quantization};
use crate::models::{Collection, CollectionId};
use crate::repo::catalog::CollectionIndexes;
use crate::sql::{Bind, SqlBuilder};
use crate::vector::VectorKind;

/// A dense cosine collection of 3 dimensions, id 7.
pub(crate) fn collection() -> Collection {
    let created = Utc.timestamp_opt(0, 0).single().unwrap_or_default();
    Collection {
        id: CollectionId(7),
        name: "docs".to_owned(),
        dimension: 3,
        metric: Metric::Cosine,
        model: "test-model".to_owned(),
        description: serde_json::json!({}),
        created_at: created,
        updated_at: created,
        kind: VectorKind::Dense,
    }
}

/// Index facts with a valid ANN index of `method` (quantized or not) and nothing else.
pub(super) fn ann(method: IndexMethod, quantization: Option<Quantization>) -> CollectionIndexes {
    CollectionIndexes {
        ann: Some(method),
        quantization,
        ..CollectionIndexes::default()
    }
}

/// Index facts without any index.
pub(super) fn none() -> CollectionIndexes {
    CollectionIndexes::default()
}

/// A plain request for the `k` nearest of a fixed query vector.
pub(super) fn request(k: u32) -> SearchSpec {
    SearchSpec::new(vec![0.25_f32, 0.5, 0.75], k)
}

/// `field = "x"`.
pub(super) fn filter_on(field: &str) -> Filter {
    Filter::eq(field, "x")
}

/// The text values `sql` binds, in order.
pub(super) fn texts(sql: &SqlBuilder) -> Vec<String> {
    sql.binds()
        .iter()
        .filter_map(|bind| match bind {
            Bind::Text(text) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// The integers `sql` binds (collection ids, limits), in order.
pub(super) fn integers(sql: &SqlBuilder) -> Vec<i64> {
    sql.binds()
        .iter()
        .filter_map(|bind| match bind {
            Bind::Int4(value) => Some(i64::from(*value)),
            Bind::Int8(value) => Some(*value),
            _ => None,
        })
        .collect()
}

/// The placeholders `$1`, `$2`, … `sql`'s text uses, each once, in order of first use.
pub(super) fn placeholders(sql: &SqlBuilder) -> Vec<usize> {
    let text = sql.sql();
    let mut seen = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(number) = digits.parse::<usize>() {
            if !seen.contains(&number) {
                seen.push(number);
            }
        }
    }
    seen
}

/// Asserts that every bind of `sql` has its placeholder in the text and nothing else does.
pub(super) fn assert_binds_match(sql: &SqlBuilder) {
    let mut used = placeholders(sql);
    used.sort_unstable();
    let expected: Vec<usize> = (1..=sql.bind_count()).collect();
    assert_eq!(used, expected, "{}", sql.sql());
}
