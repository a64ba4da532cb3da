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
    let url =
        DatabaseUrl::parse("host=10.0.0.5 port=5433 dbname=x user=u password=hunter2".to_owned())
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

const PRIMARY: (&str, &str) = ("DATABASE_URL", "postgres://app:pw@10.0.0.1/vectors");

#[test]
fn replica_urls_split_on_commas_outside_quotes() {
    let config = config_from(&[
        PRIMARY,
        (
            "EMBEDSTORE_REPLICA_URLS",
            " postgres://app:r3pl1ca-pw@10.0.0.2:5433/vectors ,host=10.0.0.3 port=5434 \
             dbname=vectors user=app password='a,b\\'c\\\\,d' ,  postgresql://10.0.0.4/vectors?sslmode=require",
        ),
        ("EMBEDSTORE_REPLICA_MAX_LAG_MS", " 2500 "),
        ("EMBEDSTORE_REPLICA_WAIT_MS", "0"),
    ])
    .unwrap();
    let targets: Vec<String> = config
        .replica_urls
        .iter()
        .map(DatabaseUrl::target)
        .collect();
    assert_eq!(
        targets,
        [
            "10.0.0.2:5433/vectors",
            "10.0.0.3:5434/vectors",
            "10.0.0.4:5432/vectors"
        ]
    );
    // The quoted password kept its commas and escapes, and nothing shows it.
    assert!(config.replica_urls[1].expose_secret().contains("a,b"));
    let debug = format!("{config:?}");
    for secret in ["r3pl1ca-pw", "a,b", "c\\\\,d"] {
        assert!(!debug.contains(secret), "{debug}");
    }
    assert_eq!(config.replica_max_lag, Duration::from_millis(2500));
    assert_eq!(config.replica_wait, Duration::ZERO);
}

#[test]
fn replica_defaults_and_an_empty_list() {
    let config = config_from(&[PRIMARY, ("EMBEDSTORE_REPLICA_URLS", "   ")]).unwrap();
    assert!(config.replica_urls.is_empty());
    assert_eq!(config.replica_max_lag, Duration::from_secs(5));
    assert_eq!(config.replica_wait, Duration::from_millis(100));
    let built = Config::new("postgres://a@h/db")
        .unwrap()
        .replica("host=r1 dbname=db")
        .unwrap()
        .replica("postgres://r2/db")
        .unwrap();
    assert_eq!(built.replica_urls.len(), 2);
}

#[test]
fn bad_replica_lists_name_the_item_never_its_text() {
    for (value, expected) in [
        ("postgres://r1/db,", "item 2 is empty"),
        (",postgres://r1/db", "item 1 is empty"),
        ("postgres://r1/db,,postgres://r2/db", "item 2 is empty"),
        (
            "postgres://r1/db, not-a-url-s3cr3t",
            "item 2: expected postgres://",
        ),
        ("host=r1 password='s3cr3t", "single quote is not closed"),
        (
            "postgres://r1/db,host=r2 password='s3cr3t, x",
            "single quote is not closed",
        ),
        ("postgres://u:s3cr3t@[::1/db", "item 1: not a valid URL"),
        ("postgres://u@h1,h2/db", "item 2: expected postgres://"),
        ("host=r1 dbname=x; SELECT pg_sleep(10) s3cr3t", "item 1"),
    ] {
        let error = config_from(&[PRIMARY, ("EMBEDSTORE_REPLICA_URLS", value)])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("EMBEDSTORE_REPLICA_URLS"),
            "{value:?}: {error}"
        );
        assert!(error.contains(expected), "{value:?}: {error}");
        assert!(!error.contains("s3cr3t"), "{value:?}: {error}");
    }
    for (variable, value) in [
        ("EMBEDSTORE_REPLICA_MAX_LAG_MS", "0"),
        ("EMBEDSTORE_REPLICA_MAX_LAG_MS", "-5"),
        ("EMBEDSTORE_REPLICA_MAX_LAG_MS", "1e3"),
        ("EMBEDSTORE_REPLICA_WAIT_MS", "60001"),
        ("EMBEDSTORE_REPLICA_WAIT_MS", "ten"),
    ] {
        let error = config_from(&[PRIMARY, (variable, value)])
            .unwrap_err()
            .to_string();
        assert!(error.contains(variable), "{variable}={value:?}: {error}");
    }
    let many = vec!["postgres://r/db"; MAX_REPLICAS + 1].join(",");
    let error = config_from(&[PRIMARY, ("EMBEDSTORE_REPLICA_URLS", &many)])
        .unwrap_err()
        .to_string();
    assert!(error.contains("at most 16 replicas"), "{error}");
}
