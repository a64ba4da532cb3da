//! `EXPLAIN` of the main statement a search sends: the shape the request asks for, on the
//! path the planner picks (a filter's estimate is asked first to decide), under the same
//! settings.

use diesel::prelude::*;

use crate::error::Result;
use crate::repo::search::context::{Search, Shape};
use crate::repo::search::grouped;
use crate::repo::search::mmr;
use crate::repo::search::plan::PlanLine;
use crate::repo::search::text;
use crate::repo::search::vector;
use crate::repo::search::verdict::decide_checked;
use crate::sql::SqlBuilder;

/// The plan, one line of `EXPLAIN`'s output a line. An MMR request explains its candidates'
/// statement.
pub(super) fn run(search: &mut Search<'_>) -> Result<String> {
    let candidates = mmr::candidates(search.request);
    let request = candidates.as_ref().unwrap_or(search.request);
    let search = &mut search.asking(request);
    let target = search.target();
    let request = target.request;
    let query = &request.vector;
    let lines: Vec<PlanLine> = match Shape::of(request) {
        Shape::Text => {
            let side = text::vector_side(request);
            let mode = text::vector_mode(search, &target.asking(&side), query)?.mode;
            let sql = explained(text::statement(&target, query, mode));
            sql.into_query().load(search.conn)?
        }
        Shape::Grouped => explained(grouped::statement(&target, query))
            .into_query()
            .load(search.conn)?,
        Shape::Mmr | Shape::Nearest => {
            let mode = decide_checked(search, &target, std::slice::from_ref(query))?.mode;
            let sql = explained(vector::statement(
                &target,
                mode,
                std::slice::from_ref(query),
            ));
            sql.into_query().load(search.conn)?
        }
    };
    Ok(lines
        .into_iter()
        .map(|plan| plan.line)
        .collect::<Vec<_>>()
        .join("\n"))
}

/// `sql` under `EXPLAIN`.
fn explained(mut sql: SqlBuilder) -> SqlBuilder {
    sql.prepend("EXPLAIN ");
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dto::IndexMethod;
    use crate::repo::search::context::Target;
    use crate::repo::search::fixtures::{ann, collection, request};
    use crate::repo::search::plan::Mode;

    #[test]
    fn explain_prefixes_the_statement_the_search_sends() {
        let collection = collection();
        let indexes = ann(IndexMethod::Hnsw, None);
        let ask = request(10);
        let target = Target::new(&collection, &indexes, &ask);
        let mode = Mode::Ann(IndexMethod::Hnsw, None);
        let plain = vector::statement(&target, mode, std::slice::from_ref(&ask.vector));
        let sql = explained(vector::statement(
            &target,
            mode,
            std::slice::from_ref(&ask.vector),
        ));
        assert_eq!(sql.sql(), format!("EXPLAIN {}", plain.sql()));
        assert_eq!(sql.binds(), plain.binds());
    }
}
