//! Preparing a service role: [`Store::grant_app_role`] (its docs say what is granted and why).

use diesel::prelude::*;

use crate::error::{Error, Result, bounded};
use crate::repo::grant;
use crate::store::Store;
use crate::trace;

/// Longest role name PostgreSQL keeps (`NAMEDATALEN - 1`).
const MAX_ROLE_BYTES: usize = 63;

impl Store {
    /// Grants `role` exactly the privileges a service needs, all in one transaction, and
    /// returns the statements run; with `dry_run`, returns them without running anything. Run
    /// it as the role that owns the schema (the one that ran the migrations).
    ///
    /// The app role gets `CONNECT` and `TEMPORARY` (upserts stage rows in a temporary table) on the
    /// database, `USAGE` on the schema, `SELECT` on `collections`, the index catalog (the search
    /// planner reads it) and the migrations table, and `SELECT, INSERT, UPDATE, DELETE` on
    /// `embeddings`. It gets no grant on the partitions: every library statement names the parent
    /// `embeddings`, and PostgreSQL checks privileges only on the table a query names, so
    /// collections created later need no new grant — and the partitions cannot be read or written
    /// directly, around whatever the parent enforces (such as row-level security). Creating,
    /// altering and dropping anything (collections included: they are partition DDL) stays with
    /// the owner. Granting again is harmless: it revokes what it manages and grants the same set.
    ///
    /// The role name reaches SQL twice guarded: it must match `[a-z_][a-z0-9_]{0,62}`, and the
    /// statements are built by the server with `format('%I', …)` from a bound parameter.
    ///
    /// # Errors
    /// [`Error::Validation`] (path `role`) for a name outside `[a-z_][a-z0-9_]{0,62}`, a role
    /// that does not exist, a superuser, or the schema's owner (neither is restricted by
    /// privileges); [`Error::Database`] when a statement fails (nothing is granted then).
    pub fn grant_app_role(&self, role: &str, dry_run: bool) -> Result<Vec<String>> {
        let span = trace::span!("grant", dry_run, statements = tracing::field::Empty);
        trace::traced(span, |operation| {
            check_role_name(role)?;
            let mut pooled = self.connection()?;
            let conn: &mut PgConnection = &mut pooled;
            grant::check_role(conn, role)?;
            let schema = grant::schema_of_embeddings(conn)?;
            let statements = grant::statements(conn, role, &schema)?;
            if !dry_run {
                conn.transaction(|conn| {
                    statements.iter().try_for_each(|statement| {
                        diesel::sql_query(statement).execute(conn).map(drop)
                    })
                })?;
            }
            operation.record("statements", statements.len());
            Ok(statements)
        })
    }
}

/// `[a-z_][a-z0-9_]{0,62}`: a name that needs no quoting and cannot be mistaken for another.
fn check_role_name(role: &str) -> Result<()> {
    let mut chars = role.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && role.len() <= MAX_ROLE_BYTES {
        return Ok(());
    }
    Err(Error::invalid_field(
        "role",
        format!(
            "invalid role name {}: use 1 to 63 characters, a lowercase letter or _ first, \
             then lowercase letters, digits or _",
            bounded(role)
        ),
    ))
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
            "app; DROP TABLE embeddings; --",
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
