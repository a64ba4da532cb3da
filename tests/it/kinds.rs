//! Sparse and bit collections: bit-exact round trips through every write path, hostile sparse
//! inputs refused with their paths (and nothing written), exact and HNSW search against brute
//! force with filters, JSONL ingest and export, and what each kind refuses.

use embedstore::Shape;
use embedstore::{
    BitVector, Collection, Error, Filter, IndexSpec, Ingest, IngestOptions, JsonlSource, Metric,
    NewCollection, NewEmbedding, Quantization, SearchPath, SearchRequest, SparseVector, VectorKind,
    VectorValue, WriteMode,
};
use embedstore_test_support::{Rng, TestDatabase};
use serde_json::json;

use embedstore_test_support::Scratch;

use crate::support::count;

fn kind_collection(
    db: &TestDatabase,
    name: &str,
    kind: VectorKind,
    dimension: u32,
    metric: Metric,
) -> Collection {
    db.store()
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new(name, dimension, metric, "test-model").with_kind(kind))
        })
        .unwrap_or_else(|error| panic!("create {name}: {error}"))
}

/// A random sparse vector of `dim` dimensions with about `nonzeros` non-zero values, some of
/// them extreme (a huge float, a subnormal) when `extreme`.
fn sparse_with(rng: &mut Rng, dim: u32, nonzeros: usize, extreme: bool) -> SparseVector {
    let mut indices: Vec<u32> = (0..nonzeros)
        .map(|_| (rng.next_u64() % u64::from(dim)) as u32)
        .collect();
    indices.sort_unstable();
    indices.dedup();
    let values = indices
        .iter()
        .enumerate()
        .map(|(position, _)| match rng.next_u64() % 50 {
            // The largest a value may be (the length stays within MAX_VECTOR_NORM).
            0 if extreme => 1e17,
            1 if extreme => -1e-45,
            _ => rng.unit_value() * 2.0 - 1.0 + if position % 2 == 0 { 0.01 } else { -0.01 },
        })
        .map(|value| if value == 0.0 { 0.5 } else { value })
        .collect();
    SparseVector::new(dim, indices, values)
}

fn sparse(rng: &mut Rng, dim: u32, nonzeros: usize) -> SparseVector {
    sparse_with(rng, dim, nonzeros, false)
}

fn bits(rng: &mut Rng, len: usize) -> BitVector {
    let bools: Vec<bool> = (0..len).map(|_| rng.next_u64().is_multiple_of(3)).collect();
    let mut bits = BitVector::from_bools(&bools);
    if bits.count_ones() == 0 {
        bits = BitVector::from_bools(&[vec![true], bools[1..].to_vec()].concat());
    }
    bits
}

/// Draws one random vector.
type MakeVector = dyn FnMut(&mut Rng) -> VectorValue;

fn item(id: usize, vector: impl Into<VectorValue>) -> NewEmbedding {
    NewEmbedding::new(format!("item-{id}"), vector).with_metadata(json!({"n": id % 3}))
}

fn stored(db: &TestDatabase, collection: &Collection, ids: &[String]) -> Vec<VectorValue> {
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let rows = db
        .store()
        .read(|uow| uow.embeddings().get(collection, &ids))
        .unwrap();
    assert_eq!(rows.len(), ids.len());
    rows.into_iter().map(|row| row.vector).collect()
}

#[test]
fn sparse_and_bit_vectors_round_trip_bit_exact_through_copy_upsert_and_staging() {
    let db = TestDatabase::new();
    let mut rng = Rng::new(7);
    let sparse_docs = kind_collection(
        &db,
        "splade",
        VectorKind::Sparse,
        30522,
        Metric::InnerProduct,
    );
    let bit_docs = kind_collection(&db, "hashes", VectorKind::Bit, 77, Metric::Hamming);
    let mut make_sparse = |rng: &mut Rng| VectorValue::from(sparse_with(rng, 30522, 120, true));
    let mut make_bits = |rng: &mut Rng| VectorValue::from(bits(rng, 77));
    let cases: [(&Collection, &mut MakeVector); 2] = [
        (&sparse_docs, &mut make_sparse),
        (&bit_docs, &mut make_bits),
    ];
    for (collection, make) in cases {
        let items: Vec<NewEmbedding> = (0..200).map(|id| item(id, make(&mut rng))).collect();
        let ids: Vec<String> = items.iter().map(|item| item.external_id.clone()).collect();
        // Insert: the binary COPY.
        let summary = db
            .store()
            .write(|uow| uow.embeddings().insert(collection, items.clone()))
            .unwrap();
        assert_eq!(summary.inserted, 200, "{}", collection.name);
        let wanted: Vec<VectorValue> = items.iter().map(|item| item.vector.clone()).collect();
        assert_eq!(stored(&db, collection, &ids), wanted, "{}", collection.name);
        // The same batch again: every row unchanged (compared bit for bit with the stored bytes).
        let again = db
            .store()
            .write(|uow| uow.embeddings().upsert(collection, items.clone()))
            .unwrap();
        assert_eq!(again.unchanged, 200, "{}", collection.name);
        // Half of them changed, plus new ones: the staged path.
        let mut changed = items.clone();
        for item in changed.iter_mut().step_by(2) {
            item.vector = make(&mut rng);
        }
        changed.extend((200..220).map(|id| item(id, make(&mut rng))));
        let summary = db
            .store()
            .write(|uow| uow.embeddings().upsert(collection, changed.clone()))
            .unwrap();
        assert_eq!(
            (summary.inserted, summary.updated, summary.unchanged),
            (20, 100, 100),
            "{}",
            collection.name
        );
        let ids: Vec<String> = changed
            .iter()
            .map(|item| item.external_id.clone())
            .collect();
        let wanted: Vec<VectorValue> = changed.iter().map(|item| item.vector.clone()).collect();
        assert_eq!(stored(&db, collection, &ids), wanted, "{}", collection.name);
    }
    // The server holds what pgvector's own text form says, e.g. 1-based indices in sparsevec.
    let mut conn = db.raw_connection();
    let text: String = diesel::RunQueryDsl::get_result::<Text>(
        diesel::sql_query(
            "SELECT sparse::text AS text FROM embeddings WHERE external_id = 'item-1' AND sparse IS NOT NULL",
        ),
        &mut conn,
    )
    .unwrap()
    .text;
    let first = stored(&db, &sparse_docs, &["item-1".to_owned()]).remove(0);
    let first = first.as_sparse().unwrap();
    assert!(
        text.starts_with(&format!("{{{}:", first.indices[0] + 1)) && text.ends_with("}/30522"),
        "{text}"
    );
}

#[derive(diesel::QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    text: String,
}

#[test]
fn hostile_sparse_vectors_are_refused_with_their_paths_and_nothing_is_written() {
    let db = TestDatabase::new();
    let collection = kind_collection(&db, "splade", VectorKind::Sparse, 100, Metric::Cosine);
    let many: Vec<u32> = (0..1001).collect();
    let items = vec![
        NewEmbedding::new("ok", SparseVector::new(100, vec![1, 5], vec![0.5, 1.0])),
        NewEmbedding::new(
            "unsorted",
            SparseVector::new(100, vec![5, 1], vec![0.5, 1.0]),
        ),
        NewEmbedding::new(
            "repeated",
            SparseVector::new(100, vec![3, 3], vec![0.5, 1.0]),
        ),
        NewEmbedding::new("beyond", SparseVector::new(100, vec![100], vec![0.5])),
        NewEmbedding::new("zero", SparseVector::new(100, vec![2], vec![0.0])),
        NewEmbedding::new(
            "nan",
            SparseVector::new(100, vec![2, 4], vec![1.0, f32::NAN]),
        ),
        NewEmbedding::new(
            "infinite",
            SparseVector::new(100, vec![2], vec![f32::INFINITY]),
        ),
        NewEmbedding::new("pairs", SparseVector::new(100, vec![2, 4], vec![1.0])),
        NewEmbedding::new("dim", SparseVector::new(99, vec![2], vec![1.0])),
        NewEmbedding::new("empty", SparseVector::new(100, vec![], vec![])),
        NewEmbedding::new(
            "crowded",
            SparseVector::new(2000, many.clone(), vec![1.0; many.len()]),
        ),
        NewEmbedding::new("bits", BitVector::from_bools(&[true; 100])),
        NewEmbedding::new("dense-nan", vec![f32::NAN; 100]),
    ];
    let error = db
        .store()
        .write(|uow| uow.embeddings().insert(&collection, items))
        .unwrap_err();
    let Error::Validation(invalid) = &error else {
        panic!("{error:?}");
    };
    let found: Vec<String> = invalid
        .failures()
        .map(|(path, message)| format!("{path}: {message}"))
        .collect();
    for expected in [
        "items[1].vector.indices[1]: 1 does not follow 5: indices must increase strictly",
        "items[2].vector.indices[1]: 3 does not follow 3: indices must increase strictly",
        "items[3].vector.indices[0]: 100 is out of range: positions are 0-based, below dim 100",
        "items[4].vector.values[0]: value is zero: a sparse vector lists its non-zero values only",
        "items[5].vector.values[1]: value is NaN",
        "items[6].vector.values[0]: value is infinite",
        "items[7].vector.values: 1 values for 2 indices: each index needs exactly one value",
        "items[8].vector.dim: expected 100 dimensions, got 99",
        "items[9].vector: has no non-zero value, which has no cosine distance",
        "items[10].vector.dim: expected 100 dimensions, got 2000",
        "items[10].vector.indices: 1001 non-zero values, at most 1000 (pgvector indexes sparse vectors of up to 1000 non-zeros)",
        "items[11].vector: a bit vector cannot be used with a sparse collection",
        "items[12].vector[0]: value is NaN",
    ] {
        assert!(
            found.iter().any(|line| line == expected),
            "missing {expected:?} in {found:#?}"
        );
    }
    assert!(
        found.iter().all(|line| !line.starts_with("items[0].")),
        "{found:#?}"
    );
    assert_eq!(
        count(&db, &collection),
        0,
        "nothing of the batch is written"
    );
}

#[test]
fn each_kind_refuses_what_does_not_fit_it() {
    let db = TestDatabase::new();
    let bit_docs = kind_collection(&db, "hashes", VectorKind::Bit, 4, Metric::Jaccard);
    let error = db
        .store()
        .write(|uow| {
            uow.embeddings().insert(
                &bit_docs,
                vec![
                    NewEmbedding::new("half", vec![1.0, 0.5, 0.0, 1.0]),
                    NewEmbedding::new("short", "101".parse::<BitVector>().unwrap()),
                    NewEmbedding::new("none", "0000".parse::<BitVector>().unwrap()),
                    NewEmbedding::new("ok", vec![1.0, 0.0, 0.0, 1.0]),
                ],
            )
        })
        .unwrap_err()
        .to_string();
    for expected in [
        "items[0].vector: [1] is 0.5, a bit must be 0 or 1 in a bit collection",
        "items[1].vector: expected 4 bits, got 3",
        "items[2].vector: all bits are zero, which has no Jaccard distance",
    ] {
        assert!(error.contains(expected), "missing {expected:?} in {error}");
    }
    assert_eq!(count(&db, &bit_docs), 0);
    // A dense vector of 0s and 1s is stored as its bits.
    db.store()
        .write(|uow| {
            uow.embeddings().insert(
                &bit_docs,
                vec![NewEmbedding::new("ok", vec![1.0, 0.0, 0.0, 1.0])],
            )
        })
        .unwrap();
    assert_eq!(
        stored(&db, &bit_docs, &["ok".to_owned()]),
        [VectorValue::Bit("1001".parse().unwrap())]
    );

    let dense = kind_collection(&db, "dense", VectorKind::Dense, 3, Metric::L2);
    let error = db
        .store()
        .write(|uow| {
            uow.embeddings().insert(
                &dense,
                vec![NewEmbedding::new(
                    "s",
                    SparseVector::new(3, vec![0], vec![1.0]),
                )],
            )
        })
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("items[0].vector: a sparse vector cannot be used with a dense collection"),
        "{error}"
    );
    // Metrics, dimensions and indexes that do not apply to a kind.
    for (spec, expected) in [
        (
            NewCollection::new("a", 8, Metric::Hamming, "m"),
            "metric: hamming does not apply to a dense collection: use one of l2, cosine, inner_product, l1",
        ),
        (
            NewCollection::new("b", 8, Metric::Cosine, "m").with_kind(VectorKind::Bit),
            "metric: cosine does not apply to a bit collection: use one of hamming, jaccard",
        ),
        (
            NewCollection::new("c", 70_000, Metric::Hamming, "m").with_kind(VectorKind::Bit),
            "dimension: must be 1..=64000 for a bit collection, got 70000",
        ),
        (
            NewCollection::new("d", 30_000, Metric::Cosine, "m"),
            "dimension: must be 1..=16000 for a dense collection, got 30000",
        ),
    ] {
        let error = db
            .store()
            .write(|uow| uow.collections().create(spec))
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "missing {expected:?} in {error}");
    }
    let sparse_docs = kind_collection(&db, "splade", VectorKind::Sparse, 500_000, Metric::L2);
    for (spec, expected) in [
        (
            IndexSpec::ivfflat(),
            "a sparse collection is indexed with hnsw only",
        ),
        (
            IndexSpec::hnsw().quantization(Quantization::Half),
            "quantization applies to dense collections only",
        ),
    ] {
        let error = db
            .store()
            .indexes(&sparse_docs)
            .create(&spec, None)
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "missing {expected:?} in {error}");
    }
    let scratch = Scratch::new(&db);
    let error = db
        .store()
        .export("splade")
        .npy(&scratch.path("out"), &mut |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(error.contains("export it to JSONL"), "{error}");
}

/// Brute force: the `k` nearest of `rows` (id, vector) to `query` among those `keep` accepts.
fn nearest(
    metric: Metric,
    rows: &[(String, VectorValue)],
    query: &VectorValue,
    k: usize,
    keep: impl Fn(usize) -> bool,
) -> Vec<(String, f64)> {
    let mut scored: Vec<(String, f64)> = rows
        .iter()
        .enumerate()
        .filter(|(index, _)| keep(*index))
        .map(|(_, (id, vector))| (id.clone(), metric.value_distance(query, vector)))
        .collect();
    scored.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    scored.truncate(k);
    scored
}

fn search_kind(
    kind: VectorKind,
    dimension: u32,
    metric: Metric,
    make: &mut dyn FnMut(&mut Rng) -> VectorValue,
) {
    let db = TestDatabase::new();
    let collection = kind_collection(&db, "docs", kind, dimension, metric);
    let mut rng = Rng::new(11 + dimension as u64);
    // Enough rows that PostgreSQL's plan walks the HNSW index (at 600 it scans, and says so).
    let rows: Vec<(String, VectorValue)> = (0..3000)
        .map(|id| (format!("item-{id}"), make(&mut rng)))
        .collect();
    let items: Vec<NewEmbedding> = rows
        .iter()
        .enumerate()
        .map(|(id, (_, vector))| item(id, vector.clone()))
        .collect();
    db.store()
        .write(|uow| uow.embeddings().insert(&collection, items))
        .unwrap();
    let queries: Vec<VectorValue> = (0..10).map(|_| make(&mut rng)).collect();
    let filter = Filter::eq("n", 1);
    let check_distances = |hits: &[embedstore::SearchHit], query: &VectorValue| {
        for hit in hits {
            let index: usize = hit.external_id["item-".len()..].parse().unwrap();
            let expected = metric.value_distance(query, &rows[index].1);
            assert!(
                (hit.distance - expected).abs() <= 1e-4 * expected.abs().max(1.0),
                "{kind} {metric}: {} distance {} vs {expected}",
                hit.external_id,
                hit.distance
            );
        }
    };
    // Exact: the same ids as brute force (ties aside) and the same distances.
    for query in &queries {
        let response = db
            .store()
            .search(
                &collection,
                SearchRequest::vector(query.clone(), 10).with_exact(true),
            )
            .unwrap();
        assert_eq!(response.path, SearchPath::Exact);
        let truth = nearest(metric, &rows, query, 10, |_| true);
        let got: Vec<f64> = response.hits.iter().map(|hit| hit.distance).collect();
        let want: Vec<f64> = truth.iter().map(|(_, distance)| *distance).collect();
        for (got, want) in got.iter().zip(&want) {
            assert!(
                (got - want).abs() <= 1e-4 * want.abs().max(1.0),
                "{kind} {metric}: {got:?} vs {want:?}"
            );
        }
        check_distances(&response.hits, query);
    }
    // A batch is one statement (a `sparsevec[]` / `bit[]` parameter) answering each query as
    // a single search does.
    let template = SearchRequest::vector(queries[0].clone(), 10)
        .with_exact(true)
        .with_filter(filter.clone());
    let batch = db
        .store()
        .search_batch(&collection, &queries, &template)
        .unwrap();
    assert_eq!(batch.len(), queries.len());
    for (response, query) in batch.iter().zip(&queries) {
        let single = db
            .store()
            .search(&collection, template.clone().with_query(query.clone()))
            .unwrap();
        assert_eq!(response.hits, single.hits, "{kind} {metric}");
        assert_eq!(response.hits.len(), 10);
    }
    // HNSW on the collection's own column, with and without a filter.
    let status = db
        .store()
        .indexes(&collection)
        .create(&IndexSpec::hnsw(), None)
        .unwrap();
    let element = match kind {
        VectorKind::Sparse => "sparsevec",
        VectorKind::Bit => "bit",
        VectorKind::Dense => "vector",
        other => panic!("unsupported kind {other}: this test knows no index element for it"),
    };
    assert_eq!(status.element.as_deref(), Some(element));
    let (mut found, mut wanted) = (0, 0);
    for query in &queries {
        for filtered in [false, true] {
            let mut request = SearchRequest::vector(query.clone(), 10)
                .with_ef_search(200)
                .include_vector(true);
            if filtered {
                request = request.with_filter(filter.clone());
            }
            let response = db.store().search(&collection, request).unwrap();
            assert_eq!(response.path, SearchPath::Ann, "{kind} {metric}");
            assert_eq!(response.hits.len(), 10, "{kind} {metric}: k rows");
            check_distances(&response.hits, query);
            for hit in &response.hits {
                let index: usize = hit.external_id["item-".len()..].parse().unwrap();
                assert_eq!(hit.vector.as_ref(), Some(&rows[index].1));
                if filtered {
                    assert_eq!(index % 3, 1, "the filter holds");
                }
            }
            let truth = nearest(metric, &rows, query, 10, |index| {
                !filtered || index % 3 == 1
            });
            let cutoff = truth.last().unwrap().1;
            wanted += truth.len();
            found += response
                .hits
                .iter()
                .filter(|hit| hit.distance <= cutoff + 1e-6)
                .count();
        }
    }
    let recall = found as f64 / wanted as f64;
    assert!(recall >= 0.9, "{kind} {metric}: recall {recall}");
}

#[test]
fn sparse_collections_search_exactly_and_with_hnsw_under_every_metric() {
    for metric in Metric::FLOAT {
        search_kind(VectorKind::Sparse, 2000, metric, &mut |rng| {
            VectorValue::from(sparse(rng, 2000, 40))
        });
    }
}

#[test]
fn bit_collections_search_exactly_and_with_hnsw_under_hamming_and_jaccard() {
    for metric in Metric::BIT {
        search_kind(VectorKind::Bit, 96, metric, &mut |rng| {
            VectorValue::from(bits(rng, 96))
        });
    }
}

#[test]
fn jsonl_ingest_and_export_round_trip_sparse_and_bit_collections() {
    let db = TestDatabase::new();
    let scratch = Scratch::new(&db);
    let sparse_docs = kind_collection(
        &db,
        "splade",
        VectorKind::Sparse,
        30522,
        Metric::InnerProduct,
    );
    let bit_docs = kind_collection(&db, "hashes", VectorKind::Bit, 12, Metric::Hamming);
    let sparse_lines = [
        r#"{"id": "a", "vector": {"indices": [0, 30521], "values": [1.5, -2.25], "dim": 30522}, "metadata": {"lang": "en"}}"#,
        r#"{"id": "b", "vector": {"dim": 30522, "values": [3e-7], "indices": [17]}, "content": "x\ty"}"#,
    ];
    let bit_lines = [
        r#"{"id": "a", "vector": "101100000001"}"#,
        r#"{"id": "b", "vector": [1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1]}"#,
        r#"{"id": "c", "vector": [true, false, false, false, false, false, false, false, false, false, false, false]}"#,
    ];
    for (name, lines) in [("splade", &sparse_lines[..]), ("hashes", &bit_lines[..])] {
        let text = lines.join("\n") + "\n";
        let mut source =
            JsonlSource::from_reader(std::io::Cursor::new(text.into_bytes()), "in.jsonl");
        let options = IngestOptions {
            mode: WriteMode::Upsert,
            ..IngestOptions::default()
        };
        let summary = Ingest::new(db.store(), name, options)
            .run(&mut source, &mut ())
            .unwrap();
        assert_eq!(summary.rejected, 0, "{name}: {summary:?}");
    }
    assert_eq!(
        stored(
            &db,
            &bit_docs,
            &["a".to_owned(), "b".to_owned(), "c".to_owned()]
        ),
        [
            VectorValue::Bit("101100000001".parse().unwrap()),
            VectorValue::Bit("101100000001".parse().unwrap()),
            VectorValue::Bit("100000000000".parse().unwrap()),
        ]
    );
    for (collection, expected) in [
        (
            &sparse_docs,
            vec![
                json!({"external_id": "a", "vector": {"indices": [0, 30521], "values": [1.5, -2.25], "dim": 30522}, "metadata": {"lang": "en"}}),
                json!({"external_id": "b", "vector": {"indices": [17], "values": [3e-7], "dim": 30522}, "metadata": {}, "content": "x\ty"}),
            ],
        ),
        (
            &bit_docs,
            vec![
                json!({"external_id": "a", "vector": "101100000001", "metadata": {}}),
                json!({"external_id": "b", "vector": "101100000001", "metadata": {}}),
                json!({"external_id": "c", "vector": "100000000000", "metadata": {}}),
            ],
        ),
    ] {
        let dir = scratch.path(&collection.name);
        let summary = db
            .store()
            .export(&collection.name)
            .jsonl(&dir, &mut |_, _| {})
            .unwrap();
        assert_eq!(summary.rows, expected.len() as u64);
        let text = std::fs::read_to_string(dir.join("embeddings.jsonl")).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        // f32 values come back as the same f32 (3e-7 prints as its shortest f32 form).
        let as_f32 = |value: &serde_json::Value| -> serde_json::Value {
            serde_json::from_str::<VectorValue>(&value.to_string())
                .map(|vector| serde_json::to_value(vector).unwrap())
                .unwrap()
        };
        for (line, expected) in lines.iter().zip(&expected) {
            assert_eq!(line["external_id"], expected["external_id"]);
            assert_eq!(as_f32(&line["vector"]), as_f32(&expected["vector"]));
            assert_eq!(line["metadata"], expected["metadata"]);
            assert_eq!(line.get("content"), expected.get("content"));
        }
        // And the export ingests again into an empty collection, unchanged.
        let again = kind_collection(
            &db,
            &format!("{}-again", collection.name),
            collection.kind,
            collection.dimension,
            collection.metric,
        );
        let mut source = JsonlSource::open(&dir.join("embeddings.jsonl")).unwrap();
        Ingest::new(db.store(), again.name.clone(), IngestOptions::default())
            .run(&mut source, &mut ())
            .unwrap();
        let ids: Vec<String> = expected
            .iter()
            .map(|line| line["external_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(stored(&db, &again, &ids), stored(&db, collection, &ids));
    }
}

#[test]
fn mmr_grouping_and_batches_work_on_sparse_collections() {
    let db = TestDatabase::new();
    let collection = kind_collection(&db, "splade", VectorKind::Sparse, 50, Metric::Cosine);
    let mut rng = Rng::new(5);
    let rows: Vec<(String, VectorValue)> = (0..60)
        .map(|id| {
            (
                format!("item-{id}"),
                VectorValue::from(sparse(&mut rng, 50, 8)),
            )
        })
        .collect();
    db.store()
        .write(|uow| {
            uow.embeddings().insert(
                &collection,
                rows.iter()
                    .enumerate()
                    .map(|(id, (_, vector))| item(id, vector.clone()))
                    .collect(),
            )
        })
        .unwrap();
    let query = VectorValue::from(sparse(&mut rng, 50, 8));
    let truth = nearest(Metric::Cosine, &rows, &query, 5, |_| true);
    // MMR with lambda 1 is plain relevance: the nearest first.
    let response = db
        .store()
        .search(
            &collection,
            SearchRequest::vector(query.clone(), 5).with_shape(Shape::mmr(1.0, 20)),
        )
        .unwrap();
    let ids: Vec<&str> = response
        .hits
        .iter()
        .map(|hit| hit.external_id.as_str())
        .collect();
    let want: Vec<&str> = truth.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, want);
    // Grouped by the metadata field n: three groups.
    let grouped = db
        .store()
        .search(
            &collection,
            SearchRequest::vector(query.clone(), 3).with_shape(Shape::grouped(&"n".into(), 2)),
        )
        .unwrap();
    assert_eq!(grouped.groups, Some(3));
    assert_eq!(grouped.hits.len(), 6);
    // A batch of sparse queries answers each as a single search would.
    let queries = vec![query.clone(), VectorValue::from(sparse(&mut rng, 50, 8))];
    let batch = db
        .store()
        .search_batch(
            &collection,
            &queries,
            SearchRequest::vector(query.clone(), 4),
        )
        .unwrap();
    for (response, query) in batch.iter().zip(&queries) {
        let single = db
            .store()
            .search(&collection, SearchRequest::vector(query.clone(), 4))
            .unwrap();
        assert_eq!(response.hits, single.hits);
    }
}
