//! The rules for vectors: a value checked against a collection's kind, dimension and metric
//! (and, for storing, pgvector's indexing limits), and the lossless conversions between kinds.

use crate::dto::rules::CollectionRules;
use crate::metric::Metric;
use crate::vector::{
    BitVector, MAX_SPARSE_NONZEROS, MAX_VECTOR_NORM, SparseVector, VectorKind, VectorValue, bits_of,
};

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
        && let Err(error) = short_enough(&sparse.values)
    {
        report.append(path(), error);
    } else if report.iter().count() == before
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
    if vector.iter().any(|value| !value.is_finite()) {
        // Reported value by value by `finite`.
        return Ok(());
    }
    short_enough(vector)?;
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

/// Refuses finite `values` whose L2 norm is above [`MAX_VECTOR_NORM`]: pgvector's
/// single-precision sums (norm, distance, inner product) would overflow for them.
pub(crate) fn short_enough(values: &[f32]) -> garde::Result {
    let squares: f64 = values
        .iter()
        .map(|value| f64::from(*value) * f64::from(*value))
        .sum();
    if squares <= MAX_VECTOR_NORM * MAX_VECTOR_NORM {
        return Ok(());
    }
    Err(garde::Error::new(format!(
        "its length (L2 norm) is {:.3e}, above the {MAX_VECTOR_NORM:e} allowed: pgvector computes norms, distances and inner products in single precision, which would overflow to infinity or NaN",
        squares.sqrt()
    )))
}

/// The squared norm the one-pass check lets through without a closer look: [`MAX_VECTOR_NORM`]
/// squared, less a margin for the single-precision sum's rounding.
const PLAIN_SQUARED_NORM: f32 = 0.99e36;

/// Whether `vector` has the collection's dimension, only finite values, a length of at most
/// [`MAX_VECTOR_NORM`] and, under cosine, a length that does not underflow to zero — decided
/// in one pass over the values, the common case of every batch. `false` says only that
/// [`vector_fits`] and [`finite`] must look closer.
pub(crate) fn vector_plainly_fits(vector: &[f32], rules: &CollectionRules) -> bool {
    if vector.len() != rules.dimension {
        return false;
    }
    // Eight partial sums, so the loop vectorizes. A NaN or infinite value makes the sum NaN or
    // infinite (and the comparison below false); a sum of squares is zero exactly when every
    // square is, in any order.
    let mut lanes = [0f32; 8];
    let chunks = vector.chunks_exact(8);
    let rest: f32 = chunks.remainder().iter().map(|value| value * value).sum();
    for chunk in chunks {
        for (lane, value) in lanes.iter_mut().zip(chunk) {
            *lane += value * value;
        }
    }
    let sum = lanes.iter().sum::<f32>() + rest;
    sum <= PLAIN_SQUARED_NORM && (rules.metric != Metric::Cosine || sum > 0.0)
}

/// The largest magnitude a half-precision float (`halfvec`) holds.
pub(crate) const HALF_MAX: f32 = 65504.0;

/// Why `value` (beyond ±[`HALF_MAX`]) cannot enter a collection whose ANN index is on `halfvec`.
pub(crate) fn beyond_half(value: f32) -> String {
    format!(
        "{value} is beyond ±65504, the largest half-precision value: this collection's ANN index stores halfvec (a half-quantized index, or any index above 2,000 dimensions), which cannot hold it"
    )
}

/// Every dense value of `items` beyond ±[`HALF_MAX`], as `(items[i].vector[j], why)`.
pub(crate) fn half_misfits(items: &[crate::dto::NewEmbedding]) -> Vec<(String, String)> {
    items
        .iter()
        .enumerate()
        .filter_map(|(item, embedding)| Some((item, embedding.vector.as_dense()?)))
        .flat_map(|(item, values)| {
            values
                .iter()
                .enumerate()
                .filter(|(_, value)| value.abs() > HALF_MAX)
                .map(move |(at, value)| {
                    (format!("items[{item}].vector[{at}]"), beyond_half(*value))
                })
        })
        .collect()
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
