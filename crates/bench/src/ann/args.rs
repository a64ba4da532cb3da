//! Arguments of `embedstore-bench ann`.

use crate::args::{DataArgs, positive};

/// What the search benchmark measures and how much of it.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct AnnArgs {
    /// The data set and the searches.
    #[command(flatten)]
    pub data: DataArgs,
    /// Unmeasured queries per path before each phase.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub warmup: usize,
    /// Latency rounds per phase; the best round of each path is reported.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = positive())]
    pub rounds: usize,
    /// Index builds per progress setting (on and off alternate).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = positive())]
    pub build_rounds: usize,
    /// Queries in one batch search.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = positive())]
    pub batch: usize,
}
