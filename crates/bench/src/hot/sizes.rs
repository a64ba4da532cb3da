//! The capacity planner's sizes (`CapacityInput::plan`, issue 23) beside what PostgreSQL
//! stores for the benchmark's collection right after the load and the HNSW build: the heap,
//! its TOAST, the two unique indexes every collection has, and the ANN index. The payload
//! indexes the benchmark adds for its filters are not part of the plan and not counted.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use embedstore::{CapacityInput, Collection, IndexSpec, VectorKind};
use serde::Serialize;

use crate::BenchResult;
use crate::report::{Table, round4};
use embedstore_test_support::dataset::Dataset;

/// Rows read at a time for the mean id and metadata lengths.
const CHUNK: usize = 10_000;

#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = BigInt)]
    heap: i64,
    #[diesel(sql_type = BigInt)]
    toast: i64,
    #[diesel(sql_type = BigInt)]
    keys: i64,
    #[diesel(sql_type = BigInt)]
    ann: i64,
}

/// One part's planned and measured bytes.
#[derive(Debug, Serialize)]
struct Part {
    part: &'static str,
    planned: u64,
    measured: u64,
    /// `None` when PostgreSQL stores nothing for the part.
    planned_over_measured: Option<f64>,
}

/// The plan of `data` under `index` and the sizes PostgreSQL reports for `collection`, as the
/// report's `sizes` table.
pub fn compare(
    url: &str,
    collection: &Collection,
    data: &Dataset,
    index: &IndexSpec,
) -> BenchResult<Table> {
    let rows = data.rows();
    let (mut id_bytes, mut metadata_bytes) = (0usize, 0usize);
    for start in (0..rows).step_by(CHUNK) {
        for item in data.items(start, start + CHUNK) {
            id_bytes += item.external_id.len();
            metadata_bytes += serde_json::to_string(&item.metadata)?.len();
        }
    }
    let mean = |total: usize| u32::try_from(total / rows.max(1)).unwrap_or(u32::MAX);
    let mut input = CapacityInput::dense(u64::try_from(rows)?, u32::try_from(data.dimension)?);
    input.kind = VectorKind::Dense;
    input.external_id_bytes = mean(id_bytes);
    input.metadata_bytes = mean(metadata_bytes);
    input.content_bytes = 0;
    input.index = Some(index.clone());
    let plan = input.plan();

    let mut conn = PgConnection::establish(url)?;
    let stored: Stored = diesel::sql_query(
        "SELECT pg_relation_size(c.oid) AS heap, \
                coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0) AS toast, \
                (SELECT coalesce(sum(pg_relation_size(i.indexrelid)), 0)::bigint \
                   FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
                   JOIN pg_am a ON a.oid = ic.relam \
                  WHERE i.indrelid = c.oid AND i.indisunique AND a.amname = 'btree') AS keys, \
                (SELECT coalesce(sum(pg_relation_size(i.indexrelid)), 0)::bigint \
                   FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
                   JOIN pg_am a ON a.oid = ic.relam \
                  WHERE i.indrelid = c.oid AND a.amname IN ('hnsw', 'ivfflat')) AS ann \
           FROM pg_class c WHERE c.relname = $1",
    )
    .bind::<Text, _>(collection.partition_name())
    .get_result(&mut conn)?;

    let mut table = Table::new("sizes", "part planned measured planned_over_measured");
    for (part, planned, measured) in [
        ("table", plan.table_bytes, stored.heap),
        ("toast", plan.toast_bytes, stored.toast),
        ("key_indexes", plan.key_index_bytes, stored.keys),
        ("ann_index", plan.ann_index_bytes, stored.ann),
    ] {
        let measured = u64::try_from(measured)?;
        table.record(Part {
            part,
            planned,
            measured,
            planned_over_measured: (measured > 0).then(|| round4(planned as f64 / measured as f64)),
        });
    }
    Ok(table)
}
