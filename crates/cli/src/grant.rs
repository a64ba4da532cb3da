//! `embedstore grant APP_ROLE`: the privileges a service role needs to read and write rows, and
//! nothing more ([`Store::grant_app_role`]). Run it as the role that owns the schema (the one
//! that ran `migrate`).

use std::io::Write;

use embedstore::Store;

use crate::error::CliError;

/// Arguments of `embedstore grant`.
#[derive(Debug, clap::Args)]
pub struct GrantArgs {
    /// The service's role (it must exist, log in with its own password, and be neither a
    /// superuser nor the owner): lowercase letters, digits and `_`, at most 63.
    #[arg(value_name = "APP_ROLE")]
    pub role: String,
    /// Print the statements without running them.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `embedstore grant`.
pub fn run(store: &Store, args: &GrantArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let statements = store.grant_app_role(&args.role, args.dry_run)?;
    let verb = if args.dry_run { "would run" } else { "ran" };
    writeln!(out, "{verb} {} statement(s):", statements.len())?;
    for statement in statements {
        writeln!(out, "  {statement};")?;
    }
    Ok(())
}
