//! Upserts in two steps that can run apart: [`plan`] compares a batch with the stored rows
//! (a read: unchanged rows are dropped, the rest split into ids nobody holds and rows that
//! differ), [`apply`] writes what is left. `Embeddings::upsert` runs both in one transaction;
//! the bulk ingest plans the next batch on a connection of its own while the writer applies
//! this one.
//!
//! Planning outside the write transaction is as safe as inside it: in READ COMMITTED the
//! comparison reads without locks either way, so a row judged unchanged is an upsert that took
//! effect at the moment of the comparison (a later change by someone else stands, as it
//! would have after a committed upsert); [`apply`] re-checks everything else under locks.

use std::collections::HashMap;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{Bytea, Integer};

use crate::dto::CheckedBatch;
use crate::error::Result;
use crate::models::{Collection, NewEmbeddingRow};
use crate::repo::copy::{CopyInto, copy_rows, stage};
use crate::repo::rows::{
    WriteSummary, taken_external_id, with_external_ids, write_error, write_path,
};
use crate::schema::embeddings;
use crate::vector::VectorValue;

/// A batch compared with the stored rows: what is left to write.
#[derive(Debug)]
pub(crate) struct UpsertPlan {
    /// Counts so far: received, duplicates dropped, unchanged.
    summary: WriteSummary,
    /// Rows whose ids the collection did not hold.
    fresh: Vec<NewEmbeddingRow>,
    /// Rows that differ from the stored ones.
    changed: Vec<NewEmbeddingRow>,
}

impl UpsertPlan {
    /// Whether nothing is left to write (every row was unchanged).
    pub(crate) fn is_empty(&self) -> bool {
        self.fresh.is_empty() && self.changed.is_empty()
    }

    /// What the upsert did when [`is_empty`](Self::is_empty): only unchanged rows.
    pub(crate) fn summary(&self) -> WriteSummary {
        self.summary
    }

    /// The ids that [`apply`] may write (new ones too: someone may insert them meanwhile).
    pub(crate) fn external_ids(&self) -> impl Iterator<Item = &str> {
        self.fresh
            .iter()
            .chain(&self.changed)
            .map(|row| row.external_id.as_str())
    }
}

/// An upsert batch turned into rows (an `external_id` repeated inside it reduced to its last
/// occurrence) and not yet compared with the stored rows: what [`plan_rows`] compares, or what
/// the ingest's optimistic path inserts whole (`Embeddings::insert_unplanned`) into a collection that held
/// no rows — and, should one of the ids be taken after all, gets back to plan.
#[derive(Debug)]
pub(crate) struct UnplannedRows {
    /// Counts so far: received, duplicates dropped.
    pub(super) summary: WriteSummary,
    /// Distinct `external_id`s.
    pub(super) rows: Vec<NewEmbeddingRow>,
}

impl UnplannedRows {
    /// The rows of `batch` for `collection`.
    pub(crate) fn of(collection: &Collection, batch: CheckedBatch) -> Self {
        let batch = batch.into_inner();
        let received = batch.items.len();
        let (rows, duplicates_dropped) = batch.into_rows(collection.id, collection.kind);
        Self {
            summary: WriteSummary {
                received,
                duplicates_dropped,
                ..WriteSummary::default()
            },
            rows,
        }
    }
}

/// Compares `batch` with the rows `collection` holds now: a row whose vector (bit for bit),
/// content and metadata equal the stored ones is unchanged and dropped.
pub(crate) fn plan(
    conn: &mut PgConnection,
    collection: &Collection,
    batch: CheckedBatch,
) -> Result<UpsertPlan> {
    plan_rows(conn, collection, UnplannedRows::of(collection, batch))
}

/// [`plan`] of a batch already turned into rows.
///
/// The stored vectors come back as `vector_send`'s bytes and are compared as they are, without
/// decoding (measured against hashing them on the server: `sha256(vector_send(…))` costs the
/// server 4 µs a row, more than sending the 1.5 KB of a 384-dimension vector).
pub(crate) fn plan_rows(
    conn: &mut PgConnection,
    collection: &Collection,
    unplanned: UnplannedRows,
) -> Result<UpsertPlan> {
    let UnplannedRows { mut summary, rows } = unplanned;
    let ids: Vec<&str> = rows.iter().map(|row| row.external_id.as_str()).collect();
    let stored: HashMap<String, (Vec<u8>, Option<String>, serde_json::Value)> = if ids.is_empty() {
        HashMap::new()
    } else {
        with_external_ids(collection.id, &ids)
            .select((
                embeddings::external_id,
                // The collection's own column in its binary output (`vector_send(embedding)`,
                // …), from a closed set: what `same_vector` compares on the client.
                diesel::dsl::sql::<Bytea>(&collection.search_expression().send_sql(None)),
                embeddings::content,
                embeddings::metadata,
            ))
            .load::<(String, Vec<u8>, Option<String>, serde_json::Value)>(conn)?
            .into_iter()
            .map(|(id, digest, content, metadata)| (id, (digest, content, metadata)))
            .collect()
    };
    let (mut fresh, mut changed) = (Vec::new(), Vec::new());
    for row in rows {
        match stored.get(&row.external_id) {
            None => fresh.push(row),
            Some((vector, content, metadata))
                if *content == row.content
                    && *metadata == row.metadata
                    && same_vector(vector, &row.vector) =>
            {
                summary.unchanged += 1;
            }
            Some(_) => changed.push(row),
        }
    }
    Ok(UpsertPlan {
        summary,
        fresh,
        changed,
    })
}

/// Whether `sent` (the stored column's binary output: `vector_send`, `sparsevec_send`,
/// `varbit_send`) holds exactly `value`, bit for bit.
pub(crate) fn same_vector(sent: &[u8], value: &VectorValue) -> bool {
    let VectorValue::Dense(values) = value else {
        let mut encoded = Vec::with_capacity(value.send_len());
        return value.write_send(&mut encoded).is_ok() && encoded == sent;
    };
    let Some((header, floats)) = sent.split_at_checked(4) else {
        return false;
    };
    let dimension = u16::from_be_bytes([header[0], header[1]]);
    usize::from(dimension) == values.len()
        && floats.len() == 4 * values.len()
        && floats.chunks_exact(4).zip(values).all(|(bytes, value)| {
            u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) == value.to_bits()
        })
}

/// Writes what [`plan`] left: all-new rows with the direct `COPY` when that is the whole write,
/// otherwise everything through the staging table (see [`staged_write`]).
pub(crate) fn apply(
    conn: &mut PgConnection,
    collection: &Collection,
    plan: UpsertPlan,
) -> Result<WriteSummary> {
    let UpsertPlan {
        mut summary,
        mut fresh,
        changed,
    } = plan;
    if fresh.is_empty() && changed.is_empty() {
        return Ok(summary);
    }
    // Asked once: it decides both whether the direct COPY may run and whether the staged
    // write must look for ids another tenant holds.
    let secured = write_path(conn)?.secured;
    // Each write locks its rows in one sorted pass (see staged_write): the direct COPY only
    // when it is the whole write, otherwise everything takes the staged path together.
    let rows = if changed.is_empty() {
        match copy_fresh(conn, collection, fresh, secured)? {
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
    let (inserted, updated) = staged_write(conn, collection, &rows, secured)?;
    summary.inserted += inserted;
    summary.updated += updated;
    summary.unchanged += (rows.len() as u64).saturating_sub(inserted + updated);
    Ok(summary)
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
/// Returns the rows inserted and updated.
fn staged_write(
    conn: &mut PgConnection,
    collection: &Collection,
    rows: &[NewEmbeddingRow],
    secured: bool,
) -> Result<(u64, u64)> {
    stage(conn, rows)?;
    let inserted = diesel::sql_query(
        "WITH created AS ( \
            INSERT INTO embeddings AS e (collection_id, external_id, embedding, sparse, bits, content, metadata) \
            SELECT $1, external_id, embedding, sparse, bits, content, metadata FROM embedstore_staging \
             ORDER BY external_id COLLATE \"C\" \
            ON CONFLICT (collection_id, external_id) DO UPDATE SET external_id = EXCLUDED.external_id \
             WHERE false \
            RETURNING e.external_id) \
         DELETE FROM embedstore_staging s USING created WHERE s.external_id = created.external_id",
    )
    .bind::<Integer, _>(collection.id.0)
    .execute(conn)
    .map_err(|error| write_error(error, collection))?;
    if secured {
        refuse_hidden_conflicts(conn, collection)?;
    }
    let updated = diesel::sql_query(
        "UPDATE embeddings e \
            SET embedding = s.embedding, sparse = s.sparse, bits = s.bits, content = s.content, \
                metadata = s.metadata, updated_at = now() \
           FROM embedstore_staging s \
          WHERE e.collection_id = $1 AND e.external_id = s.external_id \
            AND (e.embedding IS DISTINCT FROM s.embedding \
                 OR e.sparse IS DISTINCT FROM s.sparse \
                 OR e.bits IS DISTINCT FROM s.bits \
                 OR e.content IS DISTINCT FROM s.content \
                 OR e.metadata IS DISTINCT FROM s.metadata)",
    )
    .bind::<Integer, _>(collection.id.0)
    .execute(conn)
    .map_err(|error| write_error(error, collection))?;
    // Dropped now so that a second upsert in the same transaction can stage again.
    diesel::sql_query("DROP TABLE embedstore_staging").execute(conn)?;
    Ok((inserted as u64, updated as u64))
}

/// Under row-level security (the caller checks), refuses the write when a staged id is taken by a row this role
/// cannot see (another tenant's). PostgreSQL 15.20 and its peers refuse step 1 of
/// [`staged_write`] themselves (the `ON CONFLICT DO UPDATE` meets the row's policy); older
/// minors (15.18 seen) let it pass and the row would be counted as unchanged. The refusal is
/// the conflict a direct insert of such an id gets, without naming the id.
fn refuse_hidden_conflicts(conn: &mut PgConnection, collection: &Collection) -> Result<()> {
    #[derive(QueryableByName)]
    struct Hidden {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        hidden: i64,
    }
    // The staged ids are distinct, so those this role cannot see are the staged ones less the
    // visible matches. Uncorrelated, so that Citus can plan it (it refuses a correlated
    // subquery joining the local staging table with the distributed embeddings).
    let found: Hidden = diesel::sql_query(
        "SELECT (SELECT count(DISTINCT external_id) FROM embedstore_staging) \
              - (SELECT count(*) FROM embeddings e WHERE e.collection_id = $1 \
                 AND e.external_id IN (SELECT external_id FROM embedstore_staging)) AS hidden",
    )
    .bind::<Integer, _>(collection.id.0)
    .get_result(conn)?;
    if found.hidden == 0 {
        return Ok(());
    }
    Err(crate::error::Error::Conflict {
        message: taken_external_id(&collection.name, None),
        constraint: None,
    })
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
/// undoes just this step. Under row-level security (`secured`) PostgreSQL refuses `COPY`.
fn copy_fresh(
    conn: &mut PgConnection,
    collection: &Collection,
    mut fresh: Vec<NewEmbeddingRow>,
    secured: bool,
) -> Result<Fresh> {
    if fresh.is_empty() {
        return Ok(Fresh::Inserted(0));
    }
    if secured {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::{SparseVector, write_dense};

    fn dense(values: &[f32]) -> VectorValue {
        VectorValue::Dense(values.to_vec())
    }

    #[test]
    fn vectors_compare_with_pgvectors_binary_layout_bit_for_bit() {
        // vector_send of [1, -0.0]: dimension 2, zero, then the big-endian floats.
        let sent = [0, 2, 0, 0, 0x3f, 0x80, 0, 0, 0x80, 0, 0, 0];
        assert!(same_vector(&sent, &dense(&[1.0, -0.0])));
        assert!(!same_vector(&sent, &dense(&[1.0, 0.0])));
        assert!(!same_vector(&sent, &dense(&[1.0])));
        assert!(!same_vector(&sent, &dense(&[1.0, -0.0, 0.0])));
        assert!(!same_vector(&sent[..8], &dense(&[1.0, -0.0])));
        assert!(!same_vector(&[], &dense(&[])));
        let mut written = Vec::new();
        write_dense(&mut written, &[0.1, f32::MAX, -1e-45]).unwrap();
        assert!(same_vector(&written, &dense(&[0.1, f32::MAX, -1e-45])));
        // sparsevec_send of {1:1,9:2}/20 as the server wrote it (0-based indices 1 and 9).
        let sparse = [
            0, 0, 0, 20, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9, 0x3f, 0x80, 0, 0, 0x40, 0,
            0, 0,
        ];
        let value = VectorValue::Sparse(SparseVector::new(20, vec![1, 9], vec![1.0, 2.0]));
        assert!(same_vector(&sparse, &value));
        assert!(!same_vector(&sparse[..24], &value));
        // varbit_send of B'00100101'.
        let bits = VectorValue::Bit("00100101".parse().unwrap());
        assert!(same_vector(&[0, 0, 0, 8, 0x25], &bits));
        assert!(!same_vector(&[0, 0, 0, 8, 0x24], &bits));
    }
}
