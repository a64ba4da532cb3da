//! `embedstore insert`: JSONL records into a collection, all of them in one transaction.
//!
//! The input is streamed: read in chunks of `--batch-size` records, each chunk parsed,
//! validated (by the library) and written inside the one transaction, so memory holds one
//! chunk (plus, for plain inserts, the ids seen so far, to catch repeats across chunks). Every
//! bad line is reported in that single pass: once a problem is found, the remaining chunks are
//! still checked but no longer written, and the transaction is rolled back at the end, so a
//! refused input leaves the collection as it was. This works for stdin too (no second read).
//! Unknown fields are refused by name; NaN/Infinity tokens and other JSON errors name the
//! line and the field (e.g. `line 3: vector[1]: NaN is not valid JSON …`).
//!
//! In upsert mode an `external_id` repeated inside one chunk keeps its last occurrence (the
//! earlier ones are counted as dropped); repeated across chunks, the later chunk updates the
//! row the earlier one wrote, with the same end state.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::time::Instant;

use embedstore::{
    Collection, Duplicates, EmbeddingBatch, JsonlSource, NewEmbedding, RowSource, Store,
    UnitOfWork, WriteSummary,
};

use crate::error::CliError;
use crate::output::{duration, per_second, plural, thousands};

/// Arguments of `embedstore insert`.
#[derive(Debug, clap::Args)]
pub struct InsertArgs {
    /// The collection to write to.
    pub collection: String,
    /// JSONL file, one record per line: {"external_id": "…", "vector": […], "content": "…",
    /// "metadata": {…}}; `-` or nothing reads stdin.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Update records whose external_id exists instead of failing (a repeated external_id
    /// in the input: the last one wins).
    #[arg(long)]
    pub upsert: bool,
    /// Records per write statement; all of them still commit in one transaction.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub batch_size: u32,
}

/// Runs `embedstore insert`.
///
/// # Errors
/// Unreadable input, bad lines (all of them, by line number), an unknown collection, or a
/// failed write; nothing is written in any of these cases.
pub fn run(store: &Store, args: &InsertArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let started = Instant::now();
    // A file can be read again: a retryable failure (lost connection, serialization failure)
    // runs the whole transaction again. Stdin cannot, so it gets one attempt.
    let rereadable = args
        .file
        .as_ref()
        .is_some_and(|path| path.as_os_str() != "-");
    let policy = embedstore::RetryPolicy {
        max_attempts: if rereadable { 5 } else { 1 },
        ..embedstore::RetryPolicy::default()
    };
    let mut source = String::new();
    let summary = policy.run(
        |attempt| {
            if attempt > 1 {
                eprintln!("retrying (attempt {attempt}) after a retryable failure");
            }
            let (name, input) = open_input(args.file.as_ref())?;
            source = name;
            insert_all(store, args, &source, input)
        },
        |error| matches!(error, CliError::Store(error) if error.is_retryable()),
    )?;
    report(out, args, &source, summary, started)
}

/// One attempt: the whole input in one transaction.
fn insert_all(
    store: &Store,
    args: &InsertArgs,
    source: &str,
    input: Box<dyn BufRead + Send>,
) -> Result<WriteSummary, CliError> {
    // The unit of work runs once (no retries inside it), so the input moves into it once.
    let mut input = Some(input);
    let mode = if args.upsert {
        Duplicates::LastWins
    } else {
        Duplicates::Reject
    };
    let batch_size = usize::try_from(args.batch_size).unwrap_or(usize::MAX);
    store.write(|uow| -> Result<WriteSummary, CliError> {
        let collection = uow.collections().get(&args.collection)?;
        let mut pass = Pass::new(mode);
        let mut records = JsonlSource::from_reader(input.take().unwrap_or_else(empty), source);
        loop {
            let mut chunk = Parsed::default();
            let more = read_chunk(&mut records, batch_size, &mut chunk)?;
            pass.chunk(uow, &collection, chunk)?;
            if !more {
                break;
            }
        }
        pass.finish(source)
    })
}

fn report(
    out: &mut dyn Write,
    args: &InsertArgs,
    source: &str,
    summary: WriteSummary,
    started: Instant,
) -> Result<(), CliError> {
    let elapsed = started.elapsed();
    if summary.received == 0 {
        writeln!(out, "no records in {source}; nothing was written")?;
        return Ok(());
    }
    let written = summary.inserted + summary.updated + summary.unchanged;
    writeln!(
        out,
        "{} {} into {:?} from {source} in one transaction, {} ({} rows/s)",
        if args.upsert { "upserted" } else { "inserted" },
        plural(written, "row", "rows"),
        args.collection,
        duration(elapsed),
        per_second(written, elapsed),
    )?;
    writeln!(
        out,
        "  received {}, inserted {}, updated {}, unchanged {}, duplicates dropped {}",
        thousands(summary.received as u64),
        thousands(summary.inserted),
        thousands(summary.updated),
        thousands(summary.unchanged),
        thousands(summary.duplicates_dropped as u64),
    )?;
    Ok(())
}

/// One streaming pass over the input inside the transaction: chunks are checked and, while
/// no problem has been found, written.
struct Pass {
    mode: Duplicates,
    problems: Vec<LineProblem>,
    /// Plain inserts: every `external_id` so far and its line, to refuse repeats across chunks.
    seen: HashMap<String, usize>,
    total: WriteSummary,
}

impl Pass {
    fn new(mode: Duplicates) -> Self {
        Self {
            mode,
            problems: Vec::new(),
            seen: HashMap::new(),
            total: WriteSummary::default(),
        }
    }

    fn chunk(
        &mut self,
        uow: &mut UnitOfWork<'_>,
        collection: &Collection,
        chunk: Parsed,
    ) -> Result<(), CliError> {
        let Parsed {
            items,
            lines,
            problems,
        } = chunk;
        self.total.received += items.len();
        self.problems.extend(problems);
        if items.is_empty() {
            return Ok(());
        }
        let (items, invalid) = validate(collection, items, self.mode, &lines);
        self.problems.extend(invalid);
        if self.mode == Duplicates::Reject {
            for (item, line) in items.iter().zip(&lines) {
                if let Some(first) = self.seen.get(&item.external_id) {
                    self.problems.push(LineProblem {
                        line: *line,
                        message: format!("external_id: repeats the external_id of line {first}"),
                    });
                }
            }
            for (item, line) in items.iter().zip(&lines) {
                self.seen.entry(item.external_id.clone()).or_insert(*line);
            }
            let taken = taken_ids(uow, collection, &items, &lines)?;
            self.problems.extend(taken);
        }
        if !self.problems.is_empty() {
            // Keep checking the rest of the input, but write nothing more: it all rolls back.
            return Ok(());
        }
        let summary = match self.mode {
            Duplicates::LastWins => uow.embeddings().upsert(collection, items)?,
            Duplicates::Reject => uow.embeddings().insert(collection, items)?,
        };
        self.total.inserted += summary.inserted;
        self.total.updated += summary.updated;
        self.total.unchanged += summary.unchanged;
        self.total.duplicates_dropped += summary.duplicates_dropped;
        Ok(())
    }

    /// The summary, or every problem (which rolls the transaction back).
    fn finish(mut self, source: &str) -> Result<WriteSummary, CliError> {
        if self.problems.is_empty() {
            return Ok(self.total);
        }
        self.problems.sort_by_key(|problem| problem.line);
        Err(CliError::Problems {
            summary: format!(
                "{} in {source}; nothing was written",
                plural(count_lines(&self.problems), "bad line", "bad lines")
            ),
            problems: self.problems.iter().map(ToString::to_string).collect(),
        })
    }
}

/// A problem with one input line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    /// The line, counted from 1 (blank lines included).
    pub line: usize,
    /// What is wrong, e.g. `vector[3]: value is NaN`.
    pub message: String,
}

impl std::fmt::Display for LineProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// The records of a JSONL input and the lines they came from.
#[derive(Debug, Default)]
pub struct Parsed {
    /// The records that parsed, in input order.
    pub items: Vec<NewEmbedding>,
    /// `lines[i]` is the line `items[i]` came from.
    pub lines: Vec<usize>,
    /// Lines that did not parse.
    pub problems: Vec<LineProblem>,
}

/// Parses JSONL from bytes, as `insert` reads its input (tests).
#[cfg(test)]
pub fn parse_jsonl(bytes: &[u8]) -> Parsed {
    let mut source = JsonlSource::from_reader(std::io::Cursor::new(bytes.to_vec()), "test");
    let mut parsed = Parsed::default();
    while read_chunk(&mut source, usize::MAX, &mut parsed).unwrap_or(false) {}
    parsed
}

/// Reads up to `max` records from `source` into `parsed` with the library's JSONL reader
/// (unknown fields refused by name, JSON errors at their line and field, a byte-order mark
/// skipped); false at the end of the input.
fn read_chunk(source: &mut JsonlSource, max: usize, parsed: &mut Parsed) -> Result<bool, CliError> {
    let mut rows = Vec::new();
    source
        .next_rows(max.min(1 << 16), &mut rows)
        .map_err(|error| CliError::Problems {
            summary: error.to_string(),
            problems: Vec::new(),
        })?;
    let more = !rows.is_empty();
    for row in rows {
        let line = row
            .line
            .map_or(0, |line| usize::try_from(line).unwrap_or(usize::MAX));
        match row.outcome {
            Ok(item) => {
                parsed.items.push(item);
                parsed.lines.push(line);
            }
            Err(problems) => parsed
                .problems
                .extend(problems.into_iter().map(|(field, reason)| LineProblem {
                    line,
                    message: if field.is_empty() {
                        reason
                    } else {
                        format!("{field}: {reason}")
                    },
                })),
        }
    }
    Ok(more)
}

/// Validates all `items` as one batch against `collection`; returns the items unchanged and
/// each failure at the line of its record.
pub fn validate(
    collection: &Collection,
    items: Vec<NewEmbedding>,
    duplicates: Duplicates,
    lines: &[usize],
) -> (Vec<NewEmbedding>, Vec<LineProblem>) {
    let batch = EmbeddingBatch { items, duplicates };
    let problems = match batch.validate_against(collection) {
        Ok(()) => Vec::new(),
        Err(invalid) => invalid
            .failures()
            .map(|(path, message)| at_line(path, message, lines, 0))
            .collect(),
    };
    (batch.items, problems)
}

/// Moves a batch failure to its input line: the `items[i]` prefix of `path` (relative to a
/// chunk starting at item `offset`) becomes the line of item `offset + i`, and `items[j]`
/// references inside the message are rewritten the same way.
pub fn at_line(path: &str, message: &str, lines: &[usize], offset: usize) -> LineProblem {
    let message = rewrite_item_references(message, lines, offset);
    match split_item_path(path).and_then(|(index, rest)| Some((lines.get(offset + index)?, rest))) {
        Some((line, "")) => LineProblem {
            line: *line,
            message,
        },
        Some((line, rest)) => LineProblem {
            line: *line,
            message: format!("{rest}: {message}"),
        },
        // Not about one item: report it without a line rather than lose it.
        None => LineProblem {
            line: 0,
            message: if path.is_empty() {
                message
            } else {
                format!("{path}: {message}")
            },
        },
    }
}

/// Opens the input named on the command line (stdin for `-` or none); returns a name for
/// messages and a buffered reader.
fn open_input(file: Option<&PathBuf>) -> Result<(String, Box<dyn BufRead + Send>), CliError> {
    match file {
        Some(path) if path.as_os_str() != "-" => {
            let name = path.display().to_string();
            let reader = std::fs::File::open(path)
                .map_err(|error| CliError::io(format!("cannot open {name}"), error))?;
            Ok((name, Box::new(BufReader::with_capacity(1 << 20, reader))))
        }
        _ => Ok((
            "stdin".to_owned(),
            Box::new(BufReader::new(std::io::stdin())),
        )),
    }
}

/// The records whose `external_id` the collection already holds, at their lines.
fn taken_ids(
    uow: &mut UnitOfWork<'_>,
    collection: &Collection,
    items: &[NewEmbedding],
    lines: &[usize],
) -> Result<Vec<LineProblem>, CliError> {
    let ids: Vec<&str> = items.iter().map(|item| item.external_id.as_str()).collect();
    let taken: HashSet<String> = uow
        .embeddings()
        .existing(collection, &ids)?
        .into_iter()
        .collect();
    Ok(items
        .iter()
        .zip(lines)
        .filter(|(item, _)| taken.contains(&item.external_id))
        .map(|(item, line)| LineProblem {
            line: *line,
            message: format!("external_id {:?} already exists", item.external_id),
        })
        .collect())
}

/// Distinct lines among `problems`.
fn count_lines(problems: &[LineProblem]) -> u64 {
    let mut lines: Vec<usize> = problems.iter().map(|problem| problem.line).collect();
    lines.dedup();
    lines.len() as u64
}

/// `items[17].vector[3]` → `(17, "vector[3]")`; `items[2]` → `(2, "")`.
fn split_item_path(path: &str) -> Option<(usize, &str)> {
    let rest = path.strip_prefix("items[")?;
    let close = rest.find(']')?;
    let index = rest[..close].parse().ok()?;
    let rest = &rest[close + 1..];
    Some((index, rest.strip_prefix('.').unwrap_or(rest)))
}

/// `repeats items[0].external_id` → `repeats the external_id of line 1`.
fn rewrite_item_references(message: &str, lines: &[usize], offset: usize) -> String {
    let Some(at) = message.find("items[") else {
        return message.to_owned();
    };
    let reference_end = message[at..]
        .find(char::is_whitespace)
        .map_or(message.len(), |end| at + end);
    let reference = &message[at..reference_end];
    let Some((index, field)) = split_item_path(reference) else {
        return message.to_owned();
    };
    let Some(line) = lines.get(offset + index) else {
        return message.to_owned();
    };
    let replacement = if field.is_empty() {
        format!("line {line}")
    } else {
        format!("the {field} of line {line}")
    };
    format!(
        "{}{replacement}{}",
        &message[..at],
        rewrite_item_references(&message[reference_end..], lines, offset)
    )
}

/// An input with nothing in it (never read: the unit of work takes its input once).
fn empty() -> Box<dyn BufRead + Send> {
    Box::new(std::io::empty())
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use embedstore::{CollectionId, Metric};

    use super::*;

    fn collection(dimension: i32) -> Collection {
        Collection {
            id: CollectionId(1),
            name: "docs".to_owned(),
            dimension,
            metric: Metric::Cosine,
            model: "m".to_owned(),
            description: serde_json::json!({}),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn check(jsonl: &str, duplicates: Duplicates) -> Vec<String> {
        let parsed = parse_jsonl(jsonl.as_bytes());
        let mut problems = parsed.problems;
        let (_, invalid) = validate(&collection(3), parsed.items, duplicates, &parsed.lines);
        problems.extend(invalid);
        problems.sort_by_key(|problem| problem.line);
        problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn item_paths_become_line_numbers() {
        let lines = [1, 2, 18, 40];
        assert_eq!(
            at_line("items[2].vector[3]", "value is NaN", &lines, 0).to_string(),
            "line 18: vector[3]: value is NaN"
        );
        assert_eq!(
            at_line("items[1].vector[3]", "value is NaN", &lines, 2).to_string(),
            "line 40: vector[3]: value is NaN"
        );
        assert_eq!(
            at_line("items[0]", "bad", &lines, 0).to_string(),
            "line 1: bad"
        );
        assert_eq!(
            at_line(
                "items[3].external_id",
                "repeats items[1].external_id",
                &lines,
                0
            )
            .to_string(),
            "line 40: external_id: repeats the external_id of line 2"
        );
        assert_eq!(
            at_line("k", "too big", &lines, 0).to_string(),
            "line 0: k: too big"
        );
    }

    #[test]
    fn bad_lines_anywhere_are_all_reported_with_their_numbers() {
        let jsonl = "{\"id\": \"a\", \"vector\": [1, 2, 3]}\n\
                     \n\
                     {\"id\": \"b\", \"vector\": [1, NaN, 3]}\n\
                     {\"id\": \"c\", \"vector\": [1, 1e39, 3]}\r\n\
                     {\"id\": \"d\", \"vector\": [1, 2, 3], \"metadata\": [1]}\n\
                     {\"id\": \"e\", \"vector\": [1, 2, 3]}\n\
                     {\"id\": \"f\", \"vector\": [1, 2]}\n\
                     {\"id\": \"a\", \"vector\": [3, 2, 1]}\n";
        assert_eq!(
            check(jsonl, Duplicates::Reject),
            [
                "line 3: vector[1]: NaN is not valid JSON (the vector must hold finite numbers)",
                "line 4: vector[1]: value is infinite",
                "line 5: metadata: must be a JSON object, got an array",
                "line 7: vector: expected 3 values, got 2",
                "line 8: external_id: repeats the external_id of line 1",
            ]
        );
        assert_eq!(
            check(jsonl, Duplicates::LastWins).len(),
            4,
            "upserts allow repeats"
        );
    }

    #[test]
    fn a_byte_order_mark_on_the_first_line_is_skipped() {
        let parsed = parse_jsonl(b"\xEF\xBB\xBF{\"id\": \"x\", \"vector\": [1]}\n");
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        assert_eq!(parsed.items[0].external_id, "x");
    }

    #[test]
    fn blank_lines_count_but_produce_no_records() {
        let parsed = parse_jsonl(b"\n  \n{\"id\": \"x\", \"vector\": [1]}\n\n");
        assert_eq!(parsed.lines, [3]);
        assert!(parsed.problems.is_empty());
        assert!(parse_jsonl(b"").items.is_empty());
    }

    #[test]
    fn unknown_fields_and_non_objects_are_refused_naming_line_and_field() {
        let jsonl = "{\"id\": \"a\", \"vector\": [1, 2, 3], \"metdata\": {\"lang\": \"en\"}}\n\
                     [\"b\", [1, 2, 3]]\n\
                     {\"id\": \"c\", \"vector\": [1, -Infinity, 3]}\n";
        let problems = check(jsonl, Duplicates::LastWins);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].starts_with("line 1: metdata: unknown field `metdata`"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("line 2: a record must be a JSON object"),
            "{problems:?}"
        );
        assert!(
            problems[2].starts_with("line 3: vector[1]: Infinity is not valid JSON"),
            "{problems:?}"
        );
    }
}
