//! Formatting shared by the commands: output formats, aligned tables, snippets and numbers.
//!
//! Everything is written to a `&mut dyn Write` handed down from `main`, so a closed pipe
//! (`embedstore collection list | head -1`) ends the program quietly instead of panicking.

use std::io::{self, Write};
use std::time::Duration;

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// JSON for programs.
    Json,
}

/// Writes `value` as one line of JSON (the `--format json` output of a command).
///
/// # Errors
/// When serialising or writing fails.
pub fn write_json_line(out: &mut dyn Write, value: &impl serde::Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(io::Error::from)?;
    writeln!(out)
}

/// The `index:` line of an index status: the index's name and state (`valid`, or `INVALID`
/// for a failed or interrupted concurrent build), or `none` with the command that builds one
/// (naming an index that does not exist would send the reader looking for it).
///
/// # Errors
/// When writing fails.
pub fn write_index_line(
    out: &mut dyn Write,
    exists: bool,
    valid: bool,
    name: &str,
    builds_one: &str,
) -> io::Result<()> {
    if !exists {
        return writeln!(out, "index:      none (`{builds_one}` builds one)");
    }
    let state = if valid { "valid" } else { "INVALID" };
    writeln!(out, "index:      {name} ({state})")
}

/// Which side of its column a cell is pushed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text columns.
    Left,
    /// Numeric columns.
    Right,
}

/// One table column: its header and alignment.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// The header text.
    pub header: &'static str,
    /// How its cells are aligned.
    pub align: Align,
}

impl Column {
    /// A left-aligned (text) column.
    pub const fn left(header: &'static str) -> Self {
        Self {
            header,
            align: Align::Left,
        }
    }

    /// A right-aligned (numeric) column.
    pub const fn right(header: &'static str) -> Self {
        Self {
            header,
            align: Align::Right,
        }
    }
}

/// Writes `rows` under `columns` (no header line when every header is empty), each column as
/// wide as its widest cell, two spaces apart, every line prefixed by `indent`. The last column is not padded, so lines carry no
/// trailing spaces.
///
/// # Errors
/// When writing fails.
pub fn write_table(
    out: &mut dyn Write,
    indent: &str,
    columns: &[Column],
    rows: &[Vec<String>],
) -> io::Result<()> {
    let mut widths: Vec<usize> = columns.iter().map(|column| width(column.header)).collect();
    for row in rows {
        for (slot, cell) in widths.iter_mut().zip(row) {
            *slot = (*slot).max(width(cell));
        }
    }
    let headers: Vec<String> = columns
        .iter()
        .map(|column| column.header.to_owned())
        .collect();
    if columns.iter().any(|column| !column.header.is_empty()) {
        write_row(out, indent, columns, &widths, &headers)?;
    }
    for row in rows {
        write_row(out, indent, columns, &widths, row)?;
    }
    Ok(())
}

/// `text` on one line: whitespace runs collapsed to one space, cut to at most `max_chars`
/// characters with a trailing `…` when something was cut.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= max_chars {
        return collapsed;
    }
    let mut cut: String = collapsed
        .chars()
        .take(max_chars.saturating_sub(1))
        .collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// A count with thousands separators: `12,345`.
pub fn thousands(count: u64) -> String {
    let digits = count.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// A duration for people: `850 µs`, `12.3 ms`, `4.56 s`.
pub fn duration(elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs < 0.001 {
        format!("{:.0} µs", secs * 1e6)
    } else if secs < 1.0 {
        format!("{:.1} ms", secs * 1e3)
    } else {
        format!("{secs:.2} s")
    }
}

/// `count` per second over `elapsed`, rounded, with thousands separators.
pub fn per_second(count: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return "∞".to_owned();
    }
    // Counts here are far below 2^53, so the conversion is exact enough for a rate.
    let rate = (count as f64 / secs).round() as u64;
    thousands(rate)
}

/// "1 row", "2 rows": `count` with the noun in singular or plural.
pub fn plural(count: u64, singular: &str, plural: &str) -> String {
    let noun = if count == 1 { singular } else { plural };
    format!("{} {noun}", thousands(count))
}

/// Display width of a cell, counted in characters (close enough for the text we print).
fn width(text: &str) -> usize {
    text.chars().count()
}

fn write_row(
    out: &mut dyn Write,
    indent: &str,
    columns: &[Column],
    widths: &[usize],
    cells: &[String],
) -> io::Result<()> {
    let mut line = String::from(indent);
    let last = columns.len().saturating_sub(1);
    for (index, ((column, width), cell)) in columns.iter().zip(widths).zip(cells).enumerate() {
        if index > 0 {
            line.push_str("  ");
        }
        let padding = " ".repeat(width.saturating_sub(self::width(cell)));
        match column.align {
            Align::Right => {
                line.push_str(&padding);
                line.push_str(cell);
            }
            Align::Left if index == last => line.push_str(cell),
            Align::Left => {
                line.push_str(cell);
                line.push_str(&padding);
            }
        }
    }
    writeln!(out, "{}", line.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_text_left_and_numbers_right() {
        let mut out = Vec::new();
        let rows = vec![
            vec!["1".to_owned(), "alpha".to_owned(), "0.5".to_owned()],
            vec!["10".to_owned(), "b".to_owned(), "12.25".to_owned()],
        ];
        write_table(
            &mut out,
            "  ",
            &[
                Column::right("#"),
                Column::left("id"),
                Column::right("score"),
            ],
            &rows,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "   #  id     score\n   1  alpha    0.5\n  10  b      12.25\n"
        );
    }

    #[test]
    fn one_line_collapses_whitespace_and_marks_cuts() {
        assert_eq!(one_line("a\n  b\tc", 10), "a b c");
        assert_eq!(one_line("abcdef ghij", 8), "abcdef…");
        assert_eq!(one_line("ééééé", 5), "ééééé");
    }

    #[test]
    fn numbers_get_separators_and_units() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(duration(Duration::from_micros(850)), "850 µs");
        assert_eq!(duration(Duration::from_micros(12_340)), "12.3 ms");
        assert_eq!(duration(Duration::from_millis(4_560)), "4.56 s");
        assert_eq!(per_second(5_000, Duration::from_millis(500)), "10,000");
        assert_eq!(plural(1, "row", "rows"), "1 row");
        assert_eq!(plural(1_000, "row", "rows"), "1,000 rows");
    }
}
