use garde::Validate;
use serde::{Deserialize, Serialize};

use crate::dto::rules;
use crate::metric::Metric;
use crate::models::NewCollectionRow;
use crate::vector::VectorKind;

/// A collection to create.
///
/// ```
/// use embedstore::{Metric, NewCollection};
/// let spec = NewCollection::new("docs", 384, Metric::Cosine, "all-MiniLM-L6-v2");
/// assert_eq!(spec.dimension, 384);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
pub struct NewCollection {
    /// Unique slug: 1..=63 characters, `^[a-z][a-z0-9_-]*$`.
    #[garde(custom(rules::slug))]
    pub name: String,
    /// Length of every vector: 1..=16,000 values (dense), 1..=10⁹ positions (sparse),
    /// 1..=64,000 bits (bit).
    #[garde(custom(dimension_fits(self.kind)))]
    pub dimension: u32,
    /// Distance used for search: `l2`, `cosine`, `inner_product` or `l1` for dense and sparse
    /// collections, `hamming` or `jaccard` for bit collections.
    #[garde(custom(metric_fits(self.kind)))]
    pub metric: Metric,
    /// What the collection stores (default dense).
    #[serde(default)]
    #[garde(skip)]
    pub kind: VectorKind,
    /// The embedding model that produces the vectors, 1..=256 bytes.
    #[garde(custom(rules::model))]
    pub model: String,
    /// Free-form JSON object (defaults to `{}`).
    #[serde(default = "empty_object")]
    #[garde(custom(rules::description))]
    pub description: serde_json::Value,
}

impl NewCollection {
    /// A collection spec with an empty description.
    pub fn new(
        name: impl Into<String>,
        dimension: u32,
        metric: Metric,
        model: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            dimension,
            metric,
            model: model.into(),
            description: empty_object(),
            kind: VectorKind::Dense,
        }
    }

    /// Sets the kind of vectors the collection stores (pick the metric to match:
    /// [`Metric::of_kind`]).
    pub fn with_kind(mut self, kind: VectorKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the description (must be a JSON object).
    pub fn with_description(mut self, description: serde_json::Value) -> Self {
        self.description = description;
        self
    }

    pub(crate) fn as_row(&self) -> NewCollectionRow<'_> {
        NewCollectionRow {
            name: &self.name,
            // Validated to at most 10⁹, so it fits.
            dimension: i32::try_from(self.dimension).unwrap_or(i32::MAX),
            metric: self.metric,
            model: &self.model,
            description: &self.description,
            kind: self.kind,
        }
    }
}

fn dimension_fits(kind: VectorKind) -> impl FnOnce(&u32, &()) -> garde::Result {
    move |dimension, _| {
        let most = kind.max_dimension();
        if (1..=most).contains(dimension) {
            Ok(())
        } else {
            Err(garde::Error::new(format!(
                "must be 1..={most} for a {kind} collection, got {dimension}"
            )))
        }
    }
}

fn metric_fits(kind: VectorKind) -> impl FnOnce(&Metric, &()) -> garde::Result {
    move |metric, _| {
        let allowed = Metric::of_kind(kind);
        if allowed.contains(metric) {
            Ok(())
        } else {
            let names: Vec<&str> = allowed.iter().map(|metric| metric.as_str()).collect();
            Err(garde::Error::new(format!(
                "{metric} does not apply to a {kind} collection: use one of {}",
                names.join(", ")
            )))
        }
    }
}

pub(crate) fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}
