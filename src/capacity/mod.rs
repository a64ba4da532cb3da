//! Capacity planning: what a collection of `rows` rows costs on disk and in memory, how long
//! its ANN index takes to build, and how many nodes a read load needs — before any row exists.
//!
//! Sizes follow PostgreSQL's and pgvector's page layouts (checked against measured sizes in
//! the benchmark crate: within 15 % at 100,000 and 1,000,000 rows). Times and throughput are a
//! model fitted on this project's measurements (see [`MODEL_SOURCE`]); they scale with the
//! machine, so treat them as an order of magnitude and measure your own (`embedstore index
//! recall`, `scripts/dev bench hot`).

use serde::Serialize;

use crate::dto::{IndexMethod, IndexSpec};
use crate::metric::Quantization;
use crate::vector::VectorKind;

/// Where the fitted constants come from, printed with every plan.
pub const MODEL_SOURCE: &str = "sizes: PostgreSQL/pgvector page layout; times and QPS: fitted on \
    100,000 and 1,000,000 (builds) x 384 clustered vectors, PostgreSQL 15 + pgvector 0.8.6, 2 \
    cores shared by client and server (BENCHMARKS.md)";

/// The read load a plan must carry, and the nodes it runs on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Load {
    /// Searches a second the collection must answer.
    pub target_qps: f64,
    /// `hnsw.ef_search` the searches run with (pick it for a recall: [`Load::ef_search_for`]).
    pub ef_search: u32,
    /// Cores of each database node.
    pub cores_per_node: u32,
    /// Memory of each database node, in bytes.
    pub memory_per_node: u64,
}

/// What to plan for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapacityInput {
    /// Rows of the collection.
    pub rows: u64,
    /// Values a vector (dense, bit) or positions (sparse).
    pub dimension: u32,
    /// The vector column.
    pub kind: VectorKind,
    /// Sparse collections: mean non-zero entries a row.
    pub sparse_nonzero: u32,
    /// Mean length of `external_id` in bytes.
    pub external_id_bytes: u32,
    /// Mean length of `metadata` as JSON text in bytes (`{}`: 2).
    pub metadata_bytes: u32,
    /// Mean length of `content` in bytes (0: none).
    pub content_bytes: u32,
    /// The ANN index (its `m`, `ef_construction`, `lists`, quantization, build memory and
    /// workers; unset ones as the library would build it), `None` for none.
    pub index: Option<IndexSpec>,
    /// The read load, if any.
    pub load: Option<Load>,
}

impl CapacityInput {
    /// A dense collection of `rows` vectors of `dimension` values, 12-byte ids, `{}` metadata,
    /// no content, HNSW at pgvector's defaults (m 16, ef_construction 64).
    pub fn dense(rows: u64, dimension: u32) -> Self {
        Self {
            rows,
            dimension,
            kind: VectorKind::Dense,
            sparse_nonzero: 0,
            external_id_bytes: 12,
            metadata_bytes: 2,
            content_bytes: 0,
            index: Some(IndexSpec::hnsw()),
            load: None,
        }
    }
}

/// The plan: sizes in bytes, times in seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CapacityPlan {
    /// The collection's heap (its partition of `embeddings`).
    pub table_bytes: u64,
    /// Vectors moved out of line (rows over PostgreSQL's 2 KB TOAST threshold) and their index.
    pub toast_bytes: u64,
    /// The primary key and the unique `(collection_id, external_id)` index.
    pub key_index_bytes: u64,
    /// The ANN index.
    pub ann_index_bytes: u64,
    /// Everything above.
    pub total_bytes: u64,
    /// Memory to keep the ANN index in `shared_buffers` (searches then read no disk; an
    /// index larger than the buffers loses QPS sharply, pgvector #700).
    pub ram_for_index: u64,
    /// Memory to keep the index and the table in `shared_buffers`.
    pub ram_for_index_and_table: u64,
    /// The index build, when there is one.
    pub build: Option<BuildPlan>,
    /// The read load's needs, when a load was given.
    pub nodes: Option<NodePlan>,
    /// What the figures leave out or warn about.
    pub notes: Vec<String>,
}

/// The index build.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct BuildPlan {
    /// The HNSW graph's memory during the build (0 for IVFFlat).
    pub graph_bytes: u64,
    /// `maintenance_work_mem` the build runs with.
    pub build_memory: u64,
    /// The graph fits: the build runs in memory (else pgvector goes on on disk, several
    /// times slower).
    pub fits_in_memory: bool,
    /// CPU seconds of the build.
    pub core_seconds: f64,
    /// Wall seconds with the leader and the parallel workers.
    pub seconds: f64,
}

/// The nodes a read load needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct NodePlan {
    /// Searches a second one core answers at the load's `ef_search` (client work included).
    pub qps_per_core: f64,
    /// Searches a second one node answers.
    pub qps_per_node: f64,
    /// Streaming replicas beside the primary to carry the load (0: the primary alone).
    pub replicas: u32,
    /// Citus workers to hold the index in memory when one node cannot (0: one node can).
    pub citus_workers: u32,
}

/// PostgreSQL's page size, and what an HNSW page has left for tuples (header 24 bytes,
/// pgvector's special space 8).
pub(crate) const PAGE_BYTES: u64 = 8192;
const PAGE_USABLE: u64 = PAGE_BYTES - 24 - 8;

/// The size of an HNSW index on `rows` rows whose indexed value takes `value_bytes` (varlena
/// header included), links `m`, from pgvector's layout: per row an element tuple (72 bytes of
/// header and heap ids, then the value) and a neighbour tuple (4 bytes and 6 per link;
/// (level + 2)·m links, the mean level being 1 / (m − 1)), each 8-aligned with a 4-byte line
/// pointer, kept on one page while they fit; plus the metapage.
pub(crate) fn hnsw_layout_bytes(rows: u64, value_bytes: u64, m: u64) -> u64 {
    let align = |bytes: u64| bytes.div_ceil(8) * 8;
    let element = align(72 + value_bytes) + 4;
    let links = (2.0 + 1.0 / (m.max(2) - 1) as f64) * m as f64;
    let neighbours = align(4 + (6.0 * links).ceil() as u64) + 4;
    let node = element + neighbours;
    let pages = if node <= PAGE_USABLE {
        rows.div_ceil(PAGE_USABLE / node)
    } else {
        rows.saturating_mul(node.div_ceil(PAGE_USABLE))
    };
    (pages + 1) * PAGE_BYTES
}

/// What a tuple and its line pointer take on a heap page: 8-byte aligned, plus 4.
const fn on_page(bytes: u64) -> u64 {
    bytes.div_ceil(8) * 8 + 4
}

/// Room for tuples on a heap or B-tree page (24-byte header; B-tree's 16-byte special space).
const HEAP_USABLE: u64 = PAGE_BYTES - 24;
const BTREE_USABLE: u64 = PAGE_BYTES - 24 - 16;
/// PostgreSQL moves values out of a row longer than this (`TOAST_TUPLE_THRESHOLD`).
const TOAST_THRESHOLD: u64 = 2032;
/// Bytes of a value in one TOAST chunk (`TOAST_MAX_CHUNK_SIZE`).
const TOAST_CHUNK: u64 = 1996;
/// Fill of a B-tree built by ascending inserts (the primary key: ids grow) and by inserts in
/// key order that is not the id's (external ids): measured 0.90 and 0.60–0.69.
const BTREE_FILL_ASCENDING: f64 = 0.90;
const BTREE_FILL_SCATTERED: f64 = 0.62;

/// Bytes of a varlena value of `payload` bytes inline: a 1-byte header up to 126 bytes, else 4.
fn varlena(payload: u64) -> u64 {
    if payload <= 126 {
        payload + 1
    } else {
        payload + 4
    }
}

/// Bytes of the stored vector value (with its varlena header).
fn vector_bytes(input: &CapacityInput) -> u64 {
    let dimension = u64::from(input.dimension);
    match input.kind {
        // int32 dimension, nnz, unused; int32 indices and float4 values.
        VectorKind::Sparse => varlena(12 + 8 * u64::from(input.sparse_nonzero)),
        // varbit: int32 bit length, then the bits.
        VectorKind::Bit => varlena(4 + dimension.div_ceil(8)),
        // int16 dimension, int16 unused, float4 values.
        _ => varlena(4 + 4 * dimension),
    }
}

/// One row of `embeddings` as PostgreSQL lays it out: the header (23 bytes and a null bitmap
/// for 11 columns, aligned: 32), then collection_id, id, external_id, the vector (or an 18-byte
/// TOAST pointer), content, metadata, created_at, updated_at. Returns the row's bytes and the
/// vector's bytes moved to TOAST (0 when it stays inline).
fn heap_row(input: &CapacityInput) -> (u64, u64) {
    let align = |offset: u64, to: u64| offset.div_ceil(to) * to;
    let vector = vector_bytes(input);
    // jsonb is about its text's length plus a 4-byte header and 4-byte entries.
    let metadata = varlena(u64::from(input.metadata_bytes) + 4);
    let content = match input.content_bytes {
        0 => 0,
        bytes => varlena(u64::from(bytes)),
    };
    let row = |vector: u64| {
        let mut offset = 8 + 8; // collection_id (padded), id
        offset += varlena(u64::from(input.external_id_bytes));
        offset = align(offset, 4) + vector;
        offset += content;
        offset = align(offset, 4) + metadata;
        offset = align(offset, 8) + 16; // created_at, updated_at
        32 + offset
    };
    let inline = row(vector);
    if inline <= TOAST_THRESHOLD {
        (inline, 0)
    } else {
        // pgvector's types are STORAGE external: moved out whole, not compressed.
        (row(18), vector)
    }
}

impl CapacityInput {
    /// The plan for this input.
    pub fn plan(&self) -> CapacityPlan {
        plan(self)
    }
}

/// The plan for `input`.
fn plan(input: &CapacityInput) -> CapacityPlan {
    let rows = input.rows;
    let mut notes = Vec::new();
    let (row, toasted) = heap_row(input);
    let table_bytes = pages(rows, on_page(row), HEAP_USABLE) * PAGE_BYTES;
    let toast_bytes = toast_bytes(rows, toasted);
    if toasted > 0 {
        notes.push(format!(
            "rows of {} bytes exceed PostgreSQL's 2 KB threshold: each vector is stored out of \
             line (TOAST) and an exact scan or re-rank reads it from there",
            row - 18 + toasted
        ));
    }
    // (collection_id, id): 8-byte tuple header, int4 padded to 8, int8.
    let primary = btree_bytes(rows, on_page(8 + 8 + 8), BTREE_FILL_ASCENDING);
    let external = btree_bytes(
        rows,
        on_page(8 + 4 + varlena(u64::from(input.external_id_bytes))),
        BTREE_FILL_SCATTERED,
    );
    let ann_index_bytes = ann_bytes(input);
    let total_bytes = table_bytes + toast_bytes + primary + external + ann_index_bytes;
    let build = build_plan(input, &mut notes);
    let nodes = input
        .load
        .map(|load| node_plan(input, load, ann_index_bytes, &mut notes));
    notes.push(
        "not included: full-text (GIN) and payload indexes, dead rows after updates, WAL"
            .to_owned(),
    );
    CapacityPlan {
        table_bytes,
        toast_bytes,
        key_index_bytes: primary + external,
        ann_index_bytes,
        total_bytes,
        ram_for_index: ann_index_bytes,
        ram_for_index_and_table: ann_index_bytes + table_bytes + toast_bytes,
        build,
        nodes,
        notes,
    }
}

/// Pages for `rows` tuples of `tuple` bytes (line pointer included) with `usable` bytes a page.
fn pages(rows: u64, tuple: u64, usable: u64) -> u64 {
    rows.div_ceil((usable / tuple).max(1))
}

/// A B-tree of `rows` tuples filled to `fill`: leaves, one internal level per 300 leaves, the
/// metapage.
fn btree_bytes(rows: u64, tuple: u64, fill: f64) -> u64 {
    let per_leaf = ((BTREE_USABLE as f64 * fill) / tuple as f64)
        .floor()
        .max(1.0) as u64;
    let leaves = rows.div_ceil(per_leaf);
    (leaves + leaves.div_ceil(300) + 1) * PAGE_BYTES
}

/// TOAST pages for `rows` values of `value` bytes and the TOAST index on (chunk_id,
/// chunk_seq). A bulk load fills one page at a time (the chunks of a value go to the current
/// page while they fit, else to a new one; freed room is not revisited), so the chunks are
/// placed that way for up to 4,096 values and the pages scaled to `rows`.
fn toast_bytes(rows: u64, value: u64) -> u64 {
    if value == 0 || rows == 0 {
        return 0;
    }
    let chunks = value.div_ceil(TOAST_CHUNK);
    let last = value - (chunks - 1) * TOAST_CHUNK;
    let tuple = |data: u64| on_page(24 + 4 + 4 + varlena(data));
    let placed = rows.min(4096);
    let (mut pages, mut free) = (0u64, 0u64);
    for _ in 0..placed {
        for chunk in 0..chunks {
            let bytes = tuple(if chunk + 1 == chunks {
                last
            } else {
                TOAST_CHUNK
            });
            if bytes > free {
                pages += 1;
                free = HEAP_USABLE;
            }
            free -= bytes;
        }
    }
    let heap = (pages * rows).div_ceil(placed) * PAGE_BYTES;
    heap + btree_bytes(rows * chunks, on_page(8 + 4 + 4), BTREE_FILL_ASCENDING)
}

/// The ANN index's bytes.
fn ann_bytes(input: &CapacityInput) -> u64 {
    let Some(spec) = &input.index else {
        return 0;
    };
    match spec.method {
        IndexMethod::IvfFlat => {
            let lists = u64::from(spec.lists_for(input.rows));
            // Each list's tuples (8-byte header, the vector) on its own pages, half a page
            // left over a list; the centroids likewise; the metapage.
            let tuple = on_page(8 + vector_bytes(input));
            let usable = PAGE_BYTES - 24 - 8;
            let per_page = (usable / tuple).max(1);
            let list_pages = input.rows / per_page + lists.div_ceil(2);
            let centroid_pages = pages(lists, tuple, usable);
            (list_pages + centroid_pages + 1) * PAGE_BYTES
        }
        _ => hnsw_layout_bytes(input.rows, indexed_value_bytes(input, spec), m_of(spec)),
    }
}

/// HNSW's `m` of `spec` (pgvector's default 16).
fn m_of(spec: &IndexSpec) -> u64 {
    u64::from(spec.m.unwrap_or(16))
}

/// Bytes of the value an HNSW index stores a row: the vector, or its `halfvec` / binary
/// quantization (half precision above 2,000 dimensions, the only choice there).
fn indexed_value_bytes(input: &CapacityInput, spec: &IndexSpec) -> u64 {
    let dimension = u64::from(input.dimension);
    match (spec.quantization, input.kind) {
        (Some(Quantization::Binary), _) => varlena(4 + dimension.div_ceil(8)),
        (Some(Quantization::Half), _) => varlena(4 + 2 * dimension),
        (None, VectorKind::Dense) if dimension > 2_000 => varlena(4 + 2 * dimension),
        _ => vector_bytes(input),
    }
}

/// CPU seconds of an HNSW build of 100,000 rows at 384 dimensions, m 16, ef_construction 64
/// (fitted: 19.9 s on 2 cores with 2 parallel workers, `BENCHMARKS.md`, issue 5).
const HNSW_BUILD_CORE_SECONDS_100K: f64 = 60.0;
/// How the build's time grows with the rows: (rows / 100,000) to this power (fitted: 1,000,000
/// rows in 587 s, 29.5 times the 100,000-row build; `rows · ln(rows)`, the old model, gave 12
/// times and under-predicted the million-row build 3.6-fold). A graph far beyond the CPU's
/// caches makes each distance a memory read; pgvector users' reports of days at 10⁸ rows fit
/// this power better than `rows · ln(rows)`.
const HNSW_BUILD_EXPONENT: f64 = 1.47;
/// PostgreSQL's default `maintenance_work_mem`, 64 MB: what an IVFFlat build whose spec names
/// none gets, and the floor of an HNSW build's.
const DEFAULT_BUILD_MEMORY: u64 = 64 << 20;
/// How much slower the rows inserted after the graph no longer fits `maintenance_work_mem` go
/// (measured at 1,000,000 × 384 with PostgreSQL's 64 MB: cancelled after 1,500 s, 2.6 times
/// the fitting build, with under half the rows in; at the pace of its last ten minutes the
/// whole build takes at least 7 times the fitting one).
const OUT_OF_MEMORY_SLOWDOWN: f64 = 7.0;
/// pgvector's graph: per node the value, a 24-byte candidate for each link, and about 200
/// bytes of bookkeeping.
const GRAPH_NODE_OVERHEAD: u64 = 200;

/// The HNSW graph's memory during a build.
fn hnsw_graph_bytes(rows: u64, value_bytes: u64, m: u64) -> u64 {
    let links = (2 * m) + m / m.max(2).saturating_sub(1);
    rows * (value_bytes + 24 * links + GRAPH_NODE_OVERHEAD)
}

/// The most `maintenance_work_mem` the library asks for on its own, in MiB (4 GiB: an HNSW
/// graph of about 1.5 million 384-dimension rows). Above it the caller names the build's
/// memory (`IndexSpec::maintenance_work_mem_mb`); decision record 0031 says why.
pub(crate) const BUILD_MEMORY_CAP_MB: u64 = 4096;

/// Headroom over the graph estimate, so that a graph a little larger than the model's
/// (longer values, more upper-layer links) still fits.
const BUILD_MEMORY_MARGIN: f64 = 1.10;

/// `maintenance_work_mem` in MiB for an HNSW build of `input` whose spec names none: the
/// graph's estimate plus [`BUILD_MEMORY_MARGIN`], at most [`BUILD_MEMORY_CAP_MB`], and never
/// less than `server_mb`, the server's own setting.
pub(crate) fn default_build_memory_mb(input: &CapacityInput, server_mb: u64) -> u64 {
    let graph = input.index.as_ref().map_or(0, |spec| {
        hnsw_graph_bytes(input.rows, indexed_value_bytes(input, spec), m_of(spec))
    });
    let wanted = ((graph as f64 * BUILD_MEMORY_MARGIN) as u64).div_ceil(1 << 20);
    wanted.min(BUILD_MEMORY_CAP_MB).max(server_mb)
}

fn build_plan(input: &CapacityInput, notes: &mut Vec<String>) -> Option<BuildPlan> {
    let spec = input.index.as_ref()?;
    let rows = input.rows.max(2) as f64;
    // PostgreSQL's default max_parallel_maintenance_workers is 2; the leader works too.
    let workers = f64::from(spec.parallel_workers.unwrap_or(2) + 1);
    let scale = (f64::from(input.dimension) + 64.0) / (384.0 + 64.0);
    // Unset, the library sizes an HNSW build's memory to its graph (on a server at
    // PostgreSQL's default setting); IVFFlat keeps the server's.
    let memory = match (spec.maintenance_work_mem_mb, spec.method) {
        (Some(mb), _) => u64::from(mb) << 20,
        (None, IndexMethod::IvfFlat) => DEFAULT_BUILD_MEMORY,
        (None, _) => default_build_memory_mb(input, DEFAULT_BUILD_MEMORY >> 20) << 20,
    };
    if spec.method == IndexMethod::IvfFlat {
        // k-means on a sample, then one distance per row and list.
        let core_seconds =
            2.0e-9 * rows * f64::from(spec.lists_for(input.rows)) * f64::from(input.dimension);
        return Some(BuildPlan {
            graph_bytes: 0,
            build_memory: memory,
            fits_in_memory: true,
            core_seconds,
            seconds: core_seconds / workers,
        });
    }
    let graph_bytes = hnsw_graph_bytes(input.rows, indexed_value_bytes(input, spec), m_of(spec));
    let fits = graph_bytes <= memory;
    let ef_construction = f64::from(spec.ef_construction.unwrap_or(64));
    let mut core_seconds = HNSW_BUILD_CORE_SECONDS_100K
        * (rows / 100_000.0).powf(HNSW_BUILD_EXPONENT)
        * (ef_construction / 64.0)
        * scale;
    if !fits {
        // The rows that no longer fit the graph in memory go on at disk speed.
        let outside = 1.0 - memory as f64 / graph_bytes as f64;
        let slowdown = 1.0 + outside * (OUT_OF_MEMORY_SLOWDOWN - 1.0);
        core_seconds *= slowdown;
        notes.push(format!(
            "the HNSW graph ({} MB) does not fit maintenance_work_mem ({} MB): the build goes \
             on on disk, about {slowdown:.1}x slower; give it {} MB",
            graph_bytes >> 20,
            memory >> 20,
            (graph_bytes >> 20) + 1
        ));
    }
    Some(BuildPlan {
        graph_bytes,
        build_memory: memory,
        fits_in_memory: fits,
        core_seconds,
        seconds: core_seconds / workers,
    })
}

/// Milliseconds of one core a search costs: a fixed part (client, protocol, descent) and a
/// part per `ef_search` candidate growing with ln(rows) (fitted: 100,000 × 384, ef 40 and 100
/// at 1,240 and 870 QPS on 2 cores, one client thread per core).
fn search_core_ms(rows: u64, dimension: u32, ef_search: u32) -> f64 {
    let depth = (rows.max(2) as f64).ln() / 100_000f64.ln();
    let scale = (f64::from(dimension) + 64.0) / (384.0 + 64.0);
    1.13 + 0.0117 * f64::from(ef_search) * depth * scale
}

impl Load {
    /// The smallest `ef_search` measured to reach `recall` (recall@10 on the bench's clustered
    /// data at 100,000 rows: 0.91 at 40, 0.97 at 100, 0.99 at 200, 0.995 at 400); `None` above.
    /// Recall depends on the data: measure a collection's own with `index recall`.
    pub fn ef_search_for(recall: f64) -> Option<u32> {
        [(40, 0.91), (100, 0.97), (200, 0.99), (400, 0.995)]
            .into_iter()
            .find(|&(_, reached)| reached >= recall)
            .map(|(ef, _)| ef)
    }
}

fn node_plan(input: &CapacityInput, load: Load, index: u64, notes: &mut Vec<String>) -> NodePlan {
    let qps_per_core = 1000.0 / search_core_ms(input.rows, input.dimension, load.ef_search);
    let qps_per_node = qps_per_core * f64::from(load.cores_per_node.max(1));
    let nodes = (load.target_qps / qps_per_node).ceil().max(1.0) as u32;
    // A node keeps about half its memory for shared_buffers and the page cache of the index.
    let budget = load.memory_per_node / 2;
    let citus_workers = if index > budget && budget > 0 {
        notes.push(format!(
            "the index ({} MB) is more than half a node's memory: with one node it is read from \
             disk; Citus spreads it over {} workers (each search then asks every shard)",
            index >> 20,
            index.div_ceil(budget)
        ));
        u32::try_from(index.div_ceil(budget)).unwrap_or(u32::MAX)
    } else {
        0
    };
    NodePlan {
        qps_per_core,
        qps_per_node,
        replicas: nodes - 1,
        citus_workers,
    }
}

#[cfg(test)]
mod tests;
