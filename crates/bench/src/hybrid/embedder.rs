//! A copy of the CLI's deterministic text embedder (`crates/cli/src/embedder.rs`, without its
//! tests): feature hashing into [`DIMENSION`] dimensions. Copied, not shared, so that the

/// Length of every vector [`embed`] returns.
pub const DIMENSION: usize = 384;

/// The model name demo collections record; change the suffix whenever the features change.
pub const MODEL: &str = "embedstore-hash-384-v1";

/// The embedding of `text`: [`DIMENSION`] values of unit L2 length, never all zero.
pub fn embed(text: &str) -> Vec<f32> {
    let words = words(text);
    let mut features: Vec<(u64, Kind)> = Vec::new();
    for word in &words {
        features.push((Feature::new(Kind::Word).part(word).finish(), Kind::Word));
        let padded: Vec<char> = std::iter::once('^')
            .chain(word.chars())
            .chain(std::iter::once('$'))
            .collect();
        for trigram in padded.windows(3) {
            let mut feature = Feature::new(Kind::Trigram);
            for letter in trigram {
                feature = feature.part(letter.encode_utf8(&mut [0; 4]));
            }
            features.push((feature.finish(), Kind::Trigram));
        }
    }
    for pair in words.windows(2) {
        let hash = Feature::new(Kind::Bigram)
            .part(&pair[0])
            .part(&pair[1])
            .finish();
        features.push((hash, Kind::Bigram));
    }
    // Sorting makes the accumulation order (and so every rounding) independent of the text's
    // word order and of any hash map.
    features.sort_unstable();
    let mut vector = vec![0.0f64; DIMENSION];
    for run in features.chunk_by(|left, right| left == right) {
        let (hash, kind) = run[0];
        let term_frequency = run.len() as f64;
        add(
            &mut vector,
            hash,
            kind.weight() * (1.0 + term_frequency.ln()),
        );
    }
    if normalize(&mut vector).is_none() {
        // No features (empty text, only punctuation or stop words), or features that cancelled
        // out exactly: one fixed feature keeps the vector valid under cosine.
        let hash = Feature::new(Kind::Fallback).finish();
        add(&mut vector, hash, 1.0);
        normalize(&mut vector);
    }
    vector.into_iter().map(|value| value as f32).collect()
}

/// What a feature is; each kind hashes into its own namespace and has its own weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Word,
    Bigram,
    Trigram,
    Fallback,
}

impl Kind {
    fn namespace(self) -> u8 {
        match self {
            Kind::Word => b'w',
            Kind::Bigram => b'b',
            Kind::Trigram => b't',
            Kind::Fallback => b'0',
        }
    }

    /// Trigrams are many per word: a lower weight keeps them from drowning the words.
    fn weight(self) -> f64 {
        match self {
            Kind::Word | Kind::Fallback => 1.0,
            Kind::Bigram => 0.7,
            Kind::Trigram => 0.35,
        }
    }
}

/// An FNV-1a hash being built from a feature's parts.
struct Feature(u64);

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;
/// Separates parts so that `("ab", "c")` and `("a", "bc")` differ.
const PART_SEPARATOR: u8 = 0x1f;

impl Feature {
    fn new(kind: Kind) -> Self {
        Self(fnv1a(FNV_OFFSET, &[kind.namespace()]))
    }

    fn part(self, text: &str) -> Self {
        Self(fnv1a(fnv1a(self.0, &[PART_SEPARATOR]), text.as_bytes()))
    }

    /// FNV-1a's low bits mix poorly; murmur3's finaliser spreads every input bit over all 64.
    fn finish(self) -> u64 {
        let mut hash = self.0;
        hash ^= hash >> 33;
        hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
        hash ^= hash >> 33;
        hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        hash ^ (hash >> 33)
    }
}

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// Adds `weight` to the dimension `hash` picks, with the sign its lowest bit picks (signed
/// hashing keeps collisions from adding up to a bias).
fn add(vector: &mut [f64], hash: u64, weight: f64) {
    // Lemire's multiply-shift maps the high 32 bits onto 0..DIMENSION without modulo bias.
    let index = ((hash >> 32) * DIMENSION as u64) >> 32;
    let sign = if hash & 1 == 0 { 1.0 } else { -1.0 };
    if let Some(slot) = usize::try_from(index)
        .ok()
        .and_then(|index| vector.get_mut(index))
    {
        *slot += sign * weight;
    }
}

/// Scales `vector` to unit length; `None` (and unchanged) when it is all zeros.
fn normalize(vector: &mut [f64]) -> Option<()> {
    let norm = vector.iter().map(|value| value * value).sum::<f64>().sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return None;
    }
    for value in vector.iter_mut() {
        *value /= norm;
    }
    Some(())
}

/// The lowercase words of `text` that carry meaning: split at anything not alphanumeric and
/// at camelCase humps, one-letter words and stop words dropped.
fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous_was_lower = false;
    for character in text.chars() {
        if !character.is_alphanumeric() {
            keep_word(&mut words, &mut current);
            previous_was_lower = false;
            continue;
        }
        if previous_was_lower && character.is_uppercase() {
            keep_word(&mut words, &mut current);
        }
        previous_was_lower = character.is_lowercase() || character.is_numeric();
        current.extend(character.to_lowercase());
    }
    keep_word(&mut words, &mut current);
    words
}

fn keep_word(words: &mut Vec<String>, current: &mut String) {
    let word = std::mem::take(current);
    if word.chars().count() > 1 && !STOP_WORDS.contains(&word.as_str()) {
        words.push(stem(word));
    }
}

/// Plural and third-person `-s` endings removed (a variant of Harman's S-stemmer), so that
/// `tables` is `table` and `batches` is `batch`; nothing fancier, so stems stay words.
fn stem(mut word: String) -> String {
    let length = word.len();
    if length > 4 && word.ends_with("ies") && !word.ends_with("eies") && !word.ends_with("aies") {
        word.truncate(length - 3);
        word.push('y');
    } else if length > 4
        && ["ches", "shes", "sses", "xes", "zes"]
            .iter()
            .any(|end| word.ends_with(end))
    {
        word.truncate(length - 2);
    } else if length > 3
        && word.ends_with('s')
        && !["ss", "us", "is"].iter().any(|end| word.ends_with(end))
    {
        word.truncate(length - 1);
    }
    word
}

/// Words too common to tell texts apart: English function words and Rust's commonest
/// keywords (which every code chunk shares and no question asks about).
const STOP_WORDS: &[&str] = &[
    // Words that phrase a question rather than say what it is about.
    "happen", "happened", "happens", "about", "after", "all", "also", "an", "and", "any", "are",
    "as", "at", "be", "been", "but", "by", "can", "could", "do", "does", "each", "for", "from",
    "had", "has", "have", "how", "if", "in", "into", "is", "it", "its", "may", "more", "most",
    "my", "no", "not", "of", "on", "one", "only", "or", "other", "our", "out", "own", "so", "some",
    "such", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this",
    "those", "to", "too", "up", "us", "very", "was", "we", "were", "what", "when", "where",
    "which", "while", "who", "why", "will", "with", "would", "you", "your", // Rust
    "crate", "dyn", "fn", "impl", "let", "mod", "mut", "pub", "ref", "self", "super", "use",
];
