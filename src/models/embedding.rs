use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;

use crate::models::CollectionId;
use crate::schema::embeddings;
use crate::vector::{BitVector, SparseVector, VectorValue};

/// The one filled vector column of a row (`embedding`, `sparse` or `bits`) as a
/// [`VectorValue`].
pub struct StoredVector(VectorValue);

type VectorColumns = (
    diesel::sql_types::Nullable<pgvector::sql_types::Vector>,
    diesel::sql_types::Nullable<pgvector::sql_types::SparseVector>,
    diesel::sql_types::Nullable<crate::vector::sql_types::Varbit>,
);

impl Queryable<VectorColumns, Pg> for StoredVector {
    type Row = (
        Option<pgvector::Vector>,
        Option<pgvector::SparseVector>,
        Option<BitVector>,
    );

    fn build((dense, sparse, bits): Self::Row) -> diesel::deserialize::Result<Self> {
        let value = match (dense, sparse, bits) {
            (Some(dense), None, None) => VectorValue::Dense(dense.to_vec()),
            (None, Some(sparse), None) => VectorValue::Sparse(SparseVector::new(
                u32::try_from(sparse.dimensions())?,
                sparse
                    .indices()
                    .iter()
                    .map(|index| u32::try_from(*index))
                    .collect::<Result<_, _>>()?,
                sparse.values().to_vec(),
            )),
            (None, None, Some(bits)) => VectorValue::Bit(bits),
            _ => return Err("a row must fill exactly one vector column".into()),
        };
        Ok(StoredVector(value))
    }
}

impl From<StoredVector> for VectorValue {
    fn from(stored: StoredVector) -> Self {
        stored.0
    }
}

/// A stored embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// The collection it belongs to.
    pub collection_id: CollectionId,
    /// Surrogate key within the collection.
    pub id: i64,
    /// The caller's stable key, unique within the collection.
    pub external_id: String,
    /// The vector, of the collection's kind.
    pub vector: VectorValue,
    /// Optional source text.
    pub content: Option<String>,
    /// JSON object of attributes.
    pub metadata: serde_json::Value,
    /// When the row was first written.
    pub created_at: DateTime<Utc>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
}

/// A row of `embeddings` as diesel reads it; the public [`Embedding`] carries no diesel traits,
/// so that its shape is not tied to the table's.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = embeddings, check_for_backend(Pg))]
pub(crate) struct EmbeddingRow {
    collection_id: i32,
    id: i64,
    external_id: String,
    #[diesel(
        select_expression = (embeddings::embedding, embeddings::sparse, embeddings::bits),
        select_expression_type = (embeddings::embedding, embeddings::sparse, embeddings::bits),
        deserialize_as = StoredVector
    )]
    vector: VectorValue,
    content: Option<String>,
    metadata: serde_json::Value,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<EmbeddingRow> for Embedding {
    fn from(row: EmbeddingRow) -> Self {
        Self {
            collection_id: CollectionId(row.collection_id),
            id: row.id,
            external_id: row.external_id,
            vector: row.vector,
            content: row.content,
            metadata: row.metadata,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// One row for the binary `COPY` into `embeddings`, moved out of a validated batch.
#[derive(Debug)]
pub struct NewEmbeddingRow {
    /// Target collection (routes the row to its partition).
    pub collection_id: CollectionId,
    /// The caller's key.
    pub external_id: String,
    /// The vector, in the form the collection stores.
    pub vector: VectorValue,
    /// Optional source text; `None` is written as NULL.
    pub content: Option<String>,
    /// JSON object.
    pub metadata: serde_json::Value,
}
