//! Arguments of `embedstore-bench hot`.

use std::time::Duration;

use crate::args::{DataArgs, positive};
pub use crate::args::{ThreadCounts, parse_seconds, parse_threads};

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
    /// Real embeddings instead of the generated clusters: a directory written by
    /// `scripts/bench-data/real_embeddings.py corpus` (rows.f32, queries.f32, meta.json); the
    /// queries are withheld paragraphs, not stored rows, and each row's `lang`/`shard` is drawn
    /// from a fixed seed (10 % / 1 % per value). `--rows` and `--queries` cap what is read;
    /// `--dim` and `--clusters` are ignored; the insert comparison writes the first rows.
    #[arg(long, value_name = "DIR")]
    pub vectors: Option<std::path::PathBuf>,
    /// `ef_search` values of the single-client recall sweep (raw and `Store::search` at each,
    /// unfiltered), comma-separated, each 1..=1000.
    #[arg(long, value_name = "LIST", value_delimiter = ',',
          default_values_t = [20_u32, 40, 100, 200, 400],
          value_parser = clap::builder::RangedU64ValueParser::<u32>::new().range(1..=1000))]
    pub ef_sweep: Vec<u32>,
    /// With `--builds`: leave out the raw client's two `CREATE INDEX` builds (most of a
    /// million-row run) and compare only the writes and the library's build.
    #[arg(long, requires = "builds")]
    pub no_raw_builds: bool,
    /// With `--builds`: measure only the writes at full size (no index, build or search).
    #[arg(long, requires = "builds")]
    pub writes_only: bool,
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
