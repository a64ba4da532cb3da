//! Problems of ingest rows: validation paths moved to rows, ids already taken, rejects grouped
//! per row.

use std::collections::{HashMap, HashSet};

use crate::ingest::RejectedRow;
use crate::ingest::error::{IngestError, RowProblem};
use crate::ingest::source::SourceRow;
use crate::models::Collection;
use crate::uow::UnitOfWork;

/// A problem for each of these `(external_id, position in rows)` the collection already holds.
pub(super) fn taken_ids<'a>(
    uow: &mut UnitOfWork<'_>,
    collection: &Collection,
    ids: impl Iterator<Item = (&'a str, usize)>,
    rows: &[SourceRow],
) -> Result<Vec<RowProblem>, IngestError> {
    let ids: Vec<(&str, usize)> = ids.collect();
    let names: Vec<&str> = ids.iter().map(|(id, _)| *id).collect();
    let taken: HashSet<String> = uow
        .embeddings()
        .existing(collection, &names)?
        .into_iter()
        .collect();
    Ok(ids
        .iter()
        .filter(|(id, _)| taken.contains(*id))
        .map(|(id, position)| {
            let row = &rows[*position];
            RowProblem {
                row: row.row,
                line: row.line,
                field: "external_id".into(),
                reason: format!(
                    "{id:?} already exists in collection {:?} (insert mode; upsert updates it)",
                    collection.name
                ),
            }
        })
        .collect())
}

/// The skipped rows with their problems (sorted by row), grouped per row.
pub(super) fn rejected_rows(
    problems: Vec<RowProblem>,
    rejected_ids: &mut HashMap<u64, String>,
) -> Vec<RejectedRow> {
    let mut rejected: Vec<RejectedRow> = Vec::new();
    for problem in problems {
        match rejected.last_mut() {
            Some(last) if last.row == problem.row => last.problems.push(problem),
            _ => rejected.push(RejectedRow {
                row: problem.row,
                line: problem.line,
                external_id: rejected_ids.remove(&problem.row),
                problems: vec![problem],
            }),
        }
    }
    rejected
}

/// A validation failure at `items[i].field` moved to the row it came from.
pub(super) fn item_problem(
    path: &str,
    message: &str,
    rows: &[SourceRow],
    positions: &[usize],
) -> RowProblem {
    let row_of = |index: usize| {
        positions
            .get(index)
            .and_then(|position| rows.get(*position))
    };
    let (row, field) = split_item_path(path)
        .and_then(|(index, field)| Some((row_of(index)?, field)))
        .map_or((None, path), |(row, field)| (Some(row), field));
    // "repeats items[3].external_id" names an item index; say which row that is.
    let reason = match message
        .strip_prefix("repeats ")
        .and_then(split_item_path)
        .and_then(|(index, _)| row_of(index))
    {
        Some(first) => super::batch::repeat_reason(first.row, first.line),
        None => message.to_owned(),
    };
    RowProblem {
        row: row.map_or(0, |row| row.row),
        line: row.and_then(|row| row.line),
        field: field.to_owned(),
        reason,
    }
}

/// `items[17].vector[3]` → `(17, "vector[3]")`; `items[2]` → `(2, "")`.
fn split_item_path(path: &str) -> Option<(usize, &str)> {
    let rest = path.strip_prefix("items[")?;
    let close = rest.find(']')?;
    let index = rest[..close].parse().ok()?;
    let rest = &rest[close + 1..];
    Some((index, rest.strip_prefix('.').unwrap_or(rest)))
}
