use diesel::prelude::*;
use embedstore::{Collection, Error, Metric, NewCollection, NewEmbedding, SearchRequest};
use embedstore_test_support::TestDatabase;

use crate::support::{Rng, items, single_connection_store, with_collection, with_items};

/// Checks that search returns exactly what brute force over `stored` computes in Rust.
fn assert_matches_brute_force(
    db: &TestDatabase,
    collection: &Collection,
    stored: &[NewEmbedding],
    query: Vec<f32>,
    k: usize,
) {
    let metric = collection.metric;
    let mut expected: Vec<(f64, &str)> = stored
        .iter()
        .map(|item| {
            (
                metric.distance(&query, &item.vector.to_vec()),
                item.external_id.as_str(),
            )
        })
        .collect();
    expected.sort_by(|a, b| a.0.total_cmp(&b.0));
    expected.truncate(k);

    let response = db
        .store()
        .read(|uow| uow.search(collection, SearchRequest::vector(query, k as u32)))
        .unwrap();
    assert_eq!(response.requested, k as u32);
    let ids: Vec<&str> = response
        .hits
        .iter()
        .map(|hit| hit.external_id.as_str())
        .collect();
    let expected_ids: Vec<&str> = expected.iter().map(|(_, id)| *id).collect();
    assert_eq!(ids, expected_ids, "{metric}: ids and order");
    for (hit, (distance, _)) in response.hits.iter().zip(&expected) {
        assert!(
            (hit.distance - distance).abs() < 1e-5,
            "{metric}: {} vs {distance}",
            hit.distance
        );
        assert!(
            (hit.score - metric.score(*distance)).abs() < 1e-5,
            "{metric}: score"
        );
    }
}

#[test]
fn search_equals_brute_force_for_every_metric() {
    for metric in Metric::FLOAT {
        let (db, collection) = with_collection("brute", 32, metric);
        let mut rng = Rng::new(100 + metric as u64);
        let stored = items(&mut rng, 600, 32);
        db.store()
            .write(|uow| uow.embeddings().insert(&collection, stored.clone()))
            .unwrap();
        for _ in 0..10 {
            assert_matches_brute_force(&db, &collection, &stored, rng.vector(32), 10);
        }
        // k larger than the default ef_search (40) still returns k rows.
        assert_matches_brute_force(&db, &collection, &stored, rng.vector(32), 75);
    }
}

#[test]
fn asking_for_more_than_the_collection_holds_returns_everything() {
    let (db, collection) = with_items("small", 3, Metric::L2, 4, 8);
    let response = db
        .store()
        .read(|uow| uow.search(&collection, SearchRequest::vector(vec![0.0, 0.0, 0.0], 10)))
        .unwrap();
    assert_eq!((response.requested, response.hits.len()), (10, 4));
}

#[test]
fn hits_carry_content_and_vectors_only_when_asked() {
    let (db, collection) = with_collection("payload", 3, Metric::Cosine);
    db.store()
        .write(|uow| {
            uow.embeddings().insert(
                &collection,
                vec![
                    NewEmbedding::new("a", vec![1.0, 0.0, 0.0])
                        .with_content("alpha")
                        .with_metadata(serde_json::json!({"lang": "en"})),
                ],
            )
        })
        .unwrap();
    let (bare, full) = db
        .store()
        .read(|uow| {
            let bare = uow.search(&collection, SearchRequest::vector(vec![1.0, 0.0, 0.0], 1))?;
            let full = uow.search(
                &collection,
                SearchRequest::vector(vec![1.0, 0.0, 0.0], 1)
                    .include_content(true)
                    .include_vector(true),
            )?;
            Ok::<_, Error>((bare, full))
        })
        .unwrap();
    assert_eq!(
        (
            bare.hits[0].content.as_deref(),
            bare.hits[0].vector.as_ref().map(|v| v.to_vec())
        ),
        (None, None)
    );
    assert_eq!(
        bare.hits[0].metadata,
        Some(serde_json::json!({"lang": "en"}))
    );
    assert_eq!(full.hits[0].content.as_deref(), Some("alpha"));
    assert_eq!(
        full.hits[0].vector.as_ref().map(|v| v.to_vec()),
        Some(vec![1.0, 0.0, 0.0])
    );
    assert!(full.hits[0].distance.abs() < 1e-9 && (full.hits[0].score - 1.0).abs() < 1e-9);
}

/// Builds the HNSW expression index a later index manager will build, and checks that the
/// exact statement search sends can use it.
fn assert_search_can_use_index(dimension: u32, metric: Metric) {
    let (db, collection) = with_collection("indexed", dimension, metric);
    let mut rng = Rng::new(21);
    db.store()
        .write(|uow| {
            uow.embeddings()
                .insert(&collection, items(&mut rng, 200, dimension as usize))
        })
        .unwrap();
    db.store()
        .indexes(&collection)
        .create(&embedstore::IndexSpec::hnsw(), None)
        .unwrap();
    let query = rng.vector(dimension as usize);
    let plan = db
        .store()
        .read(|uow| {
            // On this tiny table the planner would rather sort; forbidding sorts and sequential
            // scans leaves the ordered index scan as the only cheap plan — and one that exists
            // only if the statement orders by exactly the indexed expression.
            diesel::sql_query("SET LOCAL enable_seqscan = off").execute(uow.connection())?;
            diesel::sql_query("SET LOCAL enable_sort = off").execute(uow.connection())?;
            uow.explain_search(&collection, SearchRequest::vector(query.clone(), 10))
        })
        .unwrap();
    let index = format!("Index Scan using {}_ann", collection.partition_name());
    let short: String = plan
        .lines()
        .map(|line| format!("{:.160}\n", line))
        .collect();
    assert!(plan.contains(&index), "{metric} {dimension}: {short}");
    let inner: String = plan
        .lines()
        .skip_while(|line| !line.contains("Limit"))
        .collect();
    assert!(
        !inner.contains("Sort"),
        "{metric} {dimension}: ordered by the index, not sorted: {short}"
    );
    // The index answers correctly too (200 rows, default ef_search: the graph is exact here).
    let hits = db
        .store()
        .read(|uow| uow.search(&collection, SearchRequest::vector(query, 10)))
        .unwrap()
        .hits;
    assert_eq!(hits.len(), 10);
    assert!(
        hits.windows(2)
            .all(|pair| pair[0].distance <= pair[1].distance + 1e-6)
    );
}

#[test]
fn the_search_statement_can_use_an_expression_index_for_every_metric() {
    for metric in Metric::FLOAT {
        assert_search_can_use_index(16, metric);
    }
}

#[test]
fn collections_above_2000_dimensions_search_through_a_halfvec_index() {
    assert_search_can_use_index(2048, Metric::Cosine);
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

fn ef_search(conn: &mut PgConnection) -> String {
    diesel::sql_query("SELECT current_setting('hnsw.ef_search') AS value")
        .get_result::<Setting>(conn)
        .unwrap()
        .value
}

#[test]
fn search_settings_are_scoped_to_the_transaction() {
    let db = TestDatabase::new();
    // Every unit of work below shares one connection.
    let store = single_connection_store(&db);
    let collection = store
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new("knobs", 2, Metric::L2, "m"))
        })
        .unwrap();
    store
        .write(|uow| {
            uow.embeddings().insert(
                &collection,
                // Enough rows that PostgreSQL's plan walks the index (at 300 it scans, and the
                // search, running exactly, sets no pgvector setting).
                (0..5000)
                    .map(|index| {
                        embedstore::NewEmbedding::new(format!("p{index}"), vec![index as f32, 1.0])
                    })
                    .collect(),
            )
        })
        .unwrap();
    store
        .indexes(&collection)
        .create(&embedstore::IndexSpec::hnsw(), None)
        .unwrap();
    let inside = store
        .read(|uow| {
            uow.search(
                &collection,
                SearchRequest::vector(vec![1.0, 1.0], 5).with_ef_search(321),
            )?;
            Ok::<_, Error>(ef_search(uow.connection()))
        })
        .unwrap();
    assert_eq!(inside, "321");
    let sized = store
        .read(|uow| {
            uow.search(&collection, SearchRequest::vector(vec![1.0, 1.0], 200))?;
            Ok::<_, Error>(ef_search(uow.connection()))
        })
        .unwrap();
    assert_eq!(
        sized, "200",
        "ef_search grows to k so the index cannot cap the result"
    );
    let after = store
        .read(|uow| Ok::<_, Error>(ef_search(uow.connection())))
        .unwrap();
    assert_eq!(
        after, "40",
        "the setting must not leak to the pooled connection"
    );
}
