//! Single-client probes beside the sweep: recall against `ef_search` (raw and `Store::search`
//! at each value), and the filtered cells' two paths — an exact scan of the matching rows and
//! the index walk at several `ef_search` — each forced, so the default's choice can be judged
//! against both at the collection's size (issue 20 item 4).

use std::time::{Duration, Instant};

use embedstore::{Filter, SearchRequest, SearchResponse, Store};
use serde_json::json;

use crate::BenchResult;
use crate::hot::raw::{RawClient, RawQuery};
use crate::hot::sweep::Cell;
use crate::hot::{Context, library_rows, raw_rows};
use crate::report::{Table, ratio, round4};
use crate::stats::Latency;
use crate::truth;

/// Unmeasured queries per client before each probe row.
const WARMUP: usize = 10;

/// The `ef_search` values of the filtered probe's index walks.
const FILTER_EF: [u32; 3] = [40, 100, 200];

/// One client's pass over the queries: mean recall@k and latency.
struct Pass {
    recall: f64,
    latency: Latency,
}

/// Sends every query (after [`WARMUP`] unmeasured ones) through `search`, which returns the
/// data-set rows it found; recall against `truth`.
fn pass(
    queries: usize,
    truth: &[Vec<usize>],
    k: usize,
    mut search: impl FnMut(usize) -> BenchResult<Vec<usize>>,
) -> BenchResult<Pass> {
    for query in (0..queries).cycle().take(WARMUP.min(queries)) {
        search(query)?;
    }
    let mut samples: Vec<Duration> = Vec::with_capacity(queries);
    let mut recall = 0.0;
    for (query, expected) in truth.iter().enumerate().take(queries) {
        let sent = Instant::now();
        let rows = search(query)?;
        samples.push(sent.elapsed());
        recall += truth::recall(&rows, expected, k);
    }
    Ok(Pass {
        recall: recall / queries.max(1) as f64,
        latency: Latency::of(&samples).ok_or("no query was measured")?,
    })
}

/// Recall and p50 of both clients at each `ef_search` of `--ef-sweep`, unfiltered.
pub fn ef_sweep(context: &Context<'_>, store: &Store, raw: &mut RawClient) -> BenchResult<Table> {
    let (args, data) = (context.args, context.data);
    let k = usize::try_from(args.data.k)?;
    let truth = context.truth.get(Cell::Ef40.label()).ok_or("no truth")?;
    let mut table = Table::new(
        "ef_sweep",
        "ef_search raw_recall store_recall raw_p50_ms store_p50_ms store_p50_vs_raw",
    );
    for &ef in &args.ef_sweep {
        eprintln!("ef_search sweep, {ef} …");
        raw.configure(ef, "off")
            .map_err(|error| error.to_string())?;
        let by_raw = pass(args.data.queries, truth, k, |query| {
            let hits = raw
                .nearest(RawQuery::Ann, &data.queries[query], None)
                .map_err(|error| error.to_string())?;
            raw_rows(&hits)
        })?;
        let by_store = pass(args.data.queries, truth, k, |query| {
            let request = SearchRequest::vector(data.queries[query].clone(), args.data.k)
                .include_metadata(false)
                .with_ef_search(ef);
            library_rows(&store.search(context.collection, request)?)
        })?;
        table.record(json!({
            "ef_search": ef,
            "raw_recall": round4(by_raw.recall),
            "store_recall": round4(by_store.recall),
            "raw_p50_ms": round4(by_raw.latency.p50_ms),
            "store_p50_ms": round4(by_store.latency.p50_ms),
            "store_p50_vs_raw": ratio(by_store.latency.p50_ms, by_raw.latency.p50_ms),
        }));
    }
    Ok(table)
}

/// The filtered cells' paths, each forced: the library's exact scan of the matching rows
/// (recall 1 by construction, so its cost is what an exact threshold trades against), its
/// index walk and the raw client's (`relaxed_order`) at each of [`FILTER_EF`], and the
/// library's default with the path it took.
pub fn filter_paths(
    context: &Context<'_>,
    store: &Store,
    raw: &mut RawClient,
) -> BenchResult<Table> {
    let (args, data) = (context.args, context.data);
    let k = usize::try_from(args.data.k)?;
    let mut table = Table::new(
        "filter_paths",
        "cell client path ef_search recall p50_ms p95_ms paths",
    );
    for cell in [Cell::Filter10, Cell::Filter1] {
        let truth = context.truth.get(cell.label()).ok_or("no truth")?;
        let selectivity = cell.selectivity().ok_or("an unfiltered cell")?;
        let request = |query: usize| {
            let value = selectivity.value_text(data.filter_values[query]);
            SearchRequest::vector(data.queries[query].clone(), args.data.k)
                .include_metadata(false)
                .with_filter(Filter::eq(selectivity.field(), value))
        };
        let mut record = |client: &str, path: &str, ef: Option<u32>, pass: Pass, paths: String| {
            table.record(json!({
                "cell": cell.label(), "client": client, "path": path, "ef_search": ef,
                "recall": round4(pass.recall), "p50_ms": round4(pass.latency.p50_ms),
                "p95_ms": round4(pass.latency.p95_ms), "paths": paths,
            }));
        };
        let library = |shape: &dyn Fn(usize) -> embedstore::VectorSearch| {
            let mut taken = std::collections::BTreeMap::<String, usize>::new();
            let measured = pass(args.data.queries, truth, k, |query| {
                let response: SearchResponse = store.search(context.collection, shape(query))?;
                *taken.entry(format!("{:?}", response.path)).or_default() += 1;
                library_rows(&response)
            })?;
            let paths = taken
                .iter()
                .map(|(path, count)| format!("{path} x{count}"))
                .collect::<Vec<_>>()
                .join(", ");
            BenchResult::Ok((measured, paths))
        };
        eprintln!("filter paths, {}: default and exact …", cell.label());
        let (measured, paths) = library(&|query| request(query))?;
        record("store", "default", None, measured, paths);
        let (measured, paths) = library(&|query| request(query).with_exact(true))?;
        record("store", "exact", None, measured, paths);
        for ef in FILTER_EF {
            eprintln!(
                "filter paths, {}: index walks at ef_search {ef} …",
                cell.label()
            );
            // A threshold of 1 row: PostgreSQL estimates at least one, so the index is walked.
            let (measured, paths) =
                library(&|query| request(query).with_exact_threshold(1).with_ef_search(ef))?;
            record("store", "ann", Some(ef), measured, paths);
            raw.configure(ef, "relaxed_order")
                .map_err(|error| error.to_string())?;
            let measured = pass(args.data.queries, truth, k, |query| {
                let filter = cell.containment(data, query);
                let hits = raw
                    .nearest(RawQuery::Filtered, &data.queries[query], filter.as_ref())
                    .map_err(|error| error.to_string())?;
                raw_rows(&hits)
            })?;
            record("raw", "ann", Some(ef), measured, String::new());
        }
    }
    Ok(table)
}
