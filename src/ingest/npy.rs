//! A streaming reader of NumPy `.npy` matrices: one row at a time, whatever the file size.
//!
//! Accepted: 2-D arrays in C order of `float16`, `float32` or `float64`, little or big endian
//! (`<f2 >f2 <f4 >f4 <f8 >f8`), header versions 1.0, 2.0 and 3.0. Everything else is refused
//! with the reason, before a single row is returned. The format is NumPy's
//! (`numpy/lib/format.py`): the magic `\x93NUMPY`, a version, a little-endian header length
//! (2 bytes in 1.0, 4 bytes after), and a Python dict literal naming `descr`, `fortran_order`
//! and `shape`; the data follows.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::ingest::error::IngestError;

/// The magic string every `.npy` file starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Largest header we accept; NumPy itself refuses headers over 10,000 bytes by default.
const MAX_HEADER_BYTES: usize = 1 << 20;

/// An element type we can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// IEEE half precision (`f2`).
    F16,
    /// IEEE single precision (`f4`).
    F32,
    /// IEEE double precision (`f8`).
    F64,
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F16 => 2,
            Dtype::F32 => 4,
            Dtype::F64 => 8,
        }
    }
}

/// What a `.npy` header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// Format version `(major, minor)`.
    pub version: (u8, u8),
    /// Element type.
    pub dtype: Dtype,
    /// True for `>` (big-endian) data.
    pub big_endian: bool,
    /// Number of rows (`shape[0]`).
    pub rows: u64,
    /// Number of columns (`shape[1]`): the vectors' dimension.
    pub cols: usize,
    /// Bytes before the data (magic, version, length, header).
    pub data_offset: u64,
}

/// Reads the rows of a `.npy` matrix one at a time, converting them to `f32`.
#[derive(Debug)]
pub struct NpyReader<R> {
    file: String,
    header: NpyHeader,
    reader: R,
    next_row: u64,
    row_bytes: Vec<u8>,
}

impl NpyReader<BufReader<File>> {
    /// Opens `path`, reads and checks its header, and checks that the file holds exactly the
    /// data the header promises.
    ///
    /// # Errors
    /// [`IngestError::Io`] when the file cannot be read; [`IngestError::Format`] naming the file
    /// and the problem (bad magic, unsupported version, dtype, order or shape, truncated or
    /// oversized data).
    pub fn open(path: &Path) -> Result<Self, IngestError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|error| IngestError::io(&name, error))?;
        let length = file
            .metadata()
            .map_err(|error| IngestError::io(&name, error))?
            .len();
        Self::new(BufReader::with_capacity(1 << 20, file), name, Some(length))
    }
}

impl<R: Read> NpyReader<R> {
    /// Reads the header from `reader`. `file` names the source in errors; `length`, when known,
    /// is the total byte length, checked against the header's promise up front.
    ///
    /// # Errors
    /// As [`NpyReader::open`].
    pub fn new(mut reader: R, file: String, length: Option<u64>) -> Result<Self, IngestError> {
        let header = read_header(&mut reader, &file)?;
        let row_bytes = header
            .cols
            .checked_mul(header.dtype.size())
            .ok_or_else(|| IngestError::format(&file, "shape is too large"))?;
        let data_bytes = u64::try_from(row_bytes)
            .ok()
            .and_then(|bytes| bytes.checked_mul(header.rows))
            .ok_or_else(|| {
                IngestError::format(
                    &file,
                    format!(
                        "shape ({}, {}) overflows: rows × columns × {} bytes exceeds 2^64",
                        header.rows,
                        header.cols,
                        header.dtype.size()
                    ),
                )
            })?;
        if let Some(length) = length {
            let available = length.saturating_sub(header.data_offset);
            if available < data_bytes {
                return Err(IngestError::format(
                    &file,
                    format!(
                        "truncated: the header promises {} rows ({data_bytes} bytes of data) but the file holds {available} bytes ({} whole rows)",
                        header.rows,
                        available / (row_bytes.max(1) as u64)
                    ),
                ));
            }
            if available > data_bytes {
                return Err(IngestError::format(
                    &file,
                    format!(
                        "{} bytes after the {} rows the header promises ({data_bytes} bytes of data); is the header's shape right?",
                        available - data_bytes,
                        header.rows
                    ),
                ));
            }
        }
        Ok(Self {
            file,
            header,
            reader,
            next_row: 0,
            row_bytes: vec![0; row_bytes],
        })
    }

    /// The header.
    pub fn header(&self) -> &NpyHeader {
        &self.header
    }

    /// The file name used in errors.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Reads the next row into `out` (cleared first). Returns `false` after the last row.
    ///
    /// # Errors
    /// [`IngestError::Format`] when the data ends early (naming the row),
    /// [`IngestError::Io`] on read failures.
    pub fn read_row(&mut self, out: &mut Vec<f32>) -> Result<bool, IngestError> {
        out.clear();
        if self.next_row >= self.header.rows {
            return Ok(false);
        }
        if let Err(error) = self.reader.read_exact(&mut self.row_bytes) {
            return Err(if error.kind() == std::io::ErrorKind::UnexpectedEof {
                IngestError::format(
                    &self.file,
                    format!(
                        "truncated: data ends inside row {} of the {} the header promises",
                        self.next_row, self.header.rows
                    ),
                )
            } else {
                IngestError::io(&self.file, error)
            });
        }
        out.reserve(self.header.cols);
        decode_row(
            &self.row_bytes,
            self.header.dtype,
            self.header.big_endian,
            out,
        );
        self.next_row += 1;
        Ok(true)
    }

    /// Rows read so far.
    pub fn rows_read(&self) -> u64 {
        self.next_row
    }
}

/// Appends the values of one row's bytes to `out`, as float32. One loop per layout, so that
/// the common little-endian float32 row compiles to a plain copy.
fn decode_row(bytes: &[u8], dtype: Dtype, big_endian: bool, out: &mut Vec<f32>) {
    match (dtype, big_endian) {
        (Dtype::F32, false) => out.extend(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        ),
        (Dtype::F32, true) => out.extend(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]])),
        ),
        (Dtype::F16, big_endian) => out.extend(bytes.chunks_exact(2).map(|c| {
            let bits = [c[0], c[1]];
            let bits = if big_endian {
                u16::from_be_bytes(bits)
            } else {
                u16::from_le_bytes(bits)
            };
            half::f16::from_bits(bits).to_f32()
        })),
        (Dtype::F64, big_endian) => out.extend(bytes.chunks_exact(8).map(|c| {
            let bits = [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]];
            let value = if big_endian {
                f64::from_be_bytes(bits)
            } else {
                f64::from_le_bytes(bits)
            };
            // Narrowing is the point: the store holds float32 (values beyond its range become
            // infinite and are then refused by validation).
            #[expect(
                clippy::cast_possible_truncation,
                reason = "float64 input is stored as float32"
            )]
            let narrowed = value as f32;
            narrowed
        })),
    }
}

fn read_header(reader: &mut impl Read, file: &str) -> Result<NpyHeader, IngestError> {
    let truncated = |what: &str| {
        IngestError::format(file, format!("truncated: the file ends inside the {what}"))
    };
    let mut prefix = [0u8; 8];
    read_fully(reader, &mut prefix, file)
        .map_err(|error| error.unwrap_or_else(|| truncated("magic and version")))?;
    if &prefix[..6] != MAGIC {
        return Err(IngestError::format(
            file,
            "not a .npy file: it does not start with \\x93NUMPY (write it with numpy.save)",
        ));
    }
    let version = (prefix[6], prefix[7]);
    let header_len = match version {
        (1, 0) => {
            let mut len = [0u8; 2];
            read_fully(reader, &mut len, file)
                .map_err(|error| error.unwrap_or_else(|| truncated("header length")))?;
            usize::from(u16::from_le_bytes(len))
        }
        (2, 0) | (3, 0) => {
            let mut len = [0u8; 4];
            read_fully(reader, &mut len, file)
                .map_err(|error| error.unwrap_or_else(|| truncated("header length")))?;
            usize::try_from(u32::from_le_bytes(len)).unwrap_or(usize::MAX)
        }
        (major, minor) => {
            return Err(IngestError::format(
                file,
                format!(
                    "unsupported .npy format version {major}.{minor} (1.0, 2.0 and 3.0 are read)"
                ),
            ));
        }
    };
    if header_len > MAX_HEADER_BYTES {
        return Err(IngestError::format(
            file,
            format!("header length {header_len} bytes is implausible (at most {MAX_HEADER_BYTES})"),
        ));
    }
    let mut header = vec![0u8; header_len];
    read_fully(reader, &mut header, file).map_err(|error| {
        error.unwrap_or_else(|| {
            IngestError::format(
                file,
                format!(
                    "truncated: the header length says {header_len} bytes but the file ends first"
                ),
            )
        })
    })?;
    let text = match version {
        // Version 3.0 allows UTF-8 in the header (structured dtype field names); 1.0 and 2.0
        // are latin-1, and every header we accept is ASCII anyway.
        (3, 0) => std::str::from_utf8(&header)
            .map_err(|_| IngestError::format(file, "the header is not valid UTF-8"))?,
        _ => {
            if let Some(at) = header.iter().position(|byte| !byte.is_ascii()) {
                return Err(IngestError::format(
                    file,
                    format!("the header has a non-ASCII byte at offset {at}; is this a .npy file?"),
                ));
            }
            std::str::from_utf8(&header)
                .map_err(|_| IngestError::format(file, "the header is not ASCII"))?
        }
    };
    let fields = crate::ingest::npy_header::parse(text)
        .map_err(|reason| IngestError::format(file, format!("bad header: {reason}")))?;
    let prefix_len = if version == (1, 0) { 10 } else { 12 };
    let (dtype, big_endian) = dtype(&fields.descr, file)?;
    if fields.fortran_order {
        return Err(IngestError::format(
            file,
            "Fortran order (column-major) is not supported; save a C-order array: numpy.save(path, numpy.ascontiguousarray(a))",
        ));
    }
    let (rows, cols) = match fields.shape.as_slice() {
        [rows, cols] => (*rows, *cols),
        [_] => {
            return Err(IngestError::format(
                file,
                "a 1-D array; embeddings need a 2-D (rows, dimension) matrix, e.g. a.reshape(1, -1)",
            ));
        }
        shape => {
            return Err(IngestError::format(
                file,
                format!(
                    "a {}-D array; embeddings need a 2-D (rows, dimension) matrix",
                    shape.len()
                ),
            ));
        }
    };
    let cols = usize::try_from(cols)
        .map_err(|_| IngestError::format(file, format!("dimension {cols} is too large")))?;
    if cols == 0 {
        return Err(IngestError::format(file, "the matrix has 0 columns"));
    }
    Ok(NpyHeader {
        version,
        dtype,
        big_endian,
        rows,
        cols,
        data_offset: (prefix_len + header_len) as u64,
    })
}

/// `Err(None)` at end of file, `Err(Some(_))` on other read errors.
fn read_fully(
    reader: &mut impl Read,
    buf: &mut [u8],
    file: &str,
) -> Result<(), Option<IngestError>> {
    reader.read_exact(buf).map_err(|error| {
        if error.kind() == std::io::ErrorKind::UnexpectedEof {
            None
        } else {
            Some(IngestError::io(file, error))
        }
    })
}

fn dtype(descr: &str, file: &str) -> Result<(Dtype, bool), IngestError> {
    let parsed = match descr {
        "<f2" => Some((Dtype::F16, false)),
        ">f2" => Some((Dtype::F16, true)),
        "<f4" => Some((Dtype::F32, false)),
        ">f4" => Some((Dtype::F32, true)),
        "<f8" => Some((Dtype::F64, false)),
        ">f8" => Some((Dtype::F64, true)),
        _ => None,
    };
    parsed.ok_or_else(|| {
        IngestError::format(
            file,
            format!(
                "dtype {descr:?} is not supported (float16, float32 or float64: '<f2', '<f4', '<f8' or big-endian '>'); convert with a.astype(numpy.float32)"
            ),
        )
    })
}

#[cfg(test)]
mod tests;
