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

#[cfg(test)]
mod tests {
    use clap::error::ErrorKind;

    use super::*;

    /// The words one by one (a path may hold spaces), checked as the command line checks them.
    fn parse_words(words: &[&str]) -> Result<IngestArgs, clap::Error> {
        use clap::{Args, FromArgMatches};
        let command = IngestArgs::augment_args(clap::Command::new("ingest"));
        let line = std::iter::once(&"ingest").chain(words);
        let args = IngestArgs::from_arg_matches(&command.try_get_matches_from(line)?)?;
        args.check()
            .map_err(|message| clap::Error::raw(ErrorKind::ArgumentConflict, message))?;
        Ok(args)
    }

    fn parse(line: &str) -> Result<IngestArgs, clap::Error> {
        parse_words(&line.split_whitespace().collect::<Vec<_>>())
    }

    #[test]
    fn no_arguments_give_the_issue_sizes() {
        assert_eq!(
            parse("").unwrap(),
            IngestArgs {
                rows: 200_000,
                dim: 384,
                rounds: 2,
                naive_sample: 2_000,
                rss_rows: None,
                batch_size: None,
                embedstore: None,
            }
        );
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
        let kind = |words: &[&str]| parse_words(words).unwrap_err().kind();
        assert_eq!(kind(&["--rows"]), ErrorKind::InvalidValue);
        for bad in [
            "0",
            "1e6",
            "ten",
            "99999999999999999999999",
            "5;rm -rf /",
            "'5'",
            " 3 ",
        ] {
            assert_eq!(
                kind(&["--rows", bad]),
                ErrorKind::ValueValidation,
                "{bad:?}"
            );
        }
        assert_eq!(kind(&["--rows="]), ErrorKind::ValueValidation);
        assert_eq!(kind(&["--rows", "--dim"]), ErrorKind::InvalidValue);
        assert_eq!(kind(&["--dim", "5000000000"]), ErrorKind::ValueValidation);
        assert_eq!(kind(&["--queries", "5"]), ErrorKind::UnknownArgument);
        assert_eq!(kind(&["--help"]), ErrorKind::DisplayHelp);
    }

    #[test]
    fn paths_are_taken_literally_and_blank_ones_refused() {
        let path = "/opt/my tools/\"x\"=1/embedstore";
        let args = parse_words(&["--embedstore", path]).unwrap();
        assert_eq!(args.embedstore, Some(PathBuf::from(path)));
        let args = parse_words(&["--embedstore=/a=b/embedstore"]).unwrap();
        assert_eq!(args.embedstore, Some(PathBuf::from("/a=b/embedstore")));
        for blank in [&["--embedstore="][..], &["--embedstore", "  "]] {
            let error = parse_words(blank).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::ValueValidation, "{blank:?}");
            assert!(error.to_string().contains("needs a path"), "{error}");
        }
    }

    #[test]
    fn a_sample_larger_than_the_data_is_refused() {
        let error = parse("--rows 100").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ArgumentConflict);
        let message = error.to_string();
        assert!(
            message.contains("--naive-sample 2000 is larger than --rows 100"),
            "{message}"
        );
        assert_eq!(parse("--rows 100 --naive-sample 100").unwrap().rows, 100);
    }
}
