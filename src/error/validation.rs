//! Input refused by validation: every failing item with its path.

use std::fmt;

/// Input refused by validation: every failing item with its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    failures: Vec<(String, String)>,
}

impl ValidationError {
    /// One failure at `path` (empty for the whole input), e.g. `("tenant", "is empty")`.
    pub(crate) fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            failures: vec![(path.into(), message.into())],
        }
    }

    /// Failures as `(path, message)` pairs, in order: for a service that checks its own
    /// input before calling embedstore and wants one error type for both.
    ///
    /// ```
    /// let error = embedstore::ValidationError::new([("items[3].vector", "is empty")]);
    /// assert_eq!(error.to_string(), "invalid input (1 problem): items[3].vector: is empty");
    /// ```
    pub fn new<P: Into<String>, M: Into<String>>(
        failures: impl IntoIterator<Item = (P, M)>,
    ) -> Self {
        Self {
            failures: failures
                .into_iter()
                .map(|(path, message)| (path.into(), message.into()))
                .collect(),
        }
    }

    /// A garde report's failures, in the report's order. The one place a report becomes an
    /// error: garde stays out of the public API.
    pub(crate) fn from_report(report: &garde::Report) -> Self {
        Self {
            failures: report
                .iter()
                .map(|(path, error)| (path.to_string(), error.message().to_string()))
                .collect(),
        }
    }

    /// Every failure as `(path, message)`, e.g. `("items[17].vector[3]", "value is NaN")`.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.failures
            .iter()
            .map(|(path, message)| (path.as_str(), message.as_str()))
    }

    /// How many failures there are.
    pub fn len(&self) -> usize {
        self.failures.len()
    }

    /// True when there is no failure (never for an error this crate returns).
    pub fn is_empty(&self) -> bool {
        self.failures.is_empty()
    }

    /// Every failure as one line, `path: message` (just `message` for the whole input), e.g.
    /// `items[17].vector[3]: value is NaN`.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.failures().map(|(path, message)| {
            if path.is_empty() {
                message.to_owned()
            } else {
                format!("{path}: {message}")
            }
        })
    }
}

/// How many failures `Display` lists before summarising the rest.
const DISPLAYED_FAILURES: usize = 20;

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.failures.len();
        write!(f, "invalid input ({total} problem")?;
        if total != 1 {
            f.write_str("s")?;
        }
        f.write_str(")")?;
        for (index, line) in self.lines().enumerate() {
            if index == DISPLAYED_FAILURES {
                write!(f, "; and {} more", total - DISPLAYED_FAILURES)?;
                break;
            }
            let separator = if index == 0 { ": " } else { "; " };
            write!(f, "{separator}{line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_display_lists_paths_and_summarises_the_rest() {
        let failures: Vec<_> = (0..25)
            .map(|index| (format!("items[{index}].external_id"), "is empty".to_owned()))
            .collect();
        let text = ValidationError::new(failures).to_string();
        assert!(text.starts_with("invalid input (25 problems): items[0].external_id: is empty; "));
        assert!(text.ends_with("; and 5 more"), "{text}");
    }
}
