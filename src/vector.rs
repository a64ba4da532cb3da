//! The vectors a collection stores, of one of three kinds: dense (`vector`), sparse
//! (`sparsevec`, e.g. SPLADE term weights) and bit (`bit varying`, e.g. binary hashes).
//!
//! [`VectorValue`] is what callers hand in and get back; it reads the JSON forms the ingest
//! takes (an array of numbers, `{"indices": […], "values": […], "dim": N}`, a `"0101"` string)
//! and writes the same forms back. What a collection accepts is checked in `dto::rules`.

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use diesel::deserialize::{self, FromSql};
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

/// Most non-zero values of a stored sparse vector: pgvector's HNSW indexes sparse vectors of
/// up to 1,000 non-zeros, and a collection stays indexable only when every row is.
pub const MAX_SPARSE_NONZEROS: usize = 1000;
/// Most dimensions of a sparse collection (pgvector's `sparsevec` limit).
pub const MAX_SPARSE_DIMENSION: u32 = 1_000_000_000;
/// Most bits of a bit collection (pgvector's HNSW limit for `bit`).
pub const MAX_BIT_DIMENSION: u32 = 64_000;
/// Most dimensions of a dense collection (pgvector's `vector` limit).
pub const MAX_DENSE_DIMENSION: u32 = 16_000;

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

/// A sparse vector: `values[i]` sits at the 0-based position `indices[i]` of a vector of `dim`
/// dimensions; every other position is zero.
///
/// Stored, the indices must increase strictly, lie below `dim`, and the values must be finite
/// and non-zero (a collection refuses anything else, naming the offending position). JSON:
/// `{"indices": [3, 17], "values": [0.5, 1.25], "dim": 30522}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SparseVector {
    /// The positions of the non-zero values, 0-based, strictly increasing.
    pub indices: Vec<u32>,
    /// The values at those positions.
    pub values: Vec<f32>,
    /// The number of dimensions.
    #[serde(alias = "dimension")]
    pub dim: u32,
}

impl SparseVector {
    /// A sparse vector from its parts (checked when stored or searched, not here).
    pub fn new(dim: u32, indices: Vec<u32>, values: Vec<f32>) -> Self {
        Self {
            indices,
            values,
            dim,
        }
    }

    /// The non-zero values of `dense`, as a sparse vector of `dense.len()` dimensions.
    pub fn from_dense(dense: &[f32]) -> Self {
        let (indices, values) = dense
            .iter()
            .enumerate()
            .filter(|(_, value)| **value != 0.0)
            .map(|(index, value)| (index as u32, *value))
            .unzip();
        Self {
            indices,
            values,
            dim: u32::try_from(dense.len()).unwrap_or(u32::MAX),
        }
    }

    /// The dense form (`dim` values; meant for tests and small dimensions).
    pub fn to_dense(&self) -> Vec<f32> {
        let mut dense = vec![0.0; self.dim as usize];
        for (index, value) in self.indices.iter().zip(&self.values) {
            if let Some(slot) = dense.get_mut(*index as usize) {
                *slot = *value;
            }
        }
        dense
    }
}

/// A vector of bits, packed most significant bit first (PostgreSQL's `bit` layout).
///
/// JSON: a string of `0`s and `1`s (`"0110"`); an array of 0s and 1s (or booleans) is read too.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BitVector {
    len: u32,
    bytes: Vec<u8>,
}

impl BitVector {
    /// The bits of `bits`, in order.
    pub fn from_bools(bits: &[bool]) -> Self {
        let mut bytes = vec![0u8; bits.len().div_ceil(8)];
        for (index, bit) in bits.iter().enumerate() {
            if *bit {
                bytes[index / 8] |= 0x80 >> (index % 8);
            }
        }
        Self {
            len: u32::try_from(bits.len()).unwrap_or(u32::MAX),
            bytes,
        }
    }

    /// `len` bits packed in `bytes`, most significant bit first; `None` when `bytes` does not
    /// hold exactly `len` bits (bits past `len` in the last byte are cleared).
    pub fn from_bytes(len: u32, mut bytes: Vec<u8>) -> Option<Self> {
        if bytes.len() != (len as usize).div_ceil(8) {
            return None;
        }
        if !len.is_multiple_of(8)
            && let Some(last) = bytes.last_mut()
        {
            *last &= 0xFFu8 << (8 - len % 8);
        }
        Some(Self { len, bytes })
    }

    /// The number of bits.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether there are no bits at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The packed bits, most significant bit first.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bit at `index`.
    pub fn get(&self, index: usize) -> Option<bool> {
        (index < self.len()).then(|| self.bytes[index / 8] & (0x80 >> (index % 8)) != 0)
    }

    /// The bits, in order.
    pub fn iter(&self) -> impl Iterator<Item = bool> + '_ {
        (0..self.len()).map(|index| self.bytes[index / 8] & (0x80 >> (index % 8)) != 0)
    }

    /// How many bits are set.
    pub fn count_ones(&self) -> u32 {
        self.bytes.iter().map(|byte| byte.count_ones()).sum()
    }

    /// Sets the bit at `index` to `bit` and returns the bit it replaced; `None`, changing
    /// nothing, when `index` is not below [`BitVector::len`].
    pub fn set(&mut self, index: usize, bit: bool) -> Option<bool> {
        let previous = self.get(index)?;
        let mask = 0x80 >> (index % 8);
        if bit {
            self.bytes[index / 8] |= mask;
        } else {
            self.bytes[index / 8] &= !mask;
        }
        Some(previous)
    }

    /// The packed bits, most significant bit first, without a copy (the bits past
    /// [`BitVector::len`] in the last byte are zero).
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

impl fmt::Debug for BitVector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BitVector({self})")
    }
}

impl fmt::Display for BitVector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for bit in self.iter() {
            f.write_str(if bit { "1" } else { "0" })?;
        }
        Ok(())
    }
}

/// A string that is not made of `0`s and `1`s only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotBits {
    /// The 0-based character position of the first character that is neither `0` nor `1`.
    pub position: usize,
}

impl fmt::Display for NotBits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "character {} is neither 0 nor 1: a bit vector is a string of 0s and 1s",
            self.position
        )
    }
}

impl std::error::Error for NotBits {}

impl FromStr for BitVector {
    type Err = NotBits;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bits = text
            .chars()
            .enumerate()
            .map(|(position, character)| match character {
                '0' => Ok(false),
                '1' => Ok(true),
                _ => Err(NotBits { position }),
            })
            .collect::<Result<Vec<bool>, _>>()?;
        Ok(BitVector::from_bools(&bits))
    }
}

impl Serialize for BitVector {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BitVector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match VectorValue::deserialize(deserializer)? {
            VectorValue::Bit(bits) => Ok(bits),
            VectorValue::Dense(values) => bits_of(&values).map_err(de::Error::custom),
            VectorValue::Sparse(_) => Err(de::Error::custom(
                "expected a bit vector (a string of 0s and 1s), got a sparse vector",
            )),
        }
    }
}

/// The bits of `values` when each is 0 or 1; otherwise which one is not.
pub(crate) fn bits_of(values: &[f32]) -> Result<BitVector, String> {
    let bits = values
        .iter()
        .enumerate()
        .map(|(index, value)| match *value {
            0.0 => Ok(false),
            1.0 => Ok(true),
            _ => Err(format!("[{index}] is {value}, a bit must be 0 or 1")),
        })
        .collect::<Result<Vec<bool>, _>>()?;
    Ok(BitVector::from_bools(&bits))
}

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

impl Serialize for VectorValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            VectorValue::Dense(values) => values.serialize(serializer),
            VectorValue::Sparse(sparse) => sparse.serialize(serializer),
            VectorValue::Bit(bits) => bits.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for VectorValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = VectorValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a vector: an array of numbers, {\"indices\": [...], \"values\": [...], \"dim\": N} \
             or a string of 0s and 1s",
        )
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<VectorValue, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16_384));
        while let Some(value) = seq.next_element::<DenseElement>()? {
            values.push(value.0);
        }
        Ok(VectorValue::Dense(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<VectorValue, A::Error> {
        SparseVector::deserialize(de::value::MapAccessDeserializer::new(map))
            .map(VectorValue::Sparse)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<VectorValue, E> {
        text.parse::<BitVector>()
            .map(VectorValue::Bit)
            .map_err(E::custom)
    }
}

/// One element of a dense array: a number, or a boolean (read as 1 or 0, for bit vectors).
struct DenseElement(f32);

impl<'de> Deserialize<'de> for DenseElement {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ElementVisitor;
        impl Visitor<'_> for ElementVisitor {
            type Value = DenseElement;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<DenseElement, E> {
                Ok(DenseElement(value as f32))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<DenseElement, E> {
                Ok(DenseElement(value as f32))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<DenseElement, E> {
                Ok(DenseElement(value as f32))
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<DenseElement, E> {
                Ok(DenseElement(if value { 1.0 } else { 0.0 }))
            }
        }
        deserializer.deserialize_any(ElementVisitor)
    }
}

impl FromSql<sql_types::Varbit, Pg> for BitVector {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        let bytes = bytes.as_bytes();
        let (length, bits) = bytes
            .split_at_checked(4)
            .ok_or("a bit varying value shorter than its header")?;
        let length = u32::from_be_bytes(length.try_into()?);
        BitVector::from_bytes(length, bits.to_vec())
            .ok_or_else(|| "a bit varying value whose length disagrees with its bytes".into())
    }
}

/// A sparse vector as a `sparsevec` parameter (`sparsevec_recv`'s layout).
impl ToSql<pgvector::sql_types::SparseVector, Pg> for SparseVector {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        VectorValue::write_sparse(out, self)?;
        Ok(IsNull::No)
    }
}

/// A bit vector as a `bit` parameter (`bit_recv`'s layout).
impl ToSql<pgvector::sql_types::Bit, Pg> for BitVector {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(&self.len.to_be_bytes())?;
        out.write_all(&self.bytes)?;
        Ok(IsNull::No)
    }
}

/// diesel's name for PostgreSQL's `bit varying`, the column type of bit collections (diesel
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
mod tests {
    use super::*;

    #[test]
    fn json_forms_round_trip() {
        let dense: VectorValue = serde_json::from_str("[1, 2.5, -3]").unwrap();
        assert_eq!(dense, VectorValue::Dense(vec![1.0, 2.5, -3.0]));
        let sparse: VectorValue =
            serde_json::from_str(r#"{"indices": [0, 7], "values": [0.5, -1], "dim": 10}"#).unwrap();
        assert_eq!(
            sparse,
            VectorValue::Sparse(SparseVector::new(10, vec![0, 7], vec![0.5, -1.0]))
        );
        let bits: VectorValue = serde_json::from_str(r#""0110100111""#).unwrap();
        assert_eq!(bits.to_vec(), [0., 1., 1., 0., 1., 0., 0., 1., 1., 1.]);
        for value in [dense, sparse, bits] {
            let text = serde_json::to_string(&value).unwrap();
            assert_eq!(serde_json::from_str::<VectorValue>(&text).unwrap(), value);
        }
    }

    #[test]
    fn hostile_json_is_refused_with_the_reason() {
        for (text, expected) in [
            (r#""01x1""#, "character 2 is neither 0 nor 1"),
            (r#"" 0101""#, "character 0 is neither 0 nor 1"),
            (
                r#"{"indices": [1], "values": [1], "dim": 3, "x": 1}"#,
                "unknown field `x`",
            ),
            (
                r#"{"indices": [-1], "values": [1], "dim": 3}"#,
                "invalid value",
            ),
            (r#"{"indices": [1], "values": [1]}"#, "missing field `dim`"),
            (r#"["1"]"#, "expected a number"),
            ("12", "expected a vector"),
        ] {
            let error = serde_json::from_str::<VectorValue>(text)
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn bits_pack_most_significant_first_and_clear_the_tail() {
        let bits: BitVector = "101000001".parse().unwrap();
        assert_eq!(bits.as_bytes(), [0b1010_0000, 0b1000_0000]);
        assert_eq!(bits.count_ones(), 3);
        assert_eq!(bits.to_string(), "101000001");
        let tail = BitVector::from_bytes(3, vec![0xFF]).unwrap();
        assert_eq!(tail.as_bytes(), [0b1110_0000]);
        assert!(BitVector::from_bytes(9, vec![0xFF]).is_none());
        let from_bools: BitVector = serde_json::from_str("[true, 0, 1]").unwrap();
        assert_eq!(from_bools.to_string(), "101");
        assert!(serde_json::from_str::<BitVector>("[0, 2]").is_err());
    }

    #[test]
    fn send_bytes_read_back() {
        for value in [
            VectorValue::Dense(vec![1.5, -0.0, 3.0]),
            VectorValue::Sparse(SparseVector::new(30522, vec![2, 30521], vec![0.25, -7.0])),
            VectorValue::Bit("1100101".parse().unwrap()),
        ] {
            let mut bytes = Vec::new();
            value.write_send(&mut bytes).unwrap();
            assert_eq!(bytes.len(), value.send_len());
            assert_eq!(VectorValue::from_send(value.kind(), &bytes), Some(value));
        }
        assert_eq!(
            VectorValue::from_send(VectorKind::Sparse, &[0, 0, 0, 1]),
            None
        );
    }

    #[test]
    fn sparse_and_dense_forms_agree() {
        let dense = [0.0, 2.0, 0.0, -1.0];
        let sparse = SparseVector::from_dense(&dense);
        assert_eq!(sparse, SparseVector::new(4, vec![1, 3], vec![2.0, -1.0]));
        assert_eq!(sparse.to_dense(), dense);
        for kind in VectorKind::ALL {
            assert_eq!(kind.as_str().parse::<VectorKind>(), Ok(kind));
        }
    }

    #[test]
    fn values_change_in_place_and_come_out_without_a_copy() {
        let mut dense = VectorValue::Dense(vec![3.0, 4.0, 12.0]);
        let values = dense.as_dense_mut().unwrap();
        values.truncate(2);
        values.iter_mut().for_each(|value| *value /= 5.0);
        assert_eq!(dense.as_dense(), Some(&[0.6, 0.8][..]));
        assert_eq!(dense.as_sparse_mut(), None);
        assert_eq!(dense.as_bits_mut(), None);
        let pointer = dense.as_dense().unwrap().as_ptr();
        let owned = dense.into_dense().unwrap();
        assert_eq!(owned.as_ptr(), pointer, "into_dense must not copy");

        let mut sparse = VectorValue::Sparse(SparseVector::new(8, vec![1], vec![2.0]));
        sparse.as_sparse_mut().unwrap().values[0] = -2.0;
        assert_eq!(sparse.as_dense_mut(), None);
        let sparse = sparse.into_dense().unwrap_err();
        assert_eq!(
            sparse.into_sparse().unwrap(),
            SparseVector::new(8, vec![1], vec![-2.0])
        );

        let mut bits = VectorValue::Bit("1000000001".parse().unwrap());
        let inner = bits.as_bits_mut().unwrap();
        assert_eq!(inner.set(0, false), Some(true));
        assert_eq!(inner.set(8, true), Some(false));
        assert_eq!(inner.set(10, true), None, "past the end changes nothing");
        assert_eq!(bits.as_bits().unwrap().to_string(), "0000000011");
        let bits = bits.into_sparse().unwrap_err().into_bits().unwrap();
        assert_eq!(bits.into_bytes(), [0b0000_0000, 0b1100_0000]);
    }
}
