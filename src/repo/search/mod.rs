//! Nearest-neighbour statements and the planner that picks between the ANN index and an exact
//! scan.
//!
//! Two statement shapes, one per path:
//! - **ANN**: `ORDER BY embedding::vector(N) <op> $q LIMIT k` — the exact expression the
//!   collection's index is built on — with pgvector's settings (`ef_search`, iterative scan,
//!   `max_scan_tuples`, `probes`) set *inside the statement* by an uncorrelated sub-select
//!   `(SELECT set_config(…, true)) IS NOT NULL`. Postgres evaluates that once, as a one-time
//!   filter above the index scan, before the scan reads its first tuple; `is_local = true` ends
//!   the setting with the statement's transaction. So a search outside a unit of work is one
//!   round trip and leaves nothing on the pooled connection.
//!   Without a filter the statement runs prepared, with the collection id as a catalog
//!   literal and a constant inner `LIMIT` under `LIMIT $k`, so PostgreSQL keeps one generic
//!   plan per connection instead of planning every call ([`plan_limit`]).
//! - **Quantized ANN** (an index on `halfvec(N)` or `binary_quantize(embedding)::bit(N)`):
//!   the ANN statement orders by the index's expression and keeps `k * rerank_factor`
//!   candidates (inner `LIMIT`), each with its exact distance `embedding <op> $q` on the
//!   stored column; the statement around it re-ranks them by that distance and keeps `k`.
//!   One statement, so hits carry exact distances in their true order among the candidates.
//! - **Exact**: `ORDER BY embedding <op> $q, id` on the untyped column, which no ANN index
//!   can serve, so the server computes every matching row's distance: exact by construction,
//!   whatever indexes exist (a payload index still narrows the rows).
//!
//! With a filter, the planner estimates how many rows match (PostgreSQL's own estimate, asked
//! only when a payload index serves the filter and so gives it statistics) and scans those
//! exactly when they are few; otherwise it walks the ANN index with iterative scan on, and when
//! that still yields fewer than `k` rows it runs the exact statement, so a search returns `k`
//! rows whenever `k` rows match.
//!
//! Also the random sample of stored vectors a sampled recall measurement queries with
//! ([`sample`]).

use std::borrow::Cow;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bytea, Double, Integer, Jsonb, Nullable, Text};
use garde::Valid;
use serde::Serialize;

use crate::dto::{
    DEFAULT_EXACT_THRESHOLD, IndexMethod, IterativeScan, MAX_K, MAX_RERANK_CANDIDATES,
    SearchRequest, conform,
};
use crate::error::Result;
use crate::filter::{Filter, PayloadLayout};
use crate::metric::Quantization;
use crate::models::Collection;
use crate::repo::catalog::CollectionIndexes;
use crate::repo::collections::ensure_partition;
use crate::repo::planner::PlannerMemory;
use crate::sql::{Bind, SqlBuilder};
use crate::vector::{VectorKind, VectorValue};

/// pgvector's default `hnsw.ef_search`.
const DEFAULT_EF_SEARCH: u32 = 40;

/// pgvector's largest `hnsw.ef_search`.
const MAX_EF_SEARCH: u32 = 1000;

/// The inner limit of prepared searches with k up to this: see [`plan_limit`].
const PLAN_LIMIT: u32 = 100;

/// Which statement(s) answered a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SearchPath {
    /// An exact scan (forced, no valid ANN index, or a selective payload-indexed filter).
    Exact,
    /// The ANN index alone.
    Ann,
    /// The ANN index returned fewer than `k` rows under a filter; an exact scan answered.
    AnnThenExact,
    /// A full-text search without a vector (ranked by `ts_rank_cd`).
    Text,
    /// A hybrid search: the vector and the text side fused by reciprocal rank fusion
    /// (`exact` tells whether the vector side was exact).
    Hybrid,
}

/// The answer to a nearest-neighbour query.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SearchResponse {
    /// The `k` that was asked for.
    pub requested: u32,
    /// How many hits came back: fewer than `requested` only when fewer rows match (or a
    /// distance/score threshold dropped some).
    pub returned: u32,
    /// Whether the hits are the exact nearest neighbours (false: approximate, from the index).
    pub exact: bool,
    /// Which statement(s) answered.
    pub path: SearchPath,
    /// The planner's estimate of the rows matching the filter, when the search planner asked
    /// for it (filters a payload index serves) to choose between the paths.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_matches: Option<u64>,
    /// On a grouped search ([`SearchRequest::with_group_by`]): how many groups came back (at
    /// most `requested`); the hits are ordered group by group, nearest group first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<u32>,
    /// When a quantized index answered: how many candidates it was asked for
    /// (`k * rerank_factor`) before the exact re-rank. The hits' distances are exact; `exact`
    /// stays false, since the candidates themselves are approximate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reranked: Option<u32>,
    /// The neighbours, nearest first (with [`SearchRequest::with_mmr`], in the order MMR
    /// picked them).
    pub hits: Vec<SearchHit>,
}

/// One neighbour.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SearchHit {
    /// The row's surrogate id (with `distance`, the key for [`SearchRequest::with_after`]).
    pub id: i64,
    /// The caller's key.
    pub external_id: String,
    /// The value of the metric's operator (smaller is nearer); see [`Metric`](crate::Metric).
    pub distance: f64,
    /// Higher is more similar; its meaning per metric is documented on [`Metric`](crate::Metric).
    pub score: f64,
    /// The stored metadata, unless the request left it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// The stored content, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The stored vector, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<VectorValue>,
    /// On a grouped search: the hit's group, the value of the `group_by` field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<serde_json::Value>,
    /// On a hybrid search: the hit's rank (1 = nearest) among the vector side's candidates,
    /// `None` when that side did not return it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector_rank: Option<u32>,
    /// On a text or hybrid search: the hit's rank (1 = best) among the text side's matches,
    /// `None` when that side did not return it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_rank: Option<u32>,
    /// On a text or hybrid search: the hit's `ts_rank_cd` (higher is better), when the text
    /// side returned it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_score: Option<f64>,
    /// On a hybrid search: the reciprocal-rank-fusion score the hits are ordered by
    /// (`vector_weight / (rrf_k + vector_rank) + text_weight / (rrf_k + text_rank)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fused_score: Option<f64>,
}

#[derive(QueryableByName)]
struct HitRow {
    #[diesel(sql_type = BigInt)]
    query: i64,
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    external_id: String,
    #[diesel(sql_type = Nullable<Jsonb>)]
    metadata: Option<serde_json::Value>,
    #[diesel(sql_type = Nullable<Text>)]
    content: Option<String>,
    /// The vector column's binary output (`vector_send`, …), decoded by the collection's kind.
    #[diesel(sql_type = Nullable<Bytea>)]
    embedding: Option<Vec<u8>>,
    #[diesel(sql_type = Double)]
    distance: f64,
}

/// A row of a text or hybrid statement: a hit, its ranks and scores.
#[derive(QueryableByName)]
struct TextRow {
    #[diesel(embed)]
    hit: HitRow,
    #[diesel(sql_type = Nullable<BigInt>)]
    vector_rank: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    text_rank: Option<i64>,
    #[diesel(sql_type = Nullable<Double>)]
    text_score: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    fused: Option<f64>,
}

/// A row of the grouped statement: a hit, its group and the group's rank.
#[derive(QueryableByName)]
struct GroupedRow {
    #[diesel(embed)]
    hit: HitRow,
    #[diesel(sql_type = Jsonb)]
    grp: serde_json::Value,
    #[diesel(sql_type = BigInt)]
    group_rank: i64,
}

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

/// Which statement to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The ANN index, with its quantization (`Some`: re-rank its candidates exactly).
    Ann(IndexMethod, Option<Quantization>),
    Exact,
}

/// What the planner decided before running anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decision {
    mode: Mode,
    matched: Option<u64>,
}

/// Whether the connection is already inside the caller's transaction (a unit of work) or in
/// autocommit mode (`Store::search`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Autocommit,
    Transaction,
}

/// The query vectors in the form the collection stores (a dense query of 0s and 1s for a bit
/// collection becomes bits, a dense one for a sparse collection its non-zeros); borrowed when
/// they already are.
fn conformed<'a>(collection: &Collection, queries: &'a [VectorValue]) -> Cow<'a, [VectorValue]> {
    if queries
        .iter()
        .all(|query| query.is_empty() || query.kind() == collection.kind)
    {
        Cow::Borrowed(queries)
    } else {
        Cow::Owned(
            queries
                .iter()
                .map(|query| conform(query.clone(), collection.kind))
                .collect(),
        )
    }
}

/// Runs one validated search on `conn`.
pub(crate) fn run(
    conn: &mut PgConnection,
    collection: &Collection,
    indexes: &CollectionIndexes,
    request: Valid<SearchRequest>,
    scope: Scope,
    estimates: &dyn PlannerMemory,
) -> Result<SearchResponse> {
    let request = request.into_inner();
    let mut responses = run_many(
        conn,
        collection,
        indexes,
        &request,
        std::slice::from_ref(&request.vector),
        scope,
        estimates,
    )?;
    Ok(responses.remove(0))
}

/// Runs the same search for every vector of `queries` (each already validated) in one
/// statement; queries the ANN path left short are answered again exactly, one by one.
pub(crate) fn run_many(
    conn: &mut PgConnection,
    collection: &Collection,
    indexes: &CollectionIndexes,
    request: &SearchRequest,
    queries: &[VectorValue],
    scope: Scope,
    estimates: &dyn PlannerMemory,
) -> Result<Vec<SearchResponse>> {
    let queries = conformed(collection, queries);
    let queries = queries.as_ref();
    if request.text.is_some() {
        let mut responses = Vec::with_capacity(queries.len());
        for query in queries {
            responses.push(text_search(
                conn, collection, indexes, request, query, scope, estimates,
            )?);
        }
        if responses.iter().all(|response| response.hits.is_empty()) {
            ensure_partition(conn, collection)?;
        }
        return Ok(responses);
    }
    if request.group_by.is_some() {
        let layout = layout(indexes);
        let mut responses = Vec::with_capacity(queries.len());
        for query in queries {
            let sql = grouped_statement(collection, request, &layout, query);
            let rows: Vec<GroupedRow> = sql.into_query().load(conn)?;
            responses.push(respond_grouped(collection, request, rows));
        }
        if responses.iter().all(|response| response.hits.is_empty()) {
            ensure_partition(conn, collection)?;
        }
        return Ok(responses);
    }
    if let Some(candidates) = mmr_candidates(request) {
        let responses = run_many(
            conn,
            collection,
            indexes,
            &candidates,
            queries,
            scope,
            estimates,
        )?;
        return Ok(responses
            .into_iter()
            .zip(queries)
            .map(|(response, query)| diversify(collection, request, query, response))
            .collect());
    }
    let layout = layout(indexes);
    let decision = decide(conn, collection, indexes, &layout, request, estimates)?;
    let count = queries.len();
    let sql = statement(collection, request, decision.mode, &layout, queries);
    let rows: Vec<HitRow> = with_index_forced(conn, scope, decision.mode, request, |conn| {
        load(conn, sql, request, decision.mode, estimates)
    })?;
    let mut grouped: Vec<Vec<HitRow>> = (0..count).map(|_| Vec::new()).collect();
    for row in rows {
        if let Some(slot) = usize::try_from(row.query - 1)
            .ok()
            .and_then(|index| grouped.get_mut(index))
        {
            slot.push(row);
        }
    }
    for rows in &mut grouped {
        rows.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id)));
    }
    let mut responses = Vec::with_capacity(count);
    for (rows, query) in grouped.into_iter().zip(queries) {
        let short = rows.len() < request.k as usize;
        let (rows, path) = match decision.mode {
            Mode::Ann(..) if short && needs_fallback(request) => {
                let sql = statement(
                    collection,
                    request,
                    Mode::Exact,
                    &layout,
                    std::slice::from_ref(query),
                );
                let exact = load(conn, sql, request, Mode::Exact, estimates)?;
                (exact, SearchPath::AnnThenExact)
            }
            Mode::Ann(..) => (rows, SearchPath::Ann),
            Mode::Exact => (rows, SearchPath::Exact),
        };
        let reranked = match decision.mode {
            Mode::Ann(_, Some(_)) if path == SearchPath::Ann => Some(request.rerank_candidates()),
            _ => None,
        };
        let mut response = respond(collection, request, rows, path, decision.matched);
        response.reranked = reranked;
        responses.push(response);
    }
    if responses.iter().all(|response| response.hits.is_empty()) {
        // An empty answer may mean the handle outlived its collection: say so.
        ensure_partition(conn, collection)?;
    }
    Ok(responses)
}

/// The server's `EXPLAIN` of the main statement [`run`] would send for this request (the one
/// the planner picks; a filter's bounded count runs first to decide).
pub(crate) fn explain(
    conn: &mut PgConnection,
    collection: &Collection,
    indexes: &CollectionIndexes,
    request: Valid<SearchRequest>,
    scope: Scope,
    estimates: &dyn PlannerMemory,
) -> Result<String> {
    let request = request.into_inner();
    let request = mmr_candidates(&request).unwrap_or(request);
    let layout = layout(indexes);
    if request.text.is_some() {
        let mode = if request.vector.is_empty() {
            Mode::Exact
        } else {
            decide(conn, collection, indexes, &layout, &request, estimates)?.mode
        };
        let mut sql = text_statement(
            collection,
            indexes,
            &layout,
            &request,
            &request.vector,
            mode,
        );
        sql.prepend("EXPLAIN ");
        let vector_side = vector_side(&request);
        let lines: Vec<PlanLine> = with_index_forced(conn, scope, mode, &vector_side, |conn| {
            sql.into_query().load(conn)
        })?;
        return Ok(lines
            .into_iter()
            .map(|plan| plan.line)
            .collect::<Vec<_>>()
            .join("\n"));
    }
    if request.group_by.is_some() {
        let mut sql = grouped_statement(collection, &request, &layout, &request.vector);
        sql.prepend("EXPLAIN ");
        let lines: Vec<PlanLine> = sql.into_query().load(conn)?;
        return Ok(lines
            .into_iter()
            .map(|plan| plan.line)
            .collect::<Vec<_>>()
            .join("\n"));
    }
    let decision = decide(conn, collection, indexes, &layout, &request, estimates)?;
    let mut sql = statement(
        collection,
        &request,
        decision.mode,
        &layout,
        std::slice::from_ref(&request.vector),
    );
    sql.prepend("EXPLAIN ");
    let lines: Vec<PlanLine> = with_index_forced(conn, scope, decision.mode, &request, |conn| {
        sql.into_query().load(conn)
    })?;
    Ok(lines
        .into_iter()
        .map(|plan| plan.line)
        .collect::<Vec<_>>()
        .join("\n"))
}

/// For an MMR request, the search for its candidates: the `fetch_k` nearest, with their
/// vectors, in one statement (any path: ANN, quantized, exact, with the filter and fallback).
fn mmr_candidates(request: &SearchRequest) -> Option<SearchRequest> {
    let mmr = request.mmr?;
    let mut candidates = request.clone();
    candidates.k = mmr.fetch_k;
    candidates.include_vector = true;
    candidates.mmr = None;
    Some(candidates)
}

/// The `k` hits MMR picks from `candidates`' hits (see [`crate::mmr`]), in the order picked.
fn diversify(
    collection: &Collection,
    request: &SearchRequest,
    query: &VectorValue,
    candidates: SearchResponse,
) -> SearchResponse {
    let lambda = request.mmr.map_or(1.0, |mmr| mmr.lambda);
    let missing = VectorValue::default();
    let vectors: Vec<&VectorValue> = candidates
        .hits
        .iter()
        .map(|hit| hit.vector.as_ref().unwrap_or(&missing))
        .collect();
    let metric = collection.metric;
    let picked = crate::mmr::select_with(
        metric,
        query,
        &vectors,
        |a: &VectorValue, b: &VectorValue| metric.value_distance(a, b),
        lambda,
        request.k as usize,
    );
    let mut slots: Vec<Option<SearchHit>> = candidates.hits.into_iter().map(Some).collect();
    let hits: Vec<SearchHit> = picked
        .into_iter()
        .filter_map(|index| slots.get_mut(index).and_then(Option::take))
        .map(|mut hit| {
            if !request.include_vector {
                hit.vector = None;
            }
            hit
        })
        .collect();
    SearchResponse {
        requested: request.k,
        returned: u32::try_from(hits.len()).unwrap_or(u32::MAX),
        hits,
        ..candidates
    }
}

/// The grouped search in one statement: an exact scan of the matching rows that have the
/// field, each row's distance and group computed once; window functions number the members
/// of each group by distance and find each group's nearest; `dense_rank` over (group's
/// nearest distance, group value) orders the groups; the first `k` groups' first
/// `group_size` members come back. Exact by construction: every matching row is considered,
/// so `k` groups come back whenever `k` exist among the matching rows. Never prepared: the
/// filter shapes the text.
fn grouped_statement(
    collection: &Collection,
    request: &SearchRequest,
    layout: &PayloadLayout,
    query: &VectorValue,
) -> SqlBuilder {
    let mut sql = SqlBuilder::new();
    let (field, group_size) = request.group_by.as_ref().map_or_else(
        || (Vec::new(), 1),
        |group_by| {
            (
                crate::filter::FieldPath::from(group_by.field.as_str())
                    .segments()
                    .to_vec(),
                group_by.group_size,
            )
        },
    );
    let query = sql.param(query.clone());
    let distance = distance_sql(collection, Mode::Exact, &query);
    sql.push(
        "SELECT 1::bigint AS query, g.id, g.external_id, g.metadata, g.content, g.embedding, g.distance, g.grp, \
         g.group_rank FROM (SELECT m.*, dense_rank() OVER (ORDER BY m.group_best, m.grp) \
         AS group_rank FROM (SELECT c.*, row_number() OVER (PARTITION BY c.grp \
         ORDER BY c.distance, c.id) AS member, min(c.distance) OVER (PARTITION BY c.grp) \
         AS group_best FROM (SELECT id, external_id, ",
    )
    .push(if request.include_metadata {
        "metadata"
    } else {
        "NULL::jsonb"
    })
    .push(" AS metadata, ")
    .push(if request.include_content {
        "content"
    } else {
        "NULL::text"
    })
    .push(" AS content, ")
    .push(&vector_column(collection, request, None))
    .push(" AS embedding, ")
    .push(&distance)
    .push(" AS distance, metadata #> ")
    .bind_cast(field, "text[]")
    .push(" AS grp FROM embeddings WHERE collection_id = ")
    .bind(collection.id.0);
    if let Some(filter) = &request.filter {
        sql.push(" AND (");
        filter.render(&mut sql, layout);
        sql.push(")");
    }
    sql.push(") c WHERE c.grp IS NOT NULL AND c.grp <> 'null'::jsonb) m WHERE m.member <= ")
        .bind(i64::from(group_size))
        .push(") g WHERE g.group_rank <= ")
        .bind(i64::from(request.k))
        .push(" ORDER BY g.group_rank, g.member");
    sql
}

/// The grouped statement's rows as a response: hits in group order, thresholds applied.
fn respond_grouped(
    collection: &Collection,
    request: &SearchRequest,
    rows: Vec<GroupedRow>,
) -> SearchResponse {
    let mut groups: Vec<i64> = rows.iter().map(|row| row.group_rank).collect();
    let (hit_rows, values): (Vec<HitRow>, Vec<serde_json::Value>) =
        rows.into_iter().map(|row| (row.hit, row.grp)).unzip();
    let mut response = respond(collection, request, Vec::new(), SearchPath::Exact, None);
    response.hits = hit_rows
        .into_iter()
        .zip(values)
        .zip(std::mem::take(&mut groups))
        .filter_map(|((row, value), rank)| {
            let hit = to_hit(collection, row);
            let kept = request.max_distance.is_none_or(|max| hit.distance <= max)
                && request.min_score.is_none_or(|min| hit.score >= min);
            kept.then(|| {
                groups.push(rank);
                SearchHit {
                    group: Some(value),
                    ..hit
                }
            })
        })
        .collect();
    groups.dedup();
    response.returned = u32::try_from(response.hits.len()).unwrap_or(u32::MAX);
    response.groups = Some(u32::try_from(groups.len()).unwrap_or(u32::MAX));
    response
}

/// Up to `limit` of the collection's stored vectors, drawn at random: the queries of a sampled
/// recall measurement.
pub(crate) fn sample(
    conn: &mut PgConnection,
    collection: &Collection,
    limit: u32,
) -> Result<Vec<VectorValue>> {
    #[derive(QueryableByName)]
    struct Sampled {
        #[diesel(sql_type = Bytea)]
        embedding: Vec<u8>,
    }
    // The collection's own column in its binary form, from a closed set.
    let rows: Vec<Sampled> = diesel::sql_query(format!(
        "SELECT {} AS embedding FROM embeddings WHERE collection_id = $1 ORDER BY random() LIMIT $2",
        collection.search_expression().send_sql(None)
    ))
    .bind::<Integer, _>(collection.id.0)
    .bind::<BigInt, _>(i64::from(limit))
    .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|row| VectorValue::from_send(collection.kind, &row.embedding))
        .collect())
}

/// Planner settings that make a filtered ANN statement walk the ANN index. Without them the
/// planner weighs the filter by its estimate — for metadata expressions without statistics a
/// fixed guess of 0.5 % — and often prefers scanning and sorting, which defeats the ANN path
/// at scale. They must be in force before the statement is planned, so they cannot ride inside
/// it like pgvector's settings: constant SQL, sent with the `BEGIN` (autocommit) or in a
/// savepoint that is rolled back afterwards (inside a unit of work, so the caller's own
/// queries never see them).
const FORCE_INDEX: &str = "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off";

/// Runs `work` with [`FORCE_INDEX`] in force when `mode` is the ANN path under a filter or
/// keyset condition; otherwise runs it as it is.
fn with_index_forced<T>(
    conn: &mut PgConnection,
    scope: Scope,
    mode: Mode,
    request: &SearchRequest,
    work: impl FnOnce(&mut PgConnection) -> diesel::QueryResult<T>,
) -> Result<T> {
    if !matches!(mode, Mode::Ann(..)) || !needs_fallback(request) {
        return Ok(work(conn)?);
    }
    match scope {
        Scope::Autocommit => {
            use diesel::connection::{AnsiTransactionManager, TransactionManager};
            AnsiTransactionManager::begin_transaction_sql(
                conn,
                &format!("BEGIN READ ONLY; {FORCE_INDEX}"),
            )?;
            match work(conn) {
                Ok(value) => {
                    AnsiTransactionManager::commit_transaction(conn)?;
                    Ok(value)
                }
                Err(error) => {
                    // The search failed; a failed rollback leaves the manager marked broken,
                    // and r2d2 then discards the connection.
                    let _ = AnsiTransactionManager::rollback_transaction(conn);
                    Err(error.into())
                }
            }
        }
        Scope::Transaction => {
            conn.batch_execute(&format!("SAVEPOINT embedstore_search; {FORCE_INDEX}"))?;
            let outcome = work(conn);
            // Undoes the settings (and, after a failed search, the aborted state).
            conn.batch_execute(
                "ROLLBACK TO SAVEPOINT embedstore_search; RELEASE SAVEPOINT embedstore_search",
            )?;
            Ok(outcome?)
        }
    }
}

/// Runs a search statement: as a prepared statement (parsed once per connection, its plan
/// reusable, one round trip instead of two) when its shape is one a collection's unfiltered
/// searches use, or a filtered ANN statement (always planned under [`FORCE_INDEX`], so its
/// plan is the index scan whatever the values) — and its text is one of the bounded set of
/// texts the store prepares (`PlannerMemory::admit_prepared`). Otherwise (the exact path under a filter, whose best
/// plan depends on the values; a shape beyond the bound) it is a one-off statement, so diesel's
/// per-connection statement cache, which never evicts, stays bounded however many collections
/// and filters there are.
fn load(
    conn: &mut PgConnection,
    sql: SqlBuilder,
    request: &SearchRequest,
    mode: Mode,
    memory: &dyn PlannerMemory,
) -> diesel::QueryResult<Vec<HitRow>> {
    let cacheable = prepared(request, mode) && memory.admit_prepared(sql.sql());
    if cacheable {
        sql.into_prepared().load(conn)
    } else {
        sql.into_query().load(conn)
    }
}

/// Whether a short ANN answer must be checked by an exact scan: only when something other
/// than the index's own reach removed rows (a filter or a keyset condition). A plain ANN search
/// returns `k` rows whenever the collection holds `k`, since `ef_search` ≥ `k`.
fn needs_fallback(request: &SearchRequest) -> bool {
    request.filter.is_some() || request.after.is_some()
}

fn layout(indexes: &CollectionIndexes) -> PayloadLayout {
    crate::repo::planner::layout(&indexes.payload)
}

/// Picks the path: exact when asked, when there is no valid ANN index, or when the planner
/// estimates that a payload-indexed filter matches fewer rows than the threshold; the ANN
/// index otherwise.
fn decide(
    conn: &mut PgConnection,
    collection: &Collection,
    indexes: &CollectionIndexes,
    layout: &PayloadLayout,
    request: &SearchRequest,
    estimates: &dyn PlannerMemory,
) -> Result<Decision> {
    let Some(method) = indexes.ann.filter(|_| !request.exact) else {
        return Ok(Decision {
            mode: Mode::Exact,
            matched: None,
        });
    };
    let ann = Decision {
        mode: Mode::Ann(method, indexes.quantization),
        matched: None,
    };
    let Some(filter) = &request.filter else {
        return Ok(ann);
    };
    if !crate::repo::planner::serves(layout, filter) {
        return Ok(ann);
    }
    let threshold = request.exact_threshold.unwrap_or(DEFAULT_EXACT_THRESHOLD);
    let estimated = estimated_matches(conn, collection, layout, filter, estimates)?;
    Ok(Decision {
        mode: if estimated < u64::from(threshold) {
            Mode::Exact
        } else {
            Mode::Ann(method, indexes.quantization)
        },
        matched: Some(estimated),
    })
}

/// The planner's estimate of the rows matching `filter`: `EXPLAIN` of a plain count, planning
/// only. Called only for filters a payload index serves, whose typed expression has statistics
/// (the index build runs `ANALYZE`), so the estimate follows the field's real distribution
/// at the price of planning one statement — unlike counting, which reads every matching row.
/// Kept in `estimates`, keyed by the filter's SQL and values, so a filter searched again is
/// not planned twice (measured: the `EXPLAIN` took 0.3 ms of server time, a third of a 10 %
/// filtered search's).
fn estimated_matches(
    conn: &mut PgConnection,
    collection: &Collection,
    layout: &PayloadLayout,
    filter: &Filter,
    estimates: &dyn PlannerMemory,
) -> Result<u64> {
    let mut sql = SqlBuilder::new();
    sql.push("EXPLAIN (FORMAT JSON) SELECT 1 FROM embeddings WHERE collection_id = ")
        .bind(collection.id.0)
        .push(" AND (");
    filter.render(&mut sql, layout);
    sql.push(")");
    let key = format!("{}\u{0}{:?}", sql.sql(), sql.binds());
    if let Some(rows) = estimates.estimate(collection.id, &key) {
        return Ok(rows);
    }
    let plan: PlanLine = sql.into_query().get_result(conn)?;
    let rows = serde_json::from_str::<serde_json::Value>(&plan.line)
        .ok()
        .and_then(|plan| plan[0]["Plan"]["Plan Rows"].as_f64())
        .unwrap_or(f64::MAX);
    let rows = rows.max(0.0).min(u64::MAX as f64) as u64;
    estimates.keep_estimate(collection.id, key, rows);
    Ok(rows)
}

/// The search statement for `queries` (one or many), numbered `query` 1.. in the result.
fn statement(
    collection: &Collection,
    request: &SearchRequest,
    mode: Mode,
    layout: &PayloadLayout,
    queries: &[VectorValue],
) -> SqlBuilder {
    let mut sql = SqlBuilder::new();
    statement_into(&mut sql, collection, request, mode, layout, queries);
    sql
}

/// [`statement`], appended to `sql` (the vector side of a hybrid statement).
fn statement_into(
    sql: &mut SqlBuilder,
    collection: &Collection,
    request: &SearchRequest,
    mode: Mode,
    layout: &PayloadLayout,
    queries: &[VectorValue],
) {
    let single = queries.len() == 1;
    let query_ref = if single {
        let vector = queries.first().cloned().unwrap_or_default();
        sql.param(vector)
    } else {
        "q.v".to_owned()
    };
    let distance = distance_sql(collection, mode, &query_ref);
    let order = order_sql(collection, mode, &query_ref);
    // A quantized index's candidates are re-ranked around the index scan: `cand` is the
    // inner statement, cut at `candidates`; the statement around it sorts by the exact
    // distance and keeps `k`.
    let quantized = matches!(mode, Mode::Ann(_, Some(_)));
    let candidates = request.rerank_candidates();
    let reranked = if quantized {
        "cand.* FROM (SELECT "
    } else {
        ""
    };
    let columns = format!(
        "id, external_id, {} AS metadata, {} AS content, {} AS embedding, {distance} AS distance",
        if request.include_metadata {
            "metadata"
        } else {
            "NULL::jsonb"
        },
        if request.include_content {
            "content"
        } else {
            "NULL::text"
        },
        vector_column(collection, request, None),
    );
    let prepared = prepared(request, mode);
    if single && prepared {
        // The k nearest are cut by the outer `LIMIT $k`; the inner limit is a constant from
        // a closed set, so the plan's cost does not depend on k and PostgreSQL keeps one
        // generic plan for the prepared statement (see [`plan_limit`]).
        sql.push("SELECT 1::bigint AS query, hit.* FROM (SELECT ")
            .push(reranked)
            .push(&columns);
    } else if single {
        // One level: the settings' one-time filter sits right above the index scan.
        sql.push("SELECT 1::bigint AS query, ")
            .push(reranked)
            .push(&columns);
    } else {
        let (vectors, array) = query_array(collection.kind, queries);
        sql.push("SELECT q.ord AS query, hit.* FROM unnest(")
            .bind_cast(vectors, array)
            .push(") WITH ORDINALITY AS q(v, ord) CROSS JOIN LATERAL (SELECT ")
            .push(reranked)
            .push(&columns);
    }
    if prepared {
        // Our own catalog's integer, like the partition name: the partition is pruned when
        // the statement is planned, so its generic plan is that partition's index scan.
        sql.push(" FROM embeddings WHERE collection_id = ")
            .push(&collection.id.0.to_string());
    } else {
        sql.push(" FROM embeddings WHERE collection_id = ")
            .bind(collection.id.0);
    }
    if single {
        if let Mode::Ann(method, quantization) = mode {
            // Evaluated once, before the index scan starts: see the module docs.
            sql.push(" AND ");
            push_settings(sql, method, quantization, request);
        }
    }
    if let Some(filter) = &request.filter {
        sql.push(" AND (");
        filter.render(sql, layout);
        sql.push(")");
    }
    if let Some(after) = &request.after {
        sql.push(" AND (")
            .push(&distance)
            .push(", id) > (")
            .bind(after.distance)
            .push("::float8, ")
            .bind(after.id)
            .push("::bigint)");
    }
    sql.push(" ORDER BY ").push(&order);
    if mode == Mode::Exact {
        sql.push(", id");
    }
    match (single && prepared, quantized) {
        (true, false) => {
            sql.push(" LIMIT ")
                .push(&plan_limit(request.k).to_string())
                .push(") hit LIMIT ")
                .bind(i64::from(request.k));
        }
        (true, true) => {
            // The constant inner limit keeps one generic plan (see [`plan_limit`]); the
            // bound one cuts the candidates, which keep the index's order through it.
            sql.push(" LIMIT ")
                .push(&plan_limit(candidates).to_string())
                .push(") cand LIMIT ")
                .bind(i64::from(candidates))
                .push(") hit ORDER BY hit.distance, hit.id LIMIT ")
                .bind(i64::from(request.k));
        }
        (false, false) => {
            sql.push(" LIMIT ").bind(i64::from(request.k));
        }
        (false, true) => {
            sql.push(" LIMIT ")
                .bind(i64::from(candidates))
                .push(") cand ORDER BY cand.distance, cand.id LIMIT ")
                .bind(i64::from(request.k));
        }
    }
    if !single {
        sql.push(") hit");
        if let Mode::Ann(method, quantization) = mode {
            // Above the lateral join: evaluated once, before the first inner index scan.
            sql.push(" WHERE ");
            push_settings(sql, method, quantization, request);
        }
    }
    // Hits are put in (distance, id) order in Rust: relaxed-order scans return them slightly
    // out of order, and sorting k rows there costs less than another plan node.
}

/// The inner `LIMIT` of a prepared single search: [`PLAN_LIMIT`] for k up to it, [`MAX_K`]
/// above ([`MAX_RERANK_CANDIDATES`] for a quantized index's candidates beyond that). A constant, so a generic plan costs what a custom plan for such a k costs, and
/// PostgreSQL's plan cache (`plan_cache_mode = auto`) settles on the generic plan after five
/// executions instead of planning every call; with `LIMIT $k` alone the generic plan is
/// costed for 10 % of the rows and rejected. The scan stops after k rows either way.
fn plan_limit(k: u32) -> u32 {
    if k <= PLAN_LIMIT {
        PLAN_LIMIT
    } else if k <= MAX_K {
        MAX_K
    } else {
        MAX_RERANK_CANDIDATES
    }
}

/// Whether the statement runs prepared: see [`load`].
fn prepared(request: &SearchRequest, mode: Mode) -> bool {
    request.filter.is_none() || matches!(mode, Mode::Ann(..))
}

/// The vector side of a hybrid request: the plain search for its `fetch_k` nearest, ids and
/// distances only.
fn vector_side(request: &SearchRequest) -> SearchRequest {
    let mut side = request.clone();
    side.k = request
        .text
        .as_ref()
        .map_or(request.k, |text| text.fetch_k_for(request.k));
    side.text = None;
    side.include_metadata = false;
    side.include_content = false;
    side.include_vector = false;
    side.max_distance = None;
    side.min_score = None;
    side
}

/// A text-only or hybrid search: one statement (see [`text_statement`]); a hybrid whose ANN
/// vector side came back short under a filter runs again with an exact vector side, so `k`
/// rows come back whenever `k` rows match either side.
fn text_search(
    conn: &mut PgConnection,
    collection: &Collection,
    indexes: &CollectionIndexes,
    request: &SearchRequest,
    query: &VectorValue,
    scope: Scope,
    estimates: &dyn PlannerMemory,
) -> Result<SearchResponse> {
    let layout = layout(indexes);
    let side = vector_side(request);
    let (mode, matched) = if query.is_empty() {
        (Mode::Exact, None)
    } else {
        let decision = decide(conn, collection, indexes, &layout, &side, estimates)?;
        (decision.mode, decision.matched)
    };
    let sql = text_statement(collection, indexes, &layout, request, query, mode);
    let mut rows: Vec<TextRow> =
        with_index_forced(conn, scope, mode, &side, |conn| sql.into_query().load(conn))?;
    let mut exact = !matches!(mode, Mode::Ann(..));
    if !exact && rows.len() < request.k as usize && needs_fallback(&side) {
        let sql = text_statement(collection, indexes, &layout, request, query, Mode::Exact);
        rows = sql.into_query().load(conn)?;
        exact = true;
    }
    let hits: Vec<SearchHit> = rows
        .into_iter()
        .map(|row| {
            let mut hit = to_hit(collection, row.hit);
            if query.is_empty() {
                // No vector, no distance: the score is the text's.
                hit.score = row.text_score.unwrap_or(0.0);
            }
            SearchHit {
                vector_rank: row.vector_rank.and_then(|rank| u32::try_from(rank).ok()),
                text_rank: row.text_rank.and_then(|rank| u32::try_from(rank).ok()),
                text_score: row.text_score,
                fused_score: row.fused,
                ..hit
            }
        })
        .filter(|hit| request.max_distance.is_none_or(|max| hit.distance <= max))
        .filter(|hit| request.min_score.is_none_or(|min| hit.score >= min))
        .collect();
    Ok(SearchResponse {
        requested: request.k,
        returned: u32::try_from(hits.len()).unwrap_or(u32::MAX),
        exact,
        path: if query.is_empty() {
            SearchPath::Text
        } else {
            SearchPath::Hybrid
        },
        estimated_matches: matched,
        groups: None,
        reranked: None,
        hits,
    })
}

/// The text-only or hybrid statement.
///
/// The document is `to_tsvector('<config>'::regconfig, coalesce(content, ''))` — the text
/// index's own expression, its configuration read from the index definition (`simple`
/// without an index) — and the query `websearch_to_tsquery('<config>'::regconfig, $t)`, the
/// text only ever a bound parameter.
///
/// - Text only: the matching rows (`@@`, with the filter) ranked by `ts_rank_cd`, best `k`.
/// - Hybrid: CTE `v` is the vector search for `fetch_k` (as [`statement`] builds it for the
///   chosen path, settings inside), `t` the text side's best `fetch_k`; each is numbered by
///   `row_number()`; a `FULL JOIN` on id fuses them by reciprocal rank, `ORDER BY fused DESC,
///   id LIMIT k`; the `k` rows are joined back for their columns and exact distance.
fn text_statement(
    collection: &Collection,
    indexes: &CollectionIndexes,
    layout: &PayloadLayout,
    request: &SearchRequest,
    query: &VectorValue,
    mode: Mode,
) -> SqlBuilder {
    let config = indexes
        .text
        .clone()
        .filter(|config| crate::repo::text_index::plain_name(config))
        .unwrap_or_else(|| "simple".to_owned());
    let text = request
        .text
        .clone()
        .map(|text| text.query)
        .unwrap_or_default();
    let document = crate::repo::text_index::document_sql(&config);
    let mut sql = SqlBuilder::new();
    let tsquery = {
        let placeholder = sql.param(text);
        format!("websearch_to_tsquery('{config}'::regconfig, {placeholder})")
    };
    let columns = |table: &str| {
        format!(
            "{table}.id, {table}.external_id, {} AS metadata, {} AS content, {} AS embedding",
            if request.include_metadata {
                format!("{table}.metadata")
            } else {
                "NULL::jsonb".to_owned()
            },
            if request.include_content {
                format!("{table}.content")
            } else {
                "NULL::text".to_owned()
            },
            vector_column(collection, request, Some(table)),
        )
    };
    // The text side: the best `limit` matches by ts_rank_cd, with the filter.
    let text_side = |sql: &mut SqlBuilder, select: &str, limit: u32| {
        sql.push("SELECT ")
            .push(select)
            .push(", ts_rank_cd(")
            .push(&document)
            .push(", ")
            .push(&tsquery)
            .push(")::float8 AS text_score FROM embeddings e WHERE e.collection_id = ")
            .bind(collection.id.0)
            .push(" AND ")
            .push(&document)
            .push(" @@ ")
            .push(&tsquery);
        if let Some(filter) = &request.filter {
            sql.push(" AND (");
            filter.render(sql, layout);
            sql.push(")");
        }
        sql.push(" ORDER BY text_score DESC, e.id LIMIT ")
            .bind(i64::from(limit));
    };
    if query.is_empty() {
        sql.push(
            "SELECT 1::bigint AS query, t.id, t.external_id, t.metadata, t.content, t.embedding, \
             'NaN'::float8 AS distance, NULL::bigint AS vector_rank, \
             row_number() OVER (ORDER BY t.text_score DESC, t.id) AS text_rank, t.text_score, \
             NULL::float8 AS fused FROM (",
        );
        text_side(&mut sql, &columns("e"), request.k);
        sql.push(") t ORDER BY t.text_score DESC, t.id");
        return sql;
    }
    let side = vector_side(request);
    let settings = request.text.clone();
    let fetch_k = side.k;
    let rrf_k = f64::from(
        settings
            .as_ref()
            .and_then(|text| text.rrf_k)
            .unwrap_or(crate::dto::DEFAULT_RRF_K),
    );
    let vector_weight = settings
        .as_ref()
        .and_then(|text| text.vector_weight)
        .unwrap_or(1.0);
    let text_weight = settings
        .as_ref()
        .and_then(|text| text.text_weight)
        .unwrap_or(1.0);
    sql.push("WITH v AS (");
    statement_into(
        &mut sql,
        collection,
        &side,
        mode,
        layout,
        std::slice::from_ref(query),
    );
    sql.push(
        "), vr AS (SELECT id, row_number() OVER (ORDER BY distance, id) AS rank FROM v), t AS (",
    );
    text_side(&mut sql, "e.id", fetch_k);
    sql.push(
        "), tr AS (SELECT id, text_score, row_number() OVER (ORDER BY text_score DESC, id) \
         AS rank FROM t), f AS (SELECT coalesce(vr.id, tr.id) AS id, vr.rank AS vector_rank, \
         tr.rank AS text_rank, tr.text_score, coalesce(",
    )
    .bind_cast(vector_weight, "float8")
    .push(" / (")
    .bind_cast(rrf_k, "float8")
    .push(" + vr.rank), 0) + coalesce(")
    .bind_cast(text_weight, "float8")
    .push(" / (")
    .bind_cast(rrf_k, "float8")
    .push(
        " + tr.rank), 0) AS fused FROM vr FULL JOIN tr ON vr.id = tr.id \
           ORDER BY fused DESC, id LIMIT ",
    )
    .bind(i64::from(request.k))
    .push(") SELECT 1::bigint AS query, ")
    .push(&columns("e"))
    .push(", ");
    let vector = sql.param(query.clone());
    // The exact distance on the stored column, as the exact path computes it.
    sql.push(&format!(
        "e.{} {} {vector}",
        collection.search_expression().column(),
        collection.metric.operator()
    ))
    .push(
        " AS distance, f.vector_rank, f.text_rank, f.text_score, f.fused \
             FROM f JOIN embeddings e ON e.id = f.id AND e.collection_id = ",
    )
    .bind(collection.id.0)
    .push(" ORDER BY f.fused DESC, f.id");
    sql
}

/// The distance expression: on the indexed expression for the ANN path, on the plain column
/// (which no index serves) for the exact path and for the re-rank of a quantized index's
/// candidates.
fn distance_sql(collection: &Collection, mode: Mode, query: &str) -> String {
    let operator = collection.metric.operator();
    match mode {
        Mode::Ann(_, None) => {
            let expression = collection.search_expression();
            format!(
                "{} {operator} {}",
                expression.column_sql(),
                expression.parameter_sql(query)
            )
        }
        Mode::Ann(_, Some(_)) | Mode::Exact => format!(
            "{} {operator} {query}",
            collection.search_expression().column()
        ),
    }
}

/// The queries of a batch as one array parameter of the collection's kind, and its type
/// (`vector[]`, `sparsevec[]`, `varbit[]`). The queries are conformed to the kind already.
fn query_array(kind: VectorKind, queries: &[VectorValue]) -> (Bind, &'static str) {
    match kind {
        VectorKind::Dense => (
            Bind::VectorArray(
                queries
                    .iter()
                    .map(|query| pgvector::Vector::from(query.to_vec()))
                    .collect(),
            ),
            "vector[]",
        ),
        VectorKind::Sparse => (
            Bind::SparseVectorArray(
                queries
                    .iter()
                    .filter_map(|query| query.as_sparse().cloned())
                    .collect(),
            ),
            "sparsevec[]",
        ),
        VectorKind::Bit => (
            Bind::BitArray(
                queries
                    .iter()
                    .filter_map(|query| query.as_bits().cloned())
                    .collect(),
            ),
            // Not `bit[]`: as a cast, `bit` means `bit(1)` and would cut every query to one bit.
            "varbit[]",
        ),
    }
}

/// The selected vector column: the collection's own column in its binary form
/// (`vector_send(embedding)`, …; qualified by `table` when given) when the request includes
/// vectors, otherwise a typed NULL.
fn vector_column(collection: &Collection, request: &SearchRequest, table: Option<&str>) -> String {
    if request.include_vector {
        collection.search_expression().send_sql(table)
    } else {
        "NULL::bytea".to_owned()
    }
}

/// The expression the statement orders by: the distance, except under a quantized index,
/// whose own expression (`halfvec(N)` under the metric's operator, or Hamming distance of
/// `binary_quantize(…)::bit(N)`) picks the candidates.
fn order_sql(collection: &Collection, mode: Mode, query: &str) -> String {
    match mode {
        Mode::Ann(_, Some(quantization)) => {
            let expression = collection.search_expression();
            format!(
                "{} {} {}",
                expression.indexed_column_sql(Some(quantization)),
                collection.metric.indexed_operator(Some(quantization)),
                expression.indexed_parameter_sql(query, Some(quantization))
            )
        }
        _ => distance_sql(collection, mode, query),
    }
}

/// `(SELECT concat(set_config(…, true), …)) IS NOT NULL`: pgvector's settings for this
/// request, every one set explicitly (pgvector's defaults may change between releases).
fn push_settings(
    sql: &mut SqlBuilder,
    method: IndexMethod,
    quantization: Option<Quantization>,
    request: &SearchRequest,
) {
    let filtered = needs_fallback(request);
    let mut settings: Vec<(&str, String)> = Vec::new();
    match method {
        IndexMethod::Hnsw => {
            // A quantized index is asked for all the candidates it re-ranks: ef_search grows
            // to them (pgvector's most is 1000) and, beyond that, the scan goes on
            // iteratively.
            let wanted = if quantization.is_some() {
                request.rerank_candidates()
            } else {
                request.k
            };
            let ef_search = request
                .ef_search
                .unwrap_or(DEFAULT_EF_SEARCH)
                .max(wanted.min(MAX_EF_SEARCH));
            // relaxed_order finds more of the true neighbours per tuple visited than
            // strict_order (measured: recall 0.97 vs 0.93 at a 10 % filter) and its slight
            // disorder is undone by sorting the k hits.
            let mode = request
                .iterative
                .unwrap_or(if filtered || wanted > ef_search {
                    IterativeScan::RelaxedOrder
                } else {
                    IterativeScan::Off
                });
            settings.push(("hnsw.ef_search", ef_search.to_string()));
            settings.push(("hnsw.iterative_scan", mode.as_str().to_owned()));
            if let Some(tuples) = request.max_scan_tuples {
                settings.push(("hnsw.max_scan_tuples", tuples.to_string()));
            }
        }
        IndexMethod::IvfFlat => {
            // IVFFlat knows only off and relaxed_order.
            let mode = match request.iterative {
                Some(IterativeScan::Off) => IterativeScan::Off,
                Some(_) => IterativeScan::RelaxedOrder,
                None if filtered => IterativeScan::RelaxedOrder,
                None => IterativeScan::Off,
            };
            if let Some(probes) = request.probes {
                settings.push(("ivfflat.probes", probes.to_string()));
            }
            settings.push(("ivfflat.iterative_scan", mode.as_str().to_owned()));
            if let Some(probes) = request.max_scan_tuples {
                settings.push(("ivfflat.max_probes", probes.to_string()));
            }
        }
    }
    sql.push("(SELECT concat(");
    for (index, (name, value)) in settings.into_iter().enumerate() {
        if index > 0 {
            sql.push(", ");
        }
        sql.push("set_config(")
            .bind_cast(name, "text")
            .push(", ")
            .bind_cast(value, "text")
            .push(", true)");
    }
    sql.push(")) IS NOT NULL");
}

fn respond(
    collection: &Collection,
    request: &SearchRequest,
    rows: Vec<HitRow>,
    path: SearchPath,
    matched: Option<u64>,
) -> SearchResponse {
    let hits: Vec<SearchHit> = rows
        .into_iter()
        .map(|row| to_hit(collection, row))
        .filter(|hit| request.max_distance.is_none_or(|max| hit.distance <= max))
        .filter(|hit| request.min_score.is_none_or(|min| hit.score >= min))
        .collect();
    SearchResponse {
        requested: request.k,
        returned: u32::try_from(hits.len()).unwrap_or(u32::MAX),
        exact: path != SearchPath::Ann,
        path,
        estimated_matches: matched,
        groups: None,
        reranked: None,
        hits,
    }
}

fn to_hit(collection: &Collection, row: HitRow) -> SearchHit {
    SearchHit {
        id: row.id,
        external_id: row.external_id,
        distance: row.distance,
        score: collection.metric.score(row.distance),
        metadata: row.metadata,
        content: row.content,
        vector: row
            .embedding
            .and_then(|bytes| VectorValue::from_send(collection.kind, &bytes)),
        group: None,
        vector_rank: None,
        text_rank: None,
        text_score: None,
        fused_score: None,
    }
}
