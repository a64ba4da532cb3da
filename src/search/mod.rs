//! Searches outside a unit of work: the lean single search, batch search, and recall probes.
//!
//! A search is one read-only statement, so it needs no explicit transaction: run in autocommit
//! mode it sees one snapshot and its `set_config(…, true)` settings end with it. That saves
//! `BEGIN READ ONLY` and `COMMIT` — the two round trips the transactional path pays. A filtered
//! search on the ANN path is one statement too (decision 0030: its index walk is fenced, not
//! forced by planner settings).

use crate::dto::SearchRequest;
use crate::error::Result;
use crate::models::Collection;
use crate::repo::SearchResponse;
use crate::repo::search::Search;
use crate::store::Store;
use crate::trace;
use crate::uow;

/// Most query vectors one batch search takes.
pub const MAX_BATCH: usize = 1000;

mod batch;
mod recall;

pub use recall::{RECALL_NOISE, RecallQueries, RecallQueryKind, RecallReport, RecallRequest};

impl Store {
    /// [`UnitOfWork::search`](crate::UnitOfWork::search) without a unit of work: one
    /// statement in autocommit mode when unfiltered (plus a bounded count first for a
    /// payload-indexed filter, and an exact statement when the ANN path came back short).
    ///
    /// # Errors
    /// As [`UnitOfWork::search`](crate::UnitOfWork::search).
    pub fn search(
        &self,
        collection: &Collection,
        request: impl Into<SearchRequest>,
    ) -> Result<SearchResponse> {
        let request = request.into().into_spec();
        let span = uow::search_span("autocommit", collection, &request, 1);
        trace::traced(span, |operation| {
            let request = request.validate_for(collection)?.into_inner();
            let response = self.on_read_connection(operation, |conn| {
                let indexes = self.indexes.get(conn, collection)?;
                Search {
                    conn,
                    collection,
                    indexes: &indexes,
                    request: &request,
                    memory: &self.indexes,
                }
                .run()
            })?;
            uow::searched(operation, std::slice::from_ref(&response));
            Ok(response)
        })
    }
}
