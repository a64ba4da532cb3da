//! `embedstore search`: the nearest neighbours of one query vector, or of each vector in a
//! file, in one read-only transaction.

use std::io::{Read, Write};
use std::path::PathBuf;

use embedstore::dto::MAX_K;
use embedstore::{CollectionRules, SearchRequest, SearchResponse, Store};
use garde::Validate;
use serde::Serialize;

use crate::error::{CliError, json_problem};
use crate::output::{Column, Format, one_line, write_table};

/// Characters of content shown per hit in table output.
const CONTENT_CHARS: usize = 60;

/// Arguments of `embedstore search`.
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// The collection to search.
    pub collection: String,
    /// Where the query vectors come from.
    #[command(flatten)]
    pub queries: QuerySource,
    /// How many neighbours to return per query.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_K)))]
    pub k: u32,
    /// Also return each hit's stored content.
    #[arg(long)]
    pub content: bool,
    /// Output format: a table per query, or one JSON object per query and line.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also print the server's plan for each query (EXPLAIN of the exact statement sent).
    #[arg(long)]
    pub explain: bool,
}

/// Exactly one of `--vector` and `--vector-file`.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct QuerySource {
    /// One query vector as a JSON array, e.g. '[0.1, 0.2, 0.3]'.
    #[arg(long, value_name = "JSON")]
    pub vector: Option<String>,
    /// A file with one JSON array per line, each a query (`-` reads stdin).
    #[arg(long, value_name = "PATH")]
    pub vector_file: Option<PathBuf>,
}

/// Runs `embedstore search`.
///
/// # Errors
/// Unparsable vectors (by line), vectors that do not fit the collection (all of them, by
/// query), an unknown collection, or a failed query.
pub fn run(store: &Store, args: &SearchArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let queries = read_queries(&args.queries)?;
    let results = store.read(|uow| -> Result<Vec<Answer>, CliError> {
        let collection = uow.collections().get(&args.collection)?;
        let rules = CollectionRules::of(&collection);
        let requests: Vec<SearchRequest> = queries
            .iter()
            .map(|query| {
                SearchRequest::new(query.vector.clone(), args.k).with_content(args.content)
            })
            .collect();
        // Every query is checked before any runs, so one run reports every bad query.
        let problems: Vec<String> = queries
            .iter()
            .zip(&requests)
            .filter_map(|(query, request)| Some((query, request.validate_with(&rules).err()?)))
            .flat_map(|(query, report)| {
                report
                    .iter()
                    .map(|(path, error)| format!("{}{path}: {}", query.label(), error.message()))
                    .collect::<Vec<_>>()
            })
            .collect();
        if !problems.is_empty() {
            return Err(CliError::Problems {
                summary: format!(
                    "query vectors do not fit collection {:?} ({} dimensions, {})",
                    collection.name, collection.dimension, collection.metric
                ),
                problems,
            });
        }
        let mut answers = Vec::with_capacity(requests.len());
        for request in requests {
            let plan = if args.explain {
                Some(uow.explain_search(&collection, request.clone())?)
            } else {
                None
            };
            let response = uow.search(&collection, request)?;
            answers.push(Answer { response, plan });
        }
        Ok(answers)
    })?;
    for (query, answer) in queries.iter().zip(&results) {
        match args.format {
            Format::Json => {
                serde_json::to_writer(&mut *out, answer).map_err(std::io::Error::from)?;
                writeln!(out)?;
            }
            Format::Table => write_answer(out, query, answer, queries.len() > 1)?,
        }
    }
    Ok(())
}

/// One query vector and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The query's line in `--vector-file`; `None` for `--vector`.
    pub line: Option<usize>,
    /// The vector.
    pub vector: Vec<f32>,
}

impl Query {
    /// `line 4: ` for a query from a file, nothing for `--vector`.
    fn label(&self) -> String {
        self.line
            .map_or_else(String::new, |line| format!("line {line}: "))
    }
}

/// Parses query vectors: one JSON array per non-blank line.
///
/// # Errors
/// Every line that is not an array of numbers, as `line N: <message>`.
pub fn parse_queries(text: &str) -> Result<Vec<Query>, Vec<String>> {
    let mut queries = Vec::new();
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Vec<f32>>(line) {
            Ok(vector) => queries.push(Query {
                line: Some(index + 1),
                vector,
            }),
            Err(error) => problems.push(format!("line {}: {}", index + 1, json_problem(&error))),
        }
    }
    if problems.is_empty() {
        Ok(queries)
    } else {
        Err(problems)
    }
}

/// A search's result as printed: the response and, with `--explain`, the plan.
#[derive(Debug, Serialize)]
struct Answer {
    #[serde(flatten)]
    response: SearchResponse,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<String>,
}

fn read_queries(source: &QuerySource) -> Result<Vec<Query>, CliError> {
    if let Some(json) = &source.vector {
        let vector =
            serde_json::from_str::<Vec<f32>>(json).map_err(|error| CliError::Problems {
                summary: "--vector is not a JSON array of numbers".to_owned(),
                problems: vec![json_problem(&error)],
            })?;
        return Ok(vec![Query { line: None, vector }]);
    }
    let (name, text) = match &source.vector_file {
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
    let queries = parse_queries(&text).map_err(|problems| CliError::Problems {
        summary: format!("bad query vectors in {name}"),
        problems,
    })?;
    if queries.is_empty() {
        return Err(CliError::refused(format!("no query vectors in {name}")));
    }
    Ok(queries)
}

fn write_answer(
    out: &mut dyn Write,
    query: &Query,
    answer: &Answer,
    several: bool,
) -> std::io::Result<()> {
    let indent = if several { "  " } else { "" };
    if several {
        let line = query
            .line
            .map_or_else(String::new, |line| format!(" (line {line})"));
        writeln!(
            out,
            "query{line}: {} of {} requested",
            answer.response.hits.len(),
            answer.response.requested
        )?;
    }
    if let Some(plan) = &answer.plan {
        writeln!(out, "{indent}plan:")?;
        for line in plan.lines() {
            writeln!(out, "{indent}  {line}")?;
        }
    }
    if answer.response.hits.is_empty() {
        writeln!(out, "{indent}no hits: the collection is empty")?;
        return Ok(());
    }
    let with_content = answer.response.hits.iter().any(|hit| hit.content.is_some());
    let mut columns = vec![
        Column::right("rank"),
        Column::left("external_id"),
        Column::right("distance"),
        Column::right("score"),
    ];
    if with_content {
        columns.push(Column::left("content"));
    }
    let rows: Vec<Vec<String>> = answer
        .response
        .hits
        .iter()
        .enumerate()
        .map(|(index, hit)| {
            let mut row = vec![
                (index + 1).to_string(),
                hit.external_id.clone(),
                format!("{:.4}", hit.distance),
                format!("{:.4}", hit.score),
            ];
            if with_content {
                row.push(one_line(
                    hit.content.as_deref().unwrap_or(""),
                    CONTENT_CHARS,
                ));
            }
            row
        })
        .collect();
    write_table(out, indent, &columns, &rows)?;
    if several {
        writeln!(out)?;
    }
    Ok(())
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
                Query {
                    line: Some(1),
                    vector: vec![1.0, 2.0]
                },
                Query {
                    line: Some(4),
                    vector: vec![0.5, -0.001]
                },
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
}
