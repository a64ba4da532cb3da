//! Metadata filters in count, delete and scroll.
//!
//! Every method checks its filter ([`Filter::check`]) before any SQL is sent; a refused filter
//! is an [`Error::Validation`](crate::Error::Validation) whose path is `filter.<location>`.
//! Statements are built with [`SqlBuilder`]: the filter's keys and values are bind parameters.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bytea, Jsonb, Nullable, Text, Timestamptz};

use super::embeddings::Embeddings;
use crate::error::Result;
use crate::filter::{Filter, PayloadLayout};
use crate::models::{Collection, Embedding};
use crate::sql::SqlBuilder;
use crate::vector::VectorValue;

/// Most rows one [`ScrollRequest`] may ask for.
pub const MAX_SCROLL_LIMIT: u32 = 10_000;

/// One page of a walk through a collection in `external_id` order.
///
/// ```
/// # use embedstore::{Filter, ScrollRequest};
/// let first = ScrollRequest::new(100).with_filter(Filter::eq("lang", "de"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ScrollRequest {
    /// Only rows matching this filter; `None` = every row.
    pub filter: Option<Filter>,
    /// Start after this `external_id` (the previous page's [`ScrollPage::next`]); `None` = from
    /// the start.
    pub after: Option<String>,
    /// Rows per page, 1–10,000.
    pub limit: u32,
    /// Return the vectors; otherwise each [`Embedding::vector`] is empty.
    pub include_vector: bool,
    /// Return the content; otherwise each [`Embedding::content`] is `None`.
    pub include_content: bool,
}

/// Rows of one scroll page and where the next one starts.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrollPage {
    /// Matching rows in `external_id` order (the database's collation).
    pub items: Vec<Embedding>,
    /// The `after` for the next page; `None` when this page is the last.
    pub next: Option<String>,
}

impl ScrollRequest {
    /// The first page of `limit` rows, every row, without vectors or content.
    pub fn new(limit: u32) -> Self {
        Self {
            filter: None,
            after: None,
            limit,
            include_vector: false,
            include_content: false,
        }
    }

    /// Only rows matching `filter`.
    pub fn with_filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Continue after this `external_id` (a previous page's `next`).
    pub fn after(mut self, external_id: impl Into<String>) -> Self {
        self.after = Some(external_id.into());
        self
    }

    /// Return the vectors too.
    pub fn include_vector(mut self, include: bool) -> Self {
        self.include_vector = include;
        self
    }

    /// Return the content too.
    pub fn include_content(mut self, include: bool) -> Self {
        self.include_content = include;
        self
    }

    fn validate(&self) -> Result<()> {
        let mut failures = Vec::new();
        if !(1..=MAX_SCROLL_LIMIT).contains(&self.limit) {
            failures.push((
                "limit".to_owned(),
                format!(
                    "must be between 1 and {MAX_SCROLL_LIMIT}, found {}",
                    self.limit
                ),
            ));
        }
        if self
            .after
            .as_deref()
            .is_some_and(|after| after.contains('\0'))
        {
            failures.push(("after".to_owned(), "contains a NUL character".to_owned()));
        }
        if !failures.is_empty() {
            return Err(crate::Error::Validation(crate::ValidationError::new(
                failures,
            )));
        }
        if let Some(filter) = &self.filter {
            filter.check()?;
        }
        Ok(())
    }
}

impl Embeddings<'_> {
    /// Number of embeddings in the collection whose metadata matches `filter`.
    ///
    /// # Errors
    /// [`Error::Validation`](crate::Error::Validation) naming the filter's problem (path
    /// `filter.<location>`); [`Error::Database`](crate::Error::Database) when the query fails.
    pub fn count_where(&mut self, collection: &Collection, filter: &Filter) -> Result<u64> {
        filter.check()?;
        let mut sql = SqlBuilder::new();
        sql.push("SELECT count(*) AS count FROM embeddings WHERE ");
        let layout = crate::repo::catalog::layout_now(self.conn, collection)?;
        matching(&mut sql, collection, filter, &layout);
        let counted: Counted = sql.try_into_query()?.get_result(self.conn)?;
        Ok(counted.count.unsigned_abs())
    }

    /// Deletes the embeddings whose metadata matches `filter`; returns how many.
    ///
    /// # Errors
    /// As [`Embeddings::count_where`]; nothing is deleted when the filter is refused.
    pub fn delete_where(&mut self, collection: &Collection, filter: &Filter) -> Result<u64> {
        let operation = crate::repo::embeddings::write_operation("delete_where", collection, 0);
        // Every failure, the refused filter too, ends on the span.
        let deleted = operation.finish(self.delete_matching(collection, filter))?;
        operation.record("deleted", deleted);
        Ok(deleted)
    }

    fn delete_matching(&mut self, collection: &Collection, filter: &Filter) -> Result<u64> {
        filter.check()?;
        let mut sql = SqlBuilder::new();
        self.touched.collection(collection.id);
        sql.push("DELETE FROM embeddings WHERE ");
        let layout = crate::repo::catalog::layout_now(self.conn, collection)?;
        matching(&mut sql, collection, filter, &layout);
        let deleted = sql
            .try_into_query()?
            .execute(self.conn)
            .map_err(crate::error::Error::from)?;
        Ok(deleted as u64)
    }

    /// One page of the collection in `external_id` order, optionally filtered. Pages are
    /// keyset-paginated (`external_id > after`, no `OFFSET`): each costs the same however deep
    /// the walk, and rows written meanwhile are neither skipped nor repeated.
    ///
    /// # Errors
    /// [`Error::Validation`](crate::Error::Validation) for a `limit` outside 1–10,000, an
    /// `after` holding NUL, or a refused filter; [`Error::Database`](crate::Error::Database)
    /// when the query fails.
    pub fn scroll(
        &mut self,
        collection: &Collection,
        request: &ScrollRequest,
    ) -> Result<ScrollPage> {
        request.validate()?;
        let layout = layout_for(self.conn, collection, request)?;
        let limit = request.limit as usize;
        let rows: Vec<ScrollRow> = scroll_statement("", collection, request, &layout)
            .try_into_query()?
            .load(self.conn)?;
        let mut items: Vec<Embedding> = rows
            .into_iter()
            .map(|row| row.into_embedding(collection))
            .collect();
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|item| item.external_id.clone())
        } else {
            None
        };
        Ok(ScrollPage { items, next })
    }

    /// The server's `EXPLAIN` of the exact statement [`Embeddings::scroll`] sends for this
    /// request, with the same parameters: shows whether a payload index serves the filter.
    ///
    /// # Errors
    /// As [`Embeddings::scroll`].
    pub fn explain_scroll(
        &mut self,
        collection: &Collection,
        request: &ScrollRequest,
    ) -> Result<String> {
        request.validate()?;
        let layout = layout_for(self.conn, collection, request)?;
        let lines: Vec<PlanLine> = scroll_statement("EXPLAIN ", collection, request, &layout)
            .try_into_query()?
            .load(self.conn)?;
        Ok(lines
            .into_iter()
            .map(|plan| plan.line)
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

/// The collection's payload layout when the scroll has a filter (no query otherwise).
fn layout_for(
    conn: &mut PgConnection,
    collection: &Collection,
    request: &ScrollRequest,
) -> Result<PayloadLayout> {
    match request.filter {
        Some(_) => crate::repo::catalog::layout_now(conn, collection),
        None => Ok(PayloadLayout::default()),
    }
}

/// `collection_id = $1 AND (<filter>)`.
fn matching(
    sql: &mut SqlBuilder,
    collection: &Collection,
    filter: &Filter,
    layout: &PayloadLayout,
) {
    sql.push("collection_id = ")
        .bind(collection.id.0)
        .push(" AND (");
    filter.render(sql, layout);
    sql.push(")");
}

/// The scroll statement: one row more than the page, to know whether another page follows.
/// `prefix` is `""` or `"EXPLAIN "`.
fn scroll_statement(
    prefix: &str,
    collection: &Collection,
    request: &ScrollRequest,
    layout: &PayloadLayout,
) -> SqlBuilder {
    let mut sql = SqlBuilder::new();
    sql.push(prefix)
        .push("SELECT id, external_id, metadata, created_at, updated_at, ")
        .push(if request.include_content {
            "content"
        } else {
            "NULL::text AS content"
        })
        .push(", ")
        .push(&if request.include_vector {
            // The collection's own column in its binary form, from a closed set.
            format!(
                "{} AS embedding",
                collection.search_expression().send_sql(None)
            )
        } else {
            "NULL::bytea AS embedding".to_owned()
        })
        .push(" FROM embeddings WHERE collection_id = ")
        .bind(collection.id.0);
    if let Some(after) = &request.after {
        sql.push(" AND external_id > ").bind(after.as_str());
    }
    if let Some(filter) = &request.filter {
        sql.push(" AND (");
        filter.render(&mut sql, layout);
        sql.push(")");
    }
    sql.push(" ORDER BY external_id LIMIT ")
        .bind(i64::from(request.limit) + 1);
    sql
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

#[derive(QueryableByName)]
struct ScrollRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    external_id: String,
    #[diesel(sql_type = Jsonb)]
    metadata: serde_json::Value,
    #[diesel(sql_type = Nullable<Text>)]
    content: Option<String>,
    #[diesel(sql_type = Nullable<Bytea>)]
    embedding: Option<Vec<u8>>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    updated_at: DateTime<Utc>,
}

impl ScrollRow {
    fn into_embedding(self, collection: &Collection) -> Embedding {
        Embedding {
            collection_id: collection.id,
            id: self.id,
            external_id: self.external_id,
            vector: self
                .embedding
                .and_then(|bytes| VectorValue::from_send(collection.kind, &bytes))
                .unwrap_or_default(),
            content: self.content,
            metadata: self.metadata,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}
