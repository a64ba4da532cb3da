//! `embedstore search`: the nearest neighbours of one query vector, or of each query in a file
//! (a batch of plain vectors goes to the server in chunks sized to the statement timeout; each
//! query's answer is printed as it comes).

use std::io::Write;
use std::ops::ControlFlow;

use embedstore::MAX_K;
use embedstore::{
    FieldPath, GroupBy, IterativeScan, Mmr, SearchOptions, SearchRequest, SearchResponse, Store,
    TextOptions, VectorValue,
};
use serde::Serialize;

use crate::error::CliError;
use crate::output::{Column, Format, one_line, write_json_line, write_table};
use crate::queries::{Query, QuerySource, read_queries};

/// Characters of content shown per hit in table output.
const CONTENT_CHARS: usize = 60;

/// Arguments of `embedstore search`.
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// The collection to search (or an alias of it).
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
    /// Only rows whose metadata matches this filter, e.g. '{"lang": "de", "year": {"$gte": 2020}}'.
    #[arg(long, value_name = "JSON")]
    pub filter: Option<String>,
    /// hnsw.ef_search for these queries (raised to k when lower).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub ef_search: Option<u32>,
    /// ivfflat.probes for these queries.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=32768))]
    pub probes: Option<u32>,
    /// Iterative index scan mode (default: off without a filter, strict_order with one).
    #[arg(long, value_parser = ["off", "strict_order", "relaxed_order"])]
    pub iterative: Option<String>,
    /// hnsw.max_scan_tuples (ivfflat.max_probes) for iterative scans.
    #[arg(long)]
    pub max_scan_tuples: Option<u32>,
    /// Scan exactly, never through the ANN index.
    #[arg(long)]
    pub exact: bool,
    /// Maximal marginal relevance: pick the k hits from the --fetch-k nearest so that they are
    /// relevant and unlike each other; LAMBDA in [0, 1] weighs relevance (1: plain nearest).
    #[arg(long, value_name = "LAMBDA")]
    pub mmr: Option<f64>,
    /// Full-text query on the rows' content (web-search syntax: "a phrase", or, -not): alone
    /// without a query vector, fused with the vector search (reciprocal rank fusion) with one.
    /// A query may start with `-` (`--text -draft`).
    #[arg(long, value_name = "QUERY")]
    pub text: Option<String>,
    /// With --text and a vector: reciprocal rank fusion's constant (default 1, the library's
    /// DEFAULT_RRF_K).
    #[arg(long, requires = "text")]
    pub rrf_k: Option<u32>,
    /// With --text and a vector: weight of the vector side's reciprocal rank (default 1, the
    /// library's DEFAULT_VECTOR_WEIGHT).
    #[arg(long, requires = "text", value_name = "WEIGHT")]
    pub vector_weight: Option<f64>,
    /// With --text and a vector: weight of the text side's reciprocal rank (default 3, the
    /// library's DEFAULT_TEXT_WEIGHT).
    #[arg(long, requires = "text", value_name = "WEIGHT")]
    pub text_weight: Option<f64>,
    /// Candidates to choose from: with --mmr the nearest (default 4 × k, at most 1000), with
    /// --text and a vector each side's (default 4 × k, at most 1000).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub fetch_k: Option<u32>,
    /// Group hits by this metadata field (a dotted path, e.g. `doc.id`): the best
    /// --group-size hits of each of the k nearest groups (an exact scan of the matching rows).
    #[arg(long, value_name = "FIELD")]
    pub group_by: Option<String>,
    /// With --group-by: hits per group (default 1: the best hit of each of k groups).
    #[arg(long, requires = "group_by", value_name = "N")]
    pub group_size: Option<u32>,
    /// On a quantized index: candidates per hit re-ranked by the exact distance (default 10,
    /// the library's DEFAULT_RERANK_FACTOR).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rerank_factor: Option<u32>,
    /// With a --filter a payload index serves: fewer estimated matching rows than this scan
    /// exactly, more walk the ANN index (default: the library's `default_exact_threshold` of
    /// the collection's rows, 2,000 at 100,000 rows, growing with the collection).
    #[arg(long, value_name = "ROWS", value_parser = clap::value_parser!(u32).range(1..))]
    pub exact_threshold: Option<u32>,
    /// Drop hits farther than this distance.
    #[arg(long, value_name = "DISTANCE")]
    pub threshold: Option<f64>,
    /// Drop hits scoring below this.
    #[arg(long, value_name = "SCORE")]
    pub min_score: Option<f64>,
    /// Return ids and distances only (no metadata).
    #[arg(long)]
    pub ids_only: bool,
}

impl SearchArgs {
    /// The options every query starts from: the flags' settings, no vector yet. Which kind of
    /// search each query is (vector, text or hybrid) and whether the flags fit it is decided by
    /// the library's one parser of this form, [`SearchRequest::try_from`].
    fn template(&self) -> Result<SearchOptions, CliError> {
        let mut options = SearchOptions::new(self.k);
        options.include_content = self.content;
        options.include_metadata = !self.ids_only;
        options.exact = self.exact;
        if let Some(json) = &self.filter {
            options.filter = Some(crate::index::parse_filter(json)?);
        }
        options.ef_search = self.ef_search;
        options.probes = self.probes;
        options.iterative = self.iterative.as_deref().map(|mode| match mode {
            "off" => IterativeScan::Off,
            "strict_order" => IterativeScan::StrictOrder,
            _ => IterativeScan::RelaxedOrder,
        });
        options.max_scan_tuples = self.max_scan_tuples;
        options.exact_threshold = self.exact_threshold;
        options.rerank_factor = self.rerank_factor;
        if let Some(field) = &self.group_by {
            let path = FieldPath::parse(field)
                .map_err(|error| CliError::refused(format!("--group-by: {error}")))?;
            options.group_by = Some(GroupBy::new(&path, self.group_size.unwrap_or(1)));
        }
        if let Some(text) = &self.text {
            let mut query = TextOptions::query(text.clone());
            query.fetch_k = self.fetch_k.filter(|_| self.mmr.is_none());
            query.rrf_k = self.rrf_k;
            if self.vector_weight.is_some() || self.text_weight.is_some() {
                query.vector_weight = Some(
                    self.vector_weight
                        .unwrap_or(embedstore::DEFAULT_VECTOR_WEIGHT),
                );
                query.text_weight =
                    Some(self.text_weight.unwrap_or(embedstore::DEFAULT_TEXT_WEIGHT));
            }
            options.text = Some(query);
        } else if self.fetch_k.is_some() && self.mmr.is_none() {
            return Err(CliError::refused("--fetch-k needs --mmr or --text"));
        }
        if let Some(lambda) = self.mmr {
            let fetch_k = self
                .fetch_k
                .unwrap_or_else(|| self.k.saturating_mul(4).min(MAX_K));
            options.mmr = Some(Mmr::new(lambda, fetch_k));
        }
        options.max_distance = self.threshold;
        options.min_score = self.min_score;
        Ok(options)
    }
}

/// Whether a problem at `path` is about the query vector itself (`vector`, `vector[3]`,
/// `vector.indices[0]`) rather than an option.
fn about_the_vector(path: &str) -> bool {
    path.strip_prefix("vector")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['[', '.']))
}

/// The flag a field of [`SearchOptions`] comes from, for messages about a query's options
/// (`ef_search` → `--ef-search`); a path into a value (`vector[3]`, `group_by.field`) stays.
fn flag_of(path: &str) -> String {
    let flag = match path {
        "max_distance" => "--threshold",
        "include_metadata" => "--ids-only",
        "text.fetch_k" | "mmr.fetch_k" => "--fetch-k",
        "text.rrf_k" => "--rrf-k",
        "text.vector_weight" => "--vector-weight",
        "text.text_weight" => "--text-weight",
        field
            if field
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte == b'_') =>
        {
            return format!("--{}", field.replace('_', "-"));
        }
        other => other,
    };
    flag.to_owned()
}

/// Runs `embedstore search`.
///
/// # Errors
/// Unparsable vectors (by line), vectors that do not fit the collection (all of them, by
/// query), an unknown collection, or a failed query.
pub fn run(store: &Store, args: &SearchArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let template = args.template()?;
    let queries = if args.queries.is_empty() {
        if args.text.is_none() {
            return Err(CliError::refused(
                "give a query: --vector, --vector-file, --queries or --text",
            ));
        }
        vec![Query::plain(None, VectorValue::default())]
    } else {
        read_queries(&args.queries)?
    };
    let collection = store.read(|uow| uow.collections().get(&args.collection))?;
    // Every query is parsed and checked before any runs, so one run reports every bad query.
    let mut requests = Vec::with_capacity(queries.len());
    let mut problems = Vec::new();
    let (mut vectors_misfit, mut options_invalid) = (false, false);
    for query in &queries {
        let checked = SearchRequest::try_from(query.options(&template)).and_then(|request| {
            request.validate_against(&collection)?;
            Ok(request)
        });
        match checked {
            Ok(request) => requests.push(request),
            Err(invalid) => problems.extend(invalid.failures().map(|(path, message)| {
                if about_the_vector(path) {
                    vectors_misfit = true;
                } else {
                    options_invalid = true;
                }
                format!("{}{}: {message}", query.label(), flag_of(path))
            })),
        }
    }
    if !problems.is_empty() {
        let misfit = || {
            format!(
                "queries do not fit collection {:?} ({} dimensions, {})",
                collection.name, collection.dimension, collection.metric
            )
        };
        // The summary names what the problems are about: a bad flag (combination) is not a
        // query that does not fit the collection.
        let summary = match (vectors_misfit, options_invalid) {
            (true, false) => misfit(),
            (false, _) => "invalid search options".to_owned(),
            (true, true) => format!("invalid search options, and {}", misfit()),
        };
        return Err(CliError::Problems { summary, problems });
    }
    let uniform = queries
        .iter()
        .all(|query| query.k.is_none() && query.filter.is_none());
    // Each query's answer is printed as soon as it comes: a batch that fails part-way has
    // printed what it answered before the error.
    let several = queries.len() > 1;
    let mut print = |index: usize, response: SearchResponse| -> Result<(), CliError> {
        let (query, request) = (&queries[index], &requests[index]);
        let plan = if args.explain {
            Some(store.read(|uow| uow.explain_search(&collection, request))?)
        } else {
            None
        };
        let answer = Answer {
            id: query.id.clone(),
            response,
            plan,
        };
        match args.format {
            Format::Json => write_json_line(out, &answer)?,
            Format::Table => write_answer(out, query, &answer, several)?,
        }
        out.flush()?;
        Ok(())
    };
    if uniform && several {
        let vectors: Vec<VectorValue> = queries.iter().map(|query| query.vector.clone()).collect();
        let mut printed = Ok(());
        store.search_batch_each(&collection, &vectors, &requests[0], |index, response| {
            printed = print(index, response);
            if printed.is_ok() {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        })?;
        printed
    } else {
        for (index, request) in requests.iter().enumerate() {
            print(index, store.search(&collection, request)?)?;
        }
        Ok(())
    }
}

/// A search's result as printed: the response and, with `--explain`, the plan.
#[derive(Debug, Serialize)]
struct Answer {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(flatten)]
    response: SearchResponse,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<String>,
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
        let label = answer
            .id
            .as_deref()
            .map_or_else(String::new, |id| format!(" {id:?}"));
        writeln!(
            out,
            "query{label}{line}: {}, {}",
            counts(&answer.response),
            path_text(&answer.response)
        )?;
    } else {
        writeln!(
            out,
            "{}, {}",
            counts(&answer.response),
            path_text(&answer.response)
        )?;
    }
    if !answer.response.settings.is_empty() {
        let settings: Vec<String> = answer
            .response
            .settings
            .iter()
            .map(|setting| format!("{}={}", setting.name, setting.value))
            .collect();
        writeln!(out, "{indent}settings: {}", settings.join(", "))?;
    }
    for ignored in &answer.response.ignored {
        writeln!(
            out,
            "{indent}ignored: {} ({})",
            ignored.option, ignored.reason
        )?;
    }
    for advice in &answer.response.advice {
        writeln!(out, "{indent}advice: {advice}")?;
    }
    if let Some(plan) = &answer.plan {
        writeln!(out, "{indent}plan:")?;
        for line in plan.lines() {
            writeln!(out, "{indent}  {line}")?;
        }
    }
    if answer.response.hits.is_empty() {
        writeln!(out, "{indent}no hits: no row matches")?;
        return Ok(());
    }
    let with_content = answer.response.hits.iter().any(|hit| hit.content.is_some());
    let grouped = answer.response.groups.is_some();
    let ranked = matches!(
        answer.response.path,
        embedstore::SearchPath::Text | embedstore::SearchPath::Hybrid
    );
    let mut columns = vec![Column::right("rank")];
    if grouped {
        columns.push(Column::left("group"));
    }
    columns.extend([
        Column::left("external_id"),
        Column::right("distance"),
        Column::right("score"),
    ]);
    if ranked {
        columns.extend([
            Column::right("vector rank"),
            Column::right("text rank"),
            Column::right("fused"),
        ]);
    }
    if with_content {
        columns.push(Column::left("content"));
    }
    let rows: Vec<Vec<String>> = answer
        .response
        .hits
        .iter()
        .enumerate()
        .map(|(index, hit)| {
            let mut row = vec![(index + 1).to_string()];
            if grouped {
                row.push(one_line(
                    &hit.group
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    CONTENT_CHARS,
                ));
            }
            row.extend([
                hit.external_id.clone(),
                if hit.distance_not_finite {
                    "not finite".to_owned()
                } else {
                    format!("{:.4}", hit.distance)
                },
                format!("{:.4}", hit.score),
            ]);
            if ranked {
                let rank =
                    |rank: Option<u32>| rank.map_or_else(|| "-".to_owned(), |r| r.to_string());
                row.extend([
                    rank(hit.vector_rank),
                    rank(hit.text_rank),
                    hit.fused_score
                        .map_or_else(|| "-".to_owned(), |score| format!("{score:.5}")),
                ]);
            }
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

/// `3 of 10 requested`; on a grouped search, where `k` counts groups, `5 of 5 groups
/// requested, 10 hits`.
fn counts(response: &SearchResponse) -> String {
    match response.groups {
        Some(groups) => format!(
            "{groups} of {} groups requested, {} hits",
            response.requested, response.returned
        ),
        None => format!("{} of {} requested", response.returned, response.requested),
    }
}

/// `approximate (ANN index)`, `exact (exact scan of ~42 matching rows; exact threshold
/// 1000)`, `approximate (ANN index; ~9000 matching rows, exact threshold 2000)`, …
fn path_text(response: &SearchResponse) -> String {
    let matched = response
        .estimated_matches
        .map_or_else(String::new, |rows| format!(" of ~{rows} matching rows"));
    let threshold = response
        .exact_threshold
        .map_or_else(String::new, |rows| format!("; exact threshold {rows}"));
    let walked = match (response.estimated_matches, response.exact_threshold) {
        (Some(rows), Some(threshold)) => {
            format!("; ~{rows} matching rows, exact threshold {threshold}")
        }
        _ => String::new(),
    };
    match response.path {
        embedstore::SearchPath::Ann => match response.reranked {
            Some(candidates) => format!(
                "approximate (quantized ANN index; {candidates} candidates re-ranked, distances exact{walked})"
            ),
            None => format!("approximate (ANN index{walked})"),
        },
        embedstore::SearchPath::Exact if response.groups.is_some() => {
            "exact (exact scan, grouped)".to_owned()
        }
        embedstore::SearchPath::Exact => format!("exact (exact scan{matched}{threshold})"),
        embedstore::SearchPath::Text => "full text (ranked by ts_rank_cd)".to_owned(),
        embedstore::SearchPath::Hybrid => format!(
            "hybrid (reciprocal rank fusion; vector side {})",
            if response.exact {
                "exact"
            } else {
                "approximate"
            }
        ),
        embedstore::SearchPath::AnnThenExact => {
            "exact (the ANN index came back short under the filter; exact scan)".to_owned()
        }
        _ => format!("{:?}", response.path),
    }
}
