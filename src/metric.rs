//! Distance metrics and the SQL they map to.
//!
//! One [`Metric`] decides the operator, the operator class a later ANN index uses, and how a
//! distance becomes a similarity score, so the query and the index can never disagree.

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};

/// How distance between two vectors is measured in a collection.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, AsExpression, FromSqlRow,
)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "snake_case")]
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
}

impl Metric {
    /// Every metric, in a stable order.
    pub const ALL: [Metric; 4] = [Metric::L2, Metric::Cosine, Metric::InnerProduct, Metric::L1];

    /// The name stored in `collections.metric` and used by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::Cosine => "cosine",
            Metric::InnerProduct => "inner_product",
            Metric::L1 => "l1",
        }
    }

    /// The pgvector distance operator.
    pub fn operator(self) -> &'static str {
        match self {
            Metric::L2 => "<->",
            Metric::Cosine => "<=>",
            Metric::InnerProduct => "<#>",
            Metric::L1 => "<+>",
        }
    }

    /// The operator class an ANN index on `element` values needs for this metric.
    pub fn operator_class(self, element: Element) -> &'static str {
        match (element, self) {
            (Element::Vector, Metric::L2) => "vector_l2_ops",
            (Element::Vector, Metric::Cosine) => "vector_cosine_ops",
            (Element::Vector, Metric::InnerProduct) => "vector_ip_ops",
            (Element::Vector, Metric::L1) => "vector_l1_ops",
            (Element::HalfVector, Metric::L2) => "halfvec_l2_ops",
            (Element::HalfVector, Metric::Cosine) => "halfvec_cosine_ops",
            (Element::HalfVector, Metric::InnerProduct) => "halfvec_ip_ops",
            (Element::HalfVector, Metric::L1) => "halfvec_l1_ops",
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
    pub fn indexed_operator_class(
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

    /// Turns a distance returned by [`Metric::operator`] into a score where higher is more similar.
    pub fn score(self, distance: f64) -> f64 {
        match self {
            Metric::L2 | Metric::L1 => 1.0 / (1.0 + distance),
            Metric::Cosine => 1.0 - distance,
            Metric::InnerProduct => -distance,
        }
    }

    /// The distance between two vectors as pgvector computes it (in `f64` here), used by
    /// tests and tools that check results against brute force.
    pub fn distance(self, a: &[f32], b: &[f32]) -> f64 {
        let pairs = a.iter().zip(b).map(|(x, y)| (f64::from(*x), f64::from(*y)));
        match self {
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
    /// Both quantizations, in a stable order.
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
}

/// The expression a collection's searches order by — and the one its ANN index is built on.
///
/// The column is untyped (`vector` without a dimension), which pgvector cannot index, so each
/// collection searches and indexes the cast `embedding::vector(N)` (or `::halfvec(N)` above
/// 2,000 dimensions). Postgres uses an expression index only when the query orders by the
/// identical expression, which is why both come from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchExpression {
    /// The collection's dimension.
    pub dimension: u32,
    /// `None` above 4,000 dimensions: no ANN index is possible, searches are exact scans.
    pub element: Option<Element>,
}

/// Most dimensions an HNSW/IVFFlat index supports on `vector`.
pub const MAX_VECTOR_INDEX_DIMENSION: u32 = 2000;
/// Most dimensions an HNSW/IVFFlat index supports on `halfvec`.
pub const MAX_HALFVEC_INDEX_DIMENSION: u32 = 4000;

impl SearchExpression {
    /// The expression for a collection of `dimension`.
    pub fn for_dimension(dimension: u32) -> Self {
        let element = if dimension <= MAX_VECTOR_INDEX_DIMENSION {
            Some(Element::Vector)
        } else if dimension <= MAX_HALFVEC_INDEX_DIMENSION {
            Some(Element::HalfVector)
        } else {
            None
        };
        Self { dimension, element }
    }

    /// SQL for the stored column as indexed, e.g. `embedding::vector(384)`. The dimension is
    /// an integer from our own catalog, never caller text.
    pub fn column_sql(&self) -> String {
        self.cast("embedding")
    }

    /// SQL for the query parameter `placeholder` cast to the same type.
    pub fn parameter_sql(&self, placeholder: &str) -> String {
        match self.element {
            // A vector parameter compares with vector(N) directly; no cast needed.
            Some(Element::Vector) | None => placeholder.to_owned(),
            Some(Element::HalfVector) => self.cast(placeholder),
        }
    }

    /// SQL for the stored column as a `quantization` index stores it: `embedding::halfvec(N)`
    /// or `binary_quantize(embedding)::bit(N)`; [`SearchExpression::column_sql`] without one.
    pub fn indexed_column_sql(&self, quantization: Option<Quantization>) -> String {
        self.indexed("embedding", quantization)
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
            None => operand.to_owned(),
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A metric name that is not one of `l2`, `cosine`, `inner_product`, `l1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownMetric(pub String);

impl fmt::Display for UnknownMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown metric {:?}, expected one of l2, cosine, inner_product, l1",
            self.0
        )
    }
}

impl std::error::Error for UnknownMetric {}

impl FromStr for Metric {
    type Err = UnknownMetric;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Metric::ALL
            .into_iter()
            .find(|metric| metric.as_str() == text)
            .ok_or_else(|| UnknownMetric(text.to_owned()))
    }
}

impl ToSql<Text, Pg> for Metric {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(self.as_str().as_bytes())?;
        Ok(IsNull::No)
    }
}

impl FromSql<Text, Pg> for Metric {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        let text = std::str::from_utf8(bytes.as_bytes())?;
        Ok(text.parse()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for metric in Metric::ALL {
            assert_eq!(metric.as_str().parse::<Metric>(), Ok(metric));
            let json = serde_json::to_string(&metric).unwrap();
            assert_eq!(json, format!("\"{}\"", metric.as_str()));
        }
        assert!(
            "dot"
                .parse::<Metric>()
                .unwrap_err()
                .to_string()
                .contains("inner_product")
        );
    }

    #[test]
    fn expression_switches_to_halfvec_above_2000_dimensions() {
        assert_eq!(
            SearchExpression::for_dimension(384).column_sql(),
            "embedding::vector(384)"
        );
        assert_eq!(
            SearchExpression::for_dimension(384).parameter_sql("$2"),
            "$2"
        );
        let wide = SearchExpression::for_dimension(3072);
        assert_eq!(wide.column_sql(), "embedding::halfvec(3072)");
        assert_eq!(wide.parameter_sql("$2"), "$2::halfvec(3072)");
        assert_eq!(
            SearchExpression::for_dimension(8000).column_sql(),
            "embedding"
        );
    }

    #[test]
    fn quantized_expressions_match_the_index_definitions() {
        let expression = SearchExpression::for_dimension(384);
        assert_eq!(
            expression.indexed_column_sql(Some(Quantization::Half)),
            "embedding::halfvec(384)"
        );
        assert_eq!(
            expression.indexed_parameter_sql("$1", Some(Quantization::Binary)),
            "binary_quantize($1)::bit(384)"
        );
        assert_eq!(expression.indexed_parameter_sql("$1", None), "$1");
        assert_eq!(
            Metric::Cosine.indexed_operator(Some(Quantization::Binary)),
            "<~>"
        );
        assert_eq!(
            Metric::InnerProduct.indexed_operator_class(Element::Vector, Some(Quantization::Half)),
            "halfvec_ip_ops"
        );
        for quantization in Quantization::ALL {
            assert_eq!(
                Quantization::from_name(quantization.as_str()),
                Some(quantization)
            );
        }
    }

    #[test]
    fn scores_grow_with_similarity() {
        for metric in Metric::ALL {
            assert!(metric.score(0.1) > metric.score(0.9), "{metric}");
        }
        assert_eq!(Metric::Cosine.score(0.25), 0.75);
        assert_eq!(Metric::InnerProduct.score(-3.0), 3.0);
    }

    #[test]
    fn brute_force_distances_match_definitions() {
        let (a, b) = ([1.0, 0.0], [0.0, 2.0]);
        assert!((Metric::L2.distance(&a, &b) - 5f64.sqrt()).abs() < 1e-12);
        assert_eq!(Metric::L1.distance(&a, &b), 3.0);
        assert_eq!(Metric::InnerProduct.distance(&a, &b), 0.0);
        assert!((Metric::Cosine.distance(&a, &b) - 1.0).abs() < 1e-12);
    }
}
