//! Filters no payload index serves: how many rows they match, from a sample, so that a rare
//! one is answered by an exact scan (with advice to index its field) instead of a long walk
//! of the ANN graph.
//!
//! Without a payload index PostgreSQL has no statistics for a metadata expression and guesses
//! that it matches 0.5 % of the rows, whatever it really matches: its estimate cannot tell a
//! rare value from a common one. Walking the graph for a filter that matches few rows visits
//! about `k / fraction` tuples, each costing a graph step; below about 1 % that costs more
//! than scanning the partition once (measured in issue 22: 61 ms walking for a 0.77 % filter
//! on 18,083 rows, 33 ms scanning, 6 ms with a payload index). So the fraction is measured on
//! a block sample of the partition (`TABLESAMPLE SYSTEM`, about [`SAMPLE_PAGES`] pages, the
//! same sample for the same filter: `REPEATABLE`), and kept with the filter estimates of the
//! store's planner memory (same TTL and bound), so a filter searched again costs nothing.

use diesel::prelude::*;
use diesel::sql_types::Double;

use crate::error::Result;
use crate::filter::{FieldPath, Filter, PayloadLayout};
use crate::repo::search::context::Target;
use crate::repo::search::memory::PlannerMemory;
use crate::sql::SqlBuilder;

/// Below this fraction of the rows, a filter no payload index serves is answered exactly.
pub(super) const RARE_FRACTION: f64 = 0.01;

/// Pages the sample reads (all of them in a smaller partition).
pub(super) const SAMPLE_PAGES: u64 = 256;

/// Sampled rows below which the fraction is not trusted (nothing is advised).
const MIN_SAMPLED: f64 = 100.0;

#[derive(QueryableByName)]
struct Sampled {
    #[diesel(sql_type = Double)]
    matched: f64,
    #[diesel(sql_type = Double)]
    sampled: f64,
}

/// The fraction of the partition's rows that `filter` matches, from a sample; `None` when the
/// sample holds too few rows to tell.
pub(super) fn sampled_fraction(
    conn: &mut PgConnection,
    memory: &PlannerMemory,
    target: &Target<'_>,
    filter: &Filter,
) -> Result<Option<f64>> {
    let sql = statement(target, filter);
    let key = format!("sample\u{0}{}\u{0}{:?}", sql.sql(), sql.binds());
    let collection = target.collection.id;
    // Kept as parts per million in the estimates' map; u64::MAX: too few rows to tell.
    if let Some(kept) = memory.estimate(collection, &key) {
        return Ok((kept != u64::MAX).then(|| kept as f64 / 1e6));
    }
    let sample: Sampled = sql.into_query().get_result(conn)?;
    let fraction = (sample.sampled >= MIN_SAMPLED).then(|| sample.matched / sample.sampled);
    let kept = fraction.map_or(u64::MAX, |fraction| (fraction * 1e6).round() as u64);
    memory.keep_estimate(collection, key, kept);
    Ok(fraction)
}

/// `SELECT count(*) FILTER (WHERE <filter>), count(*) FROM embeddings TABLESAMPLE SYSTEM (p)`
/// of the collection, `p` the percentage of its pages that makes [`SAMPLE_PAGES`].
fn statement(target: &Target<'_>, filter: &Filter) -> SqlBuilder {
    let pages = target.indexes.pages.max(1);
    let percent = (100.0 * SAMPLE_PAGES as f64 / pages as f64).min(100.0);
    let mut sql = SqlBuilder::new();
    sql.push("SELECT (count(*) FILTER (WHERE ");
    filter.render(&mut sql, &target.layout);
    sql.push(
        "))::float8 AS matched, count(*)::float8 AS sampled FROM embeddings TABLESAMPLE SYSTEM (",
    )
    .bind(percent)
    .push("::float8) REPEATABLE (22) WHERE collection_id = ")
    .bind(target.collection.id.0);
    sql
}

/// The field of `filter` a payload index would serve: the first equality, `$in`, range or
/// `$contains` on a field without one.
pub(crate) fn unserved_field(layout: &PayloadLayout, filter: &Filter) -> Option<FieldPath> {
    let indexed = |path: &FieldPath| {
        layout
            .typed
            .iter()
            .any(|(field, _)| field.segments() == path.segments())
    };
    match filter {
        Filter::Eq(path, _)
        | Filter::Lt(path, _)
        | Filter::Lte(path, _)
        | Filter::Gt(path, _)
        | Filter::Gte(path, _)
        | Filter::In(path, _)
        | Filter::Contains(path, _) => (!indexed(path)).then(|| path.clone()),
        Filter::And(filters) | Filter::Or(filters) => filters
            .iter()
            .find_map(|filter| unserved_field(layout, filter)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::PayloadKind;

    #[test]
    fn the_advised_field_is_the_first_one_without_a_payload_index() {
        let mut layout = PayloadLayout::default();
        let filter = Filter::And(vec![
            Filter::Exists(FieldPath::from_segments(["x".to_owned()])),
            Filter::eq("lang", "en"),
            Filter::eq("doc", "style-guide"),
        ]);
        assert_eq!(
            unserved_field(&layout, &filter).map(|path| path.to_string()),
            Some("lang".to_owned())
        );
        layout.typed.push((
            FieldPath::from_segments(["lang".to_owned()]),
            PayloadKind::Keyword,
        ));
        assert_eq!(
            unserved_field(&layout, &filter).map(|path| path.to_string()),
            Some("doc".to_owned())
        );
        assert_eq!(
            unserved_field(&layout, &Filter::Not(Box::new(Filter::eq("doc", "a")))),
            None
        );
    }
}
