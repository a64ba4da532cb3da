//! `embedstore text-index create|rebuild|drop|status`: a collection's full-text index.

use std::io::Write;

use embedstore::{Collection, DEFAULT_TEXT_CONFIG, Store, TextIndexStatus};

use crate::error::CliError;
use crate::output::{Format, write_index_line, write_json_line};

/// The `text-index` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum TextIndexCommand {
    /// Build the collection's full-text index on its content (GIN, CREATE INDEX CONCURRENTLY).
    Create {
        /// The collection.
        collection: String,
        /// Text search configuration: one of PostgreSQL's (simple, english, german, …).
        #[arg(long, default_value = DEFAULT_TEXT_CONFIG)]
        config: String,
    },
    /// Build a fresh text index beside the current one and swap it in (e.g. a new --config).
    Rebuild {
        /// The collection.
        collection: String,
        /// Text search configuration (default: keep the current one).
        #[arg(long)]
        config: Option<String>,
    },
    /// Drop the collection's text index (text searches then use `simple` and scan the rows).
    Drop {
        /// The collection.
        collection: String,
    },
    /// Show the text index: validity, configuration, size, rows.
    Status {
        /// The collection.
        collection: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// Runs a `text-index` subcommand.
///
/// # Errors
/// An unknown collection or configuration, an existing index, or a failed build.
pub fn run(store: &Store, command: &TextIndexCommand, out: &mut dyn Write) -> Result<(), CliError> {
    match command {
        TextIndexCommand::Create { collection, config } => {
            let collection = get(store, collection)?;
            let status = store.indexes(&collection).text().create(config)?;
            write_status(out, &status, Format::Table)
        }
        TextIndexCommand::Rebuild { collection, config } => {
            let collection = get(store, collection)?;
            let status = store
                .indexes(&collection)
                .text()
                .rebuild(config.as_deref())?;
            write_status(out, &status, Format::Table)
        }
        TextIndexCommand::Drop { collection: name } => {
            let collection = get(store, name)?;
            if store.indexes(&collection).text().drop()? {
                writeln!(out, "dropped the text index of {name:?}")?;
            } else {
                writeln!(out, "{name:?} had no text index")?;
            }
            Ok(())
        }
        TextIndexCommand::Status { collection, format } => {
            let collection = get(store, collection)?;
            let status = store.indexes(&collection).text().status()?;
            write_status(out, &status, *format)
        }
    }
}

fn get(store: &Store, name: &str) -> Result<Collection, CliError> {
    Ok(store.read(|uow| uow.collections().get(name))?)
}

fn write_status(
    out: &mut dyn Write,
    status: &TextIndexStatus,
    format: Format,
) -> Result<(), CliError> {
    if format == Format::Json {
        write_json_line(out, status)?;
        return Ok(());
    }
    writeln!(out, "collection: {}", status.collection)?;
    write_index_line(
        out,
        status.exists,
        status.valid,
        &status.name,
        &format!("embedstore text-index create {}", status.collection),
    )?;
    if let Some(config) = &status.config {
        writeln!(out, "config:     {config}")?;
        writeln!(out, "size:       {} bytes", status.size_bytes)?;
    }
    writeln!(out, "rows:       {}", status.rows)?;
    Ok(())
}
