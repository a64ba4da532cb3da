//! Known-item queries, each with exactly one right chunk.
//!
//! - **Rare term**: a term that looks like an identifier — an option (`--max-procs`), a name
//!   with `_` or `::`, letters mixed with digits (`sha256sum`, `0x1f`), an all-capitals
//!   code of four or more letters (`EACCES`), a camelCase or dotted name (`resolv.conf`) —
//!   of 4–40 ASCII characters that occurs, as a whole term and case-insensitively, in exactly
//!   one chunk of the corpus; moreover no other chunk holds all of its parts (`O_CREAT`: `o`
//!   and `creat`), so that the text search's own tokenization cannot find it elsewhere either.
//!   The query is the term alone, or with one or two ordinary words that stand within three
//!   words of it in its chunk (a third of the queries each); an option is written without its
//!   leading `--` (`websearch_to_tsquery` reads `-` as NOT: `--x` becomes `!!x`, which matches
//!   the same rows but cannot use the GIN index — a scan of every row, 0.7 s on 20,000).
//! - **Paraphrase**: one sentence of the chunk, reduced to its content words — letters only,
//!   no stop word, and no *distinctive* word (one in fewer than
//!   max(5, chunks / 1000) chunks), at most 10 consecutive ones — of which each is dropped
//!   with probability 1/4 (at least 4 remain), each remaining one replaced by a WordNet synonym
//!   that the corpus uses (see [`super::wordnet`]) with the given probability, and the
//!   result shuffled. Unambiguous: no other chunk holds all the words the query kept from its
//!   sentence (before the synonyms).
//!
//! A chunk is the answer of at most one query of each class. Chunks are drawn in the order of
//! their [`stable_key`] and each query's random choices come from an [`Rng`] seeded by its
//! chunk's text: the queries depend only on the corpus (and the WordNet files), and an edit
//! to one file leaves the queries on the other files' chunks as they were (unless it changes
//! which chunks qualify, e.g. by making a term no longer unique).

use std::collections::HashSet;

use embedstore_test_support::Rng;
use serde::Serialize;

use super::corpus::{Chunk, Index, parts, stable_key, terms};
use super::wordnet::WordNet;

/// Most content words a paraphrase starts from.
const PARAPHRASE_WINDOW: usize = 10;
/// Fewest content words a paraphrase keeps.
const PARAPHRASE_MIN_WORDS: usize = 4;
/// Tries (random window and drops) per sentence before a chunk is given up.
const PARAPHRASE_ATTEMPTS: usize = 3;
/// Words farther from the rare term than this are not its neighbours.
const NEIGHBOURHOOD: usize = 3;

/// The two kinds of query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Names a term found in only its chunk.
    RareTerm,
    /// Describes a sentence of its chunk in common and substituted words.
    Paraphrase,
}

impl Class {
    /// The report's name.
    pub fn name(self) -> &'static str {
        match self {
            Class::RareTerm => "rare term",
            Class::Paraphrase => "paraphrase",
        }
    }
}

/// One query and its one right chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Its class.
    pub class: Class,
    /// The index of the right chunk.
    pub target: usize,
    /// The query text (for the vector side, its embedding).
    pub text: String,
    /// Rare term: the term.
    pub term: Option<String>,
    /// Paraphrase: words replaced by a synonym.
    pub replaced: usize,
}

/// How the queries came out.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QueryStats {
    /// Chunks that have at least one usable rare term.
    pub rare_term_chunks: usize,
    /// Rare-term queries with 0, 1 and 2 words beside the term.
    pub rare_term_context_words: [usize; 3],
    /// Words in fewer chunks than this are distinctive (never in a paraphrase).
    pub distinctive_below: usize,
    /// Paraphrases with at least one synonym.
    pub paraphrases_with_synonyms: usize,
    /// Mean words per paraphrase.
    pub paraphrase_mean_words: f64,
    /// Mean synonyms per paraphrase.
    pub paraphrase_mean_synonyms: f64,
    /// Chunks tried for a paraphrase without success (no sentence gave an unambiguous one).
    pub paraphrase_chunks_rejected: usize,
}

/// Whether `term` looks like an identifier, an option or a code (see the module
/// documentation); uniqueness is checked separately.
pub fn identifier_like(term: &str) -> bool {
    let length = term.chars().count();
    if !(4..=40).contains(&length)
        || !term.is_ascii()
        || !term.chars().any(|c| c.is_ascii_alphabetic())
    {
        return false;
    }
    let bytes = term.as_bytes();
    let digits = bytes.iter().any(u8::is_ascii_digit);
    let upper = bytes.iter().filter(|b| b.is_ascii_uppercase()).count();
    let lower = bytes.iter().filter(|b| b.is_ascii_lowercase()).count();
    let camel = bytes
        .windows(2)
        .any(|pair| pair[0].is_ascii_lowercase() && pair[1].is_ascii_uppercase());
    let dotted = bytes.windows(3).any(|window| {
        window[0].is_ascii_alphanumeric() && window[1] == b'.' && window[2].is_ascii_alphabetic()
    });
    term.starts_with("--")
        || term.contains('_')
        || term.contains("::")
        || digits
        || (upper >= 4 && lower == 0)
        || camel
        || dotted
}

/// The rare terms of chunk `number`, in text order, once each: identifier-like, in no other
/// chunk as a term, and no other chunk has all their parts.
pub fn rare_terms<'a>(chunk: &'a Chunk, number: usize, index: &Index) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    let only_this = |list: &[u32]| list.len() == 1 && list[0] as usize == number;
    terms(&chunk.text)
        .filter(|term| identifier_like(term) && seen.insert(term.to_lowercase()))
        .filter(|term| {
            index
                .terms
                .get(&term.to_lowercase())
                .is_some_and(|list| only_this(list))
        })
        .filter(|term| {
            let parts: Vec<String> = parts(term).collect();
            only_this(&index.chunks_with_all_parts(parts.iter().map(String::as_str)))
        })
        .collect()
}

/// Up to `count` rare-term queries, at most one per chunk.
pub fn rare_term_queries(
    chunks: &[Chunk],
    index: &Index,
    count: usize,
    seed: u64,
    stats: &mut QueryStats,
) -> Vec<Query> {
    let mut candidates: Vec<(usize, Vec<&str>)> = chunks
        .iter()
        .enumerate()
        .map(|(number, chunk)| (number, rare_terms(chunk, number, index)))
        .filter(|(_, terms)| !terms.is_empty())
        .collect();
    stats.rare_term_chunks = candidates.len();
    candidates.sort_by_key(|(number, _)| (stable_key(&chunks[*number].text, seed), *number));
    let mut queries = Vec::new();
    for (target, terms) in candidates.into_iter().take(count) {
        let mut rng = Rng::new(stable_key(&chunks[target].text, seed ^ 1));
        let term = terms[pick(&mut rng, terms.len())];
        let wanted = pick(&mut rng, 3);
        let text = with_neighbours(&chunks[target].text, term, wanted, index);
        // `--max-procs` is asked as `max-procs`: websearch_to_tsquery reads a leading `-` as
        // NOT, and `!!term`, though it matches the same rows, cannot use the GIN index.
        let text = text.replacen(term, term.trim_start_matches('-'), 1);
        let context = text.split_whitespace().count() - 1;
        stats.rare_term_context_words[context.min(2)] += 1;
        queries.push(Query {
            class: Class::RareTerm,
            target,
            text,
            term: Some(term.to_owned()),
            replaced: 0,
        });
    }
    queries
}

/// `term` with up to `wanted` of the nearest ordinary words around its first occurrence in
/// `text`, in text order.
fn with_neighbours(text: &str, term: &str, wanted: usize, index: &Index) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some(at) = words
        .iter()
        .position(|word| terms(word).any(|found| found == term))
    else {
        return term.to_owned();
    };
    let mut nearby: Vec<(usize, usize)> = Vec::new(); // (distance, position)
    for (position, word) in words.iter().enumerate() {
        let distance = position.abs_diff(at);
        if distance == 0 || distance > NEIGHBOURHOOD {
            continue;
        }
        if let Some(word) = plain_word(word) {
            if index.part_chunks(&word) >= 2 {
                nearby.push((distance, position));
            }
        }
    }
    nearby.sort_unstable();
    let mut chosen: Vec<usize> = nearby.iter().take(wanted).map(|(_, at)| *at).collect();
    chosen.push(at);
    chosen.sort_unstable();
    let mut picked: Vec<String> = Vec::new();
    for position in chosen {
        if position == at {
            picked.push(term.to_owned());
        } else if let Some(word) = plain_word(words[position]) {
            if !picked.contains(&word) {
                picked.push(word);
            }
        }
    }
    picked.join(" ")
}

/// The word without surrounding punctuation, lowercase, when it is letters only, at least
/// three of them, and no stop word.
fn plain_word(word: &str) -> Option<String> {
    let word = word.trim_matches(|c: char| !c.is_alphanumeric());
    let word = word.to_lowercase();
    (word.chars().count() >= 3
        && word.chars().all(char::is_alphabetic)
        && !STOP_WORDS.contains(&word.as_str()))
    .then_some(word)
}

/// The sentences of a chunk: runs of words ending at one that ends in `.`, `?`, `!`, `;` or
/// `:`.
fn sentences(text: &str) -> Vec<Vec<&str>> {
    let mut sentences = Vec::new();
    let mut current = Vec::new();
    for word in text.split_whitespace() {
        current.push(word);
        if word.ends_with(['.', '?', '!', ';', ':']) {
            sentences.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        sentences.push(current);
    }
    sentences
}

/// Up to `count` paraphrase queries, at most one per chunk; `synonym_percent` is each kept
/// word's chance of being replaced (no replacement without `wordnet`).
pub fn paraphrase_queries(
    chunks: &[Chunk],
    index: &Index,
    wordnet: Option<&WordNet>,
    count: usize,
    synonym_percent: u32,
    seed: u64,
    stats: &mut QueryStats,
) -> Vec<Query> {
    let distinctive_below = (chunks.len() / 1000).max(5);
    stats.distinctive_below = distinctive_below;
    let mut order: Vec<usize> = (0..chunks.len()).collect();
    order.sort_by_key(|number| (stable_key(&chunks[*number].text, seed), *number));
    let mut queries = Vec::new();
    for target in order {
        if queries.len() == count {
            break;
        }
        let built = paraphrase(
            &chunks[target].text,
            target,
            index,
            wordnet,
            synonym_percent,
            distinctive_below,
            &mut Rng::new(stable_key(&chunks[target].text, seed ^ 1)),
        );
        match built {
            Some((text, replaced)) => queries.push(Query {
                class: Class::Paraphrase,
                target,
                text,
                term: None,
                replaced,
            }),
            None => stats.paraphrase_chunks_rejected += 1,
        }
    }
    let total = queries.len().max(1) as f64;
    stats.paraphrases_with_synonyms = queries.iter().filter(|q| q.replaced > 0).count();
    stats.paraphrase_mean_words = queries
        .iter()
        .map(|q| q.text.split_whitespace().count() as f64)
        .sum::<f64>()
        / total;
    stats.paraphrase_mean_synonyms = queries.iter().map(|q| q.replaced as f64).sum::<f64>() / total;
    queries
}

/// A paraphrase of one of the sentences of `text` (tried in a random order, each up to
/// [`PARAPHRASE_ATTEMPTS`] times), with the number of synonyms in it; `None` when no sentence
/// gives an unambiguous one.
fn paraphrase(
    text: &str,
    target: usize,
    index: &Index,
    wordnet: Option<&WordNet>,
    synonym_percent: u32,
    distinctive_below: usize,
    rng: &mut Rng,
) -> Option<(String, usize)> {
    let mut sentences = sentences(text);
    shuffle(&mut sentences, rng);
    let attempts = sentences.len() * PARAPHRASE_ATTEMPTS;
    for sentence in sentences.iter().cycle().take(attempts) {
        let mut content: Vec<String> = Vec::new();
        for word in sentence {
            if let Some(word) = plain_word(word) {
                if index.part_chunks(&word) >= distinctive_below && !content.contains(&word) {
                    content.push(word);
                }
            }
        }
        if content.len() < PARAPHRASE_MIN_WORDS + 1 {
            continue;
        }
        if content.len() > PARAPHRASE_WINDOW {
            let start = pick(rng, content.len() - PARAPHRASE_WINDOW + 1);
            content = content[start..start + PARAPHRASE_WINDOW].to_vec();
        }
        let mut kept: Vec<String> = Vec::new();
        for (position, word) in content.iter().enumerate() {
            let left = content.len() - position;
            if kept.len() + left > PARAPHRASE_MIN_WORDS && pick(rng, 4) == 0 {
                continue;
            }
            kept.push(word.clone());
        }
        let holders = index.chunks_with_all_parts(kept.iter().map(String::as_str));
        if holders != [u32::try_from(target).unwrap_or(u32::MAX)] {
            continue;
        }
        let mut replaced = 0;
        let mut words: Vec<String> = Vec::with_capacity(kept.len());
        for word in kept {
            let choices: Vec<&String> = wordnet
                .map(|wordnet| wordnet.synonyms(&word))
                .unwrap_or_default()
                .iter()
                .filter(|synonym| {
                    !STOP_WORDS.contains(&synonym.as_str())
                        && index.part_chunks(synonym) > 0
                        && !words.contains(synonym)
                })
                .collect();
            if !choices.is_empty() && pick(rng, 100) < synonym_percent as usize {
                words.push(choices[pick(rng, choices.len())].clone());
                replaced += 1;
            } else {
                words.push(word);
            }
        }
        shuffle(&mut words, rng);
        return Some((words.join(" "), replaced));
    }
    None
}

fn pick(rng: &mut Rng, n: usize) -> usize {
    (rng.next_u64() % n.max(1) as u64) as usize
}

/// Fisher–Yates with `rng`.
fn shuffle<T>(items: &mut [T], rng: &mut Rng) {
    for at in (1..items.len()).rev() {
        items.swap(at, pick(rng, at + 1));
    }
}

/// English function words: never a paraphrase's content word, a rare term's neighbour or a
/// synonym.
const STOP_WORDS: &[&str] = &[
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "and",
    "any",
    "are",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "can",
    "cannot",
    "could",
    "did",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "either",
    "else",
    "etc",
    "even",
    "ever",
    "every",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "her",
    "here",
    "hers",
    "him",
    "his",
    "how",
    "however",
    "into",
    "its",
    "itself",
    "just",
    "may",
    "might",
    "more",
    "most",
    "must",
    "neither",
    "nor",
    "not",
    "now",
    "off",
    "once",
    "one",
    "only",
    "other",
    "otherwise",
    "our",
    "ours",
    "out",
    "over",
    "own",
    "same",
    "shall",
    "she",
    "should",
    "since",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "thus",
    "too",
    "under",
    "until",
    "upon",
    "use",
    "used",
    "uses",
    "using",
    "very",
    "via",
    "was",
    "were",
    "what",
    "when",
    "where",
    "whether",
    "which",
    "while",
    "who",
    "whom",
    "whose",
    "why",
    "will",
    "with",
    "within",
    "without",
    "would",
    "yet",
    "you",
    "your",
    "yours",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(text: &str) -> Chunk {
        Chunk {
            source: "test".to_owned(),
            text: text.to_owned(),
        }
    }

    /// A small corpus: every chunk shares the common vocabulary; some hold rare terms.
    fn corpus() -> Vec<Chunk> {
        let common = "the daemon reads its configuration file when the service starts and \
                      writes a status message to the system journal for the administrator.";
        let mut chunks = vec![
            chunk(&format!(
                "{common} Set --max-procs to limit workers. O_CREAT creates it."
            )),
            chunk(&format!(
                "{common} The open call fails with EACCES when permission is denied."
            )),
            chunk(&format!(
                "{common} Store::create_text_index builds resolv.conf parsing."
            )),
            chunk(&format!("{common} Repeated term O_APPEND here.")),
            chunk(&format!(
                "{common} Repeated term o_append there, and max procs."
            )),
            chunk(&format!("{common} Parts o creat apart, x86_64 once.")),
            chunk(&format!("{common} Pass --dry-run-twice to check.")),
        ];
        for number in 0..30 {
            chunks.push(chunk(&format!(
                "{common} Filler chunk {number} mentions permission denied and workers limit \
                 service configuration message journal."
            )));
        }
        chunks
    }

    #[test]
    fn identifier_like_terms() {
        for term in [
            "--max-procs",
            "O_CREAT",
            "EACCES",
            "snake_case_name",
            "Store::new",
            "sha256sum",
            "0x1f",
            "createTextIndex",
            "resolv.conf",
        ] {
            assert!(identifier_like(term), "{term}");
        }
        for term in [
            "open",
            "Permission",
            "Note",
            "NOT",
            "2023-02-05",
            "x86",
            "é_accent",
            "e.g",
        ] {
            assert!(!identifier_like(term), "{term}");
        }
    }

    #[test]
    fn every_rare_term_occurs_in_exactly_its_chunk() {
        let chunks = corpus();
        let index = Index::new(&chunks);
        let mut stats = QueryStats::default();
        let queries = rare_term_queries(&chunks, &index, 100, 5, &mut stats);
        assert!(!queries.is_empty());
        let mut targets = HashSet::new();
        for query in &queries {
            let term = query.term.as_deref().unwrap();
            assert!(
                query.text.contains(term.trim_start_matches('-')),
                "{query:?}"
            );
            assert!(!query.text.starts_with('-'), "{query:?}");
            // Whole term, case-insensitively, over the whole corpus: only the target.
            let holders: Vec<usize> = chunks
                .iter()
                .enumerate()
                .filter(|(_, chunk)| {
                    terms(&chunk.text).any(|found| found.eq_ignore_ascii_case(term))
                })
                .map(|(number, _)| number)
                .collect();
            assert_eq!(holders, [query.target], "{query:?}");
            assert!(targets.insert(query.target), "two queries for one chunk");
            assert!(query.text.split_whitespace().count() <= 3, "{query:?}");
        }
        let found: HashSet<&str> = queries.iter().filter_map(|q| q.term.as_deref()).collect();
        // O_APPEND is in two chunks (case-insensitively); O_CREAT's parts are both in chunk 5;
        // `max procs` (chunk 4) holds the parts of --max-procs.
        for absent in ["O_APPEND", "o_append", "O_CREAT", "--max-procs"] {
            assert!(!found.contains(absent), "{absent} in {found:?}");
        }
        assert!(found.contains("EACCES"), "{found:?}");
        assert!(found.contains("x86_64"), "{found:?}");
        let option = queries
            .iter()
            .find(|query| query.term.as_deref() == Some("--dry-run-twice"))
            .unwrap();
        assert!(option.text.contains("dry-run-twice"), "{option:?}");
        assert_eq!(stats.rare_term_chunks, queries.len());
        // Deterministic.
        let again = rare_term_queries(&chunks, &index, 100, 5, &mut QueryStats::default());
        assert_eq!(queries, again);
    }

    #[test]
    fn another_chunk_does_not_reshuffle_the_queries() {
        let chunks = corpus();
        let pairs = |chunks: &[Chunk]| -> Vec<(String, String)> {
            let index = Index::new(chunks);
            rare_term_queries(chunks, &index, 2, 5, &mut QueryStats::default())
                .into_iter()
                .map(|query| (chunks[query.target].text.clone(), query.text))
                .collect()
        };
        let before = pairs(&chunks);
        let mut more = vec![chunk("an unrelated chunk of plain words placed first")];
        more.extend(chunks);
        assert_eq!(before.len(), 2);
        assert_eq!(pairs(&more), before);
    }

    #[test]
    fn neighbours_are_ordinary_words_near_the_term() {
        let chunks = corpus();
        let index = Index::new(&chunks);
        let text = &chunks[1].text;
        assert_eq!(with_neighbours(text, "EACCES", 0, &index), "EACCES");
        assert_eq!(
            with_neighbours(text, "EACCES", 2, &index),
            "EACCES permission"
        );
        assert_eq!(with_neighbours(text, "absent", 2, &index), "absent");
    }

    #[test]
    fn paraphrases_are_unambiguous_and_use_synonyms() {
        let mut chunks = corpus();
        // Distinct sentences the paraphrases can come from.
        // Its words are in 7 chunks each (not distinctive), all of them only in the last.
        for _ in 0..6 {
            chunks.push(chunk("the scheduler moves a waiting job to another queue."));
            chunks.push(chunk(
                "the timeout expires while the operator watches the planner.",
            ));
        }
        chunks.push(chunk(
            "the scheduler moves every waiting job to another queue after the timeout expires \
             while the operator watches.",
        ));
        let index = Index::new(&chunks);
        let wordnet = WordNet::from_pairs(&[
            ("scheduler", &["planner"]),
            ("job", &["task", "daemon"]),
            ("queue", &["line"]),
        ]);
        let mut stats = QueryStats::default();
        let queries = paraphrase_queries(&chunks, &index, Some(&wordnet), 50, 100, 9, &mut stats);
        assert!(!queries.is_empty());
        for query in &queries {
            assert_eq!(query.class, Class::Paraphrase);
            let words: Vec<&str> = query.text.split_whitespace().collect();
            assert!(words.len() >= PARAPHRASE_MIN_WORDS, "{query:?}");
            assert!(words.len() <= PARAPHRASE_WINDOW, "{query:?}");
            // Letters only: no rare term slipped in.
            assert!(
                words
                    .iter()
                    .all(|word| word.chars().all(char::is_alphabetic)),
                "{query:?}"
            );
        }
        // The scheduler sentence is the only one whose words no other chunk holds together.
        let job = queries
            .iter()
            .find(|query| query.target == chunks.len() - 1)
            .unwrap();
        assert!(job.replaced > 0, "{job:?}");
        assert!(!job.text.contains("scheduler"), "{job:?}");
        // `line` is used nowhere in the corpus: never a synonym.
        assert!(!job.text.split_whitespace().any(|w| w == "line"), "{job:?}");
        // Without WordNet: no synonyms.
        let plain = paraphrase_queries(&chunks, &index, None, 50, 100, 9, &mut stats);
        assert!(plain.iter().all(|query| query.replaced == 0));
    }
}
