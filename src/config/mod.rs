//! Configuration from the environment.
//!
//! [`Config::from_env`] loads a `.env` file from the working directory (or a parent) when one
//! exists — it never overrides variables already set in the real environment — and then reads:
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `DATABASE_URL` | required | `postgres://user:password@host:port/database` (or libpq `key=value` form) |
//! | `EMBEDSTORE_POOL_MAX_SIZE` | `10` | most connections the pool opens |
//! | `EMBEDSTORE_POOL_MIN_IDLE` | `0` | idle connections kept open; see [`Config::pool_min_idle`] |
//! | `EMBEDSTORE_CONNECT_TIMEOUT_SECS` | `5` | limit for opening a connection and for waiting on a pooled one |
//! | `EMBEDSTORE_STATEMENT_TIMEOUT_MS` | `30000` | per-statement limit on the server; `0` turns it off |
//! | `EMBEDSTORE_APPLICATION_NAME` | `embedstore` | `application_name` shown in `pg_stat_activity` |
//! | `EMBEDSTORE_CACHE_BYTES` | unset (off) | bound of the cache of hot lookups, in bytes; `0` turns it off |
//! | `EMBEDSTORE_REPLICA_URLS` | unset (none) | streaming replicas for reads, comma-separated (URLs or libpq `key=value`; a comma inside a quoted value is kept) |
//! | `EMBEDSTORE_REPLICA_MAX_LAG_MS` | `5000` | a replica whose replay lags the primary by more is taken out of service |
//! | `EMBEDSTORE_REPLICA_WAIT_MS` | `100` | how long a read waits for a replica to replay the write it must see before it goes to the primary |
//!
//! The password never appears in `Debug`, `Display`, logs or errors: [`DatabaseUrl`] redacts it.

use std::time::Duration;

use crate::error::{Error, Result};

mod url;

pub use url::DatabaseUrl;

/// Settings for [`Store::connect`](crate::Store::connect).
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the database is; its password is redacted in `Debug`.
    pub database_url: DatabaseUrl,
    /// Most connections the pool opens (`EMBEDSTORE_POOL_MAX_SIZE`).
    pub pool_max_size: u32,
    /// Idle connections kept open (`EMBEDSTORE_POOL_MIN_IDLE`, default 0: connections open on
    /// demand and stay pooled until idle for 10 minutes).
    ///
    /// Above 0, r2d2 opens replacement connections on background threads whenever one is
    /// checked out. A short-lived process (a CLI, a test binary) can then exit while such a
    /// thread is inside libpq's TLS handshake, and OpenSSL's exit-time cleanup crashes it
    /// (SIGSEGV, seen in about 1 of 10 runs). Long-running services may raise it to keep
    /// connections warm.
    pub pool_min_idle: u32,
    /// Limit for opening a connection and for waiting on a pooled one.
    pub connect_timeout: Duration,
    /// Server-side per-statement limit; `None` for no limit.
    pub statement_timeout: Option<Duration>,
    /// `application_name` of every connection.
    pub application_name: String,
    /// Bound in bytes of the store's cache of hot lookups (`EMBEDSTORE_CACHE_BYTES`); `None`
    /// (the default) for no cache. See [`Store::get`](crate::Store::get) for what it caches
    /// and what it guarantees; [`MAX_CACHE_BYTES`] at most.
    pub cache_bytes: Option<usize>,
    /// Streaming replicas that answer reads (`EMBEDSTORE_REPLICA_URLS`); empty (the default)
    /// sends everything to `database_url`. See [`Store::reading`](crate::Store::reading) and
    /// the replicas guide.
    pub replica_urls: Vec<DatabaseUrl>,
    /// A replica whose replay lags the primary by more is taken out of service until it
    /// catches up (`EMBEDSTORE_REPLICA_MAX_LAG_MS`, default 5 s).
    pub replica_max_lag: Duration,
    /// How long a read waits for a replica to replay the write it must see before it goes to
    /// the primary (`EMBEDSTORE_REPLICA_WAIT_MS`, default 100 ms; 0 goes at once).
    pub replica_wait: Duration,
}

/// Most replicas one store routes reads to.
pub const MAX_REPLICAS: usize = 16;

/// The largest [`Config::cache_bytes`]: 1 TiB.
pub const MAX_CACHE_BYTES: usize = 1 << 40;

impl Config {
    /// A configuration with every setting at its default.
    ///
    /// # Errors
    /// [`Error::Config`] when the URL is not a `postgres://`/`postgresql://` URL or libpq
    /// `key=value` string.
    pub fn new(database_url: impl Into<String>) -> Result<Self> {
        Ok(Self {
            database_url: DatabaseUrl::parse(database_url.into())?,
            pool_max_size: 10,
            pool_min_idle: 0,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Some(Duration::from_secs(30)),
            application_name: "embedstore".to_owned(),
            cache_bytes: None,
            replica_urls: Vec::new(),
            replica_max_lag: Duration::from_secs(5),
            replica_wait: Duration::from_millis(100),
        })
    }

    /// Reads the configuration from the environment (see the module docs for every variable),
    /// after loading `.env` if present.
    ///
    /// # Errors
    /// [`Error::Config`] naming the variable that is missing or malformed, or a `.env` that
    /// cannot be parsed.
    pub fn from_env() -> Result<Self> {
        Self::load_dotenv()?;
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Loads `.env` from the working directory or a parent, when there is one, without
    /// overriding variables already set. [`Config::from_env`] calls it; call it yourself before
    /// [`Config::from_lookup`] when you take some settings from elsewhere (e.g. a CLI flag).
    ///
    /// # Errors
    /// [`Error::Config`] naming `.env` when the file exists but cannot be parsed.
    pub fn load_dotenv() -> Result<()> {
        match dotenvy::dotenv() {
            Ok(_) => Ok(()),
            Err(error) if error.not_found() => Ok(()),
            Err(error) => Err(Error::Config {
                variable: ".env",
                reason: error.to_string(),
            }),
        }
    }

    /// Reads the configuration through `lookup` instead of the process environment.
    ///
    /// # Errors
    /// As [`Config::from_env`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let url = lookup("DATABASE_URL").ok_or(Error::Config {
            variable: "DATABASE_URL",
            reason: "not set; point it at a PostgreSQL server with pgvector, e.g. postgres://user:password@127.0.0.1:5432/embedstore".to_owned(),
        })?;
        let mut config = Self::new(url)?;
        if let Some(value) = lookup("EMBEDSTORE_POOL_MAX_SIZE") {
            config.pool_max_size = parse_number("EMBEDSTORE_POOL_MAX_SIZE", &value, 1, 1000)?;
        }
        if let Some(value) = lookup("EMBEDSTORE_POOL_MIN_IDLE") {
            config.pool_min_idle = parse_number("EMBEDSTORE_POOL_MIN_IDLE", &value, 0, 1000)?;
        }
        if let Some(value) = lookup("EMBEDSTORE_CONNECT_TIMEOUT_SECS") {
            let secs = parse_number("EMBEDSTORE_CONNECT_TIMEOUT_SECS", &value, 1, 3600)?;
            config.connect_timeout = Duration::from_secs(u64::from(secs));
        }
        if let Some(value) = lookup("EMBEDSTORE_STATEMENT_TIMEOUT_MS") {
            let millis = parse_number(
                "EMBEDSTORE_STATEMENT_TIMEOUT_MS",
                &value,
                0,
                i32::MAX as u32,
            )?;
            config.statement_timeout =
                (millis > 0).then(|| Duration::from_millis(u64::from(millis)));
        }
        if let Some(value) = lookup("EMBEDSTORE_APPLICATION_NAME") {
            config.application_name = value;
        }
        if let Some(value) = lookup("EMBEDSTORE_CACHE_BYTES") {
            let bytes = parse_bytes("EMBEDSTORE_CACHE_BYTES", &value)?;
            config.cache_bytes = (bytes > 0).then_some(bytes);
        }
        if let Some(value) = lookup("EMBEDSTORE_REPLICA_URLS") {
            config.replica_urls = parse_url_list("EMBEDSTORE_REPLICA_URLS", &value)?;
        }
        if let Some(value) = lookup("EMBEDSTORE_REPLICA_MAX_LAG_MS") {
            let millis = parse_number("EMBEDSTORE_REPLICA_MAX_LAG_MS", &value, 1, 3_600_000)?;
            config.replica_max_lag = Duration::from_millis(u64::from(millis));
        }
        if let Some(value) = lookup("EMBEDSTORE_REPLICA_WAIT_MS") {
            let millis = parse_number("EMBEDSTORE_REPLICA_WAIT_MS", &value, 0, 60_000)?;
            config.replica_wait = Duration::from_millis(u64::from(millis));
        }
        config.check()?;
        Ok(config)
    }

    /// Adds a replica (see [`Config::replica_urls`]).
    ///
    /// # Errors
    /// As [`Config::new`], naming `EMBEDSTORE_REPLICA_URLS`.
    pub fn replica(mut self, url: impl Into<String>) -> Result<Self> {
        let number = self.replica_urls.len() + 1;
        self.replica_urls.push(parse_replica_url(
            "EMBEDSTORE_REPLICA_URLS",
            number,
            url.into(),
        )?);
        Ok(self)
    }

    /// Checks the settings that have limits (also done by `Store::connect`).
    pub(crate) fn check(&self) -> Result<()> {
        let name = &self.application_name;
        if name.len() > 63 || name.chars().any(|c| !(' '..='~').contains(&c)) {
            return Err(Error::Config {
                variable: "EMBEDSTORE_APPLICATION_NAME",
                reason: "must be at most 63 printable ASCII characters".to_owned(),
            });
        }
        if self.pool_max_size == 0 {
            return Err(Error::Config {
                variable: "EMBEDSTORE_POOL_MAX_SIZE",
                reason: "must be at least 1".to_owned(),
            });
        }
        // r2d2 asserts these; a configuration error must be an error, never a panic.
        if self.pool_min_idle > self.pool_max_size {
            return Err(Error::Config {
                variable: "EMBEDSTORE_POOL_MIN_IDLE",
                reason: format!(
                    "{} exceeds EMBEDSTORE_POOL_MAX_SIZE {}",
                    self.pool_min_idle, self.pool_max_size
                ),
            });
        }
        if self
            .cache_bytes
            .is_some_and(|bytes| bytes == 0 || bytes > MAX_CACHE_BYTES)
        {
            return Err(Error::Config {
                variable: "EMBEDSTORE_CACHE_BYTES",
                reason: format!("must be from 1 to {MAX_CACHE_BYTES} (or unset for no cache)"),
            });
        }
        if self.replica_urls.len() > MAX_REPLICAS {
            return Err(Error::Config {
                variable: "EMBEDSTORE_REPLICA_URLS",
                reason: format!("at most {MAX_REPLICAS} replicas"),
            });
        }
        if self.replica_max_lag.is_zero() {
            return Err(Error::Config {
                variable: "EMBEDSTORE_REPLICA_MAX_LAG_MS",
                reason: "must be at least 1 ms".to_owned(),
            });
        }
        if self.connect_timeout < Duration::from_secs(1) {
            return Err(Error::Config {
                variable: "EMBEDSTORE_CONNECT_TIMEOUT_SECS",
                reason: "must be at least 1 second".to_owned(),
            });
        }
        Ok(())
    }
}

fn parse_number(variable: &'static str, value: &str, min: u32, max: u32) -> Result<u32> {
    match value.trim().parse::<u32>() {
        Ok(number) if (min..=max).contains(&number) => Ok(number),
        _ => Err(Error::Config {
            variable,
            reason: format!("expected a whole number from {min} to {max}, got {value:?}"),
        }),
    }
}

/// A byte count: plain decimal digits (spaces around them allowed), at most
/// [`MAX_CACHE_BYTES`]; no sign, exponent, separator or unit.
fn parse_bytes(variable: &'static str, value: &str) -> Result<usize> {
    let digits = value.trim();
    let parsed = if !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit()) {
        digits.parse::<usize>().ok()
    } else {
        None
    };
    match parsed {
        Some(bytes) if bytes <= MAX_CACHE_BYTES => Ok(bytes),
        _ => Err(Error::Config {
            variable,
            reason: format!(
                "expected a whole number of bytes from 0 to {MAX_CACHE_BYTES}, got {value:?}"
            ),
        }),
    }
}

/// Splits a comma-separated list of connection strings: commas inside a single-quoted libpq
/// value (where `\'` and `\\` escape) do not split; spaces around each item are dropped; an
/// empty list (only spaces) is no replica; an empty item is refused.
fn parse_url_list(variable: &'static str, value: &str) -> Result<Vec<DatabaseUrl>> {
    if value.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut items = Vec::new();
    let (mut current, mut quoted, mut escaped) = (String::new(), false, false);
    for c in value.chars() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '\'' {
            quoted = !quoted;
        } else if c == ',' && !quoted {
            items.push(std::mem::take(&mut current));
            continue;
        }
        current.push(c);
    }
    if quoted {
        return Err(Error::Config {
            variable,
            reason: "a single quote is not closed".to_owned(),
        });
    }
    items.push(current);
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| parse_replica_url(variable, index + 1, item.trim().to_owned()))
        .collect()
}

/// One replica's connection string; errors name the item by its position, never its text.
fn parse_replica_url(variable: &'static str, number: usize, raw: String) -> Result<DatabaseUrl> {
    if raw.is_empty() {
        return Err(Error::Config {
            variable,
            reason: format!(
                "item {number} is empty (separate connection strings by single commas)"
            ),
        });
    }
    DatabaseUrl::parse(raw).map_err(|error| Error::Config {
        variable,
        reason: match error {
            Error::Config { reason, .. } => format!("item {number}: {reason}"),
            other => format!("item {number}: {other}"),
        },
    })
}

#[cfg(test)]
mod tests;
