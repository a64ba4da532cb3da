//! The statement builder against the database: every bind type, and the bind-parameter limit.

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Double, Integer, Jsonb, Text};
use embedstore::Error;
use embedstore::internals::{Bind, MAX_BINDS, SqlBuilder};
use embedstore_test_support::TestDatabase;
use serde_json::{Value, json};

use super::HOSTILE;
use crate::support::failures;

#[derive(QueryableByName, Debug, PartialEq)]
struct EveryType {
    #[diesel(sql_type = Integer)]
    int4: i32,
    #[diesel(sql_type = BigInt)]
    int8: i64,
    #[diesel(sql_type = Double)]
    float8: f64,
    #[diesel(sql_type = Bool)]
    flag: bool,
    #[diesel(sql_type = Array<Bool>)]
    flags: Vec<bool>,
    #[diesel(sql_type = Text)]
    text: String,
    #[diesel(sql_type = Array<Text>)]
    texts: Vec<String>,
    #[diesel(sql_type = Jsonb)]
    json: Value,
    #[diesel(sql_type = Array<Jsonb>)]
    jsons: Vec<Value>,
    #[diesel(sql_type = pgvector::sql_types::Vector)]
    vector: pgvector::Vector,
    #[diesel(sql_type = Text)]
    numeric: String,
}

#[test]
fn every_bind_type_round_trips_through_the_database() {
    let db = TestDatabase::new();
    let mut sql = SqlBuilder::new();
    sql.push("SELECT ")
        .bind(-7_i32)
        .push(" AS int4, ")
        .bind(i64::MIN)
        .push(" AS int8, ")
        .bind(0.1_f64)
        .push(" AS float8, ")
        .bind(true)
        .push(" AS flag, ")
        .bind(vec![true, false])
        .push(" AS flags, ")
        .bind("it's \"quoted\" ü 日本 \\")
        .push(" AS text, ")
        .bind(vec!["a".to_owned(), HOSTILE.to_owned()])
        .push(" AS texts, ")
        .bind(json!({"k": [1, 2.5, null, "x"]}))
        .push(" AS json, ")
        .bind(vec![json!(1), json!({"a": "b"})])
        .push(" AS jsons, ")
        .bind(pgvector::Vector::from(vec![1.0, -2.5, 3.25]))
        .push(" AS vector, ")
        .bind_cast("9007199254740993.000000000001", "numeric")
        .push("::text AS numeric");
    assert_eq!(sql.bind_count(), 11);
    let row: EveryType = db
        .store()
        .read(|uow| Ok::<_, Error>(sql.into_query().get_result(uow.connection())?))
        .unwrap();
    assert_eq!(
        row,
        EveryType {
            int4: -7,
            int8: i64::MIN,
            float8: 0.1,
            flag: true,
            flags: vec![true, false],
            text: "it's \"quoted\" ü 日本 \\".to_owned(),
            texts: vec!["a".to_owned(), HOSTILE.to_owned()],
            json: json!({"k": [1, 2.5, null, "x"]}),
            jsons: vec![json!(1), json!({"a": "b"})],
            vector: pgvector::Vector::from(vec![1.0, -2.5, 3.25]),
            numeric: "9007199254740993.000000000001".to_owned(),
        }
    );
    assert!(matches!(Bind::from(1_i32), Bind::Int4(1)));
}

#[derive(QueryableByName)]
struct Total {
    #[diesel(sql_type = BigInt)]
    total: i64,
}

#[test]
fn the_bind_limit_is_usable_to_the_last_parameter_and_refused_beyond() {
    let db = TestDatabase::new();
    let statement = |count: usize| {
        let mut sql = SqlBuilder::new();
        sql.push("SELECT sum(value)::bigint AS total FROM unnest(ARRAY[");
        for index in 0..count {
            sql.push(if index == 0 { "" } else { "," })
                .bind(index as i64);
        }
        sql.push("]) AS value");
        sql
    };
    let total: Total = db
        .store()
        .read(|uow| {
            Ok::<_, Error>(
                statement(MAX_BINDS)
                    .try_into_query()
                    .unwrap()
                    .get_result(uow.connection())?,
            )
        })
        .unwrap();
    assert_eq!(total.total, (0..MAX_BINDS as i64).sum::<i64>());

    let refused = statement(70_000).try_into_query().err().unwrap();
    assert_eq!(
        refused.to_string(),
        "statement needs 70000 bind parameters, postgresql accepts at most 65535"
    );
    assert_eq!(
        failures(&Error::from(refused)),
        ["statement needs 70000 bind parameters, postgresql accepts at most 65535"]
    );
    // Unchecked, libpq refuses it before anything reaches the server: an error, not a panic.
    let unchecked = db.store().read(|uow| {
        Ok::<_, Error>(
            statement(70_000)
                .into_query()
                .get_result::<Total>(uow.connection())?,
        )
    });
    assert!(unchecked.is_err());
}
