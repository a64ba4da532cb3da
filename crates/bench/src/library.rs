//! The one module through which every mode sets up what it measures in `embedstore`:
//! collections, loading, ANN, payload and text indexes, statistics and plans, and the `ann`
//! mode's search calls. The index lifecycle is the part of the library's API that moves (index

use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};
use embedstore::{
    Collection, FieldPath, Filter, IndexProgress, IndexSpec, IterativeScan, Metric, NewCollection,
    NewEmbedding, PayloadKind, SearchRequest, SearchResponse, Store, VectorSearch,
};

use crate::BenchResult;
use embedstore_test_support::dataset::{Selectivity, row_of};

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

/// A finished, valid index build.
#[derive(Debug, Clone, Copy)]
pub struct Build {
    /// From the call to its return.
    pub elapsed: Duration,
    /// How many progress reports the callback received (0 when none was asked for).
    pub reports: usize,
    /// The index's size on disk.
    pub size_bytes: u64,
    /// The library's estimate of its size relative to a full-precision index.
    pub full_precision_ratio: Option<f64>,
}

/// HNSW with `m` and `ef_construction`, built with `memory_mb` of `maintenance_work_mem`.
pub fn hnsw(m: u32, ef_construction: u32, memory_mb: u32) -> IndexSpec {
    IndexSpec::hnsw()
        .m(m)
        .ef_construction(ef_construction)
        .maintenance_work_mem_mb(memory_mb)
}

/// Creates the cosine collection `name` of `dimension` for `model`, and writes `batches` into
/// it, one unit of work each; the collection and how long the writes took.
pub fn create_and_load(
    store: &Store,
    name: &str,
    dimension: u32,
    model: &str,
    batches: impl IntoIterator<Item = Vec<NewEmbedding>>,
) -> BenchResult<(Collection, Duration)> {
    let spec = NewCollection::new(name, dimension, Metric::Cosine, model);
    let collection = store.write(|uow| uow.collections().create(spec))?;
    eprintln!("loading the rows through the library …");
    let started = Instant::now();
    for items in batches {
        store.write(|uow| uow.embeddings().insert(&collection, items))?;
    }
    Ok((collection, started.elapsed()))
}

/// What a DBA runs after a bulk load (`VACUUM (ANALYZE)`) or new indexes (`ANALYZE`, for the
/// expression statistics), on a plain connection: without statistics the planner may sort a
/// sequential scan instead of walking an index.
pub fn analyze(url: &str, collection: &Collection, vacuum: bool) -> BenchResult<()> {
    let mut conn = PgConnection::establish(url)?;
    let verb = if vacuum {
        "VACUUM (ANALYZE)"
    } else {
        "ANALYZE"
    };
    diesel::sql_query(format!("{verb} {}", collection.partition_name())).execute(&mut conn)?;
    Ok(())
}

impl<'a> Library<'a> {
    /// The library side for `collection`.
    pub fn new(store: &'a Store, collection: &'a Collection) -> Self {
        Self { store, collection }
    }

    /// Builds the ANN index `spec` through `store.indexes(&c).create`, with a progress callback
    /// (that records each report, as a progress bar would) or without.
    pub fn build_index(&self, spec: &IndexSpec, with_progress: bool) -> BenchResult<Build> {
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
        let status = self.store.indexes(self.collection).create(spec, callback)?;
        let elapsed = started.elapsed();
        if !status.valid {
            return Err(format!("the index {} was built but is not valid", status.name).into());
        }
        Ok(Build {
            elapsed,
            reports,
            size_bytes: status.size_bytes,
            full_precision_ratio: status.full_precision_ratio,
        })
    }

    /// Drops the collection's ANN index.
    pub fn drop_index(&self) -> BenchResult<()> {
        self.store.indexes(self.collection).drop()?;
        Ok(())
    }

    /// Creates the keyword payload indexes (btree) on `lang` and `shard` that the filtered
    /// searches use.
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

    /// Replaces the collection's text index (if any) by one with the text search
    /// configuration `config`.
    pub fn text_index(&self, config: &str, replace: bool) -> BenchResult<()> {
        if replace {
            self.store.indexes(self.collection).text().drop()?;
        }
        self.store.indexes(self.collection).text().create(config)?;
        Ok(())
    }

    /// The library's `EXPLAIN` of the statement `request` sends.
    pub fn explain_request(&self, request: impl Into<SearchRequest>) -> BenchResult<String> {
        let request = request.into();
        Ok(self
            .store
            .read(|uow| uow.explain_search(self.collection, request))?)
    }

    /// The `k` nearest rows through `Store::search` (the lean path: no unit of work), ids and
    /// distances only, with `hnsw.ef_search = ef_search` (the library's default when `None`);
    /// with `filter`, among rows whose `field` equals the value.
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
    pub fn explain(
        &self,
        query: &[f32],
        k: u32,
        ef_search: Option<u32>,
        filter: Option<(Selectivity, &str)>,
    ) -> BenchResult<String> {
        self.explain_request(filtered(request(query.to_vec(), k, ef_search), filter))
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
