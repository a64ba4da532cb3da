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

use serde_json::{Map, Value};

#[cfg(feature = "testing")]
use super::FilterError;
use super::layout::{Accessor, PayloadLayout};
use super::timestamp::is_timestamp;
use super::{FieldPath, Filter};
use crate::sql::SqlBuilder;

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
