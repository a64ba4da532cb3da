//! The JSON form: `{"lang": "de", "price": {"$gt": 10}, "$or": [...]}`.
//!
//! The parser checks depth before it recurses and counts nodes as it builds, so neither a
//! 1,000-deep nor a million-wide input costs more than the limits allow. Locations in errors
//! follow the input: `$or[1].price.$gt`.

use serde_json::{Map, Value};

use super::error::FilterError;
use super::limits::{MAX_DEPTH, MAX_NODES};
use super::rules::{check_leaf, leaf_parts, too_deep, too_many_nodes, type_name};
use super::{FieldPath, Filter};

const FIELD_OPERATORS: &str = "$eq, $ne, $lt, $lte, $gt, $gte, $in, $nin, $exists, $contains";

pub(super) fn parse(value: &Value) -> Result<Filter, FilterError> {
    let mut parser = Parser { nodes: 0 };
    parser.filter(value, "", 1)
}

pub(super) fn render(filter: &Filter) -> Value {
    match filter {
        Filter::And(filters) => combinator("$and", filters),
        Filter::Or(filters) => combinator("$or", filters),
        Filter::Not(inner) => match inner.as_ref() {
            Filter::Exists(path) => field(path, "$exists", Value::Bool(false)),
            other => single("$not", render(other)),
        },
        Filter::Exists(path) => field(path, "$exists", Value::Bool(true)),
        Filter::In(path, values) | Filter::NotIn(path, values) => {
            let operator = leaf_parts(filter).map_or("$in", |(_, operator)| operator);
            field(path, operator, Value::Array(values.clone()))
        }
        Filter::Eq(path, value)
        | Filter::Ne(path, value)
        | Filter::Lt(path, value)
        | Filter::Lte(path, value)
        | Filter::Gt(path, value)
        | Filter::Gte(path, value)
        | Filter::Contains(path, value) => {
            let operator = leaf_parts(filter).map_or("$eq", |(_, operator)| operator);
            field(path, operator, value.clone())
        }
    }
}

fn combinator(operator: &str, filters: &[Filter]) -> Value {
    single(operator, Value::Array(filters.iter().map(render).collect()))
}

fn field(path: &FieldPath, operator: &str, value: Value) -> Value {
    single(&path.to_string(), single(operator, value))
}

fn single(key: &str, value: Value) -> Value {
    let mut object = Map::new();
    object.insert(key.to_owned(), value);
    Value::Object(object)
}

struct Parser {
    nodes: usize,
}

impl Parser {
    /// A filter object at `at` (`""` or `"$or[1]"`) whose result sits at `depth`.
    fn filter(&mut self, value: &Value, at: &str, depth: usize) -> Result<Filter, FilterError> {
        if depth > MAX_DEPTH {
            return Err(too_deep(at.to_owned()));
        }
        let Value::Object(entries) = value else {
            return Err(FilterError::new(
                at,
                format!("a filter is a JSON object, found {}", type_name(value)),
            ));
        };
        if entries.is_empty() {
            return Err(FilterError::new(
                at,
                "an empty filter object; leave the filter out to match every row",
            ));
        }
        let prefix = if at.is_empty() {
            String::new()
        } else {
            format!("{at}.")
        };
        // Several conditions are combined with AND one level further down.
        let conditions = entries.iter().map(|(key, value)| {
            if key.starts_with('$') {
                1
            } else {
                operator_count(value)
            }
        });
        let total: usize = conditions.sum();
        let child_depth = if total > 1 { depth + 1 } else { depth };
        let mut parts = Vec::with_capacity(total);
        for (key, value) in entries {
            if key.starts_with('$') {
                parts.push(self.combinator(key, value, &prefix, child_depth)?);
            } else {
                self.field(key, value, &prefix, child_depth, &mut parts)?;
            }
        }
        if parts.len() == 1 {
            return Ok(parts.remove(0));
        }
        self.count(at)?;
        Ok(Filter::And(parts))
    }

    fn combinator(
        &mut self,
        operator: &str,
        value: &Value,
        prefix: &str,
        depth: usize,
    ) -> Result<Filter, FilterError> {
        let at = format!("{prefix}{operator}");
        if depth > MAX_DEPTH {
            return Err(too_deep(at));
        }
        match operator {
            "$and" | "$or" => {
                let items = match value {
                    Value::Array(items) if !items.is_empty() => items,
                    other => {
                        return Err(FilterError::new(
                            at,
                            format!(
                                "expects a non-empty array of filters, found {}",
                                describe(other)
                            ),
                        ));
                    }
                };
                self.count(&at)?;
                if self.nodes + items.len() > MAX_NODES {
                    return Err(too_many_nodes(at));
                }
                let mut filters = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    filters.push(self.filter(item, &format!("{at}[{index}]"), depth + 1)?);
                }
                Ok(if operator == "$and" {
                    Filter::And(filters)
                } else {
                    Filter::Or(filters)
                })
            }
            "$not" => {
                self.count(&at)?;
                let inner = self.filter(value, &at, depth + 1)?;
                Ok(Filter::Not(Box::new(inner)))
            }
            _ if is_field_operator(operator) => Err(FilterError::new(
                at,
                format!("{operator} needs a field: write {{\"<field>\": {{\"{operator}\": …}}}}"),
            )),
            _ => Err(FilterError::new(
                at,
                format!("unknown operator {operator}; expected $and, $or or $not, or a field name"),
            )),
        }
    }

    /// The conditions on one field, appended to `parts`.
    fn field(
        &mut self,
        key: &str,
        value: &Value,
        prefix: &str,
        depth: usize,
        parts: &mut Vec<Filter>,
    ) -> Result<(), FilterError> {
        if key.is_empty() {
            return Err(FilterError::new(
                prefix.trim_end_matches('.'),
                "a field name may not be empty",
            ));
        }
        let at = format!("{prefix}{key}");
        let path = FieldPath::parse(key).map_err(|error| FilterError::new(&at, error.reason()))?;
        let operators = match value {
            Value::Object(operators) => operators,
            Value::Array(_) => {
                return Err(FilterError::new(
                    at,
                    "an array needs an operator: {\"$in\": […]} for any of these values, \
                     {\"$contains\": […]} for an array holding all of them, \
                     {\"$eq\": […]} for exactly this array",
                ));
            }
            scalar => {
                return self.leaf(Filter::Eq(path, scalar.clone()), prefix, depth, parts);
            }
        };
        if operators.is_empty() {
            return Err(FilterError::new(
                at,
                format!(
                    "expects a value or an operator object, found an empty object (operators: {FIELD_OPERATORS})"
                ),
            ));
        }
        if let Some(plain) = operators.keys().find(|key| !key.starts_with('$')) {
            return Err(FilterError::new(
                at,
                format!(
                    "expects a value or an operator object, found an object with key {plain:?}; \
                     write a nested key as a dotted path (\"{key}.{plain}\") and compare a whole \
                     object with {{\"$eq\": {{…}}}}"
                ),
            ));
        }
        for (operator, operand) in operators {
            let filter = field_condition(&path, operator, operand, &at)?;
            self.leaf(filter, prefix, depth, parts)?;
        }
        Ok(())
    }

    fn leaf(
        &mut self,
        filter: Filter,
        prefix: &str,
        depth: usize,
        parts: &mut Vec<Filter>,
    ) -> Result<(), FilterError> {
        // `$exists: false` is Not(Exists): two nodes, the condition one level deeper.
        let (condition, wrappers) = match &filter {
            Filter::Not(inner) => (inner.as_ref(), 1),
            other => (other, 0),
        };
        check_leaf(condition, prefix)?;
        let at = leaf_parts(condition)
            .map(|(path, operator)| format!("{prefix}{path}.{operator}"))
            .unwrap_or_default();
        if depth + wrappers > MAX_DEPTH {
            return Err(too_deep(at));
        }
        for _ in 0..=wrappers {
            self.count(&at)?;
        }
        parts.push(filter);
        Ok(())
    }

    fn count(&mut self, at: &str) -> Result<(), FilterError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(too_many_nodes(at.to_owned()));
        }
        Ok(())
    }
}

/// One `"$op": operand` pair on `path`; `at` locates the field.
fn field_condition(
    path: &FieldPath,
    operator: &str,
    operand: &Value,
    at: &str,
) -> Result<Filter, FilterError> {
    let path = path.clone();
    let value = operand.clone();
    Ok(match operator {
        "$eq" => Filter::Eq(path, value),
        "$ne" => Filter::Ne(path, value),
        "$lt" => Filter::Lt(path, value),
        "$lte" => Filter::Lte(path, value),
        "$gt" => Filter::Gt(path, value),
        "$gte" => Filter::Gte(path, value),
        "$contains" => Filter::Contains(path, value),
        "$in" | "$nin" => {
            let Value::Array(values) = value else {
                return Err(FilterError::new(
                    format!("{at}.{operator}"),
                    format!(
                        "expects a non-empty array of values, found {}",
                        type_name(operand)
                    ),
                ));
            };
            if operator == "$in" {
                Filter::In(path, values)
            } else {
                Filter::NotIn(path, values)
            }
        }
        "$exists" => match operand {
            Value::Bool(true) => Filter::Exists(path),
            Value::Bool(false) => Filter::Not(Box::new(Filter::Exists(path))),
            other => {
                return Err(FilterError::new(
                    format!("{at}.{operator}"),
                    format!("expects true or false, found {}", type_name(other)),
                ));
            }
        },
        "$and" | "$or" | "$not" => {
            return Err(FilterError::new(
                format!("{at}.{operator}"),
                format!(
                    "{operator} combines filters and goes outside the field: \
                     {{\"{operator}\": [{{\"<field>\": …}}, …]}}"
                ),
            ));
        }
        unknown => {
            return Err(FilterError::new(
                format!("{at}.{unknown}"),
                format!("unknown operator {unknown}; expected one of {FIELD_OPERATORS}"),
            ));
        }
    })
}

fn is_field_operator(operator: &str) -> bool {
    matches!(
        operator,
        "$eq" | "$ne" | "$lt" | "$lte" | "$gt" | "$gte" | "$in" | "$nin" | "$exists" | "$contains"
    )
}

/// How many conditions a field's value yields: one per operator of an operator object.
fn operator_count(value: &Value) -> usize {
    match value {
        Value::Object(operators) if !operators.is_empty() => operators.len(),
        _ => 1,
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "an empty array",
        other => type_name(other),
    }
}

#[cfg(test)]
mod tests;
