//! The full-text index's SQL: a GIN index on `to_tsvector('<config>'::regconfig,
//! coalesce(content, ''))` over the collection's partition (`embeddings_<id>_text`), the
//! configuration looked up in `pg_ts_config`, and the index's state as pg_catalog describes
//! it.
//!
//! The configuration is a name from `pg_catalog`'s own `pg_ts_config` rows (`simple`,
//! `english`, …), never caller text: the caller's name is only compared with them as a bind
//! parameter, and the name spliced into the index and the search statements is the one the
//! catalog returned, further checked to be a plain lower-case identifier. The index
//! definition (`pg_get_indexdef`) is the record of which configuration was built, so searches
//! always use the expression of the index that exists.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};

use crate::error::Result;
use crate::models::Collection;
use crate::repo::index_build::DdlText;

/// The text index's name, from our integer id.
pub(crate) fn text_name(collection: &Collection) -> String {
    format!("{}_text", collection.partition_name())
}

/// The indexed (and searched) document expression for `config`.
pub(crate) fn document_sql(config: &str) -> String {
    format!("to_tsvector('{config}'::regconfig, coalesce(content, ''))")
}

/// Whether `name` is safe to splice as `'<name>'::regconfig`: lower-case letters, digits and
/// `_` (every configuration PostgreSQL ships, and the ones we accept).
pub(crate) fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
}

#[derive(QueryableByName)]
struct ConfigName {
    #[diesel(sql_type = Text)]
    name: String,
}

/// The configurations `pg_catalog` offers, by name.
pub(crate) fn configs(conn: &mut PgConnection) -> Result<Vec<String>> {
    let rows: Vec<ConfigName> = diesel::sql_query(
        "SELECT cfgname::text AS name FROM pg_ts_config \
         WHERE cfgnamespace = 'pg_catalog'::regnamespace ORDER BY 1",
    )
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| row.name)
        .filter(|name| plain_name(name))
        .collect())
}

/// The `CREATE INDEX CONCURRENTLY` text for `config` (a name [`configs`] returned), formatted
/// by the server with the name as a literal.
pub(crate) fn ddl(
    conn: &mut PgConnection,
    collection: &Collection,
    config: &str,
    name: &str,
) -> Result<String> {
    let partition = collection.partition_name();
    let ddl: DdlText = diesel::sql_query(format!(
        "SELECT format('CREATE INDEX CONCURRENTLY {name} ON {partition} USING gin \
         (to_tsvector(%L::regconfig, coalesce(content, '''')))', $1::text) AS sql"
    ))
    .bind::<Text, _>(config)
    .get_result(conn)?;
    Ok(ddl.sql)
}

/// The configuration of the text index defined by `definition` (`pg_get_indexdef`).
pub(crate) fn config_of(definition: &str) -> Option<String> {
    let start = definition.find("to_tsvector('")? + "to_tsvector('".len();
    let rest = &definition[start..];
    let name = &rest[..rest.find("'::regconfig")?];
    plain_name(name).then(|| name.to_owned())
}

/// The text index as pg_catalog describes it (all `None` when there is none).
#[derive(QueryableByName)]
pub(crate) struct TextStatusRow {
    #[diesel(sql_type = Nullable<Bool>)]
    pub(crate) valid: Option<bool>,
    #[diesel(sql_type = Nullable<Text>)]
    pub(crate) definition: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub(crate) size_bytes: i64,
    #[diesel(sql_type = BigInt)]
    pub(crate) rows: i64,
}

/// The index called `name` and the collection's rows.
pub(crate) fn status_row(
    conn: &mut PgConnection,
    collection: &Collection,
    name: &str,
) -> Result<TextStatusRow> {
    Ok(diesel::sql_query(
        "SELECT i.indisvalid AS valid, pg_get_indexdef(c.oid) AS definition, \
                coalesce(embedstore_index_bytes(c.oid), 0) AS size_bytes, \
                (SELECT count(*) FROM embeddings WHERE collection_id = $2) AS rows \
         FROM (SELECT 1) one \
         LEFT JOIN pg_class c ON c.relname = $1 AND c.relkind = 'i' \
              AND c.relnamespace = current_schema()::text::regnamespace \
         LEFT JOIN pg_index i ON i.indexrelid = c.oid",
    )
    .bind::<Text, _>(name)
    .bind::<diesel::sql_types::Integer, _>(collection.id.0)
    .get_result(conn)?)
}

/// Renames the rebuild's fresh index into place (names from our integer id).
pub(crate) fn rename(conn: &mut PgConnection, fresh: &str, collection: &Collection) -> Result<()> {
    diesel::sql_query(format!(
        "ALTER INDEX {fresh} RENAME TO {}",
        text_name(collection)
    ))
    .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_is_read_back_from_the_definition() {
        let definition = "CREATE INDEX embeddings_3_text ON public.embeddings_3 USING gin \
                          (to_tsvector('english'::regconfig, COALESCE(content, ''::text)))";
        assert_eq!(config_of(definition).as_deref(), Some("english"));
        assert_eq!(config_of("CREATE INDEX x ON y USING btree (a)"), None);
        assert!(plain_name("simple") && !plain_name("x'y") && !plain_name("") && !plain_name("A"));
    }
}
