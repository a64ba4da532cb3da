//! The concurrency sweep's machinery: the cells, each thread's query order, and one client's
//! turn (a slice) with `T` threads sending queries at once.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use embedstore::{Filter, SearchRequest, VectorSearch};
use embedstore_test_support::Rng;

use crate::hot::raw::{RawQuery, RawResult};
use embedstore_test_support::dataset::{Dataset, Selectivity};

/// One kind of search the sweep measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cell {
    /// An exact scan (the library's `with_exact(true)`; the baseline's uncast `ORDER BY`).
    Exact,
    /// HNSW at `ef_search` 40.
    Ef40,
    /// HNSW at `ef_search` 100.
    Ef100,
    /// A filter matching about 10 % of the rows, library defaults.
    Filter10,
    /// A filter matching about 1 % of the rows, library defaults.
    Filter1,
    /// HNSW at `ef_search` 40 with each hit's metadata (single client only).
    Metadata,
}

impl Cell {
    /// The cells of the concurrency sweep, in order.
    pub const SWEEP: [Cell; 5] = [
        Cell::Exact,
        Cell::Ef40,
        Cell::Ef100,
        Cell::Filter10,
        Cell::Filter1,
    ];

    /// Its name in the table and the JSON.
    pub fn label(self) -> &'static str {
        match self {
            Cell::Exact => "exact",
            Cell::Ef40 => "ef40",
            Cell::Ef100 => "ef100",
            Cell::Filter10 => "filter10",
            Cell::Filter1 => "filter1",
            Cell::Metadata => "ef40+metadata",
        }
    }

    /// The filter of the cell, if it has one.
    pub fn selectivity(self) -> Option<Selectivity> {
        match self {
            Cell::Filter10 => Some(Selectivity::TenPercent),
            Cell::Filter1 => Some(Selectivity::OnePercent),
            _ => None,
        }
    }

    /// Whether the unfiltered targets (QPS, p95, single-client p50) apply.
    pub fn unfiltered(self) -> bool {
        matches!(self, Cell::Exact | Cell::Ef40 | Cell::Ef100)
    }

    /// The baseline's statement and its session settings (`ef_search`, iterative scan): what
    /// a raw user sets for this kind of query.
    pub fn baseline(self) -> (RawQuery, u32, &'static str) {
        match self {
            Cell::Exact => (RawQuery::Exact, 40, "off"),
            Cell::Ef40 => (RawQuery::Ann, 40, "off"),
            Cell::Ef100 => (RawQuery::Ann, 100, "off"),
            Cell::Filter10 | Cell::Filter1 => (RawQuery::Filtered, 40, "relaxed_order"),
            Cell::Metadata => (RawQuery::AnnWithMetadata, 40, "off"),
        }
    }

    /// The library's request for query `query` of `data`: ids and distances only except in
    /// the metadata cell; filtered cells leave every setting at the library's default.
    pub fn request(self, data: &Dataset, query: usize, k: u32) -> VectorSearch {
        let request = SearchRequest::vector(data.queries[query].clone(), k);
        match self {
            Cell::Exact => request.include_metadata(false).with_exact(true),
            Cell::Ef40 => request.include_metadata(false).with_ef_search(40),
            Cell::Ef100 => request.include_metadata(false).with_ef_search(100),
            Cell::Filter10 | Cell::Filter1 => {
                let selectivity = self.selectivity().unwrap_or(Selectivity::TenPercent);
                let value = selectivity.value_text(data.filter_values[query]);
                request
                    .include_metadata(false)
                    .with_filter(Filter::eq(selectivity.field(), value))
            }
            Cell::Metadata => request.include_metadata(true).with_ef_search(40),
        }
    }

    /// The baseline's `$4` for query `query` (the JSON the metadata must contain), when the
    /// cell is filtered.
    pub fn containment(self, data: &Dataset, query: usize) -> Option<serde_json::Value> {
        self.selectivity().map(|selectivity| {
            let value = selectivity.value_text(data.filter_values[query]);
            serde_json::json!({ selectivity.field(): value })
        })
    }
}

/// The three clients of a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// The `postgres` crate baseline.
    Raw,
    /// `Store::search`.
    Store,
    /// `store.read(|uow| uow.search(..))`.
    Uow,
}

impl Client {
    /// The order in which the clients take their turns in round `round`: rotating, so no
    /// client always follows the same one.
    pub fn order(round: usize) -> [Client; 3] {
        let all = [Client::Raw, Client::Store, Client::Uow];
        [0, 1, 2].map(|turn| all[(round + turn) % 3])
    }
}

/// Thread `thread`'s order of queries `0..queries`: a permutation drawn from a seed of the
/// thread number, the same for every client and thread count.
pub fn query_order(thread: usize, queries: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..queries).collect();
    let mut rng = Rng::new(0x0407_0000 + thread as u64);
    for last in (1..order.len()).rev() {
        let pick = (rng.next_u64() % (last as u64 + 1)) as usize;
        order.swap(last, pick);
    }
    order
}

/// What one client's slice measured.
#[derive(Debug, Clone, Default)]
pub struct Slice {
    /// Every query's latency, all threads.
    pub samples: Vec<Duration>,
    /// From the release of the threads to the last one's end.
    pub wall: Duration,
    /// Fewest rows a query returned (`usize::MAX` when none ran).
    pub min_rows: usize,
}

/// Runs one slice: thread `i` sends the queries of `orders[i]` through `query` with its own
/// `states[i]` until it has sent them all or `budget` has passed since the start. `query`
pub fn run_slice<S: Send>(
    states: &mut [S],
    orders: &[Vec<usize>],
    budget: Duration,
    query: &(dyn Fn(&mut S, usize) -> RawResult<usize> + Sync),
) -> RawResult<Slice> {
    let barrier = Barrier::new(states.len() + 1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = states
            .iter_mut()
            .zip(orders)
            .map(|(state, order)| {
                let barrier = &barrier;
                scope.spawn(move || -> RawResult<(Vec<Duration>, usize)> {
                    barrier.wait();
                    let started = Instant::now();
                    let mut samples = Vec::with_capacity(order.len());
                    let mut min_rows = usize::MAX;
                    for &number in order {
                        if started.elapsed() >= budget {
                            break;
                        }
                        let sent = Instant::now();
                        let rows = query(state, number)?;
                        samples.push(sent.elapsed());
                        min_rows = min_rows.min(rows);
                    }
                    Ok((samples, min_rows))
                })
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        let mut slice = Slice {
            min_rows: usize::MAX,
            ..Slice::default()
        };
        let mut first_error = None;
        for worker in workers {
            match worker.join() {
                Ok(Ok((samples, min_rows))) => {
                    slice.samples.extend(samples);
                    slice.min_rows = slice.min_rows.min(min_rows);
                }
                Ok(Err(error)) => {
                    first_error.get_or_insert(error);
                }
                Err(payload) => std::panic::resume_unwind(payload),
            }
        }
        slice.wall = started.elapsed();
        match first_error {
            Some(error) => Err(error),
            None => Ok(slice),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn query_orders_are_permutations_that_differ_by_thread() {
        let first = query_order(0, 50);
        let mut sorted = first.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_eq!(first, query_order(0, 50), "reproducible");
        assert_ne!(first, query_order(1, 50));
        assert_eq!(query_order(3, 0), Vec::<usize>::new());
        assert_eq!(query_order(3, 1), vec![0]);
    }

    #[test]
    fn clients_rotate_their_turns() {
        assert_eq!(Client::order(0), [Client::Raw, Client::Store, Client::Uow]);
        assert_eq!(Client::order(1), [Client::Store, Client::Uow, Client::Raw]);
        assert_eq!(Client::order(3), Client::order(0));
    }

    #[test]
    fn a_slice_runs_every_thread_through_its_order() {
        let calls = AtomicUsize::new(0);
        let mut states = vec![0_usize; 3];
        let orders = vec![vec![0, 1], vec![1, 0], vec![2, 2, 2]];
        let slice = run_slice(
            &mut states,
            &orders,
            Duration::from_secs(60),
            &|seen, query| {
                *seen += 1;
                calls.fetch_add(1, Ordering::Relaxed);
                Ok(query + 1)
            },
        )
        .unwrap();
        assert_eq!(calls.into_inner(), 7);
        assert_eq!(states, vec![2, 2, 3]);
        assert_eq!(slice.samples.len(), 7);
        assert_eq!(slice.min_rows, 1);
        assert!(slice.wall >= slice.samples.iter().copied().max().unwrap());
    }

    #[test]
    fn a_slice_stops_at_its_budget_and_reports_errors() {
        let mut states = vec![(); 2];
        let orders = vec![(0..1_000_000).collect::<Vec<_>>(); 2];
        let slice = run_slice(&mut states, &orders, Duration::from_millis(20), &|_, _| {
            std::thread::sleep(Duration::from_millis(1));
            Ok(10)
        })
        .unwrap();
        assert!(!slice.samples.is_empty() && slice.samples.len() < 200);
        let error = run_slice(&mut states, &orders, Duration::from_secs(5), &|_, query| {
            if query == 3 {
                Err("boom".into())
            } else {
                Ok(1)
            }
        })
        .unwrap_err();
        assert_eq!(error.to_string(), "boom");
    }

    #[test]
    fn cells_build_the_requests_they_name() {
        let data = Dataset::generate(20, 8, 2, 3);
        let exact = Cell::Exact.request(&data, 0, 5);
        assert!(exact.ann.exact && !exact.include.metadata);
        assert_eq!(Cell::Ef100.request(&data, 1, 5).ann.ef_search, Some(100));
        let filtered = Cell::Filter1.request(&data, 2, 5);
        assert!(filtered.filter.is_some() && filtered.ann.ef_search.is_none());
        assert!(filtered.ann.iterative.is_none(), "the library's default");
        assert!(Cell::Metadata.request(&data, 0, 5).include.metadata);
        let value = Selectivity::OnePercent.value_text(data.filter_values[2]);
        assert_eq!(
            Cell::Filter1.containment(&data, 2),
            Some(serde_json::json!({ "shard": value }))
        );
        assert_eq!(Cell::Ef40.containment(&data, 2), None);
        assert_eq!(
            Cell::Filter10.baseline(),
            (RawQuery::Filtered, 40, "relaxed_order")
        );
        assert!(Cell::SWEEP.iter().filter(|cell| cell.unfiltered()).count() == 3);
    }
}
