//! The vectors a collection stores, of one of three kinds: dense (`vector`), sparse
//! (`sparsevec`, e.g. SPLADE term weights) and bit (`bit varying`, e.g. binary hashes).
//!
//! [`VectorValue`] is what callers hand in and get back; it reads the JSON forms the ingest
//! takes (an array of numbers, `{"indices": […], "values": […], "dim": N}`, a `"0101"` string)
//! and writes the same forms back. What a collection accepts is checked in `dto::rules`.

use std::io::Write;

use serde::{Deserialize, Serialize};

mod bits;
mod json;
mod sparse;

pub(crate) use bits::bits_of;
pub use bits::{BitVector, NotBits};
pub use sparse::SparseVector;

/// Most non-zero values of a stored sparse vector: pgvector's HNSW indexes sparse vectors of
/// up to 1,000 non-zeros, and a collection stays indexable only when every row is.
pub const MAX_SPARSE_NONZEROS: usize = 1000;
/// Most dimensions of a sparse collection (pgvector's `sparsevec` limit).
pub const MAX_SPARSE_DIMENSION: u32 = 1_000_000_000;
/// Most bits of a bit collection (pgvector's HNSW limit for `bit`).
pub const MAX_BIT_DIMENSION: u32 = 64_000;
/// Most dimensions of a dense collection (pgvector's `vector` limit).
pub const MAX_DENSE_DIMENSION: u32 = 16_000;
/// Longest a dense or sparse vector may be (its L2 norm, `sqrt(Σ xᵢ²)`), stored or queried.
///
/// pgvector computes the squared L2 distance, the inner product, the L1 distance and the
/// cosine's dot product and squared norms of `vector` and `sparsevec` in single precision
/// (`f32`, largest ≈ 3.4·10³⁸): `[3e38, 3e38]` holds only finite values, yet its squared
/// norm is infinite and its cosine distance to anything is NaN. With every vector's norm at
/// most 10¹⁸, each of those sums stays below 4·10³⁶ for any two vectors (the squared L2
/// distance is at most `(‖a‖ + ‖b‖)²`, the inner product at most `‖a‖·‖b‖`, the L1 distance
/// at most `√n·(‖a‖ + ‖b‖)`), far from overflow, so every distance and score is finite. No
/// embedding model comes near it; the limit only refuses values that would poison rankings.
pub const MAX_VECTOR_NORM: f64 = 1e18;

/// What a collection stores; fixed when it is created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum VectorKind {
    /// Dense `f32` vectors (`vector`), 1..=16,000 dimensions, metrics `l2`, `cosine`,
    /// `inner_product`, `l1`.
    #[default]
    Dense,
    /// Sparse vectors (`sparsevec`): up to 1,000 non-zero values among 1..=10⁹ dimensions,
    /// metrics `l2`, `cosine`, `inner_product`, `l1`.
    Sparse,
    /// Bit vectors (`bit varying`), 1..=64,000 bits, metrics `hamming` and `jaccard`.
    Bit,
}

impl VectorKind {
    /// Every kind this version knows, in a stable order; it grows when a kind is added (the
    /// enum is `#[non_exhaustive]`).
    pub const ALL: [VectorKind; 3] = [VectorKind::Dense, VectorKind::Sparse, VectorKind::Bit];

    /// The name stored in `collections.kind` and used by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            VectorKind::Dense => "dense",
            VectorKind::Sparse => "sparse",
            VectorKind::Bit => "bit",
        }
    }

    /// Most dimensions a collection of this kind may have.
    pub fn max_dimension(self) -> u32 {
        match self {
            VectorKind::Dense => MAX_DENSE_DIMENSION,
            VectorKind::Sparse => MAX_SPARSE_DIMENSION,
            VectorKind::Bit => MAX_BIT_DIMENSION,
        }
    }
}

/// A kind name that is not one of `dense`, `sparse`, `bit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKind(pub String);

crate::names::closed_names!(
    VectorKind,
    VectorKind::ALL,
    UnknownKind,
    VectorKindColumn,
    "vector kind"
);

/// A vector of any [`VectorKind`]: what items carry in, queries search with, and rows give
/// back.
///
/// `From<Vec<f32>>` makes a dense one, so `NewEmbedding::new("id", vec![0.1, 0.2])` reads as
/// before. A collection converts what it can losslessly: a dense vector given to a sparse
/// collection is stored as its non-zero values, one of 0s and 1s given to a bit collection as
/// its bits; anything else of the wrong kind is refused by validation.
///
/// JSON: an array of numbers (dense), `{"indices": […], "values": […], "dim": N}` (sparse), a
/// string of `0`s and `1`s (bit).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum VectorValue {
    /// Dense values.
    Dense(Vec<f32>),
    /// A sparse vector.
    Sparse(SparseVector),
    /// A bit vector.
    Bit(BitVector),
}

impl VectorValue {
    /// The kind of this value.
    pub fn kind(&self) -> VectorKind {
        match self {
            VectorValue::Dense(_) => VectorKind::Dense,
            VectorValue::Sparse(_) => VectorKind::Sparse,
            VectorValue::Bit(_) => VectorKind::Bit,
        }
    }

    /// The number of dimensions (values, positions or bits).
    pub fn dimension(&self) -> usize {
        match self {
            VectorValue::Dense(values) => values.len(),
            VectorValue::Sparse(sparse) => sparse.dim as usize,
            VectorValue::Bit(bits) => bits.len(),
        }
    }

    /// The dense values, when this is a dense vector.
    pub fn as_dense(&self) -> Option<&[f32]> {
        match self {
            VectorValue::Dense(values) => Some(values),
            _ => None,
        }
    }

    /// The sparse vector, when this is one.
    pub fn as_sparse(&self) -> Option<&SparseVector> {
        match self {
            VectorValue::Sparse(sparse) => Some(sparse),
            _ => None,
        }
    }

    /// The bits, when this is a bit vector.
    pub fn as_bits(&self) -> Option<&BitVector> {
        match self {
            VectorValue::Bit(bits) => Some(bits),
            _ => None,
        }
    }

    /// The dense values, mutable in place (to normalize or truncate them), when this is a
    /// dense vector.
    pub fn as_dense_mut(&mut self) -> Option<&mut Vec<f32>> {
        match self {
            VectorValue::Dense(values) => Some(values),
            _ => None,
        }
    }

    /// The sparse vector, mutable in place, when this is one (its invariants are checked
    /// when it is stored or searched, as for [`SparseVector::new`]).
    pub fn as_sparse_mut(&mut self) -> Option<&mut SparseVector> {
        match self {
            VectorValue::Sparse(sparse) => Some(sparse),
            _ => None,
        }
    }

    /// The bits, mutable in place ([`BitVector::set`]), when this is a bit vector.
    pub fn as_bits_mut(&mut self) -> Option<&mut BitVector> {
        match self {
            VectorValue::Bit(bits) => Some(bits),
            _ => None,
        }
    }

    /// The dense values without a copy, or the value itself back when it is of another kind.
    ///
    /// # Errors
    ///
    /// The unchanged value when it is not dense.
    pub fn into_dense(self) -> Result<Vec<f32>, VectorValue> {
        match self {
            VectorValue::Dense(values) => Ok(values),
            other => Err(other),
        }
    }

    /// The sparse vector, or the value itself back when it is of another kind.
    ///
    /// # Errors
    ///
    /// The unchanged value when it is not sparse.
    pub fn into_sparse(self) -> Result<SparseVector, VectorValue> {
        match self {
            VectorValue::Sparse(sparse) => Ok(sparse),
            other => Err(other),
        }
    }

    /// The bits, or the value itself back when it is of another kind.
    ///
    /// # Errors
    ///
    /// The unchanged value when it is not a bit vector.
    pub fn into_bits(self) -> Result<BitVector, VectorValue> {
        match self {
            VectorValue::Bit(bits) => Ok(bits),
            other => Err(other),
        }
    }

    /// Every dimension as an `f32`: the values of a dense vector, a sparse vector with its
    /// zeros filled in, the bits of a bit vector as 0.0 and 1.0.
    pub fn to_vec(&self) -> Vec<f32> {
        match self {
            VectorValue::Dense(values) => values.clone(),
            VectorValue::Sparse(sparse) => sparse.to_dense(),
            VectorValue::Bit(bits) => bits.iter().map(|bit| f32::from(u8::from(bit))).collect(),
        }
    }

    /// [`VectorValue::to_vec`]'s values, borrowed when the vector is dense (no copy on the
    /// export of a dense collection).
    pub(crate) fn values(&self) -> std::borrow::Cow<'_, [f32]> {
        match self {
            VectorValue::Dense(values) => std::borrow::Cow::Borrowed(values),
            _ => std::borrow::Cow::Owned(self.to_vec()),
        }
    }

    /// Whether the value holds no dimension at all (an empty dense vector).
    pub fn is_empty(&self) -> bool {
        self.dimension() == 0
    }

    /// Bytes of heap memory the value holds (for cache accounting).
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            VectorValue::Dense(values) => 4 * values.len(),
            VectorValue::Sparse(sparse) => 4 * (sparse.indices.len() + sparse.values.len()),
            VectorValue::Bit(bits) => bits.bytes.len(),
        }
    }

    /// PostgreSQL's binary form of the value (`vector_send`, `sparsevec_send`, `varbit_send`),
    /// appended to `out`: what the binary `COPY` writes and the upsert compares with.
    pub(crate) fn write_send(&self, out: &mut impl Write) -> std::io::Result<()> {
        match self {
            VectorValue::Dense(values) => write_dense(out, values),
            VectorValue::Sparse(sparse) => VectorValue::write_sparse(out, sparse),
            VectorValue::Bit(bits) => {
                out.write_all(&bits.len.to_be_bytes())?;
                out.write_all(&bits.bytes)
            }
        }
    }

    fn write_sparse(out: &mut impl Write, sparse: &SparseVector) -> std::io::Result<()> {
        let nonzeros = i32::try_from(sparse.indices.len())
            .map_err(|_| std::io::Error::other("a sparse vector has too many values"))?;
        let dim = i32::try_from(sparse.dim)
            .map_err(|_| std::io::Error::other("a sparse vector has too many dimensions"))?;
        out.write_all(&dim.to_be_bytes())?;
        out.write_all(&nonzeros.to_be_bytes())?;
        out.write_all(&0i32.to_be_bytes())?;
        for index in &sparse.indices {
            out.write_all(&index.to_be_bytes())?;
        }
        for value in &sparse.values {
            out.write_all(&value.to_be_bytes())?;
        }
        Ok(())
    }

    /// The length of [`VectorValue::write_send`]'s output.
    pub(crate) fn send_len(&self) -> usize {
        match self {
            VectorValue::Dense(values) => 4 + 4 * values.len(),
            VectorValue::Sparse(sparse) => 12 + 8 * sparse.indices.len(),
            VectorValue::Bit(bits) => 4 + bits.bytes.len(),
        }
    }

    /// Reads [`VectorValue::write_send`]'s bytes of `kind` back.
    pub(crate) fn from_send(kind: VectorKind, bytes: &[u8]) -> Option<Self> {
        let int = |at: usize| -> Option<[u8; 4]> { bytes.get(at..at + 4)?.try_into().ok() };
        match kind {
            VectorKind::Dense => {
                let dimension = usize::from(u16::from_be_bytes(bytes.get(..2)?.try_into().ok()?));
                let floats = bytes.get(4..)?;
                (floats.len() == 4 * dimension).then(|| {
                    VectorValue::Dense(
                        floats
                            .chunks_exact(4)
                            .map(|chunk| {
                                f32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]])
                            })
                            .collect(),
                    )
                })
            }
            VectorKind::Sparse => {
                let dim = u32::from_be_bytes(int(0)?);
                let nonzeros = usize::try_from(u32::from_be_bytes(int(4)?)).ok()?;
                if bytes.len() != 12 + 8 * nonzeros {
                    return None;
                }
                let indices = (0..nonzeros)
                    .map(|index| int(12 + 4 * index).map(u32::from_be_bytes))
                    .collect::<Option<Vec<u32>>>()?;
                let values = (0..nonzeros)
                    .map(|index| int(12 + 4 * nonzeros + 4 * index).map(f32::from_be_bytes))
                    .collect::<Option<Vec<f32>>>()?;
                Some(VectorValue::Sparse(SparseVector {
                    indices,
                    values,
                    dim,
                }))
            }
            VectorKind::Bit => {
                let len = u32::from_be_bytes(int(0)?);
                BitVector::from_bytes(len, bytes.get(4..)?.to_vec()).map(VectorValue::Bit)
            }
        }
    }
}

/// A dense vector as pgvector's `vector_send` writes it: `int16` dimension, `int16` zero, then
/// the values as big-endian `float4`s.
pub(crate) fn write_dense(out: &mut impl Write, values: &[f32]) -> std::io::Result<()> {
    let dimension = u16::try_from(values.len())
        .map_err(|_| std::io::Error::other("a vector has more values than pgvector allows"))?;
    out.write_all(&dimension.to_be_bytes())?;
    out.write_all(&0u16.to_be_bytes())?;
    let mut bytes = [0u8; 4 * 64];
    for chunk in values.chunks(64) {
        for (slot, value) in bytes.chunks_exact_mut(4).zip(chunk) {
            slot.copy_from_slice(&value.to_be_bytes());
        }
        out.write_all(&bytes[..4 * chunk.len()])?;
    }
    Ok(())
}

impl Default for VectorValue {
    fn default() -> Self {
        VectorValue::Dense(Vec::new())
    }
}

impl From<Vec<f32>> for VectorValue {
    fn from(values: Vec<f32>) -> Self {
        VectorValue::Dense(values)
    }
}

impl From<&[f32]> for VectorValue {
    fn from(values: &[f32]) -> Self {
        VectorValue::Dense(values.to_vec())
    }
}

impl From<SparseVector> for VectorValue {
    fn from(sparse: SparseVector) -> Self {
        VectorValue::Sparse(sparse)
    }
}

impl From<BitVector> for VectorValue {
    fn from(bits: BitVector) -> Self {
        VectorValue::Bit(bits)
    }
}

/// has none of its own; `diesel print-schema` names it `Varbit`).
pub mod sql_types {
    /// `bit varying`.
    #[derive(
        Debug, Clone, Copy, Default, diesel::sql_types::SqlType, diesel::query_builder::QueryId,
    )]
    #[diesel(postgres_type(name = "varbit"))]
    pub struct Varbit;

    /// `sparsevec` as `diesel print-schema` names it.
    pub type Sparsevec = pgvector::sql_types::SparseVector;
}

#[cfg(test)]
mod tests;
