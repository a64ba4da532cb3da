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
//!
//! The password never appears in `Debug`, `Display`, logs or errors: [`DatabaseUrl`] redacts it.

use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};

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
}

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
        config.check()?;
        Ok(config)
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

/// A PostgreSQL connection string whose password is never shown.
///
/// `Debug` and `Display` print the URL with the password replaced by `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    raw: String,
    form: UrlForm,
}

#[derive(Clone, PartialEq, Eq)]
enum UrlForm {
    Uri,
    /// libpq `key = value` settings, parsed by libpq's rules (spaces around `=`, single-quoted
    /// values, `\'` and `\\` escapes), in their original order.
    KeyValue(Vec<(String, String)>),
}

impl DatabaseUrl {
    /// Checks the form of `raw` (URI or libpq `key=value`).
    ///
    /// # Errors
    /// [`Error::Config`] for anything else; the message never repeats the input.
    pub fn parse(raw: String) -> Result<Self> {
        let form = if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            url::Url::parse(&raw).map_err(|error| Error::Config {
                variable: "DATABASE_URL",
                reason: format!("not a valid URL ({error})"),
            })?;
            UrlForm::Uri
        } else if raw.contains('=') {
            UrlForm::KeyValue(parse_conninfo(&raw)?)
        } else {
            return Err(Error::Config {
                variable: "DATABASE_URL",
                reason: "expected postgres://… or libpq key=value settings".to_owned(),
            });
        };
        Ok(Self { raw, form })
    }

    /// The full string, password included: only for handing to libpq.
    pub fn expose_secret(&self) -> &str {
        &self.raw
    }

    /// `host:port/database` for messages; never includes user or password.
    pub fn target(&self) -> String {
        let host = self
            .setting("host")
            .unwrap_or_else(|| "localhost".to_owned());
        let port = self.setting("port").unwrap_or_else(|| "5432".to_owned());
        let database = self.setting("dbname").unwrap_or_default();
        format!("{host}:{port}/{database}")
    }

    /// The same server, another database.
    pub fn with_database(&self, database: &str) -> DatabaseUrl {
        self.with_setting("dbname", database)
    }

    /// The same connection string with libpq setting `key` replaced or added.
    pub fn with_setting(&self, key: &str, value: &str) -> DatabaseUrl {
        let raw = match &self.form {
            UrlForm::Uri => {
                let mut url = self.uri();
                if key == "dbname" {
                    url.set_path(&format!("/{value}"));
                } else {
                    let kept: Vec<(String, String)> = url
                        .query_pairs()
                        .filter(|(name, _)| name != key)
                        .map(|(name, value)| (name.into_owned(), value.into_owned()))
                        .collect();
                    url.query_pairs_mut()
                        .clear()
                        .extend_pairs(kept)
                        .append_pair(key, value);
                }
                url.to_string()
            }
            UrlForm::KeyValue(pairs) => {
                let mut pairs: Vec<(String, String)> = pairs
                    .iter()
                    .filter(|(name, _)| name != key)
                    .cloned()
                    .collect();
                pairs.push((key.to_owned(), value.to_owned()));
                return DatabaseUrl {
                    raw: render_conninfo(&pairs, false),
                    form: UrlForm::KeyValue(pairs),
                };
            }
        };
        DatabaseUrl {
            raw,
            form: UrlForm::Uri,
        }
    }

    /// A libpq setting from the string, when present.
    fn setting(&self, key: &str) -> Option<String> {
        match &self.form {
            UrlForm::Uri => {
                let url = self.uri();
                match key {
                    "host" => url.host_str().map(str::to_owned),
                    "port" => url.port().map(|port| port.to_string()),
                    "dbname" => Some(url.path().trim_start_matches('/').to_owned()),
                    _ => url
                        .query_pairs()
                        .find(|(name, _)| name == key)
                        .map(|(_, value)| value.into_owned()),
                }
            }
            UrlForm::KeyValue(pairs) => pairs
                .iter()
                .rev()
                .find(|(name, _)| name == key)
                .map(|(_, value)| value.clone()),
        }
    }

    fn uri(&self) -> url::Url {
        // Checked in `parse`; a failure here would mean the form changed, so fall back to a
        // URL with nothing in it rather than panic.
        url::Url::parse(&self.raw).unwrap_or_else(|_| {
            url::Url::parse("postgres://invalid/").unwrap_or_else(|_| unreachable!())
        })
    }

    fn redacted(&self) -> String {
        match &self.form {
            UrlForm::Uri => {
                let mut url = self.uri();
                if url.password().is_some() {
                    // Only fails for URLs that cannot have a password, which is not the case here.
                    let _ = url.set_password(Some("***"));
                }
                let pairs: Vec<(String, String)> = url
                    .query_pairs()
                    .map(|(name, value)| {
                        let value = if name == "password" {
                            "***".into()
                        } else {
                            value.into_owned()
                        };
                        (name.into_owned(), value)
                    })
                    .collect();
                if !pairs.is_empty() {
                    url.query_pairs_mut().clear().extend_pairs(pairs);
                }
                url.to_string()
            }
            UrlForm::KeyValue(pairs) => render_conninfo(pairs, true),
        }
    }
}

/// Parses libpq `key = value` settings as libpq does: keys are words, `=` may have spaces
/// around it, a value is either a run of non-space characters or single-quoted, and `\\`
/// escapes the next character in both. Errors name the position only, never the text (it may
/// hold a password).
fn parse_conninfo(raw: &str) -> Result<Vec<(String, String)>> {
    let malformed = |at: usize, why: &str| Error::Config {
        variable: "DATABASE_URL",
        reason: format!("malformed key=value settings at character {at}: {why}"),
    };
    let chars: Vec<char> = raw.chars().collect();
    let mut pairs = Vec::new();
    let mut at = 0;
    let skip_spaces = |at: &mut usize| {
        while *at < chars.len() && chars[*at].is_whitespace() {
            *at += 1;
        }
    };
    loop {
        skip_spaces(&mut at);
        if at == chars.len() {
            break;
        }
        let start = at;
        while at < chars.len() && (chars[at].is_ascii_alphanumeric() || chars[at] == '_') {
            at += 1;
        }
        if at == start {
            return Err(malformed(at, "expected a setting name"));
        }
        let key: String = chars[start..at].iter().collect();
        skip_spaces(&mut at);
        if chars.get(at) != Some(&'=') {
            return Err(malformed(at, "expected `=` after a setting name"));
        }
        at += 1;
        skip_spaces(&mut at);
        let mut value = String::new();
        if chars.get(at) == Some(&'\'') {
            at += 1;
            loop {
                match chars.get(at) {
                    None => return Err(malformed(at, "unterminated quoted value")),
                    Some('\'') => {
                        at += 1;
                        break;
                    }
                    Some('\\') => {
                        let escaped = chars
                            .get(at + 1)
                            .ok_or_else(|| malformed(at, "a backslash ends the text"))?;
                        value.push(*escaped);
                        at += 2;
                    }
                    Some(other) => {
                        value.push(*other);
                        at += 1;
                    }
                }
            }
        } else {
            while let Some(next) = chars.get(at) {
                if next.is_whitespace() {
                    break;
                }
                if *next == '\\' {
                    let escaped = chars
                        .get(at + 1)
                        .ok_or_else(|| malformed(at, "a backslash ends the text"))?;
                    value.push(*escaped);
                    at += 2;
                } else {
                    value.push(*next);
                    at += 1;
                }
            }
        }
        pairs.push((key, value));
    }
    if pairs.is_empty() {
        return Err(malformed(0, "no settings"));
    }
    Ok(pairs)
}

/// `key='value' …` with quotes and backslashes escaped; with `redact`, the password as `***`.
fn render_conninfo(pairs: &[(String, String)], redact: bool) -> String {
    pairs
        .iter()
        .map(|(key, value)| {
            if redact && key == "password" {
                format!("{key}=***")
            } else {
                let quoted = value.replace('\\', "\\\\").replace('\'', "\\'");
                format!("{key}='{quoted}'")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({:?})", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_from(pairs: &[(&str, &str)]) -> Result<Config> {
        Config::from_lookup(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn debug_and_display_hide_the_password() {
        let config = config_from(&[(
            "DATABASE_URL",
            "postgres://app:s3cr3t-pw@db.internal:6543/vectors?password=other-s3cr3t",
        )])
        .unwrap();
        let debug = format!("{config:?}");
        let display = config.database_url.to_string();
        for text in [&debug, &display] {
            assert!(!text.contains("s3cr3t"), "{text}");
            assert!(text.contains("***"), "{text}");
        }
        assert_eq!(config.database_url.target(), "db.internal:6543/vectors");
    }

    #[test]
    fn key_value_form_hides_the_password() {
        let url = DatabaseUrl::parse(
            "host=10.0.0.5 port=5433 dbname=x user=u password=hunter2".to_owned(),
        )
        .unwrap();
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(url.target(), "10.0.0.5:5433/x");
        assert!(
            url.with_database("y")
                .expose_secret()
                .contains("dbname='y'")
        );
    }

    #[test]
    fn missing_database_url_names_the_variable() {
        let error = config_from(&[]).unwrap_err();
        assert!(error.to_string().contains("DATABASE_URL"), "{error}");
    }

    #[test]
    fn malformed_numbers_name_the_variable_and_the_range() {
        let error = config_from(&[
            ("DATABASE_URL", "postgres://h/d"),
            ("EMBEDSTORE_POOL_MAX_SIZE", "many"),
        ])
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid configuration EMBEDSTORE_POOL_MAX_SIZE: expected a whole number from 1 to 1000, got \"many\""
        );
    }

    #[test]
    fn settings_are_read_and_zero_disables_the_statement_timeout() {
        let config = config_from(&[
            ("DATABASE_URL", "postgres://h/d"),
            ("EMBEDSTORE_POOL_MAX_SIZE", "4"),
            ("EMBEDSTORE_POOL_MIN_IDLE", "2"),
            ("EMBEDSTORE_CONNECT_TIMEOUT_SECS", "2"),
            ("EMBEDSTORE_STATEMENT_TIMEOUT_MS", "0"),
            ("EMBEDSTORE_APPLICATION_NAME", "search-api"),
        ])
        .unwrap();
        assert_eq!((config.pool_max_size, config.pool_min_idle), (4, 2));
        assert_eq!(config.connect_timeout, Duration::from_secs(2));
        assert_eq!(config.statement_timeout, None);
        assert_eq!(config.application_name, "search-api");
    }

    #[test]
    fn cache_bytes_takes_plain_digits_and_zero_turns_it_off() {
        let cache = |value: &str| {
            config_from(&[
                ("DATABASE_URL", "postgres://h/d"),
                ("EMBEDSTORE_CACHE_BYTES", value),
            ])
            .map(|config| config.cache_bytes)
        };
        assert_eq!(
            config_from(&[("DATABASE_URL", "postgres://h/d")])
                .unwrap()
                .cache_bytes,
            None
        );
        assert_eq!(cache("1048576").unwrap(), Some(1 << 20));
        assert_eq!(cache("  64000 \t").unwrap(), Some(64_000));
        assert_eq!(cache("0").unwrap(), None);
        assert_eq!(cache("1099511627776").unwrap(), Some(MAX_CACHE_BYTES));
        for hostile in [
            "",
            " ",
            "-1",
            "+5",
            "1e9",
            "1_000",
            "1,000",
            "1 000",
            "64MB",
            "0x10",
            "1.5",
            "1099511627777",
            "99999999999999999999999999",
            "١٢٣",
        ] {
            let error = cache(hostile).unwrap_err().to_string();
            assert!(
                error.contains("EMBEDSTORE_CACHE_BYTES"),
                "{hostile:?}: {error}"
            );
        }
        let mut config = Config::new("postgres://h/d").unwrap();
        config.cache_bytes = Some(0);
        assert!(
            config
                .check()
                .unwrap_err()
                .to_string()
                .contains("CACHE_BYTES")
        );
        config.cache_bytes = Some(MAX_CACHE_BYTES + 1);
        assert!(config.check().is_err());
    }

    #[test]
    fn min_idle_above_max_size_is_refused() {
        let error = config_from(&[
            ("DATABASE_URL", "postgres://h/d"),
            ("EMBEDSTORE_POOL_MAX_SIZE", "2"),
            ("EMBEDSTORE_POOL_MIN_IDLE", "3"),
        ])
        .unwrap_err();
        assert!(
            error.to_string().contains("EMBEDSTORE_POOL_MIN_IDLE"),
            "{error}"
        );
    }

    #[test]
    fn with_setting_replaces_query_parameters() {
        let url =
            DatabaseUrl::parse("postgres://u:p@h:1/d?connect_timeout=9&sslmode=disable".to_owned())
                .unwrap();
        let changed = url.with_setting("connect_timeout", "3");
        assert_eq!(
            changed.expose_secret(),
            "postgres://u:p@h:1/d?sslmode=disable&connect_timeout=3"
        );
    }

    #[test]
    fn spaced_quoted_and_escaped_passwords_never_show() {
        for (raw, password) in [
            ("host=h password = hunter2 dbname=d", "hunter2"),
            ("host=h password='hunter 2' dbname=d", "hunter 2"),
            ("host=h password='it\\'s' dbname=d", "it's"),
            ("host=h password=a\\\\b dbname=d", "a\\b"),
            ("password = 'x y z'   host = h", "x y z"),
        ] {
            let url = DatabaseUrl::parse(raw.to_owned()).unwrap();
            assert_eq!(url.setting("password").as_deref(), Some(password), "{raw}");
            for shown in [format!("{url:?}"), url.to_string(), url.target()] {
                for piece in password.split(' ').filter(|piece| piece.len() > 1) {
                    assert!(!shown.contains(piece), "{raw} shows {shown}");
                }
            }
            // Re-rendered settings keep the password intact for libpq.
            let moved = url.with_database("other");
            assert_eq!(moved.setting("password").as_deref(), Some(password));
            assert_eq!(moved.target(), "h:5432/other");
        }
    }

    #[test]
    fn malformed_key_value_settings_are_refused_without_echoing_them() {
        for raw in [
            "host=h password='s3cretZ",
            "host=h =s3cretZ",
            "host=h s3cretZ",
            "host=h password=s3cretZ\\",
        ] {
            let error = DatabaseUrl::parse(raw.to_owned()).unwrap_err().to_string();
            assert!(error.contains("malformed key=value settings"), "{error}");
            assert!(!error.contains("s3cretZ"), "{error}");
        }
    }

    #[test]
    fn settings_that_would_make_r2d2_panic_are_configuration_errors() {
        let mut config = Config::new("postgres://h/d").unwrap();
        config.connect_timeout = Duration::ZERO;
        assert!(
            config
                .check()
                .unwrap_err()
                .to_string()
                .contains("CONNECT_TIMEOUT")
        );
        let mut config = Config::new("postgres://h/d").unwrap();
        (config.pool_max_size, config.pool_min_idle) = (2, 5);
        assert!(config.check().unwrap_err().to_string().contains("MIN_IDLE"));
        let mut config = Config::new("postgres://h/d").unwrap();
        config.pool_max_size = 0;
        assert!(config.check().unwrap_err().to_string().contains("MAX_SIZE"));
        let error = config_from(&[
            ("DATABASE_URL", "postgres://h/d"),
            ("EMBEDSTORE_CONNECT_TIMEOUT_SECS", "0"),
        ])
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("EMBEDSTORE_CONNECT_TIMEOUT_SECS"),
            "{error}"
        );
    }
}
