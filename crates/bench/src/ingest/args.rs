//! `embedstore-bench ingest …` arguments, parsed by hand like the insert/search mode's.

use std::fmt;
use std::path::PathBuf;

/// What the ingest benchmark measures and how much of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestArgs {
    /// Rows in the generated files.
    pub rows: usize,
    /// Vector dimension.
    pub dim: u32,
    /// Rounds; each writes every path into fresh collections, and the best round counts.
    pub rounds: usize,
    /// Rows written by the naive one-INSERT-one-COMMIT loop per round.
    pub naive_sample: usize,
    /// When set, one more insert-mode ingest of a file this long, for its peak RSS.
    pub rss_rows: Option<usize>,
    /// `--batch-size` passed to `embedstore ingest`; `None` keeps the CLI's default.
    pub batch_size: Option<usize>,
    /// The `embedstore` binary; `None` means the one next to this benchmark.
    pub embedstore: Option<PathBuf>,
}

impl Default for IngestArgs {
    fn default() -> Self {
        Self {
            rows: 200_000,
            dim: 384,
            rounds: 2,
            naive_sample: 2_000,
            rss_rows: None,
            batch_size: None,
            embedstore: None,
        }
    }
}

/// The usage text of the ingest mode.
pub const INGEST_USAGE: &str = "\
usage: embedstore-bench ingest [--rows N] [--dim N] [--rounds N] [--naive-sample N]
                               [--rss-rows N] [--batch-size N] [--embedstore PATH]

Measures `embedstore ingest` (.npy + JSONL files, run as a subprocess) against a raw binary
COPY of the same rows (the ceiling), psql's text COPY and one INSERT + COMMIT per row, in a
throw-away database on TEST_DATABASE_URL / DATABASE_URL. Ratios matter, not absolute figures.

  --rows N          rows in the generated files               (default 200000)
  --dim N           vector dimension                          (default 384)
  --rounds N        rounds, alternating order, best kept      (default 2)
  --naive-sample N  rows of the one-INSERT-per-row loop       (default 2000)
  --rss-rows N      also ingest an N-row file for peak RSS    (default: off; issue 6 asks 1000000)
  --batch-size N    passed on to embedstore ingest            (default: the CLI's own)
  --embedstore PATH the CLI binary                            (default: next to this one)";

/// Why the arguments were refused, or a request for help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestArgsError {
    /// `--help` or `-h` was given.
    Help,
    /// An argument that is not one of ours.
    Unknown(String),
    /// A flag without its value.
    MissingValue(&'static str),
    /// A value that is not a positive integer (or, for `--embedstore`, an empty path).
    BadValue {
        /// The flag.
        flag: &'static str,
        /// The text given.
        value: String,
    },
    /// A naive sample larger than the data.
    SampleTooLarge {
        /// `--naive-sample`.
        sample: usize,
        /// `--rows`.
        rows: usize,
    },
}

impl fmt::Display for IngestArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IngestArgsError::Help => f.write_str("help requested"),
            IngestArgsError::Unknown(argument) => write!(f, "unknown argument {argument:?}"),
            IngestArgsError::MissingValue(flag) => write!(f, "{flag} needs a value"),
            IngestArgsError::BadValue { flag, value } if *flag == "--embedstore" => {
                write!(f, "{flag} needs a path, got {value:?}")
            }
            IngestArgsError::BadValue { flag, value } => {
                write!(f, "{flag} needs a positive integer, got {value:?}")
            }
            IngestArgsError::SampleTooLarge { sample, rows } => write!(
                f,
                "--naive-sample {sample} is larger than --rows {rows}: the sample is the \
                 first rows of the data"
            ),
        }
    }
}

impl std::error::Error for IngestArgsError {}

impl From<crate::args::ArgsError> for IngestArgsError {
    fn from(error: crate::args::ArgsError) -> Self {
        match error {
            crate::args::ArgsError::Help => IngestArgsError::Help,
            crate::args::ArgsError::Unknown(argument) => IngestArgsError::Unknown(argument),
            crate::args::ArgsError::MissingValue(flag) => IngestArgsError::MissingValue(flag),
            crate::args::ArgsError::BadValue { flag, value } => {
                IngestArgsError::BadValue { flag, value }
            }
        }
    }
}

impl IngestArgs {
    /// Parses `--flag value` and `--flag=value` pairs (after the word `ingest`).
    ///
    /// # Errors
    /// [`IngestArgsError`] for unknown flags, missing values, numbers that are not positive
    /// integers, and a naive sample larger than the data.
    pub fn parse(arguments: impl IntoIterator<Item = String>) -> Result<Self, IngestArgsError> {
        let mut args = IngestArgs::default();
        let mut arguments = arguments.into_iter();
        const FLAGS: [&str; 7] = [
            "--rows",
            "--dim",
            "--rounds",
            "--naive-sample",
            "--rss-rows",
            "--batch-size",
            "--embedstore",
        ];
        while let Some(pair) = crate::args::next_flag(&mut arguments, &FLAGS) {
            let (flag, value) = pair?;
            if flag == "--embedstore" {
                if value.trim().is_empty() {
                    return Err(IngestArgsError::BadValue { flag, value });
                }
                args.embedstore = Some(PathBuf::from(value));
                continue;
            }
            let number = positive(flag, &value)?;
            match flag {
                "--rows" => args.rows = number,
                "--dim" => {
                    args.dim = u32::try_from(number)
                        .map_err(|_| IngestArgsError::BadValue { flag, value })?;
                }
                "--rounds" => args.rounds = number,
                "--naive-sample" => args.naive_sample = number,
                "--rss-rows" => args.rss_rows = Some(number),
                _ => args.batch_size = Some(number),
            }
        }
        if args.naive_sample > args.rows {
            return Err(IngestArgsError::SampleTooLarge {
                sample: args.naive_sample,
                rows: args.rows,
            });
        }
        Ok(args)
    }
}

fn positive(flag: &'static str, value: &str) -> Result<usize, IngestArgsError> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|number| *number > 0)
        .ok_or_else(|| IngestArgsError::BadValue {
            flag,
            value: value.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<IngestArgs, IngestArgsError> {
        IngestArgs::parse(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn no_arguments_give_the_issue_sizes() {
        let args = parse("").unwrap();
        assert_eq!(args, IngestArgs::default());
        assert_eq!(
            (args.rows, args.dim, args.naive_sample),
            (200_000, 384, 2_000)
        );
        assert_eq!(args.rss_rows, None);
    }

    #[test]
    fn both_flag_forms_are_accepted() {
        let args = parse(
            "--rows 5000 --dim=8 --rounds 3 --naive-sample=100 --rss-rows 1000000 \
             --batch-size 512 --embedstore=/opt/x/embedstore",
        )
        .unwrap();
        assert_eq!(args.rows, 5000);
        assert_eq!(args.dim, 8);
        assert_eq!(args.rounds, 3);
        assert_eq!(args.naive_sample, 100);
        assert_eq!(args.rss_rows, Some(1_000_000));
        assert_eq!(args.batch_size, Some(512));
        assert_eq!(args.embedstore, Some(PathBuf::from("/opt/x/embedstore")));
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert_eq!(
            parse("--rows"),
            Err(IngestArgsError::MissingValue("--rows"))
        );
        for bad in ["0", "-5", "1e6", "ten", "99999999999999999999999"] {
            assert_eq!(
                parse(&format!("--rows {bad}")),
                Err(IngestArgsError::BadValue {
                    flag: "--rows",
                    value: bad.to_owned()
                })
            );
        }
        assert_eq!(
            parse("--dim 5000000000"),
            Err(IngestArgsError::BadValue {
                flag: "--dim",
                value: "5000000000".to_owned()
            })
        );
        assert_eq!(
            parse("--queries 5"),
            Err(IngestArgsError::Unknown("--queries".to_owned()))
        );
        assert_eq!(parse("--help"), Err(IngestArgsError::Help));
    }

    #[test]
    fn spaced_quoted_and_hostile_values_are_taken_literally_or_refused() {
        let owned =
            |words: &[&str]| -> Vec<String> { words.iter().map(|w| w.to_string()).collect() };
        let args = IngestArgs::parse(owned(&["--embedstore", "/opt/my tools/\"x\"=1/embedstore"]))
            .unwrap();
        assert_eq!(
            args.embedstore,
            Some(PathBuf::from("/opt/my tools/\"x\"=1/embedstore"))
        );
        let args = IngestArgs::parse(owned(&["--embedstore=/a=b/embedstore"])).unwrap();
        assert_eq!(args.embedstore, Some(PathBuf::from("/a=b/embedstore")));
        assert_eq!(
            IngestArgs::parse(owned(&["--rows", " 3000 "]))
                .unwrap()
                .rows,
            3000
        );
        for hostile in [
            &["--rows="][..],
            &["--rows", "5;rm -rf /"],
            &["--rows", "'5'"],
            &["--rows", "--dim"],
        ] {
            let error = IngestArgs::parse(owned(hostile)).unwrap_err();
            assert!(
                matches!(error, IngestArgsError::BadValue { flag: "--rows", .. }),
                "{hostile:?}: {error}"
            );
        }
        for empty in [&["--embedstore="][..], &["--embedstore", "  "]] {
            let error = IngestArgs::parse(owned(empty)).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!(
                    "--embedstore needs a path, got {:?}",
                    empty.last().unwrap().trim_start_matches("--embedstore=")
                )
            );
        }
    }

    #[test]
    fn a_sample_larger_than_the_data_is_refused() {
        let error = parse("--rows 100").unwrap_err();
        assert_eq!(
            error,
            IngestArgsError::SampleTooLarge {
                sample: 2000,
                rows: 100
            }
        );
        assert!(error.to_string().contains("--naive-sample 2000"));
        assert!(parse("--rows 100 --naive-sample 100").is_ok());
    }
}
