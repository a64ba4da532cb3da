//! Issue 24's Citus benchmark: the same rows in three distribution layouts on a running Citus
//! cluster, side by side — by collection (what `Store::distribute` makes, also measured through
//! `Store::search`), one collection spread over all shards (by `id`), and by tenant.
//!
//! The raw layouts are plain tables in `--url`'s database, asked with hand-written SQL through
//! the `postgres` crate, one connection per thread. Recall@10 is against exact neighbours found
//! by brute force in this process (within the query's tenant for the tenant layout). Whether
//! pgvector's settings reach the shards is measured, not assumed: a probe at `ef_search = 1`
//! counts the rows each layout's statement returns. The baseline of every ratio is the raw
//! by-collection layout of the same run.

use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use embedstore::{Collection, Config, IndexSpec, Store};
use embedstore_test_support::dataset::Dataset;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, NoTls, Statement};
use serde_json::json;

use crate::BenchResult;
use crate::args::{ThreadCounts, parse_seconds, parse_threads, positive};
use crate::library::{self, Library};
use crate::phases;
use crate::report::{Report, Table, ratio, round3, round4};
use crate::stats::Latency;
use crate::truth;

/// `embedstore-bench citus`: the cluster, the data and how long to measure.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct CitusArgs {
    /// A database on a Citus coordinator on loopback with the citus and vector extensions and
    /// the workers added; the raw layouts' tables are (re)created in it.
    #[arg(long, value_name = "URL", value_parser = loopback_url)]
    pub url: String,
    /// The database of the library's collection, migrated and distributed by the run
    /// [default: --url's database].
    #[arg(long, value_name = "URL", value_parser = loopback_url)]
    pub library_url: Option<String>,
    /// Rows loaded into each layout.
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = positive())]
    pub rows: usize,
    /// Vector dimension of the synthetic data (real vectors have their own).
    #[arg(long, value_name = "D", default_value_t = 384, value_parser = positive())]
    pub dimension: usize,
    /// Measured queries per layout and ef_search.
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = positive())]
    pub queries: usize,
    /// Client thread counts of the QPS points, comma-separated.
    #[arg(long, value_name = "LIST", default_value = "1,8", value_parser = parse_threads)]
    pub threads: ThreadCounts,
    /// Seconds each QPS point runs for.
    #[arg(long, value_name = "S", default_value = "10", value_parser = parse_seconds)]
    pub seconds: Duration,
    /// Tenants: row i belongs to tenant i % T; query q asks tenant q % T.
    #[arg(long, value_name = "T", default_value_t = 100, value_parser = positive())]
    pub tenants: usize,
    /// Shards of each raw table.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = positive())]
    pub shards: usize,
    /// Real embeddings (the directory `Dataset::load` reads) [default: synthetic clustered].
    #[arg(long, value_name = "DIR")]
    pub vectors: Option<PathBuf>,
}

/// Refuses a URL whose host is not loopback (a Unix socket is local too).
fn loopback_url(text: &str) -> Result<String, String> {
    let config: postgres::Config = text
        .parse()
        .map_err(|_| "not a PostgreSQL connection URL".to_owned())?;
    for host in config.get_hosts() {
        if let postgres::config::Host::Tcp(name) = host {
            let bare = name.trim_start_matches('[').trim_end_matches(']');
            let loopback =
                bare == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                return Err(format!("host {name:?} is not loopback"));
            }
        }
    }
    Ok(text.to_owned())
}

const K: usize = 10;
const EF_SEARCH: [u32; 2] = [40, 100];
const COLLECTION_ID: i32 = 1;
const LIBRARY_COLLECTION: &str = "citus_bench";

/// What is measured: three raw layouts (the spread one with two ways of setting pgvector's
/// options) and the library over the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    ByCollection,
    Library,
    SpreadInStatement,
    SpreadSetLocal,
    ByTenant,
}

const LAYOUTS: [Layout; 5] = [
    Layout::ByCollection,
    Layout::Library,
    Layout::SpreadInStatement,
    Layout::SpreadSetLocal,
    Layout::ByTenant,
];

/// The raw tables, their distribution columns and labels.
const TABLES: [(&str, &str, &str); 3] = [
    (
        "citus_bench_by_collection",
        "collection_id",
        "1 by collection (raw)",
    ),
    ("citus_bench_spread", "id", "2 spread"),
    ("citus_bench_by_tenant", "tenant", "3 by tenant"),
];

impl Layout {
    fn label(self) -> &'static str {
        match self {
            Layout::ByCollection => "1 by collection (raw)",
            Layout::Library => "1 by collection (Store::search)",
            Layout::SpreadInStatement => "2 spread, settings in statement",
            Layout::SpreadSetLocal => "2 spread, SET LOCAL propagated",
            Layout::ByTenant => "3 by tenant",
        }
    }

    /// The raw table (`None` for the library).
    fn table(self) -> Option<&'static str> {
        match self {
            Layout::ByCollection => Some(TABLES[0].0),
            Layout::SpreadInStatement | Layout::SpreadSetLocal => Some(TABLES[1].0),
            Layout::ByTenant => Some(TABLES[2].0),
            Layout::Library => None,
        }
    }

    /// `$2` of query `query`: the collection, or the query's tenant.
    fn key(self, query: usize, tenants: usize) -> Option<i32> {
        match self {
            Layout::ByCollection => Some(COLLECTION_ID),
            Layout::ByTenant => i32::try_from(query % tenants).ok(),
            _ => None,
        }
    }

    /// The search statement: `$1` the query vector, `$2` the key; pgvector's settings inside
    /// the statement as the library sends them, except for [`Layout::SpreadSetLocal`]. With
    /// `show_setting`, each row also carries the `hnsw.ef_search` of the node that produced it.
    fn sql(self, ef_search: u32, show_setting: bool) -> String {
        let settings = format!(
            "(SELECT concat(set_config('hnsw.ef_search', '{ef_search}', true), \
             set_config('hnsw.iterative_scan', '{}', true))) IS NOT NULL",
            self.iterative()
        );
        let filter = match self {
            Layout::ByCollection => format!("WHERE collection_id = $2 AND {settings}"),
            Layout::ByTenant => format!("WHERE tenant = $2 AND {settings}"),
            Layout::SpreadInStatement => format!("WHERE {settings}"),
            Layout::SpreadSetLocal | Layout::Library => String::new(),
        };
        let seen = if show_setting {
            ", current_setting('hnsw.ef_search', true) AS ef_seen"
        } else {
            ""
        };
        format!(
            "SELECT id, embedding <=> $1 AS distance{seen} FROM {} {filter} \
             ORDER BY distance LIMIT {K}",
            self.table().unwrap_or("embeddings")
        )
    }

    /// The tenant layout's search is filtered: without an iterative scan the index would
    /// often return fewer than k rows of the tenant.
    fn iterative(self) -> &'static str {
        if self == Layout::ByTenant {
            "strict_order"
        } else {
            "off"
        }
    }
}

/// A query vector as a statement parameter in pgvector's binary form.
#[derive(Debug)]
struct VectorParam<'a>(&'a [f32]);

impl ToSql for VectorParam<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&i16::try_from(self.0.len())?.to_be_bytes());
        out.extend_from_slice(&0_i16.to_be_bytes());
        self.0
            .iter()
            .for_each(|value| out.extend_from_slice(&value.to_be_bytes()));
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        ty.name() == "vector"
    }

    to_sql_checked!();
}

type SendResult<T> = Result<T, phases::ThreadError>;

/// Everything a search needs, shared by the threads.
struct Bench<'a> {
    url: &'a str,
    library_url: &'a str,
    store: &'a Store,
    collection: &'a Collection,
    data: &'a Dataset,
    tenants: usize,
    /// Each query's exact neighbours in the whole collection.
    truth: Vec<Vec<usize>>,
    /// Each query's exact neighbours within its tenant.
    tenant_truth: Vec<Vec<usize>>,
}

/// One connection's searcher: a raw client with its statement, or the library.
enum Searcher<'a> {
    Raw {
        client: Box<Client>,
        statement: Statement,
        layout: Layout,
        ef_search: u32,
    },
    Library(Library<'a>, u32),
}

impl<'a> Searcher<'a> {
    fn open(bench: &Bench<'a>, layout: Layout, ef_search: u32) -> SendResult<Self> {
        if layout == Layout::Library {
            return Ok(Self::Library(
                Library::new(bench.store, bench.collection),
                ef_search,
            ));
        }
        let mut client = Client::connect(bench.url, NoTls)?;
        client.batch_execute("SET citus.propagate_set_commands = 'local'")?;
        let statement = client.prepare(&layout.sql(ef_search, false))?;
        Ok(Self::Raw {
            client: Box::new(client),
            statement,
            layout,
            ef_search,
        })
    }

    /// The rows of query number `query`, nearest first.
    fn search(&mut self, bench: &Bench<'_>, query: usize) -> SendResult<Vec<usize>> {
        let vector = &bench.data.queries[query];
        match self {
            Self::Library(library, ef_search) => Ok(library
                .search(vector, K as u32, Some(*ef_search), None)
                .map_err(|error| error.to_string())?
                .rows),
            Self::Raw {
                client,
                statement,
                layout,
                ef_search,
            } => {
                let key = layout.key(query, bench.tenants);
                let set_local = *layout == Layout::SpreadSetLocal;
                if set_local {
                    // hnsw.iterative_scan is left at the workers' default, off.
                    begin_with(client, &[format!("hnsw.ef_search = {ef_search}")])?;
                }
                let rows = match &key {
                    Some(key) => client.query(&*statement, &[&VectorParam(vector), key])?,
                    None => client.query(&*statement, &[&VectorParam(vector)])?,
                };
                if set_local {
                    client.batch_execute("COMMIT")?;
                }
                Ok(rows
                    .iter()
                    .map(|row| row.get::<_, i64>(0) as usize)
                    .collect())
            }
        }
    }
}

/// Runs the benchmark and prints its report.
pub fn main(args: &CitusArgs) -> BenchResult<Option<String>> {
    // `postgres`'s errors say "db error" and keep the server's message in their source.
    run(args).map_err(|error| {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            text = format!("{text}: {cause}");
            source = cause.source();
        }
        text.into()
    })
}

fn run(args: &CitusArgs) -> BenchResult<Option<String>> {
    let started = Instant::now();
    let load_start = load_average();
    let library_url = args.library_url.as_deref().unwrap_or(&args.url);
    let mut admin = Client::connect(&args.url, NoTls)?;
    admin.batch_execute("SET citus.propagate_set_commands = 'local'")?;
    let cluster = admin.query_one(
        "SELECT citus_version(), current_setting('server_version'), \
         (SELECT extversion FROM pg_extension WHERE extname = 'vector'), \
         (SELECT count(*) FROM citus_get_active_worker_nodes())",
        &[],
    )?;
    let (citus, server, pgvector, workers): (String, String, Option<String>, i64) = (
        cluster.get(0),
        cluster.get(1),
        cluster.get(2),
        cluster.get(3),
    );
    let pgvector = pgvector.ok_or("the vector extension is not installed in --url's database")?;
    // "Citus 13.2.2 on x86_64-pc-linux-gnu, compiled by …": the name and version.
    let citus = citus.split(" on ").next().unwrap_or_default().to_owned();
    if workers == 0 {
        return Err("the coordinator has no active worker".into());
    }

    let (data, data_set) = match &args.vectors {
        Some(dir) => (
            Dataset::load(dir, args.rows, args.queries)?,
            format!("real embeddings from {} (Dataset::load)", dir.display()),
        ),
        None => (
            Dataset::generate(args.rows, args.dimension, 100, args.queries),
            "synthetic clustered, 100 centroids (Dataset::generate)".to_owned(),
        ),
    };
    eprintln!(
        "data set: {data_set}: {} rows x {}, {} queries",
        data.rows(),
        data.dimension,
        data.queries.len()
    );
    eprintln!("ground truth by brute force (whole collection, then within each tenant) …");
    let truth = truth::nearest(&data, K, None);
    let tenant_truth: Vec<Vec<usize>> = (0..data.queries.len())
        .map(|query| {
            let tenant = query % args.tenants;
            let rows: Vec<usize> = (tenant..data.rows()).step_by(args.tenants).collect();
            truth::top_k(&data, &data.queries[query], &rows, K)
        })
        .collect();

    let mut builds = Table::new(
        "index builds (HNSW m 16, ef_construction 64, vector_cosine_ops)",
        "layout distributed_by shards_with_rows load_s build_s build_vs_raw",
    );
    let mut raw_build = None;
    for (table, column, label) in TABLES {
        eprintln!("{table}: create, distribute by {column}, load, build HNSW, ANALYZE …");
        admin.batch_execute(&format!(
            "DROP TABLE IF EXISTS {table}; \
             CREATE TABLE {table} (id bigint NOT NULL, collection_id int NOT NULL, \
             tenant int NOT NULL, embedding vector({}) NOT NULL); \
             SELECT create_distributed_table('{table}', '{column}', shard_count => {})",
            data.dimension, args.shards
        ))?;
        let load = copy_rows(&mut admin, table, &data, args.tenants)?;
        let build = Instant::now();
        begin_with(&mut admin, &["maintenance_work_mem = '512MB'".to_owned()])?;
        admin.batch_execute(&format!(
            "CREATE INDEX {table}_hnsw ON {table} USING hnsw (embedding vector_cosine_ops) \
             WITH (m = 16, ef_construction = 64)"
        ))?;
        admin.batch_execute("COMMIT")?;
        let build = build.elapsed().as_secs_f64();
        admin.batch_execute(&format!("ANALYZE {table}"))?;
        let shards = shards_with_rows(&mut admin, table)?;
        let base = *raw_build.get_or_insert(build);
        builds.row(vec![
            json!(label),
            json!(column),
            json!(shards),
            json!(round3(load.as_secs_f64())),
            json!(round3(build)),
            json!(ratio(build, base)),
        ]);
    }

    eprintln!("the library: migrate, distribute, load, build HNSW, ANALYZE …");
    // The workers build with their own maintenance_work_mem (a spec's is refused on Citus): the
    // same 512 MB as the raw builds, set the way the Citus guide tells a user to,
    // before the store opens its sessions (Citus keeps their worker connections).
    Client::connect(library_url, NoTls)?.batch_execute(
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET maintenance_work_mem = %L', \
         current_database(), '512MB'); END $$",
    )?;
    let mut config = Config::new(library_url)?;
    config.pool_max_size = u32::try_from(args.threads.0.iter().max().unwrap_or(&1) + 2)?;
    let store = Store::connect(config)?;
    store.migrate()?;
    let distributed = store.distribute()?;
    store.write(|uow| -> embedstore::Result<()> {
        if uow.collections().find(LIBRARY_COLLECTION)?.is_some() {
            uow.collections().drop(LIBRARY_COLLECTION)?;
        }
        Ok(())
    })?;
    let batches = (0..data.rows())
        .step_by(5_000)
        .map(|start| data.items(start, start + 5_000));
    let dimension = u32::try_from(data.dimension)?;
    let (collection, load) =
        library::create_and_load(&store, LIBRARY_COLLECTION, dimension, "bench", batches)?;
    let spec = IndexSpec::hnsw().m(16).ef_construction(64);
    let build = Library::new(&store, &collection).build_index(&spec, false)?;
    library::analyze(library_url, &collection, false)?;
    let build_s = build.elapsed.as_secs_f64();
    let mut library_client = Client::connect(library_url, NoTls)?;
    builds.row(vec![
        json!(Layout::Library.label()),
        json!(distributed.cluster.distribution.map(|d| d.column())),
        json!(shards_with_rows(
            &mut library_client,
            &collection.partition_name()
        )?),
        json!(round3(load.as_secs_f64())),
        json!(round3(build_s)),
        json!(ratio(build_s, raw_build.unwrap_or(0.0))),
    ]);

    let bench = Bench {
        url: &args.url,
        library_url,
        store: &store,
        collection: &collection,
        data: &data,
        tenants: args.tenants,
        truth,
        tenant_truth,
    };
    let mut report = Report::new(
        "citus",
        format!(
            "{} rows x {} in 3 layouts on {citus} ({workers} workers), k = {K}",
            data.rows(),
            data.dimension
        ),
    );
    report
        .figure("data_set", &data_set)
        .figure("rows", data.rows())
        .figure("dimension", data.dimension)
        .figure("queries", data.queries.len())
        .figure("tenants", args.tenants)
        .figure("shards_per_table", args.shards)
        .figure("library_shards", distributed.cluster.shards)
        .figure("metric", "cosine (vector_cosine_ops), unit vectors")
        .figure("citus", &citus)
        .figure("postgresql", &server)
        .figure("pgvector", &pgvector)
        .figure("workers", workers);
    report.table(builds);
    report.table(probe(&mut admin, &bench)?);
    let mut plans = Table::new(
        "plans at ef_search 40 (EXPLAIN ANALYZE of query 0)",
        "layout shard_index_scan",
    );
    for layout in LAYOUTS {
        let (used, plan) = explain(&mut admin, &bench, layout)?;
        plans.row(vec![json!(layout.label()), json!(used)]);
        report.plan(layout.label(), plan);
    }
    report.table(plans);
    report.table(latency_table(&bench)?);
    report.table(qps_table(&bench, args)?);
    report.figure("seconds", round3(started.elapsed().as_secs_f64()));
    // The machine is shared: its load when the run began and ended.
    report.figure("load_average_start", load_start);
    report.figure("load_average_end", load_average());
    report.print();
    Ok(None)
}

/// How many of `table`'s shards hold rows.
fn shards_with_rows(client: &mut Client, table: &str) -> Result<i64, postgres::Error> {
    let row = client.query_one(
        "SELECT count(*) FROM run_command_on_shards($1::text::regclass, \
         'SELECT count(*) FROM %s') WHERE success AND result::bigint > 0",
        &[&table],
    )?;
    Ok(row.get(0))
}

/// Sessions the workers have opened on this database since they started
/// (`pg_stat_database.sessions`): Citus opens a connection to a worker for each task it cannot
/// give to a cached one. Counts the two this question opens too.
fn worker_sessions(client: &mut Client) -> Result<i64, postgres::Error> {
    let row = client.query_one(
        "SELECT coalesce(sum(result::bigint), 0)::bigint FROM run_command_on_workers(\
         $$SELECT sessions FROM pg_stat_database WHERE datname = current_database()$$) \
         WHERE success",
        &[],
    )?;
    Ok(row.get(0))
}

/// Loads every row into `table` with one binary `COPY`: id i, collection 1, tenant i % T.
fn copy_rows(
    client: &mut Client,
    table: &str,
    data: &Dataset,
    tenants: usize,
) -> BenchResult<Duration> {
    let started = Instant::now();
    let writer = client.copy_in(&format!(
        "COPY {table} (id, collection_id, tenant, embedding) FROM STDIN (FORMAT binary)"
    ))?;
    let mut out = BufWriter::with_capacity(1 << 20, writer);
    out.write_all(b"PGCOPY\n\xff\r\n\0")?;
    out.write_all(&[0; 8])?;
    let vector_bytes = i32::try_from(4 + 4 * data.dimension)?;
    let dimension = i16::try_from(data.dimension)?;
    for row in 0..data.rows() {
        out.write_all(&4_i16.to_be_bytes())?;
        out.write_all(&8_i32.to_be_bytes())?;
        out.write_all(&i64::try_from(row)?.to_be_bytes())?;
        out.write_all(&4_i32.to_be_bytes())?;
        out.write_all(&COLLECTION_ID.to_be_bytes())?;
        out.write_all(&4_i32.to_be_bytes())?;
        out.write_all(&i32::try_from(row % tenants)?.to_be_bytes())?;
        out.write_all(&vector_bytes.to_be_bytes())?;
        out.write_all(&dimension.to_be_bytes())?;
        out.write_all(&0_i16.to_be_bytes())?;
        for value in data.vector(row) {
            out.write_all(&value.to_be_bytes())?;
        }
    }
    out.write_all(&(-1_i16).to_be_bytes())?;
    out.into_inner()
        .map_err(|error| error.into_error())?
        .finish()?;
    Ok(started.elapsed())
}

/// Whether `hnsw.ef_search` reaches the shards: each raw layout's statement for query 0 at
/// ef_search 100 (the server's default is 40), each row also returning
/// `current_setting('hnsw.ef_search')` as the node that produced it saw it.
fn probe(admin: &mut Client, bench: &Bench<'_>) -> BenchResult<Table> {
    let mut table = Table::new(
        "ef_search probe (asked 100; the value on the nodes that produced the rows)",
        "layout rows workers_saw reached",
    );
    for layout in LAYOUTS
        .into_iter()
        .filter(|layout| layout.table().is_some())
    {
        let settings = if layout == Layout::SpreadSetLocal {
            vec!["hnsw.ef_search = 100".to_owned()]
        } else {
            Vec::new()
        };
        begin_with(admin, &settings)?;
        let sql = layout.sql(100, true);
        let vector = VectorParam(&bench.data.queries[0]);
        let rows = match layout.key(0, bench.tenants) {
            Some(key) => admin.query(&sql, &[&vector, &key])?,
            None => admin.query(&sql, &[&vector])?,
        };
        admin.batch_execute("COMMIT")?;
        let mut seen: Vec<String> = rows
            .iter()
            .map(|row| {
                row.get::<_, Option<String>>(2)
                    .unwrap_or_else(|| "unset".to_owned())
            })
            .collect();
        seen.sort();
        seen.dedup();
        table.row(vec![
            json!(layout.label()),
            json!(rows.len()),
            json!(seen.join(",")),
            json!(seen == ["100"]),
        ]);
    }
    Ok(table)
}

/// `EXPLAIN ANALYZE` of query 0 at ef_search 40 through `layout`'s statement (vector and key
/// as literals: Citus cannot explain a parameterized statement, citus#7078), and whether a
/// shard's HNSW index was scanned.
fn explain(admin: &mut Client, bench: &Bench<'_>, layout: Layout) -> BenchResult<(bool, String)> {
    let query = &bench.data.queries[0];
    let plan = if layout == Layout::Library {
        match Library::new(bench.store, bench.collection).explain(query, K as u32, Some(40), None) {
            Ok(plan) => plan,
            Err(error) => format!("(the library's explain_search failed: {error})"),
        }
    } else {
        let literal: Vec<String> = query.iter().map(f32::to_string).collect();
        let key = layout.key(0, bench.tenants).unwrap_or(0);
        let sql = layout
            .sql(40, false)
            .replace("$1", &format!("'[{}]'::vector", literal.join(",")))
            .replace("$2", &key.to_string());
        let settings = if layout == Layout::SpreadSetLocal {
            vec!["hnsw.ef_search = 40".to_owned()]
        } else {
            Vec::new()
        };
        begin_with(admin, &settings)?;
        let rows = admin.query(
            &format!("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {sql}"),
            &[],
        )?;
        admin.batch_execute("COMMIT")?;
        let lines: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
        lines.join("\n")
    };
    // An index scan ordered by the distance: the HNSW index of the shard.
    let used = plan
        .lines()
        .any(|line| line.contains("Order By:") && line.contains("<=>"));
    Ok((used, plan))
}

/// Recall@10 and single-thread latency of every layout at each ef_search.
fn latency_table(bench: &Bench<'_>) -> BenchResult<Table> {
    let mut table = Table::new(
        "single-thread search (recall@10 against exact; p50/p95 over the queries)",
        "layout ef_search recall p50_ms p95_ms p50_vs_raw p95_vs_raw worker_sessions_per_search",
    );
    let queries = bench.data.queries.len();
    let warmup = queries.min(20);
    for ef_search in EF_SEARCH {
        let mut baseline: Option<Latency> = None;
        for layout in LAYOUTS {
            eprintln!("latency: {} at ef_search {ef_search} …", layout.label());
            let url = if layout == Layout::Library {
                bench.library_url
            } else {
                bench.url
            };
            let mut stats = Client::connect(url, NoTls)?;
            let sessions = worker_sessions(&mut stats)?;
            let mut searcher = Searcher::open(bench, layout, ef_search).map_err(text)?;
            for query in 0..warmup {
                searcher.search(bench, query).map_err(text)?;
            }
            let (mut times, mut recall) = (Vec::with_capacity(queries), 0.0);
            for query in 0..queries {
                let started = Instant::now();
                let rows = searcher.search(bench, query).map_err(text)?;
                times.push(started.elapsed());
                let exact = if layout == Layout::ByTenant {
                    &bench.tenant_truth[query]
                } else {
                    &bench.truth[query]
                };
                recall += truth::recall(&rows, exact, K);
            }
            let opened = worker_sessions(&mut stats)? - sessions;
            let latency = Latency::of(&times).ok_or("no queries")?;
            let base = *baseline.get_or_insert(latency);
            table.row(vec![
                json!(layout.label()),
                json!(ef_search),
                json!(round4(recall / queries as f64)),
                json!(round3(latency.p50_ms)),
                json!(round3(latency.p95_ms)),
                json!(ratio(latency.p50_ms, base.p50_ms)),
                json!(ratio(latency.p95_ms, base.p95_ms)),
                json!(round3(opened as f64 / (queries + warmup) as f64)),
            ]);
        }
    }
    Ok(table)
}

/// QPS of every layout at each ef_search and thread count, each thread its own connection.
fn qps_table(bench: &Bench<'_>, args: &CitusArgs) -> BenchResult<Table> {
    let mut table = Table::new(
        "throughput (fixed duration, each thread its own connection)",
        "layout ef_search threads qps qps_vs_raw",
    );
    for ef_search in EF_SEARCH {
        for &threads in &args.threads.0 {
            let mut baseline = None;
            for layout in LAYOUTS {
                eprintln!(
                    "QPS: {} at ef_search {ef_search}, {threads} threads …",
                    layout.label()
                );
                let qps = searches_for(bench, layout, ef_search, threads, args.seconds)? as f64
                    / args.seconds.as_secs_f64();
                let base = *baseline.get_or_insert(qps);
                table.row(vec![
                    json!(layout.label()),
                    json!(ef_search),
                    json!(threads),
                    json!(round3(qps)),
                    json!(ratio(qps, base)),
                ]);
            }
        }
    }
    Ok(table)
}

/// Searches answered by `threads` threads in `seconds`, counted from when all are connected
/// and have searched once (the library's pool opens its connections on first use).
fn searches_for(
    bench: &Bench<'_>,
    layout: Layout,
    ef_search: u32,
    threads: usize,
    seconds: Duration,
) -> BenchResult<u64> {
    let queries = bench.data.queries.len();
    phases::count_for(
        threads,
        seconds,
        |thread| {
            let mut searcher = Searcher::open(bench, layout, ef_search)?;
            searcher.search(bench, thread % queries)?;
            Ok(searcher)
        },
        |searcher, n| searcher.search(bench, n % queries).map(drop),
    )
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` gives them.
fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Opens a transaction and makes each `SET LOCAL` in it, one message each: Citus propagates a
/// `SET LOCAL` (with `citus.propagate_set_commands = 'local'`, set for the session) by sending
/// its message's text to the workers, which must then hold that one command.
fn begin_with(client: &mut Client, settings: &[String]) -> Result<(), postgres::Error> {
    client.batch_execute("BEGIN")?;
    for setting in settings {
        client.batch_execute(&format!("SET LOCAL {setting}"))?;
    }
    Ok(())
}

fn text(error: Box<dyn std::error::Error + Send + Sync>) -> String {
    error.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::parse_as;

    #[test]
    fn only_loopback_urls_are_accepted() {
        for url in [
            "postgres://u:p@127.0.0.1:9700/citus_bench",
            "postgres://u@localhost/db",
            "postgres://u@[::1]:5432/db",
            "host=/var/run/postgresql dbname=db",
        ] {
            assert!(loopback_url(url).is_ok(), "{url}");
        }
        for url in ["postgres://u@10.0.0.1/db", "postgres://u@db.example.com/db"] {
            let error = loopback_url(url).unwrap_err();
            assert!(error.contains("not loopback"), "{url}: {error}");
        }
        assert!(
            parse_as::<CitusArgs>("--rows 10").is_err(),
            "--url is required"
        );
        let args = parse_as::<CitusArgs>("--url postgres://u@127.0.0.1/x").unwrap();
        assert_eq!(
            (args.rows, args.dimension, args.tenants),
            (100_000, 384, 100)
        );
        assert_eq!(args.threads, ThreadCounts(vec![1, 8]));
        assert_eq!(args.seconds, Duration::from_secs(10));
    }

    #[test]
    fn statements_keep_settings_inside_except_for_set_local() {
        let sql = Layout::ByTenant.sql(40, false);
        assert!(
            sql.contains(
                "WHERE tenant = $2 AND (SELECT concat(set_config('hnsw.ef_search', '40', true)"
            ),
            "{sql}"
        );
        assert!(sql.ends_with("ORDER BY distance LIMIT 10"), "{sql}");
        assert!(
            sql.contains("'hnsw.iterative_scan', 'strict_order'"),
            "{sql}"
        );
        let probe = Layout::SpreadSetLocal.sql(100, true);
        assert!(!probe.contains("WHERE"), "{probe}");
        assert!(
            probe.contains("current_setting('hnsw.ef_search', true)"),
            "{probe}"
        );
        assert_eq!(Layout::ByTenant.key(205, 100), Some(5));
        assert_eq!(Layout::SpreadInStatement.key(205, 100), None);
    }
}
