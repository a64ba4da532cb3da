//! The measured side: embedstore's own index and search calls, nothing hand-made.

use std::time::{Duration, Instant};

use embedstore::{
    Collection, FieldPath, Filter, IndexProgress, IndexSpec, IterativeScan, PayloadKind,
    SearchRequest, SearchResponse, Store, VectorSearch,
};

use crate::BenchResult;
use crate::data::{Selectivity, row_of};

/// `maintenance_work_mem` for the builds: the HNSW graph of 100,000 × 384 fits with room.
const BUILD_MEMORY_MB: u32 = 1024;

/// embedstore asking one collection.
pub struct Library<'a> {
    store: &'a Store,
    collection: &'a Collection,
}

/// One library search's answer, as the benchmark counts it.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Data set row numbers, nearest first.
    pub rows: Vec<usize>,
    /// Which path the library says it took.
    pub path: String,
}

/// A finished build.
#[derive(Debug, Clone, Copy)]
pub struct Build {
    /// From the call to its return.
    pub elapsed: Duration,
    /// How many progress reports the callback received (0 when none was asked for).
    pub reports: usize,
}

impl<'a> Library<'a> {
    /// The library side for `collection`.
    pub fn new(store: &'a Store, collection: &'a Collection) -> Self {
        Self { store, collection }
    }

    /// Builds HNSW m = 16, ef_construction = 64 through `Store::create_index`, with a
    /// progress callback (that records each report, as a progress bar would) or without.
    ///
    /// # Errors
    /// Any library error.
    pub fn build_index(&self, with_progress: bool) -> BenchResult<Build> {
        let spec = IndexSpec::hnsw()
            .m(16)
            .ef_construction(64)
            .maintenance_work_mem_mb(BUILD_MEMORY_MB);
        let mut reports = 0;
        let mut last_phase = String::new();
        let mut record = |progress: IndexProgress| {
            reports += 1;
            if progress.phase != last_phase {
                eprintln!("  build phase: {}", progress.phase);
                last_phase = progress.phase;
            }
        };
        let callback: Option<&mut dyn FnMut(IndexProgress)> = if with_progress {
            Some(&mut record)
        } else {
            None
        };
        let started = Instant::now();
        let status = self
            .store
            .indexes(self.collection)
            .create(&spec, callback)?;
        let elapsed = started.elapsed();
        if !status.valid {
            return Err(format!("the index {} was built but is not valid", status.name).into());
        }
        Ok(Build { elapsed, reports })
    }

    /// Drops the collection's ANN index.
    ///
    /// # Errors
    /// Any library error.
    pub fn drop_index(&self) -> BenchResult<()> {
        self.store.indexes(self.collection).drop()?;
        Ok(())
    }

    /// Creates the keyword payload indexes (btree) on `lang` and `shard` that the filtered
    /// searches use.
    ///
    /// # Errors
    /// Any library error.
    pub fn create_payload_indexes(&self) -> BenchResult<()> {
        for selectivity in [Selectivity::TenPercent, Selectivity::OnePercent] {
            let field = FieldPath::parse(selectivity.field())?;
            self.store
                .indexes(self.collection)
                .payload()
                .create(&field, PayloadKind::Keyword)?;
        }
        Ok(())
    }

    /// The `k` nearest rows through `Store::search` (the lean path: no unit of work), ids and
    /// distances only, with `hnsw.ef_search = ef_search` (the library's default when `None`);
    /// with `filter`, among rows whose `field` equals the value.
    ///
    /// # Errors
    /// Any library error, or an external id the data set did not produce.
    pub fn search(
        &self,
        query: &[f32],
        k: u32,
        ef_search: Option<u32>,
        filter: Option<(Selectivity, &str)>,
    ) -> BenchResult<Answer> {
        let request = filtered(request(query.to_vec(), k, ef_search), filter);
        answer(self.store.search(self.collection, request)?)
    }

    /// Like [`Library::search`] with the request's iterative-scan mode set to
    /// `relaxed_order` (the library's own knob; its default for filters is `strict_order`).
    ///
    /// # Errors
    /// As [`Library::search`].
    pub fn search_relaxed(
        &self,
        query: &[f32],
        k: u32,
        filter: Option<(Selectivity, &str)>,
    ) -> BenchResult<Answer> {
        let request = filtered(request(query.to_vec(), k, None), filter)
            .with_iterative(IterativeScan::RelaxedOrder);
        answer(self.store.search(self.collection, request)?)
    }

    /// The `k` nearest rows of every query in one `Store::search_batch` call.
    ///
    /// # Errors
    /// Any library error.
    pub fn search_batch(
        &self,
        queries: &[Vec<f32>],
        k: u32,
        ef_search: Option<u32>,
    ) -> BenchResult<Vec<Answer>> {
        let template = request(Vec::new(), k, ef_search);
        self.store
            .search_batch(self.collection, queries, &template)?
            .into_iter()
            .map(answer)
            .collect()
    }

    /// The library's `EXPLAIN` of the statement a search sends.
    ///
    /// # Errors
    /// Any library error.
    pub fn explain(
        &self,
        query: &[f32],
        k: u32,
        ef_search: Option<u32>,
        filter: Option<(Selectivity, &str)>,
    ) -> BenchResult<String> {
        let request = filtered(request(query.to_vec(), k, ef_search), filter);
        Ok(self
            .store
            .read(|uow| uow.explain_search(self.collection, request))?)
    }
}

/// The benchmark's request: ids and distances only, like the hand-written SQL's.
fn request(vector: Vec<f32>, k: u32, ef_search: Option<u32>) -> VectorSearch {
    let request = SearchRequest::vector(vector, k).include_metadata(false);
    match ef_search {
        Some(ef_search) => request.with_ef_search(ef_search),
        None => request,
    }
}

/// `request` with `field = value`, when a filter is given.
fn filtered(request: VectorSearch, filter: Option<(Selectivity, &str)>) -> VectorSearch {
    match filter {
        Some((selectivity, value)) => request.with_filter(Filter::eq(selectivity.field(), value)),
        None => request,
    }
}

fn answer(response: SearchResponse) -> BenchResult<Answer> {
    let rows = response
        .hits
        .iter()
        .map(|hit| {
            row_of(&hit.external_id)
                .ok_or_else(|| format!("unexpected external id {:?}", hit.external_id))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Answer {
        rows,
        path: format!("{:?}", response.path),
    })
}
