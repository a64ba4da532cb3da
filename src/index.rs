//! ANN index lifecycle: create, drop, rebuild and inspect a collection's HNSW or IVFFlat index.
//!
//! Builds run `CREATE INDEX CONCURRENTLY`, which cannot run inside a transaction, so these are
//! [`Store`] methods and never [`UnitOfWork`](crate::UnitOfWork) ones. A build gets a pooled
//! connection of its own for its whole duration, with `statement_timeout` lifted (a real
//! collection takes minutes) and the spec's `maintenance_work_mem` /
//! `max_parallel_maintenance_workers`; every one of those session settings is put back before
//! the connection returns to the pool.
//!
//! Every piece of SQL text comes from our own catalog integers (collection id, dimension) or a
//! closed set (method, operator class); the build parameters are bound and formatted by the
//! server (`format('… %s …', $n)`), since DDL takes no bind parameters.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Jsonb, Nullable, Text, Timestamptz};
use garde::Valid;
use serde::Serialize;

use crate::dto::{IndexMethod, IndexSpec};
use crate::error::{Error, Result};
use crate::filter::{FieldPath, Filter, PayloadKind};
use crate::metric::Element;
use crate::models::Collection;
use crate::repo::collections::{ann_name, ensure_partition, payload_prefix};
use crate::store::{PooledPg, Store};

/// How often a build's progress is read while it runs.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);

/// A snapshot of a running index build, read from `pg_stat_progress_create_index`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct IndexProgress {
    /// The server's phase, e.g. `building index: loading tuples`.
    pub phase: String,
    /// Tuples processed so far in this phase.
    pub tuples_done: u64,
    /// Tuples this phase will process (0 when unknown).
    pub tuples_total: u64,
    /// Blocks processed so far in this phase.
    pub blocks_done: u64,
    /// Blocks this phase will process (0 when unknown).
    pub blocks_total: u64,
    /// Time since the build started.
    pub elapsed: Duration,
}

impl IndexProgress {
    /// Fraction of the current phase done, in [0, 1], when the server reports totals.
    pub fn fraction(&self) -> Option<f64> {
        if self.tuples_total > 0 {
            Some((self.tuples_done as f64 / self.tuples_total as f64).min(1.0))
        } else if self.blocks_total > 0 {
            Some((self.blocks_done as f64 / self.blocks_total as f64).min(1.0))
        } else {
            None
        }
    }
}

/// What a collection's ANN index looks like now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct IndexStatus {
    /// The collection's name.
    pub collection: String,
    /// The index's name (`embeddings_<id>_ann`).
    pub name: String,
    /// Whether the index exists at all (valid or not).
    pub exists: bool,
    /// Whether the server may use it: false after a failed or interrupted concurrent build.
    pub valid: bool,
    /// HNSW or IVFFlat, when it exists.
    pub method: Option<IndexMethod>,
    /// `vector` or `halfvec`, the indexed expression's element type.
    pub element: Option<String>,
    /// Build parameters (`m`, `ef_construction` or `lists`) as recorded when it was built.
    pub parameters: serde_json::Value,
    /// On-disk size in bytes.
    pub size_bytes: u64,
    /// Rows in the collection now.
    pub rows: u64,
    /// Rows it was built on.
    pub built_rows: Option<u64>,
    /// When it was built.
    pub built_at: Option<DateTime<Utc>>,
    /// Left-overs of interrupted builds or rebuilds (invalid indexes) that drop/rebuild remove.
    pub leftovers: Vec<String>,
    /// What to do about it, in plain words (empty when all is well).
    pub advice: Vec<String>,
}

impl Store {
    /// Builds `collection`'s ANN index with `CREATE INDEX CONCURRENTLY` (writes continue
    /// meanwhile) on the exact expression searches order by, with the operator class of the
    /// collection's metric. `progress`, when given, is called about five times a second with the
    /// server's progress report while the build runs.
    ///
    /// An invalid index left by an earlier failed build is dropped first.
    ///
    /// # Errors
    /// [`Error::Validation`] for a spec the collection cannot have (over 4,000 dimensions,
    /// IVFFlat with `l1`, bad parameters); [`Error::Conflict`] when a valid index exists (drop or
    /// rebuild it); [`Error::NotFound`] when the collection was dropped; [`Error::Database`]
    /// when the build fails (nothing valid is left behind).
    pub fn create_index(
        &self,
        collection: &Collection,
        spec: &IndexSpec,
        progress: Option<&mut dyn FnMut(IndexProgress)>,
    ) -> Result<IndexStatus> {
        let spec = spec.clone().validate_for(collection)?;
        let mut conn = self.connection()?;
        ensure_partition(&mut conn, collection)?;
        let existing = index_state(&mut conn, &ann_name(collection))?;
        if existing == Some(true) {
            return Err(Error::Conflict {
                message: format!(
                    "collection {:?} already has an ANN index: drop or rebuild it",
                    collection.name
                ),
                constraint: None,
            });
        }
        drop_leftovers(&mut conn, collection, true)?;
        drop(conn);
        self.build(collection, &spec, &ann_name(collection), progress)?;
        self.index_status(collection)
    }

    /// Builds a fresh index beside the current one (`CREATE INDEX CONCURRENTLY` under a
    /// temporary name), then drops the old one and renames the new one into place, so
    /// searches keep an index throughout. `spec` changes the parameters; `None` keeps them,
    /// except that IVFFlat's derived `lists` are derived again from today's row count. Also
    /// cleans up invalid left-overs of interrupted builds.
    ///
    /// # Errors
    /// As [`Store::create_index`]; [`Error::NotFound`] when there is no index to rebuild.
    pub fn rebuild_index(
        &self,
        collection: &Collection,
        spec: Option<&IndexSpec>,
        progress: Option<&mut dyn FnMut(IndexProgress)>,
    ) -> Result<IndexStatus> {
        let mut conn = self.connection()?;
        ensure_partition(&mut conn, collection)?;
        let spec = match spec {
            Some(spec) => spec.clone(),
            None => recorded_spec(&mut conn, collection)?
                .ok_or_else(|| Error::not_found("ANN index of collection", &collection.name))?,
        };
        let spec = spec.validate_for(collection)?;
        let fresh = format!("{}_new", ann_name(collection));
        drop_leftovers(&mut conn, collection, false)?;
        drop_index_concurrently(&mut conn, &fresh)?;
        drop(conn);
        self.build(collection, &spec, &fresh, progress)?;
        let mut conn = self.connection()?;
        drop_index_concurrently(&mut conn, &ann_name(collection))?;
        // Takes a brief exclusive lock on the index only; names come from our integer id.
        diesel::sql_query(format!(
            "ALTER INDEX {fresh} RENAME TO {}",
            ann_name(collection)
        ))
        .execute(&mut conn)?;
        drop(conn);
        self.index_status(collection)
    }

    /// Drops the collection's ANN index (`DROP INDEX CONCURRENTLY`) and any invalid left-overs;
    /// searches become exact scans. Returns whether an index existed.
    ///
    /// # Errors
    /// [`Error::Database`] when the server refuses.
    pub fn drop_index(&self, collection: &Collection) -> Result<bool> {
        let mut conn = self.connection()?;
        let existed = index_state(&mut conn, &ann_name(collection))?.is_some();
        drop_leftovers(&mut conn, collection, true)?;
        diesel::sql_query("DELETE FROM ann_indexes WHERE collection_id = $1")
            .bind::<Integer, _>(collection.id.0)
            .execute(&mut conn)?;
        self.forget_indexes(collection);
        Ok(existed)
    }

    /// The collection's ANN index as it is now, with advice.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the collection was dropped; [`Error::Database`] otherwise.
    pub fn index_status(&self, collection: &Collection) -> Result<IndexStatus> {
        let mut conn = self.connection()?;
        ensure_partition(&mut conn, collection)?;
        status(&mut conn, collection)
    }

    /// Runs the build on its own pooled connection while this thread reads its progress.
    fn build(
        &self,
        collection: &Collection,
        spec: &Valid<IndexSpec>,
        name: &str,
        progress: Option<&mut dyn FnMut(IndexProgress)>,
    ) -> Result<()> {
        let mut conn = self.connection()?;
        let rows = row_count(&mut conn, collection)?;
        let (statement, binds) = build_statement(collection, spec, name, rows);
        let ddl: DdlText = binds
            .into_iter()
            .fold(diesel::sql_query(statement).into_boxed(), |query, value| {
                query.bind::<Integer, _>(value)
            })
            .get_result(&mut conn)?;
        let backend: BackendPid =
            diesel::sql_query("SELECT pg_backend_pid() AS pid").get_result(&mut conn)?;
        let started = Instant::now();
        let outcome = match progress {
            None => run_build(&mut conn, spec, &ddl.sql),
            Some(report) => std::thread::scope(|scope| {
                let builder = scope.spawn(|| run_build(&mut conn, spec, &ddl.sql));
                while !builder.is_finished() {
                    std::thread::sleep(PROGRESS_INTERVAL);
                    if let Some(snapshot) = self.read_progress(backend.pid, started) {
                        report(snapshot);
                    }
                }
                builder
                    .join()
                    .unwrap_or_else(|payload| std::panic::resume_unwind(payload))
            }),
        };
        outcome?;
        record_build(&mut conn, collection, spec, rows)?;
        self.forget_indexes(collection);
        Ok(())
    }

    /// One progress snapshot, read on another pooled connection; `None` when none is free soon or the
    /// build has not registered yet (progress is best effort, the build is what matters).
    fn read_progress(&self, pid: i32, started: Instant) -> Option<IndexProgress> {
        let mut conn = self.pool.get_timeout(PROGRESS_INTERVAL).ok()?;
        let row: Option<ProgressRow> = diesel::sql_query(
            "SELECT phase, tuples_done, tuples_total, blocks_done, blocks_total \
             FROM pg_stat_progress_create_index WHERE pid = $1",
        )
        .bind::<Integer, _>(pid)
        .get_result(&mut conn)
        .optional()
        .ok()
        .flatten();
        row.map(|row| IndexProgress {
            phase: row.phase,
            tuples_done: row.tuples_done.unsigned_abs(),
            tuples_total: row.tuples_total.unsigned_abs(),
            blocks_done: row.blocks_done.unsigned_abs(),
            blocks_total: row.blocks_total.unsigned_abs(),
            elapsed: started.elapsed(),
        })
    }
}

/// A payload index: a btree on one metadata field's typed value, or a GIN index on the whole
/// metadata, so that filters on it are cheap to evaluate exactly.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PayloadIndex {
    /// Catalog id (part of the index name); what [`Store::drop_payload_index`] takes.
    pub id: i32,
    /// The field, in filter path syntax (`a.b`); empty for a GIN index.
    pub field: String,
    /// The field's type, or `None` for a GIN index on all of `metadata`.
    pub kind: Option<PayloadKind>,
    /// The index's name (`embeddings_<collection id>_payload_<id>`).
    pub name: String,
    /// False while a concurrent build runs, or after one failed.
    pub valid: bool,
    /// On-disk size in bytes.
    pub size_bytes: u64,
}

impl Store {
    /// Builds a btree payload index on `field`'s values of type `kind`
    /// (`CREATE INDEX CONCURRENTLY`), then refreshes the collection's statistics so the
    /// planner knows the field's distribution. Filters comparing that field with values of
    /// that type (`keyword`: strings; `integer`/`float`: numbers; `bool`; `timestamp`: RFC 3339
    /// strings in range comparisons) use it, and the search planner counts their matches to
    /// choose an exact scan when few rows match.
    ///
    /// # Errors
    /// [`Error::Validation`] for a bad field path; [`Error::Conflict`] when the same index
    /// exists; [`Error::NotFound`] for a dropped collection; [`Error::Database`] when the build
    /// fails (its catalog row and invalid index are removed).
    pub fn create_payload_index(
        &self,
        collection: &Collection,
        field: &FieldPath,
        kind: PayloadKind,
    ) -> Result<PayloadIndex> {
        Filter::exists(field.clone()).check()?;
        self.create_payload(collection, field.segments().to_vec(), Some(kind))
    }

    /// Builds a GIN index (`jsonb_path_ops`) on the collection's whole `metadata`: it serves
    /// `$eq` on scalar values and `$contains` on every field without a btree payload index.
    ///
    /// # Errors
    /// As [`Store::create_payload_index`].
    pub fn create_metadata_index(&self, collection: &Collection) -> Result<PayloadIndex> {
        self.create_payload(collection, Vec::new(), None)
    }

    /// The collection's payload indexes, in creation order.
    ///
    /// # Errors
    /// [`Error::NotFound`] for a dropped collection; [`Error::Database`] otherwise.
    pub fn list_payload_indexes(&self, collection: &Collection) -> Result<Vec<PayloadIndex>> {
        let mut conn = self.connection()?;
        ensure_partition(&mut conn, collection)?;
        list_payload(&mut conn, collection)
    }

    /// Drops the payload index with catalog id `id` (`DROP INDEX CONCURRENTLY`); returns
    /// whether it existed.
    ///
    /// # Errors
    /// [`Error::Database`] when the server refuses.
    pub fn drop_payload_index(&self, collection: &Collection, id: i32) -> Result<bool> {
        let mut conn = self.connection()?;
        let name = format!("{}{id}", payload_prefix(collection));
        drop_index_concurrently(&mut conn, &name)?;
        let deleted =
            diesel::sql_query("DELETE FROM payload_indexes WHERE collection_id = $1 AND id = $2")
                .bind::<Integer, _>(collection.id.0)
                .bind::<Integer, _>(id)
                .execute(&mut conn)?;
        self.forget_indexes(collection);
        Ok(deleted > 0)
    }

    fn create_payload(
        &self,
        collection: &Collection,
        field: Vec<String>,
        kind: Option<PayloadKind>,
    ) -> Result<PayloadIndex> {
        let mut conn = self.connection()?;
        ensure_partition(&mut conn, collection)?;
        let kind_name = kind.map_or("gin", PayloadKind::as_str);
        let id: Option<PayloadId> = diesel::sql_query(
            "INSERT INTO payload_indexes (collection_id, field, kind) VALUES ($1, $2, $3) \
             ON CONFLICT (collection_id, field, kind) DO NOTHING RETURNING id",
        )
        .bind::<Integer, _>(collection.id.0)
        .bind::<Array<Text>, _>(&field)
        .bind::<Text, _>(kind_name)
        .get_result(&mut conn)
        .optional()?;
        let Some(PayloadId { id }) = id else {
            return Err(Error::Conflict {
                message: format!(
                    "collection {:?} already has a {kind_name} payload index on {:?}",
                    collection.name,
                    FieldPath::from_segments(field.iter().cloned()).to_string()
                ),
                constraint: Some("payload_indexes_collection_id_field_kind_key".to_owned()),
            });
        };
        let name = format!("{}{id}", payload_prefix(collection));
        let partition = collection.partition_name();
        let template = match kind {
            None => format!(
                "SELECT format('CREATE INDEX CONCURRENTLY {name} ON {partition} \
                 USING gin (metadata jsonb_path_ops)') AS sql"
            ),
            Some(kind) => format!(
                "SELECT format('CREATE INDEX CONCURRENTLY {name} ON {partition} \
                 (({}(metadata #> %L::text[])))', $1::text[]) AS sql",
                kind.accessor()
            ),
        };
        let mut query = diesel::sql_query(template).into_boxed();
        if kind.is_some() {
            query = query.bind::<Array<Text>, _>(field.clone());
        }
        let ddl: DdlText = query.get_result(&mut conn)?;
        let built = run_build(&mut conn, &IndexSpec::hnsw(), &ddl.sql).and_then(|()| {
            // Expression statistics come from ANALYZE: the planner's estimates need them.
            diesel::sql_query(format!("ANALYZE {partition}")).execute(&mut conn)?;
            Ok(())
        });
        if let Err(error) = built {
            drop_index_concurrently(&mut conn, &name)?;
            diesel::sql_query("DELETE FROM payload_indexes WHERE id = $1")
                .bind::<Integer, _>(id)
                .execute(&mut conn)?;
            return Err(error);
        }
        self.forget_indexes(collection);
        list_payload(&mut conn, collection)?
            .into_iter()
            .find(|index| index.id == id)
            .ok_or_else(|| Error::not_found("payload index", name))
    }
}

#[derive(QueryableByName)]
struct PayloadId {
    #[diesel(sql_type = Integer)]
    id: i32,
}

#[derive(QueryableByName)]
struct PayloadRow {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Array<Text>)]
    field: Vec<String>,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Bool)]
    valid: bool,
    #[diesel(sql_type = BigInt)]
    size_bytes: i64,
}

fn list_payload(conn: &mut PgConnection, collection: &Collection) -> Result<Vec<PayloadIndex>> {
    let rows: Vec<PayloadRow> = diesel::sql_query(
        "SELECT p.id, p.field, p.kind, coalesce(i.indisvalid, false) AS valid, \
                coalesce(pg_relation_size(c.oid), 0) AS size_bytes \
         FROM payload_indexes p \
         LEFT JOIN pg_class c ON c.relname = $1 || p.id \
              AND c.relnamespace = current_schema()::text::regnamespace \
         LEFT JOIN pg_index i ON i.indexrelid = c.oid \
         WHERE p.collection_id = $2 ORDER BY p.id",
    )
    .bind::<Text, _>(payload_prefix(collection))
    .bind::<Integer, _>(collection.id.0)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| PayloadIndex {
            name: format!("{}{}", payload_prefix(collection), row.id),
            id: row.id,
            field: FieldPath::from_segments(row.field).to_string(),
            kind: row.kind.parse().ok(),
            valid: row.valid,
            size_bytes: row.size_bytes.unsigned_abs(),
        })
        .collect())
}

#[derive(QueryableByName)]
struct DdlText {
    #[diesel(sql_type = Text)]
    sql: String,
}

#[derive(QueryableByName)]
struct BackendPid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

#[derive(QueryableByName)]
struct ProgressRow {
    #[diesel(sql_type = Text)]
    phase: String,
    #[diesel(sql_type = BigInt)]
    tuples_done: i64,
    #[diesel(sql_type = BigInt)]
    tuples_total: i64,
    #[diesel(sql_type = BigInt)]
    blocks_done: i64,
    #[diesel(sql_type = BigInt)]
    blocks_total: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[derive(QueryableByName)]
struct IndexState {
    #[diesel(sql_type = Bool)]
    valid: bool,
}

#[derive(QueryableByName)]
struct StatusRow {
    #[diesel(sql_type = Nullable<Bool>)]
    valid: Option<bool>,
    #[diesel(sql_type = Nullable<Text>)]
    method: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    definition: Option<String>,
    #[diesel(sql_type = BigInt)]
    size_bytes: i64,
    #[diesel(sql_type = BigInt)]
    rows: i64,
    #[diesel(sql_type = Nullable<Jsonb>)]
    parameters: Option<serde_json::Value>,
    #[diesel(sql_type = Nullable<BigInt>)]
    built_rows: Option<i64>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    built_at: Option<DateTime<Utc>>,
}

#[derive(QueryableByName)]
struct IndexName {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct RecordedSpec {
    #[diesel(sql_type = Text)]
    method: String,
    #[diesel(sql_type = Jsonb)]
    parameters: serde_json::Value,
}

/// The server-side `format()` call that yields the `CREATE INDEX CONCURRENTLY` text, and the
/// integers it binds. The template itself holds only our integers and closed-set names.
fn build_statement(
    collection: &Collection,
    spec: &IndexSpec,
    name: &str,
    rows: u64,
) -> (String, Vec<i32>) {
    let expression = collection.search_expression();
    let element = expression.element.unwrap_or(Element::Vector);
    let opclass = collection.metric.operator_class(element);
    let partition = collection.partition_name();
    let column = expression.column_sql();
    let method = spec.method.as_str();
    let head = format!(
        "CREATE INDEX CONCURRENTLY {name} ON {partition} USING {method} (({column}) {opclass})"
    );
    let (with, binds) = match spec.method {
        IndexMethod::Hnsw => (
            " WITH (m = %s, ef_construction = %s)",
            vec![
                clamp_i32(spec.m.unwrap_or(16)),
                clamp_i32(spec.ef_construction.unwrap_or(64)),
            ],
        ),
        IndexMethod::IvfFlat => (" WITH (lists = %s)", vec![clamp_i32(spec.lists_for(rows))]),
    };
    let placeholders = (1..=binds.len())
        .map(|index| format!(", ${index}::integer"))
        .collect::<String>();
    (
        format!("SELECT format('{head}{with}'{placeholders}) AS sql"),
        binds,
    )
}

fn clamp_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// Runs the DDL with the build's session settings, and puts the pool's settings back whatever
/// happens, so the connection returns to the pool as it left it.
fn run_build(conn: &mut PooledPg, spec: &IndexSpec, ddl: &str) -> Result<()> {
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
struct SavedSettings {
    #[diesel(sql_type = Text)]
    statement_timeout: String,
    #[diesel(sql_type = Text)]
    maintenance_work_mem: String,
    #[diesel(sql_type = Text)]
    parallel_workers: String,
}

fn apply_session(
    conn: &mut PooledPg,
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

fn record_build(
    conn: &mut PooledPg,
    collection: &Collection,
    spec: &IndexSpec,
    rows: u64,
) -> Result<()> {
    let element = match collection.search_expression().element {
        Some(Element::HalfVector) => "halfvec",
        _ => "vector",
    };
    let parameters = match spec.method {
        IndexMethod::Hnsw => serde_json::json!({
            "m": spec.m.unwrap_or(16),
            "ef_construction": spec.ef_construction.unwrap_or(64),
        }),
        IndexMethod::IvfFlat => serde_json::json!({
            "lists": spec.lists_for(rows),
            "lists_derived": spec.lists.is_none(),
        }),
    };
    diesel::sql_query(
        "INSERT INTO ann_indexes (collection_id, method, element, parameters, built_rows) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (collection_id) DO UPDATE SET method = EXCLUDED.method, \
            element = EXCLUDED.element, parameters = EXCLUDED.parameters, \
            built_rows = EXCLUDED.built_rows, built_at = now()",
    )
    .bind::<Integer, _>(collection.id.0)
    .bind::<Text, _>(spec.method.as_str())
    .bind::<Text, _>(element)
    .bind::<Jsonb, _>(parameters)
    .bind::<BigInt, _>(i64::try_from(rows).unwrap_or(i64::MAX))
    .execute(conn)?;
    Ok(())
}

/// The spec the current index was built with, IVFFlat's derived `lists` left to derive again.
fn recorded_spec(conn: &mut PgConnection, collection: &Collection) -> Result<Option<IndexSpec>> {
    let recorded: Option<RecordedSpec> =
        diesel::sql_query("SELECT method, parameters FROM ann_indexes WHERE collection_id = $1")
            .bind::<Integer, _>(collection.id.0)
            .get_result(conn)
            .optional()?;
    Ok(recorded.and_then(|recorded| {
        let number = |key: &str| {
            recorded.parameters[key]
                .as_u64()
                .and_then(|value| u32::try_from(value).ok())
        };
        match IndexMethod::from_name(&recorded.method)? {
            IndexMethod::Hnsw => {
                let mut spec = IndexSpec::hnsw();
                spec.m = number("m");
                spec.ef_construction = number("ef_construction");
                Some(spec)
            }
            IndexMethod::IvfFlat => {
                let mut spec = IndexSpec::ivfflat();
                if recorded.parameters["lists_derived"] != serde_json::Value::Bool(true) {
                    spec.lists = number("lists");
                }
                Some(spec)
            }
        }
    }))
}

fn row_count(conn: &mut PgConnection, collection: &Collection) -> Result<u64> {
    let count: Count =
        diesel::sql_query("SELECT count(*) AS count FROM embeddings WHERE collection_id = $1")
            .bind::<Integer, _>(collection.id.0)
            .get_result(conn)?;
    Ok(count.count.unsigned_abs())
}

/// `Some(valid)` when an index of that name exists.
fn index_state(conn: &mut PgConnection, name: &str) -> Result<Option<bool>> {
    let state: Option<IndexState> = diesel::sql_query(
        "SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE c.relname = $1 AND c.relnamespace = current_schema()::text::regnamespace",
    )
    .bind::<Text, _>(name)
    .get_result(conn)
    .optional()?;
    Ok(state.map(|state| state.valid))
}

/// Drops the invalid indexes an interrupted build or rebuild leaves (`…_ann`, `…_ann_new`,
/// `…_ann_ccnew…`), and with `all` the valid index too.
fn drop_leftovers(conn: &mut PgConnection, collection: &Collection, all: bool) -> Result<()> {
    for name in leftovers(conn, collection)? {
        drop_index_concurrently(conn, &name)?;
    }
    if all {
        drop_index_concurrently(conn, &ann_name(collection))?;
    }
    Ok(())
}

/// The invalid indexes on the collection's partition whose names are ours.
fn leftovers(conn: &mut PgConnection, collection: &Collection) -> Result<Vec<String>> {
    let names: Vec<IndexName> = diesel::sql_query(
        "SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE i.indrelid = to_regclass($1) AND NOT i.indisvalid \
           AND starts_with(c.relname::text, $2) ORDER BY 1",
    )
    .bind::<Text, _>(collection.partition_name())
    .bind::<Text, _>(ann_name(collection))
    .load(conn)?;
    Ok(names.into_iter().map(|row| row.name).collect())
}

/// `name` is one of ours: built from the collection id (and a closed set of suffixes), or read
/// back from pg_class after matching that prefix.
fn drop_index_concurrently(conn: &mut PgConnection, name: &str) -> Result<()> {
    let quoted: DdlText =
        diesel::sql_query("SELECT format('DROP INDEX CONCURRENTLY IF EXISTS %I', $1::text) AS sql")
            .bind::<Text, _>(name)
            .get_result(conn)?;
    diesel::sql_query(quoted.sql).execute(conn)?;
    Ok(())
}

fn status(conn: &mut PgConnection, collection: &Collection) -> Result<IndexStatus> {
    let name = ann_name(collection);
    let row: StatusRow = diesel::sql_query(
        "SELECT i.indisvalid AS valid, am.amname::text AS method, \
                pg_get_indexdef(c.oid) AS definition, \
                coalesce(pg_relation_size(c.oid), 0) AS size_bytes, \
                (SELECT count(*) FROM embeddings WHERE collection_id = $2) AS rows, \
                a.parameters, a.built_rows, a.built_at \
         FROM (SELECT 1) one \
         LEFT JOIN pg_class c ON c.relname = $1 AND c.relkind = 'i' \
              AND c.relnamespace = current_schema()::text::regnamespace \
         LEFT JOIN pg_index i ON i.indexrelid = c.oid \
         LEFT JOIN pg_am am ON am.oid = c.relam \
         LEFT JOIN ann_indexes a ON a.collection_id = $2",
    )
    .bind::<Text, _>(&name)
    .bind::<Integer, _>(collection.id.0)
    .get_result(conn)?;
    let leftovers: Vec<String> = leftovers(conn, collection)?
        .into_iter()
        .filter(|leftover| *leftover != name)
        .collect();
    let exists = row.valid.is_some();
    let valid = row.valid.unwrap_or(false);
    let method = row.method.as_deref().and_then(IndexMethod::from_name);
    let element = row.definition.as_deref().map(|definition| {
        if definition.contains("halfvec") {
            "halfvec".to_owned()
        } else {
            "vector".to_owned()
        }
    });
    let rows = row.rows.unsigned_abs();
    let built_rows = row.built_rows.map(i64::unsigned_abs);
    let advice = advise(exists, valid, method, rows, built_rows, &leftovers);
    Ok(IndexStatus {
        collection: collection.name.clone(),
        name,
        exists,
        valid,
        method,
        element,
        parameters: row
            .parameters
            .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new())),
        size_bytes: row.size_bytes.unsigned_abs(),
        rows,
        built_rows,
        built_at: row.built_at,
        leftovers,
        advice,
    })
}

/// Rows above which an exact scan is slow enough to want an ANN index.
const ADVISE_INDEX_ROWS: u64 = 50_000;

fn advise(
    exists: bool,
    valid: bool,
    method: Option<IndexMethod>,
    rows: u64,
    built_rows: Option<u64>,
    leftovers: &[String],
) -> Vec<String> {
    let mut advice = Vec::new();
    if exists && !valid {
        advice.push(
            "the index is INVALID (a failed or interrupted concurrent build) and is not used: \
             rebuild or drop it"
                .to_owned(),
        );
    }
    if !leftovers.is_empty() {
        advice.push(format!(
            "{} invalid left-over index(es) from interrupted builds: drop or rebuild removes them",
            leftovers.len()
        ));
    }
    if !exists && rows >= ADVISE_INDEX_ROWS {
        advice.push(format!(
            "no ANN index: every search scans all {rows} rows exactly; create one"
        ));
    }
    if let (Some(IndexMethod::IvfFlat), Some(built)) = (method, built_rows) {
        if rows > built.saturating_mul(2).max(1000) || (built > 1000 && rows < built / 2) {
            advice.push(format!(
                "IVFFlat built on {built} rows, now {rows}: rebuild so its lists fit the data"
            ));
        }
    }
    if let (Some(IndexMethod::Hnsw), Some(built)) = (method, built_rows) {
        if built > 1000 && rows < built / 2 {
            advice.push(format!(
                "HNSW built on {built} rows, now {rows}: many deletions leave dead graph nodes; \
                 rebuild, then VACUUM"
            ));
        }
    }
    advice
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_names_invalid_and_stale_indexes() {
        let invalid = advise(true, false, Some(IndexMethod::Hnsw), 10, Some(10), &[]);
        assert!(invalid[0].contains("INVALID"), "{invalid:?}");
        let stale = advise(
            true,
            true,
            Some(IndexMethod::IvfFlat),
            200_000,
            Some(10_000),
            &[],
        );
        assert_eq!(
            stale,
            ["IVFFlat built on 10000 rows, now 200000: rebuild so its lists fit the data"]
        );
        assert!(
            advise(
                true,
                true,
                Some(IndexMethod::IvfFlat),
                12_000,
                Some(10_000),
                &[]
            )
            .is_empty()
        );
        let missing = advise(false, false, None, 60_000, None, &[]);
        assert!(missing[0].starts_with("no ANN index"), "{missing:?}");
    }
}
