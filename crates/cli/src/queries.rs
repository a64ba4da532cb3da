//! Where `embedstore search` gets its queries: `--vector`, a `--vector-file` of one vector per
//! line, or a `--queries` file of JSON objects with per-query overrides; each parser reports every
//! bad line.

use std::io::Read;
use std::path::PathBuf;

use embedstore::{BitVector, Filter, SearchOptions, VectorValue};

use crate::error::{CliError, json_problem};

/// At most one of `--vector`, `--vector-file` and `--queries`; one is required unless `--text`
/// asks for a full-text search alone.
#[derive(Debug, clap::Args)]
#[group(required = false, multiple = false)]
pub struct QuerySource {
    /// One query vector: a JSON array, e.g. '[0.1, 0.2, 0.3]'; for a sparse collection
    /// '{"indices": [3, 17], "values": [0.5, 1.2], "dim": 30522}' (0-based indices); for a bit
    /// collection the bits, e.g. 0110 (one query source is needed unless --text asks for a
    /// full-text search alone).
    #[arg(
        long,
        value_name = "JSON",
        required_unless_present_any = ["vector_file", "queries", "text"]
    )]
    pub vector: Option<String>,
    /// A file with one vector per line (as --vector takes it), each a query (`-` reads stdin);
    /// sent as one batch.
    #[arg(long, value_name = "PATH")]
    pub vector_file: Option<PathBuf>,
    /// A file with one JSON object per line: {"vector": […], "k": 5, "filter": {…}, "id": "q1"}
    /// (only "vector" is required; "k" and "filter" override the flags for that query).
    #[arg(long, value_name = "PATH")]
    pub queries: Option<PathBuf>,
}

impl QuerySource {
    pub(crate) fn is_empty(&self) -> bool {
        self.vector.is_none() && self.vector_file.is_none() && self.queries.is_none()
    }
}

/// One query vector and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The query's line in `--vector-file`; `None` for `--vector`.
    pub line: Option<usize>,
    /// The vector.
    pub vector: VectorValue,
    /// The caller's label for the query (`--queries` "id"), echoed in the output.
    pub id: Option<String>,
    /// This query's own k (`--queries`).
    pub k: Option<u32>,
    /// This query's own filter (`--queries`).
    pub filter: Option<Filter>,
}

/// One line of a `--queries` file.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryLine {
    vector: VectorValue,
    #[serde(default)]
    k: Option<u32>,
    #[serde(default)]
    filter: Option<serde_json::Value>,
    #[serde(default)]
    id: Option<String>,
}

impl Query {
    pub(crate) fn plain(line: Option<usize>, vector: VectorValue) -> Self {
        Self {
            line,
            vector,
            id: None,
            k: None,
            filter: None,
        }
    }

    /// The options of this query: the template with its vector and overrides.
    pub(crate) fn options(&self, template: &SearchOptions) -> SearchOptions {
        let mut options = template.clone();
        options.vector = self.vector.clone();
        if let Some(k) = self.k {
            options.k = k;
        }
        if let Some(filter) = &self.filter {
            options.filter = Some(filter.clone());
        }
        options
    }

    /// `line 4: ` for a query from a file, nothing for `--vector`.
    pub(crate) fn label(&self) -> String {
        self.line
            .map_or_else(String::new, |line| format!("line {line}: "))
    }
}

/// Parses query vectors: one per non-blank line, as [`parse_vector`] reads them.
///
/// # Errors
/// Every line that is not a vector, as `line N: <message>`.
pub fn parse_queries(text: &str) -> Result<Vec<Query>, Vec<String>> {
    parse_lines(text, |number, line| {
        parse_vector(line).map(|vector| Query::plain(Some(number), vector))
    })
}

/// Parses one query vector: a JSON array of numbers (dense), a JSON sparse vector
/// `{"indices": [...], "values": [...], "dim": N}`, or bits — a JSON string `"0101"` or the
/// bare digits `0101`.
///
/// # Errors
/// What is wrong with the text, JSON's own message with its position when it is JSON.
pub fn parse_vector(text: &str) -> Result<VectorValue, String> {
    let trimmed = text.trim();
    if trimmed.starts_with(['0', '1']) && trimmed.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
        // Bare digits and letters, starting as bits do: meant as a bit vector (a JSON number
        // like 10 would not be a vector anyway), so a wrong character is named as such, not
        // as JSON's "invalid number".
        return trimmed
            .parse::<BitVector>()
            .map(VectorValue::Bit)
            .map_err(|not_bits| not_bits.to_string());
    }
    serde_json::from_str::<VectorValue>(trimmed).map_err(|error| json_problem(&error))
}

/// Parses a `--queries` file: one JSON object per non-blank line with a `vector` and, optionally,
/// `k`, `filter` and `id`; unknown fields are refused.
///
/// # Errors
/// Every bad line, as `line N: <message>`.
pub fn parse_query_objects(text: &str) -> Result<Vec<Query>, Vec<String>> {
    parse_lines(text, |number, line| {
        let parsed =
            serde_json::from_str::<QueryLine>(line).map_err(|error| json_problem(&error))?;
        let filter = parsed
            .filter
            .as_ref()
            .map(Filter::from_json)
            .transpose()
            .map_err(|error| format!("filter: {error}"))?;
        Ok(Query {
            line: Some(number),
            vector: parsed.vector,
            id: parsed.id,
            k: parsed.k,
            filter,
        })
    })
}

/// Parses every non-blank line with `parse` (given the 1-based line number), collecting every
/// failure as `line N: <message>`.
fn parse_lines(
    text: &str,
    parse: impl Fn(usize, &str) -> Result<Query, String>,
) -> Result<Vec<Query>, Vec<String>> {
    let mut queries = Vec::new();
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parse(index + 1, line) {
            Ok(query) => queries.push(query),
            Err(problem) => problems.push(format!("line {}: {problem}", index + 1)),
        }
    }
    if problems.is_empty() {
        Ok(queries)
    } else {
        Err(problems)
    }
}

pub(crate) fn read_queries(source: &QuerySource) -> Result<Vec<Query>, CliError> {
    if let Some(json) = &source.vector {
        let vector = parse_vector(json).map_err(|problem| CliError::Problems {
            summary: "--vector is not a vector (a JSON array of numbers, a sparse vector object \
                      or a string of 0s and 1s)"
                .to_owned(),
            problems: vec![problem],
        })?;
        return Ok(vec![Query::plain(None, vector)]);
    }
    let objects = source.queries.is_some();
    let (name, text) = match source.vector_file.as_ref().or(source.queries.as_ref()) {
        Some(path) if path.as_os_str() != "-" => {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|error| CliError::io(format!("cannot read {name}"), error))?;
            (name, text)
        }
        _ => {
            let mut text = String::new();
            std::io::stdin()
                .lock()
                .read_to_string(&mut text)
                .map_err(|error| CliError::io("cannot read stdin", error))?;
            ("stdin".to_owned(), text)
        }
    };
    let parsed = if objects {
        parse_query_objects(&text)
    } else {
        parse_queries(&text)
    };
    let queries = parsed.map_err(|problems| CliError::Problems {
        summary: format!("bad query vectors in {name}"),
        problems,
    })?;
    if queries.is_empty() {
        return Err(CliError::refused(format!("no query vectors in {name}")));
    }
    Ok(queries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_files_hold_one_array_per_line_and_skip_blank_lines() {
        let queries = parse_queries("[1, 2]\n\n  \n[0.5, -1e-3]\n").unwrap();
        assert_eq!(
            queries,
            [
                Query::plain(Some(1), vec![1.0, 2.0].into()),
                Query::plain(Some(4), vec![0.5, -0.001].into()),
            ]
        );
    }

    #[test]
    fn every_bad_query_line_is_reported() {
        let problems = parse_queries("[1, 2]\n{\"a\": 1}\n[1, NaN]\n").unwrap_err();
        assert_eq!(problems.len(), 2);
        assert!(problems[0].starts_with("line 2: "), "{problems:?}");
        assert!(problems[1].starts_with("line 3: "), "{problems:?}");
    }

    #[test]
    fn query_objects_carry_overrides_and_refuse_unknown_fields() {
        let queries = parse_query_objects(
            "{\"vector\": [1, 2], \"k\": 3, \"id\": \"q1\", \"filter\": {\"lang\": \"de\"}}\n\n{\"vector\": [0, 1]}\n",
        )
        .unwrap();
        assert_eq!(queries.len(), 2);
        assert_eq!(
            (queries[0].k, queries[0].id.as_deref()),
            (Some(3), Some("q1"))
        );
        assert!(queries[0].filter.is_some() && queries[1].filter.is_none());
        let problems = parse_query_objects(
            "{\"vectr\": [1]}\n{\"vector\": [1], \"filter\": {\"a\": {\"$regex\": \"x\"}}}\n",
        )
        .unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with("line 1: ") && problems[0].contains("vectr"),
            "{problems:?}"
        );
        assert!(problems[1].starts_with("line 2: filter: "), "{problems:?}");
    }

    #[test]
    fn a_bad_bit_string_names_the_character_not_a_json_number() {
        assert_eq!(
            parse_vector("0101").unwrap(),
            VectorValue::Bit("0101".parse().unwrap())
        );
        for text in ["0121", "\"0121\""] {
            let problem = parse_vector(text).unwrap_err();
            assert!(
                problem.starts_with(
                    "character 2 is neither 0 nor 1: a bit vector is a string of 0s and 1s"
                ),
                "{text}: {problem}"
            );
        }
        assert_eq!(
            parse_vector("10x1").unwrap_err(),
            "character 2 is neither 0 nor 1: a bit vector is a string of 0s and 1s"
        );
    }
}
