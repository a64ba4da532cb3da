//! `embedstore alias set|show|list|drop`: names that point at one collection each, so that a
//! service can be switched to a re-embedded collection (and back) with one command.

use std::io::Write;

use embedstore::{Alias, Store};

use crate::error::CliError;
use crate::output::{Column, Format, write_table};

/// The `alias` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AliasCommand {
    /// Point an alias at a collection, creating it or moving it atomically: searches through
    /// the alias see the old collection or the new one, never a mix.
    Set {
        /// The alias: a lowercase letter, then lowercase letters, digits, `_` or `-`; never a
        /// collection's name.
        name: String,
        /// The collection it points at (by its own name, not another alias).
        collection: String,
    },
    /// Show one alias and the collection it points at.
    Show {
        /// The alias.
        name: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// List every alias with its collection, model and dimension.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Drop an alias; the collection it pointed at stays.
    Drop {
        /// The alias.
        name: String,
    },
}

/// Runs an `alias` subcommand.
///
/// # Errors
/// Bad or unknown names, an alias that would shadow a collection, or a failed query.
pub fn run(store: &Store, command: &AliasCommand, out: &mut dyn Write) -> Result<(), CliError> {
    match command {
        AliasCommand::Set { name, collection } => {
            let (previous, alias) = store.write(|uow| {
                let previous = uow.aliases().find(name)?;
                let alias = uow.aliases().set(name, collection)?;
                Ok::<_, embedstore::Error>((previous, alias))
            })?;
            let target = describe(&alias);
            match previous {
                Some(previous) if previous.collection.id != alias.collection.id => writeln!(
                    out,
                    "alias {:?} now points at {target} (was {:?})",
                    alias.name, previous.collection.name
                )?,
                Some(_) => writeln!(out, "alias {:?} already points at {target}", alias.name)?,
                None => writeln!(out, "alias {:?} points at {target}", alias.name)?,
            }
        }
        AliasCommand::Show { name, format } => {
            let alias = store.read(|uow| uow.aliases().get(name))?;
            if *format == Format::Json {
                serde_json::to_writer_pretty(&mut *out, &alias).map_err(std::io::Error::from)?;
                writeln!(out)?;
            } else {
                print(&[alias], *format, out)?;
            }
        }
        AliasCommand::List { format } => {
            let aliases = store.read(|uow| uow.aliases().list())?;
            if aliases.is_empty() && *format == Format::Table {
                writeln!(
                    out,
                    "no aliases yet; point one at a collection with `embedstore alias set NAME COLLECTION`"
                )?;
            } else {
                print(&aliases, *format, out)?;
            }
        }
        AliasCommand::Drop { name } => {
            let alias = store.write(|uow| uow.aliases().drop(name))?;
            writeln!(
                out,
                "dropped alias {:?}; collection {:?} stays",
                alias.name, alias.collection.name
            )?;
        }
    }
    Ok(())
}

/// `"docs_v2" (768 dimensions, cosine, model "mpnet")`.
fn describe(alias: &Alias) -> String {
    let collection = &alias.collection;
    format!(
        "collection {:?} ({} dimensions, {}, model {:?})",
        collection.name, collection.dimension, collection.metric, collection.model
    )
}

/// Aliases as a table (alias → collection, model, dimension, metric, when set) or a JSON
/// array (each alias with its whole collection).
fn print(aliases: &[Alias], format: Format, out: &mut dyn Write) -> Result<(), CliError> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, aliases).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = aliases
                .iter()
                .map(|alias| {
                    vec![
                        alias.name.clone(),
                        "→".to_owned(),
                        alias.collection.name.clone(),
                        alias.collection.model.clone(),
                        alias.collection.dimension.to_string(),
                        alias.collection.metric.to_string(),
                        alias.updated_at.format("%Y-%m-%d %H:%M").to_string(),
                    ]
                })
                .collect();
            let columns = [
                Column::left("alias"),
                Column::left(""),
                Column::left("collection"),
                Column::left("model"),
                Column::right("dimension"),
                Column::left("metric"),
                Column::left("set (UTC)"),
            ];
            write_table(out, "", &columns, &rows)?;
        }
    }
    Ok(())
}
