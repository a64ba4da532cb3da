//! The rules the DTOs share: custom garde validators and the limits they enforce.

use crate::metric::Metric;
use crate::models::Collection;
use crate::vector::VectorKind;

mod vectors;

pub(crate) use vectors::{HALF_MAX, Purpose, beyond_half, check_vector, conform, half_misfits};

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
    /// The kind of vectors the collection stores.
    pub kind: VectorKind,
}

impl CollectionRules {
    /// The rules of a stored collection.
    pub fn of(collection: &Collection) -> Self {
        Self {
            dimension: collection.dimension as usize,
            metric: collection.metric,
            kind: collection.kind,
        }
    }

    /// The rules of a dense collection of `dimension` under `metric`.
    pub fn dense(dimension: usize, metric: Metric) -> Self {
        Self {
            dimension,
            metric,
            kind: VectorKind::Dense,
        }
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
    match nesting_and_nul(value) {
        Nesting::TooDeep => {
            return Err(garde::Error::new(format!(
                "nests objects or arrays deeper than {MAX_JSON_DEPTH} levels"
            )));
        }
        Nesting::HasNul => {
            return Err(garde::Error::new(
                "contains a NUL character (\\u0000), which PostgreSQL jsonb cannot store",
            ));
        }
        Nesting::Fine => {}
    }
    // Counted as serde_json writes it, without building the text.
    let mut size = ByteCount(0);
    let size = match serde_json::to_writer(&mut size, value) {
        Ok(()) => size.0,
        Err(_) => usize::MAX,
    };
    if size > limit {
        return Err(garde::Error::new(format!(
            "is {size} bytes as JSON, at most {limit} allowed"
        )));
    }
    Ok(())
}

/// An `io::Write` that only counts the bytes written to it.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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

#[derive(Debug, PartialEq, Eq)]
enum Nesting {
    Fine,
    TooDeep,
    HasNul,
}

/// Whether `value` nests deeper than [`MAX_JSON_DEPTH`] or holds a NUL in a key or a string:
/// one walk without recursion (a hostile value may be nested 100,000 deep).
fn nesting_and_nul(value: &serde_json::Value) -> Nesting {
    let mut pending = vec![(value, 1)];
    let mut has_nul = false;
    while let Some((value, level)) = pending.pop() {
        if level > MAX_JSON_DEPTH {
            return Nesting::TooDeep;
        }
        match value {
            serde_json::Value::String(text) => has_nul |= text.contains('\0'),
            serde_json::Value::Array(items) => {
                pending.extend(items.iter().map(|item| (item, level + 1)));
            }
            serde_json::Value::Object(map) => {
                for (key, item) in map {
                    has_nul |= key.contains('\0');
                    pending.push((item, level + 1));
                }
            }
            _ => {}
        }
    }
    if has_nul {
        Nesting::HasNul
    } else {
        Nesting::Fine
    }
}

#[cfg(test)]
mod tests;
