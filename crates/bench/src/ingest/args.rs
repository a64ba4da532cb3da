//! Arguments of `embedstore-bench ingest`.

use std::path::PathBuf;

use crate::args::{positive, positive_u32};

/// What the ingest benchmark measures and how much of it.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct IngestArgs {
    /// Rows in the generated files.
    #[arg(long, value_name = "N", default_value_t = 200_000, value_parser = positive())]
    pub rows: usize,
    /// Vector dimension.
    #[arg(long, value_name = "N", default_value_t = 384, value_parser = positive_u32())]
    pub dim: u32,
    /// Rounds; each writes every path into fresh collections, in alternating order, and the
    /// best round counts.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = positive())]
    pub rounds: usize,
    /// Rows written by the naive one-INSERT-one-COMMIT loop per round (the first rows of the
    /// data; at most --rows).
    #[arg(long, value_name = "N", default_value_t = 2_000, value_parser = positive())]
    pub naive_sample: usize,
    /// Also ingest an N-row file in insert mode, for its peak RSS (issue 6 asks 1000000)
    /// [default: off].
    #[arg(long, value_name = "N", value_parser = positive())]
    pub rss_rows: Option<usize>,
    /// Passed on to `embedstore ingest --batch-size` [default: the CLI's own].
    #[arg(long, value_name = "N", value_parser = positive())]
    pub batch_size: Option<usize>,
    /// The `embedstore` binary to run [default: the one next to this benchmark].
    #[arg(long, value_name = "PATH", value_parser = non_blank_path)]
    pub embedstore: Option<PathBuf>,
}

impl IngestArgs {
    /// What clap cannot check: the naive sample is the first rows of the data, so it cannot be
    /// larger than the data.
    pub fn check(&self) -> Result<(), String> {
        if self.naive_sample > self.rows {
            return Err(format!(
                "--naive-sample {} is larger than --rows {}: the sample is the first rows of \
                 the data",
                self.naive_sample, self.rows
            ));
        }
        Ok(())
    }
}

/// A path that is not empty or only spaces (taken literally otherwise).
fn non_blank_path(value: &str) -> Result<PathBuf, String> {
    if value.trim().is_empty() {
        return Err("needs a path".to_owned());
    }
    Ok(PathBuf::from(value))
}
