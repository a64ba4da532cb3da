//! Grouped hits: the best `group_size` hits of each of the `k` groups (distinct values of a
//! metadata field) nearest the query, in one exact statement.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Jsonb};

use crate::error::Result;
use crate::filter::FieldPath;
use crate::repo::search::context::{Search, Target};
use crate::repo::search::ignored::{ExactBecause, ignored};
use crate::repo::search::plan::Mode;
use crate::repo::search::response::{
    HitRow, SearchHit, SearchPath, SearchResponse, count, kept, response, to_hit,
};
use crate::repo::search::vector::{distance_sql, hit_columns};
use crate::sql::SqlBuilder;
use crate::vector::VectorValue;

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

/// The grouped search for every vector of `queries`, one statement each.
pub(super) fn run(search: &mut Search<'_>, queries: &[VectorValue]) -> Result<Vec<SearchResponse>> {
    let target = search.target();
    let mut responses = Vec::with_capacity(queries.len());
    for query in queries {
        let rows: Vec<GroupedRow> = statement(&target, query).into_query().load(search.conn)?;
        responses.push(respond(&target, rows));
    }
    Ok(responses)
}

/// The grouped search in one statement: an exact scan of the matching rows that have the
/// field, each row's distance and group computed once; window functions number the members
/// of each group by distance and find each group's nearest; `dense_rank` over (group's
/// nearest distance, group value) orders the groups; the first `k` groups' first
/// `group_size` members come back. Exact by construction: every matching row is considered,
/// so `k` groups come back whenever `k` exist among the matching rows. Never prepared: the
/// filter shapes the text.
pub(super) fn statement(target: &Target<'_>, query: &VectorValue) -> SqlBuilder {
    let request = target.request;
    let mut sql = SqlBuilder::new();
    let (field, group_size) = request.group_by.as_ref().map_or_else(
        || (Vec::new(), 1),
        |group_by| {
            (
                FieldPath::from(group_by.field.as_str()).segments().to_vec(),
                group_by.group_size,
            )
        },
    );
    let query = sql.param(query.clone());
    let distance = distance_sql(target.collection, Mode::Exact, &query);
    sql.push(
        "SELECT 1::bigint AS query, g.id, g.external_id, g.metadata, g.content, g.embedding, g.distance, g.grp, \
         g.group_rank FROM (SELECT m.*, dense_rank() OVER (ORDER BY m.group_best, m.grp) \
         AS group_rank FROM (SELECT c.*, row_number() OVER (PARTITION BY c.grp \
         ORDER BY c.distance, c.id) AS member, min(c.distance) OVER (PARTITION BY c.grp) \
         AS group_best FROM (SELECT ",
    )
    .push(&hit_columns(target, None))
    .push(", ")
    .push(&distance)
    .push(" AS distance, metadata #> ")
    .bind_cast(field, "text[]")
    .push(" AS grp FROM embeddings WHERE collection_id = ")
    .bind(target.collection.id.0);
    if let Some(filter) = &request.filter {
        sql.push(" AND (");
        filter.render(&mut sql, &target.layout);
        sql.push(")");
    }
    sql.push(") c WHERE c.grp IS NOT NULL AND c.grp <> 'null'::jsonb) m WHERE m.member <= ")
        .bind(i64::from(group_size))
        .push(") g WHERE g.group_rank <= ")
        .bind(i64::from(request.k))
        .push(" ORDER BY g.group_rank, g.member");
    sql
}

/// The grouped statement's rows as a response: hits in group order, thresholds applied, the
/// groups that kept a hit counted.
fn respond(target: &Target<'_>, rows: Vec<GroupedRow>) -> SearchResponse {
    let request = target.request;
    let mut groups: Vec<i64> = Vec::new();
    let hits: Vec<SearchHit> = rows
        .into_iter()
        .filter_map(|row| {
            let hit = to_hit(target.collection, row.hit);
            kept(request, &hit).then(|| {
                groups.push(row.group_rank);
                SearchHit {
                    group: Some(row.grp),
                    ..hit
                }
            })
        })
        .collect();
    groups.dedup();
    let mut response = response(request, hits, true, SearchPath::Exact, None);
    response.groups = Some(count(groups.len()));
    response.ignored = ignored(request, Mode::Exact, ExactBecause::Grouped, false);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dto::IndexMethod;
    use crate::repo::search::fixtures::{
        ann, assert_binds_match, collection, filter_on, integers, request,
    };
    use crate::sql::Bind;

    #[test]
    fn a_grouped_search_ranks_groups_by_their_nearest_member_with_window_functions() {
        let collection = collection();
        // An ANN index exists, and is not used: a grouped search is exact.
        let indexes = ann(IndexMethod::Hnsw, None);
        let ask = request(3)
            .with_group_by(&FieldPath::from("doc.id"), 2)
            .with_filter(filter_on("tag"));
        let target = Target::new(&collection, &indexes, &ask);
        let sql = statement(&target, &ask.vector);
        assert_binds_match(&sql);
        let text = sql.sql();
        assert!(
            text.contains("dense_rank() OVER (ORDER BY m.group_best, m.grp) AS group_rank"),
            "{text}"
        );
        assert!(text.contains("row_number() OVER (PARTITION BY c.grp ORDER BY c.distance, c.id) AS member, min(c.distance) OVER (PARTITION BY c.grp) AS group_best"), "{text}");
        assert!(text.contains("embedding <=> $1 AS distance, metadata #> $2::text[] AS grp FROM embeddings WHERE collection_id = $3 AND ("), "{text}");
        assert!(text.ends_with("c WHERE c.grp IS NOT NULL AND c.grp <> 'null'::jsonb) m WHERE m.member <= $6) g WHERE g.group_rank <= $7 ORDER BY g.group_rank, g.member"), "{text}");
        assert!(
            !text.contains("set_config") && !text.contains("::vector(3)"),
            "{text}"
        );
        assert_eq!(
            sql.binds()[1],
            Bind::TextArray(vec!["doc".into(), "id".into()])
        );
        assert_eq!(integers(&sql), [7, 2, 3]);
    }
}
