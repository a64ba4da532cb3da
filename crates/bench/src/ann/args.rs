//! Arguments of `embedstore-bench ann`, parsed by hand like the insert/search mode's.

use crate::args::ArgsError;

/// What the search benchmark measures and how much of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnArgs {
    /// Rows in the collection.
    pub rows: usize,
    /// Vector dimension.
    pub dim: u32,
    /// Measured queries per round and path.
    pub queries: usize,
    /// Neighbours per search.
    pub k: u32,
    /// Centroids the rows bunch around.
    pub clusters: usize,
    /// Unmeasured queries per path before each phase.
    pub warmup: usize,
    /// Latency rounds per phase; the best round of each path is reported.
    pub rounds: usize,
    /// Index builds per progress setting (on and off alternate).
    pub build_rounds: usize,
    /// Queries in one batch search.
    pub batch: usize,
}

impl Default for AnnArgs {
    fn default() -> Self {
        Self {
            rows: 100_000,
            dim: 384,
            queries: 200,
            k: 10,
            clusters: 100,
            warmup: 20,
            rounds: 3,
            build_rounds: 2,
            batch: 100,
        }
    }
}

/// Usage of the `ann` mode.
pub const ANN_USAGE: &str = "\
usage: embedstore-bench ann [--rows N] [--dim N] [--queries N] [--k N] [--clusters N]
                            [--warmup N] [--rounds N] [--build-rounds N] [--batch N]

Measures embedstore's ANN search (HNSW m=16, ef_construction=64, cosine) against hand-written
pgvector SQL sent through the same driver, in one run on a throw-away database: recall@k and
latency at ef_search 40 and 100, filtered search at 10 % and 1 % selectivity, batch search,
and index build time with progress reporting on and off.

  --rows N          rows in the collection                 (default 100000)
  --dim N           vector dimension                       (default 384)
  --queries N       measured queries per round and path    (default 200)
  --k N             neighbours per search                  (default 10)
  --clusters N      centroids the rows bunch around        (default 100)
  --warmup N        unmeasured queries per path and phase  (default 20)
  --rounds N        latency rounds per phase, best kept    (default 3)
  --build-rounds N  index builds per progress setting      (default 2)
  --batch N         queries per batch search               (default 100)";

impl AnnArgs {
    /// Parses `--flag value` and `--flag=value` pairs (after the word `ann`).
    ///
    /// # Errors
    /// [`ArgsError`] for unknown flags, missing values, and values that are not positive
    /// integers (`--warmup` may be 0).
    pub fn parse(arguments: impl IntoIterator<Item = String>) -> Result<Self, ArgsError> {
        let mut args = AnnArgs::default();
        let mut arguments = arguments.into_iter();
        const FLAGS: [&str; 9] = [
            "--rows",
            "--dim",
            "--queries",
            "--k",
            "--clusters",
            "--warmup",
            "--rounds",
            "--build-rounds",
            "--batch",
        ];
        while let Some(pair) = crate::args::next_flag(&mut arguments, &FLAGS) {
            let (flag, value) = pair?;
            let minimum = usize::from(flag != "--warmup");
            let number = value
                .parse::<usize>()
                .ok()
                .filter(|number| *number >= minimum)
                .ok_or_else(|| ArgsError::BadValue {
                    flag,
                    value: value.clone(),
                })?;
            let small = || {
                u32::try_from(number).map_err(|_| ArgsError::BadValue {
                    flag,
                    value: value.clone(),
                })
            };
            match flag {
                "--rows" => args.rows = number,
                "--dim" => args.dim = small()?,
                "--queries" => args.queries = number,
                "--k" => args.k = small()?,
                "--clusters" => args.clusters = number,
                "--warmup" => args.warmup = number,
                "--rounds" => args.rounds = number,
                "--build-rounds" => args.build_rounds = number,
                _ => args.batch = number,
            }
        }
        Ok(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<AnnArgs, ArgsError> {
        AnnArgs::parse(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn no_arguments_give_the_full_size_run() {
        let args = parse("").unwrap();
        assert_eq!(
            (args.rows, args.dim, args.k, args.clusters),
            (100_000, 384, 10, 100)
        );
    }

    #[test]
    fn both_flag_forms_are_accepted() {
        let args = parse("--rows 20000 --clusters=10 --warmup 0 --build-rounds 1").unwrap();
        assert_eq!(args.rows, 20_000);
        assert_eq!(args.clusters, 10);
        assert_eq!(args.warmup, 0);
        assert_eq!(args.build_rounds, 1);
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert_eq!(parse("--batch"), Err(ArgsError::MissingValue("--batch")));
        assert_eq!(
            parse("--rounds 0"),
            Err(ArgsError::BadValue {
                flag: "--rounds",
                value: "0".to_owned()
            })
        );
        assert_eq!(
            parse("--dim 99999999999"),
            Err(ArgsError::BadValue {
                flag: "--dim",
                value: "99999999999".to_owned()
            })
        );
        assert_eq!(
            parse("--batch-size 5"),
            Err(ArgsError::Unknown("--batch-size".to_owned()))
        );
        assert_eq!(parse("--help"), Err(ArgsError::Help));
    }
}
