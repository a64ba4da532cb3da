//! The fusion sweep: each query's two sides fetched once (the vector side by exact scan, the
//! text side by `ts_rank_cd`, `fetch_k` each, as a hybrid search fetches them) and fused here
//! under each candidate setting: reciprocal rank fusion over a grid of `rrf_k` and weights,
//! and weighted min-max normalised score fusion (the "weighted sum" langchain-postgres offers
//! beside RRF). MRR@10 of every setting on the same queries, so the defaults are chosen on
//! real text and real embeddings, not on hashed vectors.
//!
//! The RRF here is the library's (`weight / (rrf_k + rank)` per side, ties to the better
//! single-side rank, then the other side's, then the id); the report also measures the
//! library's own hybrid search at its defaults, which must agree with the matching row.

use std::collections::HashMap;

use serde::Serialize;

/// One query's two sides: `(id, vector distance)` nearest first and `(id, ts_rank_cd)` best
/// first, `fetch_k` at most each.
#[derive(Debug, Clone, Default)]
pub struct Sides {
    /// The vector side.
    pub vector: Vec<(i64, f64)>,
    /// The text side.
    pub text: Vec<(i64, f64)>,
}

/// A fusion setting of the sweep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "fusion", rename_all = "snake_case")]
pub enum Setting {
    /// The vector side alone.
    VectorOnly,
    /// The text side alone.
    TextOnly,
    /// `vector_weight / (rrf_k + vector rank) + text_weight / (rrf_k + text rank)`.
    Rrf {
        /// RRF's constant.
        rrf_k: u32,
        /// The vector side's weight.
        vector_weight: f64,
        /// The text side's weight.
        text_weight: f64,
    },
    /// `vector_weight * norm(similarity) + text_weight * norm(ts_rank_cd)`, each side min-max
    /// normalised over its own candidates (1 when they all score the same), 0 when absent.
    Weighted {
        /// The vector side's weight.
        vector_weight: f64,
        /// The text side's weight.
        text_weight: f64,
    },
}

/// The settings swept.
pub fn settings() -> Vec<Setting> {
    let mut all = vec![Setting::VectorOnly, Setting::TextOnly];
    for rrf_k in [1, 2, 3, 5, 10, 20, 60, 100] {
        for (vector_weight, text_weight) in [
            (1.0, 1.0),
            (1.0, 1.25),
            (1.0, 1.5),
            (1.0, 2.0),
            (1.0, 3.0),
            (1.0, 4.0),
            (1.0, 6.0),
            (1.25, 1.0),
            (1.5, 1.0),
        ] {
            all.push(Setting::Rrf {
                rrf_k,
                vector_weight,
                text_weight,
            });
        }
    }
    for text_weight in [0.3, 0.4, 0.5, 0.6, 0.7, 0.8] {
        all.push(Setting::Weighted {
            vector_weight: 1.0 - text_weight,
            text_weight,
        });
    }
    all
}

/// A side's score of the candidate at a 1-based rank: `(side, rank, is the vector side)`.
type Scorer = Box<dyn Fn(&[(i64, f64)], usize, bool) -> f64>;

/// A candidate's vector rank, text rank and fused score.
type Ranked = (Option<usize>, Option<usize>, f64);

/// The ids `setting` ranks first for `sides`, best first, at most `k`.
pub fn fuse(setting: Setting, sides: &Sides, k: usize) -> Vec<i64> {
    let ids = |side: &[(i64, f64)]| side.iter().map(|(id, _)| *id).take(k).collect();
    let (weights, score): ((f64, f64), Scorer) = match setting {
        Setting::VectorOnly => return ids(&sides.vector),
        Setting::TextOnly => return ids(&sides.text),
        Setting::Rrf {
            rrf_k,
            vector_weight,
            text_weight,
        } => (
            (vector_weight, text_weight),
            Box::new(move |_, rank, _| 1.0 / (f64::from(rrf_k) + rank as f64)),
        ),
        Setting::Weighted {
            vector_weight,
            text_weight,
        } => ((vector_weight, text_weight), Box::new(normalised)),
    };
    let mut rows: HashMap<i64, Ranked> = HashMap::new();
    for (at, (id, _)) in sides.vector.iter().enumerate() {
        let row = rows.entry(*id).or_insert((None, None, 0.0));
        row.0 = Some(at + 1);
        row.2 += weights.0 * score(&sides.vector, at + 1, true);
    }
    for (at, (id, _)) in sides.text.iter().enumerate() {
        let row = rows.entry(*id).or_insert((None, None, 0.0));
        row.1 = Some(at + 1);
        row.2 += weights.1 * score(&sides.text, at + 1, false);
    }
    let mut fused: Vec<(i64, Ranked)> = rows.into_iter().collect();
    let best = |(v, t): (Option<usize>, Option<usize>)| v.into_iter().chain(t).min();
    let other = |(v, t): (Option<usize>, Option<usize>)| match (v, t) {
        (Some(v), Some(t)) => v.max(t),
        _ => usize::MAX,
    };
    fused.sort_by(|(a_id, a), (b_id, b)| {
        b.2.total_cmp(&a.2)
            .then(best((a.0, a.1)).cmp(&best((b.0, b.1))))
            .then(other((a.0, a.1)).cmp(&other((b.0, b.1))))
            .then(a_id.cmp(b_id))
    });
    fused.into_iter().take(k).map(|(id, _)| id).collect()
}

/// The min-max normalised score of the candidate at 1-based `rank` of `side`: similarity
/// (`-distance`) on the vector side, `ts_rank_cd` on the text side.
fn normalised(side: &[(i64, f64)], rank: usize, is_vector: bool) -> f64 {
    let value = |at: usize| {
        let raw = side[at].1;
        if is_vector { -raw } else { raw }
    };
    let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
    for at in 0..side.len() {
        low = low.min(value(at));
        high = high.max(value(at));
    }
    if high > low {
        (value(rank - 1) - low) / (high - low)
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrf_ties_go_to_the_better_single_side_rank() {
        // rrf_k 1: the vector side's #1 (1/2) ties the row 3rd on both sides (1/4 + 1/4).
        let sides = Sides {
            vector: vec![(9, 0.0), (5, 0.1), (1, 0.2)],
            text: vec![(7, 0.9), (8, 0.5), (1, 0.1)],
        };
        let setting = Setting::Rrf {
            rrf_k: 1,
            vector_weight: 1.0,
            text_weight: 1.0,
        };
        assert_eq!(fuse(setting, &sides, 3), [7, 9, 1]);
    }

    #[test]
    fn weighted_fusion_normalises_each_side() {
        let sides = Sides {
            vector: vec![(1, 0.1), (2, 0.3), (3, 0.5)],
            text: vec![(3, 4.0), (4, 2.0), (5, 1.0)],
        };
        // vector: 1 → 1, 2 → 0.5, 3 → 0; text: 3 → 1, 4 → 1/3, 5 → 0.
        let text_heavy = Setting::Weighted {
            vector_weight: 0.4,
            text_weight: 0.6,
        };
        assert_eq!(fuse(text_heavy, &sides, 5), [3, 1, 2, 4, 5]);
        let vector_heavy = Setting::Weighted {
            vector_weight: 0.6,
            text_weight: 0.4,
        };
        assert_eq!(fuse(vector_heavy, &sides, 2), [1, 3]);
        assert_eq!(fuse(Setting::TextOnly, &sides, 2), [3, 4]);
    }
}
