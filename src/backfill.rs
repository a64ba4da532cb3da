//! Re-embedding backfill: [`Store::backfill`] copies a collection's ids, content and metadata
//! into another collection (another model, dimension or metric), with vectors from the caller's
//! embedder.
//!
//! **How it knows what is done (the change detection we chose):** by comparison, not by a
//! cursor or timestamps. Each pass walks the source in `external_id` order, a batch at a time,
//! reads what the target holds for the batch's ids, and embeds and writes only the rows the
//! target lacks or holds with other content or metadata; then it deletes from the target the ids
//! the source no longer has. So a re-run after a crash skips, without calling the embedder, what
//! earlier runs committed (nothing is written twice), and a second pass catches up the rows
//! written, changed or deleted in the source during the first, whatever their timestamps or the
//! isolation of the transactions that wrote them. Passes repeat until one changes nothing (at
//! most [`BackfillOptions::max_passes`]). A pass that changes nothing still reads both
//! collections once (no vectors, no embedder calls).

use std::time::Instant;

use serde::Serialize;

use crate::dto::NewEmbedding;
use crate::error::{Error, Result};
use crate::models::Collection;
use crate::repo::backfill::{self, CopiedRow};
use crate::store::Store;
use crate::trace;
use crate::uow::WorkOptions;

/// Rows per embedder call and per write, by default.
pub const DEFAULT_BACKFILL_BATCH: usize = 256;

/// One source row for the embedder: what a model needs to embed it again.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct BackfillItem {
    /// The row's key, the same in both collections.
    pub external_id: String,
    /// The stored content (what is usually embedded).
    pub content: Option<String>,
    /// The stored metadata.
    pub metadata: serde_json::Value,
}

impl BackfillItem {
    /// An item as [`Store::backfill`] hands it to the embedder: for a service's own tests of
    /// its embedder, without a database.
    ///
    /// # Example
    /// ```
    /// use embedstore::{BackfillItem, EmbedResult};
    ///
    /// fn embed(items: &[BackfillItem]) -> EmbedResult {
    ///     Ok(items
    ///         .iter()
    ///         .map(|item| vec![item.content.as_deref().map_or(0.0, |text| text.len() as f32)])
    ///         .collect())
    /// }
    ///
    /// let items = [
    ///     BackfillItem::new("a", Some("four".to_owned()), serde_json::json!({"lang": "en"})),
    ///     BackfillItem::new("b", None, serde_json::Value::Null),
    /// ];
    /// assert_eq!(embed(&items).unwrap(), [vec![4.0], vec![0.0]]);
    /// ```
    pub fn new(
        external_id: impl Into<String>,
        content: Option<String>,
        metadata: serde_json::Value,
    ) -> Self {
        Self {
            external_id: external_id.into(),
            content,
            metadata,
        }
    }
}

/// How [`Store::backfill`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackfillOptions {
    /// Rows per embedder call and per write transaction (default [`DEFAULT_BACKFILL_BATCH`]).
    pub batch_size: usize,
    /// Most passes over the source (default 3): the first copies, the next catch up what was
    /// written meanwhile; it stops early after a pass that changed nothing.
    pub max_passes: u32,
}

impl Default for BackfillOptions {
    fn default() -> Self {
        Self {
            batch_size: DEFAULT_BACKFILL_BATCH,
            max_passes: 3,
        }
    }
}

impl BackfillOptions {
    /// Sets [`BackfillOptions::batch_size`].
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows;
        self
    }

    /// Sets [`BackfillOptions::max_passes`].
    pub fn max_passes(mut self, passes: u32) -> Self {
        self.max_passes = passes;
        self
    }
}

/// Where a backfill is, after each batch.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct BackfillProgress {
    /// The pass (1 copies, later ones catch up).
    pub pass: u32,
    /// Source rows read in this pass.
    pub scanned: u64,
    /// Source rows when the pass started (rows written meanwhile may make `scanned` larger).
    pub total: u64,
    /// Rows embedded and written so far, all passes.
    pub written: u64,
}

/// What a backfill did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct BackfillSummary {
    /// Passes over the source; the last one changed nothing unless `max_passes` ran out.
    pub passes: u32,
    /// Whether the last pass changed nothing: the target mirrors the source as of that pass.
    pub converged: bool,
    /// Rows the embedder was given (each written once it returned).
    pub embedded: u64,
    /// Rows created in the target.
    pub inserted: u64,
    /// Target rows rewritten because the source row changed.
    pub updated: u64,
    /// Target rows deleted because the source no longer has them.
    pub deleted: u64,
    /// Source rows read, all passes.
    pub scanned: u64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Of that, time inside the embedder, seconds.
    pub embed_seconds: f64,
}

impl BackfillSummary {
    /// Rows written per second of the backfill's own time (the embedder's excluded); `None`
    /// when nothing was written.
    pub fn rows_per_second(&self) -> Option<f64> {
        let own = self.seconds - self.embed_seconds;
        (self.embedded > 0 && own > 0.0).then(|| self.embedded as f64 / own)
    }
}

/// An embedder: one vector per item, in the items' order, of the target collection's dimension.
pub type EmbedResult = std::result::Result<Vec<Vec<f32>>, Box<dyn std::error::Error + Send + Sync>>;

impl Store {
    /// Copies every row of the collection (or alias) `from` into `to` — same `external_id`,
    /// content, metadata and tenant, and a new vector from `embed` — for re-embedding with
    /// another model (`to` may have another dimension and metric). Then `alias set` cuts over,
    /// and `from` stays until dropped, so switching back is one command.
    ///
    /// Resumable and idempotent: rows the target already holds with the source's content and
    /// metadata are skipped without calling `embed`, so running it again after a crash or an
    /// error continues where it stopped and writes nothing twice. Rows written, changed or
    /// deleted in `from` while it runs are caught up by the next pass (see the module docs:
    /// change detection by comparison); a write to `from` after the last pass is not — pause
    /// writers or run the backfill again just before the cut-over. `to` ends as a mirror of
    /// `from`: target rows whose ids `from` lacks are deleted. `progress` is called after every
    /// batch. Run it as a role that sees every tenant's rows (the owner).
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown collection; [`Error::Validation`] when `from` and `to`
    /// are the same collection, the batch size is 0, `embed` returns another number of vectors
    /// than items, or a vector does not fit `to` (paths `items[i].vector…`);
    /// [`Error::Embedder`] when `embed` fails. Batches written before an error stay.
    pub fn backfill(
        &self,
        from: &str,
        to: &str,
        options: &BackfillOptions,
        embed: &mut dyn FnMut(&[BackfillItem]) -> EmbedResult,
        progress: &mut dyn FnMut(&BackfillProgress),
    ) -> Result<BackfillSummary> {
        let span = trace::span!(
            "backfill",
            from = tracing::field::Empty,
            to = tracing::field::Empty,
            batch_size = options.batch_size,
            passes = tracing::field::Empty,
            embedded = tracing::field::Empty,
            deleted = tracing::field::Empty,
            embed_ms = tracing::field::Empty,
        );
        trace::traced(span, |operation| {
            let (source, target) = self.read_primary(|uow| {
                Ok::<_, Error>((uow.collections().get(from)?, uow.collections().get(to)?))
            })?;
            operation.record("from", source.name.as_str());
            operation.record("to", target.name.as_str());
            let summary = Backfill {
                store: self,
                source: &source,
                target: &target,
                options,
            }
            .run(embed, progress)?;
            operation.record("passes", summary.passes);
            operation.record("embedded", summary.embedded);
            operation.record("deleted", summary.deleted);
            operation.record("embed_ms", summary.embed_seconds * 1000.0);
            Ok(summary)
        })
    }
}

/// One backfill between two resolved collections.
struct Backfill<'a> {
    store: &'a Store,
    source: &'a Collection,
    target: &'a Collection,
    options: &'a BackfillOptions,
}

impl Backfill<'_> {
    fn run(
        &self,
        embed: &mut dyn FnMut(&[BackfillItem]) -> EmbedResult,
        progress: &mut dyn FnMut(&BackfillProgress),
    ) -> Result<BackfillSummary> {
        if self.source.id == self.target.id {
            return Err(Error::invalid_field(
                "to",
                format!(
                    "is the collection {:?} itself: backfill into another collection",
                    self.source.name
                ),
            ));
        }
        if self.options.batch_size == 0 {
            return Err(Error::invalid_field("batch_size", "must be at least 1"));
        }
        let started = Instant::now();
        let mut summary = BackfillSummary::default();
        while summary.passes < self.options.max_passes.max(1) {
            summary.passes += 1;
            let before = (summary.embedded, summary.deleted);
            self.pass(&mut summary, embed, progress)?;
            let deleted = self.store.write(|uow| {
                backfill::delete_missing(uow.connection(), self.source, self.target)
            })?;
            summary.deleted += deleted;
            if (summary.embedded, summary.deleted) == before {
                summary.converged = true;
                break;
            }
        }
        summary.seconds = started.elapsed().as_secs_f64();
        Ok(summary)
    }

    /// One walk over the source in `external_id` order.
    fn pass(
        &self,
        summary: &mut BackfillSummary,
        embed: &mut dyn FnMut(&[BackfillItem]) -> EmbedResult,
        progress: &mut dyn FnMut(&BackfillProgress),
    ) -> Result<()> {
        let total = self
            .store
            .read_primary(|uow| uow.embeddings().count(self.source))?;
        let mut report = BackfillProgress {
            pass: summary.passes,
            total,
            written: summary.embedded,
            ..BackfillProgress::default()
        };
        let limit = i64::try_from(self.options.batch_size).unwrap_or(i64::MAX);
        let mut after = String::new();
        loop {
            let (page, todo) = self.store.read_primary(|uow| {
                let page = backfill::page_after(uow.connection(), self.source, &after, limit)?;
                let todo = self.missing_or_changed(uow.connection(), &page)?;
                Ok::<_, Error>((page, todo))
            })?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after.clone_from(&last.external_id);
            summary.scanned += page.len() as u64;
            report.scanned += page.len() as u64;
            if !todo.is_empty() {
                self.copy(&todo, summary, embed)?;
            }
            report.written = summary.embedded;
            progress(&report);
        }
    }

    /// The rows of `page` the target lacks or holds with other content or metadata.
    fn missing_or_changed(
        &self,
        conn: &mut diesel::PgConnection,
        page: &[CopiedRow],
    ) -> Result<Vec<CopiedRow>> {
        let ids: Vec<&str> = page.iter().map(|row| row.external_id.as_str()).collect();
        let held: std::collections::HashMap<String, CopiedRow> =
            backfill::with_ids(conn, self.target, &ids)?
                .into_iter()
                .map(|row| (row.external_id.clone(), row))
                .collect();
        Ok(page
            .iter()
            .filter(|row| {
                held.get(&row.external_id)
                    .is_none_or(|copy| copy.content != row.content || copy.metadata != row.metadata)
            })
            .cloned()
            .collect())
    }

    /// Embeds `rows` and upserts them into the target, one transaction per tenant among them.
    fn copy(
        &self,
        rows: &[CopiedRow],
        summary: &mut BackfillSummary,
        embed: &mut dyn FnMut(&[BackfillItem]) -> EmbedResult,
    ) -> Result<()> {
        let items: Vec<BackfillItem> = rows
            .iter()
            .map(|row| BackfillItem {
                external_id: row.external_id.clone(),
                content: row.content.clone(),
                metadata: row.metadata.clone(),
            })
            .collect();
        let started = Instant::now();
        let vectors = embed(&items).map_err(Error::Embedder);
        summary.embed_seconds += started.elapsed().as_secs_f64();
        let vectors = vectors?;
        if vectors.len() != items.len() {
            return Err(Error::invalid_field(
                "embedder",
                format!(
                    "returned {} vectors for {} items: one per item, in order",
                    vectors.len(),
                    items.len()
                ),
            ));
        }
        let mut by_tenant: Vec<(Option<&str>, Vec<NewEmbedding>)> = Vec::new();
        for ((row, item), vector) in rows.iter().zip(items).zip(vectors) {
            let mut embedding =
                NewEmbedding::new(item.external_id, vector).with_metadata(item.metadata);
            embedding.content = item.content;
            let tenant = row.tenant.as_deref();
            match by_tenant.iter_mut().find(|(group, _)| *group == tenant) {
                Some((_, group)) => group.push(embedding),
                None => by_tenant.push((tenant, vec![embedding])),
            }
        }
        for (tenant, embeddings) in by_tenant {
            let count = embeddings.len() as u64;
            // New rows take the bound tenant: the source row's.
            let options = match tenant {
                Some(tenant) => WorkOptions::write().tenant(tenant),
                None => WorkOptions::write(),
            };
            let mut embeddings = Some(embeddings);
            let written = self.store.run(&options, |uow| {
                let batch = embeddings.take().unwrap_or_default();
                uow.embeddings().upsert(self.target, batch)
            })?;
            summary.embedded += count;
            summary.inserted += written.inserted;
            summary.updated += written.updated;
        }
        Ok(())
    }
}
