//! Index health: drift signals that move when rows are updated and deleted, sampled recall with
//! a configurable floor, and the advice that follows from them.

use diesel::RunQueryDsl;
use embedstore::{
    Collection, Error, HealthOptions, IndexHealth, IndexSpec, Metric, NewEmbedding, Store,
};

use crate::support::{Rng, failures, with_items, without_autovacuum};

/// Asks the writing session to publish its statistics as its transaction ends, so that the
/// next health read sees them at once (otherwise within about a second).
fn flush_statistics(uow: &mut embedstore::UnitOfWork<'_>) -> embedstore::Result<()> {
    diesel::sql_query("SELECT pg_stat_force_next_flush()")
        .execute(uow.connection())
        .map(drop)
        .map_err(Error::from)
}

fn health(store: &Store, collection: &Collection, options: &HealthOptions) -> IndexHealth {
    store.indexes(collection).health(options).unwrap()
}

#[test]
fn drift_signals_move_when_rows_are_updated_and_deleted() {
    let (db, docs) = with_items("docs", 8, Metric::Cosine, 400, 3);
    without_autovacuum(&db, &docs);
    let store = db.store();
    store
        .indexes(&docs)
        .create(&IndexSpec::hnsw(), None)
        .unwrap();
    let options = HealthOptions::default().recall_queries(10).k(5);

    let fresh = health(store, &docs, &options);
    assert_eq!(fresh.status.built_rows, Some(400));
    assert_eq!(fresh.status.rows, 400);
    assert_eq!(
        (fresh.updated_since_build, fresh.deleted_since_build),
        (Some(0), Some(0))
    );
    let recall = fresh.recall.expect("a valid index with rows gets a recall");
    assert!(recall >= 0.9, "recall {recall} on 400 rows");
    assert_eq!((fresh.recall_k, fresh.recall_queries), (5, 10));
    assert!(fresh.recall_measured_at.is_some());
    // 400 rows of 8 dimensions: PostgreSQL's plan scans instead of walking the index, and
    // health says so; no drift advice.
    assert_eq!(
        fresh.search_advice,
        [embedstore::SearchAdvice::IndexNotUsed {
            index: format!("{}_ann", docs.partition_name()),
            reason: embedstore::IndexNotUsedReason::ScanIsCheaper,
        }]
    );
    assert!(drift_advice(&fresh).is_empty(), "{:?}", fresh.advice);

    // 60 rows re-embedded (updated) and 90 deleted.
    let mut rng = Rng::new(9);
    store
        .write(|uow| {
            let changed = (0..60)
                .map(|index| NewEmbedding::new(format!("item-{index}"), rng.vector(8)))
                .collect();
            uow.embeddings().upsert(&docs, changed)?;
            let gone: Vec<String> = (300..390).map(|index| format!("item-{index}")).collect();
            uow.embeddings().delete(&docs, &gone)?;
            flush_statistics(uow)
        })
        .unwrap();
    let drifted = health(store, &docs, &options);
    assert_eq!(drifted.status.rows, 310);
    assert_eq!(drifted.status.built_rows, Some(400));
    assert_eq!(drifted.updated_since_build, Some(60));
    assert_eq!(drifted.deleted_since_build, Some(90));
    assert!(drifted.dead_tuples >= 150, "{}", drifted.dead_tuples);
    let advice = drifted.advice.join("\n");
    assert!(
        advice.contains("60 rows updated and 90 deleted since the build on 400 rows")
            && advice.contains(&format!(
                "REINDEX INDEX CONCURRENTLY {}_ann",
                docs.partition_name()
            )),
        "{advice}"
    );
    assert!(
        advice.contains(&format!("VACUUM (ANALYZE) {}", docs.partition_name())),
        "{advice}"
    );

    // A rebuild starts the count again; VACUUM removes the dead tuples.
    store.indexes(&docs).rebuild(None, None).unwrap();
    diesel::sql_query(format!("VACUUM {}", docs.partition_name()))
        .execute(&mut db.raw_connection())
        .unwrap();
    let rebuilt = health(store, &docs, &options);
    assert_eq!(rebuilt.status.built_rows, Some(310));
    assert_eq!(
        (rebuilt.updated_since_build, rebuilt.deleted_since_build),
        (Some(0), Some(0))
    );
    assert_eq!(rebuilt.dead_tuples, 0);
    assert!(rebuilt.last_vacuum.is_some());
    assert!(drift_advice(&rebuilt).is_empty(), "{:?}", rebuilt.advice);
}

/// The advice that is not the planner's (a small collection's plan scans: health says so).
fn drift_advice(health: &embedstore::IndexHealth) -> Vec<&String> {
    let planner: Vec<String> = health
        .search_advice
        .iter()
        .map(ToString::to_string)
        .collect();
    health
        .advice
        .iter()
        .filter(|advice| !planner.contains(advice))
        .collect()
}

#[test]
fn recall_below_the_floor_and_an_outgrown_ivfflat_are_advised_on() {
    let (db, docs) = with_items("docs", 8, Metric::L2, 200, 5);
    let store = db.store();
    store
        .indexes(&docs)
        .create(&IndexSpec::ivfflat().lists(4), None)
        .unwrap();
    // A floor no measurement reaches: the advice names the recall and the floor.
    let strict = HealthOptions::default().recall_queries(5).recall_floor(1.0);
    let mut rng = Rng::new(11);
    store
        .write(|uow| {
            let more = (200..1500)
                .map(|index| NewEmbedding::new(format!("more-{index}"), rng.vector(8)))
                .collect();
            uow.embeddings().insert(&docs, more)
        })
        .unwrap();
    let outgrown = health(store, &docs, &strict);
    let advice = outgrown.advice.join("\n");
    assert!(
        advice.contains("IVFFlat built on 200 rows, now 1500: rebuild"),
        "{advice}"
    );
    let recall = outgrown.recall.unwrap();
    if recall < 1.0 {
        assert!(
            advice.contains("below the floor 1"),
            "recall {recall}: {advice}"
        );
    }
    // No index: no recall, no drift, and the options are checked.
    store.indexes(&docs).drop().unwrap();
    let bare = health(store, &docs, &HealthOptions::default());
    assert_eq!((bare.recall, bare.updated_since_build), (None, None));
    let error = store
        .indexes(&docs)
        .health(&HealthOptions::default().recall_floor(1.5))
        .unwrap_err();
    assert_eq!(failures(&error), ["recall_floor: 1.5 is outside [0, 1]"]);
    let error = store
        .indexes(&docs)
        .health(&HealthOptions::default().k(0))
        .unwrap_err();
    assert_eq!(failures(&error), ["k: 0 is outside 1..=1000"]);
}
