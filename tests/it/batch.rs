//! Batches that survive: a batch search runs in chunks sized to the statement timeout, hands
//! each query's response over as its chunk is answered, and a chunk that still fails says
//! where the batch stopped.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use embedstore::{Config, DatabaseErrorKind, Error, Metric, SearchRequest, Store};
use embedstore_test_support::TestDatabase;

use crate::support::{Rng, ids, items, with_collection, with_items};

fn store_with_timeout(db: &TestDatabase, timeout: Duration) -> Store {
    let mut config = Config::new(db.url().expose_secret().to_owned()).unwrap();
    config.statement_timeout = Some(timeout);
    config.pool_min_idle = 0;
    Store::connect(config).unwrap()
}

#[test]
fn a_batch_longer_than_the_statement_timeout_completes_in_chunks() {
    let (db, docs) = with_collection("big", 64, Metric::L2);
    let mut rng = Rng::new(11);
    for part in 0..4 {
        let batch: Vec<_> = items(&mut rng, 5_000, 64)
            .into_iter()
            .map(|mut item| {
                item.external_id = format!("p{part}-{}", item.external_id);
                item
            })
            .collect();
        db.store()
            .write(|uow| uow.embeddings().insert(&docs, batch))
            .unwrap();
    }
    let queries: Vec<Vec<f32>> = (0..800).map(|_| rng.vector(64)).collect();
    let template = SearchRequest::vector(Vec::new(), 5).with_exact(true);
    // The timeout is set from this server's own speed: eight times what the first chunk (16
    // exact queries over 20,000 rows) takes here, and at least 100 ms. The library sizes each
    // later chunk to a quarter of the timeout at the pace of the chunk before, so a chunk fails
    // only if the server slows down more than fourfold from one chunk to the next. The
    // whole batch, as one statement, takes 50 first chunks: far past the timeout — the premise
    // is checked.
    let started = Instant::now();
    db.store()
        .search_batch(&docs, &queries[..16], &template)
        .unwrap();
    let first_chunk = started.elapsed();
    let timeout = (first_chunk * 8).max(Duration::from_millis(100));
    assert!(
        first_chunk * 50 > timeout * 3,
        "premise: the batch as one statement ({:?} per 16 queries × 50) must exceed the timeout \
         {timeout:?} severalfold",
        first_chunk
    );
    let store = store_with_timeout(&db, timeout);
    let mut order = Vec::new();
    let mut responses = Vec::new();
    let answered = store
        .search_batch_each(&docs, &queries, &template, |index, response| {
            order.push(index);
            responses.push(response);
            ControlFlow::Continue(())
        })
        .unwrap_or_else(|error| panic!("timeout {timeout:?}: {error}"));
    assert_eq!(answered, queries.len());
    assert_eq!(order, (0..queries.len()).collect::<Vec<_>>());
    assert!(responses.iter().all(|response| response.hits.len() == 5));
    // The answers are the queries' own: a few checked against single searches.
    for index in [0, 15, 16, 17, 200, 799] {
        let single = db
            .store()
            .search(&docs, template.clone().with_query(queries[index].clone()))
            .unwrap();
        assert_eq!(ids(&responses[index]), ids(&single), "query {index}");
    }
    // search_batch gives the same, in one Vec.
    let batch = store.search_batch(&docs, &queries, &template).unwrap();
    assert_eq!(batch.len(), queries.len());
    assert_eq!(ids(&batch[799]), ids(&responses[799]));
}

#[test]
fn a_chunk_that_times_out_names_the_setting_the_chunk_and_what_was_answered() {
    let (db, docs) = with_items("docs", 4, Metric::L2, 200, 3);
    let store = store_with_timeout(&db, Duration::from_millis(300));
    let queries: Vec<Vec<f32>> = (0..100)
        .map(|index| vec![index as f32 / 100.0; 4])
        .collect();
    let mut holder = db.raw_connection();
    let mut seen = Vec::new();
    let error = store
        .search_batch_each(
            &docs,
            &queries,
            SearchRequest::vector(Vec::new(), 3),
            |index, response| {
                if index == 0 {
                    // Once the first chunk is answered, another session takes the table: the
                    // next chunk waits on the lock until the statement timeout cancels it.
                    holder
                        .batch_execute("BEGIN; LOCK TABLE embeddings IN ACCESS EXCLUSIVE MODE")
                        .unwrap();
                }
                seen.push((index, response.hits.len()));
                ControlFlow::Continue(())
            },
        )
        .unwrap_err();
    holder.batch_execute("ROLLBACK").unwrap();
    // The first chunk's 16 answers were handed over before the failure.
    assert_eq!(
        seen,
        (0..16).map(|index| (index, 3)).collect::<Vec<_>>(),
        "{error}"
    );
    let Error::Database(database) = &error else {
        panic!("expected a database error, got {error:?}");
    };
    assert_eq!(database.kind(), DatabaseErrorKind::StatementTimeout);
    let progress = database.batch().expect("the batch's progress");
    assert_eq!(progress.answered, 16);
    assert_eq!(progress.chunk.start, 16);
    assert!(
        progress.chunk.end > 16 && progress.chunk.end <= 100,
        "{progress:?}"
    );
    assert_eq!(progress.total, 100);
    assert_eq!(progress.statement_timeout, Some(Duration::from_millis(300)));
    let text = error.to_string();
    for part in [
        "EMBEDSTORE_STATEMENT_TIMEOUT_MS = 300 ms",
        "chunk of queries 16..",
        "after 16 of 100 queries answered",
    ] {
        assert!(text.contains(part), "{part:?} missing from {text}");
    }
    // search_batch fails the same way, with nothing partial: the lock is gone, so it completes.
    assert_eq!(
        store
            .search_batch(&docs, &queries, SearchRequest::vector(Vec::new(), 3))
            .unwrap()
            .len(),
        100
    );
}

#[test]
fn a_batch_stops_where_the_caller_breaks() {
    let (db, docs) = with_items("docs", 4, Metric::L2, 50, 4);
    let queries: Vec<Vec<f32>> = (0..60).map(|index| vec![index as f32; 4]).collect();
    let mut seen = 0;
    let answered = db
        .store()
        .search_batch_each(
            &docs,
            &queries,
            SearchRequest::vector(Vec::new(), 2),
            |_, _| {
                seen += 1;
                ControlFlow::Break(())
            },
        )
        .unwrap();
    // Nothing is handed over after the break, and no further chunk runs.
    assert_eq!((answered, seen), (1, 1));
}
