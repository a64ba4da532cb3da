//! Whether PostgreSQL's plan for a search statement really walks the collection's ANN index:
//! the path a response reports is the one the server runs, not the one embedstore intended.
//!
//! The ANN statement asks for the index's order (`ORDER BY <indexed expression> <op> $1`), but
//! the planner is free to scan and sort instead — and does, when the partition has no
//! statistics (it then guesses the collection holds a handful of rows) or is small enough that
//! a scan is cheaper. Such a search is exact, whatever embedstore meant; a quantized index's
//! statement run that way would even sort by the quantized distance. So before a statement
//! shape runs on the ANN path, its plan is read: `EXPLAIN (FORMAT JSON)` of the real statement
//! with its bound parameters and under the settings it runs under (no `ANALYZE` option: it is
//! planned, not run). When the plan does not use the index, the search takes the exact path
//! and says why ([`IndexNotUsedReason`]).
//!
//! The verdict is kept in the store's [`PlannerMemory`] per collection and statement text (its
//! shape: the values are parameters), together with the index facts and the statistics stamp
//! it was read under ([`CollectionIndexes::statistics`]: the partition's analyze count and size
//! class, read with the index facts every `INDEX_TTL`). A new analyze, an index change or the
//! partition doubling in size makes the next search of that shape ask again; otherwise no
//! search pays for it.

use diesel::prelude::*;
use serde_json::Value;

use crate::dto::{HALF_MAX, beyond_half};
use crate::error::{Error, Result, ValidationError};
use crate::metric::{Element, Quantization};
use crate::repo::catalog::CollectionIndexes;
use crate::repo::collections::ann_name;
use crate::repo::search::advice::IndexNotUsedReason;
use crate::repo::search::context::{Search, Target};
use crate::repo::search::plan::{Decision, Mode, PlanLine, decide};
use crate::repo::search::vector;
use crate::repo::stats;
use crate::vector::VectorValue;

/// [`decide`], then — on the ANN path — the plan's verdict: when PostgreSQL's plan for the
/// statement (of the first of `queries`) does not use the ANN index, the exact path, with the
/// reason.
///
/// Queries the intended path cannot take are refused first ([`fits_half_index`]): a value
/// beyond half precision on the path of a `halfvec` index would fail the plan's own `EXPLAIN`
/// with the server's bare range error, and the refusal must not depend on what the planner
/// picks at this size.
pub(super) fn decide_checked(
    search: &mut Search<'_>,
    target: &Target<'_>,
    queries: &[VectorValue],
) -> Result<Decision> {
    let decision = decide(search.conn, search.memory, target)?;
    fits_half_index(target, decision.mode, queries)?;
    let (Mode::Ann(..), Some(query)) = (decision.mode, queries.first()) else {
        return Ok(decision);
    };
    Ok(match index_verdict(search, target, decision.mode, query)? {
        None => decision,
        Some(reason) => Decision {
            mode: Mode::Exact,
            unused: Some(reason),
            ..decision
        },
    })
}

/// Refuses queries with a value beyond ±[`HALF_MAX`] on the path of an ANN index on `halfvec`
/// (half-quantized, or any index above 2,000 dimensions): pgvector cannot convert the query to
/// the index's type, and the statement would fail with the server's bare range error. Paths
/// are `vector[j]`, or `queries[i].vector[j]` in a batch.
fn fits_half_index(target: &Target<'_>, mode: Mode, queries: &[VectorValue]) -> Result<()> {
    let half = match mode {
        Mode::Ann(_, Some(quantization)) => quantization == Quantization::Half,
        Mode::Ann(_, None) => {
            target.collection.search_expression().element == Some(Element::HalfVector)
        }
        Mode::Exact => false,
    };
    if !half {
        return Ok(());
    }
    let several = queries.len() > 1;
    let misfits: Vec<(String, String)> = queries
        .iter()
        .enumerate()
        .filter_map(|(query, vector)| Some((query, vector.as_dense()?)))
        .flat_map(|(query, values)| {
            values
                .iter()
                .enumerate()
                .filter(|(_, value)| value.abs() > HALF_MAX)
                .map(move |(at, value)| {
                    let path = if several {
                        format!("queries[{query}].vector[{at}]")
                    } else {
                        format!("vector[{at}]")
                    };
                    let why = format!(
                        "{}; an exact search (with_exact(true), CLI --exact) takes it",
                        beyond_half(*value)
                    );
                    (path, why)
                })
        })
        .collect();
    if misfits.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(ValidationError::new(misfits)))
    }
}

/// `None` when PostgreSQL's plan for the `mode` statement of `target` (one query, `query`)
/// uses the ANN index; otherwise why not. Kept per statement text while the index facts and
/// the statistics stamp stay the same (see the module documentation).
fn index_verdict(
    search: &mut Search<'_>,
    target: &Target<'_>,
    mode: Mode,
    query: &VectorValue,
) -> Result<Option<IndexNotUsedReason>> {
    let mut sql = vector::statement(target, mode, std::slice::from_ref(query));
    let collection = target.collection.id;
    let key = sql.sql().to_owned();
    let stamp = stamp(target.indexes);
    if let Some(verdict) = search.memory.verdict(collection, &key, &stamp) {
        return Ok(verdict);
    }
    sql.prepend("EXPLAIN (FORMAT JSON) ");
    let plan: PlanLine = sql.into_query().get_result(search.conn)?;
    let verdict = if uses_index(&plan.line, &ann_name(target.collection)) {
        None
    } else {
        Some(reason(search.conn, target)?)
    };
    search.memory.keep_verdict(collection, key, stamp, verdict);
    Ok(verdict)
}

/// What a verdict depends on besides the statement text: the index facts and the statistics.
/// (Not the exact page count: the size class in `statistics` moves only when it doubles.)
fn stamp(indexes: &CollectionIndexes) -> String {
    format!(
        "{:?} {:?} {:?} {:?} {}",
        indexes.ann, indexes.quantization, indexes.text, indexes.payload, indexes.statistics
    )
}

/// Why the planner passed the index over: no statistics, or it found a scan cheaper.
fn reason(conn: &mut PgConnection, target: &Target<'_>) -> Result<IndexNotUsedReason> {
    Ok(match stats::facts(conn, target.collection.id)? {
        Some(facts) if facts.analyzed => IndexNotUsedReason::ScanIsCheaper,
        _ => IndexNotUsedReason::NoStatistics,
    })
}

/// Whether the `EXPLAIN (FORMAT JSON)` output `plan` scans the index named `index` anywhere:
/// on one server by that name; on Citus inside a task's remote plan, where the worker scans
/// the shard's copy of the index, named `<index>_<shard id>`.
pub(crate) fn uses_index(plan: &str, index: &str) -> bool {
    fn named(name: &str, index: &str) -> bool {
        name == index
            || name.strip_prefix(index).is_some_and(|rest| {
                rest.strip_prefix('_').is_some_and(|shard| {
                    !shard.is_empty() && shard.bytes().all(|b| b.is_ascii_digit())
                })
            })
    }
    fn walk(node: &Value, index: &str) -> bool {
        match node {
            Value::Object(fields) => {
                fields
                    .get("Index Name")
                    .and_then(Value::as_str)
                    .is_some_and(|name| named(name, index))
                    || fields.values().any(|value| walk(value, index))
            }
            Value::Array(items) => items.iter().any(|item| walk(item, index)),
            _ => false,
        }
    }
    serde_json::from_str::<Value>(plan).is_ok_and(|plan| walk(&plan, index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_is_found_at_any_depth_of_the_plan_and_only_by_its_name() {
        let used = r#"[{"Plan": {"Node Type": "Limit", "Plans": [{"Node Type": "Index Scan",
            "Index Name": "embeddings_7_ann", "Relation Name": "embeddings_7"}]}}]"#;
        assert!(uses_index(used, "embeddings_7_ann"));
        assert!(!uses_index(used, "embeddings_8_ann"));
        let sorted = r#"[{"Plan": {"Node Type": "Limit", "Plans": [{"Node Type": "Sort",
            "Plans": [{"Node Type": "Bitmap Heap Scan", "Plans": [{"Node Type":
            "Bitmap Index Scan", "Index Name": "embeddings_7_pkey"}]}]}]}}]"#;
        assert!(!uses_index(sorted, "embeddings_7_ann"));
        assert!(!uses_index("not json", "embeddings_7_ann"));
    }

    #[test]
    fn on_citus_the_shards_copy_of_the_index_in_a_tasks_remote_plan_counts() {
        let citus = r#"[{"Plan": {"Node Type": "Custom Scan", "Custom Plan Provider":
            "Citus Adaptive", "Distributed Query": {"Job": {"Tasks": [{"Remote Plan": [[{"Plan":
            {"Node Type": "Limit", "Plans": [{"Node Type": "Index Scan", "Index Name":
            "embeddings_7_ann_102078"}]}}]]}]}}}}]"#;
        assert!(uses_index(citus, "embeddings_7_ann"));
        assert!(!uses_index(citus, "embeddings_7"));
        assert!(!uses_index(citus, "embeddings_70_ann"));
        let other = r#"[{"Plan": {"Index Name": "embeddings_7_ann_x1"}}]"#;
        assert!(!uses_index(other, "embeddings_7_ann"));
        assert!(!uses_index(
            r#"[{"Plan": {"Index Name": "embeddings_7_ann_"}}]"#,
            "embeddings_7_ann"
        ));
    }
}
