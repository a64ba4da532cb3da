//! The value a search is: [`Search`] (where it runs and what it asks), the [`Target`] its
//! statements are built from, and the [`Shape`] of what it asks.

use diesel::PgConnection;

use crate::dto::SearchSpec;
use crate::filter::PayloadLayout;
use crate::models::Collection;
use crate::repo::catalog::{CollectionIndexes, layout};
use crate::repo::search::memory::PlannerMemory;

/// One search: where it runs and what it asks. Built by the caller with its fields named;
/// consumed by `run`, `run_many` or `explain` (in `search/mod.rs`).
pub(crate) struct Search<'a> {
    /// The connection: in autocommit mode (`Store::search`) or inside the caller's
    /// transaction (a unit of work); the statements are the same in both.
    pub(crate) conn: &'a mut PgConnection,
    pub(crate) collection: &'a Collection,
    /// The collection's index facts, from `memory`.
    pub(crate) indexes: &'a CollectionIndexes,
    /// The validated request (the shape and every option).
    pub(crate) request: &'a SearchSpec,
    /// The store's planner memory: estimates and prepared-statement admission.
    pub(crate) memory: &'a PlannerMemory,
}

impl<'a> Search<'a> {
    /// What the statements are built from (borrowing what the search borrows, not the search).
    pub(crate) fn target(&self) -> Target<'a> {
        Target::new(self.collection, self.indexes, self.request)
    }

    /// The same search asking `request` instead (a hybrid's vector side, MMR's candidates).
    pub(crate) fn asking<'b>(&'b mut self, request: &'b SearchSpec) -> Search<'b> {
        Search {
            conn: self.conn,
            collection: self.collection,
            indexes: self.indexes,
            request,
            memory: self.memory,
        }
    }
}

/// What a statement is built from: the collection, its index facts, the payload layout they
/// give the filter renderer, and the request. No connection: building is pure.
#[derive(Debug, Clone)]
pub(crate) struct Target<'a> {
    pub(crate) collection: &'a Collection,
    pub(crate) indexes: &'a CollectionIndexes,
    pub(crate) layout: PayloadLayout,
    pub(crate) request: &'a SearchSpec,
}

impl<'a> Target<'a> {
    pub(crate) fn new(
        collection: &'a Collection,
        indexes: &'a CollectionIndexes,
        request: &'a SearchSpec,
    ) -> Self {
        Self {
            collection,
            indexes,
            layout: layout(&indexes.payload),
            request,
        }
    }

    /// The same target asking `request` instead.
    pub(crate) fn asking<'b>(&self, request: &'b SearchSpec) -> Target<'b>
    where
        'a: 'b,
    {
        Target {
            request,
            ..self.clone()
        }
    }
}

/// What a request asks for, each answered by its own file. Validation keeps them exclusive
/// (MMR, grouping and text refuse each other).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Full text, alone or fused with the vector search.
    Text,
    /// The best hits of the nearest groups.
    Grouped,
    /// `k` diverse hits among `fetch_k` candidates.
    Mmr,
    /// The `k` nearest (ANN, quantized, exact, filtered, paged, batched).
    Nearest,
}

impl Shape {
    pub(crate) fn of(request: &SearchSpec) -> Self {
        if request.text.is_some() {
            Shape::Text
        } else if request.group_by.is_some() {
            Shape::Grouped
        } else if request.mmr.is_some() {
            Shape::Mmr
        } else {
            Shape::Nearest
        }
    }
}
