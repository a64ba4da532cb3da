//! Deterministic benchmark data: the same seed gives the same rows and queries on every run.

use embedstore::NewEmbedding;

/// Seed of the stored rows.
const ROW_SEED: u64 = 0x5eed_0001;
/// Seed of the query vectors (different from the rows', so no query is a stored vector).
const QUERY_SEED: u64 = 0x5eed_0002;
/// The metadata `lang` values, cycled through.
const LANGUAGES: [&str; 5] = ["en", "de", "fr", "es", "ja"];
/// Every this many rows, the content carries characters COPY text format must escape.
const AWKWARD_CONTENT_EVERY: usize = 50;

/// A small deterministic pseudo-random generator (splitmix64).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1), on a grid of 2^24 values (exactly representable as `f32`).
    pub fn unit_value(&mut self) -> f32 {
        let grid = (self.next_u64() >> 40) as f32;
        grid / (1u64 << 23) as f32 - 1.0
    }

    /// A vector of `dimension` values from [`SplitMix64::unit_value`].
    pub fn vector(&mut self, dimension: usize) -> Vec<f32> {
        (0..dimension).map(|_| self.unit_value()).collect()
    }
}

/// `rows` embeddings `doc-0`, `doc-1`, … with random vectors, a short content string and
/// metadata `{"lang": …, "n": i, "tag": "t<i % 100>"}`.
pub fn embeddings(rows: usize, dimension: usize) -> Vec<NewEmbedding> {
    let mut rng = SplitMix64::new(ROW_SEED);
    (0..rows)
        .map(|index| {
            let lang = LANGUAGES[index % LANGUAGES.len()];
            NewEmbedding::new(format!("doc-{index}"), rng.vector(dimension))
                .with_content(content(index, lang))
                .with_metadata(serde_json::json!({
                    "lang": lang,
                    "n": index,
                    "tag": format!("t{}", index % 100),
                }))
        })
        .collect()
}

/// `count` query vectors, disjoint from the stored rows' sequence.
pub fn queries(count: usize, dimension: usize) -> Vec<Vec<f32>> {
    let mut rng = SplitMix64::new(QUERY_SEED);
    (0..count).map(|_| rng.vector(dimension)).collect()
}

/// A short text; every [`AWKWARD_CONTENT_EVERY`]th one holds a tab, a newline, a backslash
/// and quotes, so that the baseline's COPY escaping is exercised (and checked, when both
/// collections are compared row by row).
fn content(index: usize, lang: &str) -> String {
    if index.is_multiple_of(AWKWARD_CONTENT_EVERY) {
        format!("passage {index} ({lang})\tsee C:\\docs\\{index}\n\"quoted\" line")
    } else {
        format!("passage {index} ({lang})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_same_values_in_range() {
        let (mut first, mut second) = (SplitMix64::new(7), SplitMix64::new(7));
        let values: Vec<f32> = (0..10_000).map(|_| first.unit_value()).collect();
        assert!(values.iter().all(|value| (-1.0..1.0).contains(value)));
        assert_eq!(values, second.vector(10_000));
    }

    #[test]
    fn rows_carry_the_documented_metadata() {
        let rows = embeddings(101, 4);
        assert_eq!(rows[100].external_id, "doc-100");
        assert_eq!(
            rows[100].metadata,
            serde_json::json!({"lang": "en", "n": 100, "tag": "t0"})
        );
        assert!(rows[100].content.as_deref().unwrap_or("").contains('\t'));
        assert_eq!(rows[1].content.as_deref(), Some("passage 1 (de)"));
        assert_ne!(queries(1, 4)[0], rows[0].vector);
    }
}
