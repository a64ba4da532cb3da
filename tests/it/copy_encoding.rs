//! The library encodes its binary COPY by hand (`src/repo/copy.rs`); what it stores must be
//! exactly what diesel's own `from_insertable` COPY stores for the same rows, through every
//! write path (insert, all-new upsert, staged upsert), and a stream larger than one COPY
//! message must arrive whole.

use diesel::prelude::*;
use embedstore::{Collection, Metric, NewEmbedding};
use embedstore_test_support::TestDatabase;
use serde_json::json;

use crate::support::{Rng, items, set_value, with_collection};

/// The columns diesel's reference COPY writes (the crate's own schema module is private).
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

#[derive(Insertable)]
#[diesel(table_name = target::embeddings, treat_none_as_default_value = false)]
struct ReferenceRow {
    collection_id: i32,
    external_id: String,
    embedding: pgvector::Vector,
    content: Option<String>,
    metadata: serde_json::Value,
}

/// The same items through diesel's `from_insertable` COPY (one message per row).
fn reference_copy(db: &TestDatabase, collection: &Collection, items: &[NewEmbedding]) {
    let rows: Vec<ReferenceRow> = items
        .iter()
        .map(|item| ReferenceRow {
            collection_id: collection.id.0,
            external_id: item.external_id.clone(),
            embedding: pgvector::Vector::from(item.vector.to_vec()),
            content: item.content.clone(),
            metadata: item.metadata.clone(),
        })
        .collect();
    let mut conn = db.raw_connection();
    let copied = diesel::copy_from(target::embeddings::table)
        .from_insertable(&rows)
        .execute(&mut conn)
        .unwrap();
    assert_eq!(copied, items.len());
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Differences {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    missing: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    different: i64,
}

/// Rows of `ours` absent from `reference` (by external_id), and rows whose stored bytes
/// differ: the vector as `vector_send` gives it (so -0.0 and 0.0 differ), the content, and
/// the metadata as `jsonb` text.
fn differences(db: &TestDatabase, ours: &Collection, reference: &Collection) -> Differences {
    let mut conn = db.raw_connection();
    diesel::sql_query(
        "SELECT count(*) FILTER (WHERE r.external_id IS NULL) AS missing, \
                count(*) FILTER (WHERE r.external_id IS NOT NULL AND ( \
                    vector_send(o.embedding) <> vector_send(r.embedding) \
                    OR o.content IS DISTINCT FROM r.content \
                    OR o.metadata::text <> r.metadata::text)) AS different \
           FROM embeddings o \
           LEFT JOIN embeddings r ON r.collection_id = $2 AND r.external_id = o.external_id \
          WHERE o.collection_id = $1",
    )
    .bind::<diesel::sql_types::Integer, _>(ours.id.0)
    .bind::<diesel::sql_types::Integer, _>(reference.id.0)
    .get_result(&mut conn)
    .unwrap()
}

fn tricky_items() -> Vec<NewEmbedding> {
    let vectors: [[f32; 4]; 5] = [
        [1.0, -0.5, 0.0, -0.0],
        // The largest magnitudes validation lets in (a length of at most MAX_VECTOR_NORM).
        [f32::MIN_POSITIVE, 1.0e-45, 7.0e17, -7.0e17],
        [0.1, 0.2, 0.3, 0.333_333_34],
        [-1.0e-38, 7.0, -7.0, 9.999_999e17],
        [0.5; 4],
    ];
    let texts = [
        Some("plain".to_owned()),
        Some("line one\nline\ttwo \\N \"quoted\" \u{7f} \u{1}".to_owned()),
        None,
        Some(String::new()),
        Some("🦀 ü ß 中文 \r\n".repeat(100)),
    ];
    let metadata = [
        json!({}),
        json!({"quote": "say \"hi\"", "tab": "a\tb", "nested": {"x": [1, 2.5, null, true]}}),
        json!({"emoji": "🦀", "backslash": "C:\\docs", "control": "\u{1}\u{1f}"}),
        json!({"big": u64::MAX, "neg": i64::MIN, "tiny": 5e-324, "huge": 1.7976931348623157e308}),
        json!({"deep": {"a": {"b": {"c": [[[]], {}]}}}, "": "empty key"}),
    ];
    let ids = [
        "doc-0".to_owned(),
        "dok-ü \t\"1\"\\".to_owned(),
        "🦀".to_owned(),
        "x".repeat(512),
        "a b".to_owned(),
    ];
    (0..5)
        .map(|n| NewEmbedding {
            external_id: ids[n].clone(),
            vector: vectors[n].to_vec().into(),
            content: texts[n].clone(),
            metadata: metadata[n].clone(),
        })
        .collect()
}

fn collection(db: &TestDatabase, name: &str, dimension: u32) -> Collection {
    db.store()
        .write(|uow| {
            uow.collections().create(embedstore::NewCollection::new(
                name,
                dimension,
                Metric::L2,
                "test-model",
            ))
        })
        .unwrap()
}

#[test]
fn every_write_path_stores_what_diesels_own_copy_stores() {
    let (db, inserted) = with_collection("ours-insert", 4, Metric::L2);
    let upserted = collection(&db, "ours-upsert", 4);
    let staged = collection(&db, "ours-staged", 4);
    let reference = collection(&db, "reference", 4);
    let items = tricky_items();
    reference_copy(&db, &reference, &items);
    let store = db.store();

    // Insert: the direct COPY.
    let summary = store
        .write(|uow| uow.embeddings().insert(&inserted, items.clone()))
        .unwrap();
    assert_eq!(summary.inserted, 5);
    // Upsert into an empty collection: the direct COPY after the compare.
    let summary = store
        .write(|uow| uow.embeddings().upsert(&upserted, items.clone()))
        .unwrap();
    assert_eq!(summary.inserted, 5);
    // Upsert over changed rows: every row through the staging table.
    let stale: Vec<NewEmbedding> = items
        .iter()
        .map(|item| NewEmbedding::new(item.external_id.clone(), vec![9.0; 4]))
        .collect();
    store
        .write(|uow| uow.embeddings().insert(&staged, stale))
        .unwrap();
    let summary = store
        .write(|uow| uow.embeddings().upsert(&staged, items.clone()))
        .unwrap();
    assert_eq!((summary.inserted, summary.updated), (0, 5));

    for ours in [&inserted, &upserted, &staged] {
        assert_eq!(
            differences(&db, ours, &reference),
            Differences {
                missing: 0,
                different: 0
            },
            "{}",
            ours.name
        );
    }
    // The comparison can fail: a collection differing in one vector's sign of zero.
    let signed = collection(&db, "signed-zero", 4);
    let mut flipped = items.clone();
    set_value(&mut flipped[0].vector, 2, -0.0);
    store
        .write(|uow| uow.embeddings().insert(&signed, flipped))
        .unwrap();
    assert_eq!(differences(&db, &signed, &reference).different, 1);
}

#[test]
fn a_batch_of_many_copy_messages_arrives_whole() {
    // 1,500 rows × 1,536 dimensions ≈ 9 MB: dozens of 256 KiB messages, rows split across them.
    let (db, ours) = with_collection("ours-large", 1536, Metric::Cosine);
    let reference = collection(&db, "reference-large", 1536);
    let mut rng = Rng::new(41);
    let items = items(&mut rng, 1500, 1536);
    reference_copy(&db, &reference, &items);
    let summary = db
        .store()
        .write(|uow| uow.embeddings().insert(&ours, items.clone()))
        .unwrap();
    assert_eq!(summary.inserted, 1500);
    assert_eq!(
        differences(&db, &ours, &reference),
        Differences {
            missing: 0,
            different: 0
        }
    );
}
