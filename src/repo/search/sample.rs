//! The recall sample: stored vectors drawn at random, the queries of a sampled recall
//! measurement.

use diesel::prelude::*;
use diesel::sql_types::Bytea;

use crate::error::Result;
use crate::models::Collection;
use crate::sql::SqlBuilder;
use crate::vector::VectorValue;

/// Up to `limit` of the collection's stored vectors, drawn at random.
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
    let rows: Vec<Sampled> = statement(collection, limit).into_query().load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|row| VectorValue::from_send(collection.kind, &row.embedding))
        .collect())
}

/// `SELECT <send>(embedding) … ORDER BY random() LIMIT $n`: the collection's own column in
/// its binary form (from a closed set), the collection and the limit bound.
pub(super) fn statement(collection: &Collection, limit: u32) -> SqlBuilder {
    let mut sql = SqlBuilder::new();
    sql.push("SELECT ")
        .push(&collection.search_expression().send_sql(None))
        .push(" AS embedding FROM embeddings WHERE collection_id = ")
        .bind(collection.id.0)
        .push(" ORDER BY random() LIMIT ")
        .bind(i64::from(limit));
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::search::fixtures::{assert_binds_match, collection, integers};

    #[test]
    fn the_recall_sample_draws_stored_vectors_at_random_with_bound_values() {
        let sql = statement(&collection(), 25);
        assert_binds_match(&sql);
        assert_eq!(
            sql.sql(),
            "SELECT vector_send(embedding) AS embedding FROM embeddings \
             WHERE collection_id = $1 ORDER BY random() LIMIT $2"
        );
        assert_eq!(integers(&sql), [7, 25]);
    }
}
