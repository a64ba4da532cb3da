//! No password in the CLI's output of a failing TLS connect or a bad URL.

use std::process::Command;

use embedstore_test_support::cluster::{tls_cluster, verify_full};
use embedstore_test_support::secrets::{BAD_URLS, SECRET, SPACED_CONNINFO, assert_no_secret};

use crate::support::stdout_and_stderr;

/// Runs the CLI with `DATABASE_URL` set and returns (exit status, stdout + stderr).
fn cli(database_url: &str, args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_embedstore"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("EMBEDSTORE_CONNECT_TIMEOUT_SECS", "1")
        .env_remove("RUST_BACKTRACE")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    (output.status.code(), stdout_and_stderr(&output))
}

#[test]
fn the_cli_never_prints_the_password_of_a_failing_tls_connect() {
    let (cluster, certs) = tls_cluster();
    for (url, expected) in [
        (
            cluster.superuser_url_via("localhost", &verify_full(&certs.path("other-ca.crt"))),
            "certificate verify failed",
        ),
        (
            cluster.superuser_url_via(
                "db.example.invalid",
                &format!("{}&hostaddr=127.0.0.1", verify_full(&certs.path("ca.crt"))),
            ),
            "does not match host name",
        ),
    ] {
        let (status, text) = cli(&url, &["collection", "list"]);
        assert_eq!(status, Some(1), "{text}");
        assert!(text.starts_with("error: "), "{text}");
        assert!(text.contains(expected), "{text}");
        assert_no_secret(&text, cluster.superuser_password());
    }
}

#[test]
fn the_cli_never_prints_the_password_of_a_bad_url() {
    for raw in BAD_URLS.iter().chain(SPACED_CONNINFO) {
        let (status, text) = cli(raw, &["collection", "list"]);
        assert_ne!(status, Some(0), "{raw}: {text}");
        assert!(text.starts_with("error: "), "{raw}: {text}");
        assert_no_secret(&text, SECRET);
        // Also through the flag rather than the environment.
        let (_, text) = cli("", &["--database-url", raw, "collection", "list"]);
        assert_no_secret(&text, SECRET);
    }
}
