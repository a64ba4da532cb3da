//! Maximal marginal relevance: picks `k` of a search's candidates that are relevant to the
//! query and unlike each other.
//!
//! Greedy, as Carbonell and Goldstein define it: each step takes the candidate with the highest
//! `λ · sim(query, c) − (1 − λ) · max over the chosen s of sim(c, s)` (the second term is 0
//! before anything is chosen). `sim` is the collection metric's score of the distance
//! ([`Metric::score`]): cosine similarity, the inner product, or `1 / (1 + distance)` for L2
//! and L1 — so relevance and redundancy are measured on one scale, the one hits report. Ties
//! go to the earlier candidate (candidates come nearest first). Cost: `O(k · n)` distances for
//! `n` candidates, each computed once in `f64`.

use crate::metric::Metric;

/// The indexes into `candidates` that MMR picks, in the order picked: at most `k`.
/// `lambda` is in [0, 1]: 1 is plain relevance (the nearest first), 0 pure diversity.
#[cfg(test)]
pub(crate) fn select(
    metric: Metric,
    query: &[f32],
    candidates: &[&[f32]],
    lambda: f64,
    k: usize,
) -> Vec<usize> {
    select_with(
        metric,
        query,
        candidates,
        |a: &[f32], b: &[f32]| metric.distance(a, b),
        lambda,
        k,
    )
}

/// [`select`] on vectors of any kind, `distance` being the metric's distance between two.
pub(crate) fn select_with<V: ?Sized>(
    metric: Metric,
    query: &V,
    candidates: &[&V],
    distance: impl Fn(&V, &V) -> f64,
    lambda: f64,
    k: usize,
) -> Vec<usize> {
    let relevance: Vec<f64> = candidates
        .iter()
        .map(|candidate| metric.score(distance(query, candidate)))
        .collect();
    // The highest similarity of each candidate to anything chosen so far; None: nothing yet.
    let mut redundancy: Vec<Option<f64>> = vec![None; candidates.len()];
    let mut chosen: Vec<usize> = Vec::with_capacity(k.min(candidates.len()));
    let mut taken = vec![false; candidates.len()];
    while chosen.len() < k {
        let mut best: Option<(usize, f64)> = None;
        for (index, relevant) in relevance.iter().enumerate() {
            if taken[index] {
                continue;
            }
            let score = lambda * relevant - (1.0 - lambda) * redundancy[index].unwrap_or(0.0);
            if best.is_none_or(|(_, top)| score > top) {
                best = Some((index, score));
            }
        }
        let Some((pick, _)) = best else {
            break;
        };
        taken[pick] = true;
        chosen.push(pick);
        for (index, candidate) in candidates.iter().enumerate() {
            if !taken[index] {
                let similarity = metric.score(distance(candidates[pick], candidate));
                let current = redundancy[index].get_or_insert(similarity);
                *current = current.max(similarity);
            }
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_one_keeps_the_relevance_order_and_zero_spreads_out() {
        let query = [1.0, 0.0];
        let near = [1.0, 0.01];
        let twin = [1.0, 0.02];
        let other = [0.7, 0.7];
        let candidates: Vec<&[f32]> = vec![&near, &twin, &other];
        assert_eq!(
            select(Metric::Cosine, &query, &candidates, 1.0, 3),
            [0, 1, 2]
        );
        // The query sits on the first pick, so at λ = 0.5 relevance and redundancy cancel and
        // the nearer twin still wins; weighing diversity more, the other direction comes
        // second.
        assert_eq!(select(Metric::Cosine, &query, &candidates, 0.5, 2), [0, 1]);
        assert_eq!(select(Metric::Cosine, &query, &candidates, 0.3, 2), [0, 2]);
        assert_eq!(select(Metric::L2, &query, &candidates, 0.3, 2), [0, 2]);
    }

    #[test]
    fn fewer_candidates_than_k_are_all_returned() {
        let only = [1.0_f32, 2.0];
        let candidates: Vec<&[f32]> = vec![&only];
        assert_eq!(select(Metric::L2, &[0.0, 0.0], &candidates, 0.5, 5), [0]);
        assert!(select(Metric::L2, &[0.0, 0.0], &[], 0.5, 5).is_empty());
    }
}
