//! An ingest in one transaction ([`IngestOptions::atomic`](crate::IngestOptions)): every batch
//! is checked and written inside one unit of work on one connection, so the source is stored
//! whole or not at all. It still streams: one batch is in memory at a time (plus, in insert
//! mode, the `external_id`s seen so far, to refuse an id repeated across batches). After the
//! first problem the rest of the source is still read and checked, but nothing more is
//! written, so one run reports every problem and the transaction rolls back.
//!
//! In upsert mode every batch is compared with the stored rows inside the transaction, also
//! into an empty collection: the optimistic insert of the other ingests (see `batch`) would
//! need a savepoint per batch here to recover from a stored id, for inputs this small.

use std::collections::HashMap;

use crate::dto::CollectionRules;
use crate::ingest::batch;
use crate::ingest::parallel::Report;
use crate::ingest::{Ingest, IngestError, RowProblem, RowSource};
use crate::models::Collection;

impl Ingest<'_> {
    /// Reads, checks and writes the whole source in one transaction (see the module docs).
    ///
    /// # Errors
    /// [`IngestError::Rejected`] with every problem of the source (nothing written unless
    /// invalid rows are skipped); otherwise as [`Ingest::run`].
    pub(super) fn run_atomic(
        &self,
        collection: &Collection,
        describe: &str,
        source: &mut (dyn RowSource + Send),
        report: &mut Report<'_>,
    ) -> Result<(), IngestError> {
        let rules = CollectionRules::of(collection);
        let (mode, skip_invalid) = (self.options.mode, self.options.skip_invalid);
        let batch_size = self.options.batch_size.max(1);
        self.store.write(|uow| {
            let half_index = uow.embeddings().ann_on_halfvec(collection)?;
            let mut problems: Vec<RowProblem> = Vec::new();
            let mut seen = HashMap::new();
            loop {
                let mut rows = Vec::with_capacity(batch_size);
                source.next_rows(batch_size, &mut rows)?;
                if rows.is_empty() {
                    break;
                }
                let batch = batch::prepare(&rules, half_index, mode, rows);
                let rows = batch.len();
                // Once anything refuses the ingest, later batches are checked, not written.
                let write = problems.is_empty() || skip_invalid;
                let ((written, rejected), found) =
                    batch.write_within(uow, collection, mode, skip_invalid, &mut seen, write)?;
                problems.extend(found);
                if write {
                    report.record(rows, &written, &rejected)?;
                }
            }
            if problems.is_empty() {
                return Ok(());
            }
            problems.sort_by_key(|problem| problem.row);
            Err(IngestError::Rejected {
                source: describe.to_owned(),
                problems,
            })
        })
    }
}
