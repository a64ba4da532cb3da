//! The command line, the top of the bench: clap derive for the default (insert and search)
//! mode and one subcommand per other mode; the checks clap cannot express are in
//! [`Cli::try_parse_checked`].

use std::ffi::OsString;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};

use crate::ann::args::AnnArgs;
use crate::args::Args;
use crate::hot::args::HotArgs;
use crate::ingest::args::IngestArgs;

/// `embedstore-bench [OPTIONS]`, `embedstore-bench ann [OPTIONS]`,
/// `embedstore-bench ingest [OPTIONS]` or `embedstore-bench hot [OPTIONS]`.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(
    name = "embedstore-bench",
    about = "Measures embedstore's speed against independent baselines measured in the same run",
    long_about = "\
Measures embedstore's speed against independent baselines measured in the same run, in a
throw-away database cloned from the migrated template on TEST_DATABASE_URL / DATABASE_URL.
Ratios matter, not absolute figures.

Without a subcommand: insert and search (issue 2), Embeddings::insert against psql's text
\\copy of the same rows, and UnitOfWork::search against the same SELECT sent through diesel.",
    after_help = "`embedstore-bench ann --help`, `embedstore-bench ingest --help` and \
                  `embedstore-bench hot --help` describe the other benchmarks.",
    args_conflicts_with_subcommands = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// The insert and search mode's options (ignored by the subcommands, which have their own).
    #[command(flatten)]
    pub args: Args,
    /// Another benchmark instead of insert and search.
    #[command(subcommand)]
    pub mode: Option<Mode>,
}

/// The benchmarks other than insert and search.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Mode {
    /// Issue 5's ANN search benchmark: recall, latency, filtered and batch search, index build.
    Ann(AnnArgs),
    /// Issue 6's file-ingest benchmark: `embedstore ingest` against COPY and a naive loop.
    Ingest(IngestArgs),
    /// Issue 12's hot path under concurrency: a thread sweep against a raw prepared-statement
    /// client, and in-memory writes against one binary COPY.
    Hot(HotArgs),
    /// Issue 13's quantized-index benchmark: full precision, half and binary HNSW side by side.
    Quant(crate::quant::QuantArgs),
    /// Issue 13's known-item benchmark: MRR@10 of vector-only, text-only and hybrid search.
    Hybrid(crate::hybrid::HybridArgs),
}

impl Cli {
    /// Parses `arguments` (the program name first) like [`Parser::try_parse_from`], then
    /// refuses the flag combinations clap cannot see (an `ingest --naive-sample` larger than
    /// its `--rows`).
    pub fn try_parse_checked<I, T>(arguments: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let cli = Self::try_parse_from(arguments)?;
        if let Some(Mode::Ingest(args)) = &cli.mode {
            if let Err(message) = args.check() {
                return Err(subcommand_error(
                    "ingest",
                    ErrorKind::ArgumentConflict,
                    message,
                ));
            }
        }
        Ok(cli)
    }
}

/// A clap error shown with the usage of `subcommand` (`embedstore-bench ingest [OPTIONS]`).
fn subcommand_error(subcommand: &str, kind: ErrorKind, message: String) -> clap::Error {
    let mut command = Cli::command();
    // Gives the subcommand its full name for the usage line.
    command.build();
    match command.find_subcommand_mut(subcommand) {
        Some(subcommand) => subcommand.error(kind, message),
        None => command.error(kind, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_checked(std::iter::once("embedstore-bench").chain(line.split_whitespace()))
    }

    fn default_mode(line: &str) -> Args {
        let cli = parse(line).unwrap();
        assert_eq!(cli.mode, None, "{line}");
        cli.args
    }

    /// The kind of error `line` is refused with.
    fn refused(line: &str) -> ErrorKind {
        match parse(line) {
            Ok(cli) => panic!("{line:?} was accepted: {cli:?}"),
            Err(error) => error.kind(),
        }
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_arguments_give_the_defaults() {
        let args = default_mode("");
        assert_eq!(
            args,
            Args {
                rows: 100_000,
                dim: 384,
                queries: 500,
                k: 10,
                batch_size: None,
                rounds: 2,
                warmup: 10,
            }
        );
        assert_eq!(args.insert_mode(), "one write with all rows");
    }

    #[test]
    fn both_flag_forms_are_accepted() {
        let args = default_mode("--rows 2000 --dim=8 --batch-size 500 --warmup 0 --k=5");
        assert_eq!(args.rows, 2000);
        assert_eq!(args.dim, 8);
        assert_eq!(args.k, 5);
        assert_eq!(args.batch_size, Some(500));
        assert_eq!(args.warmup, 0);
        assert_eq!(args.insert_mode(), "4 writes of <= 500 rows");
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert_eq!(refused("--rows"), ErrorKind::InvalidValue);
        assert_eq!(refused("--rows="), ErrorKind::ValueValidation);
        assert_eq!(refused("--k 0"), ErrorKind::ValueValidation);
        assert_eq!(refused("--rows -5"), ErrorKind::UnknownArgument);
        assert_eq!(refused("--queries ten"), ErrorKind::ValueValidation);
        assert_eq!(refused("--dim 5000000000"), ErrorKind::ValueValidation);
        assert_eq!(refused("--nope 1"), ErrorKind::UnknownArgument);
        assert_eq!(refused("-h"), ErrorKind::DisplayHelp);
        assert_eq!(refused("--help"), ErrorKind::DisplayHelp);
        let message = parse("--k 0").unwrap_err().to_string();
        assert!(message.contains("'--k <N>'"), "{message}");
    }

    #[test]
    fn default_mode_flags_do_not_mix_with_a_subcommand() {
        // `--rows` before `ann` was refused as an unknown argument `ann`; it still is refused.
        assert_eq!(refused("--rows 5 ann"), ErrorKind::ArgumentConflict);
        assert_eq!(refused("help"), ErrorKind::InvalidSubcommand);
    }

    #[test]
    fn the_subcommands_parse_their_own_flags() {
        let cli = parse("ann --rows 20000 --clusters=10 --warmup 0 --build-rounds 1").unwrap();
        let Some(Mode::Ann(ann)) = cli.mode else {
            panic!("{cli:?}")
        };
        assert_eq!(
            (
                ann.data.rows,
                ann.data.clusters,
                ann.warmup,
                ann.build_rounds
            ),
            (20_000, 10, 0, 1)
        );
        let cli = parse("ingest --rows 5000 --naive-sample=100").unwrap();
        let Some(Mode::Ingest(ingest)) = cli.mode else {
            panic!("{cli:?}")
        };
        assert_eq!((ingest.rows, ingest.naive_sample), (5000, 100));
        assert_eq!(refused("ann --batch-size 5"), ErrorKind::UnknownArgument);
        assert_eq!(refused("ingest --queries 5"), ErrorKind::UnknownArgument);
        assert_eq!(refused("ann --help"), ErrorKind::DisplayHelp);
        // What clap cannot check is refused with the subcommand's usage line.
        assert_eq!(refused("ingest --rows 100"), ErrorKind::ArgumentConflict);
        let message = parse("ingest --rows 100").unwrap_err().to_string();
        assert!(message.contains("embedstore-bench ingest"), "{message}");
        assert_eq!(refused("ingest -h"), ErrorKind::DisplayHelp);
    }

    #[test]
    fn help_names_every_mode_and_flag() {
        let help = Cli::command().render_long_help().to_string();
        for word in [
            "ann",
            "ingest",
            "--rows",
            "--batch-size",
            "--warmup",
            "[default: 100000]",
        ] {
            assert!(help.contains(word), "{word} missing from:\n{help}");
        }
    }

    /// Every `scripts/dev bench …` command line in the documentation (flags passed on to
    /// `embedstore-bench` unchanged) is still accepted.
    #[test]
    fn documented_command_lines_parse() {
        // Read when the test runs, not compiled in: the crate's build needs no file outside it.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let documents = ["docs/benchmark.md", "BENCHMARKS.md"]
            .map(|name| std::fs::read_to_string(root.join(name)).unwrap());
        const PREFIX: &str = "scripts/dev bench";
        let mut checked = Vec::new();
        for line in documents.iter().flat_map(|text| text.lines()) {
            for (at, _) in line.match_indices(PREFIX) {
                let rest = &line[at + PREFIX.len()..];
                let command = rest.split(['`', '#']).next().unwrap_or_default().trim();
                // Placeholders (`[--rows 20000]`, `…`) are prose, not command lines.
                if command.contains(['[', '…']) {
                    continue;
                }
                match parse(command) {
                    Ok(_) => {}
                    Err(error) if error.kind() == ErrorKind::DisplayHelp => {}
                    Err(error) => panic!("`{PREFIX} {command}` is refused: {error}"),
                }
                checked.push(command.to_owned());
            }
        }
        assert!(
            checked.len() >= 8,
            "too few command lines found: {checked:?}"
        );
        assert!(
            checked
                .iter()
                .any(|command| command.starts_with("ingest --rows"))
        );
        assert!(checked.iter().any(|command| command.starts_with("--rows")));
    }
}
