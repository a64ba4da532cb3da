use super::*;
use crate::ingest::npy_writer::npy_header_bytes;

fn file(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let mut bytes = MAGIC.to_vec();
    bytes.extend([1, 0]);
    bytes.extend(u16::try_from(dict.len() + 1).unwrap().to_le_bytes());
    bytes.extend(dict.as_bytes());
    bytes.push(b'\n');
    bytes.extend(data);
    bytes
}

fn open(bytes: &[u8]) -> Result<NpyReader<&[u8]>, IngestError> {
    NpyReader::new(bytes, "v.npy".into(), Some(bytes.len() as u64))
}

fn rows(bytes: &[u8]) -> Vec<Vec<f32>> {
    let mut reader = open(bytes).unwrap();
    let mut out = Vec::new();
    let mut row = Vec::new();
    while reader.read_row(&mut row).unwrap() {
        out.push(row.clone());
    }
    out
}

fn error(bytes: &[u8]) -> String {
    open(bytes).unwrap_err().to_string()
}

#[test]
fn reads_float32_little_and_big_endian() {
    let little: Vec<u8> = [1.5f32, -2.0, 3.25, 0.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let big: Vec<u8> = [1.5f32, -2.0, 3.25, 0.0]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    assert_eq!(
        rows(&file("<f4", "(2, 2)", &little)),
        vec![vec![1.5, -2.0], vec![3.25, 0.0]]
    );
    assert_eq!(
        rows(&file(">f4", "(2, 2)", &big)),
        vec![vec![1.5, -2.0], vec![3.25, 0.0]]
    );
}

#[test]
fn reads_float64_and_float16() {
    let f8: Vec<u8> = [0.5f64, 1e300]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(
        rows(&file("<f8", "(1, 2)", &f8)),
        vec![vec![0.5, f32::INFINITY]]
    );
    let f8_big: Vec<u8> = [0.25f64].iter().flat_map(|v| v.to_be_bytes()).collect();
    assert_eq!(rows(&file(">f8", "(1, 1)", &f8_big)), vec![vec![0.25]]);
    // 0x3C00 is 1.0 and 0xC000 is -2.0 in IEEE half precision.
    assert_eq!(
        rows(&file("<f2", "(1, 2)", &[0x00, 0x3C, 0x00, 0xC0])),
        vec![vec![1.0, -2.0]]
    );
    assert_eq!(
        rows(&file(">f2", "(1, 2)", &[0x3C, 0x00, 0xC0, 0x00])),
        vec![vec![1.0, -2.0]]
    );
}

#[test]
fn reads_the_header_numpy_writes_in_every_version() {
    for version in [(1, 0), (2, 0), (3, 0)] {
        let mut bytes = npy_header_bytes(version, 2, 1);
        bytes.extend(7.0f32.to_le_bytes());
        bytes.extend(8.0f32.to_le_bytes());
        assert_eq!(rows(&bytes), vec![vec![7.0], vec![8.0]], "{version:?}");
    }
}

#[test]
fn empty_matrix_has_no_rows() {
    assert!(rows(&file("<f4", "(0, 3)", &[])).is_empty());
}

#[test]
fn refuses_wrong_dtype_order_and_rank() {
    assert!(error(&file("<i8", "(1, 1)", &[0; 8])).contains("dtype \"<i8\" is not supported"));
    assert!(error(&file("|u1", "(1, 1)", &[0])).contains("not supported"));
    let dict = "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 1), }\n";
    let mut bytes = MAGIC.to_vec();
    bytes.extend([1, 0]);
    bytes.extend(u16::try_from(dict.len()).unwrap().to_le_bytes());
    bytes.extend(dict.as_bytes());
    bytes.extend([0; 4]);
    assert!(error(&bytes).contains("Fortran order"));
    assert!(error(&file("<f4", "(3,)", &[0; 12])).contains("1-D array"));
    assert!(error(&file("<f4", "(1, 1, 1)", &[0; 4])).contains("3-D array"));
    assert!(error(&file("<f4", "(1, 0)", &[])).contains("0 columns"));
}

#[test]
fn refuses_truncated_and_oversized_data() {
    let message = error(&file("<f4", "(3, 2)", &[0; 20]));
    assert!(
        message.contains("truncated") && message.contains("promises 3 rows"),
        "{message}"
    );
    assert!(message.contains("2 whole rows"), "{message}");
    let message = error(&file("<f4", "(1, 2)", &[0; 12]));
    assert!(message.contains("4 bytes after"), "{message}");
}

#[test]
fn truncated_data_without_a_known_length_fails_at_the_row() {
    let bytes = file("<f4", "(3, 2)", &[0; 20]);
    let mut reader = NpyReader::new(bytes.as_slice(), "v.npy".into(), None).unwrap();
    let mut row = Vec::new();
    assert!(reader.read_row(&mut row).unwrap());
    assert!(reader.read_row(&mut row).unwrap());
    let message = reader.read_row(&mut row).unwrap_err().to_string();
    assert!(
        message.contains("data ends inside row 2 of the 3"),
        "{message}"
    );
}

#[test]
fn refuses_lying_and_hostile_headers() {
    assert!(error(b"PK\x03\x04zipfile").contains("not a .npy file"));
    assert!(error(b"\x93NUM").contains("truncated"));
    assert!(error(b"\x93NUMPY\x04\x00").contains("version 4.0"));
    // Header length pointing past the end of the file.
    let mut past_end = MAGIC.to_vec();
    past_end.extend([1, 0, 0xff, 0x7f]);
    past_end.extend(b"{'descr': '<f4'");
    assert!(error(&past_end).contains("header length says 32767 bytes"));
    let mut huge = MAGIC.to_vec();
    huge.extend([2, 0, 0xff, 0xff, 0xff, 0xff]);
    assert!(error(&huge).contains("implausible"));
    // A non-ASCII header.
    let mut non_ascii = file("<f4", "(1, 1)", &[0; 4]);
    non_ascii[12] = 0xe9;
    assert!(error(&non_ascii).contains("non-ASCII byte at offset 2"));
    // Shape numbers whose product overflows.
    let message = error(&file("<f4", "(18446744073709551615, 384)", &[]));
    assert!(message.contains("overflows"), "{message}");
    let message = error(&file("<f4", "(99999999999999999999999, 2)", &[]));
    assert!(message.contains("bad header"), "{message}");
    // A shape larger than the data.
    let message = error(&file("<f4", "(1000000, 384)", &[0; 16]));
    assert!(message.contains("truncated"), "{message}");
    assert!(error(&file("<f4", "[1, 1]", &[0; 4])).contains("bad header"));
}
