//! Distributed collections on Citus: [`Store::citus`] reports the cluster, [`Store::distribute`]
//! turns an embedstore database on a Citus coordinator into a distributed one. The guide is
//! [`guide::citus`](crate::guide::citus); the SQL is in `repo::citus`.

use std::sync::atomic::Ordering;

use crate::error::{Error, Result};
use crate::repo::citus;
use crate::store::Store;
use crate::trace::{self, Operation};

/// How `embeddings` is spread over the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Distribution {
    /// Hash-distributed by `collection_id`: each collection lives in one shard on one worker, every
    /// search and write of it is a router query to that worker, and many collections spread over
    /// the workers. Keys, upserts and exact `k` hold as on one server.
    ByCollection,
}

impl Distribution {
    /// The distribution column.
    #[must_use]
    pub fn column(self) -> &'static str {
        match self {
            Distribution::ByCollection => "collection_id",
        }
    }
}

impl std::fmt::Display for Distribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Distribution::ByCollection => "by collection (collection_id)",
        })
    }
}

/// A Citus cluster as its coordinator reports it ([`Store::citus`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CitusCluster {
    /// `citus_version()`, e.g. `Citus 13.2.2`.
    pub version: String,
    /// Active primary workers.
    pub workers: u32,
    /// How `embeddings` is distributed: `None` while it is not (run [`Store::distribute`]).
    pub distribution: Option<Distribution>,
    /// Shards of each distributed partition (`citus.shard_count` when it was distributed).
    pub shards: u32,
}

/// What [`Store::distribute`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DistributeReport {
    /// The cluster after it.
    pub cluster: CitusCluster,
    /// Collections whose rows were moved to the workers.
    pub collections: usize,
    /// The database was distributed already: nothing was changed.
    pub already: bool,
}

impl Store {
    /// The Citus cluster this store's database is on, or `None` when the database has no
    /// `citus` extension (one server).
    ///
    /// # Errors
    /// [`Error::Database`] when the coordinator cannot be asked.
    pub fn citus(&self) -> Result<Option<CitusCluster>> {
        let mut conn = self.connection()?;
        Ok(citus::cluster(&mut conn)?.map(cluster_of))
    }

    /// Turns this embedstore database on a Citus coordinator into a distributed one, in one
    /// transaction: the catalog tables become reference tables, `embeddings` (every partition,
    /// present and future) is hash-distributed by `collection_id`, the rows already stored move
    /// to the workers. Run it once, as the owner that ran [`Store::migrate`], after migrating
    /// and after `citus_add_node` of every worker; running it again changes nothing but the
    /// functions embedstore reads statistics through (this version's are installed). Services
    /// connected before it must reconnect (they bind tenants the one-server way).
    ///
    /// What changes for a user (see the guide): the database has no triggers any more, so
    /// writes made outside embedstore neither keep `updated_at` nor claim names, and a store
    /// with a cache ([`Config::cache_bytes`](crate::Config::cache_bytes)) is refused.
    ///
    /// # Errors
    /// [`Error::UnsupportedServer`] when the database has no `citus` extension, the cluster no
    /// active worker, Citus no `citus.propagate_set_commands`, or `embeddings` is distributed by
    /// another column; [`Error::Config`] when this store has a cache or the migrations have not
    /// all run; [`Error::Database`] when Citus refuses (e.g. the role may not distribute).
    pub fn distribute(&self) -> Result<DistributeReport> {
        let operation = Operation::start(trace::span!(
            "distribute",
            collections = tracing::field::Empty,
            already = tracing::field::Empty,
        ));
        let report = self.distribute_checked();
        if let Ok(report) = &report {
            operation.record("collections", report.collections);
            operation.record("already", report.already);
        }
        operation.finish(report)
    }

    fn distribute_checked(&self) -> Result<DistributeReport> {
        if self.cache.is_some() {
            return Err(Error::Config {
                variable: "EMBEDSTORE_CACHE_BYTES",
                reason: "a store with a cache cannot distribute its database (a distributed \
                         database sends no change notifications): distribute with a store \
                         without a cache, e.g. `embedstore distribute`"
                    .to_owned(),
            });
        }
        let versions = self.server_versions()?;
        let mut conn = self.connection()?;
        let refuse = |reason: &str| Error::UnsupportedServer {
            postgres: versions.postgres.clone(),
            pgvector: versions.pgvector.clone(),
            reason: reason.to_owned(),
        };
        let Some(row) = citus::cluster(&mut conn)? else {
            return Err(refuse(
                "this database has no citus extension: install Citus on the coordinator and \
                 every worker (Citus's packages or image), CREATE EXTENSION citus in this \
                 database on each, and add the workers with citus_add_node",
            ));
        };
        if row.workers == 0 {
            return Err(refuse(
                "the Citus coordinator has no active worker: add them with \
                 SELECT citus_add_node('<host>', <port>)",
            ));
        }
        if !row.propagates_settings {
            return Err(refuse(
                "this Citus has no citus.propagate_set_commands, which carries the tenant \
                 binding to the workers: use Citus 10.1 or newer",
            ));
        }
        let distributed = citus::is_distributed(&mut conn)?;
        match row.column.as_deref() {
            Some(column) if column == Distribution::ByCollection.column() && distributed => {
                citus::replace_facts(&mut conn)?;
                self.distributed.store(true, Ordering::Relaxed);
                return Ok(DistributeReport {
                    cluster: cluster_of(row),
                    collections: 0,
                    already: true,
                });
            }
            Some(other) => {
                return Err(refuse(&format!(
                    "embeddings is distributed by {other:?} already, not the way embedstore \
                     distributes it (by collection_id, without triggers): undistribute it \
                     (undistribute_table) first"
                )));
            }
            None => {}
        }
        let partitions =
            citus::prepared_for_distribution(&mut conn)?.ok_or_else(|| Error::Config {
                variable: "DATABASE_URL",
                reason: "the database's schema is older than this embedstore: run \
                         `embedstore migrate` (Store::migrate) before distributing"
                    .to_owned(),
            })?;
        citus::distribute(&mut conn, &partitions)?;
        self.distributed.store(true, Ordering::Relaxed);
        let row = citus::cluster(&mut conn)?.ok_or_else(|| {
            Error::Migration("the citus extension went away while distributing".into())
        })?;
        Ok(DistributeReport {
            cluster: cluster_of(row),
            collections: partitions.len(),
            already: false,
        })
    }
}

fn cluster_of(row: citus::ClusterRow) -> CitusCluster {
    CitusCluster {
        version: row.version,
        workers: u32::try_from(row.workers).unwrap_or(u32::MAX),
        distribution: row
            .column
            .filter(|column| column == Distribution::ByCollection.column())
            .map(|_| Distribution::ByCollection),
        shards: u32::try_from(row.shards).unwrap_or(u32::MAX),
    }
}
