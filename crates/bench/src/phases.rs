//! Running several ways of asking the same queries, interleaved query by query (the loop the
//! `ann` phases and the `hybrid` latency rounds share), and counting what several threads do in
//! a fixed time (the QPS points of the `replicas` and `citus` modes).

use std::time::{Duration, Instant};

use crate::BenchResult;
use crate::stats::Latency;
use crate::truth::recall;

/// One way of answering query number `n`: the data set rows it returned, nearest first.
pub type Searcher<'a> = Box<dyn FnMut(usize) -> BenchResult<Vec<usize>> + 'a>;

/// What one side of a phase did.
#[derive(Debug, Clone)]
pub struct SideOutcome {
    /// Latencies of its best round (lowest p50).
    pub latency: Latency,
    /// p50 of every round, in order.
    pub round_p50_ms: Vec<f64>,
    /// Its answers in the first measured round, per query.
    pub answers: Vec<Vec<usize>>,
}

impl SideOutcome {
    /// Mean recall@k of the answers against `truth`.
    pub fn recall(&self, truth: &[Vec<usize>], k: usize) -> f64 {
        let total: f64 = self
            .answers
            .iter()
            .zip(truth)
            .map(|(found, expected)| recall(found, expected, k))
            .sum();
        total / self.answers.len().max(1) as f64
    }

    /// Fewest rows any answer held.
    pub fn min_rows(&self) -> usize {
        self.answers.iter().map(Vec::len).min().unwrap_or(0)
    }

    /// Mean rows per answer.
    pub fn mean_rows(&self) -> f64 {
        let total: usize = self.answers.iter().map(Vec::len).sum();
        total as f64 / self.answers.len().max(1) as f64
    }

    /// Queries whose answer differs from `other`'s (ids and order).
    pub fn disagreements(&self, other: &SideOutcome) -> usize {
        self.answers
            .iter()
            .zip(&other.answers)
            .filter(|(mine, theirs)| mine != theirs)
            .count()
    }
}

/// Sends queries `0..queries` through every searcher, `rounds` times, after `warmup` unmeasured
/// queries per side.
pub fn interleaved(
    mut searchers: Vec<Searcher<'_>>,
    queries: usize,
    warmup: usize,
    rounds: usize,
) -> BenchResult<Vec<SideOutcome>> {
    let count = searchers.len();
    for query in (0..queries).cycle().take(warmup) {
        for searcher in &mut searchers {
            searcher(query)?;
        }
    }
    let mut samples: Vec<Vec<Vec<Duration>>> = vec![Vec::with_capacity(rounds); count];
    let mut answers: Vec<Vec<Vec<usize>>> = vec![Vec::with_capacity(queries); count];
    for round in 0..rounds {
        let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(queries); count];
        for query in 0..queries {
            for turn in 0..count {
                let side = (query + round + turn) % count;
                let started = Instant::now();
                let rows = searchers[side](query)?;
                times[side].push(started.elapsed());
                if round == 0 {
                    answers[side].push(rows);
                }
            }
        }
        for (side, side_times) in times.into_iter().enumerate() {
            samples[side].push(side_times);
        }
    }
    samples
        .into_iter()
        .zip(answers)
        .map(|(rounds, answers)| {
            let latencies: Vec<Latency> = rounds
                .iter()
                .filter_map(|times| Latency::of(times))
                .collect();
            let latency = latencies
                .iter()
                .copied()
                .min_by(|a, b| a.p50_ms.total_cmp(&b.p50_ms))
                .ok_or("no queries were measured")?;
            Ok(SideOutcome {
                latency,
                round_p50_ms: latencies.iter().map(|latency| latency.p50_ms).collect(),
                answers,
            })
        })
        .collect()
}

/// Runs `measure(true)` and `measure(false)` alternately (`true` leads in even rounds),
/// `rounds` times each, and returns the best time of each, `true`'s first.
pub fn alternate_best_of(
    rounds: usize,
    mut measure: impl FnMut(bool) -> BenchResult<Duration>,
) -> BenchResult<(Duration, Duration)> {
    let (mut best_true, mut best_false) = (Duration::MAX, Duration::MAX);
    for round in 0..rounds {
        let leader = round.is_multiple_of(2);
        for side in [leader, !leader] {
            let elapsed = measure(side)?;
            if side {
                best_true = best_true.min(elapsed);
            } else {
                best_false = best_false.min(elapsed);
            }
        }
    }
    Ok((best_true, best_false))
}

/// An error a measuring thread can hand back.
pub type ThreadError = Box<dyn std::error::Error + Send + Sync>;

/// Operations done by `threads` threads in `seconds` (a QPS point). Each thread first builds its
/// state with `setup(thread)` (connect, prepare, warm up), the clock starts once every thread
/// has, and then each runs `step(&mut state, n)` for n = `thread × 37`, +1, … until the time is
/// up. The first error of any thread fails the point.
pub fn count_for<S>(
    threads: usize,
    seconds: Duration,
    setup: impl Fn(usize) -> Result<S, ThreadError> + Sync,
    step: impl Fn(&mut S, usize) -> Result<(), ThreadError> + Sync,
) -> BenchResult<u64> {
    use std::sync::Barrier;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let done = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let ready = Barrier::new(threads + 1);
    let failed = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|thread| {
                let (done, stop, ready, setup, step) = (&done, &stop, &ready, &setup, &step);
                scope.spawn(move || -> Result<(), ThreadError> {
                    let state = setup(thread);
                    ready.wait();
                    let mut state = state?;
                    let mut next = thread * 37;
                    while !stop.load(Ordering::Relaxed) {
                        step(&mut state, next)?;
                        done.fetch_add(1, Ordering::Relaxed);
                        next += 1;
                    }
                    Ok(())
                })
            })
            .collect();
        ready.wait();
        std::thread::sleep(seconds);
        stop.store(true, Ordering::Relaxed);
        workers
            .into_iter()
            .filter_map(|worker| worker.join().ok().and_then(Result::err))
            .next()
    });
    match failed {
        Some(error) => Err(error.to_string().into()),
        None => Ok(done.load(Ordering::Relaxed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn every_side_answers_every_query_in_rotating_order() {
        let calls = RefCell::new(Vec::new());
        let side = |name: &'static str| -> Searcher<'_> {
            let calls = &calls;
            Box::new(move |query| {
                calls.borrow_mut().push((name, query));
                Ok(vec![query])
            })
        };
        let outcomes = interleaved(vec![side("a"), side("b")], 3, 1, 2).unwrap();
        let calls = calls.into_inner();
        // One warm-up query per side, then 2 rounds x 3 queries x 2 sides.
        assert_eq!(calls.len(), 2 + 12);
        assert_eq!(&calls[2..6], &[("a", 0), ("b", 0), ("b", 1), ("a", 1)]);
        assert_eq!(outcomes[0].answers, vec![vec![0], vec![1], vec![2]]);
        assert_eq!(outcomes[0].round_p50_ms.len(), 2);
        assert_eq!(outcomes[0].disagreements(&outcomes[1]), 0);
        assert_eq!(outcomes[1].min_rows(), 1);
        assert_eq!(
            outcomes[1].recall(&[vec![0], vec![9], vec![2]], 1),
            2.0 / 3.0
        );
    }

    #[test]
    fn alternation_keeps_the_best_of_each() {
        let mut order = Vec::new();
        let mut times = vec![5, 3, 4, 9];
        let (on, off) = alternate_best_of(2, |side| {
            order.push(side);
            Ok(Duration::from_millis(times.remove(0)))
        })
        .unwrap();
        assert_eq!(
            (on, off),
            (Duration::from_millis(5), Duration::from_millis(3))
        );
        assert_eq!(order, [true, false, false, true]);
    }
}
