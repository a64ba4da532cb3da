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
use diesel::query_builder::{AstPass, BoxedSqlQuery, Query, QueryFragment, QueryId, SqlQuery};
use diesel::sql_types::{Array, BigInt, Bool, Double, Integer, Jsonb, Text, Untyped};
use diesel::{PgConnection, QueryResult, RunQueryDsl};
use std::fmt;

use crate::vector::{BitVector, SparseVector, VectorValue};

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
    /// pgvector's `sparsevec`.
    SparseVector(SparseVector),
    /// `bit`.
    Bit(BitVector),
    /// `sparsevec[]` (batch search).
    SparseVectorArray(Vec<SparseVector>),
    /// `bit[]` (batch search).
    BitArray(Vec<BitVector>),
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
                Bind::SparseVector(value) => {
                    query.bind::<pgvector::sql_types::SparseVector, _>(value)
                }
                Bind::Bit(value) => query.bind::<pgvector::sql_types::Bit, _>(value),
                Bind::SparseVectorArray(value) => {
                    query.bind::<Array<pgvector::sql_types::SparseVector>, _>(value)
                }
                Bind::BitArray(value) => query.bind::<Array<pgvector::sql_types::Bit>, _>(value),
            };
        }
        query
    }

    /// The statement as a *prepared* statement: diesel keeps it, per connection, in its
    /// statement cache keyed by the SQL text and the bind types, so the server parses it once
    /// per connection and may reuse its plan (`sql_query` is never cached: diesel marks it
    /// unsafe to cache, so every call is parsed and planned again).
    ///
    /// Only for statement shapes drawn from a small, closed set per collection (the search
    /// statements without a filter): the cache keeps every distinct text for the connection's
    /// life, so a shape that varies with caller input (a filter's structure) must use
    /// [`SqlBuilder::into_query`] instead. The bind count is bounded by construction.
    pub fn into_prepared(self) -> PreparedQuery {
        // diesel numbers the placeholders of a cacheable statement itself, in the order the
        // values are pushed: split the text at each `$n` and push `n`'s value there (a value
        // referred to again reuses the number diesel gave it: see `walk_ast`).
        let mut pieces = Vec::new();
        let mut rest = self.text.as_str();
        while let Some(start) = rest.find('$') {
            let digits = rest[start + 1..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len() - start - 1);
            let number = rest[start + 1..start + 1 + digits].parse::<usize>().ok();
            match number.filter(|number| (1..=self.binds.len()).contains(number)) {
                Some(number) => {
                    pieces.push((rest[..start].to_owned(), number - 1));
                    rest = &rest[start + 1 + digits..];
                }
                None => {
                    // Not a placeholder of ours: keep the `$` as text.
                    pieces.push((rest[..=start].to_owned(), usize::MAX));
                    rest = &rest[start + 1..];
                }
            }
        }
        PreparedQuery {
            pieces,
            tail: rest.to_owned(),
            binds: self.binds,
        }
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

/// A statement run as a named prepared statement from diesel's per-connection cache: see
/// [`SqlBuilder::into_prepared`].
#[derive(Debug, Clone)]
pub struct PreparedQuery {
    /// Text up to a placeholder and the index of the value that goes there (`usize::MAX`:
    /// none, the text ends with a literal `$`).
    pieces: Vec<(String, usize)>,
    tail: String,
    binds: Vec<Bind>,
}

impl QueryFragment<Pg> for PreparedQuery {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // Unlike `sql_query`, no `unsafe_to_cache_prepared()`: the text and the bind types
        // are the cache key.
        //
        // diesel gives the n-th pushed value `$n`. A value the text refers to more than once
        // (a search's query vector: in the select list and in ORDER BY) is pushed once and
        // later referred to by that number, so the server sees one parameter, as written —
        // and computes `embedding <=> $1` once per row, not once per reference.
        let mut numbers = vec![0_usize; self.binds.len()];
        let mut pushed = 0;
        for (text, index) in &self.pieces {
            out.push_sql(text);
            let Some(value) = self.binds.get(*index) else {
                continue;
            };
            if numbers[*index] > 0 {
                out.push_sql(&format!("${}", numbers[*index]));
                continue;
            }
            pushed += 1;
            numbers[*index] = pushed;
            match value {
                Bind::Int4(value) => out.push_bind_param::<Integer, _>(value)?,
                Bind::Int8(value) => out.push_bind_param::<BigInt, _>(value)?,
                Bind::Float8(value) => out.push_bind_param::<Double, _>(value)?,
                Bind::Bool(value) => out.push_bind_param::<Bool, _>(value)?,
                Bind::BoolArray(value) => out.push_bind_param::<Array<Bool>, _>(value)?,
                Bind::Text(value) => out.push_bind_param::<Text, _>(value)?,
                Bind::TextArray(value) => out.push_bind_param::<Array<Text>, _>(value)?,
                Bind::Jsonb(value) => out.push_bind_param::<Jsonb, _>(value)?,
                Bind::JsonbArray(value) => out.push_bind_param::<Array<Jsonb>, _>(value)?,
                Bind::Vector(value) => {
                    out.push_bind_param::<pgvector::sql_types::Vector, _>(value)?;
                }
                Bind::VectorArray(value) => {
                    out.push_bind_param::<Array<pgvector::sql_types::Vector>, _>(value)?;
                }
                Bind::SparseVector(value) => {
                    out.push_bind_param::<pgvector::sql_types::SparseVector, _>(value)?;
                }
                Bind::Bit(value) => out.push_bind_param::<pgvector::sql_types::Bit, _>(value)?,
                Bind::SparseVectorArray(value) => {
                    out.push_bind_param::<Array<pgvector::sql_types::SparseVector>, _>(value)?;
                }
                Bind::BitArray(value) => {
                    out.push_bind_param::<Array<pgvector::sql_types::Bit>, _>(value)?;
                }
            }
        }
        out.push_sql(&self.tail);
        Ok(())
    }
}

impl QueryId for PreparedQuery {
    type QueryId = ();
    // No static id: diesel keys the cached statement by its SQL text and bind types.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for PreparedQuery {
    type SqlType = Untyped;
}

impl RunQueryDsl<PgConnection> for PreparedQuery {}

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
    SparseVector => SparseVector,
    BitVector => Bit,
}

/// A query vector as the parameter of its kind: `vector`, `sparsevec` or `bit`.
impl From<VectorValue> for Bind {
    fn from(value: VectorValue) -> Self {
        match value {
            VectorValue::Dense(values) => Bind::Vector(pgvector::Vector::from(values)),
            VectorValue::Sparse(sparse) => Bind::SparseVector(sparse),
            VectorValue::Bit(bits) => Bind::Bit(bits),
        }
    }
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
    fn a_prepared_statement_keeps_its_placeholders_and_sends_a_repeated_value_once() {
        let mut sql = SqlBuilder::new();
        let query = sql.param(pgvector::Vector::from(vec![1.0, 2.0]));
        sql.push("SELECT embedding <-> ")
            .push(&query)
            .push(" AS d, '$' AS literal FROM t WHERE a = ")
            .bind(7_i32)
            .push(" ORDER BY embedding <-> ")
            .push(&query)
            .push(" LIMIT ")
            .bind(10_i64);
        let prepared = sql.into_prepared();
        let shown = diesel::debug_query::<Pg, _>(&prepared).to_string();
        assert_eq!(
            shown,
            "SELECT embedding <-> $1 AS d, '$' AS literal FROM t WHERE a = $2 \
             ORDER BY embedding <-> $1 LIMIT $3 -- binds: [Vector([1.0, 2.0]), 7, 10]"
        );
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
