use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel::sql_types::Integer;

use crate::dto::half_misfits;
use crate::dto::{CheckedBatch, CollectionRules, Duplicates, EmbeddingBatch, NewEmbedding};
use crate::error::{Error, Result, ValidationError};
use crate::models::{Collection, Embedding, EmbeddingRow, NewEmbeddingRow};
use crate::repo::catalog;
use crate::repo::copy::{CopyInto, copy_rows, stage};
use crate::repo::rows::{
    WriteSummary, is_taken_external_id, with_external_ids, write_error, write_path,
};
use crate::repo::touched::Touched;
use crate::repo::upsert::{self, UnplannedRows, UpsertPlan};
use crate::schema::embeddings;
use crate::trace::{self, Operation};

/// Embeddings inside a unit of work.
pub struct Embeddings<'u> {
    pub(crate) conn: &'u mut PgConnection,
    /// What the writes changed, for the store's cache (forgotten after commit).
    pub(crate) touched: &'u mut Touched,
}

impl<'u> Embeddings<'u> {
    pub(crate) fn new(conn: &'u mut PgConnection, touched: &'u mut Touched) -> Self {
        Self { conn, touched }
    }

    /// Inserts new embeddings with one binary `COPY`.
    ///
    /// The whole batch is validated first and every failure reported; a repeated `external_id`
    /// inside the batch is a failure too. Nothing is written unless everything is.
    ///
    /// # Errors
    /// [`Error::Validation`] listing every bad item; [`Error::Conflict`] when an `external_id`
    /// already exists in the collection; [`Error::NotFound`] when the collection was dropped.
    pub fn insert(
        &mut self,
        collection: &Collection,
        items: Vec<NewEmbedding>,
    ) -> Result<WriteSummary> {
        let operation = write_operation("insert", collection, items.len());
        let summary = validate(collection, items, Duplicates::Reject)
            .and_then(|batch| self.insert_checked(collection, batch));
        written(&operation, summary)
    }

    /// Whether the collection's ANN index stores `halfvec` (so no value beyond ±65,504 can be
    /// written): the ingest asks once and refuses such rows by row before writing.
    pub(crate) fn ann_on_halfvec(&mut self, collection: &Collection) -> Result<bool> {
        catalog::ann_on_halfvec(self.conn, collection)
    }

    /// [`insert`](Self::insert) of a batch already checked against `collection`'s rules (with
    /// [`Duplicates::Reject`]): the bulk ingest checks off the write path, and only once.
    /// (The optimistic upsert of a `LastWins` batch is [`insert_unplanned`](Self::insert_unplanned).)
    pub(crate) fn insert_checked(
        &mut self,
        collection: &Collection,
        batch: CheckedBatch,
    ) -> Result<WriteSummary> {
        fits_half_index(self.conn, collection, batch.items())?;
        let summary = copy_insert(self.conn, collection, batch)?;
        self.touched.wrote(collection.id, summary.inserted);
        Ok(summary)
    }

    /// Whether `collection` holds any row this role can see: one probe of its partition. The
    /// ingest asks once, before an upsert, whether its batches may skip the comparison with the
    /// stored rows ([`insert_unplanned`](Self::insert_unplanned)).
    pub(crate) fn holds_rows(&mut self, collection: &Collection) -> Result<bool> {
        let collection_id: i32 = collection.id.0;
        Ok(diesel::select(diesel::dsl::exists(
            embeddings::table.filter(embeddings::collection_id.eq(collection_id)),
        ))
        .get_result(self.conn)?)
    }

    /// The optimistic upsert of a batch into a collection believed to hold none of its ids:
    /// every row (an `external_id` repeated inside the batch reduced to its last occurrence,
    /// counted as an upsert counts it) is inserted as [`insert_checked`](Self::insert_checked)
    /// inserts, with no comparison with the stored rows. `Ok(Err(taken))` when one of the ids
    /// is taken after all (a unique violation of the `external_id` key): nothing is written,
    /// the transaction is aborted and must roll back (return an error from the unit of work),
    /// and `taken` holds the rows to upsert the usual way
    /// ([`plan_unplanned`](Self::plan_unplanned), then [`apply_upsert`](Self::apply_upsert)).
    ///
    /// # Errors
    /// As [`insert_checked`](Self::insert_checked), but for that conflict.
    pub(crate) fn insert_unplanned(
        &mut self,
        collection: &Collection,
        batch: CheckedBatch,
    ) -> Result<std::result::Result<WriteSummary, TakenIds>> {
        fits_half_index(self.conn, collection, batch.items())?;
        let written = insert_unplanned(self.conn, collection, batch)?;
        if let Ok(summary) = &written {
            self.touched.wrote(collection.id, summary.inserted);
        }
        Ok(written)
    }

    /// [`plan_upsert`](Self::plan_upsert) of the rows an
    /// [`insert_unplanned`](Self::insert_unplanned) gave back.
    pub(crate) fn plan_unplanned(
        &mut self,
        collection: &Collection,
        taken: TakenIds,
    ) -> Result<UpsertPlan> {
        upsert::plan_rows(self.conn, collection, taken.rows)
    }

    /// Inserts new embeddings and updates existing ones (matched by `external_id`).
    ///
    /// When an `external_id` repeats inside the batch, the last occurrence wins and the earlier
    /// ones are dropped (counted in [`WriteSummary::duplicates_dropped`]). Rows whose data did
    /// not change are not rewritten, so re-running an ingest after a crash is cheap.
    ///
    /// # Errors
    /// [`Error::Validation`] listing every bad item; [`Error::NotFound`] when the collection
    /// was dropped.
    pub fn upsert(
        &mut self,
        collection: &Collection,
        items: Vec<NewEmbedding>,
    ) -> Result<WriteSummary> {
        let operation = write_operation("upsert", collection, items.len());
        let summary = validate(collection, items, Duplicates::LastWins)
            .and_then(|batch| self.plan_upsert(collection, batch))
            .and_then(|plan| self.apply_upsert(collection, plan));
        written(&operation, summary)
    }

    /// The first half of an upsert: compares `batch` with the stored rows (reads only).
    pub(crate) fn plan_upsert(
        &mut self,
        collection: &Collection,
        batch: CheckedBatch,
    ) -> Result<UpsertPlan> {
        fits_half_index(self.conn, collection, batch.items())?;
        upsert::plan(self.conn, collection, batch)
    }

    /// The second half of an upsert: writes what [`plan_upsert`](Self::plan_upsert) left.
    pub(crate) fn apply_upsert(
        &mut self,
        collection: &Collection,
        plan: UpsertPlan,
    ) -> Result<WriteSummary> {
        self.touched.rows(collection.id, plan.external_ids());
        let summary = upsert::apply(self.conn, collection, plan)?;
        self.touched
            .wrote(collection.id, summary.inserted + summary.updated);
        Ok(summary)
    }

    /// The stored embeddings with these `external_ids`, in the order asked; ids that do not
    /// exist are left out.
    ///
    /// # Errors
    /// [`Error::Database`] when the query fails.
    pub fn get<S: AsRef<str>>(
        &mut self,
        collection: &Collection,
        external_ids: &[S],
    ) -> Result<Vec<Embedding>> {
        let ids = as_strs(external_ids);
        let found: Vec<EmbeddingRow> = with_external_ids(collection.id, &ids)
            .select(EmbeddingRow::as_select())
            .load(self.conn)?;
        let mut by_id: HashMap<String, Embedding> = found
            .into_iter()
            .map(Embedding::from)
            .map(|row| (row.external_id.clone(), row))
            .collect();
        Ok(ids.iter().filter_map(|id| by_id.remove(*id)).collect())
    }

    /// Which of these `external_ids` the collection holds, in the order asked. Reads only the
    /// unique index's keys, not the rows' vectors.
    ///
    /// # Errors
    /// [`Error::Database`] when the query fails.
    pub fn existing<S: AsRef<str>>(
        &mut self,
        collection: &Collection,
        external_ids: &[S],
    ) -> Result<Vec<String>> {
        let ids = as_strs(external_ids);
        let found: HashSet<String> = with_external_ids(collection.id, &ids)
            .select(embeddings::external_id)
            .load::<String>(self.conn)?
            .into_iter()
            .collect();
        Ok(ids
            .into_iter()
            .filter(|id| found.contains(*id))
            .map(str::to_owned)
            .collect())
    }

    /// Deletes the embeddings with these `external_ids` and returns how many existed.
    ///
    /// # Errors
    /// [`Error::Database`] when the statement fails.
    pub fn delete<S: AsRef<str>>(
        &mut self,
        collection: &Collection,
        external_ids: &[S],
    ) -> Result<u64> {
        let operation = write_operation("delete", collection, external_ids.len());
        let ids = as_strs(external_ids);
        self.touched.rows(collection.id, ids.iter().copied());
        let deleted = diesel::delete(with_external_ids(collection.id, &ids)).execute(self.conn);
        let deleted = operation.finish(deleted.map(|rows| rows as u64).map_err(Error::from))?;
        operation.record("deleted", deleted);
        self.touched.wrote(collection.id, deleted);
        Ok(deleted)
    }

    /// Number of embeddings in the collection.
    ///
    /// # Errors
    /// [`Error::Database`] when the query fails.
    pub fn count(&mut self, collection: &Collection) -> Result<u64> {
        let count: i64 = embeddings::table
            .filter(embeddings::collection_id.eq(collection.id.0))
            .count()
            .get_result(self.conn)?;
        Ok(count.unsigned_abs())
    }
}

/// The ids to look up. One with a NUL byte cannot be stored (validation refuses it), and
/// PostgreSQL refuses it even as a parameter: it is simply not found.
fn as_strs<S: AsRef<str>>(ids: &[S]) -> Vec<&str> {
    ids.iter()
        .map(AsRef::as_ref)
        .filter(|id| !id.contains('\0'))
        .collect()
}

/// Refuses `items` when a dense value lies beyond ±[`HALF_MAX`] and the collection's ANN index
/// stores `halfvec` (a half-quantized index, or any index above 2,000 dimensions): pgvector
/// cannot convert such a value and the statement would fail without saying which item. The
/// index is looked up only when such a value is there, so ordinary batches pay one scan of
/// their values and no query.
fn fits_half_index(
    conn: &mut PgConnection,
    collection: &Collection,
    items: &[NewEmbedding],
) -> Result<()> {
    let misfits = half_misfits(items);
    if misfits.is_empty() || !catalog::ann_on_halfvec(conn, collection)? {
        return Ok(());
    }
    Err(Error::Validation(ValidationError::new(misfits)))
}

fn validate(
    collection: &Collection,
    items: Vec<NewEmbedding>,
    duplicates: Duplicates,
) -> Result<CheckedBatch> {
    EmbeddingBatch { items, duplicates }
        .check(&CollectionRules::of(collection))
        .map_err(|(_, report)| Error::invalid(&report))
}

fn copy_insert(
    conn: &mut PgConnection,
    collection: &Collection,
    batch: CheckedBatch,
) -> Result<WriteSummary> {
    let batch = batch.into_inner();
    let received = batch.items.len();
    let (mut rows, _) = batch.into_rows(collection.id, collection.kind);
    let inserted = insert_rows(conn, collection, &mut rows)?;
    Ok(WriteSummary {
        received,
        inserted,
        ..WriteSummary::default()
    })
}

/// Inserts `rows` (distinct `external_id`s) with one binary `COPY`, or through staging under
/// row-level security; returns how many were written. A taken id fails the whole statement
/// with [`Error::Conflict`].
fn insert_rows(
    conn: &mut PgConnection,
    collection: &Collection,
    rows: &mut [NewEmbeddingRow],
) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    // Every writer takes its row locks (here: unique-index entries of new rows) in one global
    // order — external_id by bytes, which is PostgreSQL's COLLATE "C" for UTF-8 — so that two
    // batches sharing ids in different orders wait for each other instead of deadlocking.
    rows.sort_unstable_by(|a, b| a.external_id.cmp(&b.external_id));
    let path = write_path(conn)?;
    let inserted = if path.secured {
        staged_insert(conn, collection, rows, path.distributed)?
    } else {
        copy_rows(conn, CopyInto::Embeddings, rows)
            .map_err(|error| write_error(error, collection))?
    };
    Ok(inserted as u64)
}

/// An upsert batch that [`insert_unplanned`] could not insert whole: one of its ids was taken.
#[derive(Debug)]
pub(crate) struct TakenIds {
    /// The batch's rows, to plan and apply the usual way.
    rows: UnplannedRows,
}

/// Inserts every row of the upsert `batch` with one `COPY`, as an insert does; the counts are
/// those a planned upsert of the same rows into a collection without them gives. `Ok(Err(_))`
/// when an id is taken (see [`is_taken_external_id`]): the statement failed, nothing is
/// written, the transaction is aborted.
fn insert_unplanned(
    conn: &mut PgConnection,
    collection: &Collection,
    batch: CheckedBatch,
) -> Result<std::result::Result<WriteSummary, TakenIds>> {
    let UnplannedRows {
        mut summary,
        mut rows,
    } = UnplannedRows::of(collection, batch);
    match insert_rows(conn, collection, &mut rows) {
        Ok(inserted) => {
            summary.inserted = inserted;
            Ok(Ok(summary))
        }
        Err(error) if is_taken_external_id(&error, collection) => Ok(Err(TakenIds {
            rows: UnplannedRows { summary, rows },
        })),
        Err(error) => Err(error),
    }
}

/// `insert` for a role under row-level security: `COPY` into the staging table, then one
/// `INSERT … SELECT` that the policy checks row by row (a row for another tenant is refused).
fn staged_insert(
    conn: &mut PgConnection,
    collection: &Collection,
    rows: &[NewEmbeddingRow],
    distributed: bool,
) -> Result<usize> {
    stage(conn, rows)?;
    const INSERT: &str = "INSERT INTO embeddings (collection_id, external_id, embedding, sparse, \
        bits, content, metadata) \
        SELECT $1, external_id, embedding, sparse, bits, content, metadata FROM embedstore_staging \
        ORDER BY external_id COLLATE \"C\"";
    let inserted = if distributed {
        // On Citus a plain INSERT … SELECT reaches the shard as COPY, which PostgreSQL refuses
        // under row-level security; with ON CONFLICT it stays an INSERT. A taken id is then
        // skipped, not refused, so the rows it returns tell (Citus's command count is the rows
        // it sent, not those written): fewer than staged is the conflict a plain insert gets
        // (without naming the id, as PostgreSQL does under row-level security).
        #[derive(QueryableByName)]
        struct Written {
            #[diesel(sql_type = diesel::sql_types::Text)]
            #[expect(dead_code, reason = "only how many rows came back matters")]
            external_id: String,
        }
        diesel::sql_query(format!(
            "{INSERT} ON CONFLICT (collection_id, external_id) DO UPDATE \
             SET external_id = EXCLUDED.external_id WHERE false RETURNING external_id"
        ))
        .bind::<Integer, _>(collection.id.0)
        .load::<Written>(conn)
        .map_err(|error| write_error(error, collection))?
        .len()
    } else {
        diesel::sql_query(INSERT)
            .bind::<Integer, _>(collection.id.0)
            .execute(conn)
            .map_err(|error| write_error(error, collection))?
    };
    if inserted < rows.len() {
        return Err(crate::error::Error::Conflict {
            message: crate::repo::rows::taken_external_id(&collection.name, None),
            constraint: None,
        });
    }
    diesel::sql_query("DROP TABLE embedstore_staging").execute(conn)?;
    Ok(inserted)
}

/// The span of a write (`statement`: `insert`, `upsert`, `delete`, `delete_where`) of
/// `received` items into `collection`: counts only, never an id, vector or metadata value.
pub(crate) fn write_operation(
    statement: &'static str,
    collection: &Collection,
    received: usize,
) -> Operation {
    Operation::start(trace::span!(
        "write",
        statement,
        collection = %collection.name,
        collection_id = collection.id.0,
        received,
        inserted = tracing::field::Empty,
        updated = tracing::field::Empty,
        unchanged = tracing::field::Empty,
        deleted = tracing::field::Empty,
    ))
}

/// Records the rows a write changed and passes its outcome through.
fn written(operation: &Operation, summary: Result<WriteSummary>) -> Result<WriteSummary> {
    if let Ok(summary) = &summary {
        operation.record("inserted", summary.inserted);
        operation.record("updated", summary.updated);
        operation.record("unchanged", summary.unchanged);
    }
    operation.finish(summary)
}
