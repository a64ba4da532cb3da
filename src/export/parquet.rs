//! Export to Parquet (feature `parquet`): one file with `external_id`, `vector`
//! (`fixed_size_list<float32>[dimension]`), `metadata` (JSON text) and `content` columns, the
//! layout [`ParquetSource`](crate::ParquetSource) reads back.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{FixedSizeListBuilder, Float32Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::export::{ExportSummary, for_each_page, write_via_partials};
use crate::ingest::error::IngestError;
use crate::repo::pages::ExportRow;
use crate::store::Store;

/// Writes `dir/embeddings.parquet` ([`Export::parquet`](crate::Export::parquet)).
pub(super) fn parquet(
    store: &Store,
    collection: &str,
    dir: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ExportSummary, IngestError> {
    let (rows, [path]) = write_via_partials(dir, ["embeddings.parquet"], |[partial]| {
        let name = partial.display().to_string();
        let encode = |error: parquet::errors::ParquetError| {
            IngestError::format(&name, format!("cannot write Parquet: {error}"))
        };
        let (writer, rows) = for_each_page(
            store,
            collection,
            |collection, _| {
                super::dense_export(collection, "embeddings.parquet")?;
                let dimension = i32::try_from(collection.dimension).unwrap_or(i32::MAX);
                let schema = Arc::new(Schema::new(vec![
                    Field::new("external_id", DataType::Utf8, false),
                    Field::new(
                        "vector",
                        DataType::FixedSizeList(
                            Arc::new(Field::new("item", DataType::Float32, false)),
                            dimension,
                        ),
                        false,
                    ),
                    Field::new("metadata", DataType::Utf8, false),
                    Field::new("content", DataType::Utf8, true),
                ]));
                let file = File::create(partial).map_err(|error| IngestError::io(&name, error))?;
                let properties = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .build();
                let writer =
                    ArrowWriter::try_new(file, schema.clone(), Some(properties)).map_err(encode)?;
                Ok((writer, schema, dimension))
            },
            |(writer, schema, dimension), page| {
                let batch = record_batch(schema.clone(), *dimension, page).map_err(|error| {
                    IngestError::format(&name, format!("cannot encode: {error}"))
                })?;
                writer.write(&batch).map_err(encode)?;
                writer.flush().map_err(encode)
            },
            progress,
        )?;
        let (writer, _, _) = writer;
        writer.close().map_err(encode)?;
        Ok(rows)
    })?;
    Ok(ExportSummary {
        rows,
        vectors: path.clone(),
        records: path,
    })
}

fn record_batch(
    schema: Arc<Schema>,
    dimension: i32,
    page: &[ExportRow],
) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let mut ids = StringBuilder::new();
    let mut vectors = FixedSizeListBuilder::new(
        Float32Builder::with_capacity(page.len() * usize::try_from(dimension).unwrap_or(0)),
        dimension,
    )
    .with_field(Arc::new(Field::new("item", DataType::Float32, false)));
    let mut metadata = StringBuilder::new();
    let mut content = StringBuilder::new();
    for row in page {
        ids.append_value(&row.external_id);
        vectors.values().append_slice(&row.vector.values());
        vectors.append(true);
        metadata.append_value(row.metadata.to_string());
        content.append_option(row.content.as_deref());
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(ids.finish()),
        Arc::new(vectors.finish()),
        Arc::new(metadata.finish()),
        Arc::new(content.finish()),
    ];
    RecordBatch::try_new(schema, columns)
}
