//! The limits every filter is checked against, and why.
//!
//! They keep a filter's cost bounded before anything reaches the database: recursion in the
//! parser, checker and renderer is bounded by [`MAX_DEPTH`], a statement's size by
//! [`MAX_NODES`] (each node binds at most four parameters, plus one array per `$in` list, so
//! a filter needs at most about 4,000 of the 65,535 bind parameters a statement can take).

/// Deepest nesting of `$and` / `$or` / `$not` and field conditions (the top level is 1); also
/// the deepest nesting of arrays and objects inside one filter value.
pub const MAX_DEPTH: usize = 32;
/// Most conditions and combinators in one filter.
pub const MAX_NODES: usize = 1_000;
/// Most values in one `$in` / `$nin` list.
pub const MAX_IN_VALUES: usize = 10_000;
/// Longest metadata key, in bytes (keys are at least 1 byte).
pub const MAX_KEY_BYTES: usize = 256;
/// Most keys in one dotted path.
pub const MAX_PATH_SEGMENTS: usize = 32;
