//! The nearest-neighbour statements — ANN, quantized ANN with its in-statement re-rank, exact,
//! with a filter or keyset condition, for one query or a batch — built without a connection
//! (`nearest.rs` runs them).

use crate::models::Collection;
use crate::repo::search::context::Target;
use crate::repo::search::plan::{Mode, needs_fallback, plan_limit, prepared, push_settings};
use crate::sql::{Bind, SqlBuilder};
use crate::vector::{VectorKind, VectorValue};

/// The search statement for `queries` (one or many), numbered `query` 1.. in the result.
pub(super) fn statement(target: &Target<'_>, mode: Mode, queries: &[VectorValue]) -> SqlBuilder {
    let mut sql = SqlBuilder::new();
    statement_into(&mut sql, target, mode, queries);
    sql
}

/// [`statement`], appended to `sql` (the vector side of a hybrid statement).
///
/// Its parts, in order: the select list around the matching rows ([`push_select`]), the
/// collection and pgvector's settings ([`push_from`]), the filter and keyset condition
/// ([`push_conditions`]), the order and limits ([`push_order_and_limits`]).
pub(super) fn statement_into(
    sql: &mut SqlBuilder,
    target: &Target<'_>,
    mode: Mode,
    queries: &[VectorValue],
) {
    let shape = StatementShape {
        single: queries.len() == 1,
        prepared: prepared(target.request, mode),
        quantized: matches!(mode, Mode::Ann(_, Some(_))),
        fenced: matches!(mode, Mode::Ann(..)) && needs_fallback(target.request),
    };
    let query = if shape.single {
        sql.param(queries.first().cloned().unwrap_or_default())
    } else {
        "q.v".to_owned()
    };
    let distance = distance_sql(target.collection, mode, &query);
    let order = order_sql(target.collection, mode, &query);
    push_select(sql, target, shape, queries, &distance);
    push_from(sql, target, shape, mode);
    if shape.fenced {
        // The index walk in order, fenced by OFFSET 0; the filter and keyset above it.
        sql.push(" ORDER BY ").push(&order).push(" OFFSET 0) f");
        push_fenced_conditions(sql, target);
    } else {
        push_conditions(sql, target, &distance);
        sql.push(" ORDER BY ").push(&order);
        if mode == Mode::Exact {
            sql.push(", id");
        }
    }
    push_order_and_limits(sql, target, shape);
    if !shape.single {
        sql.push(") hit");
        if let Mode::Ann(method, quantization) = mode {
            // Above the lateral join: evaluated once, before the first inner index scan.
            sql.push(" WHERE ");
            push_settings(sql, method, quantization, target.request);
        }
    }
    // Hits are put in (distance, id) order in Rust: relaxed-order scans return them slightly
    // out of order, and sorting k rows there costs less than another plan node. The order is
    // PostgreSQL's (`nearest::by_query`): a NaN distance after every number.
}

/// The distance expression: on the indexed expression for the ANN path, on the plain column
/// (which no index serves) for the exact path and for the re-rank of a quantized index's
/// candidates.
pub(super) fn distance_sql(collection: &Collection, mode: Mode, query: &str) -> String {
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

/// The selected vector column: the collection's own column in its binary form
/// (`vector_send(embedding)`, …; qualified by `table` when given) when the request includes
/// vectors, otherwise a typed NULL.
pub(super) fn vector_column(target: &Target<'_>, table: Option<&str>) -> String {
    if target.request.include_vector {
        target.collection.search_expression().send_sql(table)
    } else {
        "NULL::bytea".to_owned()
    }
}

/// The hit columns every statement selects (`id, external_id, metadata, content, embedding`),
/// qualified by `table` when given; left-out ones are typed NULLs.
pub(super) fn hit_columns(target: &Target<'_>, table: Option<&str>) -> String {
    let qualified = |column: &str| match table {
        Some(table) => format!("{table}.{column}"),
        None => column.to_owned(),
    };
    let request = target.request;
    format!(
        "{}, {}, {} AS metadata, {} AS content, {} AS embedding",
        qualified("id"),
        qualified("external_id"),
        if request.include_metadata {
            qualified("metadata")
        } else {
            "NULL::jsonb".to_owned()
        },
        if request.include_content {
            qualified("content")
        } else {
            "NULL::text".to_owned()
        },
        vector_column(target, table),
    )
}

/// How one statement is wrapped.
#[derive(Debug, Clone, Copy)]
struct StatementShape {
    /// One query (a parameter) rather than a batch (an array parameter, `unnest`ed).
    single: bool,
    /// Runs prepared (see [`load`]): the collection id is a literal.
    prepared: bool,
    /// Under a quantized index: the candidates are re-ranked around the index scan.
    quantized: bool,
    /// The ANN path under a filter or keyset condition: the index walk is fenced (see
    /// [`push_fenced_conditions`]).
    fenced: bool,
}

impl StatementShape {
    /// A prepared single search: a constant inner `LIMIT` under the bound one.
    fn constant_limit(self) -> bool {
        self.single && self.prepared
    }
}

/// The select list down to the matching rows' columns: `SELECT 1 AS query, …` for one query
/// (one level more when prepared, for the constant inner limit), the lateral join over the
/// `unnest`ed array for a batch; a quantized index's candidates wrapped in `cand`, whose
/// statement around it sorts by the exact distance and keeps `k`.
fn push_select(
    sql: &mut SqlBuilder,
    target: &Target<'_>,
    shape: StatementShape,
    queries: &[VectorValue],
    distance: &str,
) {
    let reranked = if shape.quantized {
        "cand.* FROM (SELECT "
    } else {
        ""
    };
    let mut columns = format!("{}, {distance} AS distance", hit_columns(target, None));
    if shape.fenced {
        columns = format!("{FENCED_COLUMNS} FROM (SELECT {columns}");
    }
    if shape.constant_limit() {
        // The k nearest are cut by the outer `LIMIT $k`; the inner limit is a constant from
        // a closed set, so the plan's cost does not depend on k and PostgreSQL keeps one
        // generic plan for the prepared statement (see [`plan_limit`]).
        sql.push("SELECT 1::bigint AS query, hit.* FROM (SELECT ");
    } else if shape.single {
        // One level: the settings' one-time filter sits right above the index scan.
        sql.push("SELECT 1::bigint AS query, ");
    } else {
        let (vectors, array) = query_array(target.collection.kind, queries);
        sql.push("SELECT q.ord AS query, hit.* FROM unnest(")
            .bind_cast(vectors, array)
            .push(") WITH ORDINALITY AS q(v, ord) CROSS JOIN LATERAL (SELECT ");
    }
    sql.push(reranked).push(&columns);
    if let (true, Some(filter)) = (shape.fenced, &target.request.filter) {
        sql.push(", (");
        filter.render(sql, &target.layout);
        sql.push(") AS keep");
    }
}

/// `FROM embeddings WHERE collection_id = …`, and for one query on the ANN path pgvector's
/// settings, evaluated once before the index scan starts (see the module docs of `search`).
fn push_from(sql: &mut SqlBuilder, target: &Target<'_>, shape: StatementShape, mode: Mode) {
    let collection = target.collection.id.0;
    sql.push(" FROM embeddings WHERE collection_id = ");
    if shape.prepared {
        // Our own catalog's integer, like the partition name: the partition is pruned when
        // the statement is planned, so its generic plan is that partition's index scan.
        sql.push(&collection.to_string());
    } else {
        sql.bind(collection);
    }
    if let (true, Mode::Ann(method, quantization)) = (shape.single, mode) {
        sql.push(" AND ");
        push_settings(sql, method, quantization, target.request);
    }
}

/// The hit columns of the fenced index walk `f`, without its `keep` column.
const FENCED_COLUMNS: &str = "f.id, f.external_id, f.metadata, f.content, f.embedding, f.distance";

/// The filter and keyset condition of the ANN path, above the index walk they narrow:
/// `… , (filter) AS keep FROM embeddings … ORDER BY <indexed> OFFSET 0) f WHERE f.keep AND
/// (f.distance, f.id) > ($d, $id)`.
///
/// `OFFSET 0` keeps PostgreSQL from pulling the conditions into the scan, so the walk's only
/// competitor is sorting the whole collection, and the `LIMIT` above passes its row count down
/// to the walk's costing: the plan is the index scan, whatever the filter's values and
/// whatever payload index could serve it, without planner settings. That is what makes the
/// filtered ANN statement one round trip (no `SET LOCAL`, so no transaction around it) and
/// preparable (its generic plan is the one every value gets). pgvector's iterative scan keeps
/// the walk going while the conditions above it reject rows, as it does when they are the
/// scan's own filter.
fn push_fenced_conditions(sql: &mut SqlBuilder, target: &Target<'_>) {
    let mut glue = " WHERE ";
    if target.request.filter.is_some() {
        sql.push(glue).push("f.keep");
        glue = " AND ";
    }
    if target.request.after.is_some() {
        sql.push(glue);
        push_keyset(sql, target, "f.distance", "f.id");
    }
}

/// The request's filter and its keyset condition `(distance, id) > ($d, $id)`.
fn push_conditions(sql: &mut SqlBuilder, target: &Target<'_>, distance: &str) {
    if let Some(filter) = &target.request.filter {
        sql.push(" AND (");
        filter.render(sql, &target.layout);
        sql.push(")");
    }
    if target.request.after.is_some() {
        sql.push(" AND ");
        push_keyset(sql, target, distance, "id");
    }
}

/// The keyset condition `(<distance>, <id>) > ($d, $id)` of a request with `after` (nothing
/// without one).
fn push_keyset(sql: &mut SqlBuilder, target: &Target<'_>, distance: &str, id: &str) {
    if let Some(after) = &target.request.after {
        sql.push("(")
            .push(distance)
            .push(", ")
            .push(id)
            .push(") > (")
            .bind(after.distance)
            .push("::float8, ")
            .bind(after.id)
            .push("::bigint)");
    }
}

/// The limits after `ORDER BY`: `k`, or a quantized index's `k * rerank_factor` candidates
/// re-ranked to `k`; under a prepared single search, a constant inner limit first.
fn push_order_and_limits(sql: &mut SqlBuilder, target: &Target<'_>, shape: StatementShape) {
    let k = target.request.k;
    let candidates = target.request.rerank_candidates();
    match (shape.constant_limit(), shape.quantized) {
        (true, false) => {
            sql.push(" LIMIT ")
                .push(&plan_limit(k).to_string())
                .push(") hit LIMIT ")
                .bind(i64::from(k));
        }
        (true, true) => {
            // The constant inner limit keeps one generic plan (see [`plan_limit`]); the
            // bound one cuts the candidates, which keep the index's order through it.
            sql.push(" LIMIT ")
                .push(&plan_limit(candidates).to_string())
                .push(") cand LIMIT ")
                .bind(i64::from(candidates))
                .push(") hit ORDER BY hit.distance, hit.id LIMIT ")
                .bind(i64::from(k));
        }
        (false, false) => {
            sql.push(" LIMIT ").bind(i64::from(k));
        }
        (false, true) => {
            sql.push(" LIMIT ")
                .bind(i64::from(candidates))
                .push(") cand ORDER BY cand.distance, cand.id LIMIT ")
                .bind(i64::from(k));
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dto::IndexMethod;
    use crate::dto::SearchSpec;
    use crate::metric::Quantization;
    use crate::repo::catalog::CollectionIndexes;
    use crate::repo::search::fixtures::{
        ann, assert_binds_match, collection, filter_on, integers, none, request, texts,
    };

    const HNSW: Mode = Mode::Ann(IndexMethod::Hnsw, None);

    /// The statement for `queries` copies of the request's vector.
    fn build(
        indexes: &CollectionIndexes,
        ask: &SearchSpec,
        mode: Mode,
        queries: usize,
    ) -> SqlBuilder {
        let collection = collection();
        let target = Target::new(&collection, indexes, ask);
        let sql = statement(&target, mode, &vec![ask.vector.clone(); queries]);
        assert_binds_match(&sql);
        sql
    }

    #[test]
    fn an_ann_search_orders_by_the_indexed_expression_under_a_constant_inner_limit() {
        let sql = build(&ann(IndexMethod::Hnsw, None), &request(10), HNSW, 1);
        let text = sql.sql();
        // The ORDER BY is the index's own expression (see `ann_index`'s DDL).
        assert!(
            text.contains(" ORDER BY embedding::vector(3) <=> $1 LIMIT 100) hit LIMIT $6"),
            "{text}"
        );
        assert!(
            text.contains("embedding::vector(3) <=> $1 AS distance"),
            "{text}"
        );
        // Prepared: the collection id is a literal; the settings ride inside the statement.
        assert!(text.contains("FROM embeddings WHERE collection_id = 7 AND (SELECT concat(set_config($2::text, $3::text, true), set_config($4::text, $5::text, true))) IS NOT NULL"), "{text}");
        assert!(
            !text.contains(", id LIMIT"),
            "no id tie-break, which the index cannot serve: {text}"
        );
        assert_eq!(sql.bind_count(), 6);
        assert_eq!(
            texts(&sql),
            ["hnsw.ef_search", "40", "hnsw.iterative_scan", "off"]
        );
        assert_eq!(integers(&sql), [10]);
    }

    #[test]
    fn a_quantized_search_reranks_the_index_candidates_by_the_exact_distance() {
        let half = Mode::Ann(IndexMethod::Hnsw, Some(Quantization::Half));
        let ask = request(10).with_rerank_factor(4);
        let sql = build(
            &ann(IndexMethod::Hnsw, Some(Quantization::Half)),
            &ask,
            half,
            1,
        );
        let text = sql.sql();
        assert!(
            text.starts_with("SELECT 1::bigint AS query, hit.* FROM (SELECT cand.* FROM (SELECT "),
            "{text}"
        );
        // The candidates come in the index's order, carrying the stored column's distance.
        assert!(text.contains("embedding <=> $1 AS distance"), "{text}");
        assert!(text.contains(" ORDER BY embedding::halfvec(3) <=> $1::halfvec(3) LIMIT 100) cand LIMIT $6) hit ORDER BY hit.distance, hit.id LIMIT $7"), "{text}");
        assert_eq!(integers(&sql), [40, 10]);
        assert_eq!(
            texts(&sql)[..2],
            ["hnsw.ef_search".to_owned(), "40".to_owned()]
        );

        let binary = Mode::Ann(IndexMethod::Hnsw, Some(Quantization::Binary));
        let filtered = ask.with_filter(filter_on("tag"));
        let sql = build(
            &ann(IndexMethod::Hnsw, Some(Quantization::Binary)),
            &filtered,
            binary,
            1,
        );
        assert!(sql.sql().contains(", (embedstore_jsonb_text((metadata #> $2::text[])) = $3::text) AS keep FROM embeddings WHERE collection_id = 7 AND (SELECT concat("), "{}", sql.sql());
        assert!(sql.sql().contains("ORDER BY binary_quantize(embedding)::bit(3) <~> binary_quantize($1)::bit(3) OFFSET 0) f WHERE f.keep LIMIT 100) cand LIMIT $8"), "{}", sql.sql());
    }

    #[test]
    fn an_exact_search_orders_by_the_untyped_column_and_the_id() {
        let sql = build(&none(), &request(10), Mode::Exact, 1);
        assert_eq!(
            sql.sql(),
            "SELECT 1::bigint AS query, hit.* FROM (SELECT id, external_id, metadata AS metadata, \
             NULL::text AS content, NULL::bytea AS embedding, embedding <=> $1 AS distance \
             FROM embeddings WHERE collection_id = 7 ORDER BY embedding <=> $1, id LIMIT 100) hit LIMIT $2"
        );
        assert_eq!(sql.bind_count(), 2);
        assert!(!sql.sql().contains("set_config"));
    }

    #[test]
    fn a_filtered_ann_search_scans_iteratively_and_its_exact_fallback_binds_everything() {
        let ask = request(10).with_filter(filter_on("tag"));
        let sql = build(&ann(IndexMethod::Hnsw, None), &ask, HNSW, 1);
        let text = sql.sql();
        // The index walk is fenced (OFFSET 0); the filter is its `keep` column, applied above.
        assert_eq!(
            text,
            "SELECT 1::bigint AS query, hit.* FROM (SELECT f.id, f.external_id, f.metadata, \
             f.content, f.embedding, f.distance FROM (SELECT id, external_id, metadata AS metadata, \
             NULL::text AS content, NULL::bytea AS embedding, embedding::vector(3) <=> $1 AS distance, \
             (embedstore_jsonb_text((metadata #> $2::text[])) = $3::text) AS keep FROM embeddings \
             WHERE collection_id = 7 AND (SELECT concat(set_config($4::text, $5::text, true), \
             set_config($6::text, $7::text, true))) IS NOT NULL ORDER BY embedding::vector(3) <=> $1 \
             OFFSET 0) f WHERE f.keep LIMIT 100) hit LIMIT $8"
        );
        assert!(
            texts(&sql).contains(&"relaxed_order".to_owned()),
            "{:?}",
            texts(&sql)
        );

        // The fallback runs unprepared: the collection id is bound, no settings, id tie-break.
        let sql = build(&ann(IndexMethod::Hnsw, None), &ask, Mode::Exact, 1);
        assert_eq!(
            sql.sql(),
            "SELECT 1::bigint AS query, id, external_id, metadata AS metadata, NULL::text AS content, \
             NULL::bytea AS embedding, embedding <=> $1 AS distance FROM embeddings WHERE collection_id = $2 \
             AND (embedstore_jsonb_text((metadata #> $3::text[])) = $4::text) ORDER BY embedding <=> $1, id LIMIT $5"
        );
        assert_eq!(integers(&sql), [7, 10]);
    }

    #[test]
    fn a_keyset_page_starts_after_the_last_distance_and_id() {
        let ask = request(10).with_after(0.5, 3);
        let sql = build(&none(), &ask, Mode::Exact, 1);
        assert!(
            sql.sql()
                .contains("AND (embedding <=> $1, id) > ($2::float8, $3::bigint) ORDER BY"),
            "{}",
            sql.sql()
        );
        assert_eq!(sql.binds()[1], Bind::Float8(0.5));
        assert_eq!(integers(&sql), [3, 10]);

        // On the ANN path, above the fenced walk, with a filter too.
        let ask = ask.with_filter(filter_on("tag"));
        let sql = build(&ann(IndexMethod::Hnsw, None), &ask, HNSW, 1);
        assert!(
            sql.sql().contains(
                "OFFSET 0) f WHERE f.keep AND (f.distance, f.id) > ($8::float8, $9::bigint) LIMIT 100) hit LIMIT $10"
            ),
            "{}",
            sql.sql()
        );
        let ask = request(10).with_after(0.5, 3);
        let sql = build(&ann(IndexMethod::Hnsw, None), &ask, HNSW, 1);
        assert!(
            sql.sql()
                .contains("OFFSET 0) f WHERE (f.distance, f.id) > ($6::float8, $7::bigint) LIMIT"),
            "{}",
            sql.sql()
        );
        assert!(!sql.sql().contains("keep"), "{}", sql.sql());
    }

    #[test]
    fn a_batch_is_one_lateral_join_over_the_query_array_with_the_settings_above_it() {
        let ivfflat = Mode::Ann(IndexMethod::IvfFlat, None);
        let ask = request(10).with_probes(4);
        let sql = build(&ann(IndexMethod::IvfFlat, None), &ask, ivfflat, 3);
        assert_eq!(
            sql.sql(),
            "SELECT q.ord AS query, hit.* FROM unnest($1::vector[]) WITH ORDINALITY AS q(v, ord) \
             CROSS JOIN LATERAL (SELECT id, external_id, metadata AS metadata, NULL::text AS content, \
             NULL::bytea AS embedding, embedding::vector(3) <=> q.v AS distance FROM embeddings \
             WHERE collection_id = 7 ORDER BY embedding::vector(3) <=> q.v LIMIT $2) hit \
             WHERE (SELECT concat(set_config($3::text, $4::text, true), set_config($5::text, $6::text, true))) IS NOT NULL"
        );
        assert!(matches!(&sql.binds()[0], Bind::VectorArray(queries) if queries.len() == 3));
        assert_eq!(
            texts(&sql),
            ["ivfflat.probes", "4", "ivfflat.iterative_scan", "off"]
        );
    }

    #[test]
    fn the_columns_left_out_are_typed_nulls_and_asked_ones_are_selected() {
        let ask = request(10)
            .include_content(true)
            .include_vector(true)
            .include_metadata(false);
        let sql = build(&none(), &ask, Mode::Exact, 1);
        assert!(sql.sql().contains("id, external_id, NULL::jsonb AS metadata, content AS content, vector_send(embedding) AS embedding"), "{}", sql.sql());
    }
}
