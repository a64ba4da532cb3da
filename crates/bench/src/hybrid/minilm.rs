//! Real sentence embeddings of the frozen corpus: all-MiniLM-L6-v2's vectors of every chunk
//! and every query (`crates/bench/data/hybrid-minilm.f16`, made by
//! `scripts/bench-data/real_embeddings.py hybrid`): the chunks' vectors in file order, then the
//! queries', 384 little-endian IEEE half floats each, unit length before rounding.

use crate::BenchResult;

/// Values per vector.
pub const DIMENSION: usize = 384;

/// The model, as the benchmark's collection records it.
pub const MODEL: &str = "all-MiniLM-L6-v2";

/// The file, compiled in so that every machine measures the same vectors.
const FILE: &[u8] = include_bytes!("../../data/hybrid-minilm.f16");

/// Every vector of the file, in file order (chunks, then queries), renormalised to unit length
/// after the half-precision rounding.
pub fn vectors() -> BenchResult<Vec<Vec<f32>>> {
    let width = DIMENSION * 2;
    if FILE.is_empty() || !FILE.len().is_multiple_of(width) {
        return Err(format!(
            "hybrid-minilm.f16: {} bytes is not a whole number of {DIMENSION}-value vectors",
            FILE.len()
        )
        .into());
    }
    Ok(FILE
        .chunks_exact(width)
        .map(|row| {
            let mut vector: Vec<f32> = row
                .chunks_exact(2)
                .map(|half| f16_to_f32(u16::from_le_bytes([half[0], half[1]])))
                .collect();
            let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            vector.iter_mut().for_each(|v| *v /= norm);
            vector
        })
        .collect())
}

/// An IEEE 754 half-precision value as `f32`.
fn f16_to_f32(bits: u16) -> f32 {
    let sign = if bits & 0x8000 == 0 { 1.0 } else { -1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let fraction = f32::from(bits & 0x3ff);
    match exponent {
        0 => sign * fraction * 2f32.powi(-24),
        31 if fraction == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        _ => sign * (1.0 + fraction / 1024.0) * 2f32.powi(exponent - 15),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hybrid::frozen::Frozen;

    #[test]
    fn halves_decode_exactly() {
        for (bits, value) in [
            (0x3c00, 1.0),
            (0xc000, -2.0),
            (0x3555, 0.333_251_95),
            (0x0001, 5.960_464_5e-8),
            (0x0000, 0.0),
            (0x7bff, 65504.0),
        ] {
            assert_eq!(f16_to_f32(bits), value, "{bits:#06x}");
        }
    }

    #[test]
    fn the_file_holds_a_unit_vector_for_every_chunk_and_query() {
        let frozen = Frozen::load(usize::MAX).unwrap();
        let vectors = vectors().unwrap();
        assert_eq!(vectors.len(), frozen.chunks.len() + frozen.queries.len());
        for vector in &vectors {
            let norm: f32 = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "{norm}");
        }
        // Real sentence embeddings, in the file's order: for most paraphrases (a sentence's
        // words, some dropped, shuffled) the right chunk is among the 10 nearest of 772
        // (1.3 % by chance).
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        let chunks = &vectors[..frozen.chunks.len()];
        let paraphrases: Vec<_> = frozen
            .queries
            .iter()
            .filter(|query| query.class == crate::hybrid::frozen::Class::Paraphrase)
            .collect();
        let found = paraphrases
            .iter()
            .filter(|query| {
                let vector = &vectors[frozen.chunks.len() + query.number];
                let own = dot(vector, &chunks[query.target]);
                chunks
                    .iter()
                    .filter(|chunk| dot(vector, chunk) > own)
                    .count()
                    < 10
            })
            .count();
        assert!(
            found * 2 > paraphrases.len(),
            "{found} of {}",
            paraphrases.len()
        );
    }
}
