//! The payload indexes' lifecycle, [`PayloadIndexes`]: build a btree on one metadata field's typed
//! value or a GIN index on all of `metadata`, list and drop them. The SQL it runs is in
//! `repo/payload_index.rs` and `repo/index_build.rs`.

use diesel::PgConnection;
use serde::Serialize;
use tracing::Span;

use crate::dto::IndexSpec;
use crate::error::{Error, Result};
use crate::filter::{FieldPath, Filter, PayloadKind};
use crate::models::Collection;
use crate::repo::collections::{ensure_partition, payload_prefix};
use crate::repo::index_build::{drop_index_concurrently, run_build};
use crate::repo::payload_index;
use crate::store::Store;
use crate::trace;

/// A payload index: a btree on one metadata field's typed value, or a GIN index on the whole
/// metadata, so that filters on it are cheap to evaluate exactly.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PayloadIndex {
    /// Catalog id (part of the index name); what [`PayloadIndexes::drop`] takes.
    pub id: i32,
    /// The field, in filter path syntax (`a.b`); empty for a GIN index.
    pub field: String,
    /// The field's type, or `None` for a GIN index on all of `metadata`.
    pub kind: Option<PayloadKind>,
    /// The index's name (`embeddings_<collection id>_payload_<id>`).
    pub name: String,
    /// False while a concurrent build runs, or after one failed.
    pub valid: bool,
    /// On-disk size in bytes.
    pub size_bytes: u64,
}

/// One collection's payload indexes, from [`Indexes::payload`](crate::Indexes::payload):
/// btree indexes on one metadata field's typed value, and the GIN index on all of `metadata`.
///
/// # Example
/// ```no_run
/// # fn main() -> embedstore::Result<()> {
/// use embedstore::{FieldPath, PayloadKind};
///
/// let store = embedstore::Store::from_env()?;
/// let docs = store.collection("docs")?;
/// let payload = store.indexes(&docs).payload();
/// payload.create(&FieldPath::parse("lang")?, PayloadKind::Keyword)?;
/// for index in payload.list()? {
///     println!("{} {} valid={}", index.id, index.field, index.valid);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct PayloadIndexes<'s> {
    store: &'s Store,
    collection: &'s Collection,
}

impl<'s> PayloadIndexes<'s> {
    pub(super) fn new(store: &'s Store, collection: &'s Collection) -> Self {
        Self { store, collection }
    }

    /// Builds a btree payload index on `field`'s values of type `kind`
    /// (`CREATE INDEX CONCURRENTLY`), then refreshes the collection's statistics so the
    /// planner knows the field's distribution. Filters comparing that field with values of
    /// that type (`keyword`: strings; `integer`/`float`: numbers; `bool`; `timestamp`: RFC 3339
    /// strings in range comparisons) use it, and the search planner counts their matches to
    /// choose an exact scan when few rows match.
    ///
    /// # Errors
    /// [`Error::Validation`] for a bad field path; [`Error::Conflict`] when the same index
    /// exists; [`Error::NotFound`] for a dropped collection; [`Error::Database`] when the build
    /// fails (its catalog row and invalid index are removed).
    pub fn create(&self, field: &FieldPath, kind: PayloadKind) -> Result<PayloadIndex> {
        // The field is checked inside the span, so a refused one is recorded too.
        let check = || Filter::exists(field.clone()).check().map_err(Error::from);
        self.build(field.segments().to_vec(), Some(kind), check)
    }

    /// Builds a GIN index (`jsonb_path_ops`) on the collection's whole `metadata`: it serves
    /// `$eq` on scalar values and `$contains` on every field without a btree payload index.
    ///
    /// # Errors
    /// As [`PayloadIndexes::create`].
    ///
    /// # Example
    /// ```no_run
    /// # fn main() -> embedstore::Result<()> {
    /// let store = embedstore::Store::from_env()?;
    /// let docs = store.collection("docs")?;
    /// let gin = store.indexes(&docs).payload().create_metadata()?;
    /// assert!(gin.kind.is_none());
    /// # Ok(()) }
    /// ```
    pub fn create_metadata(&self) -> Result<PayloadIndex> {
        self.build(Vec::new(), None, || Ok(()))
    }

    /// The collection's payload indexes, in creation order.
    ///
    /// # Errors
    /// [`Error::NotFound`] for a dropped collection; [`Error::Database`] otherwise.
    pub fn list(&self) -> Result<Vec<PayloadIndex>> {
        let mut conn = self.store.connection()?;
        ensure_partition(&mut conn, self.collection)?;
        list_payload(&mut conn, self.collection)
    }

    /// Drops the payload index with catalog id `id` ([`PayloadIndex::id`], `DROP INDEX
    /// CONCURRENTLY`); returns whether it existed.
    ///
    /// # Errors
    /// [`Error::Database`] when the server refuses.
    ///
    /// # Example
    /// ```no_run
    /// # fn main() -> embedstore::Result<()> {
    /// let store = embedstore::Store::from_env()?;
    /// let docs = store.collection("docs")?;
    /// let payload = store.indexes(&docs).payload();
    /// for index in payload.list()?.into_iter().filter(|index| !index.valid) {
    ///     payload.drop(index.id)?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn drop(&self, id: i32) -> Result<bool> {
        let (store, collection) = (self.store, self.collection);
        trace::traced(span("drop", collection, None), |_| {
            let mut conn = store.connection()?;
            let name = format!("{}{id}", payload_prefix(collection));
            drop_index_concurrently(&mut conn, &name)?;
            let deleted = payload_index::delete_of(&mut conn, collection, id)?;
            store.forget_indexes(collection);
            Ok(deleted)
        })
    }

    /// Creates the index in a span that names its kind, never its field (the metadata's
    /// shape is the caller's).
    fn build(
        &self,
        field: Vec<String>,
        kind: Option<PayloadKind>,
        check: impl FnOnce() -> Result<()>,
    ) -> Result<PayloadIndex> {
        let (store, collection) = (self.store, self.collection);
        let kind_name = kind.map_or("gin", PayloadKind::as_str);
        trace::traced(span("create", collection, Some(kind_name)), |_| {
            check()?;
            let mut conn = store.connection()?;
            ensure_partition(&mut conn, collection)?;
            let id = payload_index::insert(&mut conn, collection, &field, kind_name)?;
            let name = format!("{}{id}", payload_prefix(collection));
            let ddl = payload_index::ddl(&mut conn, collection, &name, &field, kind)?;
            let built = run_build(&mut conn, &IndexSpec::hnsw(), &ddl)
                .and_then(|()| payload_index::analyze(&mut conn, collection));
            if let Err(error) = built {
                drop_index_concurrently(&mut conn, &name)?;
                payload_index::delete(&mut conn, id)?;
                return Err(error);
            }
            store.forget_indexes(collection);
            list_payload(&mut conn, collection)?
                .into_iter()
                .find(|index| index.id == id)
                .ok_or_else(|| Error::not_found("payload index", name))
        })
    }
}

/// The collection's payload indexes as the public type, in creation order.
fn list_payload(conn: &mut PgConnection, collection: &Collection) -> Result<Vec<PayloadIndex>> {
    let rows = payload_index::list(conn, collection)?;
    Ok(rows
        .into_iter()
        .map(|row| PayloadIndex {
            name: format!("{}{}", payload_prefix(collection), row.id),
            id: row.id,
            field: FieldPath::from_segments(row.field).to_string(),
            kind: row.kind.parse().ok(),
            valid: row.valid,
            size_bytes: row.size_bytes.unsigned_abs(),
        })
        .collect())
}

/// The span of a payload index operation (`create`, `drop`) on `collection`.
fn span(action: &'static str, collection: &Collection, kind: Option<&'static str>) -> Span {
    trace::span!(
        "payload_index",
        action,
        collection = %collection.name,
        collection_id = collection.id.0,
        kind,
    )
}
