//! The per-transaction staging table `embedstore_staging`: what the binary `COPY` (`copy.rs`
//! fills it) and the staged writes (`upsert.rs`; `insert` under row-level security in
//! `embeddings.rs`) share — its diesel declaration and its `CREATE TEMP TABLE`.
//!
//! A leaf of `repo/`: `copy` reaches the table through here, never through `upsert`.

use diesel::prelude::*;

use crate::error::Result;

diesel::table! {
    use diesel::sql_types::*;
    use pgvector::sql_types::*;

    /// Per-transaction staging table for upserts (`CREATE TEMP TABLE … ON COMMIT DROP`).
    embedstore_staging (external_id) {
        external_id -> Text,
        embedding -> Nullable<Vector>,
        sparse -> Nullable<SparseVector>,
        bits -> Nullable<crate::vector::sql_types::Varbit>,
        content -> Nullable<Text>,
        metadata -> Jsonb,
    }
}

/// Creates the empty staging table, dropped at commit at the latest; the writers drop it as
/// soon as they are done, so that a second write in the same transaction can stage again.
pub(super) fn create(conn: &mut PgConnection) -> Result<()> {
    diesel::sql_query(
        "CREATE TEMP TABLE embedstore_staging (external_id text NOT NULL, embedding vector, \
         sparse sparsevec, bits bit varying, content text, metadata jsonb NOT NULL) ON COMMIT DROP",
    )
    .execute(conn)?;
    Ok(())
}
