//! Reads by key outside a unit of work — [`Store::get`], [`Store::get_many`],
//! [`Store::collection`] — served from the store's cache of hot lookups when
//! [`Config::cache_bytes`](crate::Config::cache_bytes) configures one, and [`Store::cache_stats`]
//! / [`Store::cache_sync`] to watch and synchronise it.

use std::collections::{HashMap, HashSet};

use diesel::sql_types::Text;
use diesel::{PgConnection, RunQueryDsl};

use crate::cache::{CHANNEL, CacheStats};
use crate::error::{Error, Result};
use crate::models::{Collection, Embedding};
use crate::repo::touched::Touched;
use crate::repo::{Collections, Embeddings};
use crate::store::Store;
use crate::trace::{self, Operation};

impl Store {
    /// The embedding with this `external_id` in `collection`, if any: one read-only statement
    /// outside any transaction (no tenant bound), or none at all when the cache holds it.
    ///
    /// **The cache** (opt-in, [`Config::cache_bytes`](crate::Config::cache_bytes)) holds
    /// embeddings and collection handles read through [`Store::get`], [`Store::get_many`] and
    /// [`Store::collection`], least recently used out first, within the byte bound. Reads
    /// inside a unit of work never use it (their snapshot is the transaction's). It never
    /// returns a row older than:
    /// - a write of this store (through any of its clones) whose `write`/`run` returned before
    ///   the read began: the cache forgets the written keys when the unit of work commits (a
    ///   rolled-back one changes nothing);
    /// - a write of anyone else (another store, process, `psql`) once its notification has
    ///   been read (the listener polls every 1 ms after activity, every 10 ms when idle), and
    ///   always when
    ///   [`Store::cache_sync`] was called after that commit and before the read began.
    ///
    /// While the listener's connection is down the cache is empty and every read goes to the
    /// database; it starts empty once the listener is back.
    ///
    /// # Errors
    /// [`Error::Pool`] or [`Error::Database`] when the read fails.
    pub fn get(&self, collection: &Collection, external_id: &str) -> Result<Option<Embedding>> {
        Ok(self.get_many(collection, &[external_id])?.pop())
    }

    /// The stored embeddings with these `external_ids`, in the order asked (each once); ids
    /// that do not exist are left out. Cached ids are answered from memory, the others with
    /// one statement. Same guarantee as [`Store::get`].
    ///
    /// # Errors
    /// As [`Store::get`].
    pub fn get_many<S: AsRef<str>>(
        &self,
        collection: &Collection,
        external_ids: &[S],
    ) -> Result<Vec<Embedding>> {
        let span = trace::span!(
            "lookup",
            action = "get_many",
            collection = %collection.name,
            collection_id = collection.id.0,
            requested = external_ids.len(),
            from_cache = tracing::field::Empty,
            returned = tracing::field::Empty,
            node = tracing::field::Empty,
            replica_lag_ms = tracing::field::Empty,
            fallback = tracing::field::Empty,
        );
        trace::traced(span, |operation| {
            let found = self.read_through(collection, external_ids, operation)?;
            operation.record("returned", found.len());
            Ok(found)
        })
    }

    /// [`Store::get_many`]'s work, recording in `operation` how many came from the cache.
    fn read_through<S: AsRef<str>>(
        &self,
        collection: &Collection,
        external_ids: &[S],
        operation: &Operation,
    ) -> Result<Vec<Embedding>> {
        let mut seen = HashSet::new();
        // An id with NUL cannot be stored (validation refuses it) nor sent: it is not found.
        let ids: Vec<&str> = external_ids
            .iter()
            .map(AsRef::as_ref)
            .filter(|id| !id.contains('\0') && seen.insert(*id))
            .collect();
        let Some(cache) = &self.cache else {
            return self.read_rows(operation, collection, &ids);
        };
        let mut found: HashMap<&str, Embedding> = HashMap::new();
        let mut missing = Vec::new();
        let ticket = {
            let mut state = cache.state();
            for id in &ids {
                match state.row(collection.id, id) {
                    Some(row) => {
                        found.insert(id, row);
                    }
                    None => missing.push(*id),
                }
            }
            // Taken before the read: what it finds is stored only if nothing was forgotten
            // in between.
            state.row_ticket(collection.id)
        };
        operation.record("from_cache", found.len());
        let mut read: HashMap<String, Embedding> = HashMap::new();
        if !missing.is_empty() {
            let rows = self.read_rows(operation, collection, &missing)?;
            let mut state = cache.state();
            for row in rows {
                if let Some(ticket) = ticket {
                    state.store_row(ticket, &row);
                }
                read.insert(row.external_id.clone(), row);
            }
        }
        Ok(ids
            .iter()
            .filter_map(|id| found.remove(id).or_else(|| read.remove(*id)))
            .collect())
    }

    /// The collection called `name`, from the cache when it holds the handle (same guarantee as
    /// [`Store::get`]; a collection that does not exist is never cached).
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is none; as [`Store::get`] otherwise.
    pub fn collection(&self, name: &str) -> Result<Collection> {
        // The name is recorded only once found: a name that matched nothing is caller text.
        let span = trace::span!(
            "lookup",
            action = "collection",
            collection = tracing::field::Empty,
            collection_id = tracing::field::Empty,
            from_cache = false,
            node = tracing::field::Empty,
            replica_lag_ms = tracing::field::Empty,
            fallback = tracing::field::Empty,
        );
        trace::traced(span, |operation| {
            let found = self.handle_through(name, operation)?;
            operation.record("collection", tracing::field::display(&found.name));
            operation.record("collection_id", found.id.0);
            Ok(found)
        })
    }

    /// [`Store::collection`]'s work, recording in `operation` whether the cache answered.
    fn handle_through(&self, name: &str, operation: &Operation) -> Result<Collection> {
        let read =
            |conn: &mut PgConnection| Collections::new(conn, &mut Touched::default()).get(name);
        let Some(cache) = &self.cache else {
            return self.on_read_connection(operation, read);
        };
        let ticket = {
            let mut state = cache.state();
            if let Some(collection) = state.handle(name) {
                operation.record("from_cache", true);
                return Ok(collection);
            }
            state.handle_ticket()
        };
        let collection = self.on_live_connection(read)?;
        if let Some(ticket) = ticket {
            cache.state().store_handle(ticket, &collection);
        }
        Ok(collection)
    }

    /// What the cache has done so far and holds now; `None` when the store has no cache.
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.cache.as_ref().map(|cache| cache.state().stats())
    }

    /// Makes the cache see every write committed before this call, by anyone: when it returns,
    /// reads through the cache that begin afterwards return nothing older than those writes.
    ///
    /// Sends a notification of its own and waits (one round trip plus the listener's poll,
    /// about a millisecond) until the listener has read it: notifications arrive in commit
    /// order, so every earlier commit's has been applied by then. When that takes longer than
    /// [`Config::connect_timeout`](crate::Config::connect_timeout), the cache is emptied
    /// instead, which is as strict. Does nothing without a cache.
    ///
    /// # Errors
    /// [`Error::Pool`] or [`Error::Database`] when the notification cannot be sent.
    pub fn cache_sync(&self) -> Result<()> {
        trace::traced(trace::span!("lookup", action = "cache_sync"), |_| {
            self.sync_cache()
        })
    }

    /// [`Store::cache_sync`]'s work.
    fn sync_cache(&self) -> Result<()> {
        let Some(cache) = &self.cache else {
            return Ok(());
        };
        let (number, payload) = cache.next_sync();
        self.on_live_connection(|conn| {
            diesel::sql_query("SELECT pg_notify($1, $2)")
                .bind::<Text, _>(CHANNEL)
                .bind::<Text, _>(&payload)
                .execute(conn)
                .map_err(Error::from)
        })?;
        cache.wait_synced(number, self.config().connect_timeout);
        Ok(())
    }

    /// The rows with these ids, read with one statement on a live pooled connection: of the
    /// primary when the store caches (a replica's older row could fill the cache after the
    /// notification that would have made it forget the row), else where the handle's reads go.
    fn read_rows(
        &self,
        operation: &Operation,
        collection: &Collection,
        ids: &[&str],
    ) -> Result<Vec<Embedding>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let read = |conn: &mut PgConnection| {
            Embeddings::new(conn, &mut Touched::default()).get(collection, ids)
        };
        if self.cache.is_some() {
            self.on_live_connection(read)
        } else {
            self.on_read_connection(operation, read)
        }
    }
}
