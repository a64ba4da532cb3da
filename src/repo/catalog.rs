//! The index catalog as the search planner reads it: a collection's valid ANN index (from
//! pg_catalog) and its valid payload indexes (our `payload_indexes` table), in one query.
//!
//! The planner's memory ([`PlannerMemory`](crate::repo::search::PlannerMemory)) keeps the
//! answer per store; [`layout_now`] reads it uncached inside a unit of work.

use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Integer, Nullable, Text};

use crate::dto::IndexMethod;
use crate::error::Result;
use crate::filter::{FieldPath, PayloadKind, PayloadLayout};
use crate::metric::{Element, Quantization};
use crate::models::Collection;
use crate::repo::collections::{ann_name, payload_prefix};
use crate::repo::text_index::{config_of, text_name};

/// The indexes of one collection, as the planner needs them.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CollectionIndexes {
    /// The valid ANN index's method; `None` when there is none (or it is invalid).
    pub(crate) ann: Option<IndexMethod>,
    /// The valid ANN index's quantization, read from its definition: searches order by the
    /// matching expression and re-rank its candidates exactly.
    pub(crate) quantization: Option<Quantization>,
    /// The valid text index's configuration (e.g. `english`), read from its definition.
    pub(crate) text: Option<String>,
    /// Valid payload indexes: (field path, kind name); kind `gin` has an empty path.
    pub(crate) payload: Vec<(Vec<String>, String)>,
    /// What the planner's choices depend on besides the indexes: the partition's analyze
    /// count (manual and automatic) and its size class (log2 of its pages), `count:class`.
    /// A verdict on a statement's plan holds while this and the indexes stay the same.
    pub(crate) statistics: String,
    /// The partition's size in pages (`pg_relation_size / 8192`), for sizing a sample.
    pub(crate) pages: u64,
    /// The partition's rows as its statistics say (`reltuples`; 0 before the first
    /// `ANALYZE`), for scaling the exact threshold.
    pub(crate) rows: u64,
}

/// The collection's payload layout read now, uncached: for count, delete and scroll inside a
/// unit of work (which sees its own transaction's snapshot of the catalog).
pub(crate) fn layout_now(
    conn: &mut PgConnection,
    collection: &Collection,
) -> Result<PayloadLayout> {
    Ok(layout(&read(conn, collection)?.payload))
}

/// The layout the filter renderer and the planner see, from the catalog's valid payload
/// indexes (`(field path, kind)`, kind `gin` with an empty path).
pub(crate) fn layout(payload: &[(Vec<String>, String)]) -> PayloadLayout {
    let mut layout = PayloadLayout::default();
    for (field, kind) in payload {
        if kind == "gin" {
            layout.gin = true;
        } else if let Ok(kind) = kind.parse::<PayloadKind>() {
            layout
                .typed
                .push((FieldPath::from_segments(field.iter().cloned()), kind));
        }
    }
    layout
}

/// One row of [`read`]'s union. The `statistics` row reuses the text columns: `method` holds
/// the partition's `reltuples`, `definition` the analyze count and size class, `recorded` the
/// pages.
#[derive(QueryableByName)]
struct IndexRow {
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Nullable<Text>)]
    method: Option<String>,
    #[diesel(sql_type = Nullable<Array<Text>>)]
    field: Option<Vec<String>>,
    #[diesel(sql_type = Nullable<Text>)]
    kind: Option<String>,
    #[diesel(sql_type = Bool)]
    valid: bool,
    #[diesel(sql_type = Nullable<Text>)]
    definition: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    recorded: Option<String>,
}

/// One query: the ANN index (from pg_catalog: it counts only when valid) and the payload
/// indexes recorded in our catalog whose index exists and is valid.
pub(crate) fn read(conn: &mut PgConnection, collection: &Collection) -> Result<CollectionIndexes> {
    let rows: Vec<IndexRow> = diesel::sql_query(
        "SELECT 'ann' AS source, am.amname::text AS method, NULL::text[] AS field, \
                NULL::text AS kind, i.indisvalid AS valid, \
                pg_get_indexdef(c.oid) AS definition, \
                (SELECT a.parameters ->> 'quantization' FROM ann_indexes a \
                 WHERE a.collection_id = $3) AS recorded \
         FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid JOIN pg_am am ON am.oid = c.relam \
         WHERE c.relname = $1 AND c.relnamespace = current_schema()::text::regnamespace \
         UNION ALL \
         SELECT 'text', NULL, NULL, NULL, i.indisvalid, pg_get_indexdef(c.oid), NULL \
         FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid \
         WHERE c.relname = $4 AND c.relnamespace = current_schema()::text::regnamespace \
         UNION ALL \
         SELECT 'payload', NULL, p.field, p.kind, coalesce(i.indisvalid, false), NULL, NULL \
         FROM payload_indexes p \
         LEFT JOIN pg_class c ON c.relname = $2 || p.id \
              AND c.relnamespace = current_schema()::text::regnamespace \
         LEFT JOIN pg_index i ON i.indexrelid = c.oid \
         WHERE p.collection_id = $3 \
         UNION ALL \
         SELECT 'statistics', greatest(f.reltuples, 0)::bigint::text, NULL, NULL, true, \
                concat(f.analyzes, ':', floor(ln(f.bytes / 8192 + 1) / ln(2))::int), \
                (f.bytes / 8192)::text \
         FROM pg_class c, embedstore_partition_facts(c.oid) f \
         WHERE c.relname = $5 AND c.relnamespace = current_schema()::text::regnamespace",
    )
    .bind::<Text, _>(ann_name(collection))
    .bind::<Text, _>(payload_prefix(collection))
    .bind::<Integer, _>(collection.id.0)
    .bind::<Text, _>(text_name(collection))
    .bind::<Text, _>(collection.partition_name())
    .load(conn)?;
    let mut indexes = CollectionIndexes::default();
    for row in rows.into_iter().filter(|row| row.valid) {
        if row.source == "ann" {
            indexes.ann = row.method.as_deref().and_then(IndexMethod::from_name);
            indexes.quantization = quantization(
                collection,
                row.definition.as_deref().unwrap_or_default(),
                row.recorded.as_deref(),
            );
        } else if row.source == "statistics" {
            indexes.statistics = row.definition.unwrap_or_default();
            indexes.rows = row
                .method
                .as_deref()
                .and_then(|rows| rows.parse().ok())
                .unwrap_or(0);
            indexes.pages = row
                .recorded
                .as_deref()
                .and_then(|pages| pages.parse().ok())
                .unwrap_or(0);
        } else if row.source == "text" {
            indexes.text = row.definition.as_deref().and_then(config_of);
        } else if let (Some(field), Some(kind)) = (row.field, row.kind) {
            indexes.payload.push((field, kind));
        }
    }
    Ok(indexes)
}

/// Whether the collection's ANN index (valid or still being built: either is maintained on
/// write) indexes a `halfvec` expression, read from its definition (our own DDL).
pub(crate) fn ann_on_halfvec(conn: &mut PgConnection, collection: &Collection) -> Result<bool> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = Bool)]
        half: bool,
    }
    let found: Found = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM pg_class c \
         WHERE c.relname = $1 AND c.relnamespace = current_schema()::text::regnamespace \
         AND pg_get_indexdef(c.oid) LIKE '%halfvec(%') AS half",
    )
    .bind::<Text, _>(ann_name(collection))
    .get_result(conn)?;
    Ok(found.half)
}

/// The quantization of the ANN index defined by `definition` (`pg_get_indexdef`): the indexed
/// expression is the truth — bits are binary, `halfvec` on a collection whose full-precision
/// index would be `vector` is half. Above 2,000 dimensions every index is `halfvec`; it counts
/// as quantized (and its searches re-rank) only when it was built as such (`recorded`).
pub(crate) fn quantization(
    collection: &Collection,
    definition: &str,
    recorded: Option<&str>,
) -> Option<Quantization> {
    if definition.contains("binary_quantize(") {
        return Some(Quantization::Binary);
    }
    let full = collection.search_expression().element;
    let half = definition.contains("halfvec(")
        && (full == Some(Element::Vector) || recorded == Some(Quantization::Half.as_str()));
    half.then_some(Quantization::Half)
}
