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
    /// Also measure at the collection's size: the bulk ingest from memory (which then loads
    /// the collection) and from a `.npy` + JSONL file against one binary COPY, and the HNSW
    /// build with the library's defaults against raw `CREATE INDEX` with the same settings and
    /// with pgvector's (issue 20 item 4, issue 23). Takes a second copy of the rows.
    #[arg(long)]
    pub builds: bool,
    /// Seconds the pgvector-defaults build may take before it is cancelled and reported as
    /// such (with `--builds`: a graph beyond 64 MB is built on disk, many times slower).
    #[arg(long, value_name = "S", default_value = "900", value_parser = parse_seconds)]
    pub defaults_build_limit: Duration,
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
