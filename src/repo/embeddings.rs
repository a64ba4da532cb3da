use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::Integer;
use serde::Serialize;

use crate::dto::{CheckedBatch, CollectionRules, Duplicates, EmbeddingBatch, NewEmbedding};
use crate::error::{Error, Result};
use crate::models::{Collection, CollectionId, Embedding, NewEmbeddingRow};
use crate::repo::copy::{CopyInto, copy_rows};
use crate::schema::embeddings;

/// Embeddings inside a unit of work.
pub struct Embeddings<'u> {
    pub(crate) conn: &'u mut PgConnection,
}

/// What a batch write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct WriteSummary {
    /// Items in the batch as given.
    pub received: usize,
    /// Earlier occurrences of a repeated `external_id` that the batch dropped (upserts only).
    pub duplicates_dropped: usize,
    /// Rows created.
    pub inserted: u64,
    /// Existing rows whose vector, content or metadata changed.
    pub updated: u64,
    /// Existing rows the batch left exactly as they were (re-ingest of the same data).
    pub unchanged: u64,
}

impl<'u> Embeddings<'u> {
    pub(crate) fn new(conn: &'u mut PgConnection) -> Self {
        Self { conn }
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
        let batch = validate(collection, items, Duplicates::Reject)?;
        self.insert_checked(collection, batch)
    }

    /// [`insert`](Self::insert) of a batch already checked against `collection`'s rules (with
    /// [`Duplicates::Reject`]): the bulk ingest checks off the write path, and only once.
    pub(crate) fn insert_checked(
        &mut self,
        collection: &Collection,
        batch: CheckedBatch,
    ) -> Result<WriteSummary> {
        copy_insert(self.conn, collection, batch)
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
        let batch = validate(collection, items, Duplicates::LastWins)?;
        self.upsert_checked(collection, batch)
    }

    /// [`upsert`](Self::upsert) of a batch already checked against `collection`'s rules.
    pub(crate) fn upsert_checked(
        &mut self,
        collection: &Collection,
        batch: CheckedBatch,
    ) -> Result<WriteSummary> {
        staged_upsert(self.conn, collection, batch)
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
        let found: Vec<Embedding> = with_external_ids(collection.id, &ids)
            .select(Embedding::as_select())
            .load(self.conn)?;
        let mut by_id: HashMap<String, Embedding> = found
            .into_iter()
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
        let ids = as_strs(external_ids);
        let deleted = diesel::delete(with_external_ids(collection.id, &ids)).execute(self.conn)?;
        Ok(deleted as u64)
    }

    /// Number of embeddings in the collection.
    ///
    /// # Errors
    /// [`Error::Database`] when the query fails.
    pub fn count(&mut self, collection: &Collection) -> Result<u64> {
        let count: i64 = embeddings::table
            .filter(embeddings::collection_id.eq(collection.id))
            .count()
            .get_result(self.conn)?;
        Ok(count.unsigned_abs())
    }
}

/// The rows of `collection` with these external ids: one array parameter, however many ids,
/// so the 65,535 bind-parameter limit never applies.
#[diesel::dsl::auto_type(no_type_alias)]
fn with_external_ids<'a>(collection: CollectionId, ids: &'a [&'a str]) -> _ {
    embeddings::table
        .filter(embeddings::collection_id.eq(collection))
        .filter(embeddings::external_id.eq_any(ids))
}

/// The ids to look up. One with a NUL byte cannot be stored (validation refuses it), and
/// PostgreSQL refuses it even as a parameter: it is simply not found.
fn as_strs<S: AsRef<str>>(ids: &[S]) -> Vec<&str> {
    ids.iter()
        .map(AsRef::as_ref)
        .filter(|id| !id.contains('\0'))
        .collect()
}

fn validate(
    collection: &Collection,
    items: Vec<NewEmbedding>,
    duplicates: Duplicates,
) -> Result<CheckedBatch> {
    EmbeddingBatch { items, duplicates }
        .check(&CollectionRules::of(collection))
        .map_err(|(_, report)| Error::from(report))
}

fn copy_insert(
    conn: &mut PgConnection,
    collection: &Collection,
    batch: CheckedBatch,
) -> Result<WriteSummary> {
    let batch = batch.into_inner();
    let received = batch.items.len();
    let (mut rows, _) = batch.into_rows(collection.id);
    if rows.is_empty() {
        return Ok(WriteSummary::default());
    }
    // Every writer takes its row locks (here: unique-index entries of new rows) in one global
    // order — external_id by bytes, which is PostgreSQL's COLLATE "C" for UTF-8 — so that two
    // batches sharing ids in different orders wait for each other instead of deadlocking.
    rows.sort_unstable_by(|a, b| a.external_id.cmp(&b.external_id));
    let inserted = if row_security_active(conn)? {
        staged_insert(conn, collection, &rows)?
    } else {
        copy_rows(conn, CopyInto::Embeddings, &rows)
            .map_err(|error| write_error(error, collection))?
    };
    Ok(WriteSummary {
        received,
        inserted: inserted as u64,
        ..WriteSummary::default()
    })
}

#[derive(QueryableByName)]
struct RowSecurity {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    active: bool,
}

/// Whether row-level security applies to this role on `embeddings` (then PostgreSQL refuses
/// `COPY … FROM` into it). Owners and superusers bypass it and keep the direct `COPY`.
fn row_security_active(conn: &mut PgConnection) -> Result<bool> {
    let security: RowSecurity =
        diesel::sql_query("SELECT row_security_active('embeddings') AS active").get_result(conn)?;
    Ok(security.active)
}

/// `insert` for a role under row-level security: `COPY` into the staging table, then one
/// `INSERT … SELECT` that the policy checks row by row (a row for another tenant is refused).
fn staged_insert(
    conn: &mut PgConnection,
    collection: &Collection,
    rows: &[NewEmbeddingRow],
) -> Result<usize> {
    stage(conn, rows)?;
    let inserted = diesel::sql_query(
        "INSERT INTO embeddings (collection_id, external_id, embedding, content, metadata) \
         SELECT $1, external_id, embedding, content, metadata FROM embedstore_staging \
         ORDER BY external_id COLLATE \"C\"",
    )
    .bind::<Integer, _>(collection.id.0)
    .execute(conn)
    .map_err(|error| write_error(error, collection))?;
    diesel::sql_query("DROP TABLE embedstore_staging").execute(conn)?;
    Ok(inserted)
}

diesel::table! {
    use diesel::sql_types::*;
    use pgvector::sql_types::*;

    /// Per-transaction staging table for upserts (`CREATE TEMP TABLE … ON COMMIT DROP`).
    embedstore_staging (external_id) {
        external_id -> Text,
        embedding -> Vector,
        content -> Nullable<Text>,
        metadata -> Jsonb,
    }
}

/// Binary `COPY` into a temporary staging table, then two statements that take every row lock
/// in one global order (external_id by bytes, `COLLATE "C"`), so overlapping upserts from
/// concurrent writers wait instead of deadlocking, and whose counts stay exact under
/// concurrency:
///
/// 1. `INSERT … ON CONFLICT DO UPDATE … WHERE false`, in that order: inserts the new ids and
///    locks the existing ones without changing them (PostgreSQL locks a conflicting row even
///    when the `WHERE` is false). Its `RETURNING` holds exactly the rows this statement
///    created — also when it first waited for a concurrent writer of the same id, which a
///    check against the statement's snapshot cannot tell. Those are removed from staging.
/// 2. `UPDATE` of what remains where the data differs. In READ COMMITTED this statement sees
///    rows that concurrent writers committed meanwhile; every row it touches is already locked
///    by step 1, so it waits for nobody.
///
/// (`RETURNING xmax`, the usual insert-or-update test, is refused on partitioned tables.)
fn staged_upsert(
    conn: &mut PgConnection,
    collection: &Collection,
    batch: CheckedBatch,
) -> Result<WriteSummary> {
    let batch = batch.into_inner();
    let received = batch.items.len();
    let (rows, duplicates_dropped) = batch.into_rows(collection.id);
    if rows.is_empty() {
        return Ok(WriteSummary::default());
    }
    let mut summary = WriteSummary {
        received,
        duplicates_dropped,
        ..WriteSummary::default()
    };
    // Compare with what is stored first: unchanged rows are neither staged nor locked (a
    // re-run of an ingest reads instead of writing), and ids nobody holds go in with the
    // direct COPY.
    let (mut fresh, unchanged, changed) = compare_with_stored(conn, collection, rows)?;
    summary.unchanged = unchanged;
    // Each write locks its rows in one sorted pass (see the function's docs): the direct COPY
    // only when it is the whole write, otherwise everything takes the staged path together.
    let rows = if changed.is_empty() {
        match copy_fresh(conn, collection, fresh)? {
            Fresh::Inserted(count) => {
                summary.inserted = count;
                Vec::new()
            }
            Fresh::Taken(fresh) => fresh,
        }
    } else {
        fresh.extend(changed);
        fresh
    };
    if rows.is_empty() {
        return Ok(summary);
    }
    stage(conn, &rows)?;
    let inserted = diesel::sql_query(
        "WITH created AS ( \
            INSERT INTO embeddings AS e (collection_id, external_id, embedding, content, metadata) \
            SELECT $1, external_id, embedding, content, metadata FROM embedstore_staging \
             ORDER BY external_id COLLATE \"C\" \
            ON CONFLICT (collection_id, external_id) DO UPDATE SET external_id = EXCLUDED.external_id \
             WHERE false \
            RETURNING e.external_id) \
         DELETE FROM embedstore_staging s USING created WHERE s.external_id = created.external_id",
    )
    .bind::<Integer, _>(collection.id.0)
    .execute(conn)
    .map_err(|error| write_error(error, collection))?;
    let updated = diesel::sql_query(
        "UPDATE embeddings e \
            SET embedding = s.embedding, content = s.content, metadata = s.metadata \
           FROM embedstore_staging s \
          WHERE e.collection_id = $1 AND e.external_id = s.external_id \
            AND (e.embedding IS DISTINCT FROM s.embedding \
                 OR e.content IS DISTINCT FROM s.content \
                 OR e.metadata IS DISTINCT FROM s.metadata)",
    )
    .bind::<Integer, _>(collection.id.0)
    .execute(conn)
    .map_err(|error| write_error(error, collection))?;
    // Dropped now so that a second upsert in the same transaction can stage again.
    diesel::sql_query("DROP TABLE embedstore_staging").execute(conn)?;
    let (inserted, updated) = (inserted as u64, updated as u64);
    summary.inserted += inserted;
    summary.updated += updated;
    summary.unchanged += (rows.len() as u64).saturating_sub(inserted + updated);
    Ok(summary)
}

/// Splits `rows` by what the collection holds now: ids it does not hold, the number of rows
/// identical to the stored ones (vector bits, content, metadata), and rows that differ.
fn compare_with_stored(
    conn: &mut PgConnection,
    collection: &Collection,
    rows: Vec<NewEmbeddingRow>,
) -> Result<(Vec<NewEmbeddingRow>, u64, Vec<NewEmbeddingRow>)> {
    let ids: Vec<&str> = rows.iter().map(|row| row.external_id.as_str()).collect();
    let stored: HashMap<String, (pgvector::Vector, Option<String>, serde_json::Value)> =
        with_external_ids(collection.id, &ids)
            .select((
                embeddings::external_id,
                embeddings::embedding,
                embeddings::content,
                embeddings::metadata,
            ))
            .load::<(String, pgvector::Vector, Option<String>, serde_json::Value)>(conn)?
            .into_iter()
            .map(|(id, vector, content, metadata)| (id, (vector, content, metadata)))
            .collect();
    let (mut fresh, mut changed, mut unchanged) = (Vec::new(), Vec::new(), 0);
    for row in rows {
        match stored.get(&row.external_id) {
            None => fresh.push(row),
            Some((vector, content, metadata))
                if same_bits(vector.as_slice(), row.embedding.as_slice())
                    && *content == row.content
                    && *metadata == row.metadata =>
            {
                unchanged += 1;
            }
            Some(_) => changed.push(row),
        }
    }
    Ok((fresh, unchanged, changed))
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// What became of the rows no one held when compared.
enum Fresh {
    /// Written by the direct COPY.
    Inserted(u64),
    /// Not written: another writer inserted some of them meanwhile, or row-level security
    /// forbids COPY; they take the staged path.
    Taken(Vec<NewEmbeddingRow>),
}

/// The direct binary COPY of rows whose ids nobody held, in external_id order like every
/// write, inside a savepoint: a concurrent writer's insert of one of them (a unique violation)
/// undoes just this step.
fn copy_fresh(
    conn: &mut PgConnection,
    collection: &Collection,
    mut fresh: Vec<NewEmbeddingRow>,
) -> Result<Fresh> {
    use diesel::connection::SimpleConnection;
    if fresh.is_empty() {
        return Ok(Fresh::Inserted(0));
    }
    if row_security_active(conn)? {
        return Ok(Fresh::Taken(fresh));
    }
    fresh.sort_unstable_by(|a, b| a.external_id.cmp(&b.external_id));
    conn.batch_execute("SAVEPOINT embedstore_fresh")?;
    match copy_rows(conn, CopyInto::Embeddings, &fresh) {
        Ok(inserted) => {
            conn.batch_execute("RELEASE SAVEPOINT embedstore_fresh")?;
            Ok(Fresh::Inserted(inserted as u64))
        }
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            conn.batch_execute(
                "ROLLBACK TO SAVEPOINT embedstore_fresh; RELEASE SAVEPOINT embedstore_fresh",
            )?;
            Ok(Fresh::Taken(fresh))
        }
        Err(other) => Err(write_error(other, collection)),
    }
}

/// Binary `COPY` of `rows` into a fresh per-transaction staging table; the caller drops it when
/// done, so that a second write in the same transaction can stage again.
fn stage(conn: &mut PgConnection, rows: &[NewEmbeddingRow]) -> Result<()> {
    diesel::sql_query(
        "CREATE TEMP TABLE embedstore_staging (external_id text NOT NULL, embedding vector NOT NULL, \
         content text, metadata jsonb NOT NULL) ON COMMIT DROP",
    )
    .execute(conn)?;
    copy_rows(conn, CopyInto::Staging, rows)?;
    Ok(())
}

/// Gives write failures the most useful variant: a taken `external_id` is a conflict, a
/// missing partition means the collection was dropped meanwhile.
fn write_error(error: DieselError, collection: &Collection) -> Error {
    match &error {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => Error::Conflict {
            message: format!(
                "an external_id already exists in collection {} ({})",
                crate::error::bounded(&collection.name),
                info.details()
                    .unwrap_or("")
                    .trim_end_matches('.')
                    .to_lowercase()
            ),
            constraint: info.constraint_name().map(str::to_owned),
        },
        // "No partition of relation embeddings found for row": SQLSTATE 23514 without a
        // constraint, reported against the parent table — the collection's partition is gone.
        DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, info)
            if info.constraint_name().is_none() && info.table_name() == Some("embeddings") =>
        {
            Error::not_found("collection", collection.name.clone())
        }
        _ => Error::from(error),
    }
}
