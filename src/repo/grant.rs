//! The catalog facts and statements behind [`Store::grant_app_role`](crate::Store::grant_app_role):
//! which role may be granted, the schema the tables live in, and the GRANT/REVOKE statements,
//! built by the server with `format('%I', …)` from bound parameters.

use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use crate::error::{Error, Result};

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
pub(crate) fn check_role(conn: &mut PgConnection, role: &str) -> Result<()> {
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
    .get_result(conn)?;
    let refuse = |why: String| Err(Error::invalid_field("role", why));
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

pub(crate) fn schema_of_embeddings(conn: &mut PgConnection) -> Result<String> {
    let found: Schema = diesel::sql_query(
        "SELECT (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.oid = to_regclass('embeddings')) AS schema",
    )
    .get_result(conn)?;
    found.schema.ok_or_else(|| {
        Error::invalid_field(
            "",
            "no embeddings table here: run the migrations first (as the owner)",
        )
    })
}

#[derive(QueryableByName)]
struct Statement {
    #[diesel(sql_type = Text)]
    statement: String,
}

/// The statements, built by the server: `%I` quotes identifiers, the role and schema arrive as
/// bound parameters.
pub(crate) fn statements(conn: &mut PgConnection, role: &str, schema: &str) -> Result<Vec<String>> {
    let rows: Vec<Statement> = diesel::sql_query(
        "SELECT unnest(ARRAY[
           format('REVOKE ALL ON TABLE %I.collections, %I.collection_aliases, %I.embeddings, %I.ann_indexes, %I.payload_indexes, %I.__diesel_schema_migrations FROM %I', $2, $2, $2, $2, $2, $2, $1),
           format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', current_database(), $1),
           format('GRANT USAGE ON SCHEMA %I TO %I', $2, $1),
           format('GRANT SELECT ON TABLE %I.collections, %I.collection_aliases, %I.ann_indexes, %I.payload_indexes, %I.__diesel_schema_migrations TO %I', $2, $2, $2, $2, $2, $1),
           format('GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE %I.embeddings TO %I', $2, $1)
         ]) AS statement",
    )
    .bind::<Text, _>(role)
    .bind::<Text, _>(schema)
    .load(conn)?;
    let mut statements: Vec<String> = rows.into_iter().map(|row| row.statement).collect();
    if crate::repo::citus::is_distributed(conn)? {
        // Citus draws a row's id from the identity's sequence on the coordinator, with the
        // writer's own privileges (one server does it inside the insert).
        let sequence: Statement = diesel::sql_query(
            "SELECT format('GRANT USAGE ON SEQUENCE %I.embeddings_id_seq TO %I', $2, $1) AS statement",
        )
        .bind::<Text, _>(role)
        .bind::<Text, _>(schema)
        .get_result(conn)?;
        statements.push(sequence.statement);
    }
    Ok(statements)
}
