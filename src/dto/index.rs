use garde::{Valid, Validate};
use serde::{Deserialize, Serialize};

use crate::dto::rules::CollectionRules;
use crate::metric::{MAX_HALFVEC_INDEX_DIMENSION, Metric, Quantization, SearchExpression};
use crate::models::Collection;
use crate::vector::VectorKind;

/// The approximate nearest-neighbour index methods pgvector offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum IndexMethod {
    /// Hierarchical navigable small world graph: best speed/recall, slower to build, can be
    /// built on an empty collection.
    Hnsw,
    /// Inverted file with flat lists: quick to build, needs data first (its `lists` are
    /// clustered from the rows present at build time), no `l1` metric.
    IvfFlat,
}

impl IndexMethod {
    /// The access method's name in SQL (`USING hnsw`).
    pub fn as_str(self) -> &'static str {
        match self {
            IndexMethod::Hnsw => "hnsw",
            IndexMethod::IvfFlat => "ivfflat",
        }
    }

    /// Parses `hnsw` or `ivfflat` (the names in `pg_am`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "hnsw" => Some(IndexMethod::Hnsw),
            "ivfflat" => Some(IndexMethod::IvfFlat),
            _ => None,
        }
    }
}

/// How to build a collection's ANN index: method, its parameters, and the build's resources.
///
/// The operator class always follows the collection's metric and the indexed expression its
/// dimension (`vector(N)` up to 2,000 dimensions, `halfvec(N)` up to 4,000); neither can be
/// chosen, so index and queries never disagree. A [`Quantization`] (HNSW only) indexes a
/// smaller copy instead — `halfvec(N)` or `binary_quantize(embedding)::bit(N)` — and searches
/// re-rank its candidates by the exact distance (see [`AnnOptions::rerank_factor`]).
///
/// [`AnnOptions::rerank_factor`]: crate::AnnOptions::rerank_factor
///
/// ```
/// use embedstore::IndexSpec;
/// let spec = IndexSpec::hnsw().m(16).ef_construction(64).maintenance_work_mem_mb(512);
/// assert_eq!(spec.m, Some(16));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[garde(context(CollectionRules))]
#[non_exhaustive]
pub struct IndexSpec {
    /// HNSW or IVFFlat.
    #[garde(custom(method_fits(&self.quantization)))]
    pub method: IndexMethod,
    /// Index a quantized copy of the vectors (HNSW only): `half` for any dimension up to
    /// 4,000, `binary` for any dimension and every metric but `l1`. `None` indexes full
    /// precision (half precision above 2,000 dimensions, where that is the only choice).
    #[serde(default)]
    #[garde(custom(quantization_fits(&self.method)))]
    pub quantization: Option<Quantization>,
    /// HNSW: links per node, 2..=100 (pgvector's default 16).
    #[garde(inner(range(min = 2, max = 100)))]
    pub m: Option<u32>,
    /// HNSW: candidate list size while building, 4..=1000 and at least `2 * m` (default 64).
    #[garde(inner(range(min = 4, max = 1000)), custom(ef_construction_fits(&self.m)))]
    pub ef_construction: Option<u32>,
    /// IVFFlat: number of lists, 1..=32768. `None` derives it from the row count at build time:
    /// rows / 1000 (at least 1), or √rows above a million rows — pgvector's advice.
    #[garde(inner(range(min = 1, max = 32768)))]
    pub lists: Option<u32>,
    /// `maintenance_work_mem` for this build only, in MiB (1..=2,097,151). A graph that does not
    /// fit is built far more slowly. `None`: for HNSW, enough to keep the graph of the
    /// collection's rows in memory (the planner's estimate and 10 %), at most 4 GiB and never
    /// less than the server's setting; for IVFFlat, the server's setting (`docs/indexes.md`).
    #[garde(inner(range(min = 1, max = 2_097_151)))]
    pub maintenance_work_mem_mb: Option<u32>,
    /// `max_parallel_maintenance_workers` for this build only (0..=64); `None` keeps the server's.
    #[garde(inner(range(min = 0, max = 64)))]
    pub parallel_workers: Option<u32>,
}

impl IndexSpec {
    /// An HNSW index with pgvector's defaults (m = 16, ef_construction = 64).
    pub fn hnsw() -> Self {
        Self::new(IndexMethod::Hnsw)
    }

    /// An IVFFlat index with `lists` derived from the row count.
    pub fn ivfflat() -> Self {
        Self::new(IndexMethod::IvfFlat)
    }

    fn new(method: IndexMethod) -> Self {
        Self {
            method,
            quantization: None,
            m: None,
            ef_construction: None,
            lists: None,
            maintenance_work_mem_mb: None,
            parallel_workers: None,
        }
    }

    /// Indexes a quantized copy of the vectors (HNSW only).
    pub fn quantization(mut self, quantization: Quantization) -> Self {
        self.quantization = Some(quantization);
        self
    }

    /// Sets HNSW's `m`.
    pub fn m(mut self, m: u32) -> Self {
        self.m = Some(m);
        self
    }

    /// Sets HNSW's `ef_construction`.
    pub fn ef_construction(mut self, ef_construction: u32) -> Self {
        self.ef_construction = Some(ef_construction);
        self
    }

    /// Sets IVFFlat's `lists`.
    pub fn lists(mut self, lists: u32) -> Self {
        self.lists = Some(lists);
        self
    }

    /// Sets `maintenance_work_mem` (MiB) for the build.
    pub fn maintenance_work_mem_mb(mut self, megabytes: u32) -> Self {
        self.maintenance_work_mem_mb = Some(megabytes);
        self
    }

    /// Sets `max_parallel_maintenance_workers` for the build.
    pub fn parallel_workers(mut self, workers: u32) -> Self {
        self.parallel_workers = Some(workers);
        self
    }

    /// Checks the spec against `collection` (method parameters, metric, dimension).
    ///
    /// # Errors
    /// [`Error::Validation`](crate::Error::Validation) listing every failure with its path.
    pub(crate) fn validate_for(self, collection: &Collection) -> crate::Result<Valid<Self>> {
        super::valid_for(self, collection)
    }

    /// The `lists` to build with for `rows` rows.
    pub fn lists_for(&self, rows: u64) -> u32 {
        self.lists.unwrap_or_else(|| default_lists(rows))
    }
}

/// pgvector's advice for IVFFlat: rows / 1000 up to a million rows, √rows above.
pub(crate) fn default_lists(rows: u64) -> u32 {
    let lists = if rows > 1_000_000 {
        (rows as f64).sqrt() as u64
    } else {
        rows / 1000
    };
    u32::try_from(lists.clamp(1, 32768)).unwrap_or(32768)
}

fn method_fits(
    quantization: &Option<Quantization>,
) -> impl FnOnce(&IndexMethod, &CollectionRules) -> garde::Result + '_ {
    move |method, rules| method_fits_rules(*method, *quantization, rules)
}

fn method_fits_rules(
    method: IndexMethod,
    quantization: Option<Quantization>,
    rules: &CollectionRules,
) -> garde::Result {
    let dimension = u32::try_from(rules.dimension).unwrap_or(u32::MAX);
    // Bits are indexable far beyond any collection's dimension (64,000); `half` is checked
    // on its own field.
    if rules.kind != VectorKind::Dense {
        if method == IndexMethod::IvfFlat {
            return Err(garde::Error::new(format!(
                "a {} collection is indexed with hnsw only (pgvector's ivfflat has no {} operator class for it)",
                rules.kind, rules.metric
            )));
        }
        return Ok(());
    }
    if quantization.is_none() && SearchExpression::for_dimension(dimension).element.is_none() {
        return Err(garde::Error::new(format!(
            "a collection of {dimension} dimensions cannot have an ANN index \
             (pgvector indexes up to 2000 dimensions as vector and 4000 as halfvec)"
        )));
    }
    if method == IndexMethod::IvfFlat && rules.metric == Metric::L1 {
        return Err(garde::Error::new(
            "ivfflat has no operator class for the l1 metric: use hnsw",
        ));
    }
    Ok(())
}

fn quantization_fits(
    method: &IndexMethod,
) -> impl FnOnce(&Option<Quantization>, &CollectionRules) -> garde::Result + '_ {
    move |quantization, rules| {
        let Some(quantization) = quantization else {
            return Ok(());
        };
        if *method != IndexMethod::Hnsw {
            return Err(garde::Error::new(
                "quantized indexes are built with hnsw only",
            ));
        }
        if rules.kind != VectorKind::Dense {
            return Err(garde::Error::new(format!(
                "quantization applies to dense collections only; this one stores {} vectors",
                rules.kind
            )));
        }
        let dimension = rules.dimension;
        match quantization {
            Quantization::Half if dimension > MAX_HALFVEC_INDEX_DIMENSION as usize => {
                Err(garde::Error::new(format!(
                    "half quantization indexes up to {MAX_HALFVEC_INDEX_DIMENSION} dimensions, \
                     the collection has {dimension}: use binary"
                )))
            }
            Quantization::Binary if rules.metric == Metric::L1 => Err(garde::Error::new(
                "binary quantization approximates angles and does not suit the l1 metric: \
                 use half",
            )),
            _ => Ok(()),
        }
    }
}

fn ef_construction_fits(
    m: &Option<u32>,
) -> impl FnOnce(&Option<u32>, &CollectionRules) -> garde::Result + '_ {
    move |ef_construction, _| {
        let m = m.unwrap_or(16);
        match ef_construction {
            Some(ef) if *ef < 2 * m => Err(garde::Error::new(format!(
                "must be at least 2 * m = {}",
                2 * m
            ))),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(dimension: usize, metric: Metric) -> CollectionRules {
        CollectionRules {
            dimension,
            metric,
            kind: VectorKind::Dense,
        }
    }

    fn problems(spec: IndexSpec, rules: CollectionRules) -> Vec<String> {
        match garde::Unvalidated::new(spec).validate_with(&rules) {
            Ok(_) => Vec::new(),
            Err(report) => report
                .iter()
                .map(|(path, error)| format!("{path}: {}", error.message()))
                .collect(),
        }
    }

    #[test]
    fn defaults_are_valid_for_every_indexable_collection() {
        for metric in Metric::FLOAT {
            assert!(problems(IndexSpec::hnsw(), rules(384, metric)).is_empty());
            assert!(problems(IndexSpec::hnsw(), rules(3072, metric)).is_empty());
        }
    }

    #[test]
    fn refuses_what_pgvector_cannot_build() {
        let wide = problems(IndexSpec::hnsw(), rules(4001, Metric::Cosine));
        assert!(
            wide[0].starts_with("method: a collection of 4001 dimensions"),
            "{wide:?}"
        );
        let l1 = problems(IndexSpec::ivfflat(), rules(8, Metric::L1));
        assert!(
            l1[0].contains("no operator class for the l1 metric"),
            "{l1:?}"
        );
        let ef = problems(
            IndexSpec::hnsw().m(32).ef_construction(40),
            rules(8, Metric::L2),
        );
        assert_eq!(ef, ["ef_construction: must be at least 2 * m = 64"]);
        let m = problems(IndexSpec::hnsw().m(1), rules(8, Metric::L2));
        assert_eq!(m.len(), 1, "{m:?}");
    }

    #[test]
    fn quantization_is_hnsw_only_and_fits_the_collection() {
        let half = IndexSpec::hnsw().quantization(Quantization::Half);
        let binary = IndexSpec::hnsw().quantization(Quantization::Binary);
        assert!(problems(half.clone(), rules(4000, Metric::Cosine)).is_empty());
        assert!(problems(binary.clone(), rules(16_000, Metric::L2)).is_empty());
        assert_eq!(
            problems(half.clone(), rules(4001, Metric::Cosine)),
            [
                "quantization: half quantization indexes up to 4000 dimensions, the \
                 collection has 4001: use binary"
            ]
        );
        assert_eq!(
            problems(binary, rules(8, Metric::L1)),
            [
                "quantization: binary quantization approximates angles and does not suit the \
                 l1 metric: use half"
            ]
        );
        let mut ivf = IndexSpec::ivfflat();
        ivf.quantization = Some(Quantization::Half);
        assert_eq!(
            problems(ivf, rules(8, Metric::L2)),
            ["quantization: quantized indexes are built with hnsw only"]
        );
    }

    #[test]
    fn lists_follow_pgvectors_advice() {
        assert_eq!(default_lists(0), 1);
        assert_eq!(default_lists(10_000), 10);
        assert_eq!(default_lists(1_000_000), 1000);
        assert_eq!(default_lists(4_000_000), 2000);
        assert_eq!(IndexSpec::ivfflat().lists(7).lists_for(1_000_000), 7);
    }
}
