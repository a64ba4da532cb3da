//! How many statements (round trips) a search costs, counted by diesel's instrumentation on
//! the connection — a measurement that does not depend on timing.

use embedstore::{Filter, IndexSpec, Metric, NewCollection, SearchRequest};

use crate::support::statements::{install, of as statements_of};
use crate::support::{Rng, items, single_connection_store};

/// The statements one `uow.search` of `request` sent from this thread.
fn statements_in_unit_of_work(
    store: &embedstore::Store,
    collection: &embedstore::Collection,
    request: &(impl Into<SearchRequest> + Clone),
) -> Vec<String> {
    statements_of(|| {
        store
            .read(|uow| uow.search(collection, request.clone()))
            .unwrap();
    })
}

fn short(statements: &[String]) -> Vec<String> {
    statements
        .iter()
        .map(|statement| statement.chars().take(40).collect())
        .collect()
}

#[test]
fn a_search_outside_a_unit_of_work_is_one_statement() {
    // Every connection opened from now on in this process records its statements per thread;
    // other tests' connections record into their own threads' lists, which nobody reads.
    install();
    let db = embedstore_test_support::TestDatabase::new();
    let store = single_connection_store(&db);
    let batch = items(&mut Rng::new(3), 500, 8);
    let query = batch[0].vector.clone();
    let collection = indexed_collection(&store, "trips", Metric::L2, batch);
    let request = SearchRequest::vector(query, 5);
    // Warm the store's index cache.
    store.search(&collection, request.clone()).unwrap();

    let lean = statements_of(|| {
        store.search(&collection, request.clone()).unwrap();
    });
    assert_eq!(lean.len(), 1, "{:?}", short(&lean));
    assert!(
        lean[0].starts_with("SELECT 1::bigint AS query"),
        "{:?}",
        short(&lean)
    );

    let in_unit_of_work = statements_in_unit_of_work(&store, &collection, &request);
    assert_eq!(
        in_unit_of_work.len(),
        3,
        "BEGIN, search, COMMIT: {:?}",
        short(&in_unit_of_work)
    );

    let batch_of_ten = statements_of(|| {
        let queries: Vec<Vec<f32>> = (0..10).map(|index| vec![index as f32; 8]).collect();
        store.search_batch(&collection, &queries, &request).unwrap();
    });
    assert_eq!(batch_of_ten.len(), 1, "{:?}", short(&batch_of_ten));

    // A filtered ANN search is one statement too: no planner settings, so no transaction
    // around it. (Its first run samples the unindexed filter and reads the shape's plan once:
    // warmed like the index facts above.)
    let filtered_request = request.clone().with_filter(Filter::gte("n", 0));
    store.search(&collection, filtered_request.clone()).unwrap();
    let filtered = statements_of(|| {
        store.search(&collection, filtered_request.clone()).unwrap();
    });
    assert_eq!(filtered.len(), 1, "{:?}", short(&filtered));
    // Inside a unit of work: BEGIN, the search, COMMIT — no savepoint, no SET LOCAL.
    let filtered_in_unit_of_work =
        statements_in_unit_of_work(&store, &collection, &filtered_request);
    assert_eq!(
        filtered_in_unit_of_work.len(),
        3,
        "{:?}",
        short(&filtered_in_unit_of_work)
    );
}

#[derive(diesel::QueryableByName)]
struct PreparedSearch {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    statements: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    generic_plans: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    custom_plans: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    ef_search: String,
}

/// The prepared statements on the store's one connection whose text is `LIKE pattern`, their
/// plans, and `hnsw.ef_search` as the session has it after the searches.
fn prepared_searches(store: &embedstore::Store, pattern: &str) -> PreparedSearch {
    use diesel::RunQueryDsl;
    store
        .read(|uow| {
            diesel::sql_query(
                "SELECT count(*)::bigint AS statements, \
                 coalesce(sum(generic_plans), 0)::bigint AS generic_plans, \
                 coalesce(sum(custom_plans), 0)::bigint AS custom_plans, \
                 current_setting('hnsw.ef_search') AS ef_search \
                 FROM pg_prepared_statements WHERE statement LIKE $1",
            )
            .bind::<diesel::sql_types::Text, _>(pattern)
            .get_result(uow.connection())
            .map_err(embedstore::Error::from)
        })
        .unwrap()
}

#[test]
fn unfiltered_searches_are_prepared_once_and_keep_one_generic_plan_without_leaking_settings() {
    let db = embedstore_test_support::TestDatabase::new();
    let store = single_connection_store(&db);
    let batch = items(&mut Rng::new(5), 400, 8);
    let queries: Vec<Vec<f32>> = batch
        .iter()
        .take(12)
        .map(|item| item.vector.to_vec())
        .collect();
    let collection = indexed_collection(&store, "prepared", Metric::Cosine, batch);
    for (index, query) in queries.iter().enumerate() {
        // Different vectors, k and ef_search: all values, one statement shape.
        let request = SearchRequest::vector(query.clone(), 3 + index as u32 % 4)
            .with_ef_search(50 + index as u32);
        let response = store.search(&collection, request).unwrap();
        assert_eq!(response.hits.len(), 3 + index % 4);
        assert_eq!(response.hits[0].external_id, format!("item-{index}"));
    }
    let seen = prepared_searches(&store, "%AS query, hit.*%");
    assert_eq!(
        seen.statements, 1,
        "one prepared statement for every request"
    );
    assert!(
        seen.generic_plans >= 6 && seen.custom_plans <= 6,
        "PostgreSQL settles on the generic plan: {} generic, {} custom",
        seen.generic_plans,
        seen.custom_plans
    );
    assert_eq!(
        seen.ef_search, "40",
        "the per-search ef_search must not leak"
    );
}

#[test]
fn a_filter_searched_again_is_not_estimated_again() {
    install();
    let db = embedstore_test_support::TestDatabase::new();
    let store = single_connection_store(&db);
    let batch = items(&mut Rng::new(9), 300, 8);
    let query = batch[0].vector.clone();
    let collection = indexed_collection(&store, "estimates", Metric::L2, batch);
    store
        .indexes(&collection)
        .payload()
        .create(
            &embedstore::FieldPath::parse("n").unwrap(),
            embedstore::PayloadKind::Integer,
        )
        .unwrap();
    let request = SearchRequest::vector(query, 5).with_filter(Filter::gte("n", 0));
    let explains = |statements: &[String]| {
        statements
            .iter()
            .filter(|statement| statement.starts_with("EXPLAIN"))
            .count()
    };
    // Warms the index facts and diesel's type lookups with another value.
    store
        .search(
            &collection,
            request.clone().with_filter(Filter::gte("n", 1)),
        )
        .unwrap();
    let first = statements_of(|| {
        store.search(&collection, request.clone()).unwrap();
    });
    assert_eq!(explains(&first), 1, "{:?}", short(&first));
    let again = statements_of(|| {
        let response = store.search(&collection, request.clone()).unwrap();
        assert!(response.estimated_matches.is_some());
    });
    assert_eq!(explains(&again), 0, "{:?}", short(&again));
    let first_without_estimate: Vec<String> = first
        .iter()
        .filter(|statement| !statement.starts_with("EXPLAIN"))
        .cloned()
        .collect();
    assert_eq!(
        again, first_without_estimate,
        "the same search, less the estimate"
    );
    // Another value of the same field is another estimate.
    let other = statements_of(|| {
        store
            .search(
                &collection,
                request.clone().with_filter(Filter::gte("n", 150)),
            )
            .unwrap();
    });
    assert_eq!(explains(&other), 1, "{:?}", short(&other));
    // Building an index forgets the collection's estimates (the build analyzes the table).
    store
        .indexes(&collection)
        .payload()
        .create(
            &embedstore::FieldPath::parse("tag").unwrap(),
            embedstore::PayloadKind::Keyword,
        )
        .unwrap();
    let rebuilt = statements_of(|| {
        store.search(&collection, request.clone()).unwrap();
    });
    assert_eq!(explains(&rebuilt), 1, "{:?}", short(&rebuilt));
}

#[test]
fn a_threshold_no_row_meets_sends_the_same_statements_and_never_walks_the_index_further() {
    // pgvector's iterative scan, given a distance condition in SQL that no row meets, walks
    // `max_scan_tuples` (20,000 by default) before it gives up. embedstore never puts the
    // threshold into SQL: the index returns its k nearest, and the threshold is applied to
    // those, so a threshold costs nothing and cannot start a walk or an exact fallback.
    install();
    let db = embedstore_test_support::TestDatabase::new();
    let store = single_connection_store(&db);
    let batch = items(&mut Rng::new(11), 600, 8);
    let collection = indexed_collection(&store, "threshold", Metric::Cosine, batch);
    let query = Rng::new(12).vector(8);
    for filter in [None, Some(Filter::gte("n", 0))] {
        let mut plain = SearchRequest::vector(query.clone(), 10);
        if let Some(filter) = &filter {
            plain = plain.with_filter(filter.clone());
        }
        store.search(&collection, plain.clone()).unwrap();
        let mut path = None;
        let without = statements_of(|| {
            let response = store.search(&collection, plain.clone()).unwrap();
            assert_eq!(response.returned, 10);
            path = Some(response.path);
        });
        // 600 rows: PostgreSQL's plan may scan rather than walk the index (then the path is
        // exact from the start); a threshold never changes it.
        let path = path.unwrap();
        assert_ne!(path, embedstore::SearchPath::AnnThenExact);
        for strict in [
            plain.clone().with_max_distance(1e-12),
            plain.clone().with_min_score(0.999_999_999),
        ] {
            let with = statements_of(|| {
                let response = store.search(&collection, strict.clone()).unwrap();
                assert_eq!(response.returned, 0);
                assert_eq!(response.path, path, "no exact fallback");
            });
            // The same statements (an empty answer adds the check that the collection still
            // exists); the threshold is nowhere in them.
            assert_eq!(&with[..without.len()], &without[..], "filter {filter:?}");
            assert!(with.len() <= without.len() + 1, "{:?}", short(&with));
        }
    }
}

#[test]
fn a_filtered_ann_statement_is_prepared_walks_the_index_and_leaves_no_setting_behind() {
    let db = embedstore_test_support::TestDatabase::new();
    let store = single_connection_store(&db);
    // 2,000 rows: on 500 rows of 8 dimensions PostgreSQL rightly prefers sorting them all to
    // walking the index (the verdict then reports the exact path).
    let batch = items(&mut Rng::new(21), 2_000, 8);
    let queries: Vec<Vec<f32>> = batch
        .iter()
        .take(8)
        .map(|item| item.vector.to_vec())
        .collect();
    let collection = indexed_collection(&store, "filtered_prepared", Metric::L2, batch);
    for (index, query) in queries.iter().enumerate() {
        // Different values, one shape: n >= index keeps the query's own row (n = index).
        let request = SearchRequest::vector(query.clone(), 5)
            .with_filter(Filter::gte("n", index as i64))
            .with_ef_search(60 + index as u32);
        for response in [
            store.search(&collection, request.clone()).unwrap(),
            store
                .read(|uow| uow.search(&collection, request.clone()))
                .unwrap(),
        ] {
            assert_eq!(response.path, embedstore::SearchPath::Ann);
            assert_eq!(response.hits[0].external_id, format!("item-{index}"));
            assert!(
                response
                    .hits
                    .iter()
                    .all(|hit| hit.external_id != "item-0" || index == 0)
            );
        }
    }
    let seen = prepared_searches(&store, "%embedstore_jsonb_numeric%");
    assert_eq!(
        seen.statements, 1,
        "one prepared statement for the filter's shape"
    );
    assert!(
        seen.generic_plans >= 10,
        "PostgreSQL keeps the generic plan for every value: {} generic, {} custom",
        seen.generic_plans,
        seen.custom_plans
    );
    assert_eq!(
        seen.ef_search, "40",
        "pgvector's settings end with the search (40 is pgvector's default)"
    );
}

/// A collection of 8-dimension `items` (`item-<n>`, metadata `{"n": n}`) with an HNSW index.
fn indexed_collection(
    store: &embedstore::Store,
    name: &str,
    metric: Metric,
    batch: Vec<embedstore::NewEmbedding>,
) -> embedstore::Collection {
    let collection = store
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new(name, 8, metric, "m"))
        })
        .unwrap();
    store
        .write(|uow| uow.embeddings().insert(&collection, batch))
        .unwrap();
    store
        .indexes(&collection)
        .create(&IndexSpec::hnsw(), None)
        .unwrap();
    collection
}
