//! The binary `COPY` of embedding rows, encoded here rather than by diesel's `from_insertable`:
//! diesel sends every row as a `CopyData` message of its own (one `PQputCopyData` per row),
//! and PostgreSQL's `COPY` reads them one message at a time; this module buffers rows into
//! messages of [`MESSAGE_BYTES`], so the server's per-message work is paid once per many rows.
//!
//! The format is PostgreSQL's binary `COPY` (signature, flags, header extension, then per row
//! a field count and each field as a length and its `*_send` bytes, then `-1`), with pgvector's
//! `vector_send` layout (`int16` dimension, `int16` zero, big-endian `float4`s) and `jsonb`
//! version 1 (a `1` byte, then the JSON text) — the bytes diesel and pgvector write, which the
//! tests compare by storing both and reading them back.

use std::io::{BufWriter, Write};

use diesel::pg::CopyFormat;
use diesel::prelude::*;
use diesel::result::Error as DieselError;

use crate::error::Result;
use crate::models::NewEmbeddingRow;
use crate::repo::staging::{self, embedstore_staging};
use crate::schema::embeddings;
use crate::vector::VectorKind;

/// Bytes per `CopyData` message.
pub(crate) const MESSAGE_BYTES: usize = 256 * 1024;

/// PostgreSQL's binary `COPY` signature.
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// Where the rows go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CopyInto {
    /// `embeddings (collection_id, external_id, embedding, sparse, bits, content, metadata)`.
    Embeddings,
    /// The per-transaction `embedstore_staging (external_id, embedding, sparse, bits, content,
    /// metadata)`.
    Staging,
}

/// Copies `rows` into `target` with one binary `COPY`; returns the rows copied.
///
/// # Errors
/// What the `COPY` fails with (e.g. a unique violation).
pub(crate) fn copy_rows(
    conn: &mut PgConnection,
    target: CopyInto,
    rows: &[NewEmbeddingRow],
) -> Result<usize, DieselError> {
    let write = |sink: &mut dyn Write| -> Result<(), DieselError> {
        let mut out = BufWriter::with_capacity(MESSAGE_BYTES, sink);
        encode(&mut out, target, rows)
            .map_err(|error| DieselError::SerializationError(error.into()))?;
        out.flush()
            .map_err(|error| DieselError::SerializationError(error.into()))
    };
    match target {
        CopyInto::Embeddings => diesel::copy_from(embeddings::table)
            .from_raw_data(
                (
                    embeddings::collection_id,
                    embeddings::external_id,
                    embeddings::embedding,
                    embeddings::sparse,
                    embeddings::bits,
                    embeddings::content,
                    embeddings::metadata,
                ),
                write,
            )
            .with_format(CopyFormat::Binary)
            .execute(conn),
        CopyInto::Staging => diesel::copy_from(embedstore_staging::table)
            .from_raw_data(
                (
                    embedstore_staging::external_id,
                    embedstore_staging::embedding,
                    embedstore_staging::sparse,
                    embedstore_staging::bits,
                    embedstore_staging::content,
                    embedstore_staging::metadata,
                ),
                write,
            )
            .with_format(CopyFormat::Binary)
            .execute(conn),
    }
}

/// Binary `COPY` of `rows` into a fresh per-transaction staging table; the caller drops it when
/// done, so that a second write in the same transaction can stage again.
pub(crate) fn stage(conn: &mut PgConnection, rows: &[NewEmbeddingRow]) -> Result<()> {
    staging::create(conn)?;
    copy_rows(conn, CopyInto::Staging, rows)?;
    Ok(())
}

/// Writes the whole binary `COPY` stream of `rows` for `target`.
fn encode(out: &mut impl Write, target: CopyInto, rows: &[NewEmbeddingRow]) -> std::io::Result<()> {
    out.write_all(SIGNATURE)?;
    // Flags (no OIDs), then the length of the header extension (none).
    out.write_all(&0i32.to_be_bytes())?;
    out.write_all(&0i32.to_be_bytes())?;
    let mut json = Vec::new();
    for row in rows {
        encode_row(out, target, row, &mut json)?;
    }
    out.write_all(&(-1i16).to_be_bytes())
}

fn encode_row(
    out: &mut impl Write,
    target: CopyInto,
    row: &NewEmbeddingRow,
    json: &mut Vec<u8>,
) -> std::io::Result<()> {
    let fields: i16 = match target {
        CopyInto::Embeddings => 7,
        CopyInto::Staging => 6,
    };
    out.write_all(&fields.to_be_bytes())?;
    if target == CopyInto::Embeddings {
        field(out, &row.collection_id.0.to_be_bytes())?;
    }
    field(out, row.external_id.as_bytes())?;
    // One of the three vector columns (embedding, sparse, bits) holds the value, the others
    // are NULL.
    let length = i32::try_from(row.vector.send_len())
        .map_err(|_| std::io::Error::other("a vector is too long for one COPY field"))?;
    for kind in VectorKind::ALL {
        if kind == row.vector.kind() {
            out.write_all(&length.to_be_bytes())?;
            row.vector.write_send(out)?;
        } else {
            out.write_all(&(-1i32).to_be_bytes())?;
        }
    }
    match &row.content {
        Some(text) => field(out, text.as_bytes())?,
        None => out.write_all(&(-1i32).to_be_bytes())?,
    }
    json.clear();
    json.push(1);
    serde_json::to_writer(&mut *json, &row.metadata)?;
    field(out, json)
}

/// One non-NULL field: its length, then its bytes.
fn field(out: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    let length = i32::try_from(bytes.len())
        .map_err(|_| std::io::Error::other("a value is too long for one COPY field"))?;
    out.write_all(&length.to_be_bytes())?;
    out.write_all(bytes)
}
