//! TLS on a private server with a CA and server certificate made at test time (openssl), and
//! no password in any error or `Debug` output of a failing connect or a bad URL (nor in the
//! CLI's output: the CLI crate's tests).

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::Bool;
use embedstore::{Config, Error, Store};
use embedstore_test_support::cluster::{tls_cluster, verify_full};
use embedstore_test_support::secrets::{BAD_URLS, SECRET, SPACED_CONNINFO, assert_no_secret};

fn connect(url: &str) -> Result<Store, Error> {
    let mut config = Config::new(url)?;
    config.pool_max_size = 1;
    config.connect_timeout = Duration::from_secs(2);
    Store::connect(config)
}

#[derive(QueryableByName)]
struct Ssl {
    #[diesel(sql_type = Bool)]
    ssl: bool,
}

fn uses_tls(store: &Store) -> bool {
    store
        .read(|uow| {
            diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .get_result::<Ssl>(uow.connection())
                .map_err(Error::from)
        })
        .unwrap()
        .ssl
}

/// Every text a failing connect can show: `Display`, `Debug`, and the source chain.
fn all_texts(error: &Error) -> String {
    let mut text = format!("{error}\n{error:?}");
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text.push_str(&format!("\n{inner}\n{inner:?}"));
        source = inner.source();
    }
    text
}

#[test]
fn verify_full_connects_with_the_right_ca_by_host_name_and_by_address() {
    let (cluster, certs) = tls_cluster();
    let ca = certs.path("ca.crt");
    for host in ["localhost", "127.0.0.1"] {
        let store = connect(&cluster.superuser_url_via(host, &verify_full(&ca)))
            .unwrap_or_else(|error| panic!("{host}: {error}"));
        assert!(uses_tls(&store), "{host}: the session must be encrypted");
        let names = store.read(|uow| uow.collections().list());
        // The postgres database is not migrated: the query fails, but over TLS.
        assert!(names.is_err());
    }
}

#[test]
fn verify_full_refuses_a_certificate_from_another_ca_without_showing_the_password() {
    let (cluster, certs) = tls_cluster();
    let error =
        connect(&cluster.superuser_url_via("localhost", &verify_full(&certs.path("other-ca.crt"))))
            .unwrap_err();
    assert!(matches!(error, Error::ConnectRefused { .. }), "{error:?}");
    let text = all_texts(&error);
    assert!(text.contains("certificate verify failed"), "{text}");
    assert_no_secret(&text, cluster.superuser_password());
}

#[test]
fn verify_full_refuses_a_certificate_for_another_host_name_without_showing_the_password() {
    let (cluster, certs) = tls_cluster();
    // Connect to 127.0.0.1 but check the certificate against a name it does not carry.
    let query = format!("{}&hostaddr=127.0.0.1", verify_full(&certs.path("ca.crt")));
    let error = connect(&cluster.superuser_url_via("db.example.invalid", &query)).unwrap_err();
    // The host name does not resolve (only hostaddr does), so the pool tries until the timeout.
    assert!(
        matches!(error, Error::Connect { .. } | Error::ConnectRefused { .. }),
        "{error:?}"
    );
    let text = all_texts(&error);
    assert!(
        text.contains("does not match host name \"db.example.invalid\""),
        "{text}"
    );
    assert_no_secret(&text, cluster.superuser_password());
}

#[test]
fn debug_of_spaced_quoted_and_escaped_conninfo_passwords_is_redacted() {
    for raw in SPACED_CONNINFO {
        match Config::new(*raw) {
            Ok(config) => {
                assert_no_secret(&format!("{config:?} {}", config.database_url), SECRET);
            }
            Err(error) => assert_no_secret(&all_texts(&error), SECRET),
        }
    }
}

#[test]
fn bad_urls_and_failed_connects_never_show_the_password() {
    for raw in BAD_URLS {
        let error = match Config::new(*raw) {
            Err(error) => error,
            Ok(config) => {
                let shown = format!("{config:?} {}", config.database_url);
                assert_no_secret(&shown, SECRET);
                let mut config = config;
                config.connect_timeout = Duration::from_secs(1);
                Store::connect(config).unwrap_err()
            }
        };
        assert_no_secret(&all_texts(&error), SECRET);
    }
}
