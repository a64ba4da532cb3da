use garde::Validate;
use serde::{Deserialize, Serialize};

use crate::dto::rules;
use crate::metric::Metric;
use crate::models::NewCollectionRow;

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
    /// Length of every vector, 1..=16000.
    #[garde(range(min = 1, max = 16000))]
    pub dimension: u32,
    /// Distance used for search.
    #[garde(skip)]
    pub metric: Metric,
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
        }
    }

    /// Sets the description (must be a JSON object).
    pub fn with_description(mut self, description: serde_json::Value) -> Self {
        self.description = description;
        self
    }

    pub(crate) fn as_row(&self) -> NewCollectionRow<'_> {
        NewCollectionRow {
            name: &self.name,
            // Validated to 1..=16000, so it fits.
            dimension: i32::try_from(self.dimension).unwrap_or(i32::MAX),
            metric: self.metric,
            model: &self.model,
            description: &self.description,
        }
    }
}

pub(crate) fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}
