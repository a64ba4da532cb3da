//! The baseline: hand-written SQL as a pgvector user writes it, sent through diesel's
//! `sql_query` on a plain `PgConnection` (no pool, no transaction).

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Integer, Jsonb, Text};
use embedstore::Collection;
use embedstore_test_support::TestDatabase;
use pgvector::sql_types::Vector as VectorSql;

use crate::BenchResult;
use embedstore_test_support::dataset::{Selectivity, row_of};

/// pgvector's `hnsw.iterative_scan` modes the baseline runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IterativeScan {
    /// pgvector's default: filter after the scan of `ef_search` candidates.
    Off,
    /// Keep scanning the graph until `LIMIT` rows pass the filter (or `max_scan_tuples`).
    RelaxedOrder,
}

impl IterativeScan {
    fn setting(self) -> &'static str {
        match self {
            IterativeScan::Off => "off",
            IterativeScan::RelaxedOrder => "relaxed_order",
        }
    }
}

/// One plain connection with its session settings, asking one collection.
pub struct HandWritten {
    conn: PgConnection,
    collection_id: i32,
    nearest: String,
    nearest_filtered: String,
}

#[derive(QueryableByName)]
struct Hit {
    #[diesel(sql_type = BigInt)]
    #[diesel(column_name = id)]
    _id: i64,
    #[diesel(sql_type = Text)]
    external_id: String,
    #[diesel(sql_type = Double)]
    #[diesel(column_name = distance)]
    _distance: f64,
}

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

impl HandWritten {
    /// A new connection to `db` for `collection`, with `hnsw.ef_search = ef_search` and the
    /// iterative scan mode set for the session.
    pub fn connect(
        db: &TestDatabase,
        collection: &Collection,
        ef_search: u32,
        iterative: IterativeScan,
    ) -> BenchResult<Self> {
        let mut conn = PgConnection::establish(db.url().expose_secret())?;
        diesel::sql_query("SELECT set_config('hnsw.iterative_scan', $1, false)")
            .bind::<Text, _>(iterative.setting())
            .execute(&mut conn)?;
        let mut baseline = Self {
            conn,
            collection_id: collection.id.0,
            nearest: nearest_sql(collection.dimension, false),
            nearest_filtered: nearest_sql(collection.dimension, true),
        };
        baseline.set_ef_search(ef_search)?;
        Ok(baseline)
    }

    /// Changes `hnsw.ef_search` for the rest of the session.
    pub fn set_ef_search(&mut self, ef_search: u32) -> BenchResult<()> {
        diesel::sql_query("SELECT set_config('hnsw.ef_search', $1, false)")
            .bind::<Text, _>(ef_search.to_string())
            .execute(&mut self.conn)?;
        Ok(())
    }

    /// Times one `SELECT 1`: what a round trip costs, to express latency gaps in round trips.
    pub fn round_trip(&mut self) -> BenchResult<std::time::Duration> {
        let started = std::time::Instant::now();
        diesel::sql_query("SELECT 1").execute(&mut self.conn)?;
        Ok(started.elapsed())
    }

    /// The `k` nearest rows (data set row numbers), nearest first; with `filter`, among rows
    /// whose metadata holds `field = value`.
    pub fn nearest(
        &mut self,
        query: &[f32],
        k: u32,
        filter: Option<(Selectivity, &str)>,
    ) -> BenchResult<Vec<usize>> {
        let hits: Vec<Hit> = self.statement(query, k, filter).load(&mut self.conn)?;
        hits.iter()
            .map(|hit| {
                row_of(&hit.external_id)
                    .ok_or_else(|| format!("unexpected external id {:?}", hit.external_id).into())
            })
            .collect()
    }

    /// `EXPLAIN` of the statement [`HandWritten::nearest`] sends, to show (and check) that
    /// the baseline really uses the index.
    pub fn explain(
        &mut self,
        query: &[f32],
        k: u32,
        filter: Option<(Selectivity, &str)>,
    ) -> BenchResult<String> {
        let sql = format!("EXPLAIN {}", self.sql(filter.is_some()));
        let lines: Vec<PlanLine> =
            bind(diesel::sql_query(sql), self.collection_id, query, k, filter)
                .load(&mut self.conn)?;
        Ok(lines
            .into_iter()
            .map(|plan| plan.line)
            .collect::<Vec<_>>()
            .join("\n"))
    }

    fn sql(&self, filtered: bool) -> &str {
        if filtered {
            &self.nearest_filtered
        } else {
            &self.nearest
        }
    }

    fn statement(
        &self,
        query: &[f32],
        k: u32,
        filter: Option<(Selectivity, &str)>,
    ) -> diesel::query_builder::BoxedSqlQuery<'static, Pg, diesel::query_builder::SqlQuery> {
        let sql = self.sql(filter.is_some()).to_owned();
        bind(diesel::sql_query(sql), self.collection_id, query, k, filter)
    }
}

/// The hand-written statement: `$1` query vector, `$2` collection id, `$3` k, and with a
/// filter `$4` the JSON object the metadata must contain.
pub fn nearest_sql(dimension: u32, filtered: bool) -> String {
    let filter = if filtered { " AND metadata @> $4" } else { "" };
    format!(
        "SELECT id, external_id, embedding::vector({dimension}) <=> $1 AS distance \
         FROM embeddings WHERE collection_id = $2{filter} \
         ORDER BY embedding::vector({dimension}) <=> $1 LIMIT $3"
    )
}

fn bind(
    query: diesel::query_builder::SqlQuery,
    collection_id: i32,
    vector: &[f32],
    k: u32,
    filter: Option<(Selectivity, &str)>,
) -> diesel::query_builder::BoxedSqlQuery<'static, Pg, diesel::query_builder::SqlQuery> {
    let query = query
        .into_boxed::<Pg>()
        .bind::<VectorSql, _>(pgvector::Vector::from(vector.to_vec()))
        .bind::<Integer, _>(collection_id)
        .bind::<BigInt, _>(i64::from(k));
    match filter {
        None => query,
        Some((selectivity, value)) => {
            query.bind::<Jsonb, _>(serde_json::json!({ selectivity.field(): value }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_order_by_the_indexed_expression() {
        let plain = nearest_sql(384, false);
        assert!(plain.contains("ORDER BY embedding::vector(384) <=> $1 LIMIT $3"));
        assert!(!plain.contains("$4"));
        let filtered = nearest_sql(384, true);
        assert!(filtered.contains("collection_id = $2 AND metadata @> $4 ORDER BY"));
    }
}
