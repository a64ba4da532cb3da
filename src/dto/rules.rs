//! The rules the DTOs share: custom garde validators and the limits they enforce.

use crate::metric::Metric;
use crate::models::Collection;
use crate::vector::{
    BitVector, MAX_SPARSE_NONZEROS, SparseVector, VectorKind, VectorValue, bits_of,
};

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

/// What a vector is checked for: storing adds pgvector's indexing limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// An item to store.
    Store,
    /// A query.
    Query,
}

/// Checks `value` against a collection of `rules.kind`, reporting each problem under `path`
/// (the vector's own path, e.g. `items[3].vector`): `vector[7]`, `vector.indices[2]`, ….
pub(crate) fn check_vector(
    value: &VectorValue,
    rules: &CollectionRules,
    purpose: Purpose,
    path: &mut dyn FnMut() -> garde::Path,
    report: &mut garde::Report,
) {
    match (rules.kind, value) {
        (VectorKind::Dense, VectorValue::Dense(values)) => {
            if !vector_plainly_fits(values, rules) {
                if let Err(error) = vector_fits(values, rules) {
                    report.append(path(), error);
                }
                finite_values(values, path, report);
            }
        }
        (VectorKind::Sparse, VectorValue::Sparse(sparse)) => {
            check_sparse(sparse, rules, purpose, path, report);
        }
        (VectorKind::Sparse, VectorValue::Dense(values)) => {
            if values.len() != rules.dimension {
                report.append(
                    path(),
                    garde::Error::new(format!(
                        "expected {} values (or a sparse vector of dim {0}), got {}",
                        rules.dimension,
                        values.len()
                    )),
                );
            } else if finite_values(values, path, report) {
                check_sparse(
                    &SparseVector::from_dense(values),
                    rules,
                    purpose,
                    path,
                    report,
                );
            }
        }
        (VectorKind::Bit, VectorValue::Bit(bits)) => check_bits(bits, rules, path, report),
        (VectorKind::Bit, VectorValue::Dense(values)) => match bits_of(values) {
            Ok(bits) => check_bits(&bits, rules, path, report),
            Err(problem) => report.append(
                path(),
                garde::Error::new(format!("{problem} in a bit collection")),
            ),
        },
        (kind, value) => report.append(
            path(),
            garde::Error::new(format!(
                "a {} vector cannot be used with a {kind} collection",
                value.kind()
            )),
        ),
    }
}

/// The value in the form the collection stores: a dense vector given to a sparse collection
/// becomes its non-zero values, one of 0s and 1s given to a bit collection its bits. Only
/// called on values [`check_vector`] accepted.
pub(crate) fn conform(value: VectorValue, kind: VectorKind) -> VectorValue {
    match (kind, value) {
        (VectorKind::Sparse, VectorValue::Dense(values)) => {
            VectorValue::Sparse(SparseVector::from_dense(&values))
        }
        (VectorKind::Bit, VectorValue::Dense(values)) => match bits_of(&values) {
            Ok(bits) => VectorValue::Bit(bits),
            Err(_) => VectorValue::Dense(values),
        },
        (_, value) => value,
    }
}

/// Reports every value that is not finite, as `vector[i]`; whether all are.
fn finite_values(
    values: &[f32],
    path: &mut dyn FnMut() -> garde::Path,
    report: &mut garde::Report,
) -> bool {
    let mut all = true;
    for (index, value) in values.iter().enumerate() {
        if let Err(error) = finite(value, &()) {
            report.append(path().join(index), error);
            all = false;
        }
    }
    all
}

fn check_sparse(
    sparse: &SparseVector,
    rules: &CollectionRules,
    purpose: Purpose,
    path: &mut dyn FnMut() -> garde::Path,
    report: &mut garde::Report,
) {
    let before = report.iter().count();
    if sparse.dim as usize != rules.dimension {
        report.append(
            path().join("dim"),
            garde::Error::new(format!(
                "expected {} dimensions, got {}",
                rules.dimension, sparse.dim
            )),
        );
    }
    if sparse.indices.len() != sparse.values.len() {
        report.append(
            path().join("values"),
            garde::Error::new(format!(
                "{} values for {} indices: each index needs exactly one value",
                sparse.values.len(),
                sparse.indices.len()
            )),
        );
    }
    if purpose == Purpose::Store && sparse.indices.len() > MAX_SPARSE_NONZEROS {
        report.append(
            path().join("indices"),
            garde::Error::new(format!(
                "{} non-zero values, at most {MAX_SPARSE_NONZEROS} (pgvector indexes sparse vectors of up to {MAX_SPARSE_NONZEROS} non-zeros)",
                sparse.indices.len()
            )),
        );
    }
    let mut previous: Option<u32> = None;
    for (position, index) in sparse.indices.iter().enumerate() {
        if *index as usize >= rules.dimension {
            report.append(
                path().join("indices").join(position),
                garde::Error::new(format!(
                    "{index} is out of range: positions are 0-based, below dim {}",
                    rules.dimension
                )),
            );
        }
        if let Some(previous) = previous
            && *index <= previous
        {
            report.append(
                path().join("indices").join(position),
                garde::Error::new(format!(
                    "{index} does not follow {previous}: indices must increase strictly"
                )),
            );
        }
        previous = Some(*index);
    }
    for (position, value) in sparse.values.iter().enumerate() {
        let problem = if value.is_nan() {
            Some("value is NaN")
        } else if value.is_infinite() {
            Some("value is infinite")
        } else if *value == 0.0 {
            Some("value is zero: a sparse vector lists its non-zero values only")
        } else {
            None
        };
        if let Some(problem) = problem {
            report.append(
                path().join("values").join(position),
                garde::Error::new(problem),
            );
        }
    }
    if report.iter().count() == before
        && rules.metric == Metric::Cosine
        && sparse.values.iter().map(|value| value * value).sum::<f32>() == 0.0
    {
        report.append(
            path(),
            garde::Error::new(if sparse.values.is_empty() {
                "has no non-zero value, which has no cosine distance"
            } else {
                "its values are too small (subnormal): the length underflows to zero, which has no cosine distance"
            }),
        );
    }
}

fn check_bits(
    bits: &BitVector,
    rules: &CollectionRules,
    path: &mut dyn FnMut() -> garde::Path,
    report: &mut garde::Report,
) {
    if bits.len() != rules.dimension {
        report.append(
            path(),
            garde::Error::new(format!(
                "expected {} bits, got {}",
                rules.dimension,
                bits.len()
            )),
        );
    } else if rules.metric == Metric::Jaccard && bits.count_ones() == 0 {
        report.append(
            path(),
            garde::Error::new("all bits are zero, which has no Jaccard distance"),
        );
    }
}

/// A query vector: what `check_vector` accepts for a search (an empty dense vector passes
/// here; the request decides whether it may be empty).
impl garde::Validate for VectorValue {
    type Context = CollectionRules;

    fn validate_into(
        &self,
        rules: &CollectionRules,
        parent: &mut dyn FnMut() -> garde::Path,
        report: &mut garde::Report,
    ) {
        if !self.is_empty() {
            check_vector(self, rules, Purpose::Query, parent, report);
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

/// Whether `vector` has the collection's dimension, only finite values and, under cosine, a
/// length that does not underflow to zero — decided in one pass over the values, the common
/// case of every batch. `false` says only that [`vector_fits`] and [`finite`] must look closer.
pub(crate) fn vector_plainly_fits(vector: &[f32], rules: &CollectionRules) -> bool {
    if vector.len() != rules.dimension {
        return false;
    }
    // Eight partial sums, so the loop vectorizes. A NaN or infinite value makes the sum NaN or
    // infinite; a sum of squares is zero exactly when every square is, in any order.
    let mut lanes = [0f32; 8];
    let chunks = vector.chunks_exact(8);
    let rest: f32 = chunks.remainder().iter().map(|value| value * value).sum();
    for chunk in chunks {
        for (lane, value) in lanes.iter_mut().zip(chunk) {
            *lane += value * value;
        }
    }
    let sum = lanes.iter().sum::<f32>() + rest;
    sum.is_finite() && (rules.metric != Metric::Cosine || sum > 0.0)
}

pub(crate) fn finite<C>(value: &f32, _: &C) -> garde::Result {
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
