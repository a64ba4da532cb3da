//! A streaming reader of JSONL records (`external_id` or `id`, `metadata`, `content`), one per
//! non-blank line, and the locator that turns a JSON error into the field it happened in.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::ingest::error::IngestError;
use crate::vector::VectorValue;

/// Longest line read (content may be 1 MiB, metadata 64 KiB; JSON escapes can triple them).
pub const MAX_LINE_BYTES: usize = 8 << 20;

/// The UTF-8 byte-order mark, skipped at the start of a file.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// One record of a JSONL records file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The caller's stable key (`id` is accepted too).
    #[serde(alias = "id")]
    pub external_id: String,
    /// JSON object of attributes (defaults to `{}`).
    #[serde(default = "empty_object")]
    pub metadata: serde_json::Value,
    /// Optional source text.
    #[serde(default)]
    pub content: Option<String>,
}

/// One record of a JSONL file that carries its vector too (`embedstore insert`'s input).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorRecord {
    /// The caller's stable key (`id` is accepted too).
    #[serde(alias = "id")]
    pub external_id: String,
    /// The embedding: an array of numbers, a sparse vector object
    /// (`{"indices": […], "values": […], "dim": N}`) or a string of 0s and 1s.
    pub vector: VectorValue,
    /// JSON object of attributes (defaults to `{}`).
    #[serde(default = "empty_object")]
    pub metadata: serde_json::Value,
    /// Optional source text.
    #[serde(default)]
    pub content: Option<String>,
}

/// What one line gave: a record, or the field and reason it was refused for.
pub type LineOutcome<T = Record> = Result<T, (String, String)>;

/// Reads records from JSONL, skipping blank lines, one line in memory at a time.
#[derive(Debug)]
pub struct RecordReader<R> {
    file: String,
    reader: R,
    line: u64,
    buffer: Vec<u8>,
}

impl RecordReader<BufReader<File>> {
    /// Opens `path`.
    ///
    /// # Errors
    /// [`IngestError::Io`] when it cannot be opened.
    pub fn open(path: &Path) -> Result<Self, IngestError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|error| IngestError::io(&name, error))?;
        Ok(Self::new(BufReader::with_capacity(1 << 20, file), name))
    }
}

impl<R: BufRead> RecordReader<R> {
    /// Reads from `reader`; `file` names it in errors.
    pub fn new(reader: R, file: String) -> Self {
        Self {
            file,
            reader,
            line: 0,
            buffer: Vec::new(),
        }
    }

    /// The next record with its line number (from 1), `None` at the end.
    ///
    /// # Errors
    /// [`IngestError::Io`] when reading fails. A line that is not a valid record is not an
    /// error here: it comes back as `Err((field, reason))` in the outcome.
    pub fn next_record(&mut self) -> Result<Option<(u64, LineOutcome)>, IngestError> {
        self.next_as()
    }

    /// Like [`next_record`](Self::next_record), for records of shape `T`.
    ///
    /// # Errors
    /// As [`next_record`](Self::next_record).
    pub fn next_as<T: DeserializeOwned>(
        &mut self,
    ) -> Result<Option<(u64, LineOutcome<T>)>, IngestError> {
        loop {
            let Some(too_long) = self.next_line()? else {
                return Ok(None);
            };
            if too_long {
                return Ok(Some((
                    self.line,
                    Err((
                        String::new(),
                        format!("line is longer than {MAX_LINE_BYTES} bytes"),
                    )),
                )));
            }
            let mut line = trim_line(&self.buffer);
            if self.line == 1 {
                // Some Windows tools start UTF-8 files with a byte-order mark.
                line = line.strip_prefix(UTF8_BOM).unwrap_or(line);
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let outcome = parse_record(line);
            return Ok(Some((self.line, outcome)));
        }
    }

    /// Counts the records left (non-blank lines) without parsing them; consumes the reader.
    ///
    /// # Errors
    /// [`IngestError::Io`] when reading fails.
    pub fn count_remaining(mut self) -> Result<u64, IngestError> {
        let mut count = 0;
        while let Some(too_long) = self.next_line()? {
            if too_long || !trim_line(&self.buffer).iter().all(u8::is_ascii_whitespace) {
                count += 1;
            }
        }
        Ok(count)
    }

    /// Reads one line into `buffer`; `Some(true)` when it was cut at [`MAX_LINE_BYTES`] (the
    /// rest of the line is skipped), `None` at the end.
    fn next_line(&mut self) -> Result<Option<bool>, IngestError> {
        self.buffer.clear();
        let limit = (MAX_LINE_BYTES + 1) as u64;
        let read = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.buffer)
            .map_err(|error| IngestError::io(&self.file, error))?;
        if read == 0 {
            return Ok(None);
        }
        self.line += 1;
        if self.buffer.len() > MAX_LINE_BYTES && self.buffer.last() != Some(&b'\n') {
            let mut sink = Vec::new();
            loop {
                sink.clear();
                let more = (&mut self.reader)
                    .take(1 << 20)
                    .read_until(b'\n', &mut sink)
                    .map_err(|error| IngestError::io(&self.file, error))?;
                if more == 0 || sink.last() == Some(&b'\n') {
                    break;
                }
            }
            return Ok(Some(true));
        }
        Ok(Some(false))
    }
}

/// One record from one line. Only a JSON object is a record: serde would also take an array
/// (`["a"]`) as the fields in order, which no pipeline means.
fn parse_record<T: DeserializeOwned>(line: &[u8]) -> LineOutcome<T> {
    let first = line.iter().find(|byte| !byte.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err((
            String::new(),
            "a record must be a JSON object like {\"external_id\": \"…\"}".to_owned(),
        ));
    }
    serde_json::from_slice::<T>(line).map_err(|error| json_error_field(line, &error))
}

/// A line without its `\n` or `\r\n`.
fn trim_line(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The field a JSON error happened in and why, for one line of JSON: e.g.
/// `("vector[2]", "NaN is not valid JSON (use a finite number)")` or
/// `("metdata", "unknown field \`metdata\`, expected one of …")`. The field is empty when the
/// error is not inside any field (e.g. the line is not an object).
pub fn json_error_field(line: &[u8], error: &serde_json::Error) -> (String, String) {
    let offset = byte_offset(line, error);
    let text = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    let reason = text.strip_suffix(&position).unwrap_or(&text).to_owned();
    // A missing field is reported at the closing brace, after the last field read: that
    // field is not at fault, the record is.
    let field = if reason.starts_with("missing field") {
        String::new()
    } else {
        path_at(line, offset)
    };
    let rest = &line[offset.min(line.len())..];
    let token = rest.strip_prefix(b"-").unwrap_or(rest);
    let reason = if token.starts_with(b"NaN") {
        "NaN is not valid JSON (the vector must hold finite numbers)".to_owned()
    } else if token.starts_with(b"Infinity") || token.starts_with(b"inf") {
        "Infinity is not valid JSON (the vector must hold finite numbers)".to_owned()
    } else {
        reason
    };
    (field, reason)
}

/// serde_json's column counts bytes of the line (from 1); the error is at or just before it.
fn byte_offset(line: &[u8], error: &serde_json::Error) -> usize {
    let column = error.column().saturating_sub(1).min(line.len());
    // The column points at the last byte read: step back to the start of a bare token.
    let mut start = column;
    while start > 0 && line[start - 1].is_ascii_alphanumeric() {
        start -= 1;
    }
    if start > 0 && line[start - 1] == b'-' {
        start -= 1;
    }
    if line.get(start).is_some_and(u8::is_ascii_alphabetic) {
        start
    } else {
        column
    }
}

/// Container being scanned by [`path_at`].
enum Frame {
    Object { key: Option<String>, in_key: bool },
    Array { index: usize },
}

/// The JSON path (`metadata.tags[2]`, `vector[3]`) of the value being read at byte `offset`.
fn path_at(line: &[u8], offset: usize) -> String {
    let mut stack: Vec<Frame> = Vec::new();
    let mut at = 0;
    let end = offset.min(line.len());
    while at < end {
        match line[at] {
            b'"' => {
                let start = at + 1;
                let mut close = start;
                while close < line.len() && line[close] != b'"' {
                    close += if line[close] == b'\\' { 2 } else { 1 };
                }
                if let Some(Frame::Object { key, in_key: true }) = stack.last_mut() {
                    let text = &line[start..close.min(line.len())];
                    *key = Some(String::from_utf8_lossy(text).into_owned());
                }
                at = close + 1;
                continue;
            }
            b'{' => stack.push(Frame::Object {
                key: None,
                in_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b':' => {
                if let Some(Frame::Object { in_key, .. }) = stack.last_mut() {
                    *in_key = false;
                }
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { key, in_key }) => {
                    *key = None;
                    *in_key = true;
                }
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            _ => {}
        }
        at += 1;
    }
    let mut path = String::new();
    let mut parts = 0;
    for frame in &stack {
        if parts >= 8 {
            path.push('…');
            break;
        }
        match frame {
            Frame::Object { key: Some(key), .. } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                parts += 1;
            }
            Frame::Object { key: None, .. } => {}
            Frame::Array { index } => {
                path.push_str(&format!("[{index}]"));
                parts += 1;
            }
        }
    }
    path
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &[u8]) -> Vec<(u64, LineOutcome)> {
        let mut reader = RecordReader::new(text, "r.jsonl".into());
        let mut out = Vec::new();
        while let Some(record) = reader.next_record().unwrap() {
            out.push(record);
        }
        out
    }

    fn refused(text: &str) -> (String, String) {
        let records = read_all(text.as_bytes());
        records[0].1.clone().unwrap_err()
    }

    #[test]
    fn reads_records_with_id_alias_defaults_and_blank_lines() {
        let records = read_all(
            b"{\"external_id\": \"a\", \"metadata\": {\"k\": 1}, \"content\": \"text\"}\r\n\n  \n{\"id\":\"b\"}",
        );
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].0, 1);
        let first = records[0].1.clone().unwrap();
        assert_eq!(first.external_id, "a");
        assert_eq!(first.metadata, serde_json::json!({"k": 1}));
        assert_eq!(first.content.as_deref(), Some("text"));
        assert_eq!(records[1].0, 4);
        let second = records[1].1.clone().unwrap();
        assert_eq!(second.external_id, "b");
        assert_eq!(second.metadata, serde_json::json!({}));
    }

    #[test]
    fn a_byte_order_mark_at_the_start_is_skipped() {
        let records = read_all(b"\xEF\xBB\xBF{\"id\": \"a\"}\n{\"id\": \"b\"}\n");
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].1.clone().unwrap().external_id, "a");
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let (field, reason) = refused(r#"{"id": "a", "metdata": {"lang": "en"}}"#);
        assert_eq!(field, "metdata");
        assert!(reason.starts_with("unknown field `metdata`"), "{reason}");
    }

    #[test]
    fn nan_and_infinity_name_their_field() {
        let line = br#"{"external_id": "a", "vector": [0.5, NaN, 1]}"#;
        let error = serde_json::from_slice::<serde_json::Value>(line).unwrap_err();
        assert_eq!(
            json_error_field(line, &error),
            (
                "vector[1]".into(),
                "NaN is not valid JSON (the vector must hold finite numbers)".into()
            )
        );
        let line = br#"{"vector": [-Infinity]}"#;
        let error = serde_json::from_slice::<serde_json::Value>(line).unwrap_err();
        let (field, reason) = json_error_field(line, &error);
        assert_eq!(field, "vector[0]");
        assert!(reason.starts_with("Infinity is not valid JSON"), "{reason}");
        let (field, _) = refused(r#"{"id": "a", "metadata": {"score": NaN}}"#);
        assert_eq!(field, "metadata.score");
    }

    #[test]
    fn wrong_types_and_escaped_keys_name_the_field() {
        let (field, reason) = refused(r#"{"id": "a", "content": 5}"#);
        assert_eq!(field, "content");
        assert!(reason.contains("invalid type"), "{reason}");
        let (field, _) = refused(r#"{"id": "a", "metadata": {"we\"ird": [1, {"x": tru}]}}"#);
        assert_eq!(field, "metadata.we\\\"ird[1].x");
        let (field, reason) = refused(r#"["a"]"#);
        assert_eq!(field, "");
        assert!(reason.contains("must be a JSON object"), "{reason}");
        let (field, reason) = refused(r#"{"metadata": {}}"#);
        assert_eq!(field, "");
        assert!(reason.contains("missing field `external_id`"), "{reason}");
    }

    #[test]
    fn hostile_lines_are_refused_with_their_line() {
        let mut deep = String::from(r#"{"id": "a", "metadata": "#);
        deep.push_str(&"{\"a\":".repeat(1000));
        deep.push('1');
        deep.push_str(&"}".repeat(1001));
        let (field, reason) = refused(&deep);
        assert!(field.starts_with("metadata.a.a"), "{field}");
        assert!(reason.contains("recursion limit"), "{reason}");
        let mut bad_utf8 = br#"{"id": "a", "content": "caf"#.to_vec();
        bad_utf8.extend([0xe9, b'"', b'}', b'\n']);
        let records = read_all(&bad_utf8);
        let (field, reason) = records[0].1.clone().unwrap_err();
        assert_eq!(field, "content");
        assert!(
            reason.contains("unicode") || reason.contains("UTF-8"),
            "{reason}"
        );
        let (field, reason) = refused("{\"id\": \"a\0\"}");
        assert_eq!(field, "id");
        assert!(reason.contains("control character"), "{reason}");
        let records = read_all(b"not json\n{\"id\": \"ok\"}\n");
        assert_eq!(records[0].0, 1);
        assert!(records[0].1.is_err());
        assert_eq!(records[1].0, 2);
        assert!(records[1].1.is_ok());
    }

    #[test]
    fn overlong_lines_are_refused_and_skipped() {
        let mut text =
            format!("{{\"id\": \"{}\"}}\n", "x".repeat(MAX_LINE_BYTES + 10)).into_bytes();
        text.extend(b"{\"id\": \"next\"}\n");
        let records = read_all(&text);
        assert_eq!(records.len(), 2);
        assert!(records[0].1.clone().unwrap_err().1.contains("longer than"));
        assert_eq!(records[1].1.clone().unwrap().external_id, "next");
        let counted = RecordReader::new(text.as_slice(), "r".into())
            .count_remaining()
            .unwrap();
        assert_eq!(counted, 2);
    }
}
