//! Writes `.npy` float32 matrices byte for byte as `numpy.save` does.
//!
//! NumPy (≥ 1.24, checked against 2.4) writes a version 1.0 header
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (N, D), }`, then spaces so that `shape[0]`
//! could grow to 21 digits in place, then more spaces and a newline so that the data starts at
//! a multiple of 64 bytes (a full 64 bytes of padding when already aligned).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::ingest::error::IngestError;
use crate::ingest::npy::MAGIC;

/// Digits NumPy leaves room for in `shape[0]` (`GROWTH_AXIS_MAX_DIGITS`).
const GROWTH_AXIS_MAX_DIGITS: usize = 21;
/// Alignment of the data (`ARRAY_ALIGN`).
const ARRAY_ALIGN: usize = 64;

/// The complete header (magic to newline) of a little-endian float32 C-order `rows × cols`
/// matrix, as NumPy writes it with `version` (1, 0), (2, 0) or (3, 0).
pub fn npy_header_bytes(version: (u8, u8), rows: u64, cols: usize) -> Vec<u8> {
    let mut dict =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let rows_digits = rows.to_string().len();
    dict.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(rows_digits)));
    let length_bytes = if version == (1, 0) { 2 } else { 4 };
    let unpadded = MAGIC.len() + 2 + length_bytes + dict.len() + 1;
    let padding = ARRAY_ALIGN - unpadded % ARRAY_ALIGN;
    dict.push_str(&" ".repeat(padding));
    dict.push('\n');
    let mut bytes = MAGIC.to_vec();
    bytes.extend([version.0, version.1]);
    if version == (1, 0) {
        // Our headers are a few hundred bytes at most, far below u16::MAX.
        bytes.extend(u16::try_from(dict.len()).unwrap_or(u16::MAX).to_le_bytes());
    } else {
        bytes.extend(u32::try_from(dict.len()).unwrap_or(u32::MAX).to_le_bytes());
    }
    bytes.extend(dict.as_bytes());
    bytes
}

/// Streams a float32 matrix of a known shape into a `.npy` file.
#[derive(Debug)]
pub struct NpyWriter {
    file: String,
    out: BufWriter<File>,
    rows: u64,
    cols: usize,
    written: u64,
}

impl NpyWriter {
    /// Creates `path` (truncating it) and writes the header of a `rows × cols` matrix.
    ///
    /// # Errors
    /// [`IngestError::Io`] when the file cannot be written.
    pub fn create(path: &Path, rows: u64, cols: usize) -> Result<Self, IngestError> {
        let name = path.display().to_string();
        let file = File::create(path).map_err(|error| IngestError::io(&name, error))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(&npy_header_bytes((1, 0), rows, cols))
            .map_err(|error| IngestError::io(&name, error))?;
        Ok(Self {
            file: name,
            out,
            rows,
            cols,
            written: 0,
        })
    }

    /// Appends one row.
    ///
    /// # Errors
    /// [`IngestError::Format`] when the row has the wrong length or would exceed the promised
    /// row count; [`IngestError::Io`] on write failures.
    pub fn write_row(&mut self, row: &[f32]) -> Result<(), IngestError> {
        if row.len() != self.cols {
            return Err(IngestError::format(
                &self.file,
                format!(
                    "row {} has {} values, the matrix {}",
                    self.written,
                    row.len(),
                    self.cols
                ),
            ));
        }
        if self.written >= self.rows {
            return Err(IngestError::format(
                &self.file,
                format!("more than the {} rows announced in the header", self.rows),
            ));
        }
        for value in row {
            self.out
                .write_all(&value.to_le_bytes())
                .map_err(|error| IngestError::io(&self.file, error))?;
        }
        self.written += 1;
        Ok(())
    }

    /// Flushes and checks that exactly the announced rows were written.
    ///
    /// # Errors
    /// [`IngestError::Format`] when fewer rows were written; [`IngestError::Io`] on failures.
    pub fn finish(mut self) -> Result<(), IngestError> {
        if self.written != self.rows {
            return Err(IngestError::format(
                &self.file,
                format!(
                    "{} rows written, the header announced {}",
                    self.written, self.rows
                ),
            ));
        }
        self.out
            .flush()
            .map_err(|error| IngestError::io(&self.file, error))?;
        self.out
            .get_ref()
            .sync_all()
            .map_err(|error| IngestError::io(&self.file, error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_numpy_byte_for_byte() {
        // Written by numpy 2.4: np.save(f, np.zeros((3, 4), '<f4')).
        let expected = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }                                                          \n";
        assert_eq!(npy_header_bytes((1, 0), 3, 4), expected.to_vec());
        let big = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 384), }                                                  \n";
        assert_eq!(npy_header_bytes((1, 0), 1_000_000, 384), big.to_vec());
    }

    #[test]
    fn data_starts_on_a_64_byte_boundary_in_every_version() {
        for version in [(1, 0), (2, 0), (3, 0)] {
            for rows in [0, 1, 12345, u64::MAX] {
                for cols in [1, 384, 16000] {
                    let header = npy_header_bytes(version, rows, cols);
                    assert_eq!(header.len() % 64, 0, "{version:?} {rows} {cols}");
                    assert_eq!(header.last(), Some(&b'\n'));
                }
            }
        }
    }
}
