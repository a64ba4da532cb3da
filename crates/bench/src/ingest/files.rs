//! The files every path reads: `.npy` + JSONL for `embedstore ingest`, and the pre-encoded
//! binary and text COPY streams for the `psql` baselines. All live in one [`ScratchDir`], removed
//! when the run ends.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::BenchResult;
use crate::baseline::binary_copy::{self, CopyRow};
use crate::baseline::copy_text::{escape, vector_text};
use crate::ingest::rows::{Row, Rows};
use crate::scratch::{ScratchDir, npy_header};

/// Write buffer size: large sequential writes.
const BUFFER: usize = 1 << 20;

/// The `.npy` + JSONL pair `embedstore ingest` reads.
#[derive(Debug, Clone)]
pub struct IngestFiles {
    /// The float32 matrix.
    pub vectors: PathBuf,
    /// One record per row.
    pub records: PathBuf,
    /// Size of both together.
    pub bytes: u64,
}

/// Writes `rows` rows of `dimension` values as `<stem>.npy` and `<stem>.jsonl` in `dir`.
pub fn write_ingest_files(
    dir: &ScratchDir,
    stem: &str,
    rows: usize,
    dimension: usize,
) -> BenchResult<IngestFiles> {
    let vectors = dir.file(&format!("{stem}.npy"));
    let records = dir.file(&format!("{stem}.jsonl"));
    let mut npy = BufWriter::with_capacity(BUFFER, File::create(&vectors)?);
    let mut jsonl = BufWriter::with_capacity(BUFFER, File::create(&records)?);
    npy.write_all(&npy_header(rows, dimension))?;
    for row in Rows::new(rows, dimension) {
        for value in &row.vector {
            npy.write_all(&value.to_le_bytes())?;
        }
        jsonl.write_all(jsonl_line(&row)?.as_bytes())?;
    }
    let bytes = finish(npy)? + finish(jsonl)?;
    Ok(IngestFiles {
        vectors,
        records,
        bytes,
    })
}

/// Writes the first `rows` rows for `collection_id` in PostgreSQL's binary COPY format;
/// returns the file's size.
pub fn write_binary_copy(
    path: &Path,
    collection_id: i32,
    rows: usize,
    dimension: usize,
) -> BenchResult<u64> {
    let mut out = BufWriter::with_capacity(BUFFER, File::create(path)?);
    binary_copy::write_header(&mut out)?;
    for row in Rows::new(rows, dimension) {
        let copy_row = CopyRow {
            collection_id,
            external_id: &row.external_id,
            vector: &row.vector,
            content: Some(&row.content),
            metadata_json: &row.metadata_json,
        };
        binary_copy::write_row(&mut out, &copy_row)?;
    }
    binary_copy::write_trailer(&mut out)?;
    finish(out)
}

/// Writes the first `rows` rows for `collection_id` in COPY text format; returns the file's
/// size.
pub fn write_text_copy(
    path: &Path,
    collection_id: i32,
    rows: usize,
    dimension: usize,
) -> BenchResult<u64> {
    let mut out = BufWriter::with_capacity(BUFFER, File::create(path)?);
    for row in Rows::new(rows, dimension) {
        out.write_all(text_copy_line(collection_id, &row).as_bytes())?;
    }
    finish(out)
}

/// `{"external_id": …, "content": …, "metadata": {…}}` and a newline.
fn jsonl_line(row: &Row) -> serde_json::Result<String> {
    Ok(format!(
        "{{\"external_id\":{},\"content\":{},\"metadata\":{}}}\n",
        serde_json::to_string(&row.external_id)?,
        serde_json::to_string(&row.content)?,
        row.metadata_json
    ))
}

/// `collection_id \t external_id \t vector \t content \t metadata \n`, escaped for COPY.
fn text_copy_line(collection_id: i32, row: &Row) -> String {
    format!(
        "{collection_id}\t{}\t{}\t{}\t{}\n",
        escape(&row.external_id),
        vector_text(&row.vector),
        escape(&row.content),
        escape(&row.metadata_json)
    )
}

/// Flushes, syncs (so that page-cache write-back does not land on a timed path) and returns
/// the file's size.
fn finish(out: BufWriter<File>) -> BenchResult<u64> {
    let file = out.into_inner().map_err(|error| error.into_error())?;
    file.sync_all()?;
    Ok(file.metadata()?.len())
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn jsonl_lines_parse_back_to_the_row() {
        let row = Rows::new(51, 2).nth(50).unwrap();
        let line = jsonl_line(&row).unwrap();
        assert!(line.ends_with("}\n") && !line.trim_end().contains('\n'));
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["external_id"], "doc-50");
        assert_eq!(parsed["content"], row.content.as_str());
        assert_eq!(parsed["metadata"]["n"], 50);
        assert_eq!(parsed.as_object().unwrap().len(), 3, "no other fields");
    }

    #[test]
    fn text_copy_lines_escape_every_field() {
        let row = Row {
            external_id: "a\tb".to_owned(),
            vector: vec![0.5, -1.0],
            content: "x\\y\nz".to_owned(),
            metadata_json: r#"{"q":"\"hi\""}"#.to_owned(),
        };
        assert_eq!(
            text_copy_line(7, &row),
            "7\ta\\tb\t[0.5,-1]\tx\\\\y\\nz\t{\"q\":\"\\\\\"hi\\\\\"\"}\n"
        );
    }

    #[test]
    fn files_are_written_and_removed_with_their_directory() {
        let dir = ScratchDir::new().unwrap();
        let files = write_ingest_files(&dir, "t", 3, 4).unwrap();
        let npy = fs::read(&files.vectors).unwrap();
        assert_eq!(npy.len(), 128 + 3 * 4 * 4);
        let first = Rows::new(1, 4).next().unwrap();
        let stored: Vec<f32> = npy[128..144]
            .chunks(4)
            .map(|chunk| f32::from_le_bytes(chunk.try_into().unwrap()))
            .collect();
        assert_eq!(stored, first.vector);
        assert_eq!(
            fs::read_to_string(&files.records).unwrap().lines().count(),
            3
        );
        let copy_size = write_binary_copy(&dir.file("b"), 1, 3, 4).unwrap();
        assert_eq!(copy_size, fs::metadata(dir.file("b")).unwrap().len());
        let root = files.vectors.parent().unwrap().to_owned();
        drop(dir);
        assert!(!root.exists());
    }
}
