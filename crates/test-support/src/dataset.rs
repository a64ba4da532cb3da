//! The search benchmark's data set: clustered unit vectors, like real embeddings, with two
//! selective metadata fields.

use crate::Rng;
use embedstore::NewEmbedding;

/// The `lang` values: a filter on one matches about 10 % of the rows.
pub const LANGUAGES: [&str; 10] = ["en", "de", "fr", "es", "it", "pt", "nl", "pl", "ja", "zh"];
/// How many `shard` values there are: a filter on one matches about 1 % of the rows.
pub const SHARDS: usize = 100;

/// Seed of the centroids.
const CENTROID_SEED: u64 = 0xa11_0001;
/// Seed of the stored rows.
const ROW_SEED: u64 = 0xa11_0002;
/// Seed of the queries (and of which filter value each one asks for).
const QUERY_SEED: u64 = 0xa11_0003;
/// Standard deviation of the noise per dimension, relative to a unit centroid's typical
/// component (1/√dim). At 0.75 a row's cosine similarity to its centroid is about 0.8 and to a
const NOISE_RELATIVE: f32 = 0.75;

/// A metadata filter of the benchmark: one field equal to one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selectivity {
    /// `lang` = one of [`LANGUAGES`]: about 10 % of the rows.
    TenPercent,
    /// `shard` = one of [`SHARDS`] values: about 1 % of the rows.
    OnePercent,
}

impl Selectivity {
    /// The metadata key filtered on.
    pub fn field(self) -> &'static str {
        match self {
            Selectivity::TenPercent => "lang",
            Selectivity::OnePercent => "shard",
        }
    }

    /// How many distinct values the field has.
    pub fn values(self) -> usize {
        match self {
            Selectivity::TenPercent => LANGUAGES.len(),
            Selectivity::OnePercent => SHARDS,
        }
    }

    /// The field's value number `value` as stored in the metadata.
    pub fn value_text(self, value: usize) -> String {
        match self {
            Selectivity::TenPercent => LANGUAGES[value % LANGUAGES.len()].to_owned(),
            Selectivity::OnePercent => shard_text(value),
        }
    }

    /// A label for tables and JSON keys.
    pub fn label(self) -> &'static str {
        match self {
            Selectivity::TenPercent => "10%",
            Selectivity::OnePercent => "1%",
        }
    }
}

/// The generated rows (flat, row after row), their metadata, and the query vectors.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Values per vector.
    pub dimension: usize,
    /// Every row's vector, `dimension` values each, unit length.
    pub vectors: Vec<f32>,
    /// Each row's `lang`, an index into [`LANGUAGES`].
    pub languages: Vec<u8>,
    /// Each row's `shard`, 0..[`SHARDS`].
    pub shards: Vec<u8>,
    /// The query vectors, unit length.
    pub queries: Vec<Vec<f32>>,
    /// For each query, the value number its filtered searches ask for (`lang` takes it modulo
    /// 10, `shard` modulo 100).
    pub filter_values: Vec<usize>,
    /// Where the vectors come from, for reports: `100 clusters`, or the model and text of real
    /// embeddings as their `meta.json` says.
    pub source: String,
}

impl Dataset {
    /// `rows` rows and `queries` queries of `dimension` values around `clusters` centroids;
    /// the same arguments always give the same data.
    pub fn generate(rows: usize, dimension: usize, clusters: usize, queries: usize) -> Self {
        let centroids = centroids(clusters.max(1), dimension);
        let mut rng = Rng::new(ROW_SEED);
        let mut vectors = Vec::with_capacity(rows * dimension);
        let mut languages = Vec::with_capacity(rows);
        let mut shards = Vec::with_capacity(rows);
        for _ in 0..rows {
            vectors.extend(clustered_vector(&mut rng, &centroids));
            languages.push(pick(&mut rng, LANGUAGES.len()) as u8);
            shards.push(pick(&mut rng, SHARDS) as u8);
        }
        let mut rng = Rng::new(QUERY_SEED);
        let (queries, filter_values) = (0..queries)
            .map(|_| {
                let vector = clustered_vector(&mut rng, &centroids);
                (vector, pick(&mut rng, LANGUAGES.len() * SHARDS))
            })
            .unzip();
        Self {
            dimension,
            vectors,
            languages,
            shards,
            queries,
            filter_values,
            source: format!("{clusters} clusters"),
        }
    }

    /// Real embeddings from `dir` (written by `scripts/bench-data/real_embeddings.py corpus`):
    /// the first `rows` vectors of `rows.f32` and the first `queries` of `queries.f32`
    /// (little-endian `f32`, `dimension` values each, as `meta.json` says), renormalised to
    /// unit length. Each row's `lang` and `shard` and each query's filter value are drawn from
    /// fixed seeds (10 % and 1 % of the rows match a value, as in [`Dataset::generate`]).
    pub fn load(
        dir: &std::path::Path,
        rows: usize,
        queries: usize,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("meta.json"))?)?;
        let dimension = meta["dimension"]
            .as_u64()
            .and_then(|dimension| usize::try_from(dimension).ok())
            .filter(|dimension| *dimension > 0)
            .ok_or("meta.json has no positive `dimension`")?;
        let read = |name: &str, limit: usize| -> Result<Vec<f32>, Box<dyn std::error::Error>> {
            let bytes = std::fs::read(dir.join(name))?;
            if !bytes.len().is_multiple_of(4 * dimension) {
                return Err(
                    format!("{name}: not a whole number of {dimension}-value vectors").into(),
                );
            }
            let mut values: Vec<f32> = bytes
                .chunks_exact(4)
                .take(limit.saturating_mul(dimension))
                .map(|word| f32::from_le_bytes([word[0], word[1], word[2], word[3]]))
                .collect();
            for vector in values.chunks_mut(dimension) {
                let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                vector.iter_mut().for_each(|v| *v /= norm);
            }
            Ok(values)
        };
        let vectors = read("rows.f32", rows)?;
        let queries: Vec<Vec<f32>> = read("queries.f32", queries)?
            .chunks(dimension)
            .map(<[f32]>::to_vec)
            .collect();
        let count = vectors.len() / dimension;
        // The filter fields are drawn as `generate` draws them (the same seeds), independent of
        // the text: a real collection's metadata rarely follows its embeddings' clusters.
        let mut rng = Rng::new(ROW_SEED);
        let (languages, shards) = (0..count)
            .map(|_| {
                let language = pick(&mut rng, LANGUAGES.len()) as u8;
                (language, pick(&mut rng, SHARDS) as u8)
            })
            .unzip();
        let mut rng = Rng::new(QUERY_SEED);
        let filter_values = (0..queries.len())
            .map(|_| pick(&mut rng, LANGUAGES.len() * SHARDS))
            .collect();
        let source = format!(
            "real embeddings ({}, {}; {} withheld queries)",
            meta["model"].as_str().unwrap_or("?"),
            meta["source"].as_str().unwrap_or("?"),
            queries.len()
        );
        Ok(Self {
            dimension,
            vectors,
            languages,
            shards,
            filter_values,
            queries,
            source,
        })
    }

    /// How many rows there are.
    pub fn rows(&self) -> usize {
        self.languages.len()
    }

    /// Row `row`'s vector.
    pub fn vector(&self, row: usize) -> &[f32] {
        &self.vectors[row * self.dimension..(row + 1) * self.dimension]
    }

    /// Whether row `row` matches `selectivity`'s filter for value number `value`.
    pub fn matches(&self, row: usize, selectivity: Selectivity, value: usize) -> bool {
        match selectivity {
            Selectivity::TenPercent => usize::from(self.languages[row]) == value % LANGUAGES.len(),
            Selectivity::OnePercent => usize::from(self.shards[row]) == value % SHARDS,
        }
    }

    /// Rows `start..end` as the library's input: external id `r<row>`, no content, metadata
    /// `{"lang": …, "shard": "s07", "n": row}`.
    pub fn items(&self, start: usize, end: usize) -> Vec<NewEmbedding> {
        (start..end.min(self.rows()))
            .map(|row| {
                NewEmbedding::new(external_id(row), self.vector(row).to_vec()).with_metadata(
                    serde_json::json!({
                        "lang": LANGUAGES[usize::from(self.languages[row])],
                        "shard": shard_text(usize::from(self.shards[row])),
                        "n": row,
                    }),
                )
            })
            .collect()
    }
}

/// The external id of row `row`.
pub fn external_id(row: usize) -> String {
    format!("r{row}")
}

/// The row an external id names, `None` for ids this data set does not produce.
pub fn row_of(external_id: &str) -> Option<usize> {
    external_id.strip_prefix('r')?.parse().ok()
}

/// `s00` … `s99`.
fn shard_text(shard: usize) -> String {
    format!("s{:02}", shard % SHARDS)
}

/// `clusters` random unit vectors.
fn centroids(clusters: usize, dimension: usize) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(CENTROID_SEED);
    (0..clusters)
        .map(|_| normalized(gaussian_vector(&mut rng, dimension, 1.0)))
        .collect()
}

/// A random centroid plus noise, normalized.
fn clustered_vector(rng: &mut Rng, centroids: &[Vec<f32>]) -> Vec<f32> {
    let centroid = &centroids[pick(rng, centroids.len())];
    let scale = NOISE_RELATIVE / (centroid.len() as f32).sqrt();
    let noise = gaussian_vector(rng, centroid.len(), scale);
    normalized(centroid.iter().zip(noise).map(|(c, n)| c + n).collect())
}

/// Values with mean 0 and standard deviation `sigma`, roughly normal: the sum of three
/// uniform values (variance 1/3 each) is bell-shaped with variance 1.
fn gaussian_vector(rng: &mut Rng, dimension: usize, sigma: f32) -> Vec<f32> {
    (0..dimension)
        .map(|_| sigma * (rng.unit_value() + rng.unit_value() + rng.unit_value()))
        .collect()
}

fn normalized(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|v| *v /= norm);
    }
    vector
}

/// Uniform in `0..count`.
fn pick(rng: &mut Rng, count: usize) -> usize {
    (rng.next_u64() % count as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedstore::Metric;

    #[test]
    fn same_arguments_give_the_same_data() {
        let first = Dataset::generate(50, 16, 4, 5);
        let second = Dataset::generate(50, 16, 4, 5);
        assert_eq!(first.vectors, second.vectors);
        assert_eq!(first.shards, second.shards);
        assert_eq!(first.queries, second.queries);
        assert_eq!(first.filter_values, second.filter_values);
    }

    #[test]
    fn rows_are_unit_vectors_bunched_around_centroids() {
        let data = Dataset::generate(400, 384, 4, 0);
        for row in 0..data.rows() {
            let norm: f32 = data.vector(row).iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "row {row} has norm {norm}");
        }
        // With 4 clusters, a row's nearest other row is far nearer than an average row:
        // uniform noise would make both about orthogonal (cosine distance ~1).
        let nearest = (1..data.rows())
            .map(|row| Metric::Cosine.distance(data.vector(0), data.vector(row)))
            .fold(f64::MAX, f64::min);
        let mean = (1..data.rows())
            .map(|row| Metric::Cosine.distance(data.vector(0), data.vector(row)))
            .sum::<f64>()
            / (data.rows() - 1) as f64;
        assert!(nearest < 0.5, "nearest {nearest}");
        assert!(mean > 0.6, "mean {mean}");
    }

    #[test]
    fn filters_have_their_selectivity() {
        let data = Dataset::generate(20_000, 4, 2, 0);
        let ten = (0..data.rows())
            .filter(|row| data.matches(*row, Selectivity::TenPercent, 3))
            .count();
        let one = (0..data.rows())
            .filter(|row| data.matches(*row, Selectivity::OnePercent, 3))
            .count();
        assert!((1_700..2_300).contains(&ten), "10 % filter matched {ten}");
        assert!((140..260).contains(&one), "1 % filter matched {one}");
    }

    #[test]
    fn items_carry_the_filtered_fields() {
        let data = Dataset::generate(3, 4, 2, 0);
        let items = data.items(1, 10);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].external_id, "r1");
        assert_eq!(row_of(&items[1].external_id), Some(2));
        let metadata = &items[0].metadata;
        assert_eq!(metadata["lang"], LANGUAGES[usize::from(data.languages[1])]);
        assert_eq!(
            metadata["shard"],
            Selectivity::OnePercent.value_text(usize::from(data.shards[1]))
        );
        assert!(data.matches(1, Selectivity::OnePercent, usize::from(data.shards[1])));
        assert_eq!(row_of("doc-1"), None);
    }
}
