//! Fuzzing on the stable toolchain (`cargo fuzz` needs nightly, which this project's machines
//! cannot fetch): seeded, structure-aware random inputs and byte-level mutations of valid
//! seeds, driven into the parsers and validators that read untrusted input. Properties: no
//! panic, no hang (inputs are bounded), and what is accepted is consistent.
//!
//! - `cargo test --all-features --test fuzz` (part of the normal suite): a short smoke per
//!   target with a fixed seed.
//! - `scripts/dev fuzz [SECONDS]`: `EMBEDSTORE_FUZZ_SECONDS` per target and a time-based seed,
//!   printed so a failure can be replayed with `EMBEDSTORE_FUZZ_SEED`.
//!
//! A crash found becomes a regression case in [`regressions`] below.
#![expect(clippy::unwrap_used, reason = "a fuzz target that trips fails loudly")]

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use embedstore::internals::{NpyReader, PayloadLayout, RecordReader, SqlBuilder, render_filter};
use embedstore::{
    CollectionRules, Duplicates, EmbeddingBatch, Filter, Metric, NewCollection, NewEmbedding,
    SearchRequest,
};
use embedstore_test_support::Rng;
use garde::Validate;
use serde_json::{Value, json};

/// How long each target runs, and from which seed.
fn budget() -> (Duration, u64) {
    let seconds = std::env::var("EMBEDSTORE_FUZZ_SECONDS")
        .ok()
        .and_then(|value| value.parse::<f64>().ok())
        .unwrap_or(1.5);
    let seed = std::env::var("EMBEDSTORE_FUZZ_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(0x5eed);
    (Duration::from_secs_f64(seconds), seed)
}

/// Runs `target` on fresh inputs until the budget is spent; a panic is reported with the
/// iteration and seed that reproduce it.
fn fuzz(name: &str, mut target: impl FnMut(&mut Rng)) {
    let (duration, seed) = budget();
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let mut iterations = 0u64;
    while started.elapsed() < duration {
        let outcome = catch_unwind(AssertUnwindSafe(|| target(&mut rng)));
        assert!(
            outcome.is_ok(),
            "{name}: panic at iteration {iterations} (EMBEDSTORE_FUZZ_SEED={seed})"
        );
        iterations += 1;
    }
    println!(
        "fuzz {name}: {iterations} inputs in {:?}, 0 crashes (seed {seed})",
        started.elapsed()
    );
    assert!(iterations > 0);
}

fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
    &items[(rng.next_u64() % items.len() as u64) as usize]
}

fn below(rng: &mut Rng, bound: u64) -> u64 {
    rng.next_u64() % bound.max(1)
}

const KEYS: &[&str] = &[
    "lang",
    "a.b",
    "tags",
    "n",
    "$eq",
    "$ne",
    "$lt",
    "$lte",
    "$gt",
    "$gte",
    "$in",
    "$nin",
    "$exists",
    "$contains",
    "$and",
    "$or",
    "$not",
    "$regex",
    "",
    "x'); DROP TABLE t; --",
    "$.a[*] ? (@ > 1)",
    "a\\.b",
    "a\\",
    "ü",
    "k\u{0}",
    "0",
    "a..b",
    ".",
];

fn random_string(rng: &mut Rng) -> String {
    let pieces = [
        "",
        "de",
        "10",
        "2026-11-25T08:00:00Z",
        "2026-02-30T00:00:00Z",
        "'",
        "\"",
        "\\",
        "\u{0}",
        "🙂",
        "%",
        "_",
    ];
    (0..below(rng, 4)).map(|_| *pick(rng, &pieces)).collect()
}

fn random_json(rng: &mut Rng, depth: u32) -> Value {
    match below(rng, if depth > 6 { 5 } else { 8 }) {
        0 => Value::Null,
        1 => json!(below(rng, 2) == 0),
        2 => json!(rng.unit_value() as f64 * 1e6),
        3 => json!(below(rng, 100) as i64 - 50),
        4 => json!(random_string(rng)),
        5 | 6 => {
            let mut map = serde_json::Map::new();
            for _ in 0..below(rng, 4) {
                map.insert((*pick(rng, KEYS)).to_owned(), random_json(rng, depth + 1));
            }
            Value::Object(map)
        }
        _ => Value::Array(
            (0..below(rng, 4))
                .map(|_| random_json(rng, depth + 1))
                .collect(),
        ),
    }
}

/// Flips, inserts, deletes or truncates a few bytes.
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..=below(rng, 4) {
        match below(rng, 4) {
            0 if !bytes.is_empty() => {
                let at = below(rng, bytes.len() as u64) as usize;
                bytes[at] = rng.next_u64() as u8;
            }
            1 => {
                let at = below(rng, bytes.len() as u64 + 1) as usize;
                bytes.insert(at, rng.next_u64() as u8);
            }
            2 if !bytes.is_empty() => {
                let at = below(rng, bytes.len() as u64) as usize;
                bytes.remove(at);
            }
            _ => {
                let keep = below(rng, bytes.len() as u64 + 1) as usize;
                bytes.truncate(keep);
            }
        }
    }
    bytes
}

/// Every placeholder `$n` in the text is bound, and every bind has its placeholder.
fn placeholders_match_binds(sql: &SqlBuilder) {
    let text = sql.sql();
    let mut highest = 0;
    let bytes = text.as_bytes();
    for (index, byte) in bytes.iter().enumerate() {
        if *byte == b'$' {
            let digits: String = text[index + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(number) = digits.parse::<usize>() {
                highest = highest.max(number);
            }
        }
    }
    assert_eq!(highest, sql.bind_count(), "{text}");
}

fn check_filter(value: &Value) {
    let layouts = [
        PayloadLayout::default(),
        PayloadLayout {
            gin: true,
            typed: Vec::new(),
        },
    ];
    if let Ok(filter) = Filter::from_json(value) {
        filter.check().unwrap();
        // What is accepted renders, round-trips through its JSON form, and binds everything.
        for layout in &layouts {
            let mut sql = SqlBuilder::new();
            render_filter(&filter, &mut sql, layout).unwrap();
            placeholders_match_binds(&sql);
        }
        let again = Filter::from_json(&filter.to_json()).unwrap();
        assert_eq!(again, filter);
    }
}

#[test]
fn fuzz_the_filter_parser_and_renderer() {
    fuzz("filter (structured)", |rng| {
        check_filter(&random_json(rng, 0))
    });
    let seeds = [
        r#"{"lang": "de", "n": {"$gte": 3, "$lt": 10}}"#,
        r#"{"$or": [{"tags": {"$contains": ["x"]}}, {"$not": {"a.b": {"$exists": true}}}]}"#,
        r#"{"t": {"$gt": "2026-11-25T08:00:00Z"}, "k": {"$nin": [1, "1", true, null]}}"#,
    ];
    fuzz("filter (mutated text)", |rng| {
        let seed = *pick(rng, &seeds);
        let bytes = mutate(rng, seed.as_bytes());
        if let Ok(text) = std::str::from_utf8(&bytes) {
            if let Ok(value) = serde_json::from_str::<Value>(text) {
                check_filter(&value);
            }
            let _ = text.parse::<Filter>();
        }
    });
}

fn npy_seed(rows: u64, columns: u64) -> Vec<u8> {
    let header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {columns}), }}");
    let padded = format!("{header:<118}\n");
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(padded.len() as u16).to_le_bytes());
    bytes.extend_from_slice(padded.as_bytes());
    for index in 0..rows * columns {
        bytes.extend_from_slice(&(index as f32).to_le_bytes());
    }
    bytes
}

#[test]
fn fuzz_the_npy_reader() {
    let seeds = [npy_seed(3, 4), npy_seed(1, 1), npy_seed(0, 2)];
    fuzz("npy reader", |rng| {
        let seed = pick(rng, &seeds).clone();
        let bytes = mutate(rng, &seed);
        let length = Some(bytes.len() as u64);
        if let Ok(mut reader) = NpyReader::new(Cursor::new(bytes), "fuzz.npy".to_owned(), length) {
            let mut row = Vec::new();
            // Bounded: a header may promise any number of rows; the data decides.
            for _ in 0..64 {
                match reader.read_row(&mut row) {
                    Ok(true) => {}
                    Ok(false) | Err(_) => break,
                }
            }
        }
    });
}

#[test]
fn fuzz_the_jsonl_record_reader() {
    let seed = "{\"external_id\": \"a\", \"metadata\": {\"k\": [1, 2]}, \"content\": \"x\"}\n\
                {\"id\": \"b\"}\n\n{\"external_id\": \"c\", \"metadata\": {}}\n";
    fuzz("jsonl records", |rng| {
        let bytes = mutate(rng, seed.as_bytes());
        let mut reader = RecordReader::new(Cursor::new(bytes), "fuzz.jsonl".to_owned());
        for _ in 0..16 {
            match reader.next_record() {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    });
}

#[test]
fn fuzz_dto_validation() {
    let floats = [
        0.0,
        -0.0,
        1e-45,
        1.0,
        -1.0,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        1e18,
        -7e17,
    ];
    fuzz("dto validation", |rng| {
        let dimension = 1 + below(rng, 6) as usize;
        let metric = *pick(rng, &Metric::FLOAT);
        let rules = CollectionRules::dense(dimension, metric);
        let items: Vec<NewEmbedding> = (0..below(rng, 5))
            .map(|_| {
                let length = if below(rng, 5) == 0 {
                    below(rng, 9) as usize
                } else {
                    dimension
                };
                let vector: Vec<f32> = (0..length).map(|_| *pick(rng, &floats)).collect();
                NewEmbedding::new(random_string(rng), vector)
                    .with_content(random_string(rng))
                    .with_metadata(random_json(rng, 0))
            })
            .collect();
        let duplicates = if below(rng, 2) == 0 {
            Duplicates::Reject
        } else {
            Duplicates::LastWins
        };
        let batch = EmbeddingBatch { items, duplicates };
        if batch.validate_with(&rules).is_ok() {
            // Accepted vectors are finite, of the right length, and no longer than
            // MAX_VECTOR_NORM (so pgvector's single-precision sums cannot overflow).
            for item in &batch.items {
                assert_eq!(item.vector.dimension(), dimension);
                let values = item.vector.to_vec();
                assert!(values.iter().all(|value| value.is_finite()));
                let squares: f64 = values.iter().map(|v| f64::from(*v) * f64::from(*v)).sum();
                assert!(squares.sqrt() <= embedstore::MAX_VECTOR_NORM, "{values:?}");
            }
        }
        let query: Vec<f32> = (0..dimension).map(|_| *pick(rng, &floats)).collect();
        let _ = SearchRequest::from(SearchRequest::vector(query, below(rng, 2000) as u32))
            .validate_with_rules(&rules);
        let name = random_string(rng);
        let _ = NewCollection::new(&name, below(rng, 20_000) as u32, metric, random_string(rng))
            .validate();
    });
}

/// Inputs that once broke something (none so far from these targets; the hostile matrix in
/// `tests/it/hostile.rs` holds the defects found by hand).
#[test]
fn regressions() {
    check_filter(&json!({"a": {"$in": [1, "1", true, null]}}));
    // Deep nesting as text (what a CLI or a config file hands over): a clean error.
    let deep = format!(
        "{{\"a\": {{\"$eq\": {}1{}}}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(deep.parse::<Filter>().is_err());
    // And as a value built in memory (1,000 deep; far deeper would overflow serde_json's own
    // recursive drop, whoever built it).
    let deep = (0..1_000).fold(json!(1), |value, _| json!([value]));
    assert!(Filter::from_json(&json!({"a": {"$eq": deep}})).is_err());
}
