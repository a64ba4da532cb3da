//! The full-text index's lifecycle, [`TextIndex`]: create, swap-rebuild (e.g. to change the text
//! search configuration), drop and inspect a collection's GIN index on
//! `to_tsvector(config, coalesce(content, ''))`. The SQL is in `repo/text_index.rs`.

use serde::Serialize;

use crate::dto::IndexSpec;
use crate::error::{Error, Result};
use crate::models::Collection;
use crate::repo::ann_index::index_state;
use crate::repo::collections::ensure_partition;
use crate::repo::index_build::{drop_index_concurrently, run_build};
use crate::repo::text_index::{self, text_name};
use crate::store::Store;
use crate::trace;

/// The text search configuration text indexes use unless told otherwise.
pub const DEFAULT_TEXT_CONFIG: &str = "simple";

/// What a collection's full-text index looks like now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TextIndexStatus {
    /// The collection's name.
    pub collection: String,
    /// The index's name (`embeddings_<id>_text`); when `exists` is false, the name an index
    /// would be given (no index of that name exists).
    pub name: String,
    /// Whether the index exists at all (valid or not).
    pub exists: bool,
    /// Whether the server may use it: false after a failed or interrupted concurrent build.
    pub valid: bool,
    /// Its text search configuration (e.g. `english`), when it exists.
    pub config: Option<String>,
    /// On-disk size in bytes.
    pub size_bytes: u64,
    /// Rows in the collection now.
    pub rows: u64,
}

/// A collection's full-text index, from [`Indexes::text`](crate::Indexes::text): the GIN
/// index on `to_tsvector(config, coalesce(content, ''))` that text and hybrid searches use.
///
/// # Example
/// ```no_run
/// # fn main() -> embedstore::Result<()> {
/// let store = embedstore::Store::from_env()?;
/// let docs = store.collection("docs")?;
/// let text = store.indexes(&docs).text();
/// if text.status()?.exists {
///     text.rebuild(Some("english"))?;
/// } else {
///     text.create("english")?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TextIndex<'s> {
    store: &'s Store,
    collection: &'s Collection,
}

impl<'s> TextIndex<'s> {
    pub(super) fn new(store: &'s Store, collection: &'s Collection) -> Self {
        Self { store, collection }
    }

    /// Builds the collection's full-text index (GIN, `CREATE INDEX CONCURRENTLY`: writes
    /// continue) with the text search configuration `config` — one of PostgreSQL's own
    /// (`simple`, `english`, `german`, …, as `pg_catalog.pg_ts_config` lists them). Text
    /// searches then use this configuration and the index; without one they use `simple` and
    /// scan the rows. An invalid index left by an earlier failed build is dropped first.
    ///
    /// # Errors
    /// [`Error::Validation`] (path `config`) for an unknown configuration, naming the known
    /// ones; [`Error::Conflict`] when a valid text index exists (drop or rebuild it);
    /// [`Error::NotFound`] when the collection was dropped; [`Error::Database`] when the build
    /// fails.
    pub fn create(&self, config: &str) -> Result<TextIndexStatus> {
        trace::traced(self.span("create"), |_| self.build(config))
    }

    fn build(&self, config: &str) -> Result<TextIndexStatus> {
        let collection = self.collection;
        let mut conn = self.store.connection()?;
        ensure_partition(&mut conn, collection)?;
        let config = known_config(&mut conn, config)?;
        let name = text_name(collection);
        match index_state(&mut conn, &name)? {
            Some(true) => {
                return Err(Error::Conflict {
                    message: format!(
                        "collection {:?} already has a text index: drop or rebuild it",
                        collection.name
                    ),
                    constraint: None,
                });
            }
            Some(false) => drop_index_concurrently(&mut conn, &name)?,
            None => {}
        }
        let ddl = text_index::ddl(&mut conn, collection, &config, &name)?;
        run_build(&mut conn, &IndexSpec::hnsw(), &ddl)?;
        crate::repo::stats::analyze(&mut conn, collection.id)?;
        drop(conn);
        self.store.forget_indexes(collection);
        self.status()
    }

    /// Builds a fresh text index beside the current one and swaps it in, so text searches keep
    /// an index throughout; `config` changes the configuration, `None` keeps it.
    ///
    /// # Errors
    /// As [`TextIndex::create`]; [`Error::NotFound`] when there is no text index.
    pub fn rebuild(&self, config: Option<&str>) -> Result<TextIndexStatus> {
        trace::traced(self.span("rebuild"), |_| self.build_again(config))
    }

    fn build_again(&self, config: Option<&str>) -> Result<TextIndexStatus> {
        let collection = self.collection;
        let current = self.status()?;
        let config = match (config, current.config) {
            (Some(config), _) => config.to_owned(),
            (None, Some(config)) => config,
            (None, None) => {
                return Err(Error::not_found(
                    "text index of collection",
                    &collection.name,
                ));
            }
        };
        let mut conn = self.store.connection()?;
        let config = known_config(&mut conn, &config)?;
        let fresh = format!("{}_new", text_name(collection));
        drop_index_concurrently(&mut conn, &fresh)?;
        let ddl = text_index::ddl(&mut conn, collection, &config, &fresh)?;
        run_build(&mut conn, &IndexSpec::hnsw(), &ddl)?;
        drop_index_concurrently(&mut conn, &text_name(collection))?;
        text_index::rename(&mut conn, &fresh, collection)?;
        crate::repo::stats::analyze(&mut conn, collection.id)?;
        drop(conn);
        self.store.forget_indexes(collection);
        self.status()
    }

    /// Drops the collection's text index (`DROP INDEX CONCURRENTLY`); text searches then use
    /// `simple` and scan the rows. Returns whether an index existed.
    ///
    /// # Errors
    /// [`Error::Database`] when the server refuses.
    pub fn drop(&self) -> Result<bool> {
        trace::traced(self.span("drop"), |_| self.drop_now())
    }

    /// The span of a text index operation (`action`: `create`, `rebuild`, `drop`): the
    /// collection, never the configuration asked for.
    fn span(&self, action: &'static str) -> tracing::Span {
        trace::span!(
            "text_index",
            action,
            collection = %self.collection.name,
            collection_id = self.collection.id.0,
        )
    }

    fn drop_now(&self) -> Result<bool> {
        let mut conn = self.store.connection()?;
        let name = text_name(self.collection);
        let existed = index_state(&mut conn, &name)?.is_some();
        drop_index_concurrently(&mut conn, &name)?;
        drop_index_concurrently(&mut conn, &format!("{name}_new"))?;
        self.store.forget_indexes(self.collection);
        Ok(existed)
    }

    /// The collection's text index as it is now.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the collection was dropped; [`Error::Database`] otherwise.
    pub fn status(&self) -> Result<TextIndexStatus> {
        let collection = self.collection;
        let mut conn = self.store.connection()?;
        ensure_partition(&mut conn, collection)?;
        let name = text_name(collection);
        let row = text_index::status_row(&mut conn, collection, &name)?;
        Ok(TextIndexStatus {
            collection: collection.name.clone(),
            exists: row.valid.is_some(),
            valid: row.valid.unwrap_or(false),
            config: row.definition.as_deref().and_then(text_index::config_of),
            size_bytes: row.size_bytes.unsigned_abs(),
            rows: row.rows.unsigned_abs(),
            name,
        })
    }
}

/// `config` as `pg_catalog` names it, or a validation error listing the known ones.
fn known_config(conn: &mut diesel::PgConnection, config: &str) -> Result<String> {
    let known = text_index::configs(conn)?;
    known
        .iter()
        .find(|name| name.as_str() == config)
        .cloned()
        .ok_or_else(|| {
            Error::invalid_field(
                "config",
                format!(
                    "unknown text search configuration {config:?}, expected one of {}",
                    known.join(", ")
                ),
            )
        })
}
