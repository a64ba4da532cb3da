//! Reads for export and statistics: keyset pages of a collection by `external_id`, and the
//! sizes of its partition.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};

use crate::error::Result;
use crate::models::{Collection, CollectionId, StoredVector};
use crate::schema::embeddings;
use crate::vector::VectorValue;

/// One exported row: everything but the surrogate key and timestamps.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub(crate) struct ExportRow {
    pub external_id: String,
    #[diesel(deserialize_as = StoredVector)]
    pub vector: VectorValue,
    pub content: Option<String>,
    pub metadata: serde_json::Value,
}

/// Up to `limit` rows of the collection with `external_id` after `after` (all rows when
/// `None`), ordered by `external_id`: the unique index `(collection_id, external_id)` serves
/// both the filter and the order, so every page costs the same however deep it is.
pub(crate) fn page_after(
    conn: &mut PgConnection,
    collection: CollectionId,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<ExportRow>> {
    let mut query = embeddings::table
        .filter(embeddings::collection_id.eq(collection.0))
        .select((
            embeddings::external_id,
            (embeddings::embedding, embeddings::sparse, embeddings::bits),
            embeddings::content,
            embeddings::metadata,
        ))
        .order(embeddings::external_id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(embeddings::external_id.gt(after.to_owned()));
    }
    Ok(query.load(conn)?)
}

/// Rows, sizes and last write of one collection.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub(crate) struct PartitionStats {
    #[diesel(sql_type = BigInt)]
    pub rows: i64,
    #[diesel(sql_type = BigInt)]
    pub total_bytes: i64,
    #[diesel(sql_type = BigInt)]
    pub index_bytes: i64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_write: Option<DateTime<Utc>>,
}

/// Exact row count, total and index size of the collection's partition (`pg_total_relation_size`
/// and `pg_indexes_size`, summed over the shards on Citus: `embedstore_partition_bytes`), and the latest `updated_at` in it. The partition name reaches SQL as a bound
/// value cast to `regclass`, never spliced into the text.
pub(crate) fn partition_stats(
    conn: &mut PgConnection,
    collection: &Collection,
) -> Result<PartitionStats> {
    Ok(diesel::sql_query(
        "SELECT (SELECT count(*) FROM embeddings WHERE collection_id = $1) AS rows, \
                b.total_bytes, b.index_bytes, \
                (SELECT max(updated_at) FROM embeddings WHERE collection_id = $1) AS last_write \
         FROM embedstore_partition_bytes($2::regclass) b",
    )
    .bind::<diesel::sql_types::Integer, _>(collection.id.0)
    .bind::<Text, _>(collection.partition_name())
    .get_result(conn)?)
}
