//! The ingest benchmark's hand-written binary COPY encoder (its ceiling) checked against a real
//! server: what it writes is read back through the library exactly as given.

use diesel::pg::CopyFormat;
use diesel::prelude::*;
use embedstore::{Collection, Metric};
use embedstore_test_support::{Rng, TestDatabase, count, with_collection};

use super as binary_copy;
use binary_copy::CopyRow;

/// The five columns the benchmark copies into (the crate's own schema module is private).
mod target {
    diesel::table! {
        use diesel::sql_types::*;
        use pgvector::sql_types::Vector;

        embeddings (collection_id, external_id) {
            collection_id -> Int4,
            external_id -> Text,
            embedding -> Vector,
            content -> Nullable<Text>,
            metadata -> Jsonb,
        }
    }
}

/// Sends `rows` as one binary COPY through a plain connection, as the benchmark's `psql` does.
fn copy(db: &TestDatabase, rows: &[CopyRow<'_>]) -> QueryResult<usize> {
    use target::embeddings::dsl::*;
    let mut conn = db.raw_connection();
    diesel::copy_from(target::embeddings::table)
        .from_raw_data(
            (collection_id, external_id, embedding, content, metadata),
            |out| {
                let io = |error| diesel::result::Error::SerializationError(Box::new(error));
                binary_copy::write_header(out).map_err(io)?;
                for row in rows {
                    binary_copy::write_row(out, row).map_err(io)?;
                }
                binary_copy::write_trailer(out).map_err(io)
            },
        )
        .with_format(CopyFormat::Binary)
        .execute(&mut conn)
}

fn stored(db: &TestDatabase, collection: &Collection, ids: &[&str]) -> Vec<embedstore::Embedding> {
    let mut found = db
        .store()
        .read(|uow| uow.embeddings().get(collection, ids))
        .unwrap();
    found.sort_by_key(|row| ids.iter().position(|id| *id == row.external_id));
    found
}

#[test]
fn hand_encoded_rows_read_back_exactly() {
    let (db, collection) = with_collection("copy-exact", 4, Metric::L2);
    let vectors = [
        [1.0_f32, -0.5, 0.0, -0.0],
        [f32::MIN_POSITIVE, 1.0e-45, f32::MAX, -f32::MAX],
        [0.1, 0.2, 0.3, 0.333_333_34],
    ];
    let metadata = [
        r#"{"lang":"de","n":1,"tags":["a","b"]}"#,
        r#"{"quote":"say \"hi\"","tab":"a\tb","nested":{"x":[1,2.5,null,true]}}"#,
        r#"{"emoji":"🦀","backslash":"C:\\docs"}"#,
    ];
    let rows = [
        CopyRow {
            collection_id: collection.id.0,
            external_id: "doc-0",
            vector: &vectors[0],
            content: Some("plain"),
            metadata_json: metadata[0],
        },
        CopyRow {
            collection_id: collection.id.0,
            external_id: "dok-ü \t\"1\"\\",
            vector: &vectors[1],
            content: Some("line one\nline\ttwo \\N \"quoted\""),
            metadata_json: metadata[1],
        },
        CopyRow {
            collection_id: collection.id.0,
            external_id: "🦀",
            vector: &vectors[2],
            content: None,
            metadata_json: metadata[2],
        },
    ];

    assert_eq!(copy(&db, &rows).unwrap(), 3);

    let ids: Vec<&str> = rows.iter().map(|row| row.external_id).collect();
    let found = stored(&db, &collection, &ids);
    assert_eq!(found.len(), 3);
    for (row, stored) in rows.iter().zip(&found) {
        assert_eq!(stored.external_id, row.external_id);
        let bits = |values: &[f32]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&stored.vector.to_vec()),
            bits(row.vector),
            "{}",
            row.external_id
        );
        assert_eq!(stored.content.as_deref(), row.content);
        let expected: serde_json::Value = serde_json::from_str(row.metadata_json).unwrap();
        assert_eq!(stored.metadata, expected);
    }
}

#[test]
fn a_benchmark_sized_stream_is_stored_whole() {
    let (db, collection) = with_collection("copy-many", 384, Metric::Cosine);
    let mut rng = Rng::new(6);
    let items: Vec<(String, Vec<f32>, String)> = (0..500)
        .map(|n| {
            (
                format!("doc-{n}"),
                rng.vector(384),
                format!(r#"{{"lang":"en","n":{n},"tags":["t{n}"]}}"#),
            )
        })
        .collect();
    let rows: Vec<CopyRow<'_>> = items
        .iter()
        .map(|(id, vector, metadata)| CopyRow {
            collection_id: collection.id.0,
            external_id: id,
            vector,
            content: Some(id),
            metadata_json: metadata,
        })
        .collect();

    assert_eq!(copy(&db, &rows).unwrap(), 500);

    assert_eq!(count(&db, &collection), 500);
    let last = stored(&db, &collection, &["doc-499"]);
    assert_eq!(last[0].vector.to_vec(), items[499].1);
    assert_eq!(last[0].metadata["tags"][0], "t499");
}

#[test]
fn a_vector_of_the_wrong_dimension_is_refused_by_the_partition() {
    let (db, collection) = with_collection("copy-dim", 4, Metric::Cosine);
    let row = CopyRow {
        collection_id: collection.id.0,
        external_id: "short",
        vector: &[1.0, 2.0, 3.0],
        content: None,
        metadata_json: "{}",
    };

    let error = copy(&db, &[row]).unwrap_err();

    let diesel::result::Error::DatabaseError(kind, info) = &error else {
        panic!("expected a database error, got {error:?}");
    };
    assert!(
        matches!(kind, diesel::result::DatabaseErrorKind::CheckViolation),
        "{kind:?}"
    );
    assert_eq!(
        info.constraint_name(),
        Some(format!("embeddings_{}_dim_4", collection.id.0).as_str())
    );
    assert_eq!(count(&db, &collection), 0);
}

#[test]
fn the_stream_names_the_columns_in_copy_order() {
    assert_eq!(
        binary_copy::COLUMNS,
        "collection_id, external_id, embedding, content, metadata"
    );
    assert_eq!(binary_copy::SIGNATURE, b"PGCOPY\n\xff\r\n\0");
}
