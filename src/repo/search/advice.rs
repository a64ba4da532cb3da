//! Advice on a search's plan, public on
//! [`SearchResponse::advice`](crate::SearchResponse::advice) and in `index health`: an ANN index PostgreSQL's plan passed over (`verdict.rs`), a rare
//! filter no payload index serves (`rare.rs`).

use serde::Serialize;

/// Advice on a search's plan ([`SearchResponse::advice`](crate::SearchResponse::advice)); its
/// `Display` is the sentence the CLI prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SearchAdvice {
    /// The collection has a valid ANN index, but PostgreSQL's plan for this search's statement
    /// does not use it: the search ran as the exact scan the planner chose, and says so
    /// ([`SearchPath::Exact`](crate::SearchPath::Exact)).
    IndexNotUsed {
        /// The index's name.
        index: String,
        /// Why the planner passed it over.
        reason: IndexNotUsedReason,
    },
    /// The filter matches few of the collection's rows and no payload index serves it: the
    /// search scanned every row exactly (walking the ANN graph for so few matches costs
    /// more); a payload index on `field` would read only the matching rows.
    PayloadIndex {
        /// The filtered field (`doc`, `a.b`) a payload index should be created on.
        field: String,
        /// The estimated fraction of the collection's rows that match the filter, from a
        /// sample of the rows.
        estimated_fraction: f64,
    },
}

/// Why PostgreSQL's plan did not use a valid ANN index ([`SearchAdvice::IndexNotUsed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IndexNotUsedReason {
    /// The collection's partition has no statistics (never analyzed): the planner guesses it
    /// holds a handful of rows and sorts them. `ANALYZE` of the partition fixes it; embedstore
    /// runs it after bulk writes and index builds, so this is seen after writes by other
    /// clients or a failed analyze.
    NoStatistics,
    /// With statistics, the planner estimates that scanning and sorting the rows costs less
    /// than walking the index (a small collection): the exact answer is also the fast one.
    ScanIsCheaper,
}

impl std::fmt::Display for SearchAdvice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::IndexNotUsed { index, reason } => match reason {
                IndexNotUsedReason::NoStatistics => write!(
                    f,
                    "index {index} is present but not used by the planner: the partition was \
                     never analyzed (ANALYZE it)"
                ),
                IndexNotUsedReason::ScanIsCheaper => write!(
                    f,
                    "index {index} is present but not used by the planner: it prefers a \
                     sequential scan at this size"
                ),
            },
            Self::PayloadIndex {
                field,
                estimated_fraction,
            } => write!(
                f,
                "a payload index on `{field}` would make this filter exact without scanning \
                 every row (about {:.2} % of the rows match)",
                estimated_fraction * 100.0
            ),
        }
    }
}
