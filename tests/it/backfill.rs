//! Re-embedding backfill: killed halfway and resumed (same end state as a clean run, nothing
//! embedded or written twice), writes and deletes during the backfill caught up, and a 384 →
//! 768 dimension change cut over through an alias and back.

use std::collections::BTreeSet;

use embedstore::{
    BackfillItem, BackfillOptions, Collection, EmbedResult, Error, Metric, NewCollection,
    NewEmbedding, SearchRequest, Store, WorkOptions,
};
use embedstore_test_support::{Rows, TestDatabase, stored};

use crate::support::{count, failures};

/// The test's "model": a deterministic vector of `dimension` values from the content.
fn embed_text(text: &str, dimension: usize) -> Vec<f32> {
    let seed = text.bytes().fold(17u64, |hash, byte| {
        hash.wrapping_mul(31).wrapping_add(u64::from(byte))
    });
    (0..dimension as u64)
        .map(|index| {
            let mixed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(index.wrapping_mul(1_442_695_040_888_963_407));
            ((mixed >> 40) % 1000) as f32 / 1000.0 + 0.001
        })
        .collect()
}

fn embed_items(items: &[BackfillItem], dimension: usize) -> EmbedResult {
    Ok(items
        .iter()
        .map(|item| embed_text(item.content.as_deref().unwrap_or(""), dimension))
        .collect())
}

fn create(store: &Store, name: &str, dimension: u32, metric: Metric) -> Collection {
    store
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new(name, dimension, metric, name))
        })
        .unwrap()
}

/// `count` rows `item-0000…` with content `text <i>` and metadata `{"n": i}`, vectors of the
/// source model.
fn fill(store: &Store, source: &Collection, count: usize) {
    let rows: Vec<NewEmbedding> = (0..count)
        .map(|index| {
            let content = format!("text {index}");
            NewEmbedding::new(
                format!("item-{index:04}"),
                embed_text(&format!("old {content}"), source.dimension as usize),
            )
            .with_content(content)
            .with_metadata(serde_json::json!({"n": index}))
        })
        .collect();
    store
        .write(|uow| uow.embeddings().insert(source, rows))
        .unwrap();
}

/// Ids, content and metadata, without vectors: what both collections share.
fn copied(rows: &Rows) -> Vec<(String, Option<String>, serde_json::Value)> {
    rows.iter()
        .map(|(id, (_, content, metadata))| (id.clone(), content.clone(), metadata.clone()))
        .collect()
}

fn no_progress(_: &embedstore::BackfillProgress) {}

#[test]
fn a_backfill_killed_halfway_resumes_to_the_state_of_a_clean_run_writing_nothing_twice() {
    let db = TestDatabase::new();
    let store = db.store();
    let source = create(store, "source", 8, Metric::Cosine);
    let resumed = create(store, "resumed", 16, Metric::L2);
    let clean = create(store, "clean", 16, Metric::L2);
    fill(store, &source, 1000);
    // A tenant's rows keep their tenant in the copy.
    store
        .run(&WorkOptions::write().tenant("acme"), |uow| {
            uow.embeddings().insert(
                &source,
                vec![NewEmbedding::new("tenant-row", embed_text("x", 8)).with_content("acme text")],
            )
        })
        .unwrap();
    let options = BackfillOptions::default().batch_size(100);

    let summary = store
        .backfill(
            "source",
            "clean",
            &options,
            &mut |items| embed_items(items, 16),
            &mut no_progress,
        )
        .unwrap();
    assert_eq!(
        (summary.embedded, summary.inserted, summary.updated),
        (1001, 1001, 0)
    );
    assert!(summary.converged, "{summary:?}");
    assert_eq!(
        summary.passes, 2,
        "one pass copies, the second finds nothing to do"
    );

    // Killed halfway: the embedder fails on its fourth batch.
    let mut first_run: Vec<String> = Vec::new();
    let mut calls = 0;
    let error = store
        .backfill(
            "source",
            "resumed",
            &options,
            &mut |items| {
                calls += 1;
                if calls == 4 {
                    return Err("the embedding service went away".into());
                }
                first_run.extend(items.iter().map(|item| item.external_id.clone()));
                embed_items(items, 16)
            },
            &mut no_progress,
        )
        .unwrap_err();
    assert!(matches!(error, Error::Embedder(_)), "{error:?}");
    assert_eq!(
        error.to_string(),
        "embedder failed: the embedding service went away"
    );
    assert_eq!(count(&db, &resumed), 300);

    // Resumed: the embedder sees only what was not written; nothing is written twice.
    let mut second_run: Vec<String> = Vec::new();
    let mut progress = Vec::new();
    let summary = store
        .backfill(
            "source",
            "resumed",
            &options,
            &mut |items| {
                second_run.extend(items.iter().map(|item| item.external_id.clone()));
                embed_items(items, 16)
            },
            &mut |report| progress.push(report.clone()),
        )
        .unwrap();
    assert_eq!(
        (summary.embedded, summary.inserted, summary.updated),
        (701, 701, 0)
    );
    let first: BTreeSet<&String> = first_run.iter().collect();
    let second: BTreeSet<&String> = second_run.iter().collect();
    assert!(first.is_disjoint(&second), "an id was embedded twice");
    assert_eq!(first.len() + second.len(), 1001);
    assert_eq!(stored(&db, &resumed), stored(&db, &clean));
    assert_eq!(
        copied(&stored(&db, &resumed)),
        copied(&stored(&db, &source))
    );
    let last = progress.last().unwrap();
    assert_eq!((last.scanned, last.total, last.written), (1001, 1001, 701));

    let tenant: Option<String> = {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Tenant {
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
            tenant: Option<String>,
        }
        diesel::sql_query(
            "SELECT tenant FROM embeddings WHERE collection_id = $1 AND external_id = 'tenant-row'",
        )
        .bind::<diesel::sql_types::Integer, _>(resumed.id.0)
        .get_result::<Tenant>(&mut db.raw_connection())
        .unwrap()
        .tenant
    };
    assert_eq!(tenant.as_deref(), Some("acme"));
}

#[test]
fn writes_and_deletes_during_a_backfill_are_caught_up() {
    let db = TestDatabase::new();
    let store = db.store();
    let source = create(store, "source", 8, Metric::Cosine);
    let target = create(store, "target", 12, Metric::Cosine);
    fill(store, &source, 300);
    let options = BackfillOptions::default().batch_size(50);
    let mut calls = 0;
    let summary = store
        .backfill(
            "source",
            "target",
            &options,
            &mut |items| {
                calls += 1;
                if calls == 2 {
                    // Meanwhile, a service writes to the source through its own transactions:
                    // behind the backfill's position, inside this very batch, and ahead of it.
                    store.write(|uow| {
                        uow.embeddings().upsert(
                            &source,
                            vec![
                                NewEmbedding::new("item-0003", embed_text("a", 8))
                                    .with_content("text 3, edited")
                                    .with_metadata(serde_json::json!({"n": 3, "edited": true})),
                                NewEmbedding::new("item-0060", embed_text("b", 8))
                                    .with_content("text 60, edited"),
                                NewEmbedding::new("aaa-new", embed_text("c", 8))
                                    .with_content("new behind"),
                                NewEmbedding::new("zzz-new", embed_text("d", 8))
                                    .with_content("new ahead"),
                            ],
                        )?;
                        uow.embeddings()
                            .delete(&source, &["item-0001", "item-0061", "item-0200"])
                    })?;
                }
                embed_items(items, 12)
            },
            &mut no_progress,
        )
        .unwrap();
    assert!(summary.converged, "{summary:?}");
    assert_eq!(summary.passes, 3, "copy, catch up, confirm: {summary:?}");
    // 300 copied, then the catch-up: item-0003, item-0060 (edited after its batch was read)
    // and aaa-new; zzz-new was read by the first pass.
    assert_eq!(summary.embedded, 303, "{summary:?}");
    assert_eq!(
        summary.deleted, 2,
        "item-0001 and item-0061 were copied before their deletion"
    );

    let source_rows = stored(&db, &source);
    let target_rows = stored(&db, &target);
    assert_eq!(copied(&target_rows), copied(&source_rows));
    // 300 + aaa-new + zzz-new − item-0001, item-0061, item-0200.
    assert_eq!(target_rows.len(), 299);
    for (id, (bits, content, _)) in &target_rows {
        let expected: Vec<u32> = embed_text(content.as_deref().unwrap_or(""), 12)
            .iter()
            .map(|value| value.to_bits())
            .collect();
        assert_eq!(
            bits, &expected,
            "{id} was embedded from its current content"
        );
    }
}

#[test]
fn a_384_to_768_backfill_cuts_over_through_an_alias_and_back() {
    let db = TestDatabase::new();
    let store = db.store();
    let small = create(store, "docs_384", 384, Metric::Cosine);
    create(store, "docs_768", 768, Metric::Cosine);
    fill(store, &small, 60);
    store
        .write(|uow| uow.aliases().set("docs", "docs_384"))
        .unwrap();

    // Resolved through the alias: the service's name for the collection works as `from`.
    let summary = store
        .backfill(
            "docs",
            "docs_768",
            &BackfillOptions::default(),
            &mut |items| embed_items(items, 768),
            &mut no_progress,
        )
        .unwrap();
    assert_eq!(summary.inserted, 60);
    assert!(summary.rows_per_second().is_some());

    let search = |query: Vec<f32>| {
        store
            .read(|uow| {
                let docs = uow.collections().get("docs")?;
                let response = uow.search(&docs, SearchRequest::vector(query, 1))?;
                Ok::<_, Error>((docs.dimension, response.hits[0].external_id.clone()))
            })
            .unwrap()
    };
    store
        .write(|uow| uow.aliases().set("docs", "docs_768"))
        .unwrap();
    assert_eq!(
        search(embed_text("text 7", 768)),
        (768, "item-0007".to_owned())
    );
    store
        .write(|uow| uow.aliases().set("docs", "docs_384"))
        .unwrap();
    assert_eq!(
        search(embed_text("old text 7", 384)),
        (384, "item-0007".to_owned())
    );
}

#[test]
fn a_backfill_refuses_itself_a_bad_embedder_and_unknown_collections() {
    let db = TestDatabase::new();
    let store = db.store();
    let source = create(store, "source", 4, Metric::L2);
    let target = create(store, "target", 4, Metric::L2);
    fill(store, &source, 3);
    store
        .write(|uow| uow.aliases().set("same", "source"))
        .unwrap();
    let mut embed = |items: &[BackfillItem]| embed_items(items, 4);
    let error = store
        .backfill(
            "source",
            "same",
            &BackfillOptions::default(),
            &mut embed,
            &mut no_progress,
        )
        .unwrap_err();
    assert_eq!(
        failures(&error),
        ["to: is the collection \"source\" itself: backfill into another collection"]
    );
    let error = store
        .backfill(
            "source",
            "nope",
            &BackfillOptions::default(),
            &mut embed,
            &mut no_progress,
        )
        .unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    let error = store
        .backfill(
            "source",
            "target",
            &BackfillOptions::default(),
            &mut |_| Ok(vec![vec![1.0, 2.0, 3.0, 4.0]]),
            &mut no_progress,
        )
        .unwrap_err();
    assert_eq!(
        failures(&error),
        ["embedder: returned 1 vectors for 3 items: one per item, in order"]
    );
    let error = store
        .backfill(
            "source",
            "target",
            &BackfillOptions::default(),
            &mut |items| embed_items(items, 5),
            &mut no_progress,
        )
        .unwrap_err();
    assert!(
        error.as_validation().is_some(),
        "a 5-value vector for 4 dimensions: {error}"
    );
    assert_eq!(
        count(&db, &target),
        0,
        "nothing of a refused batch is written"
    );
}
