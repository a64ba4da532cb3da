//! Arguments of `embedstore-bench hot`.

use std::fmt;
use std::time::Duration;

use crate::args::{DataArgs, positive};

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

/// What the hot-path benchmark measures and how much of it.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct HotArgs {
    /// The data set and the searches.
    #[command(flatten)]
    pub data: DataArgs,
    /// Client thread counts of the sweep, comma-separated.
    #[arg(long, value_name = "LIST", default_value = "1,2,4,8,16", value_parser = parse_threads)]
    pub threads: ThreadCounts,
    /// Seconds of one client's turn (a slice): no thread starts a query after them, and a
    /// thread that has sent its whole query order stops sooner.
    #[arg(long, value_name = "S", default_value = "0.5", value_parser = parse_seconds)]
    pub seconds: Duration,
    /// Turns per client in each cell (the three clients rotate which goes first).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = positive())]
    pub rounds: usize,
    /// Unmeasured queries per thread and client before each cell.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub warmup: usize,
    /// Rows of the insert comparison [default: 20000, or --rows when fewer].
    #[arg(long, value_name = "N", value_parser = positive())]
    pub insert_rows: Option<usize>,
    /// Rows per library write (one unit of work each) in the insert comparison.
    #[arg(long, value_name = "N", default_value_t = 1_000, value_parser = positive())]
    pub insert_batch: usize,
    /// Rounds of the insert comparison (alternating order; the best of each path is kept).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = positive())]
    pub insert_rounds: usize,
    /// Exit with status 1 when a target is missed (default: 0, the report says which).
    #[arg(long)]
    pub fail_on_miss: bool,
}

/// Rows of the insert comparison when `--insert-rows` is not given.
pub const DEFAULT_INSERT_ROWS: usize = 20_000;

impl HotArgs {
    /// The rows of the insert comparison: `--insert-rows`, else [`DEFAULT_INSERT_ROWS`] or
    /// `--rows` when fewer (a quick run stays quick).
    pub fn insert_rows(&self) -> usize {
        self.insert_rows
            .unwrap_or_else(|| DEFAULT_INSERT_ROWS.min(self.data.rows))
    }
}

#[cfg(test)]
mod tests {
    use clap::error::ErrorKind;

    use super::*;

    fn parse(words: &[&str]) -> Result<HotArgs, clap::Error> {
        crate::args::parse_as(&words.join(" "))
    }

    #[test]
    fn no_arguments_give_the_full_size_run() {
        let args = parse(&[]).unwrap();
        assert_eq!(
            args,
            HotArgs {
                data: DataArgs {
                    rows: 100_000,
                    dim: 384,
                    queries: 200,
                    k: 10,
                    clusters: 100,
                },
                threads: ThreadCounts(vec![1, 2, 4, 8, 16]),
                seconds: Duration::from_millis(500),
                rounds: 3,
                warmup: 10,
                insert_rows: None,
                insert_batch: 1_000,
                insert_rounds: 3,
                fail_on_miss: false,
            }
        );
    }

    #[test]
    fn insert_rows_default_to_at_most_the_searched_rows() {
        assert_eq!(parse(&[]).unwrap().insert_rows(), 20_000);
        assert_eq!(parse(&["--rows", "300"]).unwrap().insert_rows(), 300);
        let args = parse(&["--rows", "300", "--insert-rows", "50000"]).unwrap();
        assert_eq!(args.insert_rows(), 50_000);
    }

    #[test]
    fn the_quick_run_parses() {
        let args = parse(&[
            "--rows",
            "5000",
            "--queries=50",
            "--threads",
            "1,2",
            "--seconds",
            "0.25",
            "--fail-on-miss",
        ])
        .unwrap();
        assert_eq!((args.data.rows, args.data.queries), (5000, 50));
        assert_eq!(
            args.insert_rows(),
            5000,
            "a quick run inserts no more rows than it searches"
        );
        assert_eq!(args.threads, ThreadCounts(vec![1, 2]));
        assert_eq!(args.seconds, Duration::from_millis(250));
        assert!(args.fail_on_miss);
    }

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

    #[test]
    fn bad_arguments_are_refused() {
        let kind = |words: &[&str]| parse(words).unwrap_err().kind();
        assert_eq!(kind(&["--threads", "1,,2"]), ErrorKind::ValueValidation);
        assert_eq!(kind(&["--threads", "0"]), ErrorKind::ValueValidation);
        assert_eq!(kind(&["--threads", "abc"]), ErrorKind::ValueValidation);
        assert_eq!(kind(&["--threads"]), ErrorKind::InvalidValue);
        assert_eq!(kind(&["--k", "1001"]), ErrorKind::ValueValidation);
        assert_eq!(kind(&["--rows", "0"]), ErrorKind::ValueValidation);
        assert_eq!(kind(&["--seconds", "0"]), ErrorKind::ValueValidation);
        assert_eq!(kind(&["--batch", "5"]), ErrorKind::UnknownArgument);
        assert_eq!(kind(&["--help"]), ErrorKind::DisplayHelp);
        let message = parse(&["--threads", "1,,2"]).unwrap_err().to_string();
        assert!(message.contains("empty item"), "{message}");
    }
}
