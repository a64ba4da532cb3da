use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Double, Integer, Jsonb, Nullable, Text};
use garde::Valid;
use pgvector::sql_types::Vector as VectorSql;
use serde::Serialize;

use crate::dto::SearchRequest;
use crate::error::Result;
use crate::models::Collection;

/// pgvector's default `hnsw.ef_search`.
const DEFAULT_EF_SEARCH: u32 = 40;

/// The answer to a nearest-neighbour query.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SearchResponse {
    /// The `k` that was asked for.
    pub requested: u32,
    /// The neighbours, nearest first. Fewer than `requested` only when the collection holds
    /// fewer rows.
    pub hits: Vec<SearchHit>,
}

/// One neighbour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    /// The caller's key.
    pub external_id: String,
    /// The value of the metric's operator (smaller is nearer); see [`Metric`](crate::Metric).
    pub distance: f64,
    /// Higher is more similar; its meaning per metric is documented on [`Metric`](crate::Metric).
    pub score: f64,
    /// The stored metadata.
    pub metadata: serde_json::Value,
    /// The stored content, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The stored vector, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
}

#[derive(QueryableByName)]
struct HitRow {
    #[diesel(sql_type = Text)]
    external_id: String,
    #[diesel(sql_type = Jsonb)]
    metadata: serde_json::Value,
    #[diesel(sql_type = Nullable<Text>)]
    content: Option<String>,
    #[diesel(sql_type = Nullable<VectorSql>)]
    embedding: Option<pgvector::Vector>,
    #[diesel(sql_type = Double)]
    distance: f64,
}

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

/// The statement a search sends: `$1` collection id, `$2` query vector, `$3` k.
///
/// It has the one shape pgvector's indexes serve — `ORDER BY <expr> <op> $2 LIMIT $3`,
/// ascending, on the collection's [`SearchExpression`](crate::metric::SearchExpression) — and
/// `collection_id = $1` prunes every other partition.
pub(crate) fn statement(collection: &Collection, request: &SearchRequest) -> String {
    let expression = collection.search_expression();
    let distance = format!(
        "{} {} {}",
        expression.column_sql(),
        collection.metric.operator(),
        expression.parameter_sql("$2")
    );
    let content = if request.include_content {
        "content"
    } else {
        "NULL::text"
    };
    let vector = if request.include_vector {
        "embedding"
    } else {
        "NULL::vector"
    };
    format!(
        "SELECT external_id, metadata, {content} AS content, {vector} AS embedding, {distance} AS distance \
         FROM embeddings WHERE collection_id = $1 ORDER BY {distance} LIMIT $3"
    )
}

pub(crate) fn run(
    conn: &mut PgConnection,
    collection: &Collection,
    request: Valid<SearchRequest>,
) -> Result<SearchResponse> {
    apply_settings(conn, &request)?;
    let sql = statement(collection, &request);
    let request = request.into_inner();
    let requested = request.k;
    let rows: Vec<HitRow> = bind(diesel::sql_query(sql), collection, request).load(conn)?;
    let hits = rows
        .into_iter()
        .map(|row| SearchHit {
            external_id: row.external_id,
            distance: row.distance,
            score: collection.metric.score(row.distance),
            metadata: row.metadata,
            content: row.content,
            vector: row.embedding.map(|vector| vector.to_vec()),
        })
        .collect();
    Ok(SearchResponse { requested, hits })
}

pub(crate) fn explain(
    conn: &mut PgConnection,
    collection: &Collection,
    request: Valid<SearchRequest>,
) -> Result<String> {
    apply_settings(conn, &request)?;
    let sql = format!("EXPLAIN {}", statement(collection, &request));
    let lines: Vec<PlanLine> =
        bind(diesel::sql_query(sql), collection, request.into_inner()).load(conn)?;
    Ok(lines
        .into_iter()
        .map(|plan| plan.line)
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Transaction-scoped search settings (`set_config(…, true)` resets at commit, so nothing
/// leaks to the pooled connection).
fn apply_settings(conn: &mut PgConnection, request: &SearchRequest) -> Result<()> {
    // An HNSW scan returns at most ef_search rows: never let it cap k, even when asked to.
    let ef_search = request
        .ef_search
        .unwrap_or(DEFAULT_EF_SEARCH)
        .max(request.k);
    diesel::sql_query("SELECT set_config('hnsw.ef_search', $1, true)")
        .bind::<Text, _>(ef_search.to_string())
        .execute(conn)?;
    Ok(())
}

/// The search statement with its three parameters bound.
type SearchQuery = BoxedSqlQuery<'static, Pg, SqlQuery>;

/// Binds `$1` collection id, `$2` the query vector (moved, not copied) and `$3` k.
fn bind(query: SqlQuery, collection: &Collection, request: SearchRequest) -> SearchQuery {
    query
        .into_boxed::<Pg>()
        .bind::<Integer, _>(collection.id.0)
        .bind::<VectorSql, _>(pgvector::Vector::from(request.vector))
        .bind::<BigInt, _>(i64::from(request.k))
}
