//! Typed metadata filters with a JSON form; the semantics and limits are documented on
//! [`Filter`].

mod error;
mod json;
mod layout;
pub(crate) mod limits;
mod path;
mod render;
mod rules;
mod timestamp;

use std::str::FromStr;

use serde_json::Value;

pub use error::FilterError;
pub use layout::{PayloadKind, PayloadLayout};
pub use path::FieldPath;
#[cfg(feature = "testing")]
pub use render::render_filter;
pub use timestamp::is_timestamp;

/// A condition on embeddings' metadata.
///
/// A [`Filter`] selects embeddings by their `metadata`. It is built in Rust
/// (`Filter::eq("lang", "de").and(Filter::gt("price", 10))`) or parsed from the JSON form
/// users know from Chroma, Supabase vecs and langchain-postgres:
///
/// ```json
/// {"lang": "de", "price": {"$gt": 10, "$lte": 99.5}, "$or": [{"tags": {"$contains": "new"}}, {"stock": {"$exists": true}}]}
/// ```
///
/// Several keys in one object are combined with AND; `{"lang": "de"}` is short for
/// `{"lang": {"$eq": "de"}}`. Operators: `$eq $ne $lt $lte $gt $gte $in $nin $exists
/// $contains` on a field, `$and $or $not` around filters. Keys are dotted paths
/// ([`FieldPath`]): `"a.b"` is key `b` inside object `a`; `\.` is a literal dot.
///
/// # Semantics
/// - **No cross-type matches.** A comparison only matches stored values of the filter value's
///   JSON type: `{"n": {"$gt": 5}}` never matches the string `"10"`, and `{"n": {"$lt": "b"}}`
///   never matches a number. jsonb's own cross-type ordering never leaks through.
/// - **Numbers** compare as numbers (`1` equals `1.0`), exactly (as `numeric`).
/// - **Strings** compare as strings; `<`/`>` use the database's default collation.
/// - **Timestamps:** a range comparison (`$lt $lte $gt $gte`) whose value is an RFC 3339
///   timestamp with an explicit offset or `Z` (`2026-11-25T08:00:00Z`,
///   `2026-11-25 09:00:00.5+01:00`) compares as timestamps, against stored strings of that same
///   form; stored strings of any other form never match it. `$eq` on such a string compares
///   the text.
/// - **Booleans** only with `$eq`, `$ne`, `$in`, `$nin`.
/// - **Null:** `{"k": null}` (`$eq null`) matches a stored JSON `null` only, not a missing key.
/// - **Arrays and objects** as `$eq`/`$in` values compare as whole JSON values.
/// - **Negations match missing keys:** `$ne`, `$nin` and `$not` match every row the positive
///   form does not — including rows without the key, or with a value of another type.
/// - **`$exists: true`** matches a present key, also one holding JSON `null`.
/// - **`$contains`:** the field is an array holding the value; given an array, holding every
///   value of it. Objects inside match by containment (`[{"a":1,"b":2}]` contains `{"a":1}`).
/// - A path segment that reads as an integer (`tags.0`) indexes into an array, as in
///   PostgreSQL's `#>`.
///
/// # Limits
/// Checked by [`Filter::check`] (and by the parser as it goes, so hostile input never recurses
/// deeply): nesting depth ≤ 32, ≤ 1,000 conditions and combinators, ≤ 10,000 values per `$in`
/// list, keys 1–256 bytes, ≤ 32 keys per path, no NUL in keys or string values (jsonb cannot
/// store it), a key starting with `$` is reserved, `$and`/`$or`/`$in` lists are non-empty.
///
/// # SQL
/// A filter renders to a boolean expression over the `metadata` column in which every key and
/// value is a bound parameter (`embedstore_jsonb_text(metadata #> $2::text[]) = $3::text`).
/// The typed accessors are `IMMUTABLE` SQL functions, so a payload index built on exactly that
/// expression serves the filter.
///
/// # Example
/// ```
/// use embedstore::Filter;
///
/// let built = Filter::eq("lang", "de").and(Filter::gt("price", 10));
/// let parsed: Filter = r#"{"lang": "de", "price": {"$gt": 10}}"#.parse()?;
/// assert_eq!(built, parsed);
/// assert_eq!(
///     r#"{"price": {"$gt": {}}}"#.parse::<Filter>().unwrap_err().to_string(),
///     "price.$gt: expects a number, string or RFC 3339 timestamp, found an object"
/// );
/// # Ok::<(), embedstore::FilterError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Filter {
    /// The value at the path equals the given value (`$eq`).
    Eq(FieldPath, Value),
    /// Anything but [`Filter::Eq`], including a missing key (`$ne`).
    Ne(FieldPath, Value),
    /// Less than a number, string or timestamp (`$lt`).
    Lt(FieldPath, Value),
    /// Less than or equal (`$lte`).
    Lte(FieldPath, Value),
    /// Greater than (`$gt`).
    Gt(FieldPath, Value),
    /// Greater than or equal (`$gte`).
    Gte(FieldPath, Value),
    /// Equals one of the values (`$in`).
    In(FieldPath, Vec<Value>),
    /// Equals none of the values, including a missing key (`$nin`).
    NotIn(FieldPath, Vec<Value>),
    /// The key is present, even holding JSON `null` (`$exists: true`).
    Exists(FieldPath),
    /// The value is an array holding the given value, or every value of a given array
    /// (`$contains`).
    Contains(FieldPath, Value),
    /// Every filter matches (`$and`).
    And(Vec<Filter>),
    /// At least one filter matches (`$or`).
    Or(Vec<Filter>),
    /// The filter does not match (`$not`).
    Not(Box<Filter>),
}

impl Filter {
    /// `path == value`.
    pub fn eq(path: impl Into<FieldPath>, value: impl Into<Value>) -> Filter {
        Filter::Eq(path.into(), value.into())
    }

    /// `path != value` (also matches rows without the key).
    pub fn ne(path: impl Into<FieldPath>, value: impl Into<Value>) -> Filter {
        Filter::Ne(path.into(), value.into())
    }

    /// `path < value`.
    pub fn lt(path: impl Into<FieldPath>, value: impl Into<Value>) -> Filter {
        Filter::Lt(path.into(), value.into())
    }

    /// `path <= value`.
    pub fn lte(path: impl Into<FieldPath>, value: impl Into<Value>) -> Filter {
        Filter::Lte(path.into(), value.into())
    }

    /// `path > value`.
    pub fn gt(path: impl Into<FieldPath>, value: impl Into<Value>) -> Filter {
        Filter::Gt(path.into(), value.into())
    }

    /// `path >= value`.
    pub fn gte(path: impl Into<FieldPath>, value: impl Into<Value>) -> Filter {
        Filter::Gte(path.into(), value.into())
    }

    /// `path` equals one of `values`.
    pub fn is_in<V: Into<Value>>(
        path: impl Into<FieldPath>,
        values: impl IntoIterator<Item = V>,
    ) -> Filter {
        Filter::In(path.into(), values.into_iter().map(Into::into).collect())
    }

    /// `path` equals none of `values` (also matches rows without the key).
    pub fn not_in<V: Into<Value>>(
        path: impl Into<FieldPath>,
        values: impl IntoIterator<Item = V>,
    ) -> Filter {
        Filter::NotIn(path.into(), values.into_iter().map(Into::into).collect())
    }

    /// The key is present.
    pub fn exists(path: impl Into<FieldPath>) -> Filter {
        Filter::Exists(path.into())
    }

    /// The field is an array holding `value` (every value of it, when `value` is an array).
    pub fn contains(path: impl Into<FieldPath>, value: impl Into<Value>) -> Filter {
        Filter::Contains(path.into(), value.into())
    }

    /// Both filters match. Chained `and`s stay one flat `$and`.
    pub fn and(self, other: Filter) -> Filter {
        match self {
            Filter::And(mut filters) => {
                filters.push(other);
                Filter::And(filters)
            }
            first => Filter::And(vec![first, other]),
        }
    }

    /// Either filter matches. Chained `or`s stay one flat `$or`.
    pub fn or(self, other: Filter) -> Filter {
        match self {
            Filter::Or(mut filters) => {
                filters.push(other);
                Filter::Or(filters)
            }
            first => Filter::Or(vec![first, other]),
        }
    }

    /// The filter does not match.
    #[expect(
        clippy::should_implement_trait,
        reason = "a constructor beside eq/and/or; std::ops::Not would read as boolean negation of a value"
    )]
    pub fn not(filter: Filter) -> Filter {
        Filter::Not(Box::new(filter))
    }

    /// Parses the JSON form, checking every limit on the way.
    ///
    /// # Errors
    /// [`FilterError`] locating the problem, e.g. `$or[1].price.$gt: expects a number, string
    /// or RFC 3339 timestamp, found an object`.
    pub fn from_json(value: &Value) -> Result<Filter, FilterError> {
        json::parse(value)
    }

    /// The JSON form; [`Filter::from_json`] of it gives an equal filter.
    pub fn to_json(&self) -> Value {
        json::render(self)
    }

    /// Checks the limits and value rules (see [`Filter`]). Every repository
    /// method runs it before sending SQL; a filter from [`Filter::from_json`] passes.
    ///
    /// # Errors
    /// [`FilterError`] locating the first problem.
    pub fn check(&self) -> Result<(), FilterError> {
        rules::check(self)
    }
}

impl FromStr for Filter {
    type Err = FilterError;

    /// Parses JSON text (serde_json refuses nesting deeper than 128 before we see it).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let value: Value = serde_json::from_str(text)
            .map_err(|error| FilterError::new("", format!("not valid JSON: {error}")))?;
        Filter::from_json(&value)
    }
}

impl serde::Serialize for Filter {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Filter {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Filter::from_json(&value).map_err(serde::de::Error::custom)
    }
}
