//! Filter → SQL: a boolean expression over `metadata`, every key and value a bind parameter.
//!
//! A comparison renders as `embedstore_jsonb_<type>(metadata #> $p::text[]) <op> $v::<type>`,
//! the type chosen from the filter value. The accessors (migration
//! `2026-11-25-000010_metadata_accessors`) return NULL for a stored value of another JSON type,
//! so cross-type rows never match, and they are `IMMUTABLE`: a btree payload index built on
//! `embedstore_jsonb_<type>(metadata #> '<path>'::text[])` matches the rendered expression
//! once PostgreSQL folds the bound path into a constant, which it does because our statements
//! are planned with their parameter values (unnamed statements, custom plans).
//!
//! Negations render as `(…) IS NOT TRUE`, so a NULL from a missing key counts as "does not
//! match" everywhere and `$ne`/`$nin`/`$not` match such rows.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use super::{FieldPath, Filter, FilterError};
use crate::sql::SqlBuilder;

/// The type of a typed payload index on one metadata path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadKind {
    /// Strings, compared as text (`embedstore_jsonb_text`).
    Keyword,
    /// Whole numbers (`embedstore_jsonb_numeric`).
    Integer,
    /// Any numbers (`embedstore_jsonb_numeric`).
    Float,
    /// Booleans (`embedstore_jsonb_bool`).
    Bool,
    /// RFC 3339 timestamps with an offset (`embedstore_jsonb_timestamptz`).
    Timestamp,
}

impl PayloadKind {
    /// Every kind.
    pub const ALL: [PayloadKind; 5] = [
        PayloadKind::Keyword,
        PayloadKind::Integer,
        PayloadKind::Float,
        PayloadKind::Bool,
        PayloadKind::Timestamp,
    ];

    /// `"keyword"`, `"integer"`, `"float"`, `"bool"`, `"timestamp"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadKind::Keyword => "keyword",
            PayloadKind::Integer => "integer",
            PayloadKind::Float => "float",
            PayloadKind::Bool => "bool",
            PayloadKind::Timestamp => "timestamp",
        }
    }

    /// The SQL accessor function whose result a typed index on this kind stores, e.g.
    /// `embedstore_jsonb_numeric`; the filter renderer uses the same function.
    pub fn accessor(self) -> &'static str {
        Accessor::for_kind(self).function()
    }
}

impl fmt::Display for PayloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PayloadKind {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        PayloadKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| {
                FilterError::new(
                    "",
                    format!(
                        "unknown payload kind {text:?}; expected keyword, integer, float, bool or timestamp"
                    ),
                )
            })
    }
}

/// Which payload indexes a collection has, so rendering can pick the expression they serve.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PayloadLayout {
    /// A GIN index on `metadata` (`jsonb_ops` or `jsonb_path_ops`): scalar `$eq` and
    /// `$contains` on paths without a typed index render as `metadata @> $obj::jsonb`.
    pub gin: bool,
    /// Typed btree indexes: path and kind.
    pub typed: Vec<(FieldPath, PayloadKind)>,
}

impl PayloadLayout {
    fn has_typed(&self, path: &FieldPath) -> bool {
        self.typed.iter().any(|(typed, _)| typed == path)
    }

    /// Whether `path` should be matched by containment so the GIN index can serve it.
    fn containment_for(&self, path: &FieldPath) -> bool {
        self.gin && !self.has_typed(path) && !path.may_index_arrays()
    }
}

impl Filter {
    /// Appends this filter as a boolean SQL expression over the column `metadata`. The caller
    /// writes the rest (`WHERE collection_id = $1 AND (` … `)`) and must have run
    /// [`Filter::check`] first (it bounds the recursion here).
    pub(crate) fn render(&self, out: &mut SqlBuilder, layout: &PayloadLayout) {
        match self {
            Filter::And(filters) => join(out, filters, " AND ", layout),
            Filter::Or(filters) => join(out, filters, " OR ", layout),
            Filter::Not(filter) => negate(out, |out| filter.render(out, layout)),
            Filter::Eq(path, value) => equals(out, path, value, layout),
            Filter::Ne(path, value) => negate(out, |out| equals(out, path, value, layout)),
            Filter::Lt(path, value) => compare(out, path, value, "<"),
            Filter::Lte(path, value) => compare(out, path, value, "<="),
            Filter::Gt(path, value) => compare(out, path, value, ">"),
            Filter::Gte(path, value) => compare(out, path, value, ">="),
            Filter::In(path, values) => any_of(out, path, values),
            Filter::NotIn(path, values) => negate(out, |out| any_of(out, path, values)),
            Filter::Exists(path) => {
                value_at(out, path);
                out.push(" IS NOT NULL");
            }
            Filter::Contains(path, value) => contains(out, path, value, layout),
        }
    }
}

/// Renders `filter` (as the repositories do) after [`Filter::check`], for this crate's
/// integration tests.
#[cfg(feature = "testing")]
///
/// # Errors
/// The filter's [`FilterError`].
pub fn render_filter(
    filter: &Filter,
    out: &mut SqlBuilder,
    layout: &PayloadLayout,
) -> Result<(), FilterError> {
    filter.check()?;
    filter.render(out, layout);
    Ok(())
}

/// True when `text` is an RFC 3339 timestamp with an explicit offset that the SQL accessor
/// `embedstore_jsonb_timestamptz` accepts: exactly the same rules as its regular expression
/// and day-of-month check.
pub fn is_timestamp(text: &str) -> bool {
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = bytes.get(range)?;
        digits.iter().all(u8::is_ascii_digit).then(|| {
            digits
                .iter()
                .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
        })
    };
    let at = |index: usize, allowed: &[u8]| bytes.get(index).is_some_and(|b| allowed.contains(b));
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        number(0..4),
        number(5..7),
        number(8..10),
        number(11..13),
        number(14..16),
        number(17..19),
    ) else {
        return false;
    };
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt ") && at(13, b":") && at(16, b":")) {
        return false;
    }
    if year == 0 || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return false;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return false;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &fraction[digits..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            let offset_hour = (h1.is_ascii_digit() && h2.is_ascii_digit())
                .then(|| u32::from(h1 - b'0') * 10 + u32::from(h2 - b'0'));
            offset_hour.is_some_and(|hour| hour <= 15)
                && (b'0'..=b'5').contains(m1)
                && m2.is_ascii_digit()
        }
        _ => false,
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The SQL type a scalar filter value is compared as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accessor {
    Text,
    Numeric,
    Bool,
    Timestamptz,
}

impl Accessor {
    fn for_kind(kind: PayloadKind) -> Accessor {
        match kind {
            PayloadKind::Keyword => Accessor::Text,
            PayloadKind::Integer | PayloadKind::Float => Accessor::Numeric,
            PayloadKind::Bool => Accessor::Bool,
            PayloadKind::Timestamp => Accessor::Timestamptz,
        }
    }

    fn function(self) -> &'static str {
        match self {
            Accessor::Text => "embedstore_jsonb_text",
            Accessor::Numeric => "embedstore_jsonb_numeric",
            Accessor::Bool => "embedstore_jsonb_bool",
            Accessor::Timestamptz => "embedstore_jsonb_timestamptz",
        }
    }

    fn sql_type(self) -> &'static str {
        match self {
            Accessor::Text => "text",
            Accessor::Numeric => "numeric",
            Accessor::Bool => "boolean",
            Accessor::Timestamptz => "timestamptz",
        }
    }

    fn array_type(self) -> &'static str {
        match self {
            Accessor::Text => "text[]",
            Accessor::Numeric => "numeric[]",
            Accessor::Bool => "boolean[]",
            Accessor::Timestamptz => "timestamptz[]",
        }
    }
}

/// `accessor(metadata #> $p::text[])`.
fn accessed(out: &mut SqlBuilder, path: &FieldPath, accessor: Accessor) {
    out.push(accessor.function()).push("(");
    value_at(out, path);
    out.push(")");
}

/// `(metadata #> $p::text[])`.
fn value_at(out: &mut SqlBuilder, path: &FieldPath) {
    out.push("(metadata #> ")
        .bind_cast(path.segments().to_vec(), "text[]")
        .push(")");
}

fn join(out: &mut SqlBuilder, filters: &[Filter], separator: &str, layout: &PayloadLayout) {
    out.push("(");
    for (index, filter) in filters.iter().enumerate() {
        if index > 0 {
            out.push(separator);
        }
        filter.render(out, layout);
    }
    if filters.is_empty() {
        // Unreachable after `check` (empty lists are refused); the neutral element otherwise.
        out.push(if separator == " AND " {
            "TRUE"
        } else {
            "FALSE"
        });
    }
    out.push(")");
}

fn negate(out: &mut SqlBuilder, inner: impl FnOnce(&mut SqlBuilder)) {
    out.push("((");
    inner(out);
    out.push(") IS NOT TRUE)");
}

fn equals(out: &mut SqlBuilder, path: &FieldPath, value: &Value, layout: &PayloadLayout) {
    let scalar = !matches!(value, Value::Array(_) | Value::Object(_));
    if scalar && layout.containment_for(path) {
        out.push("metadata @> ")
            .bind_cast(nested(path, value.clone()), "jsonb");
        return;
    }
    match value {
        Value::String(text) => {
            accessed(out, path, Accessor::Text);
            out.push(" = ").bind_cast(text.clone(), "text");
        }
        Value::Number(number) => {
            accessed(out, path, Accessor::Numeric);
            out.push(" = ").bind_cast(number.to_string(), "numeric");
        }
        Value::Bool(flag) => {
            accessed(out, path, Accessor::Bool);
            out.push(" = ").bind_cast(*flag, "boolean");
        }
        Value::Null => {
            value_at(out, path);
            out.push(" = 'null'::jsonb");
        }
        Value::Array(_) | Value::Object(_) => {
            value_at(out, path);
            out.push(" = ").bind_cast(value.clone(), "jsonb");
        }
    }
}

fn compare(out: &mut SqlBuilder, path: &FieldPath, value: &Value, operator: &str) {
    let (accessor, bound) = match value {
        Value::Number(number) => (Accessor::Numeric, number.to_string()),
        Value::String(text) if is_timestamp(text) => (Accessor::Timestamptz, text.clone()),
        Value::String(text) => (Accessor::Text, text.clone()),
        // Unreachable after `check`, which refuses other types for range operators.
        _ => {
            out.push("FALSE");
            return;
        }
    };
    accessed(out, path, accessor);
    out.push(" ")
        .push(operator)
        .push(" ")
        .bind_cast(bound, accessor.sql_type());
}

/// One `= ANY(array)` per JSON type present in `values`, ORed.
fn any_of(out: &mut SqlBuilder, path: &FieldPath, values: &[Value]) {
    let mut texts = Vec::new();
    let mut numbers = Vec::new();
    let mut flags = Vec::new();
    let mut others = Vec::new();
    for value in values {
        match value {
            Value::String(text) => texts.push(text.clone()),
            Value::Number(number) => numbers.push(number.to_string()),
            Value::Bool(flag) => flags.push(*flag),
            other => others.push(other.clone()),
        }
    }
    let mut first = true;
    let mut separator = |out: &mut SqlBuilder| {
        out.push(if first { "(" } else { " OR " });
        first = false;
    };
    if !texts.is_empty() {
        separator(out);
        accessed(out, path, Accessor::Text);
        out.push(" = ANY(")
            .bind_cast(texts, Accessor::Text.array_type())
            .push(")");
    }
    if !numbers.is_empty() {
        separator(out);
        accessed(out, path, Accessor::Numeric);
        out.push(" = ANY(")
            .bind_cast(numbers, Accessor::Numeric.array_type())
            .push(")");
    }
    if !flags.is_empty() {
        separator(out);
        accessed(out, path, Accessor::Bool);
        out.push(" = ANY(")
            .bind_cast(flags, Accessor::Bool.array_type())
            .push(")");
    }
    if !others.is_empty() {
        separator(out);
        value_at(out, path);
        out.push(" = ANY(").bind_cast(others, "jsonb[]").push(")");
    }
    if first {
        // Unreachable after `check` (empty lists are refused): nothing is in an empty list.
        out.push("(FALSE");
    }
    out.push(")");
}

fn contains(out: &mut SqlBuilder, path: &FieldPath, value: &Value, layout: &PayloadLayout) {
    let wanted = match value {
        Value::Array(_) => value.clone(),
        scalar => Value::Array(vec![scalar.clone()]),
    };
    if layout.gin && !path.may_index_arrays() {
        out.push("metadata @> ")
            .bind_cast(nested(path, wanted), "jsonb");
        return;
    }
    out.push("(jsonb_typeof");
    value_at(out, path);
    out.push(" = 'array' AND ");
    value_at(out, path);
    out.push(" @> ").bind_cast(wanted, "jsonb").push(")");
}

/// `{"a": {"b": value}}` for the path `a.b`.
fn nested(path: &FieldPath, value: Value) -> Value {
    path.segments().iter().rev().fold(value, |inner, key| {
        let mut object = Map::new();
        object.insert(key.clone(), inner);
        Value::Object(object)
    })
}

#[cfg(test)]
mod tests;
