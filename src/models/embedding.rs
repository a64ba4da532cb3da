use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use pgvector::Vector;

use crate::models::CollectionId;
use crate::schema::embeddings;

/// A stored embedding.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = embeddings, check_for_backend(Pg))]
pub struct Embedding {
    /// The collection it belongs to.
    pub collection_id: CollectionId,
    /// Surrogate key within the collection.
    pub id: i64,
    /// The caller's stable key, unique within the collection.
    pub external_id: String,
    /// The vector.
    #[diesel(column_name = embedding)]
    pub vector: Vector,
    /// Optional source text.
    pub content: Option<String>,
    /// JSON object of attributes.
    pub metadata: serde_json::Value,
    /// When the row was first written.
    pub created_at: DateTime<Utc>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
}

/// One row for the binary `COPY` into `embeddings`, moved out of a validated batch.
#[derive(Debug, Insertable)]
#[diesel(table_name = embeddings, check_for_backend(Pg))]
#[diesel(treat_none_as_default_value = false)]
pub struct NewEmbeddingRow {
    /// Target collection (routes the row to its partition).
    pub collection_id: CollectionId,
    /// The caller's key.
    pub external_id: String,
    /// The vector.
    pub embedding: Vector,
    /// Optional source text; `None` is written as NULL.
    pub content: Option<String>,
    /// JSON object.
    pub metadata: serde_json::Value,
}
