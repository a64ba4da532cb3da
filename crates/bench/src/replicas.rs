//! Issue 23's replica benchmark: read throughput of `Store::search` with 0, 1 and 2 streaming
//! replicas, and what read-your-writes costs a read right after a write.
//!
//! Everything runs on private clusters on loopback (`TestCluster`: a primary with
//! `synchronous_commit = on` and two `pg_basebackup -R` standbys of it), never on the shared
//! server. On one machine the replicas share its cores with the primary and the client, so they
//! add no capacity here: the sweep shows the routing's overhead, not a scale-out. The baseline
//! of each row is the same store without replicas, measured in the same run.

use std::time::{Duration, Instant};

use embedstore::{
    Collection, Config, IndexSpec, Metric, NewCollection, NewEmbedding, ReadFrom, SearchRequest,
    Store,
};
use embedstore_test_support::cluster::{ClusterOptions, TestCluster};
use serde_json::json;

use crate::BenchResult;
use crate::args::positive;
use crate::args::{ThreadCounts, parse_seconds, parse_threads};
use crate::phases;
use crate::report::{Report, Table, ratio, round3};
use crate::stats::Latency;
use embedstore_test_support::dataset::Dataset;

/// `embedstore-bench replicas`: rows, threads, slice length and write-then-read pairs.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct ReplicaArgs {
    /// Rows in the searched collection (384 dimensions, clustered, HNSW m 16).
    #[arg(long, value_name = "N", default_value_t = 20_000, value_parser = positive())]
    pub rows: usize,
    /// Client thread counts of the read sweep, comma-separated.
    #[arg(long, value_name = "LIST", default_value = "1,4,8", value_parser = parse_threads)]
    pub threads: ThreadCounts,
    /// Seconds each cell of the sweep reads for.
    #[arg(long, value_name = "S", default_value = "3", value_parser = parse_seconds)]
    pub seconds: Duration,
    /// Write-then-read pairs per read-your-writes mode.
    #[arg(long, value_name = "N", default_value_t = 300, value_parser = positive())]
    pub pairs: usize,
}

const DIMENSION: usize = 384;
const K: u32 = 10;
const QUERIES: usize = 200;

/// Runs the benchmark and prints its report.
pub fn main(args: &ReplicaArgs) -> BenchResult<Option<String>> {
    let started = Instant::now();
    let threads_max = args.threads.0.iter().copied().max().unwrap_or(1);
    eprintln!("starting a primary and two standbys on loopback …");
    let primary = TestCluster::start(
        ClusterOptions::new()
            .setting("synchronous_commit", "on")
            .setting("shared_buffers", "256MB")
            .setting("max_connections", "100"),
    )?;
    let url = primary.migrated_database("bench")?;
    let standbys = [primary.standby(&[])?, primary.standby(&[])?];
    let replica_urls: Vec<String> = standbys
        .iter()
        .map(|standby| {
            standby
                .url("postgres", primary.superuser_password(), "bench", "")
                .expose_secret()
                .to_owned()
        })
        .collect();
    let connect = |replicas: usize| -> BenchResult<Store> {
        let mut config = Config::new(url.expose_secret())?;
        config.pool_max_size = u32::try_from(threads_max + 2)?;
        for replica in &replica_urls[..replicas] {
            config = config.replica(replica.as_str())?;
        }
        let store = Store::connect(config)?;
        wait_caught_up(&store)?;
        Ok(store)
    };

    let data = Dataset::generate(args.rows, DIMENSION, 100, QUERIES);
    let loader = connect(2)?;
    eprintln!(
        "loading {} rows x {DIMENSION} and building HNSW …",
        args.rows
    );
    let collection = loader.write(|uow| {
        uow.collections().create(NewCollection::new(
            "replicated",
            384,
            Metric::Cosine,
            "bench",
        ))
    })?;
    for start in (0..data.rows()).step_by(5_000) {
        loader.write(|uow| {
            uow.embeddings()
                .insert(&collection, data.items(start, start + 5_000))
        })?;
    }
    loader
        .indexes(&collection)
        .create(&IndexSpec::hnsw(), None)?;
    wait_caught_up(&loader)?;
    drop(loader);

    let stores = [connect(0)?, connect(1)?, connect(2)?];
    let mut report = Report::new(
        "replicas",
        format!(
            "{} rows x {DIMENSION} (cosine, 100 clusters), HNSW m=16 ef_construction=64, k = {K}; \
             a primary and 2 standbys on this machine's loopback",
            args.rows
        ),
    );
    report.table(sweep(&stores, &collection, &data, args)?);
    let (pairs, figures) = read_your_writes(&stores, &collection, &data, args.pairs)?;
    report.table(pairs);
    for (name, value) in figures {
        report.figure(name, value);
    }
    report.figure("seconds", round3(started.elapsed().as_secs_f64()));
    report.print();
    Ok(None)
}

/// Waits (at most a minute) until every replica of `store` is in service and has replayed its
/// last write.
fn wait_caught_up(store: &Store) -> BenchResult<()> {
    let Some(token) = store.last_write_token() else {
        // Nothing written yet through this store: in service is enough.
        return wait_for(store, |_| true);
    };
    wait_for(store, |node| {
        node.replayed.is_some_and(|replayed| replayed >= token)
    })
}

fn wait_for(store: &Store, caught_up: impl Fn(&embedstore::NodeStats) -> bool) -> BenchResult<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(stats) = store.replica_stats() {
        if stats
            .nodes
            .iter()
            .all(|node| node.in_service && caught_up(node))
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("replicas not caught up in 60 s: {stats:?}").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Read QPS of `Store::search` per replica count and thread count, cells alternating so that
/// the machine's noise falls on all of them.
fn sweep(
    stores: &[Store; 3],
    collection: &Collection,
    data: &Dataset,
    args: &ReplicaArgs,
) -> BenchResult<Table> {
    let mut table = Table::new(
        "read QPS by replicas (Store::search, no writes running)",
        "replicas threads qps ratio_to_none replica_share",
    );
    for &threads in &args.threads.0 {
        let mut baseline = None;
        for (replicas, store) in stores.iter().enumerate() {
            let before = replica_reads(store);
            let queries = searches_for(store, collection, data, threads, args.seconds)?;
            let qps = queries as f64 / args.seconds.as_secs_f64();
            let base = *baseline.get_or_insert(qps);
            let share = ratio((replica_reads(store) - before) as f64, queries as f64);
            table.row(vec![
                json!(replicas),
                json!(threads),
                json!(round3(qps)),
                json!(ratio(qps, base).map(round3)),
                json!(if replicas == 0 {
                    None
                } else {
                    share.map(round3)
                }),
            ]);
        }
    }
    Ok(table)
}

fn replica_reads(store: &Store) -> u64 {
    store
        .replica_stats()
        .map_or(0, |stats| stats.nodes.iter().map(|node| node.reads).sum())
}

/// Searches answered by `threads` threads in `seconds`.
fn searches_for(
    store: &Store,
    collection: &Collection,
    data: &Dataset,
    threads: usize,
    seconds: Duration,
) -> BenchResult<u64> {
    phases::count_for(
        threads,
        seconds,
        |_| Ok(()),
        |(), n| {
            let query = data.queries[n % data.queries.len()].clone();
            store.search(collection, SearchRequest::vector(query, K))?;
            Ok(())
        },
    )
}

/// Write-then-read pairs, one thread: each pair upserts one row through the store and then
/// reads it back by key, under each way of reading in turn (pair by pair, so noise falls on
/// all). Returns
/// the table and the headline figures.
fn read_your_writes(
    stores: &[Store; 3],
    collection: &Collection,
    data: &Dataset,
    pairs: usize,
) -> BenchResult<(Table, Vec<(&'static str, f64)>)> {
    let modes: [(&str, Store); 4] = [
        ("no replicas", stores[0].clone()),
        ("own writes (default)", stores[1].clone()),
        (
            "any replica (may be stale)",
            stores[1].reading(ReadFrom::AnyReplica),
        ),
        ("primary", stores[1].reading(ReadFrom::Primary)),
    ];
    let mut writes = vec![Vec::with_capacity(pairs); modes.len()];
    let mut reads = vec![Vec::with_capacity(pairs); modes.len()];
    let mut stale = vec![0usize; modes.len()];
    let before = stores[1].replica_stats();
    for pair in 0..pairs {
        // Each mode its own ids, and a rotating first mode: no mode waits on another's rows
        // or always follows the same one.
        for turn in 0..modes.len() {
            let index = (pair + turn) % modes.len();
            let store = &modes[index].1;
            let id = format!("ryw-{index}-{}", pair % 50);
            let vector = data.queries[pair % data.queries.len()].clone();
            let row = NewEmbedding::new(id.clone(), vector.clone())
                .with_metadata(json!({ "pair": pair }));
            let started = Instant::now();
            store.write(|uow| uow.embeddings().upsert(collection, vec![row]))?;
            writes[index].push(started.elapsed());
            let started = Instant::now();
            let found = store.get(collection, &id)?;
            reads[index].push(started.elapsed());
            let seen = found.and_then(|row| row.metadata["pair"].as_u64());
            stale[index] += usize::from(seen != Some(pair as u64));
        }
    }
    let after = stores[1].replica_stats();
    let mut table = Table::new(
        "write-then-read pairs (upsert 1 row, then Store::get of it)",
        "reading write_p50_ms read_p50_ms read_p95_ms stale",
    );
    let mut read_p50 = Vec::new();
    let mut write_p50 = Vec::new();
    for (index, (name, _)) in modes.iter().enumerate() {
        let (write, read) = (Latency::of(&writes[index]), Latency::of(&reads[index]));
        let (write, read) = (write.ok_or("no writes")?, read.ok_or("no reads")?);
        read_p50.push(read.p50_ms);
        write_p50.push(write.p50_ms);
        table.row(vec![
            json!(name),
            json!(round3(write.p50_ms)),
            json!(round3(read.p50_ms)),
            json!(round3(read.p95_ms)),
            json!(stale[index]),
        ]);
    }
    let (waited, fallbacks) = match (before, after) {
        (Some(before), Some(after)) => (
            after.waited - before.waited,
            after.fallbacks - before.fallbacks,
        ),
        _ => (0, 0),
    };
    let mut figures = vec![
        // What read-your-writes adds to a read right after a write: the replay check and
        // the wait for replay, against the same read allowed to be stale.
        ("ryw_read_cost_ms", round3(read_p50[1] - read_p50[2])),
        // What a write pays for its token (one statement after the commit).
        ("token_write_cost_ms", round3(write_p50[1] - write_p50[0])),
        ("ryw_reads_waited", waited as f64),
        ("ryw_reads_fell_back", fallbacks as f64),
    ];
    if let Some(over) = ratio(read_p50[1], read_p50[3]) {
        figures.push(("read_p50_own_writes_over_primary", round3(over)));
    }
    Ok((table, figures))
}
