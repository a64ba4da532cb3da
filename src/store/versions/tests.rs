use super::*;

fn server(postgres: &str, pgvector: Option<&str>, installed: bool) -> ServerVersions {
    let major = parse_version(postgres).unwrap().0;
    ServerVersions {
        postgres: postgres.to_owned(),
        postgres_major: major,
        pgvector: pgvector.map(str::to_owned),
        pgvector_installed: installed,
    }
}

fn refusal(versions: &ServerVersions) -> String {
    check(versions, true).expect_err("refused").to_string()
}

#[test]
fn supported_majors_and_pgvector_pass() {
    for postgres in ["15.14", "16.10", "17.6", "18.6"] {
        for pgvector in ["0.8.0", "0.8.6", "0.9.0-dev"] {
            check(&server(postgres, Some(pgvector), true), true).unwrap();
        }
    }
}

#[test]
fn an_older_or_newer_major_is_refused_naming_both_versions() {
    for postgres in ["14.9", "13.2", "19.0", "19beta1"] {
        let message = refusal(&server(postgres, Some("0.8.6"), true));
        assert!(
            message.contains(&format!("PostgreSQL {postgres}")),
            "{message}"
        );
        assert!(message.contains("pgvector 0.8.6"), "{message}");
        assert!(
            message.contains("supported: PostgreSQL 15 to 18"),
            "{message}"
        );
    }
}

#[test]
fn an_older_pgvector_is_refused_naming_the_feature_that_needs_0_8() {
    let message = refusal(&server("18.6", Some("0.7.4"), true));
    assert!(message.contains("PostgreSQL 18.6"), "{message}");
    assert!(
        message.contains("pgvector 0.7.4 is older than 0.8.0"),
        "{message}"
    );
    assert!(message.contains("iterative index scans"), "{message}");
    assert!(
        message.contains("ALTER EXTENSION vector UPDATE"),
        "{message}"
    );
    let only_available = refusal(&server("15.14", Some("0.5.1"), false));
    assert!(
        !only_available.contains("ALTER EXTENSION"),
        "{only_available}"
    );
}

#[test]
fn a_missing_pgvector_is_refused_by_migrate_not_by_connect() {
    let bare = server("16.4", None, false);
    check(&bare, false).unwrap();
    assert!(refusal(&bare).contains("no pgvector extension"));
}

#[test]
fn versions_parse_with_suffixes() {
    assert_eq!(parse_version("0.8.0"), Some((0, 8, 0)));
    assert_eq!(parse_version("0.10.1-dev"), Some((0, 10, 1)));
    assert_eq!(parse_version("19beta1"), Some((19, 0, 0)));
    assert_eq!(parse_version("1"), Some((1, 0, 0)));
    assert_eq!(parse_version("dev"), None);
}
