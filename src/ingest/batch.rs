//! One ingest batch in three steps: [`prepare`] checks it without the database, on the reading
//! thread; then, on a writing thread, in upsert mode [`Ingest::plan_batch`] compares it with
//! the stored rows (a read) and [`Ingest::write_ready`] writes what is left in one transaction
//! (none when every row is unchanged).
//!
//! An upsert into a collection that held no rows when the ingest started skips the comparison
//! ([`Ingest::write_prepared`]): its batches are inserted as insert-mode batches are, one
//! `COPY` each, for as long as none meets a stored id. The first that does (a unique violation
//! of the `external_id` key: an id repeated from an earlier batch, or a row another writer
//! stored meanwhile) has written nothing — its transaction rolled back — and is redone by the
//! comparison and the usual write, and every batch that starts after it is compared first.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::dto::half_misfits;
use crate::dto::{CheckedBatch, CollectionRules, Duplicates, EmbeddingBatch, NewEmbedding};
use crate::ingest::problems::{item_problem, rejected_rows, taken_ids};
use crate::ingest::{
    Ingest, IngestError, IngestSummary, RejectedRow, RowProblem, SourceRow, WriteMode,
};
use crate::models::Collection;
use crate::repo::WriteSummary;
use crate::repo::upsert::UpsertPlan;
use crate::uow::UnitOfWork;

/// A batch read and checked: every item is either in a batch that passed the collection's
/// rules, or beside the problems of the rows that did not.
#[derive(Debug)]
pub(super) struct PreparedBatch {
    /// The rows as read; their outcomes are taken (into `items` or `problems`).
    rows: Vec<SourceRow>,
    /// `positions[i]`: the index into `rows` of the i-th item.
    positions: Vec<usize>,
    items: Items,
    /// What the rules found, by row.
    problems: Vec<RowProblem>,
}

#[derive(Debug)]
enum Items {
    /// Every row passed: the batch goes to the repository as it is.
    Checked(CheckedBatch),
    /// Some rows have problems (listed beside); each of these items passed on its own.
    Refused(Vec<NewEmbedding>),
}

impl Items {
    fn external_ids(&self) -> impl Iterator<Item = &str> {
        let items = match self {
            Items::Checked(batch) => batch.items(),
            Items::Refused(items) => items,
        };
        items.iter().map(|item| item.external_id.as_str())
    }
}

/// A batch ready for the writing thread.
#[derive(Debug)]
pub(super) enum Ready {
    /// Insert mode: to check against the database and write as prepared.
    Prepared(PreparedBatch),
    /// Upsert mode: compared with the stored rows already.
    Planned {
        /// What is left to write; `None` when no row was valid.
        plan: Option<UpsertPlan>,
        /// The rows skipped as invalid.
        rejected: Vec<RejectedRow>,
    },
}

/// What the write of a batch did, and the rows it skipped.
pub(super) type Written = (WriteSummary, Vec<RejectedRow>);

/// Checks `rows` against `rules` (without the database): the parse problems the source found,
/// then the collection's rules and, in insert mode, ids repeated inside the batch; with
/// `half_index` (the collection's ANN index stores `halfvec`), values beyond ±65,504 too.
pub(super) fn prepare(
    rules: &CollectionRules,
    half_index: bool,
    mode: WriteMode,
    mut rows: Vec<SourceRow>,
) -> PreparedBatch {
    let mut problems = Vec::new();
    let mut items = Vec::with_capacity(rows.len());
    let mut positions = Vec::with_capacity(rows.len());
    for (position, row) in rows.iter_mut().enumerate() {
        match std::mem::replace(&mut row.outcome, Err(Vec::new())) {
            Ok(item) => {
                items.push(item);
                positions.push(position);
            }
            Err(row_problems) => {
                problems.extend(row_problems.into_iter().map(|(field, reason)| RowProblem {
                    row: row.row,
                    line: row.line,
                    field,
                    reason,
                }))
            }
        }
    }
    let duplicates = mode.duplicates();
    if half_index {
        for (path, reason) in half_misfits(&items) {
            problems.push(item_problem(&path, &reason, &rows, &positions));
        }
    }
    let items = match (EmbeddingBatch { items, duplicates }).check(rules) {
        Ok(batch) if problems.is_empty() => Items::Checked(batch),
        Ok(batch) => Items::Refused(batch.into_inner().items),
        Err((batch, report)) => {
            for (path, error) in report.iter() {
                problems.push(item_problem(
                    &path.to_string(),
                    error.message(),
                    &rows,
                    &positions,
                ));
            }
            Items::Refused(batch.items)
        }
    };
    problems.sort_by_key(|problem| problem.row);
    PreparedBatch {
        rows,
        positions,
        items,
        problems,
    }
}

impl PreparedBatch {
    /// Rows in the batch (valid or not); 0 marks the end of the source.
    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    /// The `external_id`s of the batch's valid rows.
    pub(super) fn external_ids(&self) -> impl Iterator<Item = &str> {
        self.items.external_ids()
    }

    /// Whether the batch will be refused whole (rows with problems, and they are not to be
    /// skipped): known before anything is written.
    pub(super) fn is_refused(&self, skip_invalid: bool) -> bool {
        !self.problems.is_empty() && !skip_invalid
    }
}

impl WriteMode {
    /// What a batch written in this mode does with an `external_id` it holds twice.
    fn duplicates(self) -> Duplicates {
        match self {
            WriteMode::Insert => Duplicates::Reject,
            WriteMode::Upsert => Duplicates::LastWins,
        }
    }
}

impl Ingest<'_> {
    /// A batch's whole writing step, on its writer's thread: [`plan_batch`](Self::plan_batch)
    /// then [`write_ready`](Self::write_ready) — or, in upsert mode while `unplanned` holds
    /// (the collection held no rows when the ingest started and no batch of it has met a stored
    /// id since), the optimistic write, which skips the comparison with the stored rows.
    ///
    /// # Errors
    /// As [`plan_batch`](Self::plan_batch) and [`write_ready`](Self::write_ready).
    pub(super) fn write_prepared(
        &self,
        collection: &Collection,
        describe: &str,
        batch: PreparedBatch,
        unplanned: &AtomicBool,
    ) -> Result<Written, IngestError> {
        if self.options.mode == WriteMode::Insert || !unplanned.load(Ordering::Acquire) {
            let ready = self.plan_batch(collection, describe, batch)?;
            return self.write_ready(collection, describe, ready);
        }
        let (checked, rejected) = self.upsert_items(collection, describe, batch)?;
        let Some(checked) = checked else {
            return Ok((WriteSummary::default(), rejected));
        };
        let mut taken = None;
        let written = self.store.write(|uow| {
            self.relax_commit(uow)?;
            match uow.embeddings().insert_unplanned(collection, checked)? {
                Ok(written) => Ok(written),
                Err(ids) => {
                    // The COPY failed on a stored id: nothing of the batch is written, and the
                    // error rolls the transaction back.
                    taken = Some(ids);
                    Err(crate::Error::Conflict {
                        message: "an external_id of the batch is stored already".to_owned(),
                        constraint: None,
                    })
                }
            }
        });
        let Some(taken) = taken else {
            return Ok((written?, rejected));
        };
        // The collection holds rows after all (an earlier batch's, or another writer's): from
        // now on every batch of this ingest that starts is compared first, this one included
        // (one already being written by another writer goes on: its ids were not stored).
        unplanned.store(false, Ordering::Release);
        let plan = self
            .store
            .read_primary(|uow| uow.embeddings().plan_unplanned(collection, taken))?;
        self.write_ready(
            collection,
            describe,
            Ready::Planned {
                plan: Some(plan),
                rejected,
            },
        )
    }

    /// The planning step: in upsert mode a batch is compared with the stored rows here, in a
    /// read of its own, so that a batch of unchanged rows needs no write transaction; a batch
    /// refused by validation is refused here, before any of that. Insert-mode batches pass
    /// through (their problems may need the database: ids already taken).
    ///
    /// # Errors
    /// [`IngestError::Rejected`] for a refused upsert batch; [`IngestError::Store`] when the
    /// comparison fails.
    pub(super) fn plan_batch(
        &self,
        collection: &Collection,
        describe: &str,
        batch: PreparedBatch,
    ) -> Result<Ready, IngestError> {
        if self.options.mode == WriteMode::Insert {
            return Ok(Ready::Prepared(batch));
        }
        let (checked, rejected) = self.upsert_items(collection, describe, batch)?;
        let plan = match checked {
            Some(checked) => Some(
                self.store
                    .read_primary(|uow| uow.embeddings().plan_upsert(collection, checked))?,
            ),
            None => None,
        };
        Ok(Ready::Planned { plan, rejected })
    }

    /// An upsert batch's valid rows (`None` when there is none) and the rows skipped as
    /// invalid.
    ///
    /// # Errors
    /// [`IngestError::Rejected`] when the batch is refused by validation.
    fn upsert_items(
        &self,
        collection: &Collection,
        describe: &str,
        batch: PreparedBatch,
    ) -> Result<(Option<CheckedBatch>, Vec<RejectedRow>), IngestError> {
        if batch.is_refused(self.options.skip_invalid) {
            return Err(IngestError::Rejected {
                source: describe.to_owned(),
                problems: batch.problems,
            });
        }
        let PreparedBatch {
            rows,
            positions,
            items,
            problems,
        } = batch;
        let (checked, mut rejected_ids) = keep_valid(
            collection,
            WriteMode::Upsert,
            items,
            &positions,
            &rows,
            &problems,
        )?;
        Ok((checked, rejected_rows(problems, &mut rejected_ids)))
    }

    /// Writes a batch handed over by [`plan_batch`](Self::plan_batch); one whose rows are all
    /// unchanged costs no transaction at all.
    ///
    /// # Errors
    /// As [`write_batch`](Self::write_batch).
    pub(super) fn write_ready(
        &self,
        collection: &Collection,
        describe: &str,
        ready: Ready,
    ) -> Result<Written, IngestError> {
        match ready {
            Ready::Prepared(batch) => self.write_batch(collection, describe, batch),
            Ready::Planned {
                plan: None,
                rejected,
            } => Ok((WriteSummary::default(), rejected)),
            Ready::Planned {
                plan: Some(plan),
                rejected,
            } if plan.is_empty() => Ok((plan.summary(), rejected)),
            Ready::Planned {
                plan: Some(plan),
                rejected,
            } => {
                let written = self.store.write(|uow| {
                    self.relax_commit(uow)?;
                    uow.embeddings().apply_upsert(collection, plan)
                })?;
                Ok((written, rejected))
            }
        }
    }

    /// Unless asked otherwise, this batch's COMMIT does not wait for its disk flush (see
    /// [`IngestOptions::synchronous_commit`](crate::ingest::IngestOptions)).
    /// The batch's statistics are deferred too: the ingest analyzes once when it is done.
    fn relax_commit(&self, uow: &mut UnitOfWork<'_>) -> Result<(), crate::Error> {
        uow.defer_statistics();
        if !self.options.synchronous_commit {
            // Constant SQL; lasts until this batch's COMMIT.
            diesel::connection::SimpleConnection::batch_execute(
                uow.settings_connection(),
                "SET LOCAL synchronous_commit = off",
            )?;
        }
        Ok(())
    }

    /// Writes one insert-mode batch in one transaction; returns what it did and the rows it
    /// skipped (only under `skip_invalid`).
    ///
    /// # Errors
    /// [`IngestError::Rejected`] when the batch has problems (with the ids the collection
    /// already holds) and invalid rows are not skipped, nothing of it written;
    /// [`IngestError::Store`] when the write fails.
    fn write_batch(
        &self,
        collection: &Collection,
        describe: &str,
        batch: PreparedBatch,
    ) -> Result<Written, IngestError> {
        let PreparedBatch {
            rows,
            positions,
            items,
            mut problems,
        } = batch;
        let skip_invalid = self.options.skip_invalid;
        // Taken ids are looked up front only when they must be listed or skipped; the fast
        // path lets the COPY find out and diagnoses a conflict afterwards (below).
        let precheck = skip_invalid || !problems.is_empty();
        let diagnosis_ids: Vec<(String, usize)> = if !precheck {
            items
                .external_ids()
                .zip(&positions)
                .map(|(id, position)| (id.to_owned(), *position))
                .collect()
        } else {
            Vec::new()
        };
        let written = self.store.write(|uow| {
            self.relax_commit(uow)?;
            if precheck {
                let ids = items.external_ids().zip(positions.iter().copied());
                problems.extend(taken_ids(uow, collection, ids, &rows)?);
                problems.sort_by_key(|problem| problem.row);
            }
            if !problems.is_empty() && !skip_invalid {
                return Err(IngestError::Rejected {
                    source: describe.to_owned(),
                    problems: std::mem::take(&mut problems),
                });
            }
            let (batch, rejected_ids) = keep_valid(
                collection,
                WriteMode::Insert,
                items,
                &positions,
                &rows,
                &problems,
            )?;
            let written = match batch {
                None => WriteSummary::default(),
                Some(batch) => uow.embeddings().insert_checked(collection, batch)?,
            };
            Ok::<_, IngestError>((written, rejected_ids))
        });
        let (written, mut rejected_ids) = match written {
            Err(IngestError::Store(conflict @ crate::Error::Conflict { .. }))
                if !diagnosis_ids.is_empty() =>
            {
                let ids = diagnosis_ids
                    .iter()
                    .map(|(id, position)| (id.as_str(), *position));
                let taken = self
                    .store
                    .read_primary(|uow| taken_ids(uow, collection, ids, &rows))?;
                if taken.is_empty() {
                    // Someone else's rows, rolled back since: report the conflict as it was.
                    return Err(IngestError::Store(conflict));
                }
                return Err(IngestError::Rejected {
                    source: describe.to_owned(),
                    problems: taken,
                });
            }
            other => other?,
        };
        Ok((written, rejected_rows(problems, &mut rejected_ids)))
    }
}

impl PreparedBatch {
    /// The atomic ingest's step: inside the caller's unit of work, checks the batch against the
    /// ids of earlier batches (`seen`, insert mode) and the ids the collection holds, and —
    /// when `write` and no problem refuses it — writes it. Returns what was written with the
    /// rows skipped under `skip_invalid`, and the problems that refuse the ingest (none when
    /// invalid rows are skipped).
    ///
    /// # Errors
    /// [`IngestError::Store`] when a lookup or the write fails.
    pub(super) fn write_within(
        self,
        uow: &mut UnitOfWork<'_>,
        collection: &Collection,
        mode: WriteMode,
        skip_invalid: bool,
        seen: &mut HashMap<String, (u64, Option<u64>)>,
        write: bool,
    ) -> Result<(Written, Vec<RowProblem>), IngestError> {
        let PreparedBatch {
            rows,
            positions,
            items,
            mut problems,
        } = self;
        if mode == WriteMode::Insert {
            let mut fresh = Vec::new();
            for (id, &position) in items.external_ids().zip(&positions) {
                let row = &rows[position];
                match seen.get(id) {
                    Some(&(first, line)) => problems.push(RowProblem {
                        row: row.row,
                        line: row.line,
                        field: "external_id".into(),
                        reason: repeat_reason(first, line),
                    }),
                    None => fresh.push((id, position)),
                }
            }
            for &(id, position) in &fresh {
                seen.insert(id.to_owned(), (rows[position].row, rows[position].line));
            }
            problems.extend(taken_ids(uow, collection, fresh.into_iter(), &rows)?);
            problems.sort_by_key(|problem| problem.row);
        }
        let refused = !problems.is_empty() && !skip_invalid;
        if !write || refused {
            return Ok(((WriteSummary::default(), Vec::new()), problems));
        }
        let (checked, mut rejected_ids) =
            keep_valid(collection, mode, items, &positions, &rows, &problems)?;
        let written = match (checked, mode) {
            (None, _) => WriteSummary::default(),
            (Some(batch), WriteMode::Insert) => {
                uow.embeddings().insert_checked(collection, batch)?
            }
            (Some(batch), WriteMode::Upsert) => {
                let plan = uow.embeddings().plan_upsert(collection, batch)?;
                uow.embeddings().apply_upsert(collection, plan)?
            }
        };
        Ok((
            (written, rejected_rows(problems, &mut rejected_ids)),
            Vec::new(),
        ))
    }
}

/// Why a row is refused for repeating the `external_id` of an earlier row (`first`, at `line`
/// of the records when there is one).
pub(super) fn repeat_reason(first: u64, line: Option<u64>) -> String {
    match line {
        Some(line) => format!("repeats the external_id of row {first} (line {line})"),
        None => format!("repeats the external_id of row {first}"),
    }
}

impl IngestSummary {
    /// Adds one batch's write.
    pub(super) fn add(&mut self, written: &WriteSummary) {
        self.batches += 1;
        self.inserted += written.inserted;
        self.updated += written.updated;
        self.unchanged += written.unchanged;
        self.duplicates_dropped += written.duplicates_dropped as u64;
    }
}

/// The batch to write once the rows with `problems` are left out (`None` when none is left),
/// and the `external_id`s of the rows left out, by row.
fn keep_valid(
    collection: &Collection,
    mode: WriteMode,
    items: Items,
    positions: &[usize],
    rows: &[SourceRow],
    problems: &[RowProblem],
) -> Result<(Option<CheckedBatch>, HashMap<u64, String>), IngestError> {
    if problems.is_empty()
        && let Items::Checked(batch) = items
    {
        return Ok((Some(batch), HashMap::new()));
    }
    let items = match items {
        Items::Checked(batch) => batch.into_inner().items,
        Items::Refused(items) => items,
    };
    let bad_rows: HashSet<u64> = problems.iter().map(|problem| problem.row).collect();
    let mut keep = Vec::with_capacity(items.len());
    let mut rejected_ids = HashMap::new();
    for (item, position) in items.into_iter().zip(positions) {
        let row = rows[*position].row;
        if bad_rows.contains(&row) {
            rejected_ids.insert(row, item.external_id);
        } else {
            keep.push(item);
        }
    }
    if keep.is_empty() {
        return Ok((None, rejected_ids));
    }
    let duplicates = mode.duplicates();
    // Each kept item passed on its own and a repeated id was a problem of its later row, so
    // this check passes; it is what makes the rest a batch the repository takes.
    let batch = EmbeddingBatch {
        items: keep,
        duplicates,
    }
    .check(&CollectionRules::of(collection))
    .map_err(|(_, report)| crate::Error::invalid(&report))?;
    Ok((Some(batch), rejected_ids))
}
