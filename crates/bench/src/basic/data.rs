//! Deterministic benchmark data: the same seed gives the same rows and queries on every run.

use embedstore::NewEmbedding;
use embedstore_test_support::Rng;

/// Seed of the stored rows.
const ROW_SEED: u64 = 0x5eed_0001;
/// Seed of the query vectors (different from the rows', so no query is a stored vector).
const QUERY_SEED: u64 = 0x5eed_0002;
/// The metadata `lang` values, cycled through.
const LANGUAGES: [&str; 5] = ["en", "de", "fr", "es", "ja"];
/// Every this many rows, the content carries characters COPY text format must escape.
const AWKWARD_CONTENT_EVERY: usize = 50;

/// `rows` embeddings `doc-0`, `doc-1`, … with random vectors, a short content string and
/// metadata `{"lang": …, "n": i, "tag": "t<i % 100>"}`.
pub fn embeddings(rows: usize, dimension: usize) -> Vec<NewEmbedding> {
    let mut rng = Rng::new(ROW_SEED);
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
    let mut rng = Rng::new(QUERY_SEED);
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
        let (mut first, mut second) = (Rng::new(7), Rng::new(7));
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
        assert_ne!(queries(1, 4)[0], rows[0].vector.to_vec());
    }
}
