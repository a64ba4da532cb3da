//! Which of a request's options had no effect on the path the search took, so the response can
//! say so instead of dropping them silently: `probes` on an HNSW index, `ef_search` on an
//! IVFFlat one, `rerank_factor` without a quantized index, `exact_threshold` when no estimate
//! was asked, and every ANN option on an exact scan.

use serde::Serialize;

use crate::dto::{IndexMethod, SearchSpec};
use crate::repo::search::plan::{Decision, Mode};

/// An option the request set that did not act on this search, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct IgnoredOption {
    /// The option's name in the JSON form (`rerank_factor`, `probes`, …).
    pub option: &'static str,
    /// Why it had no effect, e.g. `the index is not quantized: nothing was re-ranked`.
    pub reason: &'static str,
}

/// Why a search scanned exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ExactBecause {
    /// The request forced it (`exact`).
    Forced,
    /// The collection has no valid ANN index.
    NoIndex,
    /// The filter's estimated matches were below `exact_threshold`.
    FewMatches,
    /// Grouped hits always scan the matching rows.
    Grouped,
    /// PostgreSQL's plan for the ANN statement did not use the index.
    PlannerSkippedIndex,
    /// A filter no payload index serves matched few rows of a sample.
    RareFilter,
}

/// Why a search of `request` on a collection with (`Some`) or without an ANN index took the
/// exact path, had it taken it.
pub(super) fn exact_because(
    request: &SearchSpec,
    ann: Option<IndexMethod>,
    decision: &Decision,
) -> ExactBecause {
    if request.exact {
        ExactBecause::Forced
    } else if ann.is_none() {
        ExactBecause::NoIndex
    } else if decision.unused.is_some() {
        ExactBecause::PlannerSkippedIndex
    } else if decision.rare.is_some() {
        ExactBecause::RareFilter
    } else {
        ExactBecause::FewMatches
    }
}

/// The options of `request` that the path `mode` did not use; `estimated` is whether the
/// planner asked for the filter's estimate (the only use of `exact_threshold`).
pub(super) fn ignored(
    request: &SearchSpec,
    mode: Mode,
    exact_because: ExactBecause,
    estimated: bool,
) -> Vec<IgnoredOption> {
    let set = [
        ("ef_search", request.ef_search.is_some()),
        ("probes", request.probes.is_some()),
        ("iterative", request.iterative.is_some()),
        ("max_scan_tuples", request.max_scan_tuples.is_some()),
        ("rerank_factor", request.rerank_factor.is_some()),
        ("exact_threshold", request.exact_threshold.is_some()),
    ];
    set.into_iter()
        .filter(|(_, set)| *set)
        .filter_map(|(option, _)| {
            let reason = reason(option, mode, exact_because, estimated)?;
            Some(IgnoredOption { option, reason })
        })
        .collect()
}

/// Why `option` had no effect on `mode`, or `None` when it acted.
fn reason(
    option: &str,
    mode: Mode,
    exact_because: ExactBecause,
    estimated: bool,
) -> Option<&'static str> {
    if option == "exact_threshold" {
        return match (estimated, mode, exact_because) {
            (true, ..) => None,
            (false, Mode::Ann(..), _) => {
                Some("no payload index serves a filter of this request: no estimate was asked")
            }
            (false, Mode::Exact, ExactBecause::Forced) => {
                Some("the search was forced exact: no estimate was asked")
            }
            (false, Mode::Exact, ExactBecause::NoIndex) => {
                Some("there is no valid ANN index: no estimate was asked")
            }
            (false, Mode::Exact, ExactBecause::Grouped) => {
                Some("grouped hits scan exactly: no estimate was asked")
            }
            (false, Mode::Exact, ExactBecause::PlannerSkippedIndex) => {
                Some("PostgreSQL's plan did not use the ANN index: no estimate was asked")
            }
            (false, Mode::Exact, ExactBecause::RareFilter) => {
                Some("no payload index serves the filter: its matches were sampled, not estimated")
            }
            (false, Mode::Exact, ExactBecause::FewMatches) => None,
        };
    }
    match mode {
        Mode::Exact => Some(match exact_because {
            ExactBecause::Forced => "the search was forced exact: no index was used",
            ExactBecause::NoIndex => "there is no valid ANN index: the search scanned exactly",
            ExactBecause::FewMatches => {
                "the filter's estimated matches were below exact_threshold: the search scanned \
                 exactly"
            }
            ExactBecause::Grouped => "grouped hits scan the matching rows exactly",
            ExactBecause::PlannerSkippedIndex => {
                "PostgreSQL's plan did not use the ANN index (see the response's advice): the \
                 search scanned exactly"
            }
            ExactBecause::RareFilter => {
                "the filter matched under 1 % of a sample of the rows and no payload index \
                 serves it: the search scanned exactly (see the response's advice)"
            }
        }),
        Mode::Ann(method, quantization) => match option {
            "probes" if method == IndexMethod::Hnsw => {
                Some("the index is HNSW: probes is an IVFFlat setting (use ef_search)")
            }
            "ef_search" if method == IndexMethod::IvfFlat => {
                Some("the index is IVFFlat: ef_search is an HNSW setting (use probes)")
            }
            "rerank_factor" if quantization.is_none() => {
                Some("the index is not quantized: its distances are exact, nothing was re-ranked")
            }
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::Quantization;
    use crate::repo::search::fixtures::request;

    fn options(ignored: &[IgnoredOption]) -> Vec<&'static str> {
        ignored.iter().map(|option| option.option).collect()
    }

    #[test]
    fn an_exact_scan_ignores_every_ann_option_and_says_why() {
        let ask = request(10)
            .with_probes(3)
            .with_rerank_factor(2)
            .with_max_scan_tuples(9);
        let forced = ignored(&ask, Mode::Exact, ExactBecause::Forced, false);
        assert_eq!(
            options(&forced),
            ["probes", "max_scan_tuples", "rerank_factor"]
        );
        assert!(
            forced
                .iter()
                .all(|option| option.reason.contains("forced exact"))
        );
        let grouped = ignored(&ask, Mode::Exact, ExactBecause::Grouped, false);
        assert!(
            grouped
                .iter()
                .all(|option| option.reason.contains("grouped"))
        );
    }

    #[test]
    fn an_index_ignores_the_other_methods_settings_and_rerank_without_quantization() {
        let mut ask = request(10).with_probes(3).with_rerank_factor(2);
        ask.ef_search = Some(80);
        let hnsw = ignored(
            &ask,
            Mode::Ann(IndexMethod::Hnsw, None),
            ExactBecause::Forced,
            false,
        );
        assert_eq!(options(&hnsw), ["probes", "rerank_factor"]);
        let quantized = ignored(
            &ask,
            Mode::Ann(IndexMethod::Hnsw, Some(Quantization::Binary)),
            ExactBecause::Forced,
            false,
        );
        assert_eq!(options(&quantized), ["probes"]);
        let ivfflat = ignored(
            &ask,
            Mode::Ann(IndexMethod::IvfFlat, None),
            ExactBecause::Forced,
            false,
        );
        assert_eq!(options(&ivfflat), ["ef_search", "rerank_factor"]);
    }

    #[test]
    fn exact_threshold_counts_only_where_an_estimate_was_asked() {
        let mut ask = request(10);
        ask.exact_threshold = Some(50);
        let hnsw = Mode::Ann(IndexMethod::Hnsw, None);
        assert!(ignored(&ask, hnsw, ExactBecause::NoIndex, true).is_empty());
        assert!(ignored(&ask, Mode::Exact, ExactBecause::FewMatches, true).is_empty());
        assert_eq!(
            options(&ignored(&ask, Mode::Exact, ExactBecause::NoIndex, false)),
            ["exact_threshold"]
        );
        assert_eq!(
            options(&ignored(&ask, hnsw, ExactBecause::NoIndex, false)),
            ["exact_threshold"]
        );
    }
}
