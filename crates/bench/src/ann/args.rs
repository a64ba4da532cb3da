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

#[cfg(test)]
mod tests {
    use clap::error::ErrorKind;

    use super::*;

    fn parse(line: &str) -> Result<AnnArgs, clap::Error> {
        crate::args::parse_as(line)
    }

    #[test]
    fn no_arguments_give_the_full_size_run() {
        assert_eq!(
            parse("").unwrap(),
            AnnArgs {
                data: DataArgs {
                    rows: 100_000,
                    dim: 384,
                    queries: 200,
                    k: 10,
                    clusters: 100,
                },
                warmup: 20,
                rounds: 3,
                build_rounds: 2,
                batch: 100,
            }
        );
    }

    #[test]
    fn both_flag_forms_are_accepted() {
        let args = parse("--rows 20000 --clusters=10 --warmup 0 --build-rounds 1 --batch=7 --k 3")
            .unwrap();
        assert_eq!(args.data.rows, 20_000);
        assert_eq!(args.data.clusters, 10);
        assert_eq!(args.warmup, 0);
        assert_eq!(args.build_rounds, 1);
        assert_eq!(args.batch, 7);
        assert_eq!(args.data.k, 3);
    }

    #[test]
    fn bad_arguments_are_refused() {
        let kind = |line: &str| parse(line).unwrap_err().kind();
        assert_eq!(kind("--batch"), ErrorKind::InvalidValue);
        assert_eq!(kind("--rounds 0"), ErrorKind::ValueValidation);
        assert_eq!(kind("--dim 99999999999"), ErrorKind::ValueValidation);
        assert_eq!(kind("--batch-size 5"), ErrorKind::UnknownArgument);
        assert_eq!(kind("--help"), ErrorKind::DisplayHelp);
    }
}
