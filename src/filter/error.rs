//! [`FilterError`]: what is wrong with a filter, and where.

use std::fmt;

/// A filter that cannot be used: where the problem is and why.
///
/// `at` locates it in the JSON form — `$or[1].price.$gt`, `lang.$in[3]` — and is empty when
/// the problem is the filter as a whole. `Display` gives `at: reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    at: String,
    reason: String,
}

impl FilterError {
    pub(crate) fn new(at: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            at: at.into(),
            reason: reason.into(),
        }
    }

    /// Where in the filter, e.g. `$or[1].price.$gt`; empty for the whole filter.
    pub fn at(&self) -> &str {
        &self.at
    }

    /// Why it was refused, e.g. `expects a number, string or RFC 3339 timestamp, found an object`.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.at, self.reason)
        }
    }
}

impl std::error::Error for FilterError {}

impl From<FilterError> for crate::Error {
    /// A validation error whose path is `filter.<at>`.
    fn from(error: FilterError) -> Self {
        let path = if error.at.is_empty() {
            "filter".to_owned()
        } else {
            format!("filter.{}", error.at)
        };
        crate::Error::invalid_field(path, error.reason)
    }
}
