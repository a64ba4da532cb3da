//! The SQL accessor functions: catalog properties, and the timestamp rules shared with Rust.

use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Text};
use embedstore::internals::{SqlBuilder, is_timestamp};
use embedstore::{Error, Filter, ScrollRequest};
use embedstore_test_support::TestDatabase;

use super::matrix;

#[derive(QueryableByName)]
struct Accepted {
    #[diesel(sql_type = Array<Text>)]
    accepted: Vec<String>,
}

#[test]
fn the_timestamp_accessor_agrees_with_rust_and_ignores_the_session_time_zone() {
    let db = TestDatabase::new();
    let mut candidates: Vec<String> = [
        "2026-11-25T08:00:00Z",
        "2026-11-25t08:00:00z",
        "2026-11-25 08:00:00.123456789+01:00",
        "2024-02-29T00:00:00-15:59",
        "2023-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-04-30T23:59:59+15:00",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+15:00",
        "9999-12-31T23:59:59-15:59",
        "2026-11-25T08:00:00",
        "2026-11-25T08:00:60Z",
        "2026-11-25T08:00:00+16:00",
        "2026-11-25T08:00:00.Z",
        "2026-11-25",
        "tomorrow",
        "epoch",
        "",
    ]
    .map(str::to_owned)
    .to_vec();
    // Every month end and its day after, in a leap year, a common year and 1900 / 2000.
    for year in [1900, 2000, 2023, 2024] {
        for month in 1..=12 {
            for day in 28..=32 {
                candidates.push(format!("{year:04}-{month:02}-{day:02}T12:00:00+00:00"));
            }
        }
    }
    let expected: Vec<String> = candidates
        .iter()
        .filter(|text| is_timestamp(text))
        .cloned()
        .collect();
    assert!(expected.len() > 150 && expected.len() < candidates.len());
    for zone in ["UTC", "Pacific/Kiritimati", "America/St_Johns"] {
        let accepted: Accepted = db
            .store()
            .read(|uow| {
                let mut sql = SqlBuilder::new();
                sql.push("SELECT set_config('TimeZone', ")
                    .bind(zone)
                    .push(", true)");
                sql.into_query().execute(uow.connection())?;
                let mut sql = SqlBuilder::new();
                sql.push(
                    "SELECT coalesce(array_agg(candidate ORDER BY position), '{}') AS accepted \
                          FROM unnest(",
                )
                .bind_cast(candidates.clone(), "text[]")
                .push(
                    ") WITH ORDINALITY AS c(candidate, position) \
                           WHERE embedstore_jsonb_timestamptz(to_jsonb(candidate)) IS NOT NULL",
                );
                Ok::<_, Error>(sql.into_query().get_result(uow.connection())?)
            })
            .unwrap();
        assert_eq!(accepted.accepted, expected, "TimeZone {zone}");
    }
}

#[test]
fn timestamp_filters_give_the_same_rows_in_every_session_time_zone() {
    let (db, c) = matrix();
    for zone in ["UTC", "Asia/Kathmandu", "America/Los_Angeles"] {
        let ids: Vec<String> = db
            .store()
            .read(|uow| {
                let mut sql = SqlBuilder::new();
                sql.push("SELECT set_config('TimeZone', ")
                    .bind(zone)
                    .push(", true)");
                sql.into_query().execute(uow.connection())?;
                let page = uow.embeddings().scroll(
                    &c,
                    &ScrollRequest::new(10).with_filter(Filter::lt("at", "2026-06-01T10:00:01Z")),
                )?;
                Ok::<_, Error>(
                    page.items
                        .into_iter()
                        .map(|item| item.external_id)
                        .collect(),
                )
            })
            .unwrap();
        assert_eq!(ids, ["r01", "r02"], "TimeZone {zone}");
    }
}

#[derive(QueryableByName)]
struct Accessor {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    volatility: String,
    #[diesel(sql_type = Text)]
    parallel: String,
    #[diesel(sql_type = Bool)]
    commented: bool,
}

#[test]
fn the_accessors_are_immutable_parallel_safe_and_commented() {
    let db = TestDatabase::new();
    let mut conn = db.raw_connection();
    let accessors: Vec<Accessor> = diesel::sql_query(
        "SELECT proname::text AS name, provolatile::text AS volatility, proparallel::text AS parallel, \
                obj_description(oid, 'pg_proc') IS NOT NULL AS commented \
         FROM pg_proc WHERE proname LIKE 'embedstore\\_jsonb\\_%' ORDER BY proname",
    )
    .load(&mut conn)
    .unwrap();
    let names: Vec<&str> = accessors.iter().map(|row| row.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "embedstore_jsonb_bool",
            "embedstore_jsonb_numeric",
            "embedstore_jsonb_text",
            "embedstore_jsonb_timestamptz"
        ]
    );
    for row in &accessors {
        assert_eq!(
            (
                row.volatility.as_str(),
                row.parallel.as_str(),
                row.commented
            ),
            ("i", "s", true),
            "{}",
            row.name
        );
    }
}
