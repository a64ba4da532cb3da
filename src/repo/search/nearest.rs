//! The plain nearest-neighbour search: the statement `vector.rs` builds for the path the
//! planner picks, run once for all queries; each query the ANN path left short under a filter
//! or keyset condition is answered again by the exact statement.

use diesel::PgConnection;

use crate::error::Result;
use crate::repo::collections::ann_name;
use crate::repo::search::advice::SearchAdvice;
use crate::repo::search::context::{Search, Target};
use crate::repo::search::ignored::{exact_because, ignored};
use crate::repo::search::memory::PlannerMemory;
use crate::repo::search::plan::{Decision, Mode, load, needs_fallback, settings};
use crate::repo::search::rare::unserved_field;
use crate::repo::search::response::{
    AppliedSetting, HitRow, SearchPath, SearchResponse, by_distance, respond,
};
use crate::repo::search::vector::statement;
use crate::repo::search::verdict::decide_checked;
use crate::vector::VectorValue;

/// The plain search for every vector of `queries`: one statement on the path the planner
/// picks; each query the ANN path left short under a filter is answered again exactly.
pub(super) fn run(search: &mut Search<'_>, queries: &[VectorValue]) -> Result<Vec<SearchResponse>> {
    let target = search.target();
    let request = target.request;
    let decision = if queries.is_empty() {
        decide_checked(search, &target, std::slice::from_ref(&request.vector))?
    } else {
        decide_checked(search, &target, queries)?
    };
    let sql = statement(&target, decision.mode, queries);
    let memory = search.memory;
    let rows: Vec<HitRow> = load(search.conn, memory, sql, request, decision.mode)?;
    let mut responses = Vec::with_capacity(queries.len());
    for (rows, query) in by_query(rows, queries.len()).into_iter().zip(queries) {
        responses.push(answer(
            search.conn,
            search.memory,
            &target,
            decision,
            rows,
            query,
        )?);
    }
    Ok(responses)
}

/// The rows of a batch statement, one list per query in (distance, id) order, a NaN distance
/// last as PostgreSQL sorts it.
fn by_query(rows: Vec<HitRow>, count: usize) -> Vec<Vec<HitRow>> {
    let mut grouped: Vec<Vec<HitRow>> = (0..count).map(|_| Vec::new()).collect();
    for row in rows {
        if let Some(slot) = usize::try_from(row.query - 1)
            .ok()
            .and_then(|index| grouped.get_mut(index))
        {
            slot.push(row);
        }
    }
    for rows in &mut grouped {
        rows.sort_by(|a, b| by_distance(a.distance, b.distance).then(a.id.cmp(&b.id)));
    }
    grouped
}

/// One query's response: its rows, or — when the ANN path came back short under a filter or
/// keyset condition — the exact statement's.
fn answer(
    conn: &mut PgConnection,
    memory: &PlannerMemory,
    target: &Target<'_>,
    decision: Decision,
    rows: Vec<HitRow>,
    query: &VectorValue,
) -> Result<SearchResponse> {
    let request = target.request;
    let short = rows.len() < request.k as usize;
    let (rows, path) = match decision.mode {
        Mode::Ann(..) if short && needs_fallback(request) => {
            let sql = statement(target, Mode::Exact, std::slice::from_ref(query));
            let exact = load(conn, memory, sql, request, Mode::Exact)?;
            (exact, SearchPath::AnnThenExact)
        }
        Mode::Ann(..) => (rows, SearchPath::Ann),
        Mode::Exact => (rows, SearchPath::Exact),
    };
    let mut response = respond(target.collection, request, rows, path, decision.matched);
    response.exact_threshold = decision.threshold;
    let because = exact_because(request, target.indexes.ann, &decision);
    response.ignored = ignored(request, decision.mode, because, decision.matched.is_some());
    response.advice = advice(target, &decision);
    if let Mode::Ann(method, quantization) = decision.mode {
        response.settings = AppliedSetting::all(settings(method, quantization, request));
    }
    if let (Mode::Ann(_, Some(_)), SearchPath::Ann) = (decision.mode, path) {
        response.reranked = Some(request.rerank_candidates());
    }
    Ok(response)
}

/// The advice a search on `decision` gets: the ANN index the plan passed over, the field of a
/// rare filter no payload index serves.
pub(super) fn advice(target: &Target<'_>, decision: &Decision) -> Vec<SearchAdvice> {
    let mut advice = Vec::new();
    if let Some(reason) = decision.unused {
        advice.push(SearchAdvice::IndexNotUsed {
            index: ann_name(target.collection),
            reason,
        });
    }
    let field = target
        .request
        .filter
        .as_ref()
        .and_then(|filter| unserved_field(&target.layout, filter));
    if let (Some(estimated_fraction), Some(field)) = (decision.rare, field) {
        advice.push(SearchAdvice::PayloadIndex {
            field: field.to_string(),
            estimated_fraction,
        });
    }
    advice
}
