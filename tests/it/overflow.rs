//! Values that make a distance non-finite: refused on every write path and in queries, with
//! the item's path and nothing written; and rows planted around the library (raw SQL) whose
//! distance the server cannot compute never rank ahead of a finite one, on any search path.

use diesel::RunQueryDsl;
use embedstore::{
    Collection, FieldPath, IndexSpec, MAX_VECTOR_NORM, Metric, NewCollection, NewEmbedding,
    Quantization, SearchHit, SearchPath, SearchRequest, SearchResponse, Shape, SparseVector,
    VectorKind, VectorValue,
};
use embedstore_test_support::TestDatabase;
use serde_json::json;

use crate::support::{count, failures};

/// What validation says of `[3e38, 3e38, 0, 0]` (and of its sparse form).
const TOO_LONG: &str = "its length (L2 norm) is 4.243e38, above the 1e18 allowed: pgvector computes norms, distances and inner products in single precision, which would overflow to infinity or NaN";

fn collection(db: &TestDatabase, name: &str, kind: VectorKind, metric: Metric) -> Collection {
    db.store()
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new(name, 4, metric, "test-model").with_kind(kind))
        })
        .unwrap()
}

/// `values` as a vector of `kind`.
fn vector(kind: VectorKind, values: &[f32]) -> VectorValue {
    match kind {
        VectorKind::Sparse => VectorValue::from(SparseVector::from_dense(values)),
        _ => VectorValue::from(values.to_vec()),
    }
}

#[test]
fn a_vector_whose_norm_overflows_single_precision_is_refused_with_its_path() {
    let db = TestDatabase::new();
    for kind in [VectorKind::Dense, VectorKind::Sparse] {
        for metric in Metric::FLOAT {
            let name = format!("{kind}-{metric}").replace('_', "-");
            let collection = collection(&db, &name, kind, metric);
            let items = || {
                vec![
                    NewEmbedding::new("fine", vector(kind, &[1.0, 2.0, 0.0, 0.0])),
                    NewEmbedding::new("huge", vector(kind, &[3e38, 3e38, 0.0, 0.0])),
                ]
            };
            for upsert in [false, true] {
                let error = db
                    .store()
                    .write(|uow| {
                        if upsert {
                            uow.embeddings().upsert(&collection, items()).map(|_| ())
                        } else {
                            uow.embeddings().insert(&collection, items()).map(|_| ())
                        }
                    })
                    .unwrap_err();
                assert_eq!(
                    failures(&error),
                    [format!("items[1].vector: {TOO_LONG}")],
                    "{name} upsert={upsert}"
                );
                assert_eq!(count(&db, &collection), 0, "{name}: nothing written");
            }
            let error = db
                .store()
                .search(
                    &collection,
                    SearchRequest::vector(vector(kind, &[3e38, 3e38, 0.0, 0.0]), 5),
                )
                .unwrap_err();
            assert_eq!(failures(&error), [format!("vector: {TOO_LONG}")], "{name}");
        }
    }
}

#[test]
fn vectors_at_the_length_limit_have_a_finite_distance_to_each_other_on_the_server() {
    let db = TestDatabase::new();
    // Two vectors just inside the limit pointing opposite ways: the largest squared L2 and L1
    // distance and the most negative inner product two valid vectors can have.
    let side = (MAX_VECTOR_NORM / 2f64.sqrt() * 0.999) as f32;
    for kind in [VectorKind::Dense, VectorKind::Sparse] {
        for metric in Metric::FLOAT {
            let name = format!("edge-{kind}-{metric}").replace('_', "-");
            let collection = collection(&db, &name, kind, metric);
            db.store()
                .write(|uow| {
                    uow.embeddings().insert(
                        &collection,
                        vec![
                            NewEmbedding::new("plus", vector(kind, &[side, side, 0.0, 0.0])),
                            NewEmbedding::new("minus", vector(kind, &[-side, -side, 0.0, 0.0])),
                            NewEmbedding::new("small", vector(kind, &[0.0, 0.0, 1e-3, 0.0])),
                        ],
                    )
                })
                .unwrap();
            for query in [[-side, -side, 0.0, 0.0], [side, 0.0, 0.0, side]] {
                let response = db
                    .store()
                    .search(
                        &collection,
                        SearchRequest::vector(vector(kind, &query), 3).with_exact(true),
                    )
                    .unwrap();
                assert_eq!(response.returned, 3, "{name}");
                for hit in &response.hits {
                    assert!(
                        hit.distance.is_finite() && hit.score.is_finite(),
                        "{name}: {hit:?}"
                    );
                    assert!(!hit.distance_not_finite, "{name}: {hit:?}");
                }
            }
        }
    }
}

/// A collection of 40 rows near `[1, 1, 0, 0]` and one planted by raw SQL, `poison`, whose
/// cosine distance to such a query overflows to NaN on the server.
fn poisoned(kind: VectorKind) -> (TestDatabase, Collection) {
    let db = TestDatabase::new();
    let collection = collection(&db, "poisoned", kind, Metric::Cosine);
    let items: Vec<NewEmbedding> = (0..40)
        .map(|index| {
            let step = index as f32 / 40.0;
            NewEmbedding::new(
                format!("item-{index}"),
                vector(kind, &[1.0, 0.5 + step, step, 1.0 - step]),
            )
            .with_metadata(json!({ "doc": format!("d{}", index % 5) }))
        })
        .collect();
    db.store()
        .write(|uow| uow.embeddings().insert(&collection, items))
        .unwrap();
    let (column, literal) = match kind {
        VectorKind::Sparse => ("sparse", "{1:3e38,2:3e38}/4"),
        _ => ("embedding", "[3e38,3e38,0,0]"),
    };
    diesel::sql_query(format!(
        "INSERT INTO embeddings (collection_id, external_id, {column}, metadata) \
         VALUES ($1, 'poison', $2::text::{}, '{{\"doc\": \"d0\"}}')",
        if kind == VectorKind::Sparse {
            "sparsevec"
        } else {
            "vector"
        }
    ))
    .bind::<diesel::sql_types::Integer, _>(collection.id.0)
    .bind::<diesel::sql_types::Text, _>(literal)
    .execute(&mut db.raw_connection())
    .unwrap();
    (db, collection)
}

fn query(kind: VectorKind) -> VectorValue {
    vector(kind, &[1.0, 1.0, 0.25, 0.25])
}

/// The poisoned row is flagged and comes after every finite distance; the rest ascend.
fn poison_last(response: &SearchResponse, what: &str) {
    let hits: &[SearchHit] = &response.hits;
    let at = hits
        .iter()
        .position(|hit| hit.external_id == "poison")
        .unwrap_or_else(|| panic!("{what}: the poisoned row is among the hits: {hits:?}"));
    assert_eq!(at, hits.len() - 1, "{what}: poison ranks last: {hits:?}");
    let poison = &hits[at];
    assert!(
        poison.distance.is_nan() && poison.distance_not_finite,
        "{what}: {poison:?}"
    );
    for pair in hits[..at].windows(2) {
        assert!(!pair[0].distance_not_finite, "{what}: {:?}", pair[0]);
        assert!(pair[0].distance <= pair[1].distance, "{what}: {hits:?}");
    }
}

#[test]
fn a_row_whose_distance_is_nan_on_the_server_ranks_last_exactly_and_through_the_index() {
    for kind in [VectorKind::Dense, VectorKind::Sparse] {
        let (db, collection) = poisoned(kind);
        let store = db.store();
        let exact = store
            .search(&collection, SearchRequest::vector(query(kind), 41))
            .unwrap();
        assert_eq!(exact.path, SearchPath::Exact);
        poison_last(&exact, &format!("{kind} exact"));
        let batch = store
            .search_batch(
                &collection,
                &[query(kind), vector(kind, &[1.0, 2.0, 0.0, 0.0])],
                SearchRequest::vector(Vec::new(), 41),
            )
            .unwrap();
        for answer in &batch {
            poison_last(answer, &format!("{kind} batch"));
        }

        // Through the index: PostgreSQL walks an HNSW graph only where a scan costs more, so
        // 3,000 rows pointing away from the query join the 41 before the index is built.
        let fillers: Vec<NewEmbedding> = (0..3_000)
            .map(|index| {
                let step = (index % 97) as f32 / 97.0;
                NewEmbedding::new(
                    format!("filler-{index}"),
                    vector(kind, &[-1.0, -1.0 - step, 0.5, step]),
                )
            })
            .collect();
        store
            .write(|uow| uow.embeddings().insert(&collection, fillers))
            .unwrap();
        store
            .indexes(&collection)
            .create(&IndexSpec::hnsw(), None)
            .unwrap();
        let ann = store
            .search(
                &collection,
                SearchRequest::vector(query(kind), 41).with_ef_search(100),
            )
            .unwrap();
        assert_eq!(ann.path, SearchPath::Ann, "{kind}");
        // Whether the graph walk reaches the planted row is the graph's business; wherever it
        // does, it comes last and flagged, and every finite distance before it ascends.
        let hits = &ann.hits;
        for (at, hit) in hits.iter().enumerate() {
            assert_eq!(
                hit.distance_not_finite,
                hit.external_id == "poison",
                "{kind} ann: {hits:?}"
            );
            if hit.distance_not_finite {
                assert_eq!(
                    at,
                    hits.len() - 1,
                    "{kind} ann: poison ranks last: {hits:?}"
                );
            }
        }
        for pair in hits.windows(2).filter(|pair| !pair[1].distance_not_finite) {
            assert!(pair[0].distance <= pair[1].distance, "{kind} ann: {hits:?}");
        }
    }
}

#[test]
fn mmr_and_grouped_searches_never_put_a_nan_distance_first() {
    let (db, collection) = poisoned(VectorKind::Dense);
    let store = db.store();
    // MMR computes its similarities itself, in f64, where the planted vector does not
    // overflow: it must not pick a row whose distance the server reported as NaN.
    let mmr = store
        .search(
            &collection,
            SearchRequest::vector(query(VectorKind::Dense), 5).with_shape(Shape::mmr(0.5, 41)),
        )
        .unwrap();
    assert_eq!(mmr.returned, 5);
    assert!(
        mmr.hits.iter().all(|hit| hit.external_id != "poison"),
        "{:?}",
        mmr.hits
    );
    // With every row asked for, the poisoned one comes last.
    let all = store
        .search(
            &collection,
            SearchRequest::vector(query(VectorKind::Dense), 41).with_shape(Shape::mmr(0.5, 41)),
        )
        .unwrap();
    assert_eq!(
        all.hits.last().map(|hit| hit.external_id.as_str()),
        Some("poison")
    );
    assert!(all.hits[..40].iter().all(|hit| !hit.distance_not_finite));

    let grouped = store
        .search(
            &collection,
            SearchRequest::vector(query(VectorKind::Dense), 5)
                .with_shape(Shape::grouped(&FieldPath::from("doc"), 9)),
        )
        .unwrap();
    assert_eq!(grouped.groups, Some(5));
    let d0: Vec<&SearchHit> = grouped
        .hits
        .iter()
        .filter(|hit| hit.group == Some(json!("d0")))
        .collect();
    assert_eq!(d0.len(), 9, "{d0:?}");
    assert_eq!(d0[8].external_id, "poison", "{d0:?}");
    assert!(d0[8].distance_not_finite);
    assert_ne!(grouped.hits[0].external_id, "poison");
}

#[test]
fn a_value_beyond_half_precision_is_refused_with_its_path_where_the_ann_index_is_halfvec() {
    let db = TestDatabase::new();
    let store = db.store();
    let half = collection(&db, "half", VectorKind::Dense, Metric::L2);
    let full = collection(&db, "full", VectorKind::Dense, Metric::L2);
    let items = |prefix: &str| -> Vec<NewEmbedding> {
        (0..30)
            .map(|index| {
                let value = index as f32;
                NewEmbedding::new(format!("{prefix}-{index}"), vec![value, 1.0, -value, 2.0])
            })
            .collect()
    };
    for (collection, quantization) in [(&half, Some(Quantization::Half)), (&full, None)] {
        store
            .write(|uow| uow.embeddings().insert(collection, items("row")))
            .unwrap();
        let spec = match quantization {
            Some(quantization) => IndexSpec::hnsw().quantization(quantization),
            None => IndexSpec::hnsw(),
        };
        store.indexes(collection).create(&spec, None).unwrap();
    }
    let beyond = || {
        vec![
            NewEmbedding::new("fine", vec![65504.0, 1.0, 1.0, 1.0]),
            NewEmbedding::new("beyond", vec![1.0, 1.0, -70000.0, 1.0]),
        ]
    };
    let expected = "items[1].vector[2]: -70000 is beyond ±65504, the largest half-precision value: this collection's ANN index stores halfvec (a half-quantized index, or any index above 2,000 dimensions), which cannot hold it";
    for upsert in [false, true] {
        let error = store
            .write(|uow| {
                if upsert {
                    uow.embeddings().upsert(&half, beyond()).map(|_| ())
                } else {
                    uow.embeddings().insert(&half, beyond()).map(|_| ())
                }
            })
            .unwrap_err();
        assert_eq!(failures(&error), [expected], "upsert={upsert}");
        assert_eq!(count(&db, &half), 30, "nothing written");
    }
    // A full-precision index holds it.
    store
        .write(|uow| uow.embeddings().insert(&full, beyond()))
        .unwrap();
    assert_eq!(count(&db, &full), 32);

    // Queries on the half index's path: refused by path; an exact search takes them.
    let query = vec![70000.0, 1.0, 1.0, 1.0];
    let error = store
        .search(&half, SearchRequest::vector(query.clone(), 3))
        .unwrap_err();
    assert_eq!(
        failures(&error),
        [
            "vector[0]: 70000 is beyond ±65504, the largest half-precision value: this collection's ANN index stores halfvec (a half-quantized index, or any index above 2,000 dimensions), which cannot hold it; an exact search (with_exact(true), CLI --exact) takes it"
        ]
    );
    let error = store
        .search_batch(
            &half,
            &[vec![1.0, 1.0, 1.0, 1.0], query.clone()],
            SearchRequest::vector(Vec::new(), 3),
        )
        .unwrap_err();
    let found = failures(&error);
    assert!(
        found.len() == 1 && found[0].starts_with("queries[1].vector[0]: 70000 is beyond ±65504"),
        "{found:?}"
    );
    // A hybrid search's vector side on the half index: the same.
    store.indexes(&half).text().create("english").unwrap();
    let error = store
        .search(&half, SearchRequest::hybrid(query.clone(), "anything", 3))
        .unwrap_err();
    let found = failures(&error);
    assert!(
        found.len() == 1 && found[0].starts_with("vector[0]: 70000 is beyond ±65504"),
        "{found:?}"
    );
    let exact = store
        .search(
            &half,
            SearchRequest::vector(query.clone(), 3).with_exact(true),
        )
        .unwrap();
    assert_eq!(exact.returned, 3);
    // A full-precision index takes the query (at 32 rows PostgreSQL scans instead of walking
    // the graph: the refusal above follows the index's type, not the plan of the moment).
    let full_precision = store
        .search(&full, SearchRequest::vector(query, 3))
        .unwrap();
    assert_eq!(full_precision.returned, 3);
}

#[test]
fn hybrid_search_ranks_a_nan_distance_last_and_text_hits_are_not_flagged() {
    let (db, collection) = poisoned(VectorKind::Dense);
    // Every row, the planted one included, says the same: the text side ties them all.
    diesel::sql_query("UPDATE embeddings SET content = 'apple pie' WHERE collection_id = $1")
        .bind::<diesel::sql_types::Integer, _>(collection.id.0)
        .execute(&mut db.raw_connection())
        .unwrap();
    let store = db.store();
    store.indexes(&collection).text().create("english").unwrap();
    let hybrid = store
        .search(
            &collection,
            SearchRequest::hybrid(query(VectorKind::Dense), "apple", 41).with_fetch_k(41),
        )
        .unwrap();
    assert_eq!(hybrid.path, SearchPath::Hybrid);
    let last = hybrid.hits.last().unwrap();
    assert_eq!(last.external_id, "poison", "{:?}", hybrid.hits);
    assert!(last.distance_not_finite && last.vector_rank == Some(41));
    assert!(hybrid.hits[..40].iter().all(|hit| !hit.distance_not_finite));
    // A text-only search computes no distance: NaN by convention, not flagged.
    let text = store
        .search(&collection, SearchRequest::text("apple", 5))
        .unwrap();
    assert_eq!(text.returned, 5);
    assert!(
        text.hits
            .iter()
            .all(|hit| hit.distance.is_nan() && !hit.distance_not_finite),
        "{:?}",
        text.hits
    );
}
