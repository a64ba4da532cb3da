//! Which payload indexes a collection has ([`PayloadLayout`], [`PayloadKind`]) and the typed
//! SQL accessor each kind of value is compared through.

use std::fmt;
use std::str::FromStr;

use super::{FieldPath, FilterError};

/// The type of a typed payload index on one metadata path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum PayloadKind {
    /// Strings, compared as text (`embedstore_jsonb_text`).
    Keyword,
    /// Whole numbers (`embedstore_jsonb_numeric`).
    Integer,
    /// Any numbers (`embedstore_jsonb_numeric`).
    Float,
    /// Booleans (`embedstore_jsonb_bool`).
    Bool,
    /// RFC 3339 timestamps with an offset (`embedstore_jsonb_timestamptz`).
    Timestamp,
}

impl PayloadKind {
    /// Every kind this version knows; it grows when a kind is added (the enum is
    /// `#[non_exhaustive]`).
    pub const ALL: [PayloadKind; 5] = [
        PayloadKind::Keyword,
        PayloadKind::Integer,
        PayloadKind::Float,
        PayloadKind::Bool,
        PayloadKind::Timestamp,
    ];

    /// `"keyword"`, `"integer"`, `"float"`, `"bool"`, `"timestamp"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadKind::Keyword => "keyword",
            PayloadKind::Integer => "integer",
            PayloadKind::Float => "float",
            PayloadKind::Bool => "bool",
            PayloadKind::Timestamp => "timestamp",
        }
    }

    /// The SQL accessor function whose result a typed index on this kind stores, e.g.
    /// `embedstore_jsonb_numeric`; the filter renderer uses the same function.
    pub fn accessor(self) -> &'static str {
        Accessor::for_kind(self).function()
    }
}

impl fmt::Display for PayloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PayloadKind {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        PayloadKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| {
                FilterError::new(
                    "",
                    format!(
                        "unknown payload kind {text:?}; expected keyword, integer, float, bool or timestamp"
                    ),
                )
            })
    }
}

/// Which payload indexes a collection has, so rendering can pick the expression they serve.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PayloadLayout {
    /// A GIN index on `metadata` (`jsonb_ops` or `jsonb_path_ops`): scalar `$eq` and
    /// `$contains` on paths without a typed index render as `metadata @> $obj::jsonb`.
    pub gin: bool,
    /// Typed btree indexes: path and kind.
    pub typed: Vec<(FieldPath, PayloadKind)>,
}

impl PayloadLayout {
    pub(super) fn has_typed(&self, path: &FieldPath) -> bool {
        self.typed.iter().any(|(typed, _)| typed == path)
    }

    /// Whether `path` should be matched by containment so the GIN index can serve it.
    pub(super) fn containment_for(&self, path: &FieldPath) -> bool {
        self.gin && !self.has_typed(path) && !path.may_index_arrays()
    }
}

/// The SQL type a scalar filter value is compared as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Accessor {
    Text,
    Numeric,
    Bool,
    Timestamptz,
}

impl Accessor {
    pub(super) fn for_kind(kind: PayloadKind) -> Accessor {
        match kind {
            PayloadKind::Keyword => Accessor::Text,
            PayloadKind::Integer | PayloadKind::Float => Accessor::Numeric,
            PayloadKind::Bool => Accessor::Bool,
            PayloadKind::Timestamp => Accessor::Timestamptz,
        }
    }

    pub(super) fn function(self) -> &'static str {
        match self {
            Accessor::Text => "embedstore_jsonb_text",
            Accessor::Numeric => "embedstore_jsonb_numeric",
            Accessor::Bool => "embedstore_jsonb_bool",
            Accessor::Timestamptz => "embedstore_jsonb_timestamptz",
        }
    }

    pub(super) fn sql_type(self) -> &'static str {
        match self {
            Accessor::Text => "text",
            Accessor::Numeric => "numeric",
            Accessor::Bool => "boolean",
            Accessor::Timestamptz => "timestamptz",
        }
    }

    pub(super) fn array_type(self) -> &'static str {
        match self {
            Accessor::Text => "text[]",
            Accessor::Numeric => "numeric[]",
            Accessor::Bool => "boolean[]",
            Accessor::Timestamptz => "timestamptz[]",
        }
    }
}
