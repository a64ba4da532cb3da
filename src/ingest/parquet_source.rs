//! Parquet input (feature `parquet`), read with the `parquet`/`arrow` crates a record batch at a
//! time: a vector column (`fixed_size_list<float>` or `list<float>`, float16/32/64) plus
//! optional `external_id` (or `id`), `metadata` (JSON text) and `content` columns.

use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float16Type, Float32Type, Float64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use crate::dto::NewEmbedding;
use crate::ingest::error::IngestError;
use crate::ingest::source::{RowSource, SourceRow};

/// Rows per Arrow record batch read from the file (memory stays bounded by this and the
/// ingest batch).
const READ_BATCH_ROWS: usize = 1024;

/// A Parquet file of embeddings.
#[derive(Debug)]
pub struct ParquetSource {
    file: String,
    reader: ParquetRecordBatchReader,
    total_rows: u64,
    dimension: usize,
    columns: Columns,
    prefix: Option<String>,
    pending: Option<RecordBatch>,
    pending_row: usize,
    next_row: u64,
}

#[derive(Debug, Clone)]
struct Columns {
    vector: String,
    id: Option<String>,
    metadata: bool,
    content: bool,
}

impl ParquetSource {
    /// Opens `path`, checks its schema, and finds the dimension (from a fixed-size list's
    /// type, or the first row of a variable-length list). Ids come from the `external_id` or
    /// `id` column, or else from `id_prefix` + the row number.
    ///
    /// # Errors
    /// [`IngestError::Format`] for an unreadable file, a missing or mistyped vector column, an
    /// unknown column, or no ids; [`IngestError::Io`] when the file cannot be opened.
    pub fn open(
        path: &Path,
        vector_column: &str,
        id_prefix: Option<&str>,
    ) -> Result<Self, IngestError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|error| IngestError::io(&name, error))?;
        let format = |error: parquet::errors::ParquetError| {
            IngestError::format(&name, format!("not a readable Parquet file: {error}"))
        };
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(format)?;
        let total_rows = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
        let schema = builder.schema().clone();
        let mut columns = Columns {
            vector: vector_column.to_owned(),
            id: None,
            metadata: false,
            content: false,
        };
        let mut fixed_dimension = None;
        let mut seen_vector = false;
        for field in schema.fields() {
            match field.name().as_str() {
                column if column == vector_column => {
                    seen_vector = true;
                    fixed_dimension = vector_type(field.data_type()).map_err(|reason| {
                        IngestError::format(&name, format!("column {column:?}: {reason}"))
                    })?;
                }
                column @ ("external_id" | "id") => {
                    if let Some(other) = &columns.id {
                        return Err(IngestError::format(
                            &name,
                            format!("both {other:?} and {column:?} columns; keep one"),
                        ));
                    }
                    string_type(field.data_type(), &name, column)?;
                    columns.id = Some(column.to_owned());
                }
                "metadata" => {
                    string_type(field.data_type(), &name, "metadata")?;
                    columns.metadata = true;
                }
                "content" => {
                    string_type(field.data_type(), &name, "content")?;
                    columns.content = true;
                }
                other => {
                    return Err(IngestError::format(
                        &name,
                        format!(
                            "unknown column {other:?} (expected {vector_column:?}, external_id or id, metadata, content; --vector-column names the vectors)"
                        ),
                    ));
                }
            }
        }
        if !seen_vector {
            return Err(IngestError::format(
                &name,
                format!("no column {vector_column:?} (--vector-column names the vectors)"),
            ));
        }
        let prefix = match (&columns.id, id_prefix) {
            (Some(_), Some(_)) => {
                return Err(IngestError::format(
                    &name,
                    "the file has an id column; --id-prefix is only for files without one",
                ));
            }
            (Some(_), None) => None,
            (None, Some(prefix)) => Some(prefix.to_owned()),
            (None, None) => {
                return Err(IngestError::format(
                    &name,
                    "no external_id or id column; give --id-prefix to number the rows",
                ));
            }
        };
        let mut reader = builder
            .with_batch_size(READ_BATCH_ROWS)
            .build()
            .map_err(format)?;
        let pending = reader
            .next()
            .transpose()
            .map_err(|error| IngestError::format(&name, format!("cannot read: {error}")))?;
        let dimension = match fixed_dimension {
            Some(dimension) => dimension,
            None => pending
                .as_ref()
                .and_then(|batch| first_length(batch, vector_column))
                .unwrap_or(0),
        };
        Ok(Self {
            file: name,
            reader,
            total_rows,
            dimension,
            columns,
            prefix,
            pending,
            pending_row: 0,
            next_row: 0,
        })
    }

    fn row(&self, batch: &RecordBatch, index: usize) -> SourceRow {
        let row = self.next_row;
        let mut problems = Vec::new();
        let vector = match batch.column_by_name(&self.columns.vector) {
            Some(column) => match list_values(column, index) {
                Ok(values) => values,
                Err(reason) => {
                    problems.push(("vector".to_owned(), reason));
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        let external_id = match (&self.columns.id, &self.prefix) {
            (Some(column), _) => match string_at(batch, column, index) {
                Some(Some(id)) => id,
                _ => {
                    problems.push(("external_id".to_owned(), "is null".to_owned()));
                    String::new()
                }
            },
            (None, Some(prefix)) => format!("{prefix}{row}"),
            (None, None) => String::new(),
        };
        let metadata = if self.columns.metadata {
            match string_at(batch, "metadata", index).flatten() {
                None => serde_json::json!({}),
                Some(text) => match serde_json::from_str(&text) {
                    Ok(value) => value,
                    Err(error) => {
                        problems.push(("metadata".to_owned(), format!("not JSON: {error}")));
                        serde_json::Value::Null
                    }
                },
            }
        } else {
            serde_json::json!({})
        };
        let content = if self.columns.content {
            string_at(batch, "content", index).flatten()
        } else {
            None
        };
        let outcome = if problems.is_empty() {
            Ok(NewEmbedding {
                external_id,
                vector: vector.into(),
                content,
                metadata,
            })
        } else {
            Err(problems)
        };
        SourceRow {
            row,
            line: None,
            outcome,
        }
    }
}

impl RowSource for ParquetSource {
    fn describe(&self) -> String {
        self.file.clone()
    }

    fn total_rows(&self) -> u64 {
        self.total_rows
    }

    fn dimension(&self) -> Option<usize> {
        Some(self.dimension)
    }

    fn next_rows(&mut self, max: usize, out: &mut Vec<SourceRow>) -> Result<(), IngestError> {
        let mut added = 0;
        while added < max {
            let Some(batch) = self.pending.take() else {
                return Ok(());
            };
            if self.pending_row >= batch.num_rows() {
                self.pending = self.reader.next().transpose().map_err(|error| {
                    IngestError::format(
                        &self.file,
                        format!("cannot read after row {}: {error}", self.next_row),
                    )
                })?;
                self.pending_row = 0;
                continue;
            }
            out.push(self.row(&batch, self.pending_row));
            self.pending_row += 1;
            self.next_row += 1;
            added += 1;
            self.pending = Some(batch);
        }
        Ok(())
    }
}

/// `Some(dimension)` for a fixed-size list of floats, `None` for a variable list of floats.
fn vector_type(data_type: &DataType) -> Result<Option<usize>, String> {
    let (item, fixed) = match data_type {
        DataType::FixedSizeList(item, size) => (item, usize::try_from(*size).ok()),
        DataType::List(item) | DataType::LargeList(item) => (item, None),
        other => return Err(format!("is {other}, expected a list of floats")),
    };
    match item.data_type() {
        DataType::Float16 | DataType::Float32 | DataType::Float64 => Ok(fixed),
        other => Err(format!("holds {other}, expected float16/32/64")),
    }
}

fn string_type(data_type: &DataType, file: &str, column: &str) -> Result<(), IngestError> {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Ok(()),
        other => Err(IngestError::format(
            file,
            format!("column {column:?} is {other}, expected a string (metadata as JSON text)"),
        )),
    }
}

fn first_length(batch: &RecordBatch, column: &str) -> Option<usize> {
    let column = batch.column_by_name(column)?;
    (0..column.len()).find_map(|index| list_values(column, index).ok().map(|values| values.len()))
}

/// The floats of row `index` of a list column, as f32.
fn list_values(column: &ArrayRef, index: usize) -> Result<Vec<f32>, String> {
    if column.is_null(index) {
        return Err("is null".to_owned());
    }
    let values = match column.data_type() {
        DataType::FixedSizeList(..) => column.as_fixed_size_list().value(index),
        DataType::List(_) => column.as_list::<i32>().value(index),
        DataType::LargeList(_) => column.as_list::<i64>().value(index),
        other => return Err(format!("is {other}")),
    };
    if values.null_count() > 0 {
        return Err("holds null values".to_owned());
    }
    Ok(match values.data_type() {
        DataType::Float32 => values.as_primitive::<Float32Type>().values().to_vec(),
        #[expect(
            clippy::cast_possible_truncation,
            reason = "float64 input is stored as float32"
        )]
        DataType::Float64 => values
            .as_primitive::<Float64Type>()
            .values()
            .iter()
            .map(|value| *value as f32)
            .collect(),
        DataType::Float16 => values
            .as_primitive::<Float16Type>()
            .values()
            .iter()
            .map(|value| value.to_f32())
            .collect(),
        other => return Err(format!("holds {other}")),
    })
}

/// Row `index` of a string column: `None` when the column is missing, `Some(None)` for null.
fn string_at(batch: &RecordBatch, column: &str, index: usize) -> Option<Option<String>> {
    let column = batch.column_by_name(column)?;
    if column.is_null(index) {
        return Some(None);
    }
    let text = match column.data_type() {
        DataType::Utf8 => column.as_string::<i32>().value(index),
        DataType::LargeUtf8 => column.as_string::<i64>().value(index),
        DataType::Utf8View => column.as_string_view().value(index),
        _ => return Some(None),
    };
    Some(Some(text.to_owned()))
}
