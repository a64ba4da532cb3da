//! A statement builder that numbers its placeholders and owns its bind values.
//!
//! Dynamic statements (filters, scroll pages) are assembled from trusted SQL text — our own
//! constants and integers from our own catalog — and values, which only ever travel as bind
//! parameters: [`SqlBuilder::bind`] appends `$n` and keeps the value, [`SqlBuilder::into_query`]
//! binds them all, in order, to a boxed `sql_query`. Nothing a caller typed is ever spliced
//! into the text.
//!
//! PostgreSQL's wire protocol counts parameters in 16 bits: a statement takes at most
//! [`MAX_BINDS`] (65,535). [`SqlBuilder::try_into_query`] refuses more with a clear error
//! instead of letting libpq fail at execution; filters stay far below the limit by
//! construction (see `filter::limits`), so their callers may use `into_query`.

use diesel::pg::Pg;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{Array, BigInt, Bool, Double, Integer, Jsonb, Text};
use std::fmt;

/// The most bind parameters one PostgreSQL statement can carry (the protocol's 16-bit count).
pub const MAX_BINDS: usize = 65_535;

/// A boxed `sql_query` with all its parameters bound.
pub type BoundQuery = BoxedSqlQuery<'static, Pg, SqlQuery>;

/// SQL text with numbered placeholders and the values they stand for.
#[derive(Debug, Clone, Default)]
pub struct SqlBuilder {
    text: String,
    binds: Vec<Bind>,
}

/// One bind value with the SQL type it is sent as.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Bind {
    /// `integer`.
    Int4(i32),
    /// `bigint`.
    Int8(i64),
    /// `double precision`.
    Float8(f64),
    /// `boolean`.
    Bool(bool),
    /// `boolean[]`.
    BoolArray(Vec<bool>),
    /// `text`. Also carries decimal numbers and timestamps that the statement casts
    /// (`$n::numeric`, `$n::timestamptz`), so no precision is lost on the way.
    Text(String),
    /// `text[]` (also cast to `numeric[]` by statements that compare numbers).
    TextArray(Vec<String>),
    /// `jsonb`.
    Jsonb(serde_json::Value),
    /// `jsonb[]`.
    JsonbArray(Vec<serde_json::Value>),
    /// pgvector's `vector`.
    Vector(pgvector::Vector),
    /// `vector[]` (batch search).
    VectorArray(Vec<pgvector::Vector>),
}

/// A statement needs more bind parameters than PostgreSQL accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyBinds {
    /// How many the statement needs.
    pub count: usize,
}

impl fmt::Display for TooManyBinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "statement needs {} bind parameters, postgresql accepts at most {MAX_BINDS}",
            self.count
        )
    }
}

impl std::error::Error for TooManyBinds {}

impl From<TooManyBinds> for crate::Error {
    fn from(error: TooManyBinds) -> Self {
        crate::Error::invalid_field("", error.to_string())
    }
}

impl SqlBuilder {
    /// An empty statement.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends trusted SQL text: our own constants or integers from our own catalog, never
    /// anything a caller supplied.
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    /// Appends the next placeholder (`$1`, `$2`, …) and keeps `value` for it.
    pub fn bind(&mut self, value: impl Into<Bind>) -> &mut Self {
        self.binds.push(value.into());
        self.text.push('$');
        self.text.push_str(&self.binds.len().to_string());
        self
    }

    /// Keeps `value` and returns its placeholder without appending it, for a value the
    /// statement refers to more than once (a search's query vector).
    pub fn param(&mut self, value: impl Into<Bind>) -> String {
        self.binds.push(value.into());
        format!("${}", self.binds.len())
    }

    /// Puts trusted SQL text in front (e.g. `EXPLAIN `); placeholders keep their numbers.
    pub fn prepend(&mut self, sql: &str) -> &mut Self {
        self.text.insert_str(0, sql);
        self
    }

    /// Appends `$n::cast` and keeps `value` for it. `cast` is one of our own type names
    /// (`text[]`, `numeric`, `jsonb`, …), never caller text.
    pub fn bind_cast(&mut self, value: impl Into<Bind>, cast: &str) -> &mut Self {
        self.bind(value);
        self.text.push_str("::");
        self.text.push_str(cast);
        self
    }

    /// The statement text so far.
    #[cfg_attr(
        not(feature = "testing"),
        allow(
            dead_code,
            reason = "builder API used by tests and the search integration"
        )
    )]
    pub fn sql(&self) -> &str {
        &self.text
    }

    /// How many parameters are bound so far.
    #[cfg_attr(
        not(feature = "testing"),
        allow(
            dead_code,
            reason = "builder API used by tests and the search integration"
        )
    )]
    pub fn bind_count(&self) -> usize {
        self.binds.len()
    }

    /// The values bound so far, in placeholder order.
    #[cfg_attr(
        not(feature = "testing"),
        allow(
            dead_code,
            reason = "builder API used by tests and the search integration"
        )
    )]
    pub fn binds(&self) -> &[Bind] {
        &self.binds
    }

    /// The statement with every value bound, in placeholder order.
    ///
    /// Does not check [`MAX_BINDS`]: use it where the count is bounded by construction (a
    /// statement beyond the limit fails at execution with libpq's error, before anything
    /// reaches the server), and [`SqlBuilder::try_into_query`] everywhere else.
    pub fn into_query(self) -> BoundQuery {
        let mut query = diesel::sql_query(self.text).into_boxed::<Pg>();
        for value in self.binds {
            query = match value {
                Bind::Int4(value) => query.bind::<Integer, _>(value),
                Bind::Int8(value) => query.bind::<BigInt, _>(value),
                Bind::Float8(value) => query.bind::<Double, _>(value),
                Bind::Bool(value) => query.bind::<Bool, _>(value),
                Bind::BoolArray(value) => query.bind::<Array<Bool>, _>(value),
                Bind::Text(value) => query.bind::<Text, _>(value),
                Bind::TextArray(value) => query.bind::<Array<Text>, _>(value),
                Bind::Jsonb(value) => query.bind::<Jsonb, _>(value),
                Bind::JsonbArray(value) => query.bind::<Array<Jsonb>, _>(value),
                Bind::Vector(value) => query.bind::<pgvector::sql_types::Vector, _>(value),
                Bind::VectorArray(value) => {
                    query.bind::<Array<pgvector::sql_types::Vector>, _>(value)
                }
            };
        }
        query
    }

    /// [`SqlBuilder::into_query`], refusing a statement with more than [`MAX_BINDS`] parameters.
    ///
    /// # Errors
    /// [`TooManyBinds`] naming the count.
    pub fn try_into_query(self) -> Result<BoundQuery, TooManyBinds> {
        if self.binds.len() > MAX_BINDS {
            return Err(TooManyBinds {
                count: self.binds.len(),
            });
        }
        Ok(self.into_query())
    }
}

macro_rules! bind_from {
    ($($source:ty => $variant:ident),* $(,)?) => {
        $(impl From<$source> for Bind {
            fn from(value: $source) -> Self {
                Bind::$variant(value)
            }
        })*
    };
}

bind_from! {
    i32 => Int4,
    i64 => Int8,
    f64 => Float8,
    bool => Bool,
    Vec<bool> => BoolArray,
    String => Text,
    Vec<String> => TextArray,
    serde_json::Value => Jsonb,
    Vec<serde_json::Value> => JsonbArray,
    pgvector::Vector => Vector,
}

impl From<&str> for Bind {
    fn from(value: &str) -> Self {
        Bind::Text(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order_with_casts() {
        let mut sql = SqlBuilder::new();
        sql.push("SELECT ")
            .bind(1_i32)
            .push(", ")
            .bind_cast(vec!["a".to_owned()], "text[]")
            .push(", ")
            .bind("x");
        assert_eq!(sql.sql(), "SELECT $1, $2::text[], $3");
        assert_eq!(
            sql.binds(),
            &[
                Bind::Int4(1),
                Bind::TextArray(vec!["a".into()]),
                Bind::Text("x".into())
            ]
        );
    }

    #[test]
    fn placeholder_numbers_grow_past_one_digit() {
        let mut sql = SqlBuilder::new();
        for index in 0..12_i64 {
            sql.push(if index == 0 { "" } else { "," }).bind(index);
        }
        assert!(sql.sql().ends_with(",$10,$11,$12"), "{}", sql.sql());
    }

    #[test]
    fn more_binds_than_postgres_accepts_are_refused_with_the_count() {
        let mut sql = SqlBuilder::new();
        for index in 0..70_000_i32 {
            sql.bind(index);
        }
        let error = sql.try_into_query().err();
        assert_eq!(error, Some(TooManyBinds { count: 70_000 }));
        assert_eq!(
            error.map(|error| error.to_string()).unwrap_or_default(),
            "statement needs 70000 bind parameters, postgresql accepts at most 65535"
        );
    }

    #[test]
    fn exactly_the_limit_is_accepted() {
        let mut sql = SqlBuilder::new();
        for index in 0..MAX_BINDS {
            sql.bind(index as i64);
        }
        assert!(sql.try_into_query().is_ok());
    }
}
