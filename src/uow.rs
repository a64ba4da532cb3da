//! The unit of work: one transaction, and the repositories that run inside it.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use diesel::PgConnection;

use crate::catalog::IndexCache;
use crate::dto::SearchRequest;
use crate::error::{Error, Result};
use crate::models::Collection;
use crate::repo::{self, Collections, Embeddings, SearchResponse};

/// One open transaction. Everything done through it commits or rolls back together.
///
/// Obtained only from [`Store::write`](crate::Store::write) or
/// [`Store::read`](crate::Store::read); it cannot outlive the closure it is lent to.
pub struct UnitOfWork<'c> {
    conn: &'c mut PgConnection,
    indexes: &'c IndexCache,
}

impl UnitOfWork<'_> {
    /// Create, find, list and drop collections.
    pub fn collections(&mut self) -> Collections<'_> {
        Collections::new(self.conn)
    }

    /// Insert, upsert, read, delete and count embeddings.
    pub fn embeddings(&mut self) -> Embeddings<'_> {
        Embeddings::new(self.conn)
    }

    /// The `request.k` nearest neighbours of `request.vector` in `collection` (among rows
    /// matching `request.filter`), nearest first, by the collection's metric — through the ANN
    /// index or an exact scan as the planner decides; the response says which. pgvector's
    /// settings for the request last until this transaction ends.
    ///
    /// # Errors
    /// [`Error::Validation`] when the query vector does not fit the collection (wrong length,
    /// NaN/infinite values, all zeros under cosine), `k` is out of range or the filter is bad;
    /// [`Error::NotFound`] when the collection was dropped.
    pub fn search(
        &mut self,
        collection: &Collection,
        request: SearchRequest,
    ) -> Result<SearchResponse> {
        let request = request.validate_for(collection)?;
        let indexes = self.indexes.get(self.conn, collection)?;
        repo::search::run(
            self.conn,
            collection,
            &indexes,
            request,
            repo::search::Scope::Transaction,
        )
    }

    /// The server's `EXPLAIN` of the exact statement [`UnitOfWork::search`] sends for this
    /// request, with the same parameters: shows whether an index is used.
    ///
    /// # Errors
    /// As [`UnitOfWork::search`].
    pub fn explain_search(
        &mut self,
        collection: &Collection,
        request: SearchRequest,
    ) -> Result<String> {
        let request = request.validate_for(collection)?;
        let indexes = self.indexes.get(self.conn, collection)?;
        repo::search::explain(
            self.conn,
            collection,
            &indexes,
            request,
            repo::search::Scope::Transaction,
        )
    }

    /// The transaction's connection, to run your own diesel queries (e.g. joins with your
    /// tables) atomically with embedstore's.
    pub fn connection(&mut self) -> &mut PgConnection {
        self.conn
    }
}

/// Whether a transaction may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    ReadWrite,
    ReadOnly,
}

/// Why a transaction was rolled back.
enum Abort<E> {
    Caller(E),
    Database(diesel::result::Error),
    Panicked,
    /// `run` was handed a unit of work that had already run (a bug in the caller).
    AlreadyRan,
}

impl<E> From<diesel::result::Error> for Abort<E> {
    fn from(error: diesel::result::Error) -> Self {
        Abort::Database(error)
    }
}

/// Runs `work` in a transaction on `conn`, taking it out of `work` only once `BEGIN` has
/// succeeded: when this returns an error and `work` is still `Some`, nothing of it ran and the
/// caller may run it elsewhere. A panic inside `work` rolls back first and then continues
/// unwinding, so the pooled connection goes back clean.
pub(crate) fn run<T, E, F>(
    conn: &mut PgConnection,
    indexes: &IndexCache,
    access: Access,
    work: &mut Option<F>,
) -> Result<T, E>
where
    F: FnOnce(&mut UnitOfWork<'_>) -> Result<T, E>,
    E: From<Error>,
{
    let mut panic_payload = None;
    let mut transaction = conn.build_transaction();
    if access == Access::ReadOnly {
        transaction = transaction.read_only();
    }
    let outcome = transaction.run(|conn| {
        let Some(work) = work.take() else {
            return Err(Abort::AlreadyRan);
        };
        let mut uow = UnitOfWork { conn, indexes };
        match catch_unwind(AssertUnwindSafe(|| work(&mut uow))) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(Abort::Caller(error)),
            Err(payload) => {
                panic_payload = Some(payload);
                Err(Abort::Panicked)
            }
        }
    });
    if let Some(payload) = panic_payload {
        resume_unwind(payload);
    }
    outcome.map_err(|abort| match abort {
        Abort::Caller(error) => error,
        Abort::Database(error) => E::from(Error::from(error)),
        Abort::Panicked => unreachable!("a panic resumed unwinding above"),
        Abort::AlreadyRan => E::from(Error::from(diesel::result::Error::QueryBuilderError(
            "a unit of work can run only once".into(),
        ))),
    })
}
