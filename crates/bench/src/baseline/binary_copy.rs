//! PostgreSQL's binary `COPY` format, written by hand for the ingest benchmark's ceiling.

use std::io::{self, Write};

/// The 11-byte signature that opens every binary COPY stream.
pub const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// The column list the tuples are written for.
pub const COLUMNS: &str = "collection_id, external_id, embedding, content, metadata";

/// Fields per tuple.
const FIELD_COUNT: i16 = 5;
/// The only `jsonb` binary format version PostgreSQL knows.
const JSONB_VERSION: u8 = 1;

/// One row, borrowed: everything the encoder needs and nothing more.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CopyRow<'a> {
    /// `embeddings.collection_id`.
    pub collection_id: i32,
    /// `embeddings.external_id`.
    pub external_id: &'a str,
    /// `embeddings.embedding`.
    pub vector: &'a [f32],
    /// `embeddings.content`; `None` is written as NULL.
    pub content: Option<&'a str>,
    /// `embeddings.metadata`, as JSON text.
    pub metadata_json: &'a str,
}

/// Writes the stream's header: signature, flags (no OIDs), no header extension.
pub fn write_header(out: &mut (impl Write + ?Sized)) -> io::Result<()> {
    out.write_all(SIGNATURE)?;
    out.write_all(&0_i32.to_be_bytes())?;
    out.write_all(&0_i32.to_be_bytes())
}

/// Writes one tuple.
pub fn write_row(out: &mut (impl Write + ?Sized), row: &CopyRow<'_>) -> io::Result<()> {
    out.write_all(&FIELD_COUNT.to_be_bytes())?;
    write_field(out, &row.collection_id.to_be_bytes())?;
    write_field(out, row.external_id.as_bytes())?;
    write_vector(out, row.vector)?;
    match row.content {
        Some(content) => write_field(out, content.as_bytes())?,
        None => out.write_all(&(-1_i32).to_be_bytes())?,
    }
    write_length(out, row.metadata_json.len() + 1)?;
    out.write_all(&[JSONB_VERSION])?;
    out.write_all(row.metadata_json.as_bytes())
}

/// Writes the trailer that ends the stream.
pub fn write_trailer(out: &mut (impl Write + ?Sized)) -> io::Result<()> {
    out.write_all(&(-1_i16).to_be_bytes())
}

/// A length-prefixed field.
fn write_field(out: &mut (impl Write + ?Sized), bytes: &[u8]) -> io::Result<()> {
    write_length(out, bytes.len())?;
    out.write_all(bytes)
}

/// pgvector's binary form, length-prefixed.
fn write_vector(out: &mut (impl Write + ?Sized), vector: &[f32]) -> io::Result<()> {
    let dimension = i16::try_from(vector.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a vector of {} values does not fit pgvector", vector.len()),
        )
    })?;
    write_length(out, 4 + 4 * vector.len())?;
    out.write_all(&dimension.to_be_bytes())?;
    out.write_all(&0_i16.to_be_bytes())?;
    for value in vector {
        out.write_all(&value.to_be_bytes())?;
    }
    Ok(())
}

fn write_length(out: &mut (impl Write + ?Sized), length: usize) -> io::Result<()> {
    let length = i32::try_from(length).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a field of {length} bytes is too long for COPY"),
        )
    })?;
    out.write_all(&length.to_be_bytes())
}

#[cfg(test)]
mod server_tests;

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal reader of what this module writes, to check the framing byte by byte.
    struct Reader<'a>(&'a [u8]);

    impl Reader<'_> {
        fn take(&mut self, count: usize) -> &[u8] {
            let (head, tail) = self.0.split_at(count);
            self.0 = tail;
            head
        }
        fn i16(&mut self) -> i16 {
            i16::from_be_bytes(self.take(2).try_into().unwrap())
        }
        fn i32(&mut self) -> i32 {
            i32::from_be_bytes(self.take(4).try_into().unwrap())
        }
        fn field(&mut self) -> Option<Vec<u8>> {
            let length = self.i32();
            (length >= 0).then(|| self.take(length as usize).to_vec())
        }
    }

    fn encode(rows: &[CopyRow<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        write_header(&mut out).unwrap();
        for row in rows {
            write_row(&mut out, row).unwrap();
        }
        write_trailer(&mut out).unwrap();
        out
    }

    #[test]
    fn header_is_signature_flags_and_empty_extension() {
        let bytes = encode(&[]);
        assert_eq!(&bytes[..11], b"PGCOPY\n\xff\r\n\0");
        assert_eq!(&bytes[11..19], &[0; 8]);
        assert_eq!(&bytes[19..], &[0xff, 0xff], "the trailer is int16 -1");
    }

    #[test]
    fn a_row_decodes_back_field_by_field() {
        let vector = [1.0_f32, -0.5, 0.0, f32::MIN_POSITIVE];
        let row = CopyRow {
            collection_id: 0x0102_0304,
            external_id: "doc-ü\t1",
            vector: &vector,
            content: Some("line\nwith \\ and \"quotes\""),
            metadata_json: r#"{"lang":"de","tags":["a"]}"#,
        };
        let bytes = encode(&[row]);
        let mut reader = Reader(&bytes[19..]);
        assert_eq!(reader.i16(), 5);
        assert_eq!(reader.field().unwrap(), [1, 2, 3, 4]);
        assert_eq!(reader.field().unwrap(), "doc-ü\t1".as_bytes());
        let embedding = reader.field().unwrap();
        assert_eq!(embedding.len(), 4 + 4 * vector.len());
        assert_eq!(&embedding[..4], &[0, 4, 0, 0], "dimension 4, unused 0");
        let values: Vec<f32> = embedding[4..]
            .chunks(4)
            .map(|chunk| f32::from_be_bytes(chunk.try_into().unwrap()))
            .collect();
        assert_eq!(values, vector);
        assert_eq!(reader.field().unwrap(), row.content.unwrap().as_bytes());
        let metadata = reader.field().unwrap();
        assert_eq!(metadata[0], 1, "jsonb version byte");
        assert_eq!(&metadata[1..], row.metadata_json.as_bytes());
        assert_eq!(reader.i16(), -1);
        assert!(reader.0.is_empty());
    }

    #[test]
    fn missing_content_is_a_null_field() {
        let row = CopyRow {
            collection_id: 1,
            external_id: "a",
            vector: &[1.0],
            content: None,
            metadata_json: "{}",
        };
        let bytes = encode(&[row]);
        let mut reader = Reader(&bytes[19..]);
        reader.i16();
        reader.field();
        reader.field();
        reader.field();
        assert_eq!(reader.field(), None);
        assert_eq!(reader.field().unwrap(), b"\x01{}");
    }

    #[test]
    fn oversized_vector_is_refused() {
        let vector = vec![0.5_f32; 40_000];
        let row = CopyRow {
            collection_id: 1,
            external_id: "a",
            vector: &vector,
            content: None,
            metadata_json: "{}",
        };
        let error = write_row(&mut Vec::new(), &row).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert!(error.to_string().contains("40000 values"), "{error}");
    }
}
