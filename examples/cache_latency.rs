//! Measures `Store::get` with and without the cache of hot lookups (issue 12) on a throw-away
//! test database: p50 and p99 of an uncached get, of a cache hit, and of a 10-id `get_many`.
//!
//! ```text
//! eval "$(scripts/dev env)"
//! cargo run --release --features testing --example cache_latency
//! ```
#![expect(clippy::unwrap_used, reason = "a measurement program fails loudly")]

use std::time::{Duration, Instant};

use embedstore::testing::{Rng, TestDatabase, items};
use embedstore::{Config, Metric, NewCollection, Store};

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
    let ratio = uncached_p50.as_secs_f64() / hit_p50.as_secs_f64();
    println!("hit p50 is {ratio:.0}x faster than an uncached get");
    println!("{:?}", cached.cache_stats().unwrap());
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
