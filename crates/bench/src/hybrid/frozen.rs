//! The frozen corpus and known-item queries (`crates/bench/data/hybrid.jsonl`), made once by
//! `scripts/bench-data/hybrid_corpus.py` from this repository's own documents at a named
//! commit; see that script for how the chunks and queries are chosen and how to regenerate.

use serde::{Deserialize, Serialize};

use crate::BenchResult;

/// The frozen file, compiled in so that every machine measures the same text.
const FROZEN: &str = include_str!("../../data/hybrid.jsonl");

/// A query class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// An identifier-like term found in the right chunk only (with up to two neighbours).
    RareTerm,
    /// A sentence's common words, some dropped or replaced by synonyms, shuffled.
    Paraphrase,
}

impl Class {
    /// The class's name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Class::RareTerm => "rare term",
            Class::Paraphrase => "paraphrase",
        }
    }
}

/// One known-item query.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Query {
    /// Its class.
    pub class: Class,
    /// The number of its one right chunk.
    pub target: usize,
    /// The query text.
    #[serde(rename = "query")]
    pub text: String,
    /// Words a synonym replaced (paraphrases only).
    pub replaced: usize,
    /// Its position among all the file's queries (0-based, file order): its vector's place
    /// after the chunks' in the embeddings file.
    #[serde(skip)]
    pub number: usize,
}

/// One chunk of text and the file it came from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Chunk {
    /// The repository path it was cut from.
    pub source: String,
    /// 40 to 200 words.
    #[serde(rename = "chunk")]
    pub text: String,
}

/// The file's first line: where the text came from and how it was prepared.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Meta {
    /// The text's origin and licence.
    pub source: String,
    /// The commit the files were read at.
    pub commit: String,
    /// Repeated chunks dropped.
    pub duplicate_chunks: usize,
    /// Chunks with a term found in them only.
    pub rare_term_chunks: usize,
    /// Paraphrase words occur in at least this many chunks.
    pub distinctive_below: usize,
    /// The synonym source, or `none`.
    pub synonyms: String,
}

/// The corpus and at most `per_class` queries of each class.
#[derive(Debug, Clone)]
pub struct Frozen {
    /// Provenance.
    pub meta: Meta,
    /// Every chunk, numbered from 0 in file order.
    pub chunks: Vec<Chunk>,
    /// The rare-term queries, then the paraphrases.
    pub queries: Vec<Query>,
}

/// One line of the file.
#[derive(Deserialize)]
#[serde(untagged)]
enum Line {
    Meta { meta: Meta },
    Chunk(Chunk),
    Query(Query),
}

impl Frozen {
    /// Reads the compiled-in file, keeping the first `per_class` queries of each class.
    pub fn load(per_class: usize) -> BenchResult<Self> {
        let (mut meta, mut chunks, mut queries) = (None, Vec::new(), Vec::new());
        for (number, line) in FROZEN.lines().enumerate() {
            match serde_json::from_str(line)
                .map_err(|error| format!("hybrid.jsonl line {}: {error}", number + 1))?
            {
                Line::Meta { meta: read } => meta = Some(read),
                Line::Chunk(chunk) => chunks.push(chunk),
                Line::Query(mut query) => {
                    query.number = queries.len();
                    queries.push(query);
                }
            }
        }
        if let Some(query) = queries.iter().find(|query| query.target >= chunks.len()) {
            return Err(format!("query {:?} names a missing chunk", query.text).into());
        }
        let mut kept = Vec::new();
        for class in [Class::RareTerm, Class::Paraphrase] {
            let of_class = queries.iter().filter(|query| query.class == class);
            kept.extend(of_class.take(per_class).cloned());
        }
        Ok(Self {
            meta: meta.ok_or("hybrid.jsonl has no meta line")?,
            chunks,
            queries: kept,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frozen_file_loads_with_both_classes() {
        let frozen = Frozen::load(5).unwrap();
        assert!(frozen.chunks.len() > 500, "{}", frozen.chunks.len());
        assert_eq!(frozen.queries.len(), 10);
        assert!(
            frozen.queries[..5]
                .iter()
                .all(|q| q.class == Class::RareTerm)
        );
        assert!(
            frozen.queries[5..]
                .iter()
                .all(|q| q.class == Class::Paraphrase)
        );
        assert_eq!(frozen.meta.commit.len(), 40);
        // Every word of a rare-term query is in its right chunk.
        let query = &frozen.queries[0];
        let chunk = frozen.chunks[query.target].text.to_lowercase();
        for word in query.text.split_whitespace() {
            assert!(chunk.contains(&word.to_lowercase()), "{query:?}");
        }
    }
}
