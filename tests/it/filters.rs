//! Metadata filters against a real database: semantics of every operator on a matrix of
//! mixed-type rows (count, scroll, delete and both renderings agree), hostile input, refused
//! filters and scroll paging. Submodules: index plans, bind types, the SQL accessors and a
//! reference evaluator.

use diesel::prelude::*;
use diesel::sql_types::Text;
use embedstore::internals::{PayloadLayout, SqlBuilder, render_filter};
use embedstore::{Collection, Error, FieldPath, Filter, Metric, NewEmbedding, ScrollRequest};
use embedstore_test_support::TestDatabase;
use serde_json::{Value, json};

use crate::support::{failures, with_collection};

mod accessors;
mod binds;
mod plans;
mod reference;

const HOSTILE: &str = "x'); DROP TABLE embeddings; --";

/// Rows whose metadata mixes types, nesting, missing keys, unicode and look-alike strings.
fn matrix_rows() -> Vec<(&'static str, Value)> {
    vec![
        (
            "r01",
            json!({"lang": "de", "n": 1, "price": 10, "tags": ["a", "b"], "ok": true, "at": "2026-01-01T00:00:00Z"}),
        ),
        (
            "r02",
            json!({"lang": "fr", "n": 1.0, "price": 10.5, "tags": ["b"], "ok": false, "at": "2026-06-01T12:00:00+02:00"}),
        ),
        (
            "r03",
            json!({"lang": "en", "n": "10", "price": "10", "tags": "a", "ok": "true", "at": "2026-06-01"}),
        ),
        (
            "r04",
            json!({"lang": null, "n": 2, "price": -3, "tags": [], "nested": {"a": {"b": "x"}}}),
        ),
        (
            "r05",
            json!({"nested": {"a": {"b": "y"}}, "n": 1e2, "tags": [{"k": 1, "j": 2}], "arr": [1, [2, 3]]}),
        ),
        ("r06", json!({})),
        (
            "r07",
            json!({"lang": "Ünïcødé 日本", "größe": "groß", "tags": ["ü"]}),
        ),
        (
            "r08",
            json!({"lang": "de", "n": 10, "price": 1e3, "a.b": "literal dotted key", "nested": {"a": "flat"}}),
        ),
        ("r09", json!({"lang": ["de"], "n": true, "ok": 1})),
        ("r10", json!({ HOSTILE: "hostile", "lang": HOSTILE })),
    ]
}

fn matrix() -> (TestDatabase, Collection) {
    let (db, collection) = with_collection("matrix", 2, Metric::L2);
    let items = matrix_rows()
        .into_iter()
        .enumerate()
        .map(|(index, (id, metadata))| {
            NewEmbedding::new(id, vec![1.0, index as f32])
                .with_content(format!("content of {id}"))
                .with_metadata(metadata)
        })
        .collect();
    db.store()
        .write(|uow| uow.embeddings().insert(&collection, items))
        .unwrap();
    (db, collection)
}

/// Why a probing write transaction was rolled back: with what it saw, or a real failure.
enum Probe {
    RolledBack {
        deleted: u64,
        remaining: Vec<String>,
    },
    Failed(Error),
}

impl From<Error> for Probe {
    fn from(error: Error) -> Self {
        Probe::Failed(error)
    }
}

fn all_ids(uow: &mut embedstore::UnitOfWork<'_>, collection: &Collection) -> Vec<String> {
    let page = uow
        .embeddings()
        .scroll(collection, &ScrollRequest::new(10_000))
        .unwrap();
    page.items
        .into_iter()
        .map(|item| item.external_id)
        .collect()
}

/// Every scroll page, two rows at a time, following `next`.
fn scrolled_ids(db: &TestDatabase, collection: &Collection, filter: &Filter) -> Vec<String> {
    let mut ids = Vec::new();
    let mut request = ScrollRequest::new(2).with_filter(filter.clone());
    loop {
        let page = db
            .store()
            .read(|uow| uow.embeddings().scroll(collection, &request))
            .unwrap();
        assert!(page.items.len() <= 2);
        ids.extend(page.items.into_iter().map(|item| item.external_id));
        match page.next {
            Some(next) => request = request.after(next),
            None => return ids,
        }
    }
}

#[derive(QueryableByName)]
struct ExternalId {
    #[diesel(sql_type = Text)]
    external_id: String,
}

/// The ids a filter selects with the given rendering layout, through the filter renderer alone.
fn rendered_ids(
    db: &TestDatabase,
    collection: &Collection,
    filter: &Filter,
    gin: bool,
) -> Vec<String> {
    let mut sql = SqlBuilder::new();
    sql.push("SELECT external_id FROM embeddings WHERE collection_id = ")
        .bind(collection.id.0)
        .push(" AND (");
    let layout = PayloadLayout {
        gin,
        typed: Vec::new(),
    };
    render_filter(filter, &mut sql, &layout).unwrap();
    sql.push(") ORDER BY external_id");
    let rows: Vec<ExternalId> = db
        .store()
        .read(|uow| Ok::<_, Error>(sql.into_query().load(uow.connection())?))
        .unwrap();
    rows.into_iter().map(|row| row.external_id).collect()
}

/// count_where, scroll, both renderings and delete_where (rolled back) all select `expected`.
fn assert_selects(db: &TestDatabase, collection: &Collection, filter: &Filter, expected: &[&str]) {
    let context = filter.to_json();
    let counted = db
        .store()
        .read(|uow| uow.embeddings().count_where(collection, filter))
        .unwrap();
    assert_eq!(counted, expected.len() as u64, "count_where {context}");
    assert_eq!(
        scrolled_ids(db, collection, filter),
        expected,
        "scroll {context}"
    );
    assert_eq!(
        rendered_ids(db, collection, filter, false),
        expected,
        "plain {context}"
    );
    assert_eq!(
        rendered_ids(db, collection, filter, true),
        expected,
        "gin {context}"
    );

    let everything = db
        .store()
        .read(|uow| Ok::<_, Error>(all_ids(uow, collection)))
        .unwrap();
    let probe = db.store().write(|uow| -> Result<(), Probe> {
        let deleted = uow.embeddings().delete_where(collection, filter)?;
        let remaining = all_ids(uow, collection);
        Err(Probe::RolledBack { deleted, remaining })
    });
    match probe {
        Err(Probe::RolledBack { deleted, remaining }) => {
            assert_eq!(deleted, expected.len() as u64, "delete_where {context}");
            let rest: Vec<&String> = everything
                .iter()
                .filter(|id| !expected.contains(&id.as_str()))
                .collect();
            assert_eq!(
                remaining.iter().collect::<Vec<_>>(),
                rest,
                "delete_where {context}"
            );
        }
        Err(Probe::Failed(error)) => panic!("delete_where {context}: {error}"),
        Ok(()) => unreachable!(),
    }
}

fn others(excluded: &[&str]) -> Vec<&'static str> {
    matrix_rows()
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| !excluded.contains(id))
        .collect()
}

#[test]
fn equality_matches_only_the_same_json_type() {
    let (db, c) = matrix();
    assert_selects(&db, &c, &Filter::eq("lang", "de"), &["r01", "r08"]);
    assert_selects(&db, &c, &Filter::eq("n", 1), &["r01", "r02"]);
    assert_selects(&db, &c, &Filter::eq("n", 10), &["r08"]);
    assert_selects(&db, &c, &Filter::eq("n", "10"), &["r03"]);
    assert_selects(&db, &c, &Filter::eq("n", 100), &["r05"]);
    assert_selects(&db, &c, &Filter::eq("n", true), &["r09"]);
    assert_selects(&db, &c, &Filter::eq("ok", true), &["r01"]);
    assert_selects(&db, &c, &Filter::eq("ok", false), &["r02"]);
    assert_selects(&db, &c, &Filter::eq("lang", Value::Null), &["r04"]);
    assert_selects(&db, &c, &Filter::eq("tags", json!(["b"])), &["r02"]);
    assert_selects(
        &db,
        &c,
        &Filter::eq("nested", json!({"a": {"b": "x"}})),
        &["r04"],
    );
    assert_selects(&db, &c, &Filter::eq("nested.a.b", "x"), &["r04"]);
    assert_selects(&db, &c, &Filter::eq("tags.0", "a"), &["r01"]);
}

#[test]
fn unicode_dotted_and_hostile_keys_are_matched_as_data() {
    let (db, c) = matrix();
    assert_selects(&db, &c, &Filter::eq("lang", "Ünïcødé 日本"), &["r07"]);
    assert_selects(&db, &c, &Filter::eq("größe", "groß"), &["r07"]);
    assert_selects(
        &db,
        &c,
        &Filter::eq(r"a\.b", "literal dotted key"),
        &["r08"],
    );
    assert_selects(
        &db,
        &c,
        &Filter::eq(FieldPath::from_segments([HOSTILE]), "hostile"),
        &["r10"],
    );
    assert_selects(&db, &c, &Filter::eq("lang", HOSTILE), &["r10"]);
}

#[test]
fn negations_also_match_missing_keys_and_other_types() {
    let (db, c) = matrix();
    let not_de = others(&["r01", "r08"]);
    assert_selects(&db, &c, &Filter::ne("lang", "de"), &not_de);
    assert_selects(&db, &c, &Filter::not(Filter::eq("lang", "de")), &not_de);
    assert_selects(
        &db,
        &c,
        &Filter::not_in("lang", ["de", "fr"]),
        &others(&["r01", "r02", "r08"]),
    );
    assert_selects(&db, &c, &Filter::ne("lang", Value::Null), &others(&["r04"]));
}

#[test]
fn ranges_compare_numbers_strings_and_timestamps_separately() {
    let (db, c) = matrix();
    assert_selects(&db, &c, &Filter::gt("price", 10), &["r02", "r08"]);
    assert_selects(&db, &c, &Filter::gte("price", 10), &["r01", "r02", "r08"]);
    assert_selects(&db, &c, &Filter::lt("price", 0), &["r04"]);
    assert_selects(&db, &c, &Filter::lte("price", 10.0), &["r01", "r04"]);
    assert_selects(&db, &c, &Filter::gt("n", "0"), &["r03"]);
    assert_selects(&db, &c, &Filter::lt("lang", "e"), &["r01", "r08"]);
    // "2026-06-01" (r03) is not an RFC 3339 timestamp with offset, so it never compares.
    assert_selects(&db, &c, &Filter::gt("at", "2026-03-01T00:00:00Z"), &["r02"]);
    assert_selects(
        &db,
        &c,
        &Filter::lte("at", "2026-01-01T01:00:00+01:00"),
        &["r01"],
    );
    assert_selects(
        &db,
        &c,
        &Filter::gte("at", "2026-06-01T10:00:00z"),
        &["r02"],
    );
    assert_selects(&db, &c, &Filter::gt("at", "2026-03-01"), &["r02", "r03"]);
}

#[test]
fn in_lists_match_each_value_by_its_own_type() {
    let (db, c) = matrix();
    assert_selects(
        &db,
        &c,
        &Filter::is_in("lang", ["de", "fr"]),
        &["r01", "r02", "r08"],
    );
    assert_selects(
        &db,
        &c,
        &Filter::is_in("n", [json!(1), json!("10")]),
        &["r01", "r02", "r03"],
    );
    assert_selects(&db, &c, &Filter::is_in("ok", [true]), &["r01"]);
    assert_selects(
        &db,
        &c,
        &Filter::is_in("lang", [Value::Null, json!("en")]),
        &["r03", "r04"],
    );
    assert_selects(
        &db,
        &c,
        &Filter::is_in("tags", [json!([]), json!(["b"])]),
        &["r02", "r04"],
    );
}

#[test]
fn exists_matches_present_keys_even_null() {
    let (db, c) = matrix();
    assert_selects(&db, &c, &Filter::exists("lang"), &others(&["r05", "r06"]));
    assert_selects(
        &db,
        &c,
        &Filter::not(Filter::exists("lang")),
        &["r05", "r06"],
    );
    assert_selects(&db, &c, &Filter::exists("nested.a.b"), &["r04", "r05"]);
}

#[test]
fn contains_needs_an_array_holding_every_value() {
    let (db, c) = matrix();
    assert_selects(&db, &c, &Filter::contains("tags", "a"), &["r01"]);
    assert_selects(&db, &c, &Filter::contains("tags", "b"), &["r01", "r02"]);
    assert_selects(
        &db,
        &c,
        &Filter::contains("tags", json!(["a", "b"])),
        &["r01"],
    );
    assert_selects(
        &db,
        &c,
        &Filter::contains("tags", json!({"k": 1.0})),
        &["r05"],
    );
    assert_selects(&db, &c, &Filter::contains("tags", "ü"), &["r07"]);
    assert_selects(&db, &c, &Filter::contains("arr", json!([[2, 3]])), &["r05"]);
    assert_selects(&db, &c, &Filter::contains("arr", 2), &[]);
    assert_selects(&db, &c, &Filter::contains("lang", "de"), &["r09"]);
}

#[test]
fn combinators_compose() {
    let (db, c) = matrix();
    assert_selects(
        &db,
        &c,
        &Filter::eq("lang", "de").or(Filter::eq("n", 2)),
        &["r01", "r04", "r08"],
    );
    assert_selects(
        &db,
        &c,
        &Filter::eq("lang", "de").and(Filter::eq("n", 10)),
        &["r08"],
    );
    let parsed: Filter =
        r#"{"$or": [{"lang": "de", "price": {"$lt": 100}}, {"tags": {"$contains": "b"}}]}"#
            .parse()
            .unwrap();
    assert_selects(&db, &c, &parsed, &["r01", "r02"]);
    assert_selects(
        &db,
        &c,
        &Filter::not(Filter::eq("lang", "de").or(Filter::exists("nested"))),
        &["r02", "r03", "r06", "r07", "r09", "r10"],
    );
}

#[derive(QueryableByName)]
struct Fingerprint {
    #[diesel(sql_type = Text)]
    value: String,
}

/// Rows, their data and the catalog's relations, hashed.
fn fingerprint(db: &TestDatabase) -> String {
    let mut conn = db.raw_connection();
    diesel::sql_query(
        "SELECT (SELECT count(*) FROM embeddings)::text || ':' || \
                coalesce((SELECT md5(string_agg(external_id || metadata::text || coalesce(content, ''), ',' ORDER BY external_id)) FROM embeddings), '') || ':' || \
                (SELECT md5(string_agg(relname, ',' ORDER BY relname)) FROM pg_class WHERE relnamespace = 'public'::regnamespace) || ':' || \
                (SELECT count(*) FROM collections)::text AS value",
    )
    .get_result::<Fingerprint>(&mut conn)
    .unwrap()
    .value
}

#[test]
fn hostile_keys_and_values_never_change_the_database_or_fail_in_sql() {
    let (db, c) = matrix();
    let before = fingerprint(&db);
    let strings = [
        HOSTILE,
        "'; DELETE FROM embeddings; --",
        "$1",
        "::text",
        "/* comment",
        "\\",
        "\\'",
        "\"",
        "$.a[*] ? (@ > 1)",
        "null",
        "{}",
        "ü日本🦀",
        " spaced ",
        "%_",
    ];
    for text in strings {
        let key = FieldPath::from_segments([format!("k{text}"), text.to_owned()]);
        let filters = [
            Filter::eq(key.clone(), text),
            Filter::ne(key.clone(), text),
            Filter::lt(key.clone(), text),
            Filter::gte(key.clone(), text),
            Filter::is_in(key.clone(), [json!(text), json!({ text: text })]),
            Filter::not_in(key.clone(), [text]),
            Filter::exists(key.clone()),
            Filter::contains(key.clone(), json!({ text: [text] })),
            Filter::eq(FieldPath::from_segments([text]), text),
        ];
        for filter in filters {
            if filter.check().is_err() {
                // A key starting with `$` is reserved: refused before any SQL.
                let error = db
                    .store()
                    .read(|uow| uow.embeddings().count_where(&c, &filter))
                    .unwrap_err();
                assert!(error.as_validation().is_some(), "{error}");
                continue;
            }
            let count = db
                .store()
                .read(|uow| uow.embeddings().count_where(&c, &filter))
                .unwrap_or_else(|error| panic!("{}: {error}", filter.to_json()));
            let page = db
                .store()
                .read(|uow| {
                    uow.embeddings()
                        .scroll(&c, &ScrollRequest::new(100).with_filter(filter.clone()))
                })
                .unwrap_or_else(|error| panic!("{}: {error}", filter.to_json()));
            assert_eq!(page.items.len() as u64, count);
            for gin in [false, true] {
                rendered_ids(&db, &c, &filter, gin);
            }
            // Positive conditions on the missing `k…` key match nothing: deleting by them,
            // committed, must delete nothing (negations would rightly match every row).
            let positive = !matches!(filter, Filter::Ne(..) | Filter::NotIn(..));
            let missing_key = filter
                .to_json()
                .as_object()
                .is_some_and(|object| object.keys().all(|key| key.starts_with('k')));
            if positive && missing_key {
                let deleted = db
                    .store()
                    .write(|uow| uow.embeddings().delete_where(&c, &filter))
                    .unwrap_or_else(|error| panic!("{}: {error}", filter.to_json()));
                assert_eq!(deleted, 0, "{}", filter.to_json());
            }
        }
    }
    assert_eq!(fingerprint(&db), before);
}

#[test]
fn refused_filters_are_validation_errors_and_nothing_is_deleted() {
    let (db, c) = matrix();
    let bad: Filter = Filter::eq("lang", "de").or(Filter::gt("price", json!({})));
    let error = db
        .store()
        .write(|uow| uow.embeddings().delete_where(&c, &bad))
        .unwrap_err();
    assert_eq!(
        failures(&error),
        [
            "filter.$or[1].price.$gt: expects a number, string or RFC 3339 timestamp, found an object"
        ]
    );
    let error = db
        .store()
        .read(|uow| uow.embeddings().count_where(&c, &Filter::eq("a..b", 1)))
        .unwrap_err();
    assert_eq!(
        failures(&error),
        ["filter.a..b: key 2 of the path is empty"]
    );
    let error = db
        .store()
        .read(|uow| uow.embeddings().count_where(&c, &Filter::eq("k", "nul\0")))
        .unwrap_err();
    assert_eq!(
        failures(&error),
        ["filter.k.$eq: strings may not contain NUL characters (jsonb cannot store them)"]
    );
    let error = db
        .store()
        .read(|uow| {
            uow.embeddings()
                .scroll(&c, &ScrollRequest::new(0).after("a\0"))
        })
        .unwrap_err();
    assert_eq!(
        failures(&error),
        [
            "limit: must be between 1 and 10000, found 0",
            "after: contains a NUL character"
        ]
    );
    let error = db
        .store()
        .read(|uow| uow.embeddings().scroll(&c, &ScrollRequest::new(10_001)))
        .unwrap_err();
    assert_eq!(
        failures(&error),
        ["limit: must be between 1 and 10000, found 10001"]
    );
    assert_eq!(crate::support::count(&db, &c), 10);
}

#[test]
fn scroll_pages_by_external_id_with_optional_vectors_and_content() {
    let (db, c) = matrix();
    let first = db
        .store()
        .read(|uow| uow.embeddings().scroll(&c, &ScrollRequest::new(4)))
        .unwrap();
    let ids: Vec<&str> = first
        .items
        .iter()
        .map(|item| item.external_id.as_str())
        .collect();
    assert_eq!(ids, ["r01", "r02", "r03", "r04"]);
    assert_eq!(first.next.as_deref(), Some("r04"));
    assert!(
        first
            .items
            .iter()
            .all(|item| item.vector.is_empty() && item.content.is_none())
    );
    assert_eq!(first.items[0].metadata["lang"], "de");
    assert_eq!(first.items[0].collection_id, c.id);

    let request = ScrollRequest::new(4)
        .after("r08")
        .include_vector(true)
        .include_content(true);
    let last = db
        .store()
        .read(|uow| uow.embeddings().scroll(&c, &request))
        .unwrap();
    let ids: Vec<&str> = last
        .items
        .iter()
        .map(|item| item.external_id.as_str())
        .collect();
    assert_eq!(ids, ["r09", "r10"]);
    assert_eq!(last.next, None);
    assert_eq!(last.items[0].vector.to_vec(), [1.0, 8.0]);
    assert_eq!(last.items[0].content.as_deref(), Some("content of r09"));

    // A page that ends exactly at the last row says there is no next one.
    let exact = db
        .store()
        .read(|uow| {
            uow.embeddings()
                .scroll(&c, &ScrollRequest::new(2).after("r08"))
        })
        .unwrap();
    assert_eq!((exact.items.len(), exact.next), (2, None));
}
