//! The ingest benchmark's rows, generated on demand from a seed.

use embedstore_test_support::Rng;

/// Seed of the ingest rows (not the insert/search benchmark's, so the two never get mixed up).
const SEED: u64 = 0x5eed_1a6e_0006;
/// The metadata `lang` values, cycled through.
const LANGUAGES: [&str; 5] = ["en", "de", "fr", "es", "ja"];
/// Every this many rows, the content carries characters that text formats must escape.
const AWKWARD_CONTENT_EVERY: usize = 50;

/// One generated row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `doc-<index>`.
    pub external_id: String,
    /// Values on a 2^24 grid, each exactly representable as `f32` (see `Rng::unit_value`).
    pub vector: Vec<f32>,
    /// A short text.
    pub content: String,
    /// `{"lang": …, "n": index, "tags": […]}`, serialized.
    pub metadata_json: String,
}

/// The rows `doc-0`, `doc-1`, … of `dimension` values, in order.
#[derive(Debug, Clone)]
pub struct Rows {
    rng: Rng,
    dimension: usize,
    next: usize,
    count: usize,
}

impl Rows {
    /// The first `count` rows of the sequence.
    pub fn new(count: usize, dimension: usize) -> Self {
        Self {
            rng: Rng::new(SEED),
            dimension,
            next: 0,
            count,
        }
    }
}

impl Iterator for Rows {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        if self.next == self.count {
            return None;
        }
        let index = self.next;
        self.next += 1;
        let lang = LANGUAGES[index % LANGUAGES.len()];
        Some(Row {
            external_id: format!("doc-{index}"),
            vector: self.rng.vector(self.dimension),
            content: content(index, lang),
            metadata_json: metadata(index, lang).to_string(),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.count - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Rows {}

/// One to three tags, so that the metadata varies in size as real metadata does.
fn metadata(index: usize, lang: &str) -> serde_json::Value {
    let tags: Vec<String> = (0..=index % 3)
        .map(|tag| format!("t{}", (index + tag * 37) % 100))
        .collect();
    serde_json::json!({"lang": lang, "n": index, "tags": tags})
}

/// A short text; every [`AWKWARD_CONTENT_EVERY`]th one holds a tab, a newline, a backslash,
/// quotes and a non-ASCII character, so that every path's escaping is exercised (and checked,
/// when the collections are compared row by row).
fn content(index: usize, lang: &str) -> String {
    if index.is_multiple_of(AWKWARD_CONTENT_EVERY) {
        format!("passage {index} ({lang})\tsee C:\\docs\\{index}\n\"quoted\" — line")
    } else {
        format!("passage {index} ({lang})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_is_the_same_on_every_walk() {
        let first: Vec<Row> = Rows::new(60, 8).collect();
        let second: Vec<Row> = Rows::new(60, 8).collect();
        assert_eq!(first, second);
        assert_eq!(first.len(), 60);
        assert_eq!(Rows::new(60, 8).len(), 60);
    }

    #[test]
    fn a_shorter_walk_is_a_prefix_of_a_longer_one() {
        let short: Vec<Row> = Rows::new(5, 4).collect();
        let long: Vec<Row> = Rows::new(50, 4).take(5).collect();
        assert_eq!(short, long);
    }

    #[test]
    fn rows_carry_the_documented_fields() {
        let rows: Vec<Row> = Rows::new(53, 3).collect();
        assert_eq!(rows[52].external_id, "doc-52");
        assert_eq!(rows[52].vector.len(), 3);
        let metadata: serde_json::Value = serde_json::from_str(&rows[52].metadata_json).unwrap();
        assert_eq!(
            metadata,
            serde_json::json!({"lang": "fr", "n": 52, "tags": ["t52", "t89"]})
        );
        assert!(rows[50].content.contains('\t') && rows[50].content.contains('\\'));
        assert_eq!(rows[1].content, "passage 1 (de)");
    }
}
