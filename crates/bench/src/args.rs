//! Command-line arguments, parsed by hand (the `bench` feature does not pull in clap).

use std::fmt;

/// What to measure and how much of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// Rows inserted per measurement.
    pub rows: usize,
    /// Vector dimension.
    pub dim: u32,
    /// Measured searches per path.
    pub queries: usize,
    /// Neighbours per search.
    pub k: u32,
    /// Rows per library write; `None` writes all rows in one call.
    pub batch_size: Option<usize>,
    /// Insert rounds per path; each round writes into fresh collections.
    pub rounds: usize,
    /// Unmeasured searches per path before the measured ones.
    pub warmup: usize,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            rows: 100_000,
            dim: 384,
            queries: 500,
            k: 10,
            batch_size: None,
            rounds: 2,
            warmup: 10,
        }
    }
}

/// The usage text printed for `--help` and after a bad argument.
pub const USAGE: &str = "\
usage: embedstore-bench [--rows N] [--dim N] [--queries N] [--k N] [--batch-size N]
                        [--rounds N] [--warmup N]

Measures embedstore's insert and search speed against hand-written SQL (psql COPY and the
same SELECT through diesel) in a throw-away database on TEST_DATABASE_URL / DATABASE_URL.

  --rows N        rows per insert measurement        (default 100000)
  --dim N         vector dimension                   (default 384)
  --queries N     measured searches per path         (default 500)
  --k N           neighbours per search              (default 10)
  --batch-size N  rows per library write             (default: all rows in one write)
  --rounds N      insert rounds per path, best kept  (default 2)
  --warmup N      unmeasured searches per path       (default 10)

embedstore-bench ingest --help describes the file-ingest benchmark (issue 6).";

/// Why the arguments were refused, or a request for help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgsError {
    /// `--help` or `-h` was given.
    Help,
    /// An argument that is not one of ours.
    Unknown(String),
    /// A flag without its value.
    MissingValue(&'static str),
    /// A value that is not a number in range.
    BadValue {
        /// The flag.
        flag: &'static str,
        /// The text given.
        value: String,
    },
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgsError::Help => f.write_str("help requested"),
            ArgsError::Unknown(argument) => write!(f, "unknown argument {argument:?}"),
            ArgsError::MissingValue(flag) => write!(f, "{flag} needs a value"),
            ArgsError::BadValue { flag, value } => {
                write!(f, "{flag} needs a positive integer, got {value:?}")
            }
        }
    }
}

impl std::error::Error for ArgsError {}

impl Args {
    /// Parses `--flag value` and `--flag=value` pairs (without the program name).
    ///
    /// # Errors
    /// [`ArgsError`] for unknown flags, missing values, and values that are not positive
    /// integers (`--warmup` may be 0).
    pub fn parse(arguments: impl IntoIterator<Item = String>) -> Result<Self, ArgsError> {
        let mut args = Args::default();
        let mut arguments = arguments.into_iter();
        const FLAGS: [&str; 7] = [
            "--rows",
            "--dim",
            "--queries",
            "--k",
            "--batch-size",
            "--rounds",
            "--warmup",
        ];
        while let Some(pair) = next_flag(&mut arguments, &FLAGS) {
            let (flag, value) = pair?;
            let minimum = if flag == "--warmup" { 0 } else { 1 };
            let number = parse_number(flag, &value, minimum)?;
            match flag {
                "--rows" => args.rows = number,
                "--dim" => args.dim = to_u32(flag, &value, number)?,
                "--queries" => args.queries = number,
                "--k" => args.k = to_u32(flag, &value, number)?,
                "--batch-size" => args.batch_size = Some(number),
                "--rounds" => args.rounds = number,
                _ => args.warmup = number,
            }
        }
        Ok(args)
    }

    /// How the library insert is split, for the report.
    pub fn insert_mode(&self) -> String {
        match self.batch_size {
            Some(size) if size < self.rows => {
                format!("{} writes of <= {size} rows", self.rows.div_ceil(size))
            }
            _ => "one write with all rows".to_owned(),
        }
    }
}

/// The next `--flag value` or `--flag=value` pair, its flag matched against `known` (returned
/// as the `'static` name); `Help` for `-h`/`--help`. `None` at the end of the arguments.
pub fn next_flag(
    arguments: &mut impl Iterator<Item = String>,
    known: &[&'static str],
) -> Option<Result<(&'static str, String), ArgsError>> {
    let argument = arguments.next()?;
    let (name, inline_value) = match argument.split_once('=') {
        Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
        None => (argument.clone(), None),
    };
    if name == "-h" || name == "--help" {
        return Some(Err(ArgsError::Help));
    }
    let Some(flag) = known.iter().copied().find(|flag| *flag == name) else {
        return Some(Err(ArgsError::Unknown(argument)));
    };
    Some(
        inline_value
            .or_else(|| arguments.next())
            .map(|value| (flag, value))
            .ok_or(ArgsError::MissingValue(flag)),
    )
}

fn parse_number(flag: &'static str, value: &str, minimum: usize) -> Result<usize, ArgsError> {
    value
        .parse::<usize>()
        .ok()
        .filter(|number| *number >= minimum)
        .ok_or_else(|| ArgsError::BadValue {
            flag,
            value: value.to_owned(),
        })
}

fn to_u32(flag: &'static str, value: &str, number: usize) -> Result<u32, ArgsError> {
    u32::try_from(number).map_err(|_| ArgsError::BadValue {
        flag,
        value: value.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Args, ArgsError> {
        Args::parse(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn no_arguments_give_the_defaults() {
        assert_eq!(parse(""), Ok(Args::default()));
    }

    #[test]
    fn both_flag_forms_are_accepted() {
        let args = parse("--rows 2000 --dim=8 --batch-size 500 --warmup 0").unwrap();
        assert_eq!(args.rows, 2000);
        assert_eq!(args.dim, 8);
        assert_eq!(args.batch_size, Some(500));
        assert_eq!(args.warmup, 0);
        assert_eq!(args.insert_mode(), "4 writes of <= 500 rows");
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert_eq!(parse("--rows"), Err(ArgsError::MissingValue("--rows")));
        assert_eq!(
            parse("--k 0"),
            Err(ArgsError::BadValue {
                flag: "--k",
                value: "0".to_owned()
            })
        );
        assert_eq!(
            parse("--nope 1"),
            Err(ArgsError::Unknown("--nope".to_owned()))
        );
        assert_eq!(parse("-h"), Err(ArgsError::Help));
    }
}
