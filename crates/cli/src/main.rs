//! `embedstore`: the command line for an embedstore database.
//!
//! ```text
//! embedstore migrate
//! embedstore collection create docs --dimension 384 --metric cosine --model all-MiniLM-L6-v2
//! embedstore alias set|show|list|drop docs [docs_v2]
//! embedstore insert docs embeddings.jsonl [--upsert] [--batch-size 5000]
//! embedstore search docs --vector '[0.1, …]' [--k 10] [--content] [--format table|json]
//!     [--filter JSON] [--ef-search N] [--exact] [--threshold D] [--queries FILE]
//! embedstore index create|rebuild|drop|status|recall|health docs [--method hnsw|ivfflat] …
//! embedstore payload-index create docs lang --type keyword
//! embedstore count docs [--filter JSON]
//! embedstore delete docs --filter JSON --yes
//! embedstore demo
//! embedstore grant APP_ROLE [--dry-run]
//! embedstore ingest docs --vectors vectors.npy --records records.jsonl [--mode insert|upsert]
//! embedstore export docs --out DIR
//! embedstore stats [docs] [--format table|json]
//! embedstore backfill docs_v1 docs_v2 --command 'python embed.py' [--batch-size 256]
//! embedstore plan --rows 1000000 --dim 384 [--m 16] [--quantization half] [--target-qps 2000]
//! ```
//!
//! The database comes from `--database-url` or `DATABASE_URL` (a `.env` file is read too), the
//! other settings from `EMBEDSTORE_*` (see `embedstore::config`). Errors go to stderr as
//! `error: …` with exit status 1; usage errors exit with 2. No password is ever printed.
//! `-v` / `-vv` or `RUST_LOG` trace each operation on stderr.

mod alias;
mod backfill;
mod collection;
mod corpus;
mod demo;
mod distribute;
mod embedder;
mod error;
mod export;
mod grant;
mod health;
mod index;
mod ingest;
mod insert;
mod output;
mod plan;
mod queries;
mod rows;
mod search;
mod text_index;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use embedstore::{Config, Store};

use crate::alias::AliasCommand;
use crate::backfill::BackfillArgs;
use crate::collection::CollectionCommand;
use crate::demo::DemoArgs;
use crate::error::CliError;
use crate::export::{ExportArgs, StatsArgs};
use crate::grant::GrantArgs;
use crate::index::{IndexCommand, PayloadIndexCommand};
use crate::ingest::IngestArgs;
use crate::insert::InsertArgs;
use crate::plan::PlanArgs;
use crate::rows::{CountArgs, DeleteArgs};
use crate::search::SearchArgs;
use crate::text_index::TextIndexCommand;

/// Validated, transactional embedding storage and nearest-neighbour search on PostgreSQL +
/// pgvector.
// No Debug: the struct holds the database URL, password included.
#[derive(Parser)]
#[command(name = "embedstore", version, about, max_term_width = 100)]
struct Cli {
    /// PostgreSQL URL, e.g. postgres://user:password@127.0.0.1:5432/embedstore (the password is
    /// never printed).
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    database_url: Option<String>,
    /// Trace what embedstore does on stderr: -v each operation as it ends (collection, planner
    /// path, k asked and returned, rows written, settings, duration), -vv everything embedstore
    /// traces. `RUST_LOG` (e.g. `RUST_LOG=embedstore=info`), when set, decides instead.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply the schema migrations that have not run yet.
    Migrate,
    /// On a Citus coordinator: distribute the database (catalog as reference tables, embeddings
    /// by collection over the workers), once, after `migrate`; `--status` reports the cluster.
    Distribute(distribute::DistributeArgs),
    /// Create, list, show and drop collections.
    #[command(subcommand)]
    Collection(CollectionCommand),
    /// Point names at collections (switch models by moving one), show, list and drop them.
    #[command(subcommand)]
    Alias(AliasCommand),
    /// Insert (or upsert) JSONL records into a collection, all in one transaction.
    Insert(InsertArgs),
    /// Find the nearest neighbours of query vectors.
    Search(SearchArgs),
    /// Create, drop, rebuild, inspect a collection's ANN index, and measure its recall.
    #[command(subcommand)]
    Index(IndexCommand),
    /// Create, list and drop indexes on metadata fields (for cheap exact filters).
    #[command(subcommand)]
    PayloadIndex(PayloadIndexCommand),
    /// Create, rebuild, drop and inspect a collection's full-text index (for `search --text`).
    #[command(subcommand)]
    TextIndex(TextIndexCommand),
    /// Count a collection's rows, optionally only those matching a metadata filter.
    Count(CountArgs),
    /// Delete the rows matching a metadata filter.
    Delete(DeleteArgs),
    /// Run the whole job end to end on this tool's own code and help: chunk, embed, store, search,
    /// check against brute force, time.
    Demo(DemoArgs),
    /// Grant a service role what it needs to read and write rows, and nothing more (run as the
    /// owner that ran `migrate`; collection create/drop stays with the owner).
    Grant(GrantArgs),
    /// Stream a .npy matrix with JSONL records (or generated ids) into a collection, one
    /// transaction per batch; re-running resumes.
    Ingest(IngestArgs),
    /// Write a collection out as vectors.npy + records.jsonl, ordered by external_id.
    Export(ExportArgs),
    /// Rows, dimension, metric, model, sizes and last write of each collection.
    Stats(StatsArgs),
    /// Re-embed FROM into TO (a new model's collection) with an embedder command: resumable,
    /// catches up writes and deletes made meanwhile; then `alias set` cuts over.
    Backfill(BackfillArgs),
    /// Plan capacity before a collection exists: table and index sizes, build time, memory to
    /// keep the index cached, replicas or Citus workers for a read load (no database needed).
    Plan(PlanArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(text_queries_joined(std::env::args_os()));
    trace(cli.verbose);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let outcome = run(cli, &mut out).and_then(|()| out.flush().map_err(CliError::from));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`| head`): nothing left to say to anyone.
        Err(error) if error.is_broken_pipe() => ExitCode::SUCCESS,
        Err(error) => {
            // If stderr itself is gone there is nowhere left to report to.
            let _ = error.report(&mut std::io::stderr().lock());
            ExitCode::FAILURE
        }
    }
}

/// `--text -draft` as `--text=-draft`: a full-text query may start with one `-` (web-search
/// syntax for "not"), which clap would take for a flag — and clap's `allow_hyphen_values`
/// would take any flag, `--text --k 3` searching for "--k". A value starting with `--` stays a
/// flag (clap then says `--text` lacks its value).
fn text_queries_joined(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut joined: Vec<OsString> = Vec::new();
    let mut args = args.into_iter().peekable();
    while let Some(arg) = args.next() {
        let query_follows = arg == "--text"
            && args
                .peek()
                .and_then(|next| next.to_str())
                .is_some_and(|next| {
                    next.len() > 1 && next.starts_with('-') && !next.starts_with("--")
                });
        match args.next_if(|_| query_follows) {
            Some(query) => {
                let mut glued = OsString::from("--text=");
                glued.push(query);
                joined.push(glued);
            }
            None => joined.push(arg),
        }
    }
    joined
}

fn run(cli: Cli, out: &mut dyn Write) -> Result<(), CliError> {
    if let Command::Plan(args) = &cli.command {
        return plan::run(args, out);
    }
    let mut config = config(cli.database_url)?;
    // A short-lived process must not keep idle connections: r2d2 would replenish them on
    // background threads that race the process exit (see `Config::pool_min_idle`), even if
    // EMBEDSTORE_POOL_MIN_IDLE asks for some.
    config.pool_min_idle = 0;
    let store = Store::connect(config)?;
    let outcome = match &cli.command {
        Command::Migrate => migrate(&store, out),
        Command::Distribute(args) => distribute::run(&store, args, out),
        Command::Collection(command) => collection::run(&store, command, out),
        Command::Alias(command) => alias::run(&store, command, out),
        Command::Insert(args) => insert::run(&store, args, out),
        Command::Search(args) => search::run(&store, args, out),
        Command::Index(command) => index::run(&store, command, out),
        Command::PayloadIndex(command) => index::run_payload(&store, command, out),
        Command::TextIndex(command) => text_index::run(&store, command, out),
        Command::Count(args) => rows::count(&store, args, out),
        Command::Delete(args) => rows::delete(&store, args, out),
        Command::Demo(args) => demo::run(&store, args, out),
        Command::Grant(args) => grant::run(&store, args, out),
        Command::Ingest(args) => ingest::run(&store, args, out),
        Command::Export(args) => export::run_export(&store, args, out),
        Command::Stats(args) => export::run_stats(&store, args, out),
        Command::Backfill(args) => backfill::run(&store, args, out),
        Command::Plan(args) => plan::run(args, out),
    };
    let outcome = outcome.map_err(|error| explain_missing_schema(&store, error));
    // The process ends next: let the pool finish any connection it is still opening, which
    // would otherwise race libpq's (OpenSSL's) exit handlers.
    store.close();
    outcome
}

/// Sends embedstore's `tracing` spans to stderr, one line as each ends, as `RUST_LOG` says
/// or, when it is unset, as `-v` / `-vv` say; without either, nothing is traced.
fn trace(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::fmt::format::FmtSpan;
    let filter = match std::env::var(EnvFilter::DEFAULT_ENV) {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::new(directives),
        _ => match verbose {
            0 => return,
            1 => EnvFilter::new("embedstore=info"),
            _ => EnvFilter::new("embedstore=trace"),
        },
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(std::io::stderr)
        .init();
}

/// The configuration from the environment (and `.env`), with `--database-url` taking the
/// place of `DATABASE_URL` when given.
fn config(database_url: Option<String>) -> Result<Config, CliError> {
    let Some(url) = database_url else {
        return Ok(Config::from_env()?);
    };
    // Config::from_env would refuse a missing DATABASE_URL, so the flag's value is passed in
    // through a lookup; `.env` is loaded first so that its EMBEDSTORE_* settings still apply.
    Config::load_dotenv()?;
    Ok(Config::from_lookup(|name| {
        if name == "DATABASE_URL" {
            Some(url.clone())
        } else {
            std::env::var(name).ok()
        }
    })?)
}

/// Turns an unclassified database error into "run `embedstore migrate` first" when migrations
/// are pending (a missing table or function is the usual symptom). Checked only after such a
/// failure, by asking for pending migrations — never by reading the server's message, which is
/// localized: asking up front would cost a round trip on every command, and diesel's check
/// writes (it creates its bookkeeping table), which a read-only replica refuses.
fn explain_missing_schema(store: &Store, error: CliError) -> CliError {
    let CliError::Store(embedstore::Error::Database(database)) = &error else {
        return error;
    };
    let unclassified = database.kind() == embedstore::DatabaseErrorKind::Other;
    if !unclassified {
        return error;
    }
    match store.pending_migrations() {
        Ok(pending) if !pending.is_empty() => CliError::Problems {
            summary: format!(
                "the database schema is {} migration(s) behind this binary; run `embedstore migrate` first",
                pending.len()
            ),
            problems: pending
                .into_iter()
                .map(|name| format!("pending: {name}"))
                .collect(),
        },
        _ => error,
    }
}

fn migrate(store: &Store, out: &mut dyn Write) -> Result<(), CliError> {
    let target = store.config().database_url.target();
    let applied = store.migrate()?;
    if applied.is_empty() {
        writeln!(out, "{target}: schema up to date, no migrations to apply")?;
        return Ok(());
    }
    writeln!(out, "{target}: applied {} migration(s):", applied.len())?;
    for name in applied {
        writeln!(out, "  {name}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_text_query_may_start_with_one_hyphen_and_a_flag_stays_a_flag() {
        let joined = |args: &[&str]| -> Vec<String> {
            text_queries_joined(args.iter().map(OsString::from))
                .into_iter()
                .map(|arg| arg.into_string().unwrap_or_default())
                .collect()
        };
        assert_eq!(
            joined(&[
                "embedstore",
                "search",
                "c",
                "--text",
                "-draft notes",
                "--k",
                "3"
            ]),
            [
                "embedstore",
                "search",
                "c",
                "--text=-draft notes",
                "--k",
                "3"
            ]
        );
        for kept in [
            &["embedstore", "search", "c", "--text", "--k", "3"][..],
            &["embedstore", "search", "c", "--text", "plain"],
            &["embedstore", "search", "c", "--text", "-"],
            &["embedstore", "search", "c", "--text"],
        ] {
            assert_eq!(joined(kept), kept);
        }
        let parsed = Cli::try_parse_from(joined(&["embedstore", "search", "c", "--text", "-x"]));
        assert!(parsed.is_ok());
        let missing =
            Cli::try_parse_from(joined(&["embedstore", "search", "c", "--text", "--k", "3"]));
        assert!(missing.is_err());
    }

    #[test]
    fn help_never_shows_the_database_url() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("DATABASE_URL"), "{help}");
        assert!(!help.contains("DATABASE_URL="), "{help}");
    }

    #[test]
    fn search_takes_exactly_one_query_source() {
        let parse =
            |args: &[&str]| Cli::try_parse_from([&["embedstore", "search", "c"], args].concat());
        assert!(parse(&["--vector", "[1]"]).is_ok());
        assert!(parse(&["--vector-file", "q.jsonl"]).is_ok());
        assert!(parse(&[]).is_err());
        assert!(
            parse(&["--text", "words"]).is_ok(),
            "full text needs no vector"
        );
        assert!(
            parse(&["--text", "words", "--vector", "[1]"]).is_ok(),
            "hybrid"
        );
        assert!(parse(&["--vector", "[1]", "--vector-file", "q.jsonl"]).is_err());
        assert!(parse(&["--vector", "[1]", "--k", "0"]).is_err());
    }

    #[test]
    fn ingest_takes_one_input_and_one_id_source() {
        let parse =
            |args: &[&str]| Cli::try_parse_from([&["embedstore", "ingest", "c"], args].concat());
        assert!(parse(&["--vectors", "v.npy", "--records", "r.jsonl"]).is_ok());
        assert!(parse(&["--vectors", "v.npy", "--id-prefix", "doc-"]).is_ok());
        assert!(parse(&["--records", "r.jsonl"]).is_err(), "no vectors");
        assert!(parse(&["--vectors", "v.npy", "--records", "r", "--id-prefix", "p"]).is_err());
        assert!(
            parse(&[
                "--vectors",
                "v.npy",
                "--id-prefix",
                "p",
                "--batch-size",
                "0"
            ])
            .is_err()
        );
        assert!(parse(&["--vectors", "v.npy", "--id-prefix", "p", "--mode", "merge"]).is_err());
        #[cfg(feature = "parquet")]
        assert!(parse(&["--vectors", "v.npy", "--parquet", "f.parquet"]).is_err());
    }

    #[test]
    fn metrics_are_parsed_by_their_cli_names() {
        let create = |metric: &str| {
            Cli::try_parse_from([
                "embedstore",
                "collection",
                "create",
                "docs",
                "--dimension",
                "3",
                "--metric",
                metric,
                "--model",
                "m",
            ])
        };
        let parsed = create("inner_product").unwrap();
        let Command::Collection(CollectionCommand::Create(args)) = parsed.command else {
            panic!("expected `collection create`");
        };
        assert_eq!(args.metric, Some(embedstore::Metric::InnerProduct));
        assert!(create("dot").is_err());
    }
}
