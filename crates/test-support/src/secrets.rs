//! Connection strings that carry a known password, and a check that a text never shows it:
//! for testing that errors, `Debug` output and command-line output of a service built on
//! embedstore never leak the database password.
//!
//! ```
//! use embedstore::Config;
//! use embedstore_test_support::secrets::{BAD_URLS, SECRET, assert_no_secret};
//! for raw in BAD_URLS {
//!     if let Err(error) = Config::new(*raw) {
//!         assert_no_secret(&format!("{error} {error:?}"), SECRET);
//!     }
//! }
//! ```

/// The password in every string of [`BAD_URLS`] and [`SPACED_CONNINFO`].
pub const SECRET: &str = "hunter2-S3cret";

/// URLs and connection strings that are refused before or while connecting (bad port, bad
/// host, nothing listening, a bad `sslmode`, no URL at all), each carrying [`SECRET`].
pub const BAD_URLS: &[&str] = &[
    "postgres://app:hunter2-S3cret@127.0.0.1:notaport/db",
    "postgres://app:hunter2-S3cret@127.0.0.1:99999/db",
    "postgres://app:hunter2-S3cret@[::1/db",
    "postgres://app:hunter2-S3cret@127.0.0.1:1/db",
    "postgres://app:hunter2-S3cret@127.0.0.1:1/db?sslmode=bogus",
    "postgres://app@127.0.0.1:1/db?password=hunter2-S3cret",
    "postgresql://app:hunter2-S3cret@/db?host=/nonexistent",
    "host=127.0.0.1 port=1 user=app password=hunter2-S3cret dbname=db",
    "hunter2-S3cret",
];

/// libpq `key=value` connection strings with spaces, quotes and escapes around a password
/// that contains [`SECRET`]; nothing listens on their port.
pub const SPACED_CONNINFO: &[&str] = &[
    "host=127.0.0.1 port=1 password = hunter2-S3cret",
    "host=127.0.0.1 port=1 password= 'hunter2-S3cret x'",
    "host=127.0.0.1 port=1 password='x hunter2-S3cret'",
    "host=127.0.0.1 port=1 password='it\\'s hunter2-S3cret'",
    "host=127.0.0.1 port=1 password=hunter2-S3cret\\ x",
];

/// Asserts that `text` shows `secret` neither as it is nor percent-encoded (as it would appear
/// in a URL).
///
/// # Panics
/// When it does, with the text.
pub fn assert_no_secret(text: &str, secret: &str) {
    assert!(!text.contains(secret), "the password leaked: {text}");
    let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    assert!(
        !text.contains(&encoded),
        "the encoded password leaked: {text}"
    );
}
