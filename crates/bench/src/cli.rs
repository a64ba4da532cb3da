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
    /// Issue 23's replica benchmark: read QPS with 0, 1 and 2 streaming replicas (private
    /// clusters on loopback) and the cost of read-your-writes.
    Replicas(crate::replicas::ReplicaArgs),
    /// Issue 24's Citus benchmark: by collection (raw and `Store::search`), one collection
    /// spread over all shards, and by tenant, on a running Citus cluster on loopback.
    Citus(crate::citus::CitusArgs),
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
    use std::path::PathBuf;
    use std::time::Duration;

    use clap::error::ErrorKind::{
        ArgumentConflict, DisplayHelp, InvalidSubcommand, InvalidValue, MissingRequiredArgument,
        UnknownArgument, ValueValidation,
    };

    use super::*;
    use crate::args::DataArgs;
    use crate::hot::args::ThreadCounts;
    use crate::hybrid::HybridArgs;

    /// What a command line parses to, or the error kind and a piece of its message.
    type Expected = Result<Cli, (clap::error::ErrorKind, &'static str)>;

    fn parse(line: &str) -> Result<Cli, clap::Error> {
        parse_words(&line.split_whitespace().collect::<Vec<_>>())
    }

    /// The words one by one (a path may hold spaces).
    fn parse_words(words: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_checked(std::iter::once(&"embedstore-bench").chain(words))
    }

    /// The defaults of each mode.
    fn args() -> Args {
        Args {
            rows: 100_000,
            dim: 384,
            queries: 500,
            k: 10,
            batch_size: None,
            rounds: 2,
            warmup: 10,
        }
    }

    fn data() -> DataArgs {
        DataArgs {
            rows: 100_000,
            dim: 384,
            queries: 200,
            k: 10,
            clusters: 100,
        }
    }

    fn ann() -> AnnArgs {
        AnnArgs {
            data: data(),
            warmup: 20,
            rounds: 3,
            build_rounds: 2,
            batch: 100,
        }
    }

    fn hot() -> HotArgs {
        HotArgs {
            data: data(),
            threads: ThreadCounts(vec![1, 2, 4, 8, 16]),
            seconds: Duration::from_millis(500),
            rounds: 3,
            warmup: 10,
            insert_rows: None,
            insert_batch: 1_000,
            insert_rounds: 3,
            fail_on_miss: false,
            builds: false,
            vectors: None,
            ef_sweep: vec![20, 40, 100, 200, 400],
            no_raw_builds: false,
            writes_only: false,
            defaults_build_limit: Duration::from_secs(900),
        }
    }

    fn ingest() -> IngestArgs {
        IngestArgs {
            rows: 200_000,
            dim: 384,
            rounds: 2,
            naive_sample: 2_000,
            rss_rows: None,
            batch_size: None,
            embedstore: None,
        }
    }

    fn hybrid() -> HybridArgs {
        HybridArgs {
            queries: 300,
            text_config: vec!["simple".to_owned(), "english".to_owned()],
            rounds: 3,
            warmup: 20,
            no_sweep: false,
            dry_run: false,
        }
    }

    fn default_mode(args: Args) -> Cli {
        Cli { args, mode: None }
    }

    fn mode(mode: Mode) -> Cli {
        Cli {
            args: args(),
            mode: Some(mode),
        }
    }

    /// Every mode's defaults, both flag forms, and the arguments each refuses: the command line,
    /// then what it parses to, or the error kind and a piece of the message (`""`: any).
    #[test]
    fn every_mode_parses_its_arguments_and_refuses_bad_ones() {
        let table: Vec<(&str, Expected)> = vec![
            ("", Ok(default_mode(args()))),
            (
                "--rows 2000 --dim=8 --batch-size 500 --warmup 0 --k=5",
                Ok(default_mode(Args {
                    rows: 2000,
                    dim: 8,
                    k: 5,
                    batch_size: Some(500),
                    warmup: 0,
                    ..args()
                })),
            ),
            ("--rows", Err((InvalidValue, ""))),
            ("--rows=", Err((ValueValidation, ""))),
            ("--k 0", Err((ValueValidation, "'--k <N>'"))),
            ("--rows -5", Err((UnknownArgument, ""))),
            ("--queries ten", Err((ValueValidation, ""))),
            ("--dim 5000000000", Err((ValueValidation, ""))),
            ("--nope 1", Err((UnknownArgument, ""))),
            ("-h", Err((DisplayHelp, ""))),
            ("--help", Err((DisplayHelp, ""))),
            // `--rows` before `ann` was refused as an unknown argument `ann`; it still is.
            ("--rows 5 ann", Err((ArgumentConflict, ""))),
            ("help", Err((InvalidSubcommand, ""))),
            ("ann", Ok(mode(Mode::Ann(ann())))),
            (
                "ann --rows 20000 --clusters=10 --warmup 0 --build-rounds 1",
                Ok(mode(Mode::Ann(AnnArgs {
                    data: DataArgs {
                        rows: 20_000,
                        clusters: 10,
                        ..data()
                    },
                    warmup: 0,
                    build_rounds: 1,
                    ..ann()
                }))),
            ),
            (
                "ann --rows 20000 --clusters=10 --warmup 0 --build-rounds 1 --batch=7 --k 3",
                Ok(mode(Mode::Ann(AnnArgs {
                    data: DataArgs {
                        rows: 20_000,
                        clusters: 10,
                        k: 3,
                        ..data()
                    },
                    warmup: 0,
                    build_rounds: 1,
                    batch: 7,
                    ..ann()
                }))),
            ),
            ("ann --batch", Err((InvalidValue, ""))),
            ("ann --rounds 0", Err((ValueValidation, ""))),
            ("ann --dim 99999999999", Err((ValueValidation, ""))),
            ("ann --batch-size 5", Err((UnknownArgument, ""))),
            ("ann --help", Err((DisplayHelp, ""))),
            ("ingest", Ok(mode(Mode::Ingest(ingest())))),
            (
                "ingest --rows 5000 --naive-sample=100",
                Ok(mode(Mode::Ingest(IngestArgs {
                    rows: 5000,
                    naive_sample: 100,
                    ..ingest()
                }))),
            ),
            (
                "ingest --rows 5000 --dim=8 --rounds 3 --naive-sample=100 --rss-rows 1000000 \
                 --batch-size 512 --embedstore=/opt/x/embedstore",
                Ok(mode(Mode::Ingest(IngestArgs {
                    rows: 5000,
                    dim: 8,
                    rounds: 3,
                    naive_sample: 100,
                    rss_rows: Some(1_000_000),
                    batch_size: Some(512),
                    embedstore: Some(PathBuf::from("/opt/x/embedstore")),
                }))),
            ),
            (
                "ingest --embedstore=/a=b/embedstore",
                Ok(mode(Mode::Ingest(IngestArgs {
                    embedstore: Some(PathBuf::from("/a=b/embedstore")),
                    ..ingest()
                }))),
            ),
            (
                "ingest --embedstore=",
                Err((ValueValidation, "needs a path")),
            ),
            ("ingest --rows", Err((InvalidValue, ""))),
            ("ingest --rows 0", Err((ValueValidation, ""))),
            ("ingest --rows 1e6", Err((ValueValidation, ""))),
            ("ingest --rows ten", Err((ValueValidation, ""))),
            (
                "ingest --rows 99999999999999999999999",
                Err((ValueValidation, "")),
            ),
            ("ingest --rows '5'", Err((ValueValidation, ""))),
            ("ingest --rows=", Err((ValueValidation, ""))),
            ("ingest --rows --dim", Err((InvalidValue, ""))),
            ("ingest --dim 5000000000", Err((ValueValidation, ""))),
            ("ingest --queries 5", Err((UnknownArgument, ""))),
            ("ingest --help", Err((DisplayHelp, ""))),
            ("ingest -h", Err((DisplayHelp, ""))),
            // What clap cannot check is refused with the subcommand's usage line.
            (
                "ingest --rows 100",
                Err((ArgumentConflict, "embedstore-bench ingest")),
            ),
            (
                "ingest --rows 100",
                Err((
                    ArgumentConflict,
                    "--naive-sample 2000 is larger than --rows 100",
                )),
            ),
            (
                "ingest --rows 100 --naive-sample 100",
                Ok(mode(Mode::Ingest(IngestArgs {
                    rows: 100,
                    naive_sample: 100,
                    ..ingest()
                }))),
            ),
            ("hot", Ok(mode(Mode::Hot(hot())))),
            (
                "hot --rows 5000 --queries=50 --threads 1,2 --seconds 0.25 --fail-on-miss",
                Ok(mode(Mode::Hot(HotArgs {
                    data: DataArgs {
                        rows: 5000,
                        queries: 50,
                        ..data()
                    },
                    threads: ThreadCounts(vec![1, 2]),
                    seconds: Duration::from_millis(250),
                    fail_on_miss: true,
                    ..hot()
                }))),
            ),
            (
                "hot --rows 1000000 --builds --defaults-build-limit 600",
                Ok(mode(Mode::Hot(HotArgs {
                    data: DataArgs {
                        rows: 1_000_000,
                        ..data()
                    },
                    builds: true,
                    defaults_build_limit: Duration::from_secs(600),
                    ..hot()
                }))),
            ),
            (
                "hot --rows 1000000 --builds --no-raw-builds --writes-only --ef-sweep 40,800 \
                 --vectors /tmp/real",
                Ok(mode(Mode::Hot(HotArgs {
                    data: DataArgs {
                        rows: 1_000_000,
                        ..data()
                    },
                    builds: true,
                    no_raw_builds: true,
                    writes_only: true,
                    ef_sweep: vec![40, 800],
                    vectors: Some("/tmp/real".into()),
                    ..hot()
                }))),
            ),
            ("hot --no-raw-builds", Err((MissingRequiredArgument, ""))),
            ("hot --writes-only", Err((MissingRequiredArgument, ""))),
            ("hot --ef-sweep 0", Err((ValueValidation, ""))),
            ("hot --ef-sweep 40,1001", Err((ValueValidation, ""))),
            ("hot --ef-sweep 40,,100", Err((ValueValidation, ""))),
            ("hot --threads 1,,2", Err((ValueValidation, "empty item"))),
            ("hot --threads 0", Err((ValueValidation, ""))),
            ("hot --threads abc", Err((ValueValidation, ""))),
            ("hot --threads", Err((InvalidValue, ""))),
            ("hot --k 1001", Err((ValueValidation, ""))),
            ("hot --rows 0", Err((ValueValidation, ""))),
            ("hot --seconds 0", Err((ValueValidation, ""))),
            ("hot --batch 5", Err((UnknownArgument, ""))),
            ("hot --help", Err((DisplayHelp, ""))),
            ("hybrid", Ok(mode(Mode::Hybrid(hybrid())))),
            (
                "hybrid --queries 20 --text-config english",
                Ok(mode(Mode::Hybrid(HybridArgs {
                    queries: 20,
                    text_config: vec!["english".to_owned()],
                    ..hybrid()
                }))),
            ),
            ("hybrid --queries 0", Err((ValueValidation, ""))),
            ("hybrid --rows 5", Err((UnknownArgument, ""))),
            ("hybrid --rounds 0", Err((ValueValidation, ""))),
            ("hybrid --repo-only", Err((UnknownArgument, ""))),
            ("citus", Err((MissingRequiredArgument, "--url"))),
            (
                "citus --url postgres://u@10.0.0.1/x",
                Err((ValueValidation, "not loopback")),
            ),
            (
                "citus --url postgres://u@127.0.0.1/x --threads 0",
                Err((ValueValidation, "")),
            ),
        ];
        for (line, expected) in table {
            match (parse(line), expected) {
                (Ok(cli), Ok(expected)) => assert_eq!(cli, expected, "{line}"),
                (Err(error), Err((kind, says))) => {
                    assert_eq!(error.kind(), kind, "{line}: {error}");
                    assert!(error.to_string().contains(says), "{line}: {error}");
                }
                (got, expected) => panic!("{line}: got {got:?}, expected {expected:?}"),
            }
        }
    }

    /// Values derived from the arguments, and words that hold spaces (a path, a padded number).
    #[test]
    fn derived_values_and_words_with_spaces() {
        let insert_mode = |line: &str| parse(line).unwrap().args.insert_mode();
        assert_eq!(insert_mode(""), "one write with all rows");
        assert_eq!(
            insert_mode("--rows 2000 --dim=8 --batch-size 500 --warmup 0 --k=5"),
            "4 writes of <= 500 rows"
        );
        let insert_rows = |line: &str| match parse(line).unwrap().mode {
            Some(Mode::Hot(hot)) => hot.insert_rows(),
            other => panic!("{other:?}"),
        };
        assert_eq!(insert_rows("hot"), 20_000);
        assert_eq!(insert_rows("hot --rows 300"), 300);
        assert_eq!(insert_rows("hot --rows 300 --insert-rows 50000"), 50_000);
        assert_eq!(
            insert_rows("hot --rows 5000 --queries=50 --threads 1,2 --seconds 0.25 --fail-on-miss"),
            5000,
            "a quick run inserts no more rows than it searches"
        );
        let path = "/opt/my tools/\"x\"=1/embedstore";
        let cli = parse_words(&["ingest", "--embedstore", path]).unwrap();
        let embedstore = Some(PathBuf::from(path));
        assert_eq!(
            cli,
            mode(Mode::Ingest(IngestArgs {
                embedstore,
                ..ingest()
            }))
        );
        for words in [
            &["--rows", " 3 "][..],
            &["--rows", "5;rm -rf /"],
            &["--embedstore", "  "],
        ] {
            let error = parse_words(&[&["ingest"][..], words].concat()).unwrap_err();
            assert_eq!(error.kind(), ValueValidation, "{words:?}");
        }
        let error = parse_words(&["ingest", "--embedstore", "  "]).unwrap_err();
        assert!(error.to_string().contains("needs a path"), "{error}");
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
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
