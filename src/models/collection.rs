use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use serde::Serialize;

use crate::metric::{Metric, MetricColumn, SearchExpression};
use crate::schema::collections;
use crate::vector::{VectorKind, VectorKindColumn};

/// The surrogate key of a collection; also its partition's key. In your own SQL it is the
/// `integer` `collection_id` column: bind `id.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct CollectionId(pub i32);

/// A stored collection: vectors of one dimension, compared by one metric, from one model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Collection {
    /// Surrogate key.
    pub id: CollectionId,
    /// Unique slug.
    pub name: String,
    /// Length of every vector in the collection (the database guarantees 1..=16000).
    pub dimension: u32,
    /// Distance used for search.
    pub metric: Metric,
    /// Embedding model that produced the vectors.
    pub model: String,
    /// Free-form JSON object.
    pub description: serde_json::Value,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change to this row.
    pub updated_at: DateTime<Utc>,
    /// What the collection stores: dense, sparse or bit vectors.
    pub kind: VectorKind,
}

impl Collection {
    /// The expression searches order by and an ANN index is built on.
    pub(crate) fn search_expression(&self) -> SearchExpression {
        SearchExpression::for_collection(self.kind, self.dimension)
    }

    /// The name of the collection's partition of `embeddings`, built from our own integer id.
    pub fn partition_name(&self) -> String {
        format!("embeddings_{}", self.id.0)
    }
}

/// A row of `collections` as diesel reads it; the public [`Collection`] carries no diesel
/// traits, so that its shape is not tied to the table's.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = collections, check_for_backend(Pg))]
pub(crate) struct CollectionRow {
    id: i32,
    name: String,
    // Refused when out of range for u32 (the column's CHECK keeps it within 1..=10⁹).
    #[diesel(deserialize_as = i32)]
    dimension: u32,
    #[diesel(deserialize_as = MetricColumn)]
    metric: Metric,
    model: String,
    description: serde_json::Value,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    #[diesel(deserialize_as = VectorKindColumn)]
    kind: VectorKind,
}

impl From<CollectionRow> for Collection {
    fn from(row: CollectionRow) -> Self {
        Self {
            id: CollectionId(row.id),
            name: row.name,
            dimension: row.dimension,
            metric: row.metric,
            model: row.model,
            description: row.description,
            created_at: row.created_at,
            updated_at: row.updated_at,
            kind: row.kind,
        }
    }
}

/// An insertable collection row, borrowed from a validated [`crate::NewCollection`].
#[derive(Debug, Insertable)]
#[diesel(table_name = collections, check_for_backend(Pg))]
pub(crate) struct NewCollectionRow<'a> {
    /// See [`Collection::name`].
    pub name: &'a str,
    /// See [`Collection::dimension`].
    pub dimension: i32,
    /// See [`Collection::metric`].
    #[diesel(serialize_as = MetricColumn)]
    pub metric: Metric,
    /// See [`Collection::model`].
    pub model: &'a str,
    /// See [`Collection::description`].
    pub description: &'a serde_json::Value,
    /// See [`Collection::kind`].
    #[diesel(serialize_as = VectorKindColumn)]
    pub kind: VectorKind,
}
