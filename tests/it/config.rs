use std::time::{Duration, Instant};

use diesel::prelude::*;
use embedstore::{Config, Error, Store};
use embedstore_test_support::TestDatabase;

#[test]
fn connecting_to_a_server_that_is_down_fails_within_the_timeout_without_the_password() {
    // Port 1 on loopback: nothing listens there.
    let mut config = Config::new("postgres://app:pa55w0rd-secret@127.0.0.1:1/vectors").unwrap();
    config.connect_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let error = Store::connect(config).unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
    assert!(
        elapsed < Duration::from_secs(4),
        "gave up after {elapsed:?}"
    );
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(text.contains("127.0.0.1:1/vectors"), "{text}");
        assert!(!text.contains("pa55w0rd"), "{text}");
    }
}

#[test]
fn debug_of_config_and_store_hides_the_password() {
    let db = TestDatabase::new();
    let url = db.url().with_setting("password", "embedstore");
    let config = Config::new(url.expose_secret()).unwrap();
    let store = Store::connect(config.clone()).unwrap();
    for text in [
        format!("{config:?}"),
        format!("{store:?}"),
        config.database_url.to_string(),
    ] {
        assert!(
            !text.contains("password=embedstore") && !text.contains(":embedstore@"),
            "{text}"
        );
    }
}

#[derive(QueryableByName)]
struct Settings {
    #[diesel(sql_type = diesel::sql_types::Text)]
    application_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    statement_timeout: String,
}

#[test]
fn every_connection_gets_the_configured_session_settings() {
    let db = TestDatabase::new();
    let mut config = Config::new(db.url().expose_secret()).unwrap();
    config.application_name = "search-api".to_owned();
    config.statement_timeout = Some(Duration::from_millis(250));
    let store = Store::connect(config).unwrap();
    let settings: Settings = store
        .read(|uow| {
            diesel::sql_query(
                "SELECT current_setting('application_name') AS application_name, current_setting('statement_timeout') AS statement_timeout",
            )
            .get_result(uow.connection())
            .map_err(Error::from)
        })
        .unwrap();
    assert_eq!(
        (
            settings.application_name.as_str(),
            settings.statement_timeout.as_str()
        ),
        ("search-api", "250ms")
    );
    let error = store
        .read(|uow| {
            diesel::sql_query("SELECT pg_sleep(5)")
                .execute(uow.connection())
                .map_err(Error::from)
        })
        .unwrap_err();
    assert!(error.to_string().contains("statement timeout"), "{error}");
}

#[test]
fn permanent_connect_failures_fail_at_once_without_the_password() {
    // A throw-away server with password logins (the shared one may trust loopback).
    let cluster = embedstore_test_support::cluster::TestCluster::start(
        embedstore_test_support::cluster::ClusterOptions::new(),
    )
    .unwrap();
    let superuser = cluster.superuser_url("postgres").expose_secret().to_owned();
    let user = url::Url::parse(&superuser).unwrap().username().to_owned();
    let good = cluster.superuser_password().to_owned();
    for (case, attempt, database) in [
        (
            "wrong password",
            cluster.url(&user, "Wr0ng-S3cret-pw", "postgres", ""),
            "postgres",
        ),
        (
            "unknown database",
            cluster.url(&user, &good, "no_such_database_x1", ""),
            "no_such_database_x1",
        ),
        (
            "unknown role",
            cluster.url("no_such_role_x1", "Wr0ng-S3cret-pw", "postgres", ""),
            "postgres",
        ),
    ] {
        let mut config = embedstore::Config::new(attempt.expose_secret()).unwrap();
        config.connect_timeout = std::time::Duration::from_secs(20);
        let started = std::time::Instant::now();
        let error = embedstore::Store::connect(config).unwrap_err();
        let waited = started.elapsed();
        assert!(
            matches!(error, embedstore::Error::ConnectRefused { .. }),
            "{case}: {error:?}"
        );
        assert!(
            waited < std::time::Duration::from_secs(10),
            "{case}: waited {waited:?}"
        );
        let shown = format!("{error} {error:?}");
        assert!(
            !shown.contains("Wr0ng-S3cret-pw") && !shown.contains(&good),
            "{case}: {shown}"
        );
        assert!(shown.contains(&format!("/{database}")), "{case}: {shown}");
        println!("{case}: refused after {waited:?} (connect timeout 20 s)");
    }
}
