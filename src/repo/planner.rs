//! Which filters a collection's payload indexes serve: the planner counts matching rows (to
//! choose an exact scan for selective filters) only when an index makes that count cheap.

use serde_json::Value;

use crate::filter::{FieldPath, Filter, PayloadKind, PayloadLayout, is_timestamp};
use crate::models::CollectionId;

/// What the search planner remembers between searches, per store (the store's index cache):
///
/// - **row estimates of filters**: asking PostgreSQL costs planning a statement, and the
///   answer only changes when the statistics do (`ANALYZE`). A stale estimate can only pick the
///   slower of two correct paths: the exact path is exact, and a short ANN answer under a
///   filter is completed exactly;
/// - **which statement texts run prepared**: diesel's per-connection statement cache never
///   evicts, and every collection has its own texts, so the store admits a bounded number of
///   texts; later ones run as one-off statements.
pub(crate) trait PlannerMemory {
    /// The estimate kept for `key` (the filter's rendered SQL and values) in `collection`.
    fn estimate(&self, collection: CollectionId, key: &str) -> Option<u64>;
    /// Keeps `rows` as the estimate for `key` in `collection`.
    fn keep_estimate(&self, collection: CollectionId, key: String, rows: u64);
    /// Whether the statement `text` may run prepared: it was admitted before, or the store's
    /// bound leaves room for it.
    fn admit_prepared(&self, text: &str) -> bool;
}

/// The layout the filter renderer and the planner see, from the catalog's valid payload
/// indexes (`(field path, kind)`, kind `gin` with an empty path).
pub(crate) fn layout(payload: &[(Vec<String>, String)]) -> PayloadLayout {
    let mut layout = PayloadLayout::default();
    for (field, kind) in payload {
        if kind == "gin" {
            layout.gin = true;
        } else if let Ok(kind) = kind.parse::<PayloadKind>() {
            layout
                .typed
                .push((FieldPath::from_segments(field.iter().cloned()), kind));
        }
    }
    layout
}

/// True when an index narrows the rows `filter` matches: a conjunction needs one served
/// member, a disjunction all of them; negations and `$exists` are never served.
pub(crate) fn serves(layout: &PayloadLayout, filter: &Filter) -> bool {
    match filter {
        Filter::Eq(path, value) => {
            typed(layout, path, value, false) || (layout.gin && is_scalar(value))
        }
        Filter::Lt(path, value)
        | Filter::Lte(path, value)
        | Filter::Gt(path, value)
        | Filter::Gte(path, value) => typed(layout, path, value, true),
        Filter::In(path, values) => {
            !values.is_empty() && values.iter().all(|value| typed(layout, path, value, false))
        }
        Filter::Contains(..) => layout.gin,
        Filter::And(filters) => filters.iter().any(|filter| serves(layout, filter)),
        Filter::Or(filters) => {
            !filters.is_empty() && filters.iter().all(|filter| serves(layout, filter))
        }
        _ => false,
    }
}

fn is_scalar(value: &Value) -> bool {
    matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

/// Whether a btree payload index on `path` holds values of `value`'s type. A range over an
/// RFC 3339 string compares as a timestamp, so it needs a `timestamp` index.
fn typed(layout: &PayloadLayout, path: &FieldPath, value: &Value, range: bool) -> bool {
    layout.typed.iter().any(|(indexed, kind)| {
        indexed.segments() == path.segments()
            && match (value, kind) {
                (Value::Number(_), PayloadKind::Integer | PayloadKind::Float) => true,
                (Value::Bool(_), PayloadKind::Bool) => true,
                (Value::String(text), PayloadKind::Timestamp) => range && is_timestamp(text),
                (Value::String(text), PayloadKind::Keyword) => !(range && is_timestamp(text)),
                _ => false,
            }
    })
}
