//! The PostgreSQL majors and pgvector versions embedstore supports, read from the server and
//! checked when a store connects and before it migrates.

use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text};

use crate::error::{Error, Result};

/// The oldest PostgreSQL major the tests run on (CI runs 15 and 18).
pub(crate) const MIN_POSTGRES_MAJOR: u32 = 15;
/// The newest PostgreSQL major the tests run on.
pub(crate) const MAX_POSTGRES_MAJOR: u32 = 18;
/// The oldest pgvector: 0.8.0 added the iterative index scans (`hnsw.iterative_scan`,
/// `ivfflat.iterative_scan`) that filtered search relies on.
pub(crate) const MIN_PGVECTOR: (u32, u32, u32) = (0, 8, 0);

/// The versions a server runs, as it reports them ([`Store::server_versions`](crate::Store::server_versions)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerVersions {
    /// `server_version`, e.g. `18.6` (the distribution's suffix left out).
    pub postgres: String,
    /// The major, from `server_version_num` (e.g. `18`).
    pub postgres_major: u32,
    /// pgvector's version: the one installed in this database (`pg_extension`), or else the
    /// one `CREATE EXTENSION vector` would install (`pg_available_extensions`); `None` when the
    /// server has no pgvector at all.
    pub pgvector: Option<String>,
    /// Whether `pgvector` is installed in this database (false: only available).
    pub pgvector_installed: bool,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Integer)]
    num: i32,
    #[diesel(sql_type = Text)]
    version: String,
    #[diesel(sql_type = Nullable<Text>)]
    installed: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    available: Option<String>,
}

/// Reads the versions from the server `conn` is connected to.
pub(crate) fn read(conn: &mut PgConnection) -> Result<ServerVersions> {
    let row: Row = diesel::sql_query(
        "SELECT current_setting('server_version_num')::int AS num, \
                current_setting('server_version') AS version, \
                (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS installed, \
                (SELECT default_version FROM pg_available_extensions WHERE name = 'vector') AS available",
    )
    .get_result(conn)?;
    let postgres = row
        .version
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    let major = u32::try_from(row.num / 10_000).unwrap_or(0);
    let installed = row.installed.is_some();
    Ok(ServerVersions {
        postgres,
        postgres_major: major,
        pgvector: row.installed.or(row.available),
        pgvector_installed: installed,
    })
}

/// `0.8.0` → `(0, 8, 0)`; a suffix after a component's digits (`0.9.0-dev`) is ignored, a
/// missing component counts as 0. `None` when the first component has no digits.
pub(crate) fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.split('.').map(|part| {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok()
    });
    let major = parts.next().flatten()?;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// Refuses a server outside the supported versions. `require_pgvector`: whether a server with
/// no pgvector at all is refused (migrate needs it; connect leaves that to migrate).
pub(crate) fn check(versions: &ServerVersions, require_pgvector: bool) -> Result<()> {
    let refuse = |reason: String| {
        Err(Error::UnsupportedServer {
            postgres: versions.postgres.clone(),
            pgvector: versions.pgvector.clone(),
            reason,
        })
    };
    let major = versions.postgres_major;
    if !(MIN_POSTGRES_MAJOR..=MAX_POSTGRES_MAJOR).contains(&major) {
        return refuse(format!(
            "PostgreSQL {major} is not supported (supported: PostgreSQL \
             {MIN_POSTGRES_MAJOR} to {MAX_POSTGRES_MAJOR}, the majors the tests run on)"
        ));
    }
    let Some(pgvector) = &versions.pgvector else {
        if require_pgvector {
            return refuse(
                "the server has no pgvector extension: install pgvector >= 0.8.0".to_owned(),
            );
        }
        return Ok(());
    };
    let (a, b, c) = MIN_PGVECTOR;
    match parse_version(pgvector) {
        Some(found) if found >= MIN_PGVECTOR => Ok(()),
        Some(_) => {
            let hint = if versions.pgvector_installed {
                "install a newer pgvector, then ALTER EXTENSION vector UPDATE"
            } else {
                "install a newer pgvector"
            };
            refuse(format!(
                "pgvector {pgvector} is older than {a}.{b}.{c}, which added the iterative \
                 index scans (hnsw.iterative_scan) that filtered search needs: {hint}"
            ))
        }
        None => refuse(format!("pgvector version {pgvector:?} cannot be read")),
    }
}

#[cfg(test)]
mod tests;
