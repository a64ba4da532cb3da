//! What both index lifecycles (ANN in `ann_index.rs`, payload in `payload_index.rs`) run on a
//! build's own pooled connection: the `CREATE INDEX CONCURRENTLY` under the build's session
//! settings ([`run_build`], which puts the pool's settings back), `DROP INDEX CONCURRENTLY`,
//! and the backend pid and `pg_stat_progress_create_index` row that progress reports read.
//!
//! DDL takes no bind parameters, so its text comes from the server's `format()` ([`DdlText`]);
//! the templates hold only our catalog integers and closed-set names.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};

use crate::dto::IndexSpec;
use crate::error::Result;

/// A statement's text, as the server's `format()` returned it.
#[derive(QueryableByName)]
pub(crate) struct DdlText {
    #[diesel(sql_type = Text)]
    pub(crate) sql: String,
}

#[derive(QueryableByName)]
struct BackendPid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

/// The connection's backend pid, by which [`progress`] finds its build.
pub(crate) fn backend_pid(conn: &mut PgConnection) -> Result<i32> {
    let backend: BackendPid =
        diesel::sql_query("SELECT pg_backend_pid() AS pid").get_result(conn)?;
    Ok(backend.pid)
}

/// A running build's row of `pg_stat_progress_create_index`.
#[derive(QueryableByName)]
pub(crate) struct ProgressRow {
    #[diesel(sql_type = Text)]
    pub(crate) phase: String,
    #[diesel(sql_type = BigInt)]
    pub(crate) tuples_done: i64,
    #[diesel(sql_type = BigInt)]
    pub(crate) tuples_total: i64,
    #[diesel(sql_type = BigInt)]
    pub(crate) blocks_done: i64,
    #[diesel(sql_type = BigInt)]
    pub(crate) blocks_total: i64,
}

/// The progress of the build running on backend `pid`; `None` before it has registered.
pub(crate) fn progress(conn: &mut PgConnection, pid: i32) -> Result<Option<ProgressRow>> {
    Ok(diesel::sql_query(
        "SELECT phase, tuples_done, tuples_total, blocks_done, blocks_total \
         FROM pg_stat_progress_create_index WHERE pid = $1",
    )
    .bind::<Integer, _>(pid)
    .get_result(conn)
    .optional()?)
}

/// Runs the DDL with the build's session settings, and puts the pool's settings back whatever
/// happens, so the connection returns to the pool as it left it.
pub(crate) fn run_build(conn: &mut PgConnection, spec: &IndexSpec, ddl: &str) -> Result<()> {
    let saved: SavedSettings = diesel::sql_query(
        "SELECT current_setting('statement_timeout') AS statement_timeout, \
                current_setting('maintenance_work_mem') AS maintenance_work_mem, \
                current_setting('max_parallel_maintenance_workers') AS parallel_workers",
    )
    .get_result(conn)?;
    let memory = spec
        .maintenance_work_mem_mb
        .map_or(saved.maintenance_work_mem.clone(), |mb| format!("{mb}MB"));
    let workers = spec
        .parallel_workers
        .map_or(saved.parallel_workers.clone(), |workers| {
            workers.to_string()
        });
    apply_session(conn, "0", &memory, &workers)?;
    let outcome = diesel::sql_query(ddl).execute(conn).map(drop);
    let restored = apply_session(
        conn,
        &saved.statement_timeout,
        &saved.maintenance_work_mem,
        &saved.parallel_workers,
    );
    outcome?;
    restored
}

#[derive(QueryableByName)]
struct Megabytes {
    #[diesel(sql_type = BigInt)]
    megabytes: i64,
}

/// The session's `maintenance_work_mem` (the server's, unless the pool changed it) in MiB,
/// rounded down.
pub(crate) fn server_build_memory_mb(conn: &mut PgConnection) -> Result<u64> {
    let setting: Megabytes = diesel::sql_query(
        "SELECT pg_size_bytes(current_setting('maintenance_work_mem')) / 1048576 AS megabytes",
    )
    .get_result(conn)?;
    Ok(setting.megabytes.unsigned_abs())
}

#[derive(QueryableByName)]
struct SavedSettings {
    #[diesel(sql_type = Text)]
    statement_timeout: String,
    #[diesel(sql_type = Text)]
    maintenance_work_mem: String,
    #[diesel(sql_type = Text)]
    parallel_workers: String,
}

fn apply_session(
    conn: &mut PgConnection,
    statement_timeout: &str,
    memory: &str,
    workers: &str,
) -> Result<()> {
    diesel::sql_query(
        "SELECT set_config('statement_timeout', $1, false), \
                set_config('maintenance_work_mem', $2, false), \
                set_config('max_parallel_maintenance_workers', $3, false)",
    )
    .bind::<Text, _>(statement_timeout)
    .bind::<Text, _>(memory)
    .bind::<Text, _>(workers)
    .execute(conn)?;
    Ok(())
}

/// `name` is one of ours: built from the collection id (and a closed set of suffixes), or read
/// back from pg_class after matching that prefix.
pub(crate) fn drop_index_concurrently(conn: &mut PgConnection, name: &str) -> Result<()> {
    let quoted: DdlText =
        diesel::sql_query("SELECT format('DROP INDEX CONCURRENTLY IF EXISTS %I', $1::text) AS sql")
            .bind::<Text, _>(name)
            .get_result(conn)?;
    diesel::sql_query(quoted.sql).execute(conn)?;
    Ok(())
}
