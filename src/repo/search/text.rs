//! Full-text search alone and hybrid search (the vector and the text side fused by reciprocal
//! rank fusion), one statement each.
//!
//! The document is `to_tsvector('<config>'::regconfig, coalesce(content, ''))` — the text
//! index's own expression, its configuration read from the index definition (`simple` without
//! an index) — and the query `websearch_to_tsquery('<config>'::regconfig, $t)`, the text only
//! ever a bound parameter.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable};

use crate::dto::{DEFAULT_RRF_K, DEFAULT_TEXT_WEIGHT, DEFAULT_VECTOR_WEIGHT, SearchSpec};
use crate::error::Result;
use crate::repo::search::context::{Search, Target};
use crate::repo::search::ignored::{exact_because, ignored};
use crate::repo::search::plan::{Decision, Mode, needs_fallback, settings};
use crate::repo::search::response::{
    AppliedSetting, HitRow, SearchHit, SearchPath, SearchResponse, kept, response, to_hit,
};
use crate::repo::search::vector::{hit_columns, statement_into};
use crate::repo::search::verdict::decide_checked;
use crate::repo::text_index::{document_sql, plain_name};
use crate::sql::SqlBuilder;
use crate::vector::VectorValue;

/// A row of a text or hybrid statement: a hit, its ranks and scores.
#[derive(QueryableByName)]
pub(super) struct TextRow {
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

/// The text-only or hybrid search for every vector of `queries` (empty: text only), one
/// statement each; a hybrid whose ANN vector side came back short under a filter runs again
/// with an exact vector side, so `k` rows come back whenever `k` rows match either side.
pub(super) fn run(search: &mut Search<'_>, queries: &[VectorValue]) -> Result<Vec<SearchResponse>> {
    let mut responses = Vec::with_capacity(queries.len());
    for query in queries {
        responses.push(one(search, query)?);
    }
    Ok(responses)
}

/// The vector side of a hybrid request: the plain search for its `fetch_k` nearest, ids and
/// distances only.
pub(super) fn vector_side(request: &SearchSpec) -> SearchSpec {
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

/// The path of the hybrid's vector side for `query`: exact without a vector (text only).
pub(super) fn vector_mode(
    search: &mut Search<'_>,
    side: &Target<'_>,
    query: &VectorValue,
) -> Result<Decision> {
    if query.is_empty() {
        return Ok(Decision {
            mode: Mode::Exact,
            matched: None,
            threshold: None,
            unused: None,
            rare: None,
        });
    }
    decide_checked(search, side, std::slice::from_ref(query))
}

/// The text-only statement (`query` empty) or the hybrid one.
///
/// - Text only: the matching rows (`@@`, with the filter) ranked by `ts_rank_cd`, best `k`.
/// - Hybrid: CTE `v` is the vector search for `fetch_k` (as
///   [`statement`](super::vector::statement) builds it for the chosen path, settings inside),
///   `t` the text side's best `fetch_k`; each is numbered by `row_number()`; a `FULL JOIN` on
///   id fuses them by reciprocal rank, the best `k` kept (see [`push_fusion`] for the order
///   and its tie rule); the `k` rows are joined back for their columns and exact distance.
pub(super) fn statement(target: &Target<'_>, query: &VectorValue, mode: Mode) -> SqlBuilder {
    let mut sql = SqlBuilder::new();
    let text = TextSide::new(&mut sql, target);
    if query.is_empty() {
        sql.push(
            "SELECT 1::bigint AS query, t.id, t.external_id, t.metadata, t.content, t.embedding, \
             'NaN'::float8 AS distance, NULL::bigint AS vector_rank, \
             row_number() OVER (ORDER BY t.text_score DESC, t.id) AS text_rank, t.text_score, \
             NULL::float8 AS fused FROM (",
        );
        text.push(&mut sql, &hit_columns(target, Some("e")), target.request.k);
        sql.push(") t ORDER BY t.text_score DESC, t.id");
        return sql;
    }
    let side = vector_side(target.request);
    sql.push("WITH v AS (");
    statement_into(
        &mut sql,
        &target.asking(&side),
        mode,
        std::slice::from_ref(query),
    );
    sql.push(
        "), vr AS (SELECT id, row_number() OVER (ORDER BY distance, id) AS rank FROM v), t AS (",
    );
    text.push(&mut sql, "e.id", side.k);
    push_fusion(&mut sql, target.request);
    push_joined_back(&mut sql, target, query);
    sql
}

/// One text-only or hybrid search.
fn one(search: &mut Search<'_>, query: &VectorValue) -> Result<SearchResponse> {
    let target = search.target();
    let request = target.request;
    let side = vector_side(request);
    let decision = vector_mode(search, &target.asking(&side), query)?;
    let (mode, matched) = (decision.mode, decision.matched);
    let sql = statement(&target, query, mode);
    let mut rows: Vec<TextRow> = sql.into_query().load(search.conn)?;
    let mut exact = !matches!(mode, Mode::Ann(..));
    if !exact && rows.len() < request.k as usize && needs_fallback(&side) {
        let sql = statement(&target, query, Mode::Exact);
        rows = sql.into_query().load(search.conn)?;
        exact = true;
    }
    let hits: Vec<SearchHit> = rows
        .into_iter()
        .map(|row| {
            let mut hit = to_hit(target.collection, row.hit);
            if query.is_empty() {
                // No vector, no distance: the score is the text's.
                hit.score = row.text_score.unwrap_or(0.0);
                hit.distance_not_finite = false;
            }
            SearchHit {
                vector_rank: row.vector_rank.and_then(|rank| u32::try_from(rank).ok()),
                text_rank: row.text_rank.and_then(|rank| u32::try_from(rank).ok()),
                text_score: row.text_score,
                fused_score: row.fused,
                ..hit
            }
        })
        .filter(|hit| kept(request, hit))
        .collect();
    let path = if query.is_empty() {
        SearchPath::Text
    } else {
        SearchPath::Hybrid
    };
    let mut response = response(request, hits, exact, path, matched);
    response.exact_threshold = decision.threshold;
    let because = exact_because(&side, target.indexes.ann, &decision);
    response.ignored = ignored(&side, mode, because, matched.is_some());
    response.advice = crate::repo::search::nearest::advice(&target.asking(&side), &decision);
    if let Mode::Ann(method, quantization) = mode {
        response.settings = AppliedSetting::all(settings(method, quantization, &side));
    }
    Ok(response)
}

/// The text side's pieces: the document expression and the bound `websearch_to_tsquery`.
struct TextSide<'t> {
    target: &'t Target<'t>,
    document: String,
    tsquery: String,
}

impl<'t> TextSide<'t> {
    /// Binds the query text in `sql` (its first parameter) and names the configuration.
    fn new(sql: &mut SqlBuilder, target: &'t Target<'t>) -> Self {
        let config = target
            .indexes
            .text
            .clone()
            .filter(|config| plain_name(config))
            .unwrap_or_else(|| "simple".to_owned());
        let text = target
            .request
            .text
            .clone()
            .map(|text| text.query)
            .unwrap_or_default();
        let placeholder = sql.param(text);
        Self {
            target,
            document: document_sql(&config),
            tsquery: format!("websearch_to_tsquery('{config}'::regconfig, {placeholder})"),
        }
    }

    /// `SELECT <select>, ts_rank_cd(…) AS text_score … LIMIT <limit>`: the best `limit`
    /// matches by `ts_rank_cd`, with the filter.
    fn push(&self, sql: &mut SqlBuilder, select: &str, limit: u32) {
        let Self {
            target,
            document,
            tsquery,
        } = self;
        sql.push("SELECT ")
            .push(select)
            .push(", ts_rank_cd(")
            .push(document)
            .push(", ")
            .push(tsquery)
            .push(")::float8 AS text_score FROM embeddings e WHERE e.collection_id = ")
            .bind(target.collection.id.0)
            .push(" AND ")
            .push(document)
            .push(" @@ ")
            .push(tsquery);
        if let Some(filter) = &target.request.filter {
            sql.push(" AND (");
            filter.render(sql, &target.layout);
            sql.push(")");
        }
        sql.push(" ORDER BY text_score DESC, e.id LIMIT ")
            .bind(i64::from(limit));
    }
}

/// Both sides numbered (`vr`, `tr`) and fused by reciprocal rank (`f`): `FULL JOIN` on id,
/// `weight / (rrf_k + rank)` per side, the best `k`.
///
/// Ties in the fused score go to the better single-side rank (`least` ignores the side that
/// did not return the row), then to the better rank on the other side (a row both sides
/// returned before one only a side returned), then to the id: a side's #1 never falls behind
/// a row that ties it only by being found lower on both sides.
fn push_fusion(sql: &mut SqlBuilder, request: &SearchSpec) {
    let settings = request.text.as_ref();
    let rrf_k = f64::from(
        settings
            .and_then(|text| text.rrf_k)
            .unwrap_or(DEFAULT_RRF_K),
    );
    let vector_weight = settings
        .and_then(|text| text.vector_weight)
        .unwrap_or(DEFAULT_VECTOR_WEIGHT);
    let text_weight = settings
        .and_then(|text| text.text_weight)
        .unwrap_or(DEFAULT_TEXT_WEIGHT);
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
           ORDER BY fused DESC, least(vr.rank, tr.rank), greatest(vr.rank, tr.rank) NULLS LAST, \
           id LIMIT ",
    )
    .bind(i64::from(request.k));
}

/// The fused `k` joined back to their rows for the columns asked and the exact distance on
/// the stored column, as the exact path computes it.
fn push_joined_back(sql: &mut SqlBuilder, target: &Target<'_>, query: &VectorValue) {
    let collection = target.collection;
    sql.push(") SELECT 1::bigint AS query, ")
        .push(&hit_columns(target, Some("e")))
        .push(", ");
    let vector = sql.param(query.clone());
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
    .push(
        " ORDER BY f.fused DESC, least(f.vector_rank, f.text_rank), \
         greatest(f.vector_rank, f.text_rank) NULLS LAST, f.id",
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dto::IndexMethod;
    use crate::repo::catalog::CollectionIndexes;
    use crate::repo::search::fixtures::{
        ann, assert_binds_match, collection, filter_on, integers, request, texts,
    };
    use crate::sql::Bind;

    fn build(indexes: &CollectionIndexes, ask: &SearchSpec, mode: Mode) -> SqlBuilder {
        let collection = collection();
        let target = Target::new(&collection, indexes, ask);
        let sql = statement(&target, &ask.vector, mode);
        assert_binds_match(&sql);
        sql
    }

    #[test]
    fn a_text_only_search_ranks_the_matching_rows_by_ts_rank_cd() {
        let ask = SearchSpec::new(Vec::<f32>::new(), 5)
            .with_text("red fox")
            .with_filter(filter_on("tag"));
        let sql = build(&CollectionIndexes::default(), &ask, Mode::Exact);
        let text = sql.sql();
        let document = "to_tsvector('simple'::regconfig, coalesce(content, ''))";
        let query = "websearch_to_tsquery('simple'::regconfig, $1)";
        assert!(text.starts_with("SELECT 1::bigint AS query, t.id, t.external_id, t.metadata, t.content, t.embedding, 'NaN'::float8 AS distance, NULL::bigint AS vector_rank, row_number() OVER (ORDER BY t.text_score DESC, t.id) AS text_rank"), "{text}");
        assert!(text.contains(&format!("ts_rank_cd({document}, {query})::float8 AS text_score FROM embeddings e WHERE e.collection_id = $2 AND {document} @@ {query} AND (")), "{text}");
        assert!(
            text.ends_with(
                "ORDER BY text_score DESC, e.id LIMIT $5) t ORDER BY t.text_score DESC, t.id"
            ),
            "{text}"
        );
        assert!(!text.contains("set_config"), "{text}");
        assert_eq!(
            texts(&sql)[0],
            "red fox",
            "the text is only ever a bound parameter"
        );
        assert_eq!(integers(&sql), [7, 5]);
    }

    #[test]
    fn a_text_index_configuration_names_the_document_and_the_query() {
        let indexes = CollectionIndexes {
            text: Some("english".to_owned()),
            ..CollectionIndexes::default()
        };
        let ask = SearchSpec::new(Vec::<f32>::new(), 5).with_text("foxes");
        let sql = build(&indexes, &ask, Mode::Exact);
        assert!(sql.sql().contains("to_tsvector('english'::regconfig, coalesce(content, '')) @@ websearch_to_tsquery('english'::regconfig, $1)"), "{}", sql.sql());
    }

    #[test]
    fn a_hybrid_search_fuses_both_sides_by_reciprocal_rank_in_a_full_join() {
        let ask = request(10)
            .with_text("red fox")
            .with_fetch_k(40)
            .with_rrf_k(30)
            .with_weights(2.0, 0.5);
        let hnsw = Mode::Ann(IndexMethod::Hnsw, None);
        let sql = build(&ann(IndexMethod::Hnsw, None), &ask, hnsw);
        let text = sql.sql();
        // The vector side is the ANN statement for fetch_k, its settings inside it.
        assert!(text.starts_with("WITH v AS (SELECT 1::bigint AS query, hit.* FROM (SELECT id, external_id, NULL::jsonb AS metadata, NULL::text AS content, NULL::bytea AS embedding, embedding::vector(3) <=> $2 AS distance FROM embeddings WHERE collection_id = 7 AND (SELECT concat(set_config("), "{text}");
        assert!(text.contains("ORDER BY embedding::vector(3) <=> $2 LIMIT 100) hit LIMIT $7), vr AS (SELECT id, row_number() OVER (ORDER BY distance, id) AS rank FROM v), t AS (SELECT e.id, ts_rank_cd("), "{text}");
        assert!(text.contains("tr AS (SELECT id, text_score, row_number() OVER (ORDER BY text_score DESC, id) AS rank FROM t)"), "{text}");
        assert!(text.contains("coalesce($10::float8 / ($11::float8 + vr.rank), 0) + coalesce($12::float8 / ($13::float8 + tr.rank), 0) AS fused FROM vr FULL JOIN tr ON vr.id = tr.id ORDER BY fused DESC, least(vr.rank, tr.rank), greatest(vr.rank, tr.rank) NULLS LAST, id LIMIT $14"), "{text}");
        // The fused k are joined back for their columns and exact distance.
        assert!(text.ends_with(", e.embedding <=> $15 AS distance, f.vector_rank, f.text_rank, f.text_score, f.fused FROM f JOIN embeddings e ON e.id = f.id AND e.collection_id = $16 ORDER BY f.fused DESC, least(f.vector_rank, f.text_rank), greatest(f.vector_rank, f.text_rank) NULLS LAST, f.id"), "{text}");
        assert_eq!(
            sql.binds()[9..13],
            [
                Bind::Float8(2.0),
                Bind::Float8(30.0),
                Bind::Float8(0.5),
                Bind::Float8(30.0)
            ]
        );
        assert_eq!(integers(&sql), [40, 7, 40, 10, 7]);
        assert_eq!(sql.bind_count(), 16);
    }

    #[test]
    fn the_vector_side_asks_fetch_k_ids_and_distances_only() {
        let ask = request(10)
            .with_text("fox")
            .include_content(true)
            .with_max_distance(0.5);
        let side = vector_side(&ask);
        assert_eq!(side.k, 40, "4 × k by default");
        assert!(side.text.is_none() && !side.include_metadata && !side.include_content);
        assert!(side.max_distance.is_none());
    }
}
