//! Export back out (`vectors.npy` + `records.jsonl`) and `stats`, against a real database
//! (`embedstore stats`: the CLI crate's tests).

use embedstore::{CollectionStats, Metric, NewCollection, NewEmbedding};
use embedstore::{Ids, Ingest, IngestOptions, NpySource};
use embedstore_test_support::{Scratch, expected, npy_header, read_npy, stored};

use crate::support::{Rng, set_value, with_collection};

#[test]
fn export_round_trip_is_bit_exact_and_ordered_by_external_id() {
    let (db, collection) = with_collection("docs", 5, Metric::L2);
    let mut rng = Rng::new(11);
    // More than one keyset page (2,000 rows), ids inserted out of order, some without content,
    // values that need every bit of a float32.
    let mut items: Vec<NewEmbedding> = (0..4_500)
        .map(|index| {
            let mut vector = rng.vector(5);
            vector[0] = f32::from_bits(0x3f80_0001 + index);
            let item = NewEmbedding::new(format!("id-{:05}", (index * 7919) % 4_500), vector)
                .with_metadata(serde_json::json!({"n": index, "nested": {"tags": ["a", "ü"]}}));
            if index % 3 == 0 {
                item
            } else {
                item.with_content(format!("text \"{index}\"\n"))
            }
        })
        .collect();
    set_value(&mut items[1].vector, 1, -0.0);
    set_value(&mut items[2].vector, 2, f32::MIN_POSITIVE / 2.0);
    db.store()
        .write(|uow| uow.embeddings().insert(&collection, items))
        .unwrap();
    let scratch = Scratch::new(&db);
    let dir = scratch.path("out");
    let mut pages = Vec::new();
    let summary = db
        .store()
        .export("docs")
        .npy(&dir, &mut |done, total| pages.push((done, total)))
        .unwrap();
    assert_eq!(summary.rows, 4_500);
    assert_eq!(pages, vec![(2_000, 4_500), (4_000, 4_500), (4_500, 4_500)]);

    // The files, read back, are the collection.
    let vectors = read_npy(&summary.vectors).unwrap();
    let records: Vec<String> = std::fs::read_to_string(&summary.records)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(records.len(), vectors.len(), "one record per row");
    let ids: Vec<String> = records
        .iter()
        .map(|record| {
            let record: serde_json::Value = serde_json::from_str(record).unwrap();
            record["external_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "ordered by external_id"
    );
    assert_eq!(expected(&vectors, &records), stored(&db, &collection));

    // Ingesting the export into a fresh collection reproduces it exactly.
    let copy = db
        .store()
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new("copy", 5, Metric::L2, "test-model"))
        })
        .unwrap();
    let mut source =
        NpySource::open(&summary.vectors, &Ids::Records(summary.records.clone())).unwrap();
    Ingest::new(db.store(), "copy", IngestOptions::default())
        .run(&mut source, &mut ())
        .unwrap();
    assert_eq!(stored(&db, &copy), stored(&db, &collection));
}

#[test]
fn export_writes_numpys_exact_header_even_when_empty() {
    let (db, _) = with_collection("empty", 384, Metric::Cosine);
    let scratch = Scratch::new(&db);
    let summary = db
        .store()
        .export("empty")
        .npy(&scratch.path("out"), &mut |_, _| {})
        .unwrap();
    assert_eq!(summary.rows, 0);
    let bytes = std::fs::read(&summary.vectors).unwrap();
    assert_eq!(bytes, npy_header((1, 0), 0, 384));
    assert_eq!(std::fs::read(&summary.records).unwrap(), b"");
}

#[test]
fn export_of_an_unknown_collection_fails_and_leaves_no_files() {
    let (db, _) = with_collection("docs", 3, Metric::L2);
    let scratch = Scratch::new(&db);
    let dir = scratch.path("out");
    let error = db
        .store()
        .export("nope")
        .npy(&dir, &mut |_, _| {})
        .unwrap_err();
    assert!(error.to_string().contains("nope"), "{error}");
    assert!(!dir.join("vectors.npy").exists());
}

#[test]
fn stats_report_rows_sizes_and_last_write() {
    let (db, collection) = with_collection("docs", 3, Metric::Cosine);
    db.store()
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new("empty", 7, Metric::L2, "other-model"))
        })
        .unwrap();
    let before = chrono::Utc::now() - chrono::Duration::seconds(5);
    let items = (0..50)
        .map(|index| NewEmbedding::new(format!("e{index}"), vec![1.0, index as f32, 2.0]))
        .collect();
    db.store()
        .write(|uow| uow.embeddings().insert(&collection, items))
        .unwrap();
    let store = db.store();
    // Every collection's figures, as `embedstore stats` gathers them.
    let stats: Vec<CollectionStats> = store
        .read(|uow| uow.collections().list())
        .unwrap()
        .iter()
        .map(|collection| store.export(&collection.name).stats().unwrap())
        .collect();
    let names: Vec<&str> = stats.iter().map(|stat| stat.name.as_str()).collect();
    assert_eq!(names, vec!["docs", "empty"]);
    let docs = &stats[0];
    assert_eq!(
        (docs.rows, docs.dimension, docs.metric, docs.model.as_str()),
        (50, 3, Metric::Cosine, "test-model")
    );
    assert!(
        docs.table_bytes > docs.index_bytes && docs.index_bytes > 0,
        "{docs:?}"
    );
    assert!(docs.last_write.unwrap() > before);
    let empty = &stats[1];
    assert_eq!((empty.rows, empty.last_write), (0, None));
    let one = store.export("empty").stats().unwrap();
    assert_eq!(one, stats[1]);
    assert!(matches!(
        store.export("nope").stats(),
        Err(embedstore::Error::NotFound { .. })
    ));
}
