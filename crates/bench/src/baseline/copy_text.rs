//! The baseline's input: rows in PostgreSQL's COPY text format, as a hand-written loader
//! would produce them for `\copy embeddings (collection_id, external_id, embedding, content,
//! metadata) FROM …`.

use std::fmt::Write as _;
use std::io::{self, Write};

use embedstore::NewEmbedding;

/// The column list the data is written for.
pub const COLUMNS: &str = "collection_id, external_id, embedding, content, metadata";

/// The rows without their `collection_id`: each line starts with the tab that follows it, so
/// the same rendering serves collections created later ([`write_rows`] adds the id).
#[derive(Debug, Clone)]
pub struct RenderedRows {
    lines: Vec<String>,
}

impl RenderedRows {
    /// Renders every item: vector in pgvector's text form, metadata as JSON, each field
    /// escaped for COPY text format.
    pub fn render(items: &[NewEmbedding]) -> Result<Self, serde_json::Error> {
        let lines = items
            .iter()
            .map(render_tail)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { lines })
    }

    /// Total size in bytes, without the collection ids.
    pub fn bytes(&self) -> usize {
        self.lines.iter().map(String::len).sum()
    }
}

/// Writes every row, prefixed with `collection_id`, to `out`.
pub fn write_rows(out: &mut impl Write, collection_id: i32, rows: &RenderedRows) -> io::Result<()> {
    let prefix = collection_id.to_string();
    for line in &rows.lines {
        out.write_all(prefix.as_bytes())?;
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}

/// `text` as a COPY text-format field: backslash, tab, newline and carriage return escaped.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '\\' => escaped.push_str("\\\\"),
            '\t' => escaped.push_str("\\t"),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// A vector in pgvector's text form `[1,-0.5,0.25]`. `f32`'s `Display` prints the shortest
pub fn vector_text(vector: &[f32]) -> String {
    let mut text = String::with_capacity(vector.len() * 12 + 2);
    text.push('[');
    for (index, value) in vector.iter().enumerate() {
        if index > 0 {
            text.push(',');
        }
        // Writing to a String cannot fail.
        let _ = write!(text, "{value}");
    }
    text.push(']');
    text
}

/// `\t<external_id>\t<vector>\t<content or \N>\t<metadata>\n`.
fn render_tail(item: &NewEmbedding) -> Result<String, serde_json::Error> {
    let content = item
        .content
        .as_deref()
        .map_or_else(|| "\\N".to_owned(), escape);
    let metadata = serde_json::to_string(&item.metadata)?;
    Ok(format!(
        "\t{}\t{}\t{}\t{}\n",
        escape(&item.external_id),
        vector_text(item.vector.as_dense().unwrap_or_default()),
        content,
        escape(&metadata)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_doubles_backslashes_and_escapes_control_characters() {
        assert_eq!(escape("plain text"), "plain text");
        assert_eq!(escape("a\\b"), "a\\\\b");
        assert_eq!(escape("tab\there"), "tab\\there");
        assert_eq!(escape("two\nlines\r"), "two\\nlines\\r");
        assert_eq!(
            escape("\\N"),
            "\\\\N",
            "a literal \\N must not read as NULL"
        );
    }

    #[test]
    fn json_escapes_survive_copy_escaping() {
        let metadata = serde_json::json!({"quote": "say \"hi\"", "tab": "a\tb"});
        let json = serde_json::to_string(&metadata).unwrap();
        // JSON's own escapes are backslashes, which COPY would otherwise eat.
        assert_eq!(escape(&json), r#"{"quote":"say \\"hi\\"","tab":"a\\tb"}"#);
    }

    #[test]
    fn rows_are_written_in_copy_text_format() {
        let items = vec![
            NewEmbedding::new("a", vec![1.0, -0.5, 0.125])
                .with_content("x\ty")
                .with_metadata(serde_json::json!({"n": 1})),
            NewEmbedding::new("b", vec![0.1, 2.0, 3.0]),
        ];
        let rows = RenderedRows::render(&items).unwrap();
        let mut out = Vec::new();
        write_rows(&mut out, 7, &rows).unwrap();
        let expected = "7\ta\t[1,-0.5,0.125]\tx\\ty\t{\"n\":1}\n7\tb\t[0.1,2,3]\t\\N\t{}\n";
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        // The rendering holds everything but the two "7"s.
        assert_eq!(rows.bytes(), expected.len() - 2);
    }

    #[test]
    fn vector_text_reads_back_as_the_same_values() {
        let values = [0.1_f32, -1.0, 1.0e-7, 0.333_333_34, f32::MIN_POSITIVE];
        let text = vector_text(&values);
        let parsed: Vec<f32> = text
            .trim_matches(['[', ']'])
            .split(',')
            .map(|value| value.parse().unwrap())
            .collect();
        assert_eq!(parsed, values);
    }
}
