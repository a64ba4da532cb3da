//! Citus: what the coordinator says of the cluster, and the one-time DDL that turns an
//! embedstore database into a distributed one ([`distribute`]). See `docs/citus.md` and
//! decision 0033.
//!
//! The layout: the catalog tables (`collections`, `catalog_names`, `collection_aliases`,
//! `ann_indexes`, `payload_indexes`) become reference tables (a copy on every node), and
//! `embeddings` — with every partition, present and future — is hash-distributed by
//! `collection_id`: a collection's rows live in one shard (so one node), each search and write is
//! a router query to that shard, and collections spread over the workers.
//!
//! What changes with it, and why:
//! - **No triggers.** Citus refuses to distribute a table with triggers, and the ones embedstore
//!   has cannot run on shards anyway: the name claim writes another table (refused on a shard),
//!   the change notifications would make every distributed write fail at `PREPARE TRANSACTION`
//!   and never reach the coordinator's listener. They are dropped; embedstore's statements do
//!   what they did (`updated_at = now()` in its updates, the name claims in
//!   `repo::aliases::claim_name`), and a store with a cache is refused on such a database.
//! - **The tenant binding** travels as `SET LOCAL embedstore.tenant_hex`, which Citus passes on
//!   to the workers (`citus.propagate_set_commands = 'local'`, set on every pooled connection);
//!   the policy and the column default read it through `embedstore_bound_tenant()`.
//! - **Statistics, counters and sizes** are read through the `embedstore_partition_facts`,
//!   `embedstore_index_bytes` and `embedstore_partition_bytes` functions, replaced here by
//!   versions that ask the shard holding the collection's rows, or Citus's sums over the shards
//!   (the coordinator's partition is an empty shell).
//! - **The metadata accessors** (`embedstore_jsonb_*`) and `embedstore_bound_tenant` are
//!   distributed functions, so that filters, payload indexes and the policy run on the workers.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};

use crate::error::Result;

/// The condition that this database is distributed by embedstore: Citus is installed and
/// `embeddings` has lost its change triggers (which [`distribute`] drops, and which nothing
/// else removes). A boolean SQL expression, for statements that ask it beside something else.
pub(crate) const DISTRIBUTED: &str = "(EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') \
    AND to_regclass('embeddings') IS NOT NULL \
    AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass('embeddings') \
                    AND tgname = 'embeddings_notify_changes'))";

/// Whether this database is distributed by embedstore ([`DISTRIBUTED`]).
pub(crate) fn is_distributed(conn: &mut PgConnection) -> Result<bool> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Bool)]
        distributed: bool,
    }
    let row: Row =
        diesel::sql_query(format!("SELECT {DISTRIBUTED} AS distributed")).get_result(conn)?;
    Ok(row.distributed)
}

/// What the coordinator reports of the cluster; `None` without the citus extension.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub(crate) struct ClusterRow {
    /// `citus_version()`'s first words, e.g. `Citus 13.2.2`.
    #[diesel(sql_type = Text)]
    pub(crate) version: String,
    /// Active primary workers.
    #[diesel(sql_type = BigInt)]
    pub(crate) workers: i64,
    /// The distribution column of `embeddings`, when it is distributed.
    #[diesel(sql_type = Nullable<Text>)]
    pub(crate) column: Option<String>,
    /// Shards of `embeddings` (of the parent; each partition has as many).
    #[diesel(sql_type = BigInt)]
    pub(crate) shards: i64,
    /// Whether `citus.propagate_set_commands` exists (it carries `SET LOCAL` to the workers).
    #[diesel(sql_type = Bool)]
    pub(crate) propagates_settings: bool,
}

/// The cluster as the coordinator sees it; `None` when the database has no citus extension.
pub(crate) fn cluster(conn: &mut PgConnection) -> Result<Option<ClusterRow>> {
    #[derive(QueryableByName)]
    struct Installed {
        #[diesel(sql_type = Bool)]
        citus: bool,
    }
    let installed: Installed = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') AS citus",
    )
    .get_result(conn)?;
    if !installed.citus {
        return Ok(None);
    }
    // pg_dist_* exist only with the extension, so this statement is sent only then.
    Ok(Some(
        diesel::sql_query(
            "SELECT split_part(citus_version(), ' on ', 1) AS version, \
                (SELECT count(*) FROM citus_get_active_worker_nodes()) AS workers, \
                (SELECT column_to_column_name(p.logicalrelid, p.partkey) FROM pg_dist_partition p \
                 WHERE p.logicalrelid = to_regclass('embeddings') AND p.partmethod = 'h') AS column, \
                (SELECT count(*) FROM pg_dist_shard s \
                 WHERE s.logicalrelid = to_regclass('embeddings')) AS shards, \
                current_setting('citus.propagate_set_commands', true) IS NOT NULL \
                    AS propagates_settings",
        )
        .get_result(conn)?,
    ))
}

/// The ids of the existing collections, when the schema has every migration [`distribute`]
/// relies on (`None`: run the migrations first).
pub(crate) fn prepared_for_distribution(conn: &mut PgConnection) -> Result<Option<Vec<i32>>> {
    #[derive(QueryableByName)]
    struct Ids {
        #[diesel(sql_type = Bool)]
        ready: bool,
        #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Integer>)]
        ids: Vec<i32>,
    }
    let row: Ids = diesel::sql_query(
        "SELECT to_regprocedure('embedstore_partition_facts(regclass)') IS NOT NULL AS ready, \
                coalesce((SELECT array_agg(id ORDER BY id) FROM collections), '{}') AS ids",
    )
    .get_result(conn)?;
    Ok(row.ready.then_some(row.ids))
}

/// The `maintenance_work_mem` the workers build indexes with, in MiB (the smallest, if they
/// differ): a session setting of the coordinator never reaches them, since Citus runs
/// `CREATE INDEX CONCURRENTLY` on the shards over connections of its own (measured: a
/// worker's 1 MB made a build 5× slower whatever the coordinator's session set).
pub(crate) fn worker_build_memory_mb(conn: &mut PgConnection) -> Result<u64> {
    #[derive(QueryableByName)]
    struct Megabytes {
        #[diesel(sql_type = BigInt)]
        megabytes: i64,
    }
    let row: Megabytes = diesel::sql_query(
        "SELECT coalesce(min(result::bigint), 0)::bigint AS megabytes \
         FROM run_command_on_workers( \
            'SELECT pg_size_bytes(current_setting(''maintenance_work_mem'')) / 1048576') \
         WHERE success",
    )
    .get_result(conn)?;
    Ok(row.megabytes.unsigned_abs())
}

/// The triggers of the migrations, by table: all of them go (see the module documentation).
const TRIGGERS: [(&str, &str); 10] = [
    ("collections", "collections_touch_updated_at"),
    ("collections", "collections_guard"),
    ("collections", "collections_notify_changes"),
    ("collections", "collections_notify_truncate"),
    ("collections", "collections_claim_name"),
    ("embeddings", "embeddings_touch_updated_at"),
    ("embeddings", "embeddings_notify_changes"),
    ("embeddings", "embeddings_notify_truncate"),
    ("collection_aliases", "collection_aliases_touch_updated_at"),
    ("collection_aliases", "collection_aliases_claim_name"),
];

/// The catalog tables, in an order Citus accepts (a table before those whose keys refer to it).
const REFERENCE_TABLES: [&str; 5] = [
    "collections",
    "catalog_names",
    "collection_aliases",
    "ann_indexes",
    "payload_indexes",
];

/// The functions the workers need: the metadata accessors (filters and payload indexes) and the
/// tenant binding (the policy and the column default).
const WORKER_FUNCTIONS: [&str; 5] = [
    "embedstore_jsonb_text(jsonb)",
    "embedstore_jsonb_numeric(jsonb)",
    "embedstore_jsonb_bool(jsonb)",
    "embedstore_jsonb_timestamptz(jsonb)",
    "embedstore_bound_tenant()",
];

/// The one shard of a partition that holds its rows, and its node: the layout distributes by
/// `collection_id` and a partition holds one collection, whose id ends the partition's name
/// (`embeddings_<id>`), so its rows are in the shard of that value. Asking that shard alone
/// costs one connection to one worker; asking all of them (`run_command_on_shards`) opened a
/// connection per shard, measured at about 0.15 new worker sessions per search under 8 threads
/// (the planner reads these facts every few seconds per thread).
const ROWS_SHARD: &str = "(SELECT s.shardid, shard_name(partition, s.shardid) AS shard, \
        n.nodename, n.nodeport \
    FROM pg_dist_shard s \
    JOIN pg_dist_placement p ON p.shardid = s.shardid \
    JOIN pg_dist_node n ON n.groupid = p.groupid AND n.isactive \
    WHERE s.shardid = get_shard_id_for_distribution_column(partition, \
        substring(partition::text from '_([0-9]+)$')::int) \
    LIMIT 1) rows_shard";

/// The statistics of a partition, from the shard that holds its rows (replaces the migration's
/// version).
fn partition_facts() -> String {
    format!(
        r#"
CREATE OR REPLACE FUNCTION embedstore_partition_facts(partition regclass)
RETURNS TABLE (analyzed boolean, reltuples float8, modified bigint, analyzes bigint,
               bytes bigint, updates bigint, deletes bigint, dead_tuples bigint,
               live_tuples bigint, last_vacuum timestamptz)
LANGUAGE sql STABLE STRICT SECURITY DEFINER SET search_path = pg_catalog AS $fn$
    SELECT (f ->> 'analyzed')::boolean, (f ->> 'reltuples')::float8,
           coalesce((f ->> 'modified')::bigint, 0), coalesce((f ->> 'analyzes')::bigint, 0),
           coalesce((f ->> 'bytes')::bigint, 0), (f ->> 'updates')::bigint,
           (f ->> 'deletes')::bigint, (f ->> 'dead_tuples')::bigint,
           (f ->> 'live_tuples')::bigint, (f ->> 'last_vacuum')::timestamptz
    FROM {ROWS_SHARD}
    CROSS JOIN LATERAL master_run_on_worker(ARRAY[rows_shard.nodename],
        ARRAY[rows_shard.nodeport::int], ARRAY[format($cmd$
        SELECT json_build_object(
            'analyzed', EXISTS (SELECT 1 FROM pg_stats p
                                WHERE p.schemaname = n.nspname AND p.tablename = c.relname),
            'reltuples', c.reltuples,
            'modified', pg_stat_get_mod_since_analyze(c.oid),
            'analyzes', pg_stat_get_analyze_count(c.oid) + pg_stat_get_autoanalyze_count(c.oid),
            'bytes', pg_relation_size(c.oid),
            'updates', s.n_tup_upd, 'deletes', s.n_tup_del,
            'dead_tuples', s.n_dead_tup, 'live_tuples', s.n_live_tup,
            'last_vacuum', greatest(s.last_vacuum, s.last_autovacuum))
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
        WHERE c.oid = %L::regclass $cmd$, rows_shard.shard)], false) r
    CROSS JOIN LATERAL (SELECT r.result::jsonb AS f) j
    WHERE r.success
$fn$"#
    )
}

/// An index's size, from the shard that holds the rows: a shard's index is named after the
/// index with the shard's id appended, as the shard is after the table.
fn index_bytes() -> String {
    format!(
        r#"
CREATE OR REPLACE FUNCTION embedstore_index_bytes(index regclass) RETURNS bigint
LANGUAGE sql STABLE STRICT SECURITY DEFINER SET search_path = pg_catalog AS $fn$
    SELECT coalesce(sum(r.result::bigint), 0)::bigint
    FROM pg_index i
    JOIN pg_class ic ON ic.oid = i.indexrelid
    CROSS JOIN LATERAL (SELECT i.indrelid::regclass AS partition) t
    CROSS JOIN LATERAL (SELECT rows_shard.* FROM (SELECT t.partition) a(partition),
                        LATERAL {ROWS_SHARD}) rs
    CROSS JOIN LATERAL master_run_on_worker(ARRAY[rs.nodename], ARRAY[rs.nodeport::int],
        ARRAY[format('SELECT pg_relation_size(to_regclass(%L))',
                     format('%s.%I', ic.relnamespace::regnamespace, ic.relname || '_' || rs.shardid))],
        false) r
    WHERE i.indexrelid = index AND r.success
$fn$"#
    )
}

/// A partition's sizes, from Citus's own sums over the shards.
const PARTITION_BYTES: &str = r#"
CREATE OR REPLACE FUNCTION embedstore_partition_bytes(partition regclass, OUT total_bytes bigint, OUT index_bytes bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $fn$
    SELECT citus_total_relation_size(partition),
           citus_total_relation_size(partition) - citus_table_size(partition)
$fn$"#;

/// Turns this embedstore database, on a Citus coordinator, into a distributed one (see the
/// module documentation), in one transaction. The caller has checked the cluster; `partitions`
/// are the existing collections' ids (their partitions' names are built from them).
pub(crate) fn distribute(conn: &mut PgConnection, partitions: &[i32]) -> Result<()> {
    conn.transaction(|conn| {
        for (table, trigger) in TRIGGERS {
            diesel::sql_query(format!("DROP TRIGGER IF EXISTS {trigger} ON {table}"))
                .execute(conn)?;
        }
        for id in partitions {
            // Only integers from our own catalog reach these names.
            diesel::sql_query(format!(
                "DROP TRIGGER IF EXISTS embeddings_{id}_notify_truncate ON embeddings_{id}"
            ))
            .execute(conn)?;
        }
        conn.batch_execute(
            "ALTER TABLE embeddings ALTER COLUMN tenant SET DEFAULT embedstore_bound_tenant(); \
             ALTER POLICY embeddings_tenant_isolation ON embeddings \
                USING (tenant IS NOT DISTINCT FROM embedstore_bound_tenant()) \
                WITH CHECK (tenant IS NOT DISTINCT FROM embedstore_bound_tenant())",
        )?;
        for function in WORKER_FUNCTIONS {
            diesel::sql_query("SELECT create_distributed_function($1::regprocedure)::text")
                .bind::<Text, _>(function)
                .execute(conn)?;
        }
        for table in REFERENCE_TABLES {
            diesel::sql_query("SELECT create_reference_table($1::regclass)::text")
                .bind::<Text, _>(table)
                .execute(conn)?;
        }
        diesel::sql_query(
            "SELECT create_distributed_table('embeddings'::regclass, 'collection_id')::text",
        )
        .execute(conn)?;
        replace_facts(conn)
    })
}

/// Installs the distributed versions of the facts functions (idempotent): part of
/// [`distribute`], and run again by `Store::distribute` on a database distributed by an
/// earlier embedstore, so that it gets this version's.
pub(crate) fn replace_facts(conn: &mut PgConnection) -> Result<()> {
    for function in [partition_facts(), index_bytes(), PARTITION_BYTES.to_owned()] {
        conn.batch_execute(&function)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_trigger_the_migrations_create_is_dropped_and_only_those() {
        let migrations = [
            include_str!("../../migrations/2026-11-23-000002_collections/up.sql"),
            include_str!("../../migrations/2026-11-23-000003_embeddings/up.sql"),
            include_str!("../../migrations/2026-11-25-000030_catalog_guards/up.sql"),
            include_str!("../../migrations/2026-12-03-000050_change_notifications/up.sql"),
            include_str!("../../migrations/2026-12-03-000070_collection_aliases/up.sql"),
        ]
        .join("\n");
        let created: Vec<&str> = migrations
            .lines()
            .filter_map(|line| line.trim().strip_prefix("CREATE TRIGGER "))
            .filter_map(|rest| rest.split_whitespace().next())
            .filter(|name| !name.starts_with('%'))
            .collect();
        let mut dropped: Vec<&str> = TRIGGERS.iter().map(|(_, name)| *name).collect();
        let mut created = created;
        created.sort_unstable();
        dropped.sort_unstable();
        assert_eq!(created, dropped);
    }
}
