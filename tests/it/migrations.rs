use diesel::prelude::*;
use embedstore_test_support::TestDatabase;

#[test]
fn migrations_apply_once_and_then_report_up_to_date() {
    let db = TestDatabase::unmigrated();
    let pending = db.store().pending_migrations().unwrap();
    let folders = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().path().is_dir())
        .count();
    assert_eq!(pending.len(), folders, "{pending:?}");
    let applied = db.store().migrate().unwrap();
    assert_eq!(
        applied, pending,
        "applied in order, named like the pending list"
    );
    assert_eq!(applied[0], "2026-11-23-000001_vector_extension");
    assert!(db.store().migrate().unwrap().is_empty());
    assert!(db.store().pending_migrations().unwrap().is_empty());
}

#[derive(QueryableByName)]
struct Uncommented {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

#[test]
fn every_table_and_column_is_commented() {
    let db = TestDatabase::new();
    let mut conn = db.raw_connection();
    let missing: Vec<Uncommented> = diesel::sql_query(
        "SELECT c.relname || coalesce('.' || a.attname, '') AS name \
         FROM pg_class c \
         LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
           AND c.relname <> '__diesel_schema_migrations' AND c.relnamespace = 'public'::regnamespace \
           AND col_description(c.oid, coalesce(a.attnum, 0)) IS NULL \
           AND (a.attnum IS NOT NULL OR obj_description(c.oid, 'pg_class') IS NULL)",
    )
    .load(&mut conn)
    .unwrap();
    let names: Vec<&str> = missing.iter().map(|row| row.name.as_str()).collect();
    assert!(names.is_empty(), "uncommented: {names:?}");
}

#[derive(QueryableByName)]
struct Reported {
    #[diesel(sql_type = diesel::sql_types::Text)]
    num: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    version: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pgvector: String,
}

/// The server the tests run on (PostgreSQL 15 and 18 in CI) is in the supported set: connect
/// and migrate accepted it, and the versions they checked are the server's own.
#[test]
fn the_servers_versions_are_read_and_accepted() {
    let db = TestDatabase::unmigrated();
    db.store().migrate().unwrap();
    let versions = db.store().server_versions().unwrap();
    let mut conn = db.raw_connection();
    let reported: Reported = diesel::sql_query(
        "SELECT current_setting('server_version_num') AS num, \
                current_setting('server_version') AS version, \
                (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgvector",
    )
    .get_result(&mut conn)
    .unwrap();
    let major: u32 = reported.num.parse::<u32>().unwrap() / 10_000;
    assert_eq!(versions.postgres_major, major);
    assert!((15..=18).contains(&major), "{versions:?}");
    assert!(
        reported.version.starts_with(&versions.postgres),
        "{versions:?}"
    );
    assert_eq!(
        versions.pgvector.as_deref(),
        Some(reported.pgvector.as_str())
    );
    assert!(versions.pgvector_installed);
    let (lead, rest) = reported.pgvector.split_once('.').unwrap();
    let minor: u32 = rest.split('.').next().unwrap().parse().unwrap();
    assert!(lead != "0" || minor >= 8, "{versions:?}");
}

/// End to end on the real server: a database whose catalog records pgvector 0.7.4 (set by
/// hand in this throw-away test database, as an old install would have left it) is refused by
/// `Store::connect` with both versions and the feature named.
#[test]
fn a_database_with_an_old_pgvector_is_refused_at_connect() {
    let db = TestDatabase::new();
    diesel::sql_query("UPDATE pg_extension SET extversion = '0.7.4' WHERE extname = 'vector'")
        .execute(&mut db.raw_connection())
        .unwrap();
    let config = embedstore::Config::new(db.url().expose_secret().to_owned()).unwrap();
    let error = match embedstore::Store::connect(config) {
        Ok(_) => panic!("a database with pgvector 0.7.4 was accepted"),
        Err(error) => error,
    };
    assert!(
        matches!(error, embedstore::Error::UnsupportedServer { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("with pgvector 0.7.4"), "{message}");
    assert!(
        message.contains("unsupported server PostgreSQL 1"),
        "{message}"
    );
    assert!(message.contains("iterative index scans"), "{message}");
}
