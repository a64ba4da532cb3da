//! The baseline: a raw Rust client, the `postgres` crate, as a careful user writes it without
//! embedstore — one dedicated connection per thread, every statement prepared once per
//! connection, pgvector's settings made once per session with `SET`, vectors sent in
//! pgvector's binary form, bulk writes as one binary `COPY`.

use std::error::Error;
use std::io::Write;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, NoTls, Statement};

use crate::baseline::binary_copy::{self, CopyRow};

/// The baseline's result type; `Send`, so a client thread can hand its error back.
pub type RawResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// A query vector as a statement parameter, in pgvector's binary form (`vector_recv`): int16
/// dimension, int16 zero, then every value as a big-endian float4.
#[derive(Debug, Clone, Copy)]
pub struct VectorParam<'a>(pub &'a [f32]);

impl ToSql for VectorParam<'_> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        let dimension = i16::try_from(self.0.len())?;
        out.extend_from_slice(&dimension.to_be_bytes());
        out.extend_from_slice(&0_i16.to_be_bytes());
        for value in self.0 {
            out.extend_from_slice(&value.to_be_bytes());
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        ty.name() == "vector"
    }

    to_sql_checked!();
}

/// Which prepared statement a baseline query uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawQuery {
    /// Exact: `ORDER BY embedding <=> $1` on the uncast column, a full scan of the partition.
    Exact,
    /// Through the HNSW index: `ORDER BY embedding::vector(N) <=> $1`.
    Ann,
    /// Through the HNSW index, also returning `metadata`.
    AnnWithMetadata,
    /// Through the HNSW index with `metadata @> $4`.
    Filtered,
}

/// One hit as the baseline reads it: id, external id, distance (and metadata when selected).
pub type RawHit = (i64, String, f64, Option<serde_json::Value>);

/// One baseline connection with its prepared statements.
pub struct RawClient {
    client: Client,
    collection_id: i32,
    k: i64,
    exact: Statement,
    ann: Statement,
    ann_metadata: Statement,
    filtered: Statement,
}

/// The baseline's statement text for `statement` at `dimension`: `$1` query vector, `$2`
/// collection id, `$3` k, `$4` the JSON the metadata must contain.
pub fn sql(statement: RawQuery, dimension: u32) -> String {
    let indexed = format!("embedding::vector({dimension}) <=> $1");
    let (distance, metadata, filter) = match statement {
        RawQuery::Exact => ("embedding <=> $1".to_owned(), "", ""),
        RawQuery::Ann => (indexed, "", ""),
        RawQuery::AnnWithMetadata => (indexed, ", metadata", ""),
        RawQuery::Filtered => (indexed, "", " AND metadata @> $4"),
    };
    format!(
        "SELECT id, external_id, {distance} AS distance{metadata} FROM embeddings \
         WHERE collection_id = $2{filter} ORDER BY {distance} LIMIT $3"
    )
}

impl RawClient {
    /// A new connection to `url`, with every statement prepared.
    pub fn connect(url: &str, collection_id: i32, dimension: u32, k: u32) -> RawResult<Self> {
        let mut client = Client::connect(url, NoTls)?;
        client.batch_execute("SET application_name = 'embedstore-bench-raw'")?;
        let exact = client.prepare(&sql(RawQuery::Exact, dimension))?;
        let ann = client.prepare(&sql(RawQuery::Ann, dimension))?;
        let ann_metadata = client.prepare(&sql(RawQuery::AnnWithMetadata, dimension))?;
        let filtered = client.prepare(&sql(RawQuery::Filtered, dimension))?;
        Ok(Self {
            client,
            collection_id,
            k: i64::from(k),
            exact,
            ann,
            ann_metadata,
            filtered,
        })
    }

    /// Sets `hnsw.ef_search` and `hnsw.iterative_scan` for the rest of the session.
    pub fn configure(&mut self, ef_search: u32, iterative_scan: &str) -> RawResult<()> {
        // Both values come from this benchmark (an integer and a fixed word), not from input.
        self.client.batch_execute(&format!(
            "SET hnsw.ef_search = {ef_search}; SET hnsw.iterative_scan = {iterative_scan}"
        ))?;
        Ok(())
    }

    /// [`nearest`](Self::nearest) inside `BEGIN READ ONLY` … `COMMIT` (each one round trip, as
    /// a unit of work sends them): what a transaction costs a raw client around the same
    /// statement.
    pub fn nearest_in_transaction(
        &mut self,
        statement: RawQuery,
        query: &[f32],
        filter: Option<&serde_json::Value>,
    ) -> RawResult<Vec<RawHit>> {
        self.client.batch_execute("BEGIN READ ONLY")?;
        let hits = self.nearest(statement, query, filter)?;
        self.client.batch_execute("COMMIT")?;
        Ok(hits)
    }

    /// The `k` nearest rows of `query` through `statement`; `filter` is `$4` of
    /// [`RawQuery::Filtered`] (ignored by the others).
    pub fn nearest(
        &mut self,
        statement: RawQuery,
        query: &[f32],
        filter: Option<&serde_json::Value>,
    ) -> RawResult<Vec<RawHit>> {
        let vector = VectorParam(query);
        let rows = match (statement, filter) {
            (RawQuery::Filtered, Some(filter)) => self.client.query(
                &self.filtered,
                &[&vector, &self.collection_id, &self.k, filter],
            )?,
            (RawQuery::Filtered, None) => return Err("a filtered query needs a filter".into()),
            (RawQuery::Exact, _) => self
                .client
                .query(&self.exact, &[&vector, &self.collection_id, &self.k])?,
            (RawQuery::Ann, _) => self
                .client
                .query(&self.ann, &[&vector, &self.collection_id, &self.k])?,
            (RawQuery::AnnWithMetadata, _) => self
                .client
                .query(&self.ann_metadata, &[&vector, &self.collection_id, &self.k])?,
        };
        let with_metadata = statement == RawQuery::AnnWithMetadata;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    if with_metadata {
                        Some(row.try_get(3)?)
                    } else {
                        None
                    },
                ))
            })
            .collect()
    }

    /// `EXPLAIN` of `statement` with these parameters (the plan a custom plan of the prepared
    /// statement gets), one line per plan line.
    pub fn explain(
        &mut self,
        statement: RawQuery,
        dimension: u32,
        query: &[f32],
        filter: Option<&serde_json::Value>,
    ) -> RawResult<String> {
        let text = format!("EXPLAIN {}", sql(statement, dimension));
        let vector = VectorParam(query);
        let rows = match (statement, filter) {
            (RawQuery::Filtered, Some(filter)) => self
                .client
                .query(&text, &[&vector, &self.collection_id, &self.k, filter])?,
            _ => self
                .client
                .query(&text, &[&vector, &self.collection_id, &self.k])?,
        };
        let lines: Vec<String> = rows
            .iter()
            .map(|row| row.try_get::<_, String>(0))
            .collect::<Result<_, _>>()?;
        Ok(lines.join("\n"))
    }
}

/// Encodes `rows` as one binary COPY stream (header, tuples, trailer) for [`copy_in`].
pub fn encode_copy(rows: &[CopyRow<'_>]) -> std::io::Result<Vec<u8>> {
    let mut out =
        Vec::with_capacity(rows.len() * (rows.first().map_or(0, |row| row.vector.len()) * 4 + 64));
    binary_copy::write_header(&mut out)?;
    for row in rows {
        binary_copy::write_row(&mut out, row)?;
    }
    binary_copy::write_trailer(&mut out)?;
    Ok(out)
}

/// Sends a pre-encoded binary COPY stream as one `COPY embeddings (…) FROM STDIN (FORMAT
/// binary)` on `client` (autocommit: one transaction) and returns the rows the server counted.
pub fn copy_in(client: &mut Client, stream: &[u8]) -> RawResult<u64> {
    copy_with(client, |out| out.write_all(stream))
}

/// One `COPY embeddings (…) FROM STDIN (FORMAT binary)` on `client` whose stream `write`
/// writes as it goes (header, rows, trailer); the rows the server counted.
pub fn copy_with(
    client: &mut Client,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> RawResult<u64> {
    let mut writer = client.copy_in(&format!(
        "COPY embeddings ({}) FROM STDIN (FORMAT binary)",
        binary_copy::COLUMNS
    ))?;
    write(&mut writer)?;
    Ok(writer.finish()?)
}

/// A plain connection for the COPY side of the insert comparison.
pub fn connect_plain(url: &str) -> RawResult<Client> {
    let mut client = Client::connect(url, NoTls)?;
    client.batch_execute("SET application_name = 'embedstore-bench-raw'")?;
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_the_baselines_own_text() {
        let ann = sql(RawQuery::Ann, 384);
        assert_eq!(
            ann,
            "SELECT id, external_id, embedding::vector(384) <=> $1 AS distance FROM embeddings \
             WHERE collection_id = $2 ORDER BY embedding::vector(384) <=> $1 LIMIT $3"
        );
        let exact = sql(RawQuery::Exact, 384);
        assert!(
            exact.contains("ORDER BY embedding <=> $1 LIMIT $3"),
            "{exact}"
        );
        assert!(!exact.contains("::vector"), "{exact}");
        assert!(sql(RawQuery::AnnWithMetadata, 8).contains("AS distance, metadata FROM"));
        assert!(
            sql(RawQuery::Filtered, 8).contains("collection_id = $2 AND metadata @> $4 ORDER BY")
        );
    }

    #[test]
    fn vectors_are_sent_in_pgvectors_binary_form() {
        let mut out = BytesMut::new();
        let vector = [1.0_f32, -2.5];
        VectorParam(&vector).to_sql(&Type::TEXT, &mut out).unwrap();
        assert_eq!(&out[..4], &[0, 2, 0, 0]);
        assert_eq!(&out[4..8], &1.0_f32.to_be_bytes());
        assert_eq!(&out[8..], &(-2.5_f32).to_be_bytes());
        assert!(!<VectorParam<'_> as ToSql>::accepts(&Type::TEXT));
    }

    #[test]
    fn copy_streams_are_framed() {
        let vector = [0.5_f32; 3];
        let row = CopyRow {
            collection_id: 7,
            external_id: "r1",
            vector: &vector,
            content: None,
            metadata_json: "{}",
        };
        let stream = encode_copy(&[row, row]).unwrap();
        assert!(stream.starts_with(binary_copy::SIGNATURE));
        assert!(stream.ends_with(&[0xff, 0xff]));
    }
}
