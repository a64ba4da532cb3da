//! `embedstore-bench hot`: issue 12's hot path under concurrency.
//! Method and targets: `docs/benchmark.md`.

pub mod args;
mod builds;
mod inserts;
mod probes;
mod raw;
mod report;
mod sizes;
mod sweep;

#[cfg(test)]
mod server_tests;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use embedstore::{Collection, Config, IndexSpec, SearchResponse, Store};
use embedstore_test_support::TestDatabase;

use crate::BenchResult;
use crate::library::{self, Library};
use crate::report::{Report, round3, round4};
use crate::truth;
use embedstore_test_support::dataset::{Dataset, Selectivity, row_of};

use self::args::HotArgs;
use self::raw::{RawClient, RawResult};
use self::report::{CellFigures, ClientFigures, Quality, Versus};
use self::sweep::{Cell, Client, Slice, query_order, run_slice};

/// Rows per library write while loading.
const LOAD_CHUNK: usize = 10_000;
/// `maintenance_work_mem` for the HNSW build.
const BUILD_MEMORY_MB: u32 = 1024;
/// The library pool's statement timeout: exact scans at 16 threads on 2 cores are slow.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs the `hot` mode.
pub fn main(args: &HotArgs) -> BenchResult<Option<String>> {
    let missed = run(args)?.missed();
    let failed = args.fail_on_miss && !missed.is_empty();
    Ok(failed.then(|| format!("targets missed: {}", missed.join(", "))))
}

/// What every part of the run shares.
struct Context<'a> {
    args: &'a HotArgs,
    data: &'a Dataset,
    collection: &'a Collection,
    url: String,
    /// Brute-force truth per cell label.
    truth: BTreeMap<&'static str, Vec<Vec<usize>>>,
}

/// Generates, loads, measures, reports; the database is dropped on the way out.
pub fn run(args: &HotArgs) -> BenchResult<Report> {
    let started = Instant::now();
    let k = usize::try_from(args.data.k)?;
    let (data, all) =
        truth::load_or_generate(&args.data, args.vectors.as_deref(), args.data.queries)?;
    let dim = u32::try_from(data.dimension)?;
    if data.queries.len() < args.data.queries {
        return Err(format!(
            "--queries {}: the data set has {} queries",
            args.data.queries,
            data.queries.len()
        )
        .into());
    }
    let mut truths = BTreeMap::new();
    truths.insert(Cell::Exact.label(), all.clone());
    truths.insert(Cell::Ef40.label(), all.clone());
    truths.insert(Cell::Ef100.label(), all.clone());
    truths.insert(Cell::Metadata.label(), all);
    truths.insert(
        Cell::Filter10.label(),
        truth::nearest(&data, k, Some(Selectivity::TenPercent)),
    );
    truths.insert(
        Cell::Filter1.label(),
        truth::nearest(&data, k, Some(Selectivity::OnePercent)),
    );

    eprintln!("creating the benchmark database …");
    let db = TestDatabase::try_new()?;
    eprintln!("benchmark database: {}", db.name());
    // Both clients on the same transport: the raw client speaks no TLS (`NoTls`), so neither
    // does the library's: libpq's default `sslmode=prefer` negotiates TLS even on loopback,
    // which pgbench measured at 0.03-0.05 ms a query on the development machine (an ANN query
    // at 0.24-0.32 ms without) — a third of the library's "fixed cost" in earlier runs.
    let url = db
        .url()
        .with_setting("sslmode", "disable")
        .expose_secret()
        .to_owned();
    let (collection, load) = if args.builds {
        builds::load(db.store(), &url, "hot", &data)?
    } else {
        let batches = (0..data.rows()).step_by(LOAD_CHUNK);
        let batches = batches.map(|start| data.items(start, start + LOAD_CHUNK));
        library::create_and_load(db.store(), "hot", dim, "embedstore-bench", batches)?
    };
    if args.writes_only {
        let writes = builds::writes_only(db.store(), &url, &data, load)?;
        let mut report = Report::new("hot", format!("writes of {} rows", data.rows()));
        report
            .figure("elapsed_s", round3(started.elapsed().as_secs_f64()))
            .table(writes);
        if let Some(bytes) = crate::stats::own_peak_rss() {
            report.figure("client_peak_rss_mb", bytes >> 20);
        }
        report.print();
        return Ok(report);
    }
    library::analyze(&url, &collection, true)?;
    eprintln!("building HNSW m=16, ef_construction=64, and payload indexes on lang and shard …");
    let indexes = Library::new(db.store(), &collection);
    // With --builds the library chooses the build's memory (what is compared); without, the
    // fixed 1 GB of earlier runs.
    let spec = if args.builds {
        IndexSpec::hnsw().m(16).ef_construction(64)
    } else {
        library::hnsw(16, 64, BUILD_MEMORY_MB)
    };
    let index = indexes.build_index(&spec, false)?.elapsed;
    // The library's planner needs them to choose an exact scan for the 1 % filter.
    indexes.create_payload_indexes()?;
    library::analyze(&url, &collection, false)?;
    // The capacity planner against the sizes just built (issue 23).
    let sizes = sizes::compare(&url, &collection, &data, &spec)?;
    let context = Context {
        args,
        data: &data,
        collection: &collection,
        url,
        truth: truths,
    };
    let plans = plans(&context, db.store())?;
    let scale = if args.builds {
        let side = builds::LibrarySide {
            collection: &collection,
            load,
            build: index,
        };
        builds::measure(
            db.store(),
            &context.url,
            &data,
            &side,
            args.defaults_build_limit,
            !args.no_raw_builds,
        )?
    } else {
        Vec::new()
    };

    let mut quality = Vec::new();
    let mut cells = Vec::new();
    let mut metadata = None;
    let mut probe_tables = Vec::new();
    for (step, &threads) in args.threads.0.iter().enumerate() {
        let store = library_store(&context, threads)?;
        let mut raws = (0..threads)
            .map(|_| {
                RawClient::connect(&context.url, collection.id.0, dim, args.data.k)
                    .map_err(|error| error.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        for cell in Cell::SWEEP {
            if step == 0 {
                eprintln!("quality pass, {} …", cell.label());
                quality.push(quality_pass(&context, &store, &mut raws[0], cell)?);
            }
            eprintln!("{} @ {threads} threads …", cell.label());
            cells.push(measure_cell(&context, &store, &mut raws, cell)?);
        }
        if threads == 1 {
            eprintln!("{} @ 1 thread …", Cell::Metadata.label());
            metadata = Some(measure_cell(&context, &store, &mut raws, Cell::Metadata)?);
            if !args.ef_sweep.is_empty() {
                probe_tables.push(probes::ef_sweep(&context, &store, &mut raws[0])?);
            }
            probe_tables.push(probes::filter_paths(&context, &store, &mut raws[0])?);
        }
    }
    // The sweep's figures, grouped by cell for the table.
    cells.sort_by_key(|figures| {
        (
            Cell::SWEEP
                .iter()
                .position(|cell| cell.label() == figures.cell),
            figures.threads,
        )
    });

    eprintln!(
        "inserts: {} rows, {} per unit of work …",
        args.insert_rows(),
        args.insert_batch
    );
    let insert_data = match &args.vectors {
        Some(dir) => Dataset::load(dir, args.insert_rows(), 0)?,
        None => Dataset::generate(args.insert_rows(), data.dimension, args.data.clusters, 0),
    };
    let inserts = inserts::measure(&db, &insert_data, args.insert_batch, args.insert_rounds)?;
    drop(db);

    let title = format!(
        "{} rows x {} dimensions (cosine, {}), HNSW m=16 ef_construction=64, k = {}, \
         {} queries, threads {}, {} rounds x <= {:.2} s per client and cell",
        data.rows(),
        data.dimension,
        data.source,
        args.data.k,
        args.data.queries,
        args.threads,
        args.rounds,
        args.seconds.as_secs_f64()
    );
    let mut report = report::report(title, &quality, &cells, metadata.as_ref(), &inserts);
    // Loading and the index build are not measured against anything.
    report
        .figure("load_s", round3(load.as_secs_f64()))
        .figure("index_s", round3(index.as_secs_f64()))
        .figure("elapsed_s", round3(started.elapsed().as_secs_f64()));
    // Both clients run in this process: the data set, the library and the raw client.
    if let Some(bytes) = crate::stats::own_peak_rss() {
        report.figure("client_peak_rss_mb", bytes >> 20);
    }
    report.table(sizes);
    for table in probe_tables {
        report.table(table);
    }
    for table in scale {
        report.table(table);
    }
    for (label, plan) in plans {
        report.plan(label, plan);
    }
    report.print();
    Ok(report)
}

/// A store on the benchmark database whose pool holds up to `threads` connections.
fn library_store(context: &Context<'_>, threads: usize) -> BenchResult<Store> {
    let mut config = Config::new(context.url.clone())?;
    config.pool_max_size = u32::try_from(threads)?;
    config.pool_min_idle = 0;
    config.connect_timeout = Duration::from_secs(30);
    config.statement_timeout = Some(STATEMENT_TIMEOUT);
    config.application_name = "embedstore-bench-hot".to_owned();
    Ok(Store::connect(config)?)
}

/// The plans of the compared statements; errors when the baseline's ANN statement does not use
/// the HNSW index (the comparison would then flatter the library).
fn plans(context: &Context<'_>, store: &Store) -> BenchResult<Vec<(String, String)>> {
    let (args, data) = (context.args, context.data);
    let mut client = RawClient::connect(
        &context.url,
        context.collection.id.0,
        u32::try_from(data.dimension)?,
        args.data.k,
    )
    .map_err(|error| error.to_string())?;
    let query = data.queries.first().ok_or("no queries")?;
    let mut plans = Vec::new();
    for cell in [Cell::Ef40, Cell::Filter10, Cell::Filter1] {
        let (statement, ef_search, iterative) = cell.baseline();
        client
            .configure(ef_search, iterative)
            .map_err(|error| error.to_string())?;
        let filter = cell.containment(data, 0);
        let plan = client
            .explain(
                statement,
                u32::try_from(data.dimension)?,
                query,
                filter.as_ref(),
            )
            .map_err(|error| error.to_string())?;
        if cell == Cell::Ef40 && !plan.contains("Index Scan") {
            return Err(format!("the raw baseline does not use the HNSW index:\n{plan}").into());
        }
        plans.push((format!("raw, {}", cell.label()), plan));
        let request = cell.request(data, 0, args.data.k);
        let library = store.read(|uow| uow.explain_search(context.collection, request))?;
        plans.push((format!("library, {}", cell.label()), library));
    }
    Ok(plans)
}

/// One library search, for the timed loops: the rows it returned.
fn library_search(
    context: &Context<'_>,
    store: &Store,
    client: Client,
    cell: Cell,
    query: usize,
) -> embedstore::Result<SearchResponse> {
    let request = cell.request(context.data, query, context.args.data.k);
    match client {
        Client::Uow => store.read(|uow| uow.search(context.collection, request)),
        _ => store.search(context.collection, request),
    }
}

/// Data set rows of the raw client's hits.
fn raw_rows(hits: &[raw::RawHit]) -> BenchResult<Vec<usize>> {
    hits.iter()
        .map(|hit| row_of(&hit.1).ok_or_else(|| "unexpected external id".into()))
        .collect()
}

/// Data set rows of a library answer.
fn library_rows(response: &SearchResponse) -> BenchResult<Vec<usize>> {
    response
        .hits
        .iter()
        .map(|hit| {
            row_of(&hit.external_id)
                .ok_or_else(|| format!("unexpected external id {:?}", hit.external_id).into())
        })
        .collect()
}

/// The single-client quality pass of `cell`: every query once through each client.
fn quality_pass(
    context: &Context<'_>,
    store: &Store,
    raw_client: &mut RawClient,
    cell: Cell,
) -> BenchResult<Quality> {
    let (args, data) = (context.args, context.data);
    let k = usize::try_from(args.data.k)?;
    let (statement, ef_search, iterative) = cell.baseline();
    raw_client
        .configure(ef_search, iterative)
        .map_err(|error| error.to_string())?;
    let truth = context.truth.get(cell.label()).ok_or("no truth")?;
    let (mut raw_recall, mut store_recall, mut uow_recall) = (0.0, 0.0, 0.0);
    let (mut raw_rows_min, mut library_rows_min) = (usize::MAX, usize::MAX);
    let (mut store_uow, mut store_raw) = (0, 0);
    let mut paths: BTreeMap<String, usize> = BTreeMap::new();
    for (query, expected) in truth.iter().enumerate().take(args.data.queries) {
        let filter = cell.containment(data, query);
        let raw_rows = raw_rows(
            &raw_client
                .nearest(statement, &data.queries[query], filter.as_ref())
                .map_err(|error| error.to_string())?,
        )?;
        let by_store = library_search(context, store, Client::Store, cell, query)?;
        let by_uow = library_search(context, store, Client::Uow, cell, query)?;
        *paths.entry(format!("{:?}", by_store.path)).or_default() += 1;
        let (store_rows, uow_rows) = (library_rows(&by_store)?, library_rows(&by_uow)?);
        raw_recall += truth::recall(&raw_rows, expected, k);
        store_recall += truth::recall(&store_rows, expected, k);
        uow_recall += truth::recall(&uow_rows, expected, k);
        raw_rows_min = raw_rows_min.min(raw_rows.len());
        library_rows_min = library_rows_min.min(store_rows.len()).min(uow_rows.len());
        store_uow += usize::from(store_rows != uow_rows);
        store_raw += usize::from(store_rows != raw_rows);
    }
    let queries = args.data.queries.max(1) as f64;
    let matching: usize = match cell.selectivity() {
        None => data.rows() * args.data.queries,
        Some(selectivity) => data.filter_values[..args.data.queries]
            .iter()
            .map(|value| {
                (0..data.rows())
                    .filter(|row| data.matches(*row, selectivity, *value))
                    .count()
            })
            .sum(),
    };
    Ok(Quality {
        cell: cell.label(),
        raw_recall: round4(raw_recall / queries),
        store_recall: round4(store_recall / queries),
        uow_recall: round4(uow_recall / queries),
        raw_rows_min,
        library_rows_min,
        store_uow_id_mismatches: store_uow,
        store_raw_id_mismatches: store_raw,
        library_paths: paths
            .iter()
            .map(|(path, count)| format!("{path} x{count}"))
            .collect::<Vec<_>>()
            .join(", "),
        matching_rows_mean: round3(matching as f64 / queries),
    })
}

/// One cell at `raws.len()` threads: a warm-up of every client, then `--rounds` slices of each
/// in rotating order.
fn measure_cell(
    context: &Context<'_>,
    store: &Store,
    raws: &mut [RawClient],
    cell: Cell,
) -> BenchResult<CellFigures> {
    let args = context.args;
    let threads = if cell == Cell::Metadata {
        1
    } else {
        raws.len()
    };
    let raws = &mut raws[..threads];
    let (statement, ef_search, iterative) = cell.baseline();
    for client in raws.iter_mut() {
        client
            .configure(ef_search, iterative)
            .map_err(|error| error.to_string())?;
    }
    let orders: Vec<Vec<usize>> = (0..threads)
        .map(|thread| query_order(thread, args.data.queries))
        .collect();
    let warmups: Vec<Vec<usize>> = orders
        .iter()
        .map(|order| order.iter().copied().cycle().take(args.warmup).collect())
        .collect();
    let filters: Vec<Option<serde_json::Value>> = (0..args.data.queries)
        .map(|query| cell.containment(context.data, query))
        .collect();
    // The raw client's query as sent alone, or inside `BEGIN READ ONLY` / `COMMIT`.
    let filters = &filters;
    let raw = |in_transaction: bool| {
        move |client: &mut RawClient, query: usize| -> RawResult<usize> {
            let (vector, filter) = (&context.data.queries[query], filters[query].as_ref());
            let hits = if in_transaction {
                client.nearest_in_transaction(statement, vector, filter)?
            } else {
                client.nearest(statement, vector, filter)?
            };
            Ok(hits.len())
        }
    };
    let raw_query = raw(false);
    let library_query = |api: Client| {
        move |_: &mut (), query: usize| -> RawResult<usize> {
            let response = library_search(context, store, api, cell, query)?;
            Ok(response.hits.len())
        }
    };
    let store_query = library_query(Client::Store);
    let uow_query = library_query(Client::Uow);
    // A read unit of work with nothing in it, and the raw client's statement inside
    // `BEGIN READ ONLY` / `COMMIT`: what a transaction costs, through the library and around
    // the same statement, measured beside the searches (single client only).
    let empty_unit = |_: &mut (), _: usize| -> RawResult<usize> {
        store.read(|_| Ok::<_, embedstore::Error>(()))?;
        Ok(0)
    };
    let raw_in_transaction = raw(true);
    let mut units = vec![(); threads];
    let mut slices: [Vec<Slice>; 3] = Default::default();
    let (mut empty_slices, mut transaction_slices) = (Vec::new(), Vec::new());
    for (round, plan) in std::iter::once(None)
        .chain((0..args.rounds).map(Some))
        .enumerate()
    {
        let (ordering, budget) = match plan {
            None => (&warmups, Duration::MAX),
            Some(_) => (&orders, args.seconds),
        };
        for client in Client::order(round) {
            let slice = match client {
                Client::Raw => run_slice(raws, ordering, budget, &raw_query),
                Client::Store => run_slice(&mut units, ordering, budget, &store_query),
                Client::Uow => run_slice(&mut units, ordering, budget, &uow_query),
            }
            .map_err(|error| error.to_string())?;
            if plan.is_some() {
                slices[client as usize].push(slice);
            }
        }
        if threads == 1 {
            let budget = budget.min(args.seconds);
            let empty = run_slice(&mut units, ordering, budget, &empty_unit)
                .map_err(|error| error.to_string())?;
            let in_transaction = run_slice(raws, ordering, budget, &raw_in_transaction)
                .map_err(|error| error.to_string())?;
            if plan.is_some() {
                empty_slices.push(empty);
                transaction_slices.push(in_transaction);
            }
        }
    }
    let figures = |slices: &[Slice]| {
        ClientFigures::of(slices).ok_or_else(|| format!("{}: no query was measured", cell.label()))
    };
    let raw = figures(&slices[Client::Raw as usize])?;
    Ok(CellFigures {
        cell: cell.label(),
        threads,
        store: Versus::new(figures(&slices[Client::Store as usize])?, &raw),
        uow: Versus::new(figures(&slices[Client::Uow as usize])?, &raw),
        raw,
        begin_commit: ClientFigures::of(&empty_slices),
        raw_in_transaction: ClientFigures::of(&transaction_slices),
    })
}
