//! The ANN index's SQL: the `CREATE INDEX CONCURRENTLY` text for a spec, the `ann_indexes`
//! catalog row (what a build recorded: parameters, rows, time), the index's state, status row
//! and invalid left-overs in pg_catalog, and the swap-rebuild's rename.
//!
//! Every piece of SQL text comes from our own catalog integers (collection id, dimension) or a
//! closed set (method, operator class); the build parameters are bound and formatted by the
//! server (`format('… %s …', $n)`), since DDL takes no bind parameters.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Jsonb, Nullable, Text, Timestamptz};

use crate::dto::{IndexMethod, IndexSpec};
use crate::error::Result;
use crate::metric::{Element, Quantization};
use crate::models::Collection;
use crate::repo::collections::ann_name;
use crate::repo::index_build::{DdlText, drop_index_concurrently};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[derive(QueryableByName)]
struct IndexState {
    #[diesel(sql_type = Bool)]
    valid: bool,
}

/// The ANN index as pg_catalog and `ann_indexes` describe it (all `None` when there is none).
#[derive(QueryableByName)]
pub(crate) struct StatusRow {
    #[diesel(sql_type = Nullable<Bool>)]
    pub(crate) valid: Option<bool>,
    #[diesel(sql_type = Nullable<Text>)]
    pub(crate) method: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub(crate) definition: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub(crate) size_bytes: i64,
    #[diesel(sql_type = BigInt)]
    pub(crate) rows: i64,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub(crate) parameters: Option<serde_json::Value>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub(crate) built_rows: Option<i64>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub(crate) built_at: Option<DateTime<Utc>>,
}

#[derive(QueryableByName)]
struct IndexName {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct RecordedSpec {
    #[diesel(sql_type = Text)]
    method: String,
    #[diesel(sql_type = Jsonb)]
    parameters: serde_json::Value,
}

/// The `CREATE INDEX CONCURRENTLY` text that builds `spec` as `name` on a collection of
/// `rows` rows, formatted by the server.
pub(crate) fn ddl(
    conn: &mut PgConnection,
    collection: &Collection,
    spec: &IndexSpec,
    name: &str,
    rows: u64,
) -> Result<String> {
    let (statement, binds) = build_statement(collection, spec, name, rows);
    let ddl: DdlText = binds
        .into_iter()
        .fold(diesel::sql_query(statement).into_boxed(), |query, value| {
            query.bind::<Integer, _>(value)
        })
        .get_result(conn)?;
    Ok(ddl.sql)
}

/// The server-side `format()` call that yields the `CREATE INDEX CONCURRENTLY` text, and the
/// integers it binds. The template itself holds only our integers and closed-set names.
fn build_statement(
    collection: &Collection,
    spec: &IndexSpec,
    name: &str,
    rows: u64,
) -> (String, Vec<i32>) {
    let expression = collection.search_expression();
    let element = expression.element.unwrap_or(Element::Vector);
    let opclass = collection
        .metric
        .indexed_operator_class(element, spec.quantization);
    let partition = collection.partition_name();
    let column = expression.indexed_column_sql(spec.quantization);
    let method = spec.method.as_str();
    let head = format!(
        "CREATE INDEX CONCURRENTLY {name} ON {partition} USING {method} (({column}) {opclass})"
    );
    let (with, binds) = match spec.method {
        IndexMethod::Hnsw => (
            " WITH (m = %s, ef_construction = %s)",
            vec![
                clamp_i32(spec.m.unwrap_or(16)),
                clamp_i32(spec.ef_construction.unwrap_or(64)),
            ],
        ),
        IndexMethod::IvfFlat => (" WITH (lists = %s)", vec![clamp_i32(spec.lists_for(rows))]),
    };
    let placeholders = (1..=binds.len())
        .map(|index| format!(", ${index}::integer"))
        .collect::<String>();
    (
        format!("SELECT format('{head}{with}'{placeholders}) AS sql"),
        binds,
    )
}

fn clamp_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// Records in `ann_indexes` what the collection's index was built with, on how many rows.
pub(crate) fn record_build(
    conn: &mut PgConnection,
    collection: &Collection,
    spec: &IndexSpec,
    rows: u64,
) -> Result<()> {
    let element = match (spec.quantization, collection.search_expression().element) {
        (Some(Quantization::Binary), _) => Element::Bit,
        (Some(Quantization::Half), _) => Element::HalfVector,
        (None, element) => element.unwrap_or(Element::Vector),
    }
    .as_str();
    let parameters = match spec.method {
        IndexMethod::Hnsw => {
            let mut parameters = serde_json::json!({
                "m": spec.m.unwrap_or(16),
                "ef_construction": spec.ef_construction.unwrap_or(64),
            });
            if let Some(quantization) = spec.quantization {
                parameters["quantization"] = quantization.as_str().into();
            }
            // The build's memory, the library's choice when the spec named none.
            if let Some(megabytes) = spec.maintenance_work_mem_mb {
                parameters["maintenance_work_mem_mb"] = megabytes.into();
            }
            parameters
        }
        IndexMethod::IvfFlat => serde_json::json!({
            "lists": spec.lists_for(rows),
            "lists_derived": spec.lists.is_none(),
        }),
    };
    // The partition's update and delete counters now, so that health reports drift since.
    diesel::sql_query(
        "INSERT INTO ann_indexes (collection_id, method, element, parameters, built_rows, \
                                  built_updates, built_deletes) \
         SELECT $1, $2, $3, $4, $5, s.updates, s.deletes \
         FROM (SELECT 1) one LEFT JOIN embedstore_partition_facts(to_regclass($6)) s ON true \
         ON CONFLICT (collection_id) DO UPDATE SET method = EXCLUDED.method, \
            element = EXCLUDED.element, parameters = EXCLUDED.parameters, \
            built_rows = EXCLUDED.built_rows, built_updates = EXCLUDED.built_updates, \
            built_deletes = EXCLUDED.built_deletes, built_at = EXCLUDED.built_at",
    )
    .bind::<Integer, _>(collection.id.0)
    .bind::<Text, _>(spec.method.as_str())
    .bind::<Text, _>(element)
    .bind::<Jsonb, _>(parameters)
    .bind::<BigInt, _>(i64::try_from(rows).unwrap_or(i64::MAX))
    .bind::<Text, _>(collection.partition_name())
    .execute(conn)?;
    Ok(())
}

/// What PostgreSQL's statistics say about the collection's partition, and the counters
/// recorded when its ANN index was built (all `None` when there are none).
#[derive(QueryableByName)]
pub(crate) struct DriftRow {
    #[diesel(sql_type = Nullable<BigInt>)]
    pub(crate) updates: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub(crate) deletes: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub(crate) dead_tuples: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub(crate) live_tuples: Option<i64>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub(crate) last_vacuum: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub(crate) built_updates: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub(crate) built_deletes: Option<i64>,
}

/// The partition's counters from `pg_stat_user_tables` (cumulative since the statistics were
/// last reset; other sessions' recent writes appear within about a second) beside those
/// recorded at the index's build.
pub(crate) fn drift_row(conn: &mut PgConnection, collection: &Collection) -> Result<DriftRow> {
    Ok(diesel::sql_query(
        "SELECT s.updates, s.deletes, s.dead_tuples, s.live_tuples, s.last_vacuum, \
                a.built_updates, a.built_deletes \
         FROM (SELECT 1) one \
         LEFT JOIN embedstore_partition_facts(to_regclass($1)) s ON true \
         LEFT JOIN ann_indexes a ON a.collection_id = $2",
    )
    .bind::<Text, _>(collection.partition_name())
    .bind::<Integer, _>(collection.id.0)
    .get_result(conn)?)
}

/// Forgets what `ann_indexes` recorded about the collection's index (after dropping it).
pub(crate) fn delete_record(conn: &mut PgConnection, collection: &Collection) -> Result<()> {
    diesel::sql_query("DELETE FROM ann_indexes WHERE collection_id = $1")
        .bind::<Integer, _>(collection.id.0)
        .execute(conn)?;
    Ok(())
}

/// The spec the current index was built with, IVFFlat's derived `lists` left to derive again.
pub(crate) fn recorded_spec(
    conn: &mut PgConnection,
    collection: &Collection,
) -> Result<Option<IndexSpec>> {
    let recorded: Option<RecordedSpec> =
        diesel::sql_query("SELECT method, parameters FROM ann_indexes WHERE collection_id = $1")
            .bind::<Integer, _>(collection.id.0)
            .get_result(conn)
            .optional()?;
    Ok(recorded.and_then(|recorded| {
        let number = |key: &str| {
            recorded.parameters[key]
                .as_u64()
                .and_then(|value| u32::try_from(value).ok())
        };
        match IndexMethod::from_name(&recorded.method)? {
            IndexMethod::Hnsw => {
                let mut spec = IndexSpec::hnsw();
                spec.m = number("m");
                spec.ef_construction = number("ef_construction");
                spec.quantization = recorded.parameters["quantization"]
                    .as_str()
                    .and_then(Quantization::from_name);
                Some(spec)
            }
            IndexMethod::IvfFlat => {
                let mut spec = IndexSpec::ivfflat();
                if recorded.parameters["lists_derived"] != serde_json::Value::Bool(true) {
                    spec.lists = number("lists");
                }
                Some(spec)
            }
        }
    }))
}

/// Rows in the collection now (what IVFFlat's derived `lists` and the advice go by).
pub(crate) fn row_count(conn: &mut PgConnection, collection: &Collection) -> Result<u64> {
    let count: Count =
        diesel::sql_query("SELECT count(*) AS count FROM embeddings WHERE collection_id = $1")
            .bind::<Integer, _>(collection.id.0)
            .get_result(conn)?;
    Ok(count.count.unsigned_abs())
}

/// `Some(valid)` when an index of that name exists.
pub(crate) fn index_state(conn: &mut PgConnection, name: &str) -> Result<Option<bool>> {
    let state: Option<IndexState> = diesel::sql_query(
        "SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE c.relname = $1 AND c.relnamespace = current_schema()::text::regnamespace",
    )
    .bind::<Text, _>(name)
    .get_result(conn)
    .optional()?;
    Ok(state.map(|state| state.valid))
}

/// Drops the invalid indexes an interrupted build or rebuild leaves (`…_ann`, `…_ann_new`,
/// `…_ann_ccnew…`), and with `all` the valid index too.
pub(crate) fn drop_leftovers(
    conn: &mut PgConnection,
    collection: &Collection,
    all: bool,
) -> Result<()> {
    for name in leftovers(conn, collection)? {
        drop_index_concurrently(conn, &name)?;
    }
    if all {
        drop_index_concurrently(conn, &ann_name(collection))?;
    }
    Ok(())
}

/// The invalid indexes on the collection's partition whose names are ours.
pub(crate) fn leftovers(conn: &mut PgConnection, collection: &Collection) -> Result<Vec<String>> {
    let names: Vec<IndexName> = diesel::sql_query(
        "SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE i.indrelid = to_regclass($1) AND NOT i.indisvalid \
           AND starts_with(c.relname::text, $2) ORDER BY 1",
    )
    .bind::<Text, _>(collection.partition_name())
    .bind::<Text, _>(ann_name(collection))
    .load(conn)?;
    Ok(names.into_iter().map(|row| row.name).collect())
}

/// Renames the rebuild's fresh index into the collection's ANN index name. Takes a brief
/// exclusive lock on the index only; names come from our integer id.
pub(crate) fn rename(conn: &mut PgConnection, fresh: &str, collection: &Collection) -> Result<()> {
    diesel::sql_query(format!(
        "ALTER INDEX {fresh} RENAME TO {}",
        ann_name(collection)
    ))
    .execute(conn)?;
    Ok(())
}

/// The index called `name` as pg_catalog sees it, with the collection's row count and what
/// `ann_indexes` recorded about its build.
pub(crate) fn status_row(
    conn: &mut PgConnection,
    collection: &Collection,
    name: &str,
) -> Result<StatusRow> {
    Ok(diesel::sql_query(
        "SELECT i.indisvalid AS valid, am.amname::text AS method, \
                pg_get_indexdef(c.oid) AS definition, \
                coalesce(embedstore_index_bytes(c.oid), 0) AS size_bytes, \
                (SELECT count(*) FROM embeddings WHERE collection_id = $2) AS rows, \
                a.parameters, a.built_rows, a.built_at \
         FROM (SELECT 1) one \
         LEFT JOIN pg_class c ON c.relname = $1 AND c.relkind = 'i' \
              AND c.relnamespace = current_schema()::text::regnamespace \
         LEFT JOIN pg_index i ON i.indexrelid = c.oid \
         LEFT JOIN pg_am am ON am.oid = c.relam \
         LEFT JOIN ann_indexes a ON a.collection_id = $2",
    )
    .bind::<Text, _>(name)
    .bind::<Integer, _>(collection.id.0)
    .get_result(conn)?)
}
