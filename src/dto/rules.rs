//! The rules the DTOs share: custom garde validators and the limits they enforce.

use crate::metric::Metric;
use crate::models::Collection;

/// Most bytes of a collection's serialized `description`.
pub const MAX_DESCRIPTION_BYTES: usize = 16 * 1024;
/// Most bytes of an embedding's serialized `metadata` (64 KiB keeps rows TOAST-friendly and
/// filters fast; put bulk data in `content`).
pub const MAX_METADATA_BYTES: usize = 64 * 1024;
/// Most bytes of an embedding's `content`.
pub const MAX_CONTENT_BYTES: usize = 1024 * 1024;
/// Deepest nesting of objects and arrays in `metadata` and `description`.
pub const MAX_JSON_DEPTH: usize = 32;
/// Most bytes of an `external_id`.
pub const MAX_EXTERNAL_ID_BYTES: usize = 512;

/// What vectors must satisfy to enter (or query) a collection: the garde context of
/// [`NewEmbedding`](crate::NewEmbedding) and [`SearchRequest`](crate::SearchRequest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectionRules {
    /// Required vector length.
    pub dimension: usize,
    /// The collection's metric (cosine refuses all-zero vectors).
    pub metric: Metric,
}

impl CollectionRules {
    /// The rules of a stored collection.
    pub fn of(collection: &Collection) -> Self {
        Self {
            dimension: collection.dimension(),
            metric: collection.metric,
        }
    }
}

pub(crate) fn vector_fits(vector: &[f32], rules: &CollectionRules) -> garde::Result {
    if vector.len() != rules.dimension {
        return Err(garde::Error::new(format!(
            "expected {} values, got {}",
            rules.dimension,
            vector.len()
        )));
    }
    if rules.metric == Metric::Cosine && vector.iter().all(|value| *value == 0.0) {
        return Err(garde::Error::new(
            "all values are zero, which has no cosine distance",
        ));
    }
    // pgvector sums squares in single precision: values this small (subnormal) give a norm
    // of zero, and every cosine distance to the vector would be NaN.
    if rules.metric == Metric::Cosine
        && vector.iter().map(|value| value * value).sum::<f32>() == 0.0
    {
        return Err(garde::Error::new(
            "its values are too small (subnormal): the length underflows to zero, which has no cosine distance",
        ));
    }
    Ok(())
}

pub(crate) fn finite(value: &f32, _: &CollectionRules) -> garde::Result {
    if value.is_nan() {
        Err(garde::Error::new("value is NaN"))
    } else if value.is_infinite() {
        Err(garde::Error::new("value is infinite"))
    } else {
        Ok(())
    }
}

pub(crate) fn external_id<C>(id: &str, _: &C) -> garde::Result {
    if id.is_empty() {
        return Err(garde::Error::new("is empty"));
    }
    if id.len() > MAX_EXTERNAL_ID_BYTES {
        return Err(garde::Error::new(format!(
            "is {} bytes, at most {MAX_EXTERNAL_ID_BYTES} allowed",
            id.len()
        )));
    }
    no_nul(id)
}

pub(crate) fn content<C>(content: &Option<String>, _: &C) -> garde::Result {
    let Some(text) = content else {
        return Ok(());
    };
    if text.len() > MAX_CONTENT_BYTES {
        return Err(garde::Error::new(format!(
            "is {} bytes, at most {MAX_CONTENT_BYTES} allowed",
            text.len()
        )));
    }
    no_nul(text)
}

pub(crate) fn metadata<C>(value: &serde_json::Value, _: &C) -> garde::Result {
    json_object_within(value, MAX_METADATA_BYTES)
}

pub(crate) fn description<C>(value: &serde_json::Value, _: &C) -> garde::Result {
    json_object_within(value, MAX_DESCRIPTION_BYTES)
}

pub(crate) fn slug<C>(name: &str, _: &C) -> garde::Result {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err(garde::Error::new("is empty")),
        Some(first) if !first.is_ascii_lowercase() => {
            return Err(garde::Error::new(
                "must start with a lowercase ASCII letter",
            ));
        }
        Some(_) => {}
    }
    if name.len() > 63 {
        return Err(garde::Error::new(format!(
            "is {} characters, at most 63 allowed",
            name.len()
        )));
    }
    match chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-'))
    {
        Some(bad) => Err(garde::Error::new(format!(
            "may contain only a-z, 0-9, _ and -, found {bad:?}"
        ))),
        None => Ok(()),
    }
}

pub(crate) fn model<C>(name: &str, _: &C) -> garde::Result {
    if name.is_empty() {
        return Err(garde::Error::new("is empty"));
    }
    if name.len() > 256 {
        return Err(garde::Error::new(format!(
            "is {} bytes, at most 256 allowed",
            name.len()
        )));
    }
    no_nul(name)
}

fn no_nul(text: &str) -> garde::Result {
    match text.find('\0') {
        Some(at) => Err(garde::Error::new(format!(
            "contains a NUL character at byte {at}"
        ))),
        None => Ok(()),
    }
}

/// A JSON object PostgreSQL's `jsonb` will take (no NUL in any string), within `limit` bytes.
fn json_object_within(value: &serde_json::Value, limit: usize) -> garde::Result {
    if !value.is_object() {
        return Err(garde::Error::new(format!(
            "must be a JSON object, got {}",
            json_kind(value)
        )));
    }
    if depth(value) > MAX_JSON_DEPTH {
        return Err(garde::Error::new(format!(
            "nests objects or arrays deeper than {MAX_JSON_DEPTH} levels"
        )));
    }
    if contains_nul(value) {
        return Err(garde::Error::new(
            "contains a NUL character (\\u0000), which PostgreSQL jsonb cannot store",
        ));
    }
    let size = serde_json::to_vec(value)
        .map(|bytes| bytes.len())
        .unwrap_or(usize::MAX);
    if size > limit {
        return Err(garde::Error::new(format!(
            "is {size} bytes as JSON, at most {limit} allowed"
        )));
    }
    Ok(())
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Nesting depth, measured without recursion (a hostile value may be nested 100,000 deep).
fn depth(value: &serde_json::Value) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(value, 1)];
    while let Some((value, level)) = pending.pop() {
        deepest = deepest.max(level);
        if level > MAX_JSON_DEPTH {
            break;
        }
        match value {
            serde_json::Value::Array(items) => {
                pending.extend(items.iter().map(|item| (item, level + 1)));
            }
            serde_json::Value::Object(map) => {
                pending.extend(map.values().map(|item| (item, level + 1)));
            }
            _ => {}
        }
    }
    deepest
}

/// Called after [`depth`] bounded the nesting.
fn contains_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(contains_nul),
        serde_json::Value::Object(map) => map
            .iter()
            .any(|(key, value)| key.contains('\0') || contains_nul(value)),
        _ => false,
    }
}
