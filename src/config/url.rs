//! [`DatabaseUrl`]: a connection string in URI or libpq `key=value` form whose password no
//! `Debug`, `Display`, log or error shows.

use std::fmt;

use crate::error::{Error, Result};

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
    pub(super) fn setting(&self, key: &str) -> Option<String> {
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
