//! `embedstore count` and `embedstore delete`: rows of a collection, optionally filtered by
//! metadata.

use std::io::Write;

use embedstore::Store;

use crate::error::CliError;
use crate::index::parse_filter;

/// Arguments of `embedstore count`.
#[derive(Debug, clap::Args)]
pub struct CountArgs {
    /// The collection (or an alias of it).
    pub collection: String,
    /// Count only rows whose metadata matches this filter (JSON).
    #[arg(long, value_name = "JSON")]
    pub filter: Option<String>,
}

/// Arguments of `embedstore delete`.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// The collection (or an alias of it).
    pub collection: String,
    /// Delete the rows whose metadata matches this filter (JSON); `{}` matches every row.
    #[arg(long, value_name = "JSON")]
    pub filter: String,
    /// Really delete (without this, only the number of matching rows is printed).
    #[arg(long)]
    pub yes: bool,
}

/// Runs `embedstore count`.
///
/// # Errors
/// An unknown collection or a bad filter.
pub fn count(store: &Store, args: &CountArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let filter = args.filter.as_deref().map(parse_filter).transpose()?;
    let rows = store.read(|uow| {
        let collection = uow.collections().get(&args.collection)?;
        match &filter {
            Some(filter) => uow.embeddings().count_where(&collection, filter),
            None => uow.embeddings().count(&collection),
        }
    })?;
    writeln!(out, "{rows}")?;
    Ok(())
}

/// Runs `embedstore delete`: counts first, deletes in one transaction with `--yes`.
///
/// # Errors
/// An unknown collection, a bad filter, or no `--yes`.
pub fn delete(store: &Store, args: &DeleteArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let filter = parse_filter(&args.filter)?;
    if !args.yes {
        let matching = store.read(|uow| {
            let collection = uow.collections().get(&args.collection)?;
            uow.embeddings().count_where(&collection, &filter)
        })?;
        return Err(CliError::refused(format!(
            "{matching} row(s) of {:?} match; nothing was deleted (add --yes to delete them)",
            args.collection
        )));
    }
    let deleted = store.write(|uow| {
        let collection = uow.collections().get(&args.collection)?;
        uow.embeddings().delete_where(&collection, &filter)
    })?;
    writeln!(out, "deleted {deleted} row(s) from {:?}", args.collection)?;
    Ok(())
}
