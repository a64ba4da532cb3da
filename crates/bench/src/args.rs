//! Arguments shared by the modes (the bottom layer: it imports no mode): the value parsers and
//! the default mode's options.

use clap::builder::RangedU64ValueParser;

/// The insert and search mode: what to measure and how much of it.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct Args {
    /// Rows per insert measurement.
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = positive())]
    pub rows: usize,
    /// Vector dimension.
    #[arg(long, value_name = "N", default_value_t = 384, value_parser = positive_u32())]
    pub dim: u32,
    /// Measured searches per path.
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = positive())]
    pub queries: usize,
    /// Neighbours per search.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = positive_u32())]
    pub k: u32,
    /// Rows per library write [default: all rows in one write].
    #[arg(long, value_name = "N", value_parser = positive())]
    pub batch_size: Option<usize>,
    /// Insert rounds per path, each into fresh collections; the best is kept.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = positive())]
    pub rounds: usize,
    /// Unmeasured searches per path before the measured ones.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub warmup: usize,
}

impl Args {
    /// How the library insert is split, for the report.
    pub fn insert_mode(&self) -> String {
        match self.batch_size {
            Some(size) if size < self.rows => {
                format!("{} writes of <= {size} rows", self.rows.div_ceil(size))
            }
            _ => "one write with all rows".to_owned(),
        }
    }
}

/// The clustered data set of the `ann`, `hot` and `quant` modes ([`crate::data::Dataset`]) and
/// the searches asked of it: declared once, flattened into each mode's options.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct DataArgs {
    /// Rows in the searched collection.
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = positive())]
    pub rows: usize,
    /// Vector dimension.
    #[arg(long, value_name = "N", default_value_t = 384, value_parser = positive_u32())]
    pub dim: u32,
    /// Measured queries per round (each thread's query set in `hot`).
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = positive())]
    pub queries: usize,
    /// Neighbours per search (1..=1000, the library's range).
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = RangedU64ValueParser::<u32>::new().range(1..=1000))]
    pub k: u32,
    /// Centroids the rows bunch around.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = positive())]
    pub clusters: usize,
}

/// A positive integer that fits in `usize`; refuses 0, negatives and text.
pub fn positive() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(1..)
}

/// A positive integer that fits in `u32` (`--dim`, `--k`).
pub fn positive_u32() -> RangedU64ValueParser<u32> {
    RangedU64ValueParser::new().range(1..=u64::from(u32::MAX))
}

/// Parses `line` (split at whitespace) as one mode's options, as the command line would (for
/// the modes' tests, which thereby need not import the command line above them).
#[cfg(test)]
pub fn parse_as<A: clap::Args + clap::FromArgMatches>(line: &str) -> Result<A, clap::Error> {
    let command = A::augment_args(clap::Command::new("embedstore-bench-mode"));
    let words = std::iter::once("embedstore-bench-mode").chain(line.split_whitespace());
    A::from_arg_matches_mut(&mut command.try_get_matches_from(words)?)
}
