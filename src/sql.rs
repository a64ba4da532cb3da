//! A statement builder that numbers its placeholders and owns its bind values, so that a
//! statement assembled from parts (filters, thresholds, keyset conditions) can never get a
//! placeholder and its value out of step.

use diesel::pg::Pg;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{Array, BigInt, Bool, Double, Integer, Jsonb, Text};
use pgvector::sql_types::Vector as VectorSql;

/// Most bind parameters one statement may carry (PostgreSQL's protocol limit).
pub(crate) const MAX_BINDS: usize = 65_535;

/// One bound value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bind {
    Int4(i32),
    Int8(i64),
    Float8(f64),
    Bool(bool),
    Text(String),
    TextArray(Vec<String>),
    Jsonb(serde_json::Value),
    JsonbArray(Vec<serde_json::Value>),
    Vector(pgvector::Vector),
    VectorArray(Vec<pgvector::Vector>),
}

impl From<i32> for Bind {
    fn from(value: i32) -> Self {
        Bind::Int4(value)
    }
}

impl From<i64> for Bind {
    fn from(value: i64) -> Self {
        Bind::Int8(value)
    }
}

impl From<f64> for Bind {
    fn from(value: f64) -> Self {
        Bind::Float8(value)
    }
}

impl From<bool> for Bind {
    fn from(value: bool) -> Self {
        Bind::Bool(value)
    }
}

impl From<String> for Bind {
    fn from(value: String) -> Self {
        Bind::Text(value)
    }
}

impl From<&str> for Bind {
    fn from(value: &str) -> Self {
        Bind::Text(value.to_owned())
    }
}

impl From<Vec<String>> for Bind {
    fn from(value: Vec<String>) -> Self {
        Bind::TextArray(value)
    }
}

impl From<serde_json::Value> for Bind {
    fn from(value: serde_json::Value) -> Self {
        Bind::Jsonb(value)
    }
}

impl From<pgvector::Vector> for Bind {
    fn from(value: pgvector::Vector) -> Self {
        Bind::Vector(value)
    }
}

/// SQL text plus its binds, numbered `$1, $2, …` in the order they are added.
#[derive(Debug, Clone, Default)]
pub(crate) struct SqlBuilder {
    text: String,
    binds: Vec<Bind>,
}

impl SqlBuilder {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Appends trusted SQL text: our own constants and catalog integers, never caller text.
    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    /// Appends the next placeholder and keeps `value` for it.
    pub(crate) fn bind(&mut self, value: impl Into<Bind>) -> &mut Self {
        self.binds.push(value.into());
        let placeholder = format!("${}", self.binds.len());
        self.text.push_str(&placeholder);
        self
    }

    /// Keeps `value` and returns its placeholder without appending it, for a value the
    /// statement refers to more than once.
    pub(crate) fn param(&mut self, value: impl Into<Bind>) -> String {
        self.binds.push(value.into());
        format!("${}", self.binds.len())
    }

    /// Appends `$n::cast`; `cast` comes from our own closed set of type names.
    pub(crate) fn bind_cast(&mut self, value: impl Into<Bind>, cast: &str) -> &mut Self {
        self.bind(value);
        self.text.push_str("::");
        self.text.push_str(cast);
        self
    }

    /// Puts trusted SQL text in front (e.g. `EXPLAIN `); placeholders keep their numbers.
    pub(crate) fn prepend(&mut self, sql: &str) -> &mut Self {
        self.text.insert_str(0, sql);
        self
    }

    /// The SQL text so far.
    pub(crate) fn sql(&self) -> &str {
        &self.text
    }

    /// How many values are bound so far.
    pub(crate) fn bind_count(&self) -> usize {
        self.binds.len()
    }

    /// The statement, ready to run.
    pub(crate) fn into_query(self) -> BoxedSqlQuery<'static, Pg, SqlQuery> {
        let query = diesel::sql_query(self.text).into_boxed::<Pg>();
        self.binds
            .into_iter()
            .fold(query, |query, value| match value {
                Bind::Int4(value) => query.bind::<Integer, _>(value),
                Bind::Int8(value) => query.bind::<BigInt, _>(value),
                Bind::Float8(value) => query.bind::<Double, _>(value),
                Bind::Bool(value) => query.bind::<Bool, _>(value),
                Bind::Text(value) => query.bind::<Text, _>(value),
                Bind::TextArray(value) => query.bind::<Array<Text>, _>(value),
                Bind::Jsonb(value) => query.bind::<Jsonb, _>(value),
                Bind::JsonbArray(value) => query.bind::<Array<Jsonb>, _>(value),
                Bind::Vector(value) => query.bind::<VectorSql, _>(value),
                Bind::VectorArray(value) => query.bind::<Array<VectorSql>, _>(value),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order() {
        let mut sql = SqlBuilder::new();
        sql.push("SELECT ")
            .bind(1i32)
            .push(", ")
            .bind_cast("x", "text")
            .push(", ")
            .bind(vec!["a".to_owned()]);
        assert_eq!(sql.sql(), "SELECT $1, $2::text, $3");
        assert_eq!(sql.bind_count(), 3);
    }
}
