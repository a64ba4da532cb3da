//! Measures `Store::get` with and without the cache of hot lookups (issue 12) on a throw-away
//! test database: p50 and p99 of an uncached get, of a cache hit, of a 10-id `get_many`, and
//! of `cache_sync`; and the idle listener's CPU time.
//!
//! ```text
//! eval "$(scripts/dev env)"
//! cargo run --release --features testing --example cache_latency
//! ```
#![expect(clippy::unwrap_used, reason = "a measurement program fails loudly")]

use std::time::{Duration, Instant};

use embedstore::{Config, Metric, NewCollection, Store};
use embedstore_test_support::{Rng, TestDatabase, items};

const ROWS: usize = 1000;
const DIMENSION: usize = 384;
const SAMPLES: usize = 20_000;

fn main() {
    let db = TestDatabase::try_new().unwrap();
    let docs = db
        .store()
        .write(|uow| {
            uow.collections().create(NewCollection::new(
                "docs",
                DIMENSION as u32,
                Metric::Cosine,
                "m",
            ))
        })
        .unwrap();
    let batch = items(&mut Rng::new(1), ROWS, DIMENSION);
    db.store()
        .write(|uow| uow.embeddings().insert(&docs, batch))
        .unwrap();
    let mut config = Config::new(db.url().expose_secret()).unwrap();
    config.cache_bytes = Some(64 << 20);
    let cached = Store::connect(config).unwrap();
    while !cached.cache_stats().unwrap().listener_connected {
        std::thread::sleep(Duration::from_millis(1));
    }
    let ids: Vec<String> = (0..ROWS).map(|n| format!("item-{n}")).collect();
    let uncached = db.store();
    let (p50, p99) = measure(|n| {
        uncached.get(&docs, &ids[n % ROWS]).unwrap().unwrap();
    });
    println!("uncached get        p50 {p50:>10.2?}  p99 {p99:>10.2?}");
    let uncached_p50 = p50;
    cached.get_many(&docs, &ids).unwrap();
    let (p50, p99) = measure(|n| {
        cached.get(&docs, &ids[n % ROWS]).unwrap().unwrap();
    });
    println!("cache hit           p50 {p50:>10.2?}  p99 {p99:>10.2?}");
    let hit_p50 = p50;
    let (p50, p99) = measure(|n| {
        let start = n % (ROWS - 10);
        uncached.get_many(&docs, &ids[start..start + 10]).unwrap();
    });
    println!("uncached get_many10 p50 {p50:>10.2?}  p99 {p99:>10.2?}");
    let (p50, p99) = measure(|n| {
        let start = n % (ROWS - 10);
        cached.get_many(&docs, &ids[start..start + 10]).unwrap();
    });
    println!("cached get_many10   p50 {p50:>10.2?}  p99 {p99:>10.2?}");
    let mut syncs: Vec<Duration> = (0..200)
        .map(|_| {
            let started = Instant::now();
            cached.cache_sync().unwrap();
            started.elapsed()
        })
        .collect();
    syncs.sort();
    println!(
        "cache_sync          p50 {:>10.2?}  p99 {:>10.2?}",
        syncs[100], syncs[198]
    );
    let ratio = uncached_p50.as_secs_f64() / hit_p50.as_secs_f64();
    println!("hit p50 is {ratio:.0}x faster than an uncached get");
    println!("{:?}", cached.cache_stats().unwrap());
    // What the idle listener costs (Linux only): its thread's CPU time over 5 s.
    if let Some(before) = listener_cpu_ticks() {
        std::thread::sleep(Duration::from_secs(5));
        if let Some(after) = listener_cpu_ticks() {
            println!(
                "idle listener: {} clock ticks of CPU in 5 s ({:.2} % of a core at 100 ticks/s)",
                after - before,
                (after - before) as f64 / 5.0
            );
        }
    }
}

/// utime + stime of the thread named `embedstore-cach…` (the listener), from /proc.
fn listener_cpu_ticks() -> Option<u64> {
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.trim() == "embedstore-cach" {
            let stat = std::fs::read_to_string(path.join("stat")).ok()?;
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            // After the command: state is field 3; utime and stime are fields 14 and 15.
            return Some(
                fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?,
            );
        }
    }
    None
}

/// p50 and p99 of `SAMPLES` calls.
fn measure(mut call: impl FnMut(usize)) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..SAMPLES)
        .map(|n| {
            let started = Instant::now();
            call(n);
            started.elapsed()
        })
        .collect();
    times.sort();
    (times[SAMPLES / 2], times[SAMPLES * 99 / 100])
}
