//! Nearest-neighbour, full-text and hybrid search: the planner, the statements it picks
//! between, and what it remembers.
//!
//! A search is a [`Search`] value (the connection, the collection, its index facts, the
//! request, whether a transaction is open, the planner's memory); [`Search::run_many`] asks
//! what shape the request has and runs that shape's statement(s). Every statement is built as
//! an [`SqlBuilder`](crate::sql::SqlBuilder) from a [`Target`](context::Target) alone (no connection), then run;
//! each shape's SQL has unit tests beside its builder.
//!
//! The statement shapes, and the file that renders each:
//!
//! | shape | statement | file |
//! | --- | --- | --- |
//! | **ANN** | `ORDER BY embedding::vector(N) <op> $q LIMIT k` — the index's own expression — with pgvector's settings set *inside* the statement (below). Unfiltered, it runs prepared: the collection id a catalog literal, a constant inner `LIMIT` under `LIMIT $k` ([`plan::plan_limit`]) | `vector.rs`, settings in `plan.rs` |
//! | **quantized ANN** (index on `halfvec(N)` or `binary_quantize(embedding)::bit(N)`) | the index's expression picks `k * rerank_factor` candidates (inner `LIMIT`), each with its exact distance on the stored column; the statement around it re-ranks them by that distance and keeps `k` | `vector.rs` |
//! | **exact** | `ORDER BY embedding <op> $q, id` on the untyped column, which no ANN index serves: exact by construction (a payload index still narrows the rows) | `vector.rs` |
//! | **filtered ANN** and its **exact fallback** | the ANN statement's index walk in order, fenced by `OFFSET 0`, with the filter above it (`WHERE f.keep`), so its plan is the index scan without planner settings; when it yields fewer than `k` rows the exact statement answers | `vector.rs`; the fallback run by `nearest.rs` |
//! | **keyset page** (`after`) | any of the above with `(distance, id) > ($d, $id)` | `vector.rs` |
//! | **batch** | one statement for a query array: `unnest($qs) WITH ORDINALITY CROSS JOIN LATERAL (…)`, the settings above the join | `vector.rs` |
//! | **grouped hits** | an exact scan; `row_number`/`min` over each group, `dense_rank` over the groups | `grouped.rs` |
//! | **text only** | matching rows (`@@ websearch_to_tsquery`) ranked by `ts_rank_cd` | `text.rs` |
//! | **hybrid RRF** | CTEs for the vector side (any vector shape above) and the text side, numbered by `row_number()`, fused by a `FULL JOIN` on id | `text.rs` |
//! | **MMR's candidates** | the vector shapes above for `fetch_k` rows with their vectors; MMR picks `k` of them in Rust | `mmr.rs` |
//! | **filter estimate** | `EXPLAIN (FORMAT JSON) SELECT 1 … WHERE <filter>`: the planner's estimate, asked only for a filter a payload index serves | `plan.rs` |
//! | **plan verdict** | `EXPLAIN (FORMAT JSON)` of an ANN statement shape with its parameters, under its settings: does the plan scan the ANN index? Once per shape and statistics stamp; if not, the exact statement runs and the response says why | `verdict.rs` |
//! | **filter sample** | `count(*) FILTER (WHERE <filter>), count(*) … TABLESAMPLE SYSTEM (p) REPEATABLE`: the fraction a filter no payload index serves matches (below 1 %: exact scan, payload index advised) | `rare.rs` |
//! | **explain** | `EXPLAIN` of the main statement of the shape the planner picks | `explain.rs` |
//! | **recall sample** | `ORDER BY random() LIMIT $n` over the stored vectors: the queries of a sampled recall measurement | `sample.rs` |
//!
//! **Settings inside the statement.** pgvector's settings (`ef_search`, iterative scan,
//! `max_scan_tuples`, `probes`) are an uncorrelated sub-select `(SELECT
//! set_config(…, true)) IS NOT NULL`: PostgreSQL evaluates it once, as a one-time filter above
//! the index scan, before the scan reads its first tuple, and `is_local = true` ends the
//! setting with the statement's transaction. So a search outside a unit of work is one round
//! trip and leaves nothing on the pooled connection.
//!
//! **The planner** (`plan.rs`) picks the path: exact when asked or without a valid ANN index;
//! with a filter a payload index serves, it asks PostgreSQL's estimate of the matching rows
//! and scans those exactly when they are few; otherwise it walks the ANN index with iterative
//! scan on and completes a short answer exactly, so a search returns `k` rows whenever `k`
//! rows match. A filter no payload index serves is sampled instead: under 1 % of the rows it
//! is scanned exactly. The ANN path then stands only if PostgreSQL's plan of the statement
//! scans the index (`verdict.rs`): the reported path is the plan.
//!
//! The other files: `context.rs` the [`Search`] value, the [`Target`](context::Target) and
//! the request's shape; `nearest.rs` runs the plain search (one statement for every query,
//! the exact fallback per short query); `response.rs` the public response types and the row
//! every statement returns; `advice.rs` the public `SearchAdvice`; `memory.rs` what the planner remembers between searches ([`PlannerMemory`]:
//! index facts, filter estimates, plan verdicts, which texts run prepared — what, for how long, when
//! forgotten); `fixtures.rs` (tests only) the hand-made collection and requests the statement
//! tests build from.

mod advice;
mod context;
mod explain;
mod grouped;
mod ignored;
mod memory;
mod mmr;
mod nearest;
mod plan;
mod rare;
mod response;
mod sample;
mod text;
mod vector;
mod verdict;

use std::borrow::Cow;

use crate::dto::conform;
use crate::error::Result;
use crate::models::Collection;
use crate::repo::collections::ensure_partition;
use crate::vector::VectorValue;

pub use advice::{IndexNotUsedReason, SearchAdvice};
pub use ignored::IgnoredOption;
pub use response::{AppliedSetting, SearchHit, SearchPath, SearchResponse};

pub(crate) use context::Search;
pub(crate) use memory::PlannerMemory;
pub(crate) use sample::sample;

use context::Shape;

impl Search<'_> {
    /// Runs the search for the request's own vector.
    pub(crate) fn run(self) -> Result<SearchResponse> {
        let query = std::slice::from_ref(&self.request.vector);
        let mut responses = self.run_many(query)?;
        Ok(responses.remove(0))
    }

    /// Runs the same search for every vector of `queries` (each already validated), one
    /// response per query in order: plain searches in one statement (queries the ANN path left
    /// short answered again exactly, one by one), the other shapes one statement per query.
    pub(crate) fn run_many(mut self, queries: &[VectorValue]) -> Result<Vec<SearchResponse>> {
        let queries = conformed(self.collection, queries);
        let queries = queries.as_ref();
        let responses = match Shape::of(self.request) {
            Shape::Text => text::run(&mut self, queries)?,
            Shape::Grouped => grouped::run(&mut self, queries)?,
            Shape::Mmr => mmr::run(&mut self, queries)?,
            Shape::Nearest => nearest::run(&mut self, queries)?,
        };
        if responses.iter().all(|response| response.hits.is_empty()) {
            // An empty answer may mean the handle outlived its collection: say so.
            ensure_partition(self.conn, self.collection)?;
        }
        Ok(responses)
    }

    /// The server's `EXPLAIN` of the main statement [`Search::run`] would send (the one the
    /// planner picks; a filter's estimate is asked first to decide).
    pub(crate) fn explain(mut self) -> Result<String> {
        explain::run(&mut self)
    }
}

/// The query vectors in the form the collection stores (a dense query of 0s and 1s for a bit
/// collection becomes bits, a dense one for a sparse collection its non-zeros); borrowed when
/// they already are.
fn conformed<'a>(collection: &Collection, queries: &'a [VectorValue]) -> Cow<'a, [VectorValue]> {
    if queries
        .iter()
        .all(|query| query.is_empty() || query.kind() == collection.kind)
    {
        Cow::Borrowed(queries)
    } else {
        Cow::Owned(
            queries
                .iter()
                .map(|query| conform(query.clone(), collection.kind))
                .collect(),
        )
    }
}

#[cfg(test)]
pub(crate) mod fixtures;
