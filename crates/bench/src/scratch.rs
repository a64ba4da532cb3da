//! Scratch space for benchmark files, and the `.npy` header of the matrices written there (the
//! bottom layer: it imports no mode).

use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// A directory under the system's temporary directory, removed (with its contents) on drop.
#[derive(Debug)]
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// Creates `embedstore-bench-<pid>-<n>` in the temporary directory.
    pub fn new() -> io::Result<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "embedstore-bench-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&path)?;
        Ok(Self(path))
    }

    /// A path inside the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A version 1.0 `.npy` header for a C-order little-endian float32 matrix, padded with
/// spaces and a newline so that the data starts on a 64-byte boundary, as NumPy writes it.
pub fn npy_header(rows: usize, dimension: usize) -> Vec<u8> {
    let dictionary =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {dimension}), }}");
    // magic (6) + version (2) + header length (2) + dictionary + padding + '\n'.
    let unpadded = 10 + dictionary.len() + 1;
    let padding = unpadded.next_multiple_of(64) - unpadded;
    let header_length = dictionary.len() + padding + 1;
    let mut header = Vec::with_capacity(10 + header_length);
    header.extend_from_slice(b"\x93NUMPY\x01\x00");
    // A dictionary for two integers is far below 64 KiB, the limit of a version 1.0 header.
    header.extend_from_slice(&(header_length as u16).to_le_bytes());
    header.extend_from_slice(dictionary.as_bytes());
    header.extend(std::iter::repeat_n(b' ', padding));
    header.push(b'\n');
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned_and_describes_the_matrix() {
        for (rows, dimension) in [(1, 1), (200_000, 384), (1_000_000, 1536)] {
            let header = npy_header(rows, dimension);
            assert_eq!(header.len() % 64, 0, "{rows}x{dimension}");
            assert_eq!(&header[..8], b"\x93NUMPY\x01\x00");
            let length = u16::from_le_bytes([header[8], header[9]]) as usize;
            assert_eq!(length, header.len() - 10);
            let text = std::str::from_utf8(&header[10..]).unwrap();
            assert!(text.ends_with('\n'));
            assert!(text.starts_with(&format!(
                "{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {dimension}), }}"
            )));
        }
    }
}
