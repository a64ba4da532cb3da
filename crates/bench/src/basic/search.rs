//! Search latency: `UnitOfWork::search` against hand-written SQL sent through diesel on a
//! plain connection (no pool, no transaction, no settings), query by query.

use std::time::{Duration, Instant};

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Integer, Jsonb, Text};
use embedstore::{Collection, SearchRequest};
use embedstore_test_support::TestDatabase;
use pgvector::sql_types::Vector as VectorSql;

use crate::BenchResult;
use crate::stats::Latency;

/// Everything the search measurement found.
#[derive(Debug)]
pub struct SearchOutcome {
    /// Library latencies.
    pub library: Latency,
    /// Hand-written SQL latencies.
    pub sql: Latency,
    /// Query pairs (warm-up included) whose ids or order differed, or that returned fewer
    /// than `k` rows.
    pub mismatches: usize,
    /// Query pairs compared.
    pub compared: usize,
    /// The plan of the library's statement for the first query.
    pub plan: String,
}

/// Runs `warmup` then `queries.len()` query pairs against `collection`, alternating which
/// path goes first so that caching and noise favour neither.
pub fn measure(
    db: &TestDatabase,
    collection: &Collection,
    queries: &[Vec<f32>],
    k: u32,
    warmup: usize,
) -> BenchResult<SearchOutcome> {
    let first = queries.first().ok_or("no query vectors")?;
    let mut conn = PgConnection::establish(db.url().expose_secret())?;
    // Fresh bulk-loaded rows: set hint bits and statistics now rather than during the
    // measurement (autovacuum would otherwise do it at a random moment).
    diesel::sql_query(format!("VACUUM (ANALYZE) {}", collection.partition_name()))
        .execute(&mut conn)?;
    let plan = db
        .store()
        .read(|uow| uow.explain_search(collection, SearchRequest::vector(first.clone(), k)))?;
    let sql = search_sql(collection.dimension);
    let expected_hits = usize::try_from(k)?;
    let mut pair = SearchPair {
        db,
        conn: &mut conn,
        collection,
        sql: &sql,
        k,
    };
    let (mut library, mut hand_written) = (Vec::new(), Vec::new());
    let mut mismatches = 0;
    let warmup_queries = queries.iter().cycle().take(warmup);
    for (index, query) in warmup_queries.chain(queries).enumerate() {
        let outcome = pair.run(query, index.is_multiple_of(2))?;
        let short = outcome.library_ids.len() < expected_hits;
        if short || outcome.library_ids != outcome.sql_ids {
            mismatches += 1;
        }
        if index >= warmup {
            library.push(outcome.library_time);
            hand_written.push(outcome.sql_time);
        }
    }
    Ok(SearchOutcome {
        library: Latency::of(&library).ok_or("no library samples")?,
        sql: Latency::of(&hand_written).ok_or("no SQL samples")?,
        mismatches,
        compared: warmup + queries.len(),
        plan,
    })
}

/// The baseline: the nearest `$3` rows of collection `$2` to the vector `$1`, with their
/// metadata (what the library's hits carry), ordered by the cast pgvector's expression
/// indexes need.
pub fn search_sql(dimension: u32) -> String {
    format!(
        "SELECT external_id, metadata, embedding::vector({dimension}) <=> $1 AS distance \
         FROM embeddings WHERE collection_id = $2 \
         ORDER BY embedding::vector({dimension}) <=> $1 LIMIT $3"
    )
}

/// A row of the hand-written query.
#[derive(QueryableByName)]
struct HitRow {
    #[diesel(sql_type = Text)]
    external_id: String,
    #[diesel(sql_type = Jsonb)]
    #[diesel(column_name = metadata)]
    _metadata: serde_json::Value,
    #[diesel(sql_type = Double)]
    #[diesel(column_name = distance)]
    _distance: f64,
}

/// What one query pair returned and how long each path took.
struct PairOutcome {
    library_time: Duration,
    sql_time: Duration,
    library_ids: Vec<String>,
    sql_ids: Vec<String>,
}

/// The two ways of asking the same question.
struct SearchPair<'a> {
    db: &'a TestDatabase,
    conn: &'a mut PgConnection,
    collection: &'a Collection,
    sql: &'a str,
    k: u32,
}

impl SearchPair<'_> {
    fn run(&mut self, query: &[f32], library_first: bool) -> BenchResult<PairOutcome> {
        let (library_time, library_ids, sql_time, sql_ids) = if library_first {
            let (library_time, library_ids) = self.library(query)?;
            let (sql_time, sql_ids) = self.hand_written(query)?;
            (library_time, library_ids, sql_time, sql_ids)
        } else {
            let (sql_time, sql_ids) = self.hand_written(query)?;
            let (library_time, library_ids) = self.library(query)?;
            (library_time, library_ids, sql_time, sql_ids)
        };
        Ok(PairOutcome {
            library_time,
            sql_time,
            library_ids,
            sql_ids,
        })
    }

    fn library(&mut self, query: &[f32]) -> BenchResult<(Duration, Vec<String>)> {
        let started = Instant::now();
        let response = self.db.store().read(|uow| {
            uow.search(
                self.collection,
                SearchRequest::vector(query.to_vec(), self.k),
            )
        })?;
        let elapsed = started.elapsed();
        let ids = response
            .hits
            .into_iter()
            .map(|hit| hit.external_id)
            .collect();
        Ok((elapsed, ids))
    }

    fn hand_written(&mut self, query: &[f32]) -> BenchResult<(Duration, Vec<String>)> {
        let started = Instant::now();
        let rows: Vec<HitRow> = diesel::sql_query(self.sql)
            .into_boxed::<Pg>()
            .bind::<VectorSql, _>(pgvector::Vector::from(query.to_vec()))
            .bind::<Integer, _>(self.collection.id.0)
            .bind::<BigInt, _>(i64::from(self.k))
            .load(self.conn)?;
        let elapsed = started.elapsed();
        let ids = rows.into_iter().map(|row| row.external_id).collect();
        Ok((elapsed, ids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_orders_by_the_expression_an_index_would_serve() {
        let sql = search_sql(384);
        assert!(sql.starts_with("SELECT external_id, metadata, embedding::vector(384) <=> $1"));
        assert!(sql.ends_with("ORDER BY embedding::vector(384) <=> $1 LIMIT $3"));
    }
}
