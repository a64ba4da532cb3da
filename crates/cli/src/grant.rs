//! `embedstore grant APP_ROLE`: the privileges a service role needs to read and write rows, and
//! nothing more. Run it as the role that owns the schema (the one that ran `migrate`).
//!
//! The app role gets `CONNECT` and `TEMPORARY` (upserts stage rows in a temporary table) on the
//! database, `USAGE` on the schema, `SELECT` on `collections`, the index catalog
//! (`ann_indexes`, `payload_indexes`: the search planner reads them) and the migrations table, and
//! `SELECT, INSERT, UPDATE, DELETE` on `embeddings`. It gets no grant on the partitions: every
//! library statement names the parent `embeddings`, and PostgreSQL checks privileges only on
//! the table a query names, so collections created later need no new grant — and the
//! partitions cannot be read or written directly, around whatever the parent enforces (such
//! as row-level security). Creating, altering and dropping anything (collections included:
//! they are partition DDL) stays with the owner. Re-running the command is harmless: it
//! revokes what it manages and grants the same set again.
//!
//! The role name reaches SQL twice guarded: it must match `[a-z_][a-z0-9_]{0,62}`, and the
//! statements are built by the server with `format('%I', …)` from a bound parameter.

use std::io::Write;

use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
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
    check_role_name(&args.role)?;
    let mut pooled = store.connection()?;
    let conn: &mut PgConnection = &mut pooled;
    check_role(conn, &args.role)?;
    let schema = schema_of_embeddings(conn)?;
    let statements = statements(conn, &args.role, &schema)?;
    if !args.dry_run {
        // All or nothing.
        conn.transaction(|conn| {
            statements
                .iter()
                .try_for_each(|statement| diesel::sql_query(statement).execute(conn).map(drop))
        })
        .map_err(embedstore::Error::from)?;
    }
    let verb = if args.dry_run { "would run" } else { "ran" };
    writeln!(out, "{verb} {} statement(s):", statements.len())?;
    for statement in statements {
        writeln!(out, "  {statement};")?;
    }
    Ok(())
}

/// `[a-z_][a-z0-9_]{0,62}`: a name that needs no quoting and cannot be mistaken for another.
pub fn check_role_name(role: &str) -> Result<(), CliError> {
    let mut chars = role.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && role.len() <= 63 {
        return Ok(());
    }
    // Bounded echo: a hostile 10 KB argument must not flood the terminal.
    let shown: String = role.chars().take(40).collect();
    let more = if role.chars().count() > 40 { "…" } else { "" };
    Err(CliError::refused(format!(
        "invalid role name {shown:?}{more}: use 1 to 63 characters, a lowercase letter or _ first, \
         then lowercase letters, digits or _"
    )))
}

#[derive(QueryableByName)]
struct RoleFacts {
    #[diesel(sql_type = Bool)]
    exists: bool,
    #[diesel(sql_type = Bool)]
    superuser: bool,
    #[diesel(sql_type = Bool)]
    is_current: bool,
    #[diesel(sql_type = Bool)]
    owns_embeddings: bool,
}

/// Refuses a role that is missing, or that privileges would not restrict.
fn check_role(conn: &mut PgConnection, role: &str) -> Result<(), CliError> {
    let facts: RoleFacts = diesel::sql_query(
        "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1) AS exists,
                COALESCE((SELECT rolsuper FROM pg_roles WHERE rolname = $1), false) AS superuser,
                $1 = current_user AS is_current,
                CASE WHEN EXISTS (SELECT FROM pg_roles WHERE rolname = $1)
                     THEN COALESCE(pg_has_role($1, (SELECT relowner FROM pg_class
                                                    WHERE oid = to_regclass('embeddings')), 'USAGE'), false)
                     ELSE false END AS owns_embeddings",
    )
    .bind::<Text, _>(role)
    .get_result(conn)
    .map_err(embedstore::Error::from)?;
    let refuse = |why: String| Err(CliError::refused(why));
    if !facts.exists {
        return refuse(format!(
            "role {role} does not exist; create it first, e.g. CREATE ROLE {role} LOGIN PASSWORD '…'"
        ));
    }
    if facts.superuser {
        return refuse(format!(
            "role {role} is a superuser: no privilege restricts it; use an ordinary role"
        ));
    }
    if facts.is_current || facts.owns_embeddings {
        return refuse(format!(
            "role {role} owns the schema (or is a member of its owner): owners bypass privileges; \
             run the service as a separate role"
        ));
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Schema {
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    schema: Option<String>,
}

fn schema_of_embeddings(conn: &mut PgConnection) -> Result<String, CliError> {
    let found: Schema = diesel::sql_query(
        "SELECT (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.oid = to_regclass('embeddings')) AS schema",
    )
    .get_result(conn)
    .map_err(embedstore::Error::from)?;
    found.schema.ok_or_else(|| {
        CliError::refused("no embeddings table here: run `embedstore migrate` first (as the owner)")
    })
}

#[derive(QueryableByName)]
struct Statement {
    #[diesel(sql_type = Text)]
    statement: String,
}

/// The statements, built by the server: `%I` quotes identifiers, the role and schema arrive as
/// bound parameters.
fn statements(conn: &mut PgConnection, role: &str, schema: &str) -> Result<Vec<String>, CliError> {
    let rows: Vec<Statement> = diesel::sql_query(
        "SELECT unnest(ARRAY[
           format('REVOKE ALL ON TABLE %I.collections, %I.embeddings, %I.ann_indexes, %I.payload_indexes, %I.__diesel_schema_migrations FROM %I', $2, $2, $2, $2, $2, $1),
           format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', current_database(), $1),
           format('GRANT USAGE ON SCHEMA %I TO %I', $2, $1),
           format('GRANT SELECT ON TABLE %I.collections, %I.ann_indexes, %I.payload_indexes, %I.__diesel_schema_migrations TO %I', $2, $2, $2, $2, $1),
           format('GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE %I.embeddings TO %I', $2, $1)
         ]) AS statement",
    )
    .bind::<Text, _>(role)
    .bind::<Text, _>(schema)
    .load(conn)
    .map_err(embedstore::Error::from)?;
    Ok(rows.into_iter().map(|row| row.statement).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lowercase_role_names_are_accepted() {
        for role in ["app", "search_api", "_svc", "a1", &"r".repeat(63)] {
            assert!(check_role_name(role).is_ok(), "{role}");
        }
    }

    #[test]
    fn hostile_and_ambiguous_role_names_are_refused() {
        for role in [
            "",
            "App",
            "1app",
            "app-api",
            "app; DROP TABLE embeddings",
            "\"app\"",
            "app'--",
            " app",
            "app ",
            "аpp", // Cyrillic а
            "app\u{0}",
            &"r".repeat(64),
        ] {
            assert!(check_role_name(role).is_err(), "{role:?}");
        }
    }

    #[test]
    fn a_huge_role_name_is_echoed_only_in_part() {
        let error = check_role_name(&"x;".repeat(5000)).unwrap_err();
        assert!(error.to_string().len() < 300, "{error}");
    }
}
