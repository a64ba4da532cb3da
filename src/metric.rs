//! Distance metrics and the SQL they map to.
//!
//! One [`Metric`] decides the operator, the operator class a later ANN index uses, and how a
//! distance becomes a similarity score, so the query and the index can never disagree.

use serde::{Deserialize, Serialize};

use crate::vector::{BitVector, SparseVector, VectorKind, VectorValue};

/// How distance between two vectors is measured in a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Metric {
    /// Euclidean distance, `<->`. Score: `1 / (1 + distance)`, in (0, 1].
    L2,
    /// Cosine distance `1 - cos(a, b)`, `<=>`, in [0, 2]. Score: the cosine similarity
    /// `1 - distance`, in [-1, 1]. All-zero vectors are refused (their cosine is undefined).
    Cosine,
    /// Negative inner product, `<#>` (pgvector negates it so that smaller is nearer). Score: the
    /// inner product itself, `-distance`; equals cosine similarity for unit-length vectors.
    InnerProduct,
    /// Manhattan (taxicab) distance, `<+>`. Score: `1 / (1 + distance)`, in (0, 1].
    L1,
    /// Hamming distance between bit vectors (the number of differing bits), `<~>`; bit
    /// collections only. Score: `1 / (1 + distance)`, in (0, 1].
    Hamming,
    /// Jaccard distance between bit vectors, `1 - |a ∧ b| / |a ∨ b|`, `<%>`, in [0, 1]; bit
    /// collections only. Score: the Jaccard similarity `1 - distance`. All-zero bit vectors
    /// are refused (their Jaccard distance is undefined).
    Jaccard,
}

impl Metric {
    /// Every metric this version knows, in a stable order. It grows when a metric is added
    /// (the enum is `#[non_exhaustive]`), and not every metric suits every collection: to
    /// choose metrics for a collection, take [`Metric::of_kind`], [`Metric::FLOAT`] or
    /// [`Metric::BIT`].
    pub const EVERY: [Metric; 6] = [
        Metric::L2,
        Metric::Cosine,
        Metric::InnerProduct,
        Metric::L1,
        Metric::Hamming,
        Metric::Jaccard,
    ];

    /// The four float metrics `l2`, `cosine`, `inner_product`, `l1`: what `ALL` meant when they
    /// were every metric there was. It keeps that meaning, so code that creates a dense
    /// collection for each of them still works; the name no longer tells the truth, hence the
    /// deprecation.
    #[deprecated(
        note = "`Metric::ALL` is the float metrics only (l2, cosine, inner_product, l1), as \
                before bit collections existed; use `Metric::FLOAT` for those, `Metric::EVERY` \
                for every metric, or `Metric::of_kind(kind)` for one collection kind"
    )]
    pub const ALL: [Metric; 4] = Metric::FLOAT;

    /// The metrics of dense and sparse collections.
    pub const FLOAT: [Metric; 4] = [Metric::L2, Metric::Cosine, Metric::InnerProduct, Metric::L1];

    /// The metrics of bit collections.
    pub const BIT: [Metric; 2] = [Metric::Hamming, Metric::Jaccard];

    /// The metrics a collection of `kind` may use.
    pub fn of_kind(kind: VectorKind) -> &'static [Metric] {
        match kind {
            VectorKind::Dense | VectorKind::Sparse => &Metric::FLOAT,
            VectorKind::Bit => &Metric::BIT,
        }
    }

    /// The name stored in `collections.metric` and used by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::Cosine => "cosine",
            Metric::InnerProduct => "inner_product",
            Metric::L1 => "l1",
            Metric::Hamming => "hamming",
            Metric::Jaccard => "jaccard",
        }
    }

    /// The pgvector distance operator.
    pub fn operator(self) -> &'static str {
        match self {
            Metric::L2 => "<->",
            Metric::Cosine => "<=>",
            Metric::InnerProduct => "<#>",
            Metric::L1 => "<+>",
            Metric::Hamming => "<~>",
            Metric::Jaccard => "<%>",
        }
    }

    /// The operator class an ANN index on `element` values needs for this metric.
    pub(crate) fn operator_class(self, element: Element) -> &'static str {
        match (element, self) {
            (Element::Vector, Metric::L2) => "vector_l2_ops",
            (Element::Vector, Metric::Cosine) => "vector_cosine_ops",
            (Element::Vector, Metric::InnerProduct) => "vector_ip_ops",
            (Element::Vector, Metric::L1) => "vector_l1_ops",
            (Element::HalfVector, Metric::L2) => "halfvec_l2_ops",
            (Element::HalfVector, Metric::Cosine) => "halfvec_cosine_ops",
            (Element::HalfVector, Metric::InnerProduct) => "halfvec_ip_ops",
            (Element::HalfVector, Metric::L1) => "halfvec_l1_ops",
            (Element::SparseVector, Metric::L2) => "sparsevec_l2_ops",
            (Element::SparseVector, Metric::Cosine) => "sparsevec_cosine_ops",
            (Element::SparseVector, Metric::InnerProduct) => "sparsevec_ip_ops",
            (Element::SparseVector, Metric::L1) => "sparsevec_l1_ops",
            (_, Metric::Jaccard) => "bit_jaccard_ops",
            // Validation pairs bit collections with Hamming or Jaccard only; Hamming is the
            // operator class of a binary-quantized index as well.
            (_, Metric::Hamming) | (Element::Bit, _) => "bit_hamming_ops",
        }
    }

    /// The operator a `quantization` index orders by: Hamming distance `<~>` on bits, the
    /// metric's own operator on half precision.
    pub fn indexed_operator(self, quantization: Option<Quantization>) -> &'static str {
        match quantization {
            Some(Quantization::Binary) => "<~>",
            Some(Quantization::Half) | None => self.operator(),
        }
    }

    /// The operator class of a `quantization` index (`None`: [`Metric::operator_class`] of
    /// `element`).
    pub(crate) fn indexed_operator_class(
        self,
        element: Element,
        quantization: Option<Quantization>,
    ) -> &'static str {
        match quantization {
            None => self.operator_class(element),
            Some(Quantization::Half) => self.operator_class(Element::HalfVector),
            Some(Quantization::Binary) => "bit_hamming_ops",
        }
    }

    /// The distance between two vectors of one kind as pgvector computes it (in `f64`); NaN
    /// for vectors of different kinds. Sparse vectors are compared without densifying them.
    pub fn value_distance(self, a: &VectorValue, b: &VectorValue) -> f64 {
        match (a, b) {
            (VectorValue::Dense(a), VectorValue::Dense(b)) => self.distance(a, b),
            (VectorValue::Bit(a), VectorValue::Bit(b)) => self.bit_distance(a, b),
            (VectorValue::Sparse(a), VectorValue::Sparse(b)) => self.sparse_distance(a, b),
            _ => f64::NAN,
        }
    }

    /// Hamming or Jaccard distance on the packed bytes (bits past the length are zero).
    fn bit_distance(self, a: &BitVector, b: &BitVector) -> f64 {
        let pairs = || a.as_bytes().iter().zip(b.as_bytes());
        let count = |bytes: u32| f64::from(bytes);
        match self {
            Metric::Hamming => count(pairs().map(|(x, y)| (x ^ y).count_ones()).sum()),
            Metric::Jaccard => {
                let both: u32 = pairs().map(|(x, y)| (x & y).count_ones()).sum();
                let either: u32 = pairs().map(|(x, y)| (x | y).count_ones()).sum();
                1.0 - count(both) / count(either)
            }
            _ => f64::NAN,
        }
    }

    fn sparse_distance(self, a: &SparseVector, b: &SparseVector) -> f64 {
        // A merge over both index lists: every position where either is non-zero.
        let (mut i, mut j) = (0, 0);
        let (mut l2, mut l1, mut dot, mut norm_a, mut norm_b) = (0.0, 0.0, 0.0, 0.0, 0.0);
        let value = |values: &[f32], at: usize| f64::from(values[at]);
        while i < a.indices.len() || j < b.indices.len() {
            let (x, y) = match (a.indices.get(i), b.indices.get(j)) {
                (Some(ia), Some(ib)) if ia == ib => {
                    i += 1;
                    j += 1;
                    (value(&a.values, i - 1), value(&b.values, j - 1))
                }
                (Some(ia), Some(ib)) if ia < ib => {
                    i += 1;
                    (value(&a.values, i - 1), 0.0)
                }
                (Some(_), None) => {
                    i += 1;
                    (value(&a.values, i - 1), 0.0)
                }
                _ => {
                    j += 1;
                    (0.0, value(&b.values, j - 1))
                }
            };
            l2 += (x - y) * (x - y);
            l1 += (x - y).abs();
            dot += x * y;
            norm_a += x * x;
            norm_b += y * y;
        }
        match self {
            Metric::L2 => l2.sqrt(),
            Metric::L1 => l1,
            Metric::InnerProduct => -dot,
            Metric::Cosine => 1.0 - dot / (norm_a.sqrt() * norm_b.sqrt()),
            Metric::Hamming | Metric::Jaccard => f64::NAN,
        }
    }

    /// Turns a distance returned by [`Metric::operator`] into a score where higher is more similar.
    pub fn score(self, distance: f64) -> f64 {
        match self {
            Metric::L2 | Metric::L1 | Metric::Hamming => 1.0 / (1.0 + distance),
            Metric::Cosine | Metric::Jaccard => 1.0 - distance,
            Metric::InnerProduct => -distance,
        }
    }

    /// The distance between two vectors as pgvector computes it (in `f64` here), used by
    /// tests and tools that check results against brute force. Under Hamming and Jaccard a
    /// non-zero value is a set bit ([`crate::VectorValue::to_vec`]'s form of a bit vector).
    pub fn distance(self, a: &[f32], b: &[f32]) -> f64 {
        let pairs = a.iter().zip(b).map(|(x, y)| (f64::from(*x), f64::from(*y)));
        match self {
            Metric::Hamming => pairs.filter(|(x, y)| (*x != 0.0) != (*y != 0.0)).count() as f64,
            Metric::Jaccard => {
                let (both, either) = pairs.fold((0u64, 0u64), |(both, either), (x, y)| {
                    let (x, y) = (x != 0.0, y != 0.0);
                    (both + u64::from(x && y), either + u64::from(x || y))
                });
                1.0 - both as f64 / either as f64
            }
            Metric::L2 => pairs.map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt(),
            Metric::L1 => pairs.map(|(x, y)| (x - y).abs()).sum(),
            Metric::InnerProduct => -pairs.map(|(x, y)| x * y).sum::<f64>(),
            Metric::Cosine => {
                let (dot, norm_a, norm_b) = pairs.fold((0.0, 0.0, 0.0), |(dot, na, nb), (x, y)| {
                    (dot + x * y, na + x * x, nb + y * y)
                });
                1.0 - dot / (norm_a.sqrt() * norm_b.sqrt())
            }
        }
    }
}

/// How an ANN index stores the vectors it compares: a smaller, lossy copy that the search
/// then corrects by re-ranking the index's candidates by the exact distance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Quantization {
    /// Half precision, `halfvec(N)` (2 bytes per dimension instead of 4), under the
    /// collection's own metric. Indexable up to 4,000 dimensions.
    Half,
    /// One bit per dimension, `binary_quantize(embedding)::bit(N)` (the sign of each value),
    /// compared by Hamming distance. Indexable up to 64,000 dimensions. The sign pattern
    /// approximates the angle between vectors, so it suits cosine, inner product, and L2 on
    /// (nearly) normalized, roughly zero-centred data; not L1.
    Binary,
}

impl Quantization {
    /// Every quantization this version knows, in a stable order; it grows when one is added
    /// (the enum is `#[non_exhaustive]`).
    pub const ALL: [Quantization; 2] = [Quantization::Half, Quantization::Binary];

    /// The name used by the API, the CLI and the index catalog: `half` or `binary`.
    pub fn as_str(self) -> &'static str {
        match self {
            Quantization::Half => "half",
            Quantization::Binary => "binary",
        }
    }

    /// Parses `half` or `binary`.
    pub fn from_name(name: &str) -> Option<Self> {
        Quantization::ALL
            .into_iter()
            .find(|quantization| quantization.as_str() == name)
    }
}

/// The element type an ANN index (and the search expression) stores values as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    /// Single precision `vector(N)`: indexable up to 2,000 dimensions.
    Vector,
    /// Half precision `halfvec(N)`: indexable up to 4,000 dimensions.
    HalfVector,
    /// Bits, `bit(N)`: a bit collection (or a binary-quantized index), up to 64,000 bits.
    Bit,
    /// Sparse, `sparsevec(N)`: HNSW only, up to 1,000 non-zeros a row.
    SparseVector,
}

impl Element {
    /// The name the index catalog records (`ann_indexes.element`).
    pub fn as_str(self) -> &'static str {
        match self {
            Element::Vector => "vector",
            Element::HalfVector => "halfvec",
            Element::Bit => "bit",
            Element::SparseVector => "sparsevec",
        }
    }
}

/// The expression a collection's searches order by — and the one its ANN index is built on.
///
/// The vector columns are untyped (`vector`, `sparsevec`, `bit varying` without a dimension),
/// which pgvector cannot index, so each collection searches and indexes a cast to its own
/// dimension: `embedding::vector(N)` (or `::halfvec(N)` above 2,000 dimensions),
/// `sparse::sparsevec(N)`, `bits::bit(N)`. Postgres uses an expression index only when the
/// query orders by the identical expression, which is why both come from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchExpression {
    /// The collection's kind: which column holds its vectors.
    pub kind: VectorKind,
    /// The collection's dimension.
    pub dimension: u32,
    /// `None` above 4,000 dense dimensions: no ANN index is possible, searches are exact scans.
    pub element: Option<Element>,
}

/// Most dimensions an HNSW/IVFFlat index supports on `vector`.
pub const MAX_VECTOR_INDEX_DIMENSION: u32 = 2000;
/// Most dimensions an HNSW/IVFFlat index supports on `halfvec`.
pub const MAX_HALFVEC_INDEX_DIMENSION: u32 = 4000;

impl SearchExpression {
    /// The expression for a dense collection of `dimension`.
    pub fn for_dimension(dimension: u32) -> Self {
        Self::for_collection(VectorKind::Dense, dimension)
    }

    /// The expression for a collection of `kind` and `dimension`.
    pub fn for_collection(kind: VectorKind, dimension: u32) -> Self {
        let element = match kind {
            VectorKind::Dense if dimension <= MAX_VECTOR_INDEX_DIMENSION => Some(Element::Vector),
            VectorKind::Dense if dimension <= MAX_HALFVEC_INDEX_DIMENSION => {
                Some(Element::HalfVector)
            }
            VectorKind::Dense => None,
            VectorKind::Sparse => Some(Element::SparseVector),
            VectorKind::Bit => Some(Element::Bit),
        };
        Self {
            kind,
            dimension,
            element,
        }
    }

    /// The stored column, untyped: `embedding`, `sparse` or `bits`.
    pub fn column(&self) -> &'static str {
        column_of(self.kind)
    }

    /// SQL for the stored column (qualified by `table`, e.g. `e`, when given) in PostgreSQL's
    /// binary form as `bytea` (`vector_send(e.embedding)`, …), the one shape every kind is read
    /// back in ([`crate::VectorValue`] decodes it).
    pub fn send_sql(&self, table: Option<&str>) -> String {
        let function = match self.kind {
            VectorKind::Dense => "vector_send",
            VectorKind::Sparse => "sparsevec_send",
            VectorKind::Bit => "varbit_send",
        };
        match table {
            Some(table) => format!("{function}({table}.{})", self.column()),
            None => format!("{function}({})", self.column()),
        }
    }

    /// SQL for the stored column as indexed, e.g. `embedding::vector(384)`. The dimension is
    /// an integer from our own catalog, never caller text.
    pub fn column_sql(&self) -> String {
        self.cast(self.column())
    }

    /// SQL for the query parameter `placeholder` cast to the same type.
    pub fn parameter_sql(&self, placeholder: &str) -> String {
        match self.element {
            Some(Element::HalfVector) => self.cast(placeholder),
            // A vector, sparsevec or bit parameter compares with its typed column directly.
            _ => placeholder.to_owned(),
        }
    }

    /// SQL for the stored column as a `quantization` index stores it: `embedding::halfvec(N)`
    /// or `binary_quantize(embedding)::bit(N)`; [`SearchExpression::column_sql`] without one.
    pub fn indexed_column_sql(&self, quantization: Option<Quantization>) -> String {
        self.indexed(self.column(), quantization)
    }

    /// SQL for the query parameter `placeholder` as a `quantization` index compares it: the
    /// counterpart of [`SearchExpression::indexed_column_sql`].
    pub fn indexed_parameter_sql(
        &self,
        placeholder: &str,
        quantization: Option<Quantization>,
    ) -> String {
        match quantization {
            None => self.parameter_sql(placeholder),
            Some(_) => self.indexed(placeholder, quantization),
        }
    }

    fn indexed(&self, operand: &str, quantization: Option<Quantization>) -> String {
        match quantization {
            None => self.cast(operand),
            Some(Quantization::Half) => format!("{operand}::halfvec({})", self.dimension),
            Some(Quantization::Binary) => {
                format!("binary_quantize({operand})::bit({})", self.dimension)
            }
        }
    }

    fn cast(&self, operand: &str) -> String {
        match self.element {
            Some(Element::Vector) => format!("{operand}::vector({})", self.dimension),
            Some(Element::HalfVector) => format!("{operand}::halfvec({})", self.dimension),
            Some(Element::SparseVector) => format!("{operand}::sparsevec({})", self.dimension),
            Some(Element::Bit) => format!("{operand}::bit({})", self.dimension),
            None => operand.to_owned(),
        }
    }
}

/// The column of `embeddings` that holds the vectors of a collection of `kind`.
pub(crate) fn column_of(kind: VectorKind) -> &'static str {
    match kind {
        VectorKind::Dense => "embedding",
        VectorKind::Sparse => "sparse",
        VectorKind::Bit => "bits",
    }
}

/// A metric name that is not one of `l2`, `cosine`, `inner_product`, `l1`, `hamming`, `jaccard`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownMetric(pub String);

crate::names::closed_names!(Metric, Metric::EVERY, UnknownMetric, MetricColumn, "metric");

#[cfg(test)]
mod tests;
