//! [`FieldPath`]: a dotted path to a metadata key, with `\.` and `\\` escapes.

use std::fmt;

use super::error::FilterError;
use super::limits;

/// The path to a value inside an embedding's metadata: `"a.b.c"` is the key `c` of the object
/// at key `b` of the object at key `a`.
///
/// A literal dot inside a key is written `\.`, a literal backslash `\\`; `Display` renders the
/// same escaped form, so `FieldPath::parse(&path.to_string())` gives `path` back.
///
/// Building a path never fails (`From<&str>` takes a stray backslash literally);
/// [`FieldPath::parse`] is the strict form, and [`Filter::check`](crate::Filter::check) — run
/// by every repository method before any SQL is sent — refuses segments that break the rules:
/// each key 1–256 bytes, no NUL, at most 32 segments, and the first key may not start with `$`
/// (reserved for operators in the JSON form).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(Vec<String>);

impl FieldPath {
    /// Parses `a.b.c` strictly: an unknown escape (`\x`), a trailing backslash or a segment
    /// that breaks the rules above is an error.
    ///
    /// # Errors
    /// [`FilterError`] naming the path and the reason.
    pub fn parse(text: &str) -> Result<FieldPath, FilterError> {
        let path = split(text, true).map_err(|reason| FilterError::new(text, reason))?;
        path.validate()
            .map_err(|reason| FilterError::new(text, reason))?;
        Ok(path)
    }

    /// A path from its keys as they are, without escapes (`["a.b"]` is one key with a dot).
    pub fn from_segments<S: Into<String>>(segments: impl IntoIterator<Item = S>) -> FieldPath {
        FieldPath(segments.into_iter().map(Into::into).collect())
    }

    /// The keys, unescaped.
    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// Why this path breaks the rules, if it does.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.0.is_empty() {
            return Err("a path needs at least one key".to_owned());
        }
        if self.0.len() > limits::MAX_PATH_SEGMENTS {
            return Err(format!(
                "a path has at most {} keys, found {}",
                limits::MAX_PATH_SEGMENTS,
                self.0.len()
            ));
        }
        for (index, segment) in self.0.iter().enumerate() {
            let ordinal = index + 1;
            if segment.is_empty() {
                return Err(format!("key {ordinal} of the path is empty"));
            }
            if segment.len() > limits::MAX_KEY_BYTES {
                return Err(format!(
                    "key {ordinal} of the path is {} bytes long, at most {} are allowed",
                    segment.len(),
                    limits::MAX_KEY_BYTES
                ));
            }
            if segment.contains('\0') {
                return Err(format!(
                    "key {ordinal} of the path contains a NUL character"
                ));
            }
        }
        if self.0[0].starts_with('$') {
            return Err(format!(
                "keys starting with $ are reserved for operators (found {})",
                self
            ));
        }
        Ok(())
    }

    /// True when PostgreSQL's `#>` could read a segment as an array index (`0`, `-1`, ` +2`):
    /// such paths reach into arrays, which a containment (`@>`) form cannot express.
    pub(crate) fn may_index_arrays(&self) -> bool {
        self.0.iter().any(|segment| {
            // strtol: leading C whitespace, an optional sign, then digits to the end.
            let rest = segment.trim_start_matches([' ', '\t', '\n', '\u{b}', '\u{c}', '\r']);
            let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit())
        })
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, segment) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(".")?;
            }
            for character in segment.chars() {
                match character {
                    '.' => f.write_str("\\.")?,
                    '\\' => f.write_str("\\\\")?,
                    other => write!(f, "{other}")?,
                }
            }
        }
        Ok(())
    }
}

impl From<&str> for FieldPath {
    /// Lenient parse: a backslash before anything but `.` or `\` is kept literally.
    fn from(text: &str) -> Self {
        split(text, false).unwrap_or_else(|_| FieldPath(vec![text.to_owned()]))
    }
}

impl From<String> for FieldPath {
    fn from(text: String) -> Self {
        FieldPath::from(text.as_str())
    }
}

impl From<&String> for FieldPath {
    fn from(text: &String) -> Self {
        FieldPath::from(text.as_str())
    }
}

impl From<&FieldPath> for FieldPath {
    fn from(path: &FieldPath) -> Self {
        path.clone()
    }
}

impl std::str::FromStr for FieldPath {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        FieldPath::parse(text)
    }
}

/// Splits on unescaped dots. `strict` refuses unknown escapes; otherwise they stay literal.
fn split(text: &str, strict: bool) -> Result<FieldPath, String> {
    let mut segments = Vec::new();
    let mut current = String::new();
    let mut characters = text.chars();
    while let Some(character) = characters.next() {
        match character {
            '.' => segments.push(std::mem::take(&mut current)),
            '\\' => match characters.next() {
                Some(escaped @ ('.' | '\\')) => current.push(escaped),
                Some(other) if strict => {
                    return Err(format!(
                        "unknown escape \\{other} (write \\. for a dot and \\\\ for a backslash)"
                    ));
                }
                Some(other) => {
                    current.push('\\');
                    current.push(other);
                }
                None if strict => {
                    return Err(
                        "the path ends in a lone backslash (write \\\\ for a backslash)".to_owned(),
                    );
                }
                None => current.push('\\'),
            },
            other => current.push(other),
        }
    }
    segments.push(current);
    Ok(FieldPath(segments))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segments(text: &str) -> Vec<String> {
        FieldPath::parse(text)
            .map(|path| path.0)
            .unwrap_or_default()
    }

    #[test]
    fn dots_separate_keys_and_escapes_keep_literal_dots_and_backslashes() {
        assert_eq!(segments("a.b.c"), ["a", "b", "c"]);
        assert_eq!(segments(r"a\.b.c"), ["a.b", "c"]);
        assert_eq!(segments(r"a\\.b"), [r"a\", "b"]);
        assert_eq!(segments(r"a\\\.b"), [r"a\.b"]);
        assert_eq!(segments("größe.日本"), ["größe", "日本"]);
        assert_eq!(segments(" spaced key . x "), [" spaced key ", " x "]);
        assert_eq!(segments("it's \"quoted\""), ["it's \"quoted\""]);
    }

    #[test]
    fn display_escapes_so_parse_round_trips() {
        for keys in [
            vec!["a.b", r"c\d", "e"],
            vec![r"\", "."],
            vec!["x'); DROP TABLE embeddings; --"],
            vec!["q", "$.a[*] ? (@ > 1)"],
        ] {
            let path = FieldPath::from_segments(keys.clone());
            let text = path.to_string();
            assert_eq!(FieldPath::parse(&text).ok(), Some(path), "{text}");
        }
        assert_eq!(
            FieldPath::from_segments(["a.b", r"c\"]).to_string(),
            r"a\.b.c\\"
        );
    }

    #[test]
    fn strict_parse_names_bad_escapes_and_empty_keys() {
        let message = |text: &str| FieldPath::parse(text).err().map(|e| e.to_string());
        assert_eq!(
            message(r"a\x"),
            Some(r"a\x: unknown escape \x (write \. for a dot and \\ for a backslash)".into())
        );
        assert_eq!(
            message(r"a\"),
            Some(r"a\: the path ends in a lone backslash (write \\ for a backslash)".into())
        );
        assert_eq!(
            message("a..b"),
            Some("a..b: key 2 of the path is empty".into())
        );
        assert_eq!(message(""), Some("key 1 of the path is empty".into()));
        assert_eq!(message(".a"), Some(".a: key 1 of the path is empty".into()));
        assert_eq!(
            message("$price"),
            Some("$price: keys starting with $ are reserved for operators (found $price)".into())
        );
        assert!(FieldPath::parse("a.$price").is_ok());
        assert_eq!(
            message("a\0b"),
            Some("a\0b: key 1 of the path contains a NUL character".into())
        );
        let long = "k".repeat(257);
        assert!(
            message(&long)
                .unwrap_or_default()
                .ends_with("key 1 of the path is 257 bytes long, at most 256 are allowed")
        );
        assert!(FieldPath::parse(&"k".repeat(256)).is_ok());
        let deep = vec!["k"; 33].join(".");
        assert!(
            message(&deep)
                .unwrap_or_default()
                .ends_with("a path has at most 32 keys, found 33")
        );
    }

    #[test]
    fn lenient_conversion_keeps_stray_backslashes() {
        assert_eq!(FieldPath::from(r"a\x.b").0, [r"a\x", "b"]);
        assert_eq!(FieldPath::from(r"a\").0, [r"a\"]);
    }

    #[test]
    fn integer_like_segments_may_index_arrays() {
        assert!(FieldPath::from("tags.0").may_index_arrays());
        assert!(FieldPath::from("tags.-1").may_index_arrays());
        assert!(FieldPath::from("tags. +2").may_index_arrays());
        assert!(!FieldPath::from("tags.x0").may_index_arrays());
        assert!(!FieldPath::from("a.b").may_index_arrays());
    }
}
