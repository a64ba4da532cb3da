use embedstore::{Error, Metric, NewEmbedding, WriteSummary};
use serde_json::json;

use crate::support::{Rng, count, items, with_collection, with_items};

#[test]
fn inserted_embeddings_read_back_exactly() {
    let (db, collection) = with_collection("exact", 5, Metric::L2);
    let mut rng = Rng::new(1);
    let batch = items(&mut rng, 50, 5);
    let summary = db
        .store()
        .write(|uow| uow.embeddings().insert(&collection, batch.clone()))
        .unwrap();
    assert_eq!(
        summary,
        WriteSummary {
            received: 50,
            inserted: 50,
            ..WriteSummary::default()
        }
    );
    let wanted = ["item-42", "missing", "item-7"];
    let found = db
        .store()
        .read(|uow| uow.embeddings().get(&collection, &wanted))
        .unwrap();
    let ids: Vec<&str> = found.iter().map(|row| row.external_id.as_str()).collect();
    assert_eq!(
        ids,
        ["item-42", "item-7"],
        "asked order, missing ids left out"
    );
    assert_eq!(found[0].vector.to_vec(), batch[42].vector.to_vec());
    assert_eq!(found[0].content.as_deref(), Some("content 42"));
    assert_eq!(found[0].metadata, json!({"n": 42}));
    assert_eq!(found[1].collection_id, collection.id);
}

#[test]
fn inserting_an_existing_external_id_is_a_conflict_and_writes_nothing() {
    let (db, collection) = with_collection("conflicts", 2, Metric::L2);
    db.store()
        .write(|uow| {
            uow.embeddings().insert(
                &collection,
                vec![NewEmbedding::new("taken", vec![1.0, 1.0])],
            )
        })
        .unwrap();
    let error = db
        .store()
        .write(|uow| {
            uow.embeddings().insert(
                &collection,
                vec![
                    NewEmbedding::new("fresh", vec![2.0, 2.0]),
                    NewEmbedding::new("taken", vec![3.0, 3.0]),
                ],
            )
        })
        .unwrap_err();
    assert!(matches!(error, Error::Conflict { .. }), "{error:?}");
    assert!(error.to_string().contains("taken"), "{error}");
    assert_eq!(count(&db, &collection), 1);
}

#[test]
fn upserting_the_same_batch_twice_is_idempotent() {
    let (db, collection) = with_collection("idempotent", 4, Metric::Cosine);
    let mut rng = Rng::new(2);
    let batch = items(&mut rng, 200, 4);
    let first = db
        .store()
        .write(|uow| uow.embeddings().upsert(&collection, batch.clone()))
        .unwrap();
    assert_eq!(
        (first.inserted, first.updated, first.unchanged),
        (200, 0, 0)
    );
    let before = db
        .store()
        .read(|uow| uow.embeddings().get(&collection, &["item-3"]))
        .unwrap();
    let second = db
        .store()
        .write(|uow| uow.embeddings().upsert(&collection, batch))
        .unwrap();
    assert_eq!(
        (second.inserted, second.updated, second.unchanged),
        (0, 0, 200)
    );
    let after = db
        .store()
        .read(|uow| uow.embeddings().get(&collection, &["item-3"]))
        .unwrap();
    assert_eq!(
        before, after,
        "an unchanged row is not rewritten (same updated_at)"
    );
    assert_eq!(count(&db, &collection), 200);
}

#[test]
fn upsert_updates_changed_rows_and_inserts_new_ones() {
    let (db, collection) = with_collection("changes", 2, Metric::L2);
    db.store()
        .write(|uow| {
            uow.embeddings().insert(
                &collection,
                vec![
                    NewEmbedding::new("a", vec![1.0, 0.0]),
                    NewEmbedding::new("b", vec![0.0, 1.0]),
                ],
            )
        })
        .unwrap();
    let summary = db
        .store()
        .write(|uow| {
            uow.embeddings().upsert(
                &collection,
                vec![
                    NewEmbedding::new("a", vec![1.0, 0.0]).with_metadata(json!({"v": 2})),
                    NewEmbedding::new("b", vec![0.0, 1.0]),
                    NewEmbedding::new("c", vec![1.0, 1.0]).with_content("new"),
                ],
            )
        })
        .unwrap();
    assert_eq!(
        (summary.inserted, summary.updated, summary.unchanged),
        (1, 1, 1)
    );
    let rows = db
        .store()
        .read(|uow| uow.embeddings().get(&collection, &["a", "c"]))
        .unwrap();
    assert_eq!(rows[0].metadata, json!({"v": 2}));
    assert!(
        rows[0].updated_at > rows[0].created_at,
        "updated_at moves on update"
    );
    assert_eq!(rows[1].content.as_deref(), Some("new"));
}

#[test]
fn duplicates_inside_an_upsert_batch_resolve_to_the_last_occurrence() {
    let (db, collection) = with_collection("dupes", 2, Metric::L2);
    let summary = db
        .store()
        .write(|uow| {
            uow.embeddings().upsert(
                &collection,
                vec![
                    NewEmbedding::new("x", vec![1.0, 1.0]).with_content("first"),
                    NewEmbedding::new("y", vec![2.0, 2.0]),
                    NewEmbedding::new("x", vec![3.0, 3.0]).with_content("last"),
                ],
            )
        })
        .unwrap();
    assert_eq!(
        (
            summary.received,
            summary.duplicates_dropped,
            summary.inserted
        ),
        (3, 1, 2)
    );
    let rows = db
        .store()
        .read(|uow| uow.embeddings().get(&collection, &["x"]))
        .unwrap();
    assert_eq!(rows[0].content.as_deref(), Some("last"));
    assert_eq!(rows[0].vector.to_vec(), vec![3.0, 3.0]);
}

#[test]
fn two_upserts_in_one_unit_of_work_both_apply() {
    let (db, collection) = with_collection("twice", 2, Metric::L2);
    db.store()
        .write(|uow| {
            uow.embeddings()
                .upsert(&collection, vec![NewEmbedding::new("a", vec![1.0, 1.0])])?;
            uow.embeddings()
                .upsert(&collection, vec![NewEmbedding::new("b", vec![2.0, 2.0])])
        })
        .unwrap();
    assert_eq!(count(&db, &collection), 2);
}

#[test]
fn existing_lists_the_held_ids_in_the_order_asked() {
    let (db, collection) = with_items("present", 3, Metric::L2, 10, 6);
    let found = db
        .store()
        .read(|uow| {
            uow.embeddings()
                .existing(&collection, &["item-9", "nope", "item-0"])
        })
        .unwrap();
    assert_eq!(found, ["item-9", "item-0"]);
}

#[test]
fn deleting_by_external_id_counts_what_existed() {
    let (db, collection) = with_items("deletes", 3, Metric::L2, 10, 4);
    let deleted = db
        .store()
        .write(|uow| {
            uow.embeddings()
                .delete(&collection, &["item-1", "item-2", "nope"])
        })
        .unwrap();
    assert_eq!(deleted, 2);
    assert_eq!(count(&db, &collection), 8);
}

#[test]
fn empty_batches_are_no_ops() {
    let (db, collection) = with_collection("empty", 3, Metric::L2);
    let inserted = db
        .store()
        .write(|uow| uow.embeddings().insert(&collection, Vec::new()))
        .unwrap();
    let upserted = db
        .store()
        .write(|uow| uow.embeddings().upsert(&collection, Vec::new()))
        .unwrap();
    assert_eq!(
        (inserted, upserted),
        (WriteSummary::default(), WriteSummary::default())
    );
}

#[test]
fn large_batches_never_hit_the_bind_parameter_limit() {
    // 70,000 rows x 5 columns would be 350,000 bind parameters as one INSERT.
    let (db, collection) = with_collection("large", 2, Metric::L2);
    let mut rng = Rng::new(9);
    let batch = items(&mut rng, 70_000, 2);
    let summary = db
        .store()
        .write(|uow| uow.embeddings().upsert(&collection, batch))
        .unwrap();
    assert_eq!(summary.inserted, 70_000);
    let ids: Vec<String> = (0..70_000).map(|index| format!("item-{index}")).collect();
    let found = db
        .store()
        .read(|uow| uow.embeddings().get(&collection, &ids))
        .unwrap();
    assert_eq!(found.len(), 70_000);
    let deleted = db
        .store()
        .write(|uow| uow.embeddings().delete(&collection, &ids))
        .unwrap();
    assert_eq!(deleted, 70_000);
}

#[test]
fn concurrent_upserts_of_overlapping_ids_never_duplicate_rows() {
    let (db, collection) = with_collection("concurrent", 4, Metric::L2);
    std::thread::scope(|scope| {
        for worker in 0..4u64 {
            let (store, collection) = (db.store().clone(), collection.clone());
            scope.spawn(move || {
                let mut rng = Rng::new(worker);
                for round in 0..5 {
                    // Every worker writes ids 0..300 shifted by its number: heavy overlap.
                    let batch: Vec<NewEmbedding> = (0..300)
                        .map(|index| {
                            NewEmbedding::new(format!("id-{}", index + worker * 50), rng.vector(4))
                        })
                        .collect();
                    store
                        .write(|uow| uow.embeddings().upsert(&collection, batch))
                        .unwrap_or_else(|error| panic!("worker {worker} round {round}: {error}"));
                }
            });
        }
    });
    assert_eq!(
        count(&db, &collection),
        450,
        "ids 0..450, each exactly once"
    );
}
