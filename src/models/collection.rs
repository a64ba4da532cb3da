use chrono::{DateTime, Utc};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::prelude::*;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Integer;
use serde::Serialize;

use crate::metric::{Metric, SearchExpression};
use crate::schema::collections;
use crate::vector::VectorKind;

/// The surrogate key of a collection; also its partition's key.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, AsExpression, FromSqlRow,
)]
#[diesel(sql_type = Integer)]
pub struct CollectionId(pub i32);

impl ToSql<Integer, Pg> for CollectionId {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <i32 as ToSql<Integer, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<Integer, Pg> for CollectionId {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        <i32 as FromSql<Integer, Pg>>::from_sql(bytes).map(CollectionId)
    }
}

/// A stored collection: vectors of one dimension, compared by one metric, from one model.
#[derive(Debug, Clone, PartialEq, Serialize, Queryable, Selectable, Identifiable)]
#[diesel(table_name = collections, check_for_backend(Pg))]
pub struct Collection {
    /// Surrogate key.
    pub id: CollectionId,
    /// Unique slug.
    pub name: String,
    /// Length of every vector in the collection (the database guarantees 1..=16000).
    #[diesel(deserialize_as = i32)]
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

/// An insertable collection row, borrowed from a validated [`crate::NewCollection`].
#[derive(Debug, Insertable)]
#[diesel(table_name = collections, check_for_backend(Pg))]
pub struct NewCollectionRow<'a> {
    /// See [`Collection::name`].
    pub name: &'a str,
    /// See [`Collection::dimension`].
    pub dimension: i32,
    /// See [`Collection::metric`].
    pub metric: Metric,
    /// See [`Collection::model`].
    pub model: &'a str,
    /// See [`Collection::description`].
    pub description: &'a serde_json::Value,
    /// See [`Collection::kind`].
    pub kind: VectorKind,
}
