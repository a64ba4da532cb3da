//! Arguments shared by the modes (the bottom layer: it imports no mode): the value parsers and
//! the default mode's options.

use std::fmt;
use std::time::Duration;

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

/// The clustered data set of the `ann`, `hot` and `quant` modes ([`embedstore_test_support::dataset::Dataset`]) and
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

/// Most client threads one sweep step may use: the library and the baseline each open this
/// many connections at once, and PostgreSQL's default `max_connections` is 100.
pub const MAX_THREADS: usize = 40;

/// The thread counts of the sweep, ascending, each once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadCounts(pub Vec<usize>);

impl fmt::Display for ThreadCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<String> = self.0.iter().map(usize::to_string).collect();
        f.write_str(&texts.join(","))
    }
}

/// Parses `--threads`: comma-separated positive integers up to [`MAX_THREADS`], spaces around
/// each allowed, no empty item, no repeat; returned ascending.
pub fn parse_threads(text: &str) -> Result<ThreadCounts, String> {
    let mut counts = Vec::new();
    for item in text.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(format!(
                "empty item in {text:?}: give thread counts like 1,2,4,8,16"
            ));
        }
        let count: usize = item
            .parse()
            .map_err(|_| format!("{item:?} is not a whole number of threads"))?;
        if count == 0 || count > MAX_THREADS {
            return Err(format!(
                "{count} threads: each count must be 1..={MAX_THREADS}"
            ));
        }
        if counts.contains(&count) {
            return Err(format!("{count} threads is listed twice"));
        }
        counts.push(count);
    }
    counts.sort_unstable();
    Ok(ThreadCounts(counts))
}

/// Parses `--seconds`: a positive, finite number of seconds up to an hour.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if seconds.is_finite() && seconds > 0.0 && seconds <= 3600.0 {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(format!("{text:?}: seconds must be > 0 and <= 3600"))
    }
}

/// Parses `line` (split at whitespace) as one mode's options, as the command line would (for
/// the modes' tests, which thereby need not import the command line above them).
#[cfg(test)]
pub fn parse_as<A: clap::Args + clap::FromArgMatches>(line: &str) -> Result<A, clap::Error> {
    let command = A::augment_args(clap::Command::new("embedstore-bench-mode"));
    let words = std::iter::once("embedstore-bench-mode").chain(line.split_whitespace());
    A::from_arg_matches_mut(&mut command.try_get_matches_from(words)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_lists_are_trimmed_sorted_and_checked() {
        assert_eq!(parse_threads(" 1, 2"), Ok(ThreadCounts(vec![1, 2])));
        assert_eq!(parse_threads("16,4 ,1"), Ok(ThreadCounts(vec![1, 4, 16])));
        assert_eq!(parse_threads("40"), Ok(ThreadCounts(vec![40])));
        for (hostile, says) in [
            ("0", "1..=40"),
            ("41", "1..=40"),
            ("1,,2", "empty item"),
            ("1,2,", "empty item"),
            ("", "empty item"),
            (" ", "empty item"),
            ("abc", "not a whole number"),
            ("-1", "not a whole number"),
            ("1.5", "not a whole number"),
            ("2,2", "twice"),
            ("99999999999999999999999", "not a whole number"),
        ] {
            let error = parse_threads(hostile).unwrap_err();
            assert!(error.contains(says), "{hostile:?}: {error}");
        }
        assert_eq!(ThreadCounts(vec![1, 2, 16]).to_string(), "1,2,16");
    }

    #[test]
    fn seconds_must_be_positive_and_finite() {
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_seconds(" 2 "), Ok(Duration::from_secs(2)));
        for hostile in ["0", "-1", "NaN", "inf", "1e9", "", "soon"] {
            assert!(parse_seconds(hostile).is_err(), "{hostile:?} was accepted");
        }
    }
}
