//! `embedstore demo`: the whole job end to end on data the binary carries — this crate's own
//! sources and the help of its commands (see [`crate::corpus`]) — chunked, embedded by [`crate::embedder`], stored,
//! searched, checked against brute force and timed.

use std::io::Write;
use std::time::{Duration, Instant};

use embedstore::{
    Collection, Metric, NewCollection, NewEmbedding, SearchRequest, SearchResponse, Store,
    VectorSearch,
};

use crate::corpus::{self, Chunk};
use crate::embedder::{self, DIMENSION, MODEL};
use crate::error::CliError;
use crate::output::{Column, duration, one_line, per_second, plural, thousands, write_table};

/// Arguments of `embedstore demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The collection the demo writes; dropped first if it exists.
    #[arg(long, default_value = "embedstore-demo")]
    pub collection: String,
    /// Keep the collection afterwards instead of dropping it.
    #[arg(long)]
    pub keep: bool,
}

/// The questions the demo asks of the crate's text (its sources and its commands' help). A
/// hashing embedder has no IDF: each question names two or three words that are rare in that
/// text, so that common ones ("collection", "the") do not decide the ranking.
const QUERIES: [&str; 5] = [
    "the password is never printed",
    "drop a collection quickly",
    "re-running after a crash resumes",
    "nearest neighbour search with cosine distance",
    "a NaN token is not valid JSON",
];

/// Fewest chunks the corpus is cut into.
const MIN_CHUNKS: usize = 2_000;
/// Neighbours shown per query.
const TOP: u32 = 5;
/// Searches timed for the latency percentiles.
const TIMED_SEARCHES: usize = 50;
/// Characters of each hit's snippet.
const SNIPPET_CHARS: usize = 64;
/// Distances closer than this count as equal when comparing with brute force (pgvector sums
/// in single precision, the check in double).
const DISTANCE_TOLERANCE: f64 = 1e-5;

/// Runs `embedstore demo`.
///
/// # Errors
/// Any failing step; the demo collection may then remain (the next run replaces it).
pub fn run(store: &Store, args: &DemoArgs, out: &mut dyn Write) -> Result<(), CliError> {
    writeln!(
        out,
        "embedstore demo: the CLI's own code and help, chunked, embedded, stored and searched"
    )?;
    writeln!(out)?;
    let applied = store.migrate()?;
    let schema = match applied.len() {
        0 => "schema up to date".to_owned(),
        count => format!(
            "applied {}",
            plural(count as u64, "migration", "migrations")
        ),
    };
    let target = store.config().database_url.target();
    step(out, "database", &format!("{target}, {schema}"))?;

    let files = corpus::sources();
    let kib = files.iter().map(|file| file.text.len()).sum::<usize>() / 1024;
    let (chunks, windows) = corpus::chunk_corpus(&files, MIN_CHUNKS);
    step(
        out,
        "corpus",
        &format!(
            "{}, {kib} KiB -> {} (paragraphs, code blocks, {}-line windows every {} lines)",
            plural(files.len() as u64, "file", "files"),
            plural(chunks.len() as u64, "chunk", "chunks"),
            windows.lines,
            windows.stride
        ),
    )?;

    let started = Instant::now();
    let vectors: Vec<Vec<f32>> = chunks
        .iter()
        .map(|chunk| embedder::embed(&chunk.text))
        .collect();
    let embed_time = started.elapsed();
    step(
        out,
        "embed",
        &format!(
            "{} chunks x {DIMENSION} dimensions with {MODEL} in {}",
            thousands(chunks.len() as u64),
            duration(embed_time)
        ),
    )?;

    let started = Instant::now();
    let (collection, rows, replaced) = store_chunks(store, &args.collection, &chunks, &vectors)?;
    let write_time = started.elapsed();
    step(
        out,
        "store",
        &format!(
            "{} collection {:?} ({DIMENSION}, cosine), upserted {} in one transaction in {}",
            if replaced { "replaced" } else { "created" },
            collection.name,
            plural(rows, "row", "rows"),
            duration(write_time)
        ),
    )?;

    let query_vectors: Vec<Vec<f32>> = QUERIES.iter().map(|query| embedder::embed(query)).collect();
    let (responses, plan) = store.read(|uow| -> embedstore::Result<_> {
        let mut responses = Vec::with_capacity(QUERIES.len());
        for vector in &query_vectors {
            responses.push(uow.search(&collection, request(vector))?);
        }
        let plan = uow.explain_search(&collection, request(&query_vectors[0]))?;
        Ok((responses, plan))
    })?;
    step(
        out,
        "search",
        &format!("top {TOP} of {} rows for each question", thousands(rows)),
    )?;
    step(out, "plan", &plan_outline(&plan))?;
    for ((query, vector), response) in QUERIES.iter().zip(&query_vectors).zip(&responses) {
        write_hits(out, query, vector, response, &chunks)?;
    }
    writeln!(out)?;

    let check = brute_force_check(&query_vectors[0], &vectors, &chunks, &responses[0]);
    step(
        out,
        "check",
        &format!(
            "first question, top {TOP}, against brute force over all {} vectors in Rust",
            thousands(vectors.len() as u64)
        ),
    )?;
    step(out, "", &format!("matches brute force: {check}"))?;

    let latencies = time_searches(store, &collection, &query_vectors)?;
    let timings = Timings {
        chunks: chunks.len() as u64,
        embed: embed_time,
        rows,
        write: write_time,
        latencies,
    };
    write_timings(out, &timings)?;

    if args.keep {
        writeln!(
            out,
            "kept collection {:?}: see `embedstore collection show {}`",
            collection.name, collection.name
        )?;
    } else {
        store.write(|uow| uow.collections().drop(&collection.name))?;
        writeln!(
            out,
            "dropped collection {:?} (pass --keep to keep it)",
            collection.name
        )?;
    }
    Ok(())
}

/// Whether the database's answer is the brute-force answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Same ids in the same order.
    Identical,
    /// Same distances rank by rank; ids with equal distances in another order.
    TiesReordered,
    /// Different.
    Differs,
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Check::Identical => "yes (same ids, same order)",
            Check::TiesReordered => "yes (equal distances listed in another order)",
            Check::Differs => "no",
        })
    }
}

/// What the timings table reports.
struct Timings {
    chunks: u64,
    embed: Duration,
    rows: u64,
    write: Duration,
    /// Sorted, fastest first.
    latencies: Vec<Duration>,
}

/// Replaces the demo collection with a fresh one holding every chunk, in one transaction;
/// returns it, its row count, and whether an older one was dropped.
fn store_chunks(
    store: &Store,
    name: &str,
    chunks: &[Chunk],
    vectors: &[Vec<f32>],
) -> Result<(Collection, u64, bool), CliError> {
    let items: Vec<NewEmbedding> = chunks
        .iter()
        .zip(vectors)
        .map(|(chunk, vector)| to_item(chunk, vector))
        .collect();
    let dimension = u32::try_from(DIMENSION).unwrap_or(u32::MAX);
    let stored = store.write(|uow| -> embedstore::Result<_> {
        let replaced = uow.collections().find(name)?.is_some();
        if replaced {
            uow.collections().drop(name)?;
        }
        let spec = NewCollection::new(name, dimension, Metric::Cosine, MODEL).with_description(
            serde_json::json!({
                "about": "chunks of the embedstore crate's own docs and code, written by `embedstore demo`",
            }),
        );
        let collection = uow.collections().create(spec)?;
        let summary = uow.embeddings().upsert(&collection, items)?;
        Ok((collection, summary.inserted, replaced))
    })?;
    Ok(stored)
}

fn write_timings(out: &mut dyn Write, timings: &Timings) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(out, "timings")?;
    let searches = timings.latencies.len();
    let rows = [
        [
            "chunks".to_owned(),
            thousands(timings.chunks),
            String::new(),
        ],
        [
            "embed".to_owned(),
            duration(timings.embed),
            format!(
                "{} chunks/s, one thread",
                per_second(timings.chunks, timings.embed)
            ),
        ],
        [
            "write".to_owned(),
            duration(timings.write),
            format!(
                "{} rows/s: drop + create + upsert, one transaction",
                per_second(timings.rows, timings.write)
            ),
        ],
        [
            "search p50".to_owned(),
            duration(percentile(&timings.latencies, 50)),
            format!("{searches} searches, k={TOP}, with content, one read transaction each"),
        ],
        [
            "search p95".to_owned(),
            duration(percentile(&timings.latencies, 95)),
            String::new(),
        ],
    ]
    .map(Vec::from);
    write_table(
        out,
        "  ",
        &[Column::left(""), Column::right(""), Column::left("")],
        &rows,
    )?;
    writeln!(out)
}

fn step(out: &mut dyn Write, name: &str, text: &str) -> std::io::Result<()> {
    writeln!(out, "{name:<9} {text}")
}

fn request(vector: &[f32]) -> VectorSearch {
    SearchRequest::vector(vector.to_vec(), TOP).include_content(true)
}

fn to_item(chunk: &Chunk, vector: &[f32]) -> NewEmbedding {
    NewEmbedding::new(chunk.external_id.clone(), vector.to_vec())
        .with_content(chunk.text.clone())
        .with_metadata(serde_json::json!({
            "source": chunk.source,
            "kind": chunk.kind.as_str(),
            "line": chunk.line,
        }))
}

/// The plan's nodes on one line, e.g. `Limit > Sort > Seq Scan on embeddings_7 embeddings`.
fn plan_outline(plan: &str) -> String {
    plan.lines()
        .filter_map(|line| {
            let (node, _) = line.split_once("  (cost=")?;
            Some(node.trim().trim_start_matches("->").trim().to_owned())
        })
        .collect::<Vec<_>>()
        .join(" > ")
}

fn write_hits(
    out: &mut dyn Write,
    query: &str,
    query_vector: &[f32],
    response: &SearchResponse,
    chunks: &[Chunk],
) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(out, "  {query:?}")?;
    let rows: Vec<Vec<String>> = response
        .hits
        .iter()
        .enumerate()
        .map(|(index, hit)| {
            let chunk = chunks
                .iter()
                .find(|chunk| chunk.external_id == hit.external_id);
            let content = hit.content.as_deref().unwrap_or_default();
            let (offset, snippet) = best_line(content, query_vector);
            let line = chunk.map_or_else(String::new, |chunk| (chunk.line + offset).to_string());
            vec![
                (index + 1).to_string(),
                format!("{:.3}", hit.score),
                hit.external_id.clone(),
                line,
                one_line(snippet, SNIPPET_CHARS),
            ]
        })
        .collect();
    let columns = [
        Column::right("#"),
        Column::right("score"),
        Column::left("external_id"),
        Column::right("line"),
        Column::left("snippet"),
    ];
    write_table(out, "    ", &columns, &rows)
}

/// The line of `content` most similar to the query (by the same embedder), with its offset in
/// the chunk: a one-line snippet that shows why the chunk matched.
fn best_line<'c>(content: &'c str, query_vector: &[f32]) -> (usize, &'c str) {
    let mut best = (
        0,
        content.lines().next().unwrap_or_default(),
        f64::NEG_INFINITY,
    );
    for (offset, line) in content.lines().enumerate() {
        if line.chars().filter(|c| c.is_alphanumeric()).count() < 3 {
            continue;
        }
        let similarity = embedder::similarity(&embedder::embed(line), query_vector);
        if similarity > best.2 {
            best = (offset, line, similarity);
        }
    }
    (best.0, best.1.trim())
}

fn brute_force_check(
    query: &[f32],
    vectors: &[Vec<f32>],
    chunks: &[Chunk],
    response: &SearchResponse,
) -> Check {
    let mut ranked: Vec<(f64, &str)> = vectors
        .iter()
        .zip(chunks)
        .map(|(vector, chunk)| {
            (
                Metric::Cosine.distance(query, vector),
                chunk.external_id.as_str(),
            )
        })
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
    ranked.truncate(TOP as usize);
    let found: Vec<(f64, &str)> = response
        .hits
        .iter()
        .map(|hit| (hit.distance, hit.external_id.as_str()))
        .collect();
    compare(&ranked, &found)
}

/// Compares brute-force `(distance, id)` pairs with the database's, both nearest first.
fn compare(expected: &[(f64, &str)], found: &[(f64, &str)]) -> Check {
    if expected.len() != found.len() {
        return Check::Differs;
    }
    if expected
        .iter()
        .zip(found)
        .all(|((_, want), (_, got))| want == got)
    {
        return Check::Identical;
    }
    // Rank by rank the distances must agree, and every returned id must be one the brute
    // force places at that same distance.
    let close = |a: f64, b: f64| (a - b).abs() < DISTANCE_TOLERANCE;
    let same_distances = expected
        .iter()
        .zip(found)
        .all(|((want, _), (got, _))| close(*want, *got));
    let same_ids_at_those_distances = found.iter().all(|(got_distance, got_id)| {
        expected
            .iter()
            .any(|(distance, id)| id == got_id && close(*distance, *got_distance))
    });
    if same_distances && same_ids_at_those_distances {
        Check::TiesReordered
    } else {
        Check::Differs
    }
}

/// Times [`TIMED_SEARCHES`] searches, cycling through the questions; sorted, fastest first.
fn time_searches(
    store: &Store,
    collection: &Collection,
    query_vectors: &[Vec<f32>],
) -> Result<Vec<Duration>, CliError> {
    let mut latencies = Vec::with_capacity(TIMED_SEARCHES);
    for vector in query_vectors.iter().cycle().take(TIMED_SEARCHES) {
        let started = Instant::now();
        store.read(|uow| uow.search(collection, request(vector)))?;
        latencies.push(started.elapsed());
    }
    latencies.sort_unstable();
    Ok(latencies)
}

/// The nearest-rank `percent`th percentile of sorted `values` (zero when there are none).
fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let sorted: Vec<Duration> = (1..=50).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 50), Duration::from_millis(25));
        assert_eq!(percentile(&sorted, 95), Duration::from_millis(48));
        assert_eq!(percentile(&sorted[..1], 95), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50), Duration::ZERO);
    }

    #[test]
    fn brute_force_comparison_tolerates_reordered_ties_only() {
        let expected = [(0.1, "a"), (0.2, "b"), (0.2, "c")];
        let check = |found: &[(f64, &str)]| compare(&expected, found);
        assert_eq!(
            check(&[(0.1, "a"), (0.2, "b"), (0.2, "c")]),
            Check::Identical
        );
        assert_eq!(
            check(&[(0.1, "a"), (0.2, "c"), (0.2, "b")]),
            Check::TiesReordered
        );
        assert_eq!(check(&[(0.1, "b"), (0.2, "a"), (0.2, "c")]), Check::Differs);
        assert_eq!(check(&[(0.1, "a"), (0.2, "b")]), Check::Differs);
    }

    #[test]
    fn plan_outline_lists_the_nodes() {
        let plan = "Limit  (cost=1.00..2.00 rows=5 width=8)\n  ->  Sort  (cost=1.00..1.50 rows=9 width=8)\n        Sort Key: x\n        ->  Seq Scan on embeddings_7 embeddings  (cost=0.00..1.00 rows=9 width=8)\n              Filter: (collection_id = 7)";
        assert_eq!(
            plan_outline(plan),
            "Limit > Sort > Seq Scan on embeddings_7 embeddings"
        );
    }

    #[test]
    fn snippets_pick_the_line_closest_to_the_question() {
        let content = "fn unrelated() {}\n/// Drops the collection and its partition.\n}";
        let query = embedder::embed("drop a collection");
        assert_eq!(
            best_line(content, &query),
            (1, "/// Drops the collection and its partition.")
        );
    }
}
