//! How many statements (round trips) a search costs, counted by diesel's instrumentation on
//! the connection — a measurement that does not depend on timing.

use std::cell::RefCell;

use diesel::connection::{Instrumentation, InstrumentationEvent, set_default_instrumentation};
use embedstore::{Filter, IndexSpec, Metric, NewCollection, SearchRequest};

use crate::support::{Rng, items, single_connection_store};

thread_local! {
    /// The statements this thread's connections started, in order.
    static STATEMENTS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn recorder() -> Option<Box<dyn Instrumentation>> {
    Some(Box::new(|event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            let text = query.to_string();
            STATEMENTS.with(|statements| statements.borrow_mut().push(text));
        }
    }))
}

/// The statements `work` sent from this thread.
fn statements_of(work: impl FnOnce()) -> Vec<String> {
    STATEMENTS.with(|statements| statements.borrow_mut().clear());
    work();
    STATEMENTS.with(|statements| statements.borrow_mut().drain(..).collect())
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
    set_default_instrumentation(recorder).unwrap();
    let db = embedstore::testing::TestDatabase::new();
    let store = single_connection_store(&db);
    let collection = store
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new("trips", 8, Metric::L2, "m"))
        })
        .unwrap();
    let batch = items(&mut Rng::new(3), 500, 8);
    let query = batch[0].vector.clone();
    store
        .write(|uow| uow.embeddings().insert(&collection, batch))
        .unwrap();
    store
        .create_index(&collection, &IndexSpec::hnsw(), None)
        .unwrap();
    let request = SearchRequest::new(query, 5);
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

    let in_unit_of_work = statements_of(|| {
        store
            .read(|uow| uow.search(&collection, request.clone()))
            .unwrap();
    });
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

    // A filtered ANN search also sends the planner settings with its BEGIN.
    let filtered = statements_of(|| {
        store
            .search(
                &collection,
                request.clone().with_filter(Filter::gte("n", 0)),
            )
            .unwrap();
    });
    assert_eq!(filtered.len(), 3, "{:?}", short(&filtered));
}
