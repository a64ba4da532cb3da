//! The rules a filter must follow: limits (iteratively checked, never recursing) and the value
//! types each operator accepts. The JSON parser applies the same leaf rules as it builds.

use serde_json::Value;

use super::error::FilterError;
use super::limits::{MAX_DEPTH, MAX_IN_VALUES, MAX_NODES};
use super::{FieldPath, Filter};

/// Checks a whole filter without recursion, depth first, reporting the first problem.
pub(super) fn check(filter: &Filter) -> Result<(), FilterError> {
    // (filter, its depth, the location prefix of its children: "" or "$or[1].").
    let mut pending: Vec<(&Filter, usize, String)> = vec![(filter, 1, String::new())];
    let mut nodes = 0_usize;
    while let Some((filter, depth, prefix)) = pending.pop() {
        nodes += 1;
        let here = || prefix.trim_end_matches('.').to_owned();
        if depth > MAX_DEPTH {
            return Err(too_deep(here()));
        }
        if nodes > MAX_NODES {
            return Err(too_many_nodes(here()));
        }
        let (children, operator): (Vec<&Filter>, &str) = match filter {
            Filter::And(filters) => (filters.iter().collect(), "$and"),
            Filter::Or(filters) => (filters.iter().collect(), "$or"),
            Filter::Not(filter) => {
                pending.push((filter, depth + 1, format!("{prefix}$not.")));
                continue;
            }
            leaf => {
                check_leaf(leaf, &prefix)?;
                continue;
            }
        };
        if children.is_empty() {
            return Err(FilterError::new(
                format!("{prefix}{operator}"),
                "expects a non-empty array of filters",
            ));
        }
        if nodes + pending.len() + children.len() > MAX_NODES {
            return Err(too_many_nodes(format!("{prefix}{operator}")));
        }
        for (index, child) in children.into_iter().enumerate().rev() {
            pending.push((child, depth + 1, format!("{prefix}{operator}[{index}].")));
        }
    }
    Ok(())
}

/// Checks one field condition; `prefix` locates the object holding it (`""`, `"$or[1]."`).
pub(super) fn check_leaf(filter: &Filter, prefix: &str) -> Result<(), FilterError> {
    let Some((path, operator)) = leaf_parts(filter) else {
        return Ok(());
    };
    let field = format!("{prefix}{path}");
    path.validate()
        .map_err(|reason| FilterError::new(field.clone(), reason))?;
    let at = format!("{field}.{operator}");
    match filter {
        Filter::Eq(_, value) | Filter::Ne(_, value) | Filter::Contains(_, value) => {
            check_value(value, &at)
        }
        Filter::Lt(_, value)
        | Filter::Lte(_, value)
        | Filter::Gt(_, value)
        | Filter::Gte(_, value) => check_range_value(value, &at),
        Filter::In(_, values) | Filter::NotIn(_, values) => {
            if values.is_empty() {
                return Err(FilterError::new(at, "expects a non-empty array of values"));
            }
            if values.len() > MAX_IN_VALUES {
                return Err(FilterError::new(
                    at,
                    format!(
                        "expects at most {MAX_IN_VALUES} values, found {}",
                        values.len()
                    ),
                ));
            }
            for (index, value) in values.iter().enumerate() {
                check_value(value, &format!("{at}[{index}]"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The path and JSON operator of a field condition; `None` for combinators.
pub(super) fn leaf_parts(filter: &Filter) -> Option<(&FieldPath, &'static str)> {
    Some(match filter {
        Filter::Eq(path, _) => (path, "$eq"),
        Filter::Ne(path, _) => (path, "$ne"),
        Filter::Lt(path, _) => (path, "$lt"),
        Filter::Lte(path, _) => (path, "$lte"),
        Filter::Gt(path, _) => (path, "$gt"),
        Filter::Gte(path, _) => (path, "$gte"),
        Filter::In(path, _) => (path, "$in"),
        Filter::NotIn(path, _) => (path, "$nin"),
        Filter::Exists(path) => (path, "$exists"),
        Filter::Contains(path, _) => (path, "$contains"),
        Filter::And(_) | Filter::Or(_) | Filter::Not(_) => return None,
    })
}

/// "a string", "an object", …: for messages.
pub(super) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(super) fn too_deep(at: String) -> FilterError {
    FilterError::new(at, format!("filters nest at most {MAX_DEPTH} levels deep"))
}

pub(super) fn too_many_nodes(at: String) -> FilterError {
    FilterError::new(
        at,
        format!("a filter holds at most {MAX_NODES} conditions and combinators"),
    )
}

fn check_range_value(value: &Value, at: &str) -> Result<(), FilterError> {
    match value {
        Value::Number(_) => Ok(()),
        Value::String(_) => check_value(value, at),
        Value::Bool(_) => Err(FilterError::new(
            at,
            "expects a number, string or RFC 3339 timestamp, found a boolean \
             (booleans are matched with $eq, $ne, $in or $nin)",
        )),
        other => Err(FilterError::new(
            at,
            format!(
                "expects a number, string or RFC 3339 timestamp, found {}",
                type_name(other)
            ),
        )),
    }
}

/// No NUL in any string or key (jsonb refuses it) and nesting within [`MAX_DEPTH`], checked
/// without recursion so a hostile value cannot exhaust the stack.
fn check_value(value: &Value, at: &str) -> Result<(), FilterError> {
    let mut pending: Vec<(&Value, usize, String)> = vec![(value, 1, String::new())];
    while let Some((value, depth, suffix)) = pending.pop() {
        if depth > MAX_DEPTH {
            return Err(FilterError::new(
                format!("{at}{suffix}"),
                format!("values nest at most {MAX_DEPTH} levels deep"),
            ));
        }
        match value {
            Value::String(text) if text.contains('\0') => {
                return Err(FilterError::new(
                    format!("{at}{suffix}"),
                    "strings may not contain NUL characters (jsonb cannot store them)",
                ));
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    pending.push((item, depth + 1, format!("{suffix}[{index}]")));
                }
            }
            Value::Object(entries) => {
                for (key, item) in entries {
                    if key.contains('\0') {
                        return Err(FilterError::new(
                            format!("{at}{suffix}"),
                            "keys may not contain NUL characters (jsonb cannot store them)",
                        ));
                    }
                    pending.push((item, depth + 1, format!("{suffix}.{key}")));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(filter: &Filter) -> String {
        filter
            .check()
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn built_filters_are_checked_with_json_style_locations() {
        let filter = Filter::eq("a", 1).or(Filter::gt("price", json!({})));
        assert_eq!(
            message(&filter),
            "$or[1].price.$gt: expects a number, string or RFC 3339 timestamp, found an object"
        );
        let filter = Filter::not(Filter::lt("flag", true));
        assert!(message(&filter).starts_with("$not.flag.$lt: expects a number"));
        assert_eq!(
            message(&Filter::is_in("lang", Vec::<Value>::new())),
            "lang.$in: expects a non-empty array of values"
        );
        assert_eq!(
            message(&Filter::contains("tags", json!(["ok", {"k": "a\0b"}]))),
            "tags.$contains[1].k: strings may not contain NUL characters (jsonb cannot store them)"
        );
        assert_eq!(
            message(&Filter::And(vec![])),
            "$and: expects a non-empty array of filters"
        );
        assert_eq!(
            message(&Filter::exists("a..b")),
            "a..b: key 2 of the path is empty"
        );
        assert_eq!(message(&Filter::eq("a", json!(null))), "");
    }

    #[test]
    fn deep_and_wide_built_filters_are_refused_without_recursing() {
        let mut deep = Filter::exists("a");
        for _ in 0..100_000 {
            deep = Filter::Not(Box::new(deep));
        }
        let text = message(&deep);
        assert!(
            text.ends_with("filters nest at most 32 levels deep"),
            "{text}"
        );
        assert!(text.starts_with("$not.$not."), "{text}");
        // Dropping a 100,000-deep Box chain recurses; leak it instead in this test.
        std::mem::forget(deep);

        let wide = Filter::Or((0..1_000).map(|n| Filter::eq("n", n)).collect());
        assert_eq!(
            message(&wide),
            "$or: a filter holds at most 1000 conditions and combinators"
        );
        let fits = Filter::Or((0..999).map(|n| Filter::eq("n", n)).collect());
        assert_eq!(message(&fits), "");

        let at_limit = (1..MAX_DEPTH).fold(Filter::exists("a"), |inner, _| Filter::not(inner));
        assert_eq!(message(&at_limit), "");
        assert!(message(&Filter::not(at_limit)).ends_with("nest at most 32 levels deep"));
    }

    #[test]
    fn in_lists_are_limited_to_ten_thousand_values() {
        assert_eq!(message(&Filter::is_in("n", 0..10_000)), "");
        assert_eq!(
            message(&Filter::not_in("n", 0..10_001)),
            "n.$nin: expects at most 10000 values, found 10001"
        );
    }

    #[test]
    fn deeply_nested_values_are_refused() {
        let mut value = json!(1);
        for _ in 0..40 {
            value = json!([value]);
        }
        let text = message(&Filter::eq("a", value));
        assert!(
            text.ends_with("values nest at most 32 levels deep"),
            "{text}"
        );
    }
}
