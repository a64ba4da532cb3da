//! What every new connection of a store gets (its session settings, pgvector's type lookup),
//! the fast refusal of a login the server rejects, and the names a store gives its sessions.

use std::time::Duration;

use diesel::prelude::*;
use diesel::r2d2::CustomizeConnection;
use diesel::sql_types::{Nullable, Text};

use crate::config::Config;
use crate::error::{Error, Result};

/// One direct connection attempt before the pool. When it fails although the server is
/// listening, the server itself refused (wrong password, unknown role or database, no
/// `pg_hba.conf` entry): retrying cannot help, so this fails at once instead of letting the pool
/// try again until the connect timeout. A server that is not listening (yet) is left to the
/// pool, which keeps trying within the timeout.
pub(super) fn refuse_fast(url: &crate::config::DatabaseUrl, config: &Config) -> Result<()> {
    let Err(error) = PgConnection::establish(url.expose_secret()) else {
        return Ok(());
    };
    if !listening(&url.target(), config.connect_timeout) {
        return Ok(());
    }
    Err(Error::ConnectRefused {
        target: config.database_url.target(),
        // libpq's message names the user and the reason, never the password.
        reason: error.to_string().trim().to_owned(),
    })
}

/// Whether something accepts connections at `host:port` (from [`DatabaseUrl::target`]): a TCP
/// connect, or the socket file for a Unix-domain host.
///
/// [`DatabaseUrl::target`]: crate::config::DatabaseUrl::target
fn listening(target: &str, timeout: Duration) -> bool {
    let address = target
        .rsplit_once('/')
        .map_or(target, |(address, _)| address);
    let Some((host, port)) = address.rsplit_once(':') else {
        return false;
    };
    if host.starts_with('/') {
        return std::path::Path::new(host)
            .join(format!(".s.PGSQL.{port}"))
            .exists();
    }
    let Ok(port) = port.parse::<u16>() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .map(|mut addresses| {
            addresses.any(|address| {
                std::net::TcpStream::connect_timeout(&address, timeout.min(Duration::from_secs(2)))
                    .is_ok()
            })
        })
        .unwrap_or(false)
}

/// The listener's `application_name`: the store's, suffixed (at most 63 characters; the
/// store's name is checked to be ASCII).
pub(super) fn listener_name(application_name: &str) -> String {
    const SUFFIX: &str = "-listener";
    let keep = application_name.len().min(63 - SUFFIX.len());
    format!("{}{SUFFIX}", &application_name[..keep])
}

/// A token that no other store (in this process or any other) uses: marks this store's writes
/// in the change notifications. Unique, not secret.
pub(super) fn origin_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static STORES: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(STORES.fetch_add(1, Ordering::Relaxed));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    hasher.write_u128(nanos);
    format!("{:x}-{:016x}", std::process::id(), hasher.finish())
}

/// Refuses a cache on a database distributed with Citus: its writes cannot send the change
/// notifications a cache relies on (they would run on the shards).
pub(super) fn refuse_cache_when_distributed(distributed: bool, config: &Config) -> Result<()> {
    if distributed && config.cache_bytes.is_some() {
        return Err(Error::Config {
            variable: "EMBEDSTORE_CACHE_BYTES",
            reason: "the database is distributed with Citus, where writes cannot send the \
                     change notifications a cache relies on (they would run on the shards): \
                     leave the cache off"
                .to_owned(),
        });
    }
    Ok(())
}

/// Applied to every new connection: settings that last for the session. On a server with Citus
/// loaded, `citus.propagate_set_commands = 'local'` too: a `SET LOCAL` (the tenant binding,
/// `synchronous_commit` of an ingest batch) then reaches the workers the transaction uses.
#[derive(Debug)]
pub(super) struct SessionSettings {
    pub(super) statement_timeout: Option<Duration>,
    pub(super) application_name: String,
    /// A caching store's token, set as `embedstore.origin` (read by the change triggers).
    pub(super) origin: Option<String>,
}

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for SessionSettings {
    fn on_acquire(&self, conn: &mut PgConnection) -> std::result::Result<(), diesel::r2d2::Error> {
        let timeout_ms = self
            .statement_timeout
            .map_or(0, |timeout| timeout.as_millis());
        let session: Session = diesel::sql_query(
            "SELECT to_regtype('sparsevec') IS NOT NULL AS pgvector, \
                current_setting('lc_messages') AS lc_messages FROM (SELECT \
                set_config('statement_timeout', $1, false), \
                set_config('application_name', $2, false), \
                set_config('embedstore.origin', $3, false), \
                CASE WHEN current_setting('citus.propagate_set_commands', true) IS NOT NULL \
                     THEN set_config('citus.propagate_set_commands', 'local', false) END) \
                AS settings",
        )
        .bind::<Text, _>(timeout_ms.to_string())
        .bind::<Text, _>(&self.application_name)
        .bind::<Text, _>(self.origin.as_deref().unwrap_or(""))
        .get_result(conn)
        .map_err(diesel::r2d2::Error::QueryError)?;
        // Whether the server's messages can tell the SQLSTATEs diesel does not report.
        crate::error::note_lc_messages(&session.lc_messages);
        if session.pgvector {
            // diesel looks up the OIDs of pgvector's types with a query of its own the first
            // time a statement binds one. Done here, a connection lost during that lookup is
            // a failed connect, which the pool retries and callers see as retryable, instead of
            // an unclassifiable failure in the middle of a unit of work. Skipped until a
            // migration has created the extension.
            diesel::sql_query("SELECT $1 IS NULL AND $2 IS NULL AND $3 IS NULL")
                .bind::<Nullable<pgvector::sql_types::Vector>, _>(None::<pgvector::Vector>)
                .bind::<Nullable<pgvector::sql_types::SparseVector>, _>(
                    None::<crate::vector::SparseVector>,
                )
                .bind::<Nullable<pgvector::sql_types::Bit>, _>(None::<crate::vector::BitVector>)
                .execute(conn)
                .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// What [`SessionSettings::on_acquire`] asks the new connection.
#[derive(QueryableByName)]
struct Session {
    /// Whether pgvector's types exist yet (a first migration creates the extension).
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pgvector: bool,
    /// The language of the server's messages to this session (see
    /// [`crate::error::note_lc_messages`]).
    #[diesel(sql_type = Text)]
    lc_messages: String,
}
