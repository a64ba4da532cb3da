//! The CLI's error: what went wrong, printed as `error: …` on stderr with one line per problem.
//!
//! Nothing here formats a database URL: library errors name only `host:port/database`.

use std::fmt;
use std::io::{self, Write};

/// Most problem lines printed under one error; the rest are counted.
const MAX_PRINTED_PROBLEMS: usize = 50;

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// The library refused or failed.
    Store(embedstore::Error),
    /// Input the CLI refused, one problem per entry (e.g. `line 3: vector[1]: value is NaN`).
    Problems {
        /// The headline, e.g. `2 bad lines in data.jsonl; nothing was written`.
        summary: String,
        /// One entry per problem.
        problems: Vec<String>,
    },
    /// A request the CLI declined, e.g. dropping a collection without `--yes`.
    Refused(String),
    /// Reading input or writing output failed.
    Io {
        /// What was being done, e.g. `cannot read data.jsonl`.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
}

impl CliError {
    /// A refusal with this message.
    pub fn refused(message: impl Into<String>) -> Self {
        CliError::Refused(message.into())
    }

    /// An I/O failure while doing `context`.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        CliError::Io {
            context: context.into(),
            source,
        }
    }

    /// True when stdout was closed by its reader (`… | head`): not worth reporting.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }

    /// Writes the error as people should see it: `error: <message>` and then one indented
    /// line per problem (validation failures included).
    ///
    /// # Errors
    /// When writing to `err` fails.
    pub fn report(&self, err: &mut dyn Write) -> io::Result<()> {
        // libpq ends some messages with a newline of its own.
        writeln!(err, "error: {}", self.to_string().trim_end())?;
        let problems: Vec<String> = match self {
            CliError::Problems { problems, .. } => problems.clone(),
            CliError::Store(embedstore::Error::Validation(validation)) => {
                validation.lines().collect()
            }
            _ => Vec::new(),
        };
        for problem in problems.iter().take(MAX_PRINTED_PROBLEMS) {
            writeln!(err, "  {problem}")?;
        }
        if problems.len() > MAX_PRINTED_PROBLEMS {
            writeln!(
                err,
                "  … and {} more",
                problems.len() - MAX_PRINTED_PROBLEMS
            )?;
        }
        Ok(())
    }
}

/// serde_json's message for one line of JSON, without its position: the line is always 1
/// there, so only the column is worth keeping, e.g. `expected value (column 27)`.
pub fn json_problem(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    match text.strip_suffix(&position) {
        Some(message) => format!("{message} (column {})", error.column()),
        None => text,
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The library's Display lists validation failures inline; they are printed one
            // per line below instead, so only the headline is shown here.
            CliError::Store(embedstore::Error::Validation(validation)) => {
                let total = validation.failures().count();
                let noun = if total == 1 { "problem" } else { "problems" };
                write!(f, "invalid input ({total} {noun})")
            }
            CliError::Store(error) => error.fmt(f),
            CliError::Problems { summary, .. } => f.write_str(summary),
            CliError::Refused(message) => f.write_str(message),
            CliError::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for CliError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CliError::Store(error) => Some(error),
            CliError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<embedstore::Error> for CliError {
    fn from(error: embedstore::Error) -> Self {
        CliError::Store(error)
    }
}

/// Output written with `?` fails only when stdout does.
impl From<io::Error> for CliError {
    fn from(source: io::Error) -> Self {
        CliError::io("cannot write output", source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reported(error: &CliError) -> String {
        let mut err = Vec::new();
        error.report(&mut err).unwrap();
        String::from_utf8(err).unwrap()
    }

    #[test]
    fn validation_failures_are_printed_one_per_line() {
        let error = CliError::from(embedstore::Error::Validation(
            embedstore::ValidationError::new([
                ("vector", "expected 3 values, got 2"),
                ("k", "too big"),
            ]),
        ));
        assert_eq!(
            reported(&error),
            "error: invalid input (2 problems)\n  vector: expected 3 values, got 2\n  k: too big\n"
        );
    }

    #[test]
    fn json_problems_keep_only_the_column() {
        let error = serde_json::from_str::<Vec<f32>>("[1, x]").unwrap_err();
        assert_eq!(json_problem(&error), "expected value (column 5)");
    }

    #[test]
    fn long_problem_lists_are_cut_and_counted() {
        let error = CliError::Problems {
            summary: "60 bad lines".to_owned(),
            problems: (1..=60).map(|line| format!("line {line}: bad")).collect(),
        };
        let text = reported(&error);
        assert!(
            text.starts_with("error: 60 bad lines\n  line 1: bad\n"),
            "{text}"
        );
        assert!(
            text.ends_with("  line 50: bad\n  … and 10 more\n"),
            "{text}"
        );
    }
}
