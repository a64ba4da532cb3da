//! `embedstore-bench hybrid`: issue 13's known-item benchmark of full-text, vector and hybrid
//! search.
//!
//! A synthetic corpus with a known answer per query: documents are words of one of a few
//! dozen topics (plus common words), their vectors the normalized sum of their words'
//! random embeddings and their topic's, plus noise. Each query targets one document: its text
//! is two of that document's words joined by `or` — one of them, 40 % of the time, swapped
//! for a word of the same topic the document does not contain (vocabulary mismatch) — and its
//! vector a noisy "paraphrase" (six of the document's words, drawn with repetition, and its
//! topic). MRR@10 of the
//! known document is reported for vector-only (exact scan: retrieval quality, not ANN
//! recall), text-only (`ts_rank_cd` through the `simple` text index) and hybrid (reciprocal
//! rank fusion, defaults: fetch_k 4·k, rrf_k 60, weights 1). Synthetic: the figures show that
//! fusion works and how much, not what a real corpus would give.

use std::process::ExitCode;

use embedstore::testing::{Rng, TestDatabase};
use embedstore::{Metric, NewCollection, NewEmbedding, SearchRequest};
use serde::Serialize;

use crate::BenchResult;
use crate::args::positive;

/// The `hybrid --help` description.
pub const HYBRID_ABOUT: &str = "\
Measures issue 13's full-text, vector and hybrid (reciprocal rank fusion) search on a
synthetic known-item corpus: MRR@10 of the known document for vector-only, text-only and
hybrid search, one run on a throw-away database.";

const DIMENSION: usize = 64;
const TOPICS: usize = 40;
const TOPIC_WORDS: usize = 150;
const COMMON_WORDS: usize = 500;
const WORDS_PER_DOC: usize = 12;
const K: u32 = 10;

/// What the hybrid benchmark measures.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct HybridArgs {
    /// Documents in the collection.
    #[arg(long, value_name = "N", default_value_t = 20_000, value_parser = positive())]
    pub rows: usize,
    /// Known-item queries.
    #[arg(long, value_name = "N", default_value_t = 300, value_parser = positive())]
    pub queries: usize,
}

#[derive(Debug, Clone, Serialize)]
struct Summary {
    rows: usize,
    queries: usize,
    mrr_vector: f64,
    mrr_text: f64,
    mrr_hybrid: f64,
    found_vector: usize,
    found_text: usize,
    found_hybrid: usize,
}

/// Runs the `hybrid` mode.
pub fn main(args: &HybridArgs) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

fn unit(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = vector.iter().map(|value| value * value).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|value| *value /= norm);
    }
    vector
}

fn add(into: &mut [f32], from: &[f32], weight: f32) {
    into.iter_mut()
        .zip(from)
        .for_each(|(a, b)| *a += weight * b);
}

fn pick(rng: &mut Rng, n: usize) -> usize {
    (rng.next_u64() % n as u64) as usize
}

struct Corpus {
    words: Vec<Vec<f32>>,
    topics: Vec<Vec<f32>>,
    /// Each document's topic and word ids.
    docs: Vec<(usize, Vec<usize>)>,
}

/// Word ids: topic `t`'s words are `t * TOPIC_WORDS ..`, then the common words.
fn generate(rows: usize) -> Corpus {
    let mut rng = Rng::new(1313);
    let vocabulary = TOPICS * TOPIC_WORDS + COMMON_WORDS;
    let words = (0..vocabulary)
        .map(|_| unit(rng.vector(DIMENSION)))
        .collect();
    let topics = (0..TOPICS).map(|_| unit(rng.vector(DIMENSION))).collect();
    let docs = (0..rows)
        .map(|_| {
            let topic = pick(&mut rng, TOPICS);
            let ids = (0..WORDS_PER_DOC)
                .map(|_| {
                    if pick(&mut rng, 10) < 7 {
                        topic * TOPIC_WORDS + pick(&mut rng, TOPIC_WORDS)
                    } else {
                        TOPICS * TOPIC_WORDS + pick(&mut rng, COMMON_WORDS)
                    }
                })
                .collect();
            (topic, ids)
        })
        .collect();
    Corpus {
        words,
        topics,
        docs,
    }
}

impl Corpus {
    fn vector(&self, topic: usize, ids: &[usize], noise: f32, rng: &mut Rng) -> Vec<f32> {
        let mut vector = vec![0.0; DIMENSION];
        for id in ids {
            add(&mut vector, &self.words[*id], 1.0);
        }
        add(&mut vector, &self.topics[topic], 1.0);
        add(&mut vector, &rng.vector(DIMENSION), noise);
        unit(vector)
    }
}

fn text(ids: &[usize]) -> String {
    ids.iter()
        .map(|id| format!("w{id}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn run(args: &HybridArgs) -> BenchResult<()> {
    eprintln!("generating {} documents …", args.rows);
    let corpus = generate(args.rows);
    let mut rng = Rng::new(2727);
    let items: Vec<NewEmbedding> = corpus
        .docs
        .iter()
        .enumerate()
        .map(|(index, (topic, ids))| {
            NewEmbedding::new(
                format!("d{index}"),
                corpus.vector(*topic, ids, 0.3, &mut rng),
            )
            .with_content(text(ids))
        })
        .collect();
    let db = TestDatabase::try_new()?;
    let store = db.store();
    let collection = store.write(|uow| {
        uow.collections().create(NewCollection::new(
            "hybrid",
            DIMENSION as u32,
            Metric::Cosine,
            "embedstore-bench",
        ))
    })?;
    for chunk in items.chunks(10_000) {
        store.write(|uow| uow.embeddings().insert(&collection, chunk.to_vec()))?;
    }
    store.create_text_index(&collection, "simple")?;
    eprintln!("{} known-item queries …", args.queries);
    let mut queries = Vec::with_capacity(args.queries);
    for _ in 0..args.queries {
        let target = pick(&mut rng, corpus.docs.len());
        let (topic, ids) = &corpus.docs[target];
        let first = ids[pick(&mut rng, ids.len())];
        let mut second = ids[pick(&mut rng, ids.len())];
        if pick(&mut rng, 10) < 4 {
            // Vocabulary mismatch: a word of the same topic the document lacks.
            loop {
                let candidate = topic * TOPIC_WORDS + pick(&mut rng, TOPIC_WORDS);
                if !ids.contains(&candidate) {
                    second = candidate;
                    break;
                }
            }
        }
        let paraphrase: Vec<usize> = (0..6).map(|_| ids[pick(&mut rng, ids.len())]).collect();
        let vector = corpus.vector(*topic, &paraphrase, 1.0, &mut rng);
        queries.push((
            format!("d{target}"),
            format!("w{first} or w{second}"),
            vector,
        ));
    }
    let reciprocal = |response: &embedstore::SearchResponse, target: &str| {
        response
            .hits
            .iter()
            .position(|hit| hit.external_id == target)
            .map_or(0.0, |rank| 1.0 / (rank as f64 + 1.0))
    };
    let (mut vector_sum, mut text_sum, mut hybrid_sum) = (0.0, 0.0, 0.0);
    let (mut vector_found, mut text_found, mut hybrid_found) = (0, 0, 0);
    for (target, query_text, vector) in &queries {
        let by_vector = store.search(
            &collection,
            SearchRequest::new(vector.clone(), K).include_metadata(false),
        )?;
        let by_text = store.search(
            &collection,
            SearchRequest::text(query_text.clone(), K).include_metadata(false),
        )?;
        let hybrid = store.search(
            &collection,
            SearchRequest::new(vector.clone(), K)
                .with_text(query_text.clone())
                .include_metadata(false),
        )?;
        for (response, sum, found) in [
            (&by_vector, &mut vector_sum, &mut vector_found),
            (&by_text, &mut text_sum, &mut text_found),
            (&hybrid, &mut hybrid_sum, &mut hybrid_found),
        ] {
            let score = reciprocal(response, target);
            *sum += score;
            if score > 0.0 {
                *found += 1;
            }
        }
    }
    let count = queries.len().max(1) as f64;
    let round = |value: f64| (value * 10_000.0).round() / 10_000.0;
    let summary = Summary {
        rows: args.rows,
        queries: queries.len(),
        mrr_vector: round(vector_sum / count),
        mrr_text: round(text_sum / count),
        mrr_hybrid: round(hybrid_sum / count),
        found_vector: vector_found,
        found_text: text_found,
        found_hybrid: hybrid_found,
    };
    println!(
        "known-item search: {} documents, {} queries, MRR@{K} (found in the top {K})",
        summary.rows, summary.queries
    );
    println!(
        "vector only  {:.4} ({})",
        summary.mrr_vector, summary.found_vector
    );
    println!(
        "text only    {:.4} ({})",
        summary.mrr_text, summary.found_text
    );
    println!(
        "hybrid (RRF) {:.4} ({})",
        summary.mrr_hybrid, summary.found_hybrid
    );
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}
