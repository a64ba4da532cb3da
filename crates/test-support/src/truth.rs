//! Ground truth by brute force over a [`Dataset`]: each query's nearest rows (optionally among
//! the rows its filter value matches), and recall against them. The benchmark's modes measure
//! the library's answers against these.

use std::collections::HashSet;

use crate::dataset::{Dataset, Selectivity};

/// The `k` nearest rows of every query, nearest first; with a filter, among the rows that
/// match each query's filter value only.
pub fn nearest(data: &Dataset, k: usize, filter: Option<Selectivity>) -> Vec<Vec<usize>> {
    let candidates: Vec<Vec<usize>> = match filter {
        None => vec![(0..data.rows()).collect()],
        Some(selectivity) => (0..selectivity.values())
            .map(|value| {
                (0..data.rows())
                    .filter(|row| data.matches(*row, selectivity, value))
                    .collect()
            })
            .collect(),
    };
    let candidates_of = |query: usize| match filter {
        None => &candidates[0],
        Some(selectivity) => &candidates[data.filter_values[query] % selectivity.values()],
    };
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = data.queries.len().div_ceil(threads).max(1);
    let query_numbers: Vec<usize> = (0..data.queries.len()).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = query_numbers
            .chunks(chunk)
            .map(|numbers| {
                scope.spawn(move || {
                    numbers
                        .iter()
                        .map(|query| top_k(data, &data.queries[*query], candidates_of(*query), k))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|payload| std::panic::resume_unwind(payload))
            })
            .collect()
    })
}

/// recall@k of `found` against `truth`: the share of the true neighbours that were found
/// (the denominator is `k`, or fewer when fewer rows match).
pub fn recall(found: &[usize], truth: &[usize], k: usize) -> f64 {
    let wanted = truth.len().min(k);
    if wanted == 0 {
        return 1.0;
    }
    let truth: HashSet<usize> = truth.iter().take(wanted).copied().collect();
    let hits = found
        .iter()
        .take(k)
        .collect::<HashSet<_>>()
        .into_iter()
        .filter(|row| truth.contains(row))
        .count();
    hits as f64 / wanted as f64
}

/// The `k` rows of `candidates` nearest to `query`, nearest first.
pub fn top_k(data: &Dataset, query: &[f32], candidates: &[usize], k: usize) -> Vec<usize> {
    // (distance, row), ascending; k is small, so insertion into a sorted Vec is fastest.
    let mut best: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
    for &row in candidates {
        let distance = 1.0 - dot(query, data.vector(row));
        if best.len() == k && best.last().is_some_and(|last| distance >= last.0) {
            continue;
        }
        let at = best.partition_point(|entry| entry.0 <= distance);
        best.insert(at, (distance, row));
        best.truncate(k);
    }
    best.into_iter().map(|(_, row)| row).collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0_f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..8 {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedstore::Metric;

    #[test]
    fn brute_force_ranks_as_the_library_metric_does() {
        let data = Dataset::generate(500, 37, 5, 4);
        let truth = nearest(&data, 10, None);
        for (query, found) in data.queries.iter().zip(&truth) {
            let mut by_metric: Vec<(f64, usize)> = (0..data.rows())
                .map(|row| (Metric::Cosine.distance(query, data.vector(row)), row))
                .collect();
            by_metric.sort_by(|a, b| a.0.total_cmp(&b.0));
            let expected: Vec<usize> = by_metric.iter().take(10).map(|(_, row)| *row).collect();
            assert_eq!(recall(found, &expected, 10), 1.0);
        }
    }

    #[test]
    fn filtered_truth_keeps_to_matching_rows() {
        let data = Dataset::generate(2_000, 8, 3, 6);
        let truth = nearest(&data, 10, Some(Selectivity::OnePercent));
        for (query, rows) in truth.iter().enumerate() {
            assert!(!rows.is_empty());
            let value = data.filter_values[query];
            assert!(
                rows.iter()
                    .all(|row| data.matches(*row, Selectivity::OnePercent, value))
            );
        }
    }

    #[test]
    fn recall_counts_found_true_neighbours() {
        assert_eq!(recall(&[1, 2, 3], &[3, 2, 1], 3), 1.0);
        assert_eq!(recall(&[1, 9], &[1, 2], 2), 0.5);
        assert_eq!(recall(&[], &[1, 2], 2), 0.0);
        // Duplicates in the answer count once; fewer matching rows lower the denominator.
        assert_eq!(recall(&[1, 1], &[1, 2], 2), 0.5);
        assert_eq!(recall(&[4], &[4], 10), 1.0);
    }
}
