//! `embedstore insert`: JSONL records into a collection, all of them in one transaction.
//!
//! The records are written in chunks of `--batch-size` inside one transaction, each record
//! parsed, validated (by the library) and written once: a failure anywhere leaves the
//! collection as it was. Only when the input is refused is it examined again as a whole, so that
//! every bad line is reported with its number, not just the first the write stumbled on.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use embedstore::{
    Collection, CollectionRules, Duplicates, EmbeddingBatch, NewEmbedding, Store, UnitOfWork,
    WriteSummary,
};
use garde::Validate;

use crate::error::{CliError, json_problem};
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
    let (source, bytes) = read_input(args.file.as_ref())?;
    let mode = if args.upsert {
        Duplicates::LastWins
    } else {
        Duplicates::Reject
    };
    let parsed = parse_jsonl(&bytes);
    if !parsed.problems.is_empty() {
        return Err(diagnose(store, &args.collection, &source, parsed, mode)?
            .unwrap_or_else(|| CliError::refused(format!("{source} has unparsable lines"))));
    }
    let batch_size = usize::try_from(args.batch_size).unwrap_or(usize::MAX);
    let started = Instant::now();
    let written = store.write(|uow| -> Result<WriteSummary, CliError> {
        let collection = uow.collections().get(&args.collection)?;
        write(
            uow,
            &collection,
            parsed.items,
            parsed.lines,
            mode,
            batch_size,
        )
    });
    let summary = match written {
        Ok(summary) => summary,
        Err(CliError::Store(
            error @ (embedstore::Error::Validation(_) | embedstore::Error::Conflict { .. }),
        )) => {
            // Nothing was written; read the input again to name every bad line. Should the
            // cause be gone by now (a concurrent writer rolled back), report it as it was.
            let diagnosis = diagnose(store, &args.collection, &source, parse_jsonl(&bytes), mode)?;
            return Err(diagnosis.unwrap_or(CliError::Store(error)));
        }
        Err(error) => return Err(error),
    };
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

/// Parses JSONL: one [`NewEmbedding`] per non-blank line; a `\r` before each `\n` is ignored.
pub fn parse_jsonl(bytes: &[u8]) -> Parsed {
    let mut parsed = Parsed::default();
    for (index, raw) in bytes.split(|byte| *byte == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<NewEmbedding>(line) {
            Ok(item) => {
                parsed.items.push(item);
                parsed.lines.push(index + 1);
            }
            Err(error) => parsed.problems.push(LineProblem {
                line: index + 1,
                message: json_problem(&error),
            }),
        }
    }
    parsed
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
    let problems = match batch.validate_with(&CollectionRules::of(collection)) {
        Ok(()) => Vec::new(),
        Err(report) => report
            .iter()
            .map(|(path, error)| at_line(&path.to_string(), error.message(), lines, 0))
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

/// Reads the input named on the command line; returns a name for messages and the bytes.
fn read_input(file: Option<&PathBuf>) -> Result<(String, Vec<u8>), CliError> {
    let mut bytes = Vec::new();
    match file {
        Some(path) if path.as_os_str() != "-" => {
            let name = path.display().to_string();
            let mut reader = std::fs::File::open(path)
                .map_err(|error| CliError::io(format!("cannot open {name}"), error))?;
            reader
                .read_to_end(&mut bytes)
                .map_err(|error| CliError::io(format!("cannot read {name}"), error))?;
            Ok((name, bytes))
        }
        _ => {
            std::io::stdin()
                .lock()
                .read_to_end(&mut bytes)
                .map_err(|error| CliError::io("cannot read stdin", error))?;
            Ok(("stdin".to_owned(), bytes))
        }
    }
}

/// Writes the records in chunks (the library validates each) and adds up their summaries.
fn write(
    uow: &mut UnitOfWork<'_>,
    collection: &Collection,
    items: Vec<NewEmbedding>,
    lines: Vec<usize>,
    mode: Duplicates,
    batch_size: usize,
) -> Result<WriteSummary, CliError> {
    let received = items.len();
    let items = match mode {
        // Resolved over the whole input, not per chunk, so that the input means what it
        // would mean as one batch.
        Duplicates::LastWins => last_occurrences(items, lines).0,
        Duplicates::Reject => items,
    };
    let mut total = WriteSummary {
        received,
        duplicates_dropped: received - items.len(),
        ..WriteSummary::default()
    };
    let mut remaining = items.into_iter();
    loop {
        let chunk: Vec<NewEmbedding> = remaining.by_ref().take(batch_size).collect();
        if chunk.is_empty() {
            break;
        }
        let summary = match mode {
            Duplicates::LastWins => uow.embeddings().upsert(collection, chunk)?,
            Duplicates::Reject => uow.embeddings().insert(collection, chunk)?,
        };
        total.inserted += summary.inserted;
        total.updated += summary.updated;
        total.unchanged += summary.unchanged;
    }
    Ok(total)
}

/// Every bad line of a refused input: unparsable lines, records that fail validation as one
/// batch and, for plain inserts, records whose `external_id` the collection already holds.
/// `None` when nothing is wrong with the input (any more).
fn diagnose(
    store: &Store,
    collection: &str,
    source: &str,
    parsed: Parsed,
    mode: Duplicates,
) -> Result<Option<CliError>, CliError> {
    let Parsed {
        items,
        lines,
        mut problems,
    } = parsed;
    store.read(|uow| {
        let collection = uow.collections().get(collection)?;
        let (items, invalid) = validate(&collection, items, mode, &lines);
        problems.extend(invalid);
        if !problems.is_empty() {
            problems.sort_by_key(|problem| problem.line);
            return Ok(Some(CliError::Problems {
                summary: format!(
                    "{} in {source}; nothing was written",
                    plural(count_lines(&problems), "bad line", "bad lines")
                ),
                problems: problems.iter().map(ToString::to_string).collect(),
            }));
        }
        if mode == Duplicates::LastWins {
            return Ok(None);
        }
        let taken = taken_ids(uow, &collection, &items, &lines)?;
        if taken.is_empty() {
            return Ok(None);
        }
        Ok(Some(CliError::Problems {
            summary: format!(
                "{} already in collection {:?}; nothing was written (--upsert updates them)",
                plural(taken.len() as u64, "external_id is", "external_ids are"),
                collection.name
            ),
            problems: taken.iter().map(ToString::to_string).collect(),
        }))
    })
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

/// The records with each repeated `external_id` kept only at its last occurrence.
fn last_occurrences(
    items: Vec<NewEmbedding>,
    lines: Vec<usize>,
) -> (Vec<NewEmbedding>, Vec<usize>) {
    let mut last: HashMap<String, usize> = HashMap::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        last.insert(item.external_id.clone(), index);
    }
    if last.len() == items.len() {
        return (items, lines);
    }
    items
        .into_iter()
        .zip(lines)
        .enumerate()
        .filter(|(index, (item, _))| last.get(&item.external_id) == Some(index))
        .map(|(_, pair)| pair)
        .unzip()
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
                "line 3: expected value (column 27)",
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
    fn blank_lines_count_but_produce_no_records() {
        let parsed = parse_jsonl(b"\n  \n{\"id\": \"x\", \"vector\": [1]}\n\n");
        assert_eq!(parsed.lines, [3]);
        assert!(parsed.problems.is_empty());
        assert!(parse_jsonl(b"").items.is_empty());
    }

    #[test]
    fn upserts_keep_the_last_occurrence_with_its_line() {
        let items = ["a", "b", "a", "c", "b"]
            .map(|id| NewEmbedding::new(id, vec![1.0]))
            .to_vec();
        let (kept, lines) = last_occurrences(items, vec![1, 2, 3, 4, 5]);
        let ids: Vec<&str> = kept.iter().map(|item| item.external_id.as_str()).collect();
        assert_eq!(ids, ["a", "c", "b"]);
        assert_eq!(lines, [3, 4, 5]);
    }
}
