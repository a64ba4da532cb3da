use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Jsonb, Text, Timestamptz};
use serde::Serialize;

use crate::metric::{Metric, MetricColumn};
use crate::models::{Collection, CollectionId};
use crate::vector::{VectorKind, VectorKindColumn};

/// A name that points at one collection: readers and writers that use the alias switch to
/// another collection when the alias is moved ([`Aliases::set`](crate::Aliases::set)), at once
/// and in one transaction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alias {
    /// The alias, a slug like a collection name (never the name of a collection).
    pub name: String,
    /// The collection it points at.
    pub collection: Collection,
    /// When the alias was last pointed at a collection.
    pub updated_at: DateTime<Utc>,
}

/// An alias and its collection as one `sql_query` row: `a.name AS alias, a.updated_at AS
/// alias_updated_at, c.*`.
#[derive(Debug, QueryableByName)]
#[diesel(check_for_backend(Pg))]
pub struct AliasRow {
    #[diesel(sql_type = Text)]
    alias: String,
    #[diesel(sql_type = Timestamptz)]
    alias_updated_at: DateTime<Utc>,
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Integer)]
    dimension: i32,
    #[diesel(sql_type = Text, deserialize_as = MetricColumn)]
    metric: Metric,
    #[diesel(sql_type = Text)]
    model: String,
    #[diesel(sql_type = Jsonb)]
    description: serde_json::Value,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    updated_at: DateTime<Utc>,
    #[diesel(sql_type = Text, deserialize_as = VectorKindColumn)]
    kind: VectorKind,
}

impl From<AliasRow> for Alias {
    fn from(row: AliasRow) -> Self {
        Self {
            name: row.alias,
            collection: Collection {
                id: CollectionId(row.id),
                name: row.name,
                // The column's CHECK keeps it within 1..=10⁹.
                dimension: u32::try_from(row.dimension).unwrap_or_default(),
                metric: row.metric,
                model: row.model,
                description: row.description,
                created_at: row.created_at,
                updated_at: row.updated_at,
                kind: row.kind,
            },
            updated_at: row.alias_updated_at,
        }
    }
}
