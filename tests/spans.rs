//! The `tracing` spans of Store operations, captured by a subscriber of the test's own: the
//! fields an operator needs are there, and no password, vector, metadata or filter value,
//! content, external id, tenant or unchecked name ever is.
//!
//! A test binary of its own: `tracing` caches each callsite's interest process-wide, and in
//! the `it` binary other tests hit the same callsites concurrently with no subscriber, which
//! now and then left a span of this test's scoped subscriber unrecorded. Alone in its process
//! the capture is exact.
#![expect(clippy::unwrap_used, reason = "a test fails loudly")]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use embedstore::{
    Config, FieldPath, Filter, HealthOptions, IndexSpec, Metric, NewCollection, NewEmbedding,
    PayloadKind, RecallRequest, SearchRequest, Store, WorkOptions,
};
use embedstore_test_support::TestDatabase;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// One span as recorded: its name and every field value, as text.
#[derive(Debug, Clone)]
struct Captured {
    name: &'static str,
    fields: BTreeMap<&'static str, String>,
}

/// Records every span and event on the thread it is the default for.
#[derive(Default, Clone)]
struct Capture {
    spans: Arc<Mutex<Vec<Captured>>>,
}

struct Fields<'a>(&'a mut BTreeMap<&'static str, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_owned());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let mut fields = BTreeMap::new();
        attributes.record(&mut Fields(&mut fields));
        let mut spans = self.spans.lock().unwrap();
        spans.push(Captured {
            name: attributes.metadata().name(),
            fields,
        });
        Id::from_u64(spans.len() as u64)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut spans = self.spans.lock().unwrap();
        let index = usize::try_from(span.into_u64()).unwrap() - 1;
        values.record(&mut Fields(&mut spans[index].fields));
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.spans.lock().unwrap().push(Captured {
            name: event.metadata().name(),
            fields,
        });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Held by each test for its whole run: two scoped subscribers on two threads at once left a
/// span of one of them unrecorded now and then (callsite interest is cached process-wide),
/// so the tests of this binary take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Values that would be a leak anywhere in a span.
const VECTOR: [f32; 4] = [0.314_159_27, 0.271_828_18, 0.141_421_36, 0.173_205_08];
const SECRETS: [&str; 6] = [
    "meta-secret-value",
    "filter-secret-value",
    "content-secret",
    "id-secret",
    "tenant-secret",
    "Hostile Name",
];

#[test]
fn store_operations_are_traced_with_their_facts_and_without_secrets() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let db = TestDatabase::new();
    let url = db.url().expose_secret().to_owned();
    // The test server's own password may be a common word (even the database's name): a
    // connection with a distinctive one shows that a URL's password never reaches a span.
    let mut wrong = url::Url::parse(&url).unwrap();
    wrong.set_password(Some("pw-secret-5bX9")).unwrap();
    let out = std::env::temp_dir().join(format!("embedstore-spans-{}", std::process::id()));
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), || {
        // Refused, or accepted by a server that trusts loopback: either way a span.
        drop(Store::connect(Config::new(wrong.to_string()).unwrap()));
        let store = Store::connect(Config::new(url.clone()).unwrap()).unwrap();
        let docs = store
            .write(|uow| {
                uow.collections()
                    .create(NewCollection::new("traced", 4, Metric::Cosine, "m"))
            })
            .unwrap();
        let rows: Vec<NewEmbedding> = (0..50u8)
            .map(|index| {
                let mut vector = VECTOR.to_vec();
                vector[0] += f32::from(index) / 1000.0;
                NewEmbedding::new(format!("id-secret-{index}"), vector)
                    .with_content("content-secret")
                    .with_metadata(serde_json::json!({"tag": "meta-secret-value"}))
            })
            .collect();
        store
            .write(|uow| uow.embeddings().insert(&docs, rows))
            .unwrap();
        store
            .run(&WorkOptions::write().tenant("tenant-secret"), |uow| {
                uow.embeddings().upsert(
                    &docs,
                    vec![NewEmbedding::new("id-secret-x", VECTOR.to_vec())],
                )
            })
            .unwrap();
        store
            .write(|uow| uow.aliases().set("live", "traced"))
            .unwrap();
        store
            .indexes(&docs)
            .create(&IndexSpec::hnsw(), None)
            .unwrap();
        let filter = Filter::from_json(&serde_json::json!({"tag": "filter-secret-value"})).unwrap();
        let request = SearchRequest::vector(VECTOR.to_vec(), 5).with_filter(filter);
        store
            .read(|uow| {
                let live = uow.collections().get("live")?;
                uow.search(&live, request.clone())
            })
            .unwrap();
        let plain = SearchRequest::vector(VECTOR.to_vec(), 7).with_ef_search(64);
        store.search(&docs, plain).unwrap();
        // A refused search still ends its span, with the error's kind.
        assert!(
            store
                .search(&docs, SearchRequest::vector(vec![1.0; 3], 5))
                .is_err()
        );
        store
            .measure_recall(&docs, &RecallRequest::sample(3, 5))
            .unwrap();
        store
            .write(|uow| uow.embeddings().delete(&docs, &["id-secret-1"]))
            .unwrap();
        // The handles' operations: a payload index (its kind, never its field), the index's
        // drift, and exports (the collection as asked, only once found; never a path).
        let indexes = store.indexes(&docs);
        let payload = indexes
            .payload()
            .create(&FieldPath::parse("tag").unwrap(), PayloadKind::Keyword)
            .unwrap();
        // With the payload index the planner compares its estimate with the threshold.
        let tagged = Filter::eq("tag", "filter-secret-value");
        store
            .search(
                &docs,
                SearchRequest::vector(VECTOR.to_vec(), 4).with_filter(tagged),
            )
            .unwrap();
        assert!(indexes.payload().drop(payload.id).unwrap());
        indexes
            .health(&HealthOptions::default().recall_queries(2).k(3))
            .unwrap();
        store.export("live").jsonl(&out, &mut |_, _| {}).unwrap();
        assert!(
            store
                .export("Hostile Name")
                .jsonl(&out, &mut |_, _| {})
                .is_err()
        );
        // Reads by key (uncached: this store has no cache), an id never recorded.
        assert!(store.get(&docs, "id-secret-2").unwrap().is_some());
        assert_eq!(store.collection("traced").unwrap().id, docs.id);
        assert!(store.collection("Hostile Name").is_err());
        // Failures: the name is never recorded, only the error's kind.
        assert!(
            store
                .read(|uow| uow.collections().get("Hostile Name"))
                .is_err()
        );
        assert!(
            store
                .write(|uow| uow.aliases().set("Hostile Name", "traced"))
                .is_err()
        );
    });
    let spans = capture.spans.lock().unwrap().clone();

    let find = |name: &str, check: &dyn Fn(&Captured) -> bool| -> Captured {
        spans
            .iter()
            .find(|span| span.name == name && check(span))
            .unwrap_or_else(|| panic!("no {name} span as expected in {spans:#?}"))
            .clone()
    };
    let field = |span: &Captured, name: &str| -> String {
        span.fields
            .get(name)
            .unwrap_or_else(|| panic!("{} has no {name}: {span:?}", span.name))
            .clone()
    };
    assert!(spans.iter().filter(|span| span.name == "connect").count() >= 2);
    let connect = find("connect", &|span| !span.fields.contains_key("error"));
    assert!(field(&connect, "target").contains('/'), "{connect:?}");
    field(&connect, "duration_ms");
    let created = find("create_collection", &|_| true);
    assert_eq!(field(&created, "collection"), "traced");
    assert_eq!(field(&created, "dimension"), "4");
    let insert = find("write", &|span| {
        span.fields.get("statement").map(String::as_str) == Some("insert")
    });
    assert_eq!(field(&insert, "inserted"), "50");
    assert_eq!(field(&insert, "collection"), "traced");
    let upsert = find("write", &|span| {
        span.fields.get("statement").map(String::as_str) == Some("upsert")
    });
    assert_eq!(field(&upsert, "inserted"), "1");
    let run = find("run", &|_| true);
    assert_eq!(field(&run, "tenant_bound"), "true");
    let alias = find("set_alias", &|_| true);
    assert_eq!(
        (field(&alias, "alias"), field(&alias, "collection")),
        ("live".to_owned(), "traced".to_owned())
    );
    let index = find("ann_index", &|span| {
        span.fields.get("action").map(String::as_str) == Some("create")
    });
    assert_eq!(field(&index, "method"), "hnsw");
    assert_eq!(field(&index, "rows"), "51");
    let filtered = find("search", &|span| {
        span.fields.get("mode").map(String::as_str) == Some("transaction")
    });
    assert_eq!(field(&filtered, "filtered"), "true");
    // k asked for against what came back: no row carries the filter's value.
    assert_eq!(field(&filtered, "k"), "5");
    assert_eq!(field(&filtered, "returned"), "0");
    assert!(
        ["exact", "ann", "ann_then_exact"].contains(&field(&filtered, "path").as_str()),
        "{filtered:?}"
    );
    let lookup = find("lookup", &|span| {
        span.fields.get("action").map(String::as_str) == Some("get_many")
    });
    assert_eq!(
        (field(&lookup, "requested"), field(&lookup, "returned")),
        ("1".to_owned(), "1".to_owned())
    );
    assert_eq!(field(&lookup, "collection"), "traced");
    let handle = find("lookup", &|span| {
        span.fields.get("action").map(String::as_str) == Some("collection")
            && !span.fields.contains_key("error")
    });
    assert_eq!(field(&handle, "collection"), "traced");
    assert_eq!(field(&handle, "from_cache"), "false");
    let refused_search = find("search", &|span| span.fields.contains_key("error"));
    assert_eq!(field(&refused_search, "error"), "validation");
    assert_eq!(field(&refused_search, "mode"), "autocommit");
    assert!(
        !refused_search.fields.contains_key("path"),
        "{refused_search:?}"
    );
    let missing = find("lookup", &|span| span.fields.contains_key("error"));
    assert_eq!(field(&missing, "error"), "not_found");
    assert!(!missing.fields.contains_key("collection"), "{missing:?}");
    let estimated = find("search", &|span| {
        span.fields.get("k").map(String::as_str) == Some("4")
    });
    field(&estimated, "estimated_matches");
    // 51 rows: the floor of the default threshold.
    assert_eq!(field(&estimated, "exact_threshold_applied"), "1000");
    assert_eq!(field(&estimated, "path"), "exact");
    assert!(
        !filtered.fields.contains_key("exact_threshold_applied"),
        "{filtered:?}"
    );
    let plain = find("search", &|span| {
        span.fields.get("mode").map(String::as_str) == Some("autocommit")
            && span.fields.get("k").map(String::as_str) == Some("7")
    });
    assert_eq!(field(&plain, "ef_search"), "64");
    // 51 rows: PostgreSQL's plan scans instead of walking the index, and the span says what
    // ran.
    assert_eq!(field(&plain, "path"), "exact");
    assert_eq!(field(&plain, "returned"), "7");
    field(&plain, "duration_ms");
    let recall = find("measure_recall", &|_| true);
    assert_eq!(field(&recall, "queries"), "3");
    field(&recall, "recall");
    let deleted = find("write", &|span| {
        span.fields.get("statement").map(String::as_str) == Some("delete")
    });
    assert_eq!(field(&deleted, "deleted"), "1");
    let refused = find("set_alias", &|span| span.fields.contains_key("error"));
    assert_eq!(field(&refused, "error"), "validation");
    assert!(!refused.fields.contains_key("alias"), "{refused:?}");
    assert!(
        spans
            .iter()
            .any(|span| span.name == "unit_of_work" && span.fields.contains_key("duration_ms"))
    );
    let created = find("payload_index", &|span| {
        span.fields.get("action").map(String::as_str) == Some("create")
    });
    assert_eq!(field(&created, "kind"), "keyword");
    field(&created, "duration_ms");
    let dropped = find("payload_index", &|span| {
        span.fields.get("action").map(String::as_str) == Some("drop")
    });
    assert!(!dropped.fields.contains_key("error"), "{dropped:?}");
    let health = find("index_health", &|_| true);
    assert_eq!(
        (field(&health, "recall_queries"), field(&health, "k")),
        ("2".to_owned(), "3".to_owned())
    );
    field(&health, "recall");
    field(&health, "advice");
    let exported = find("export", &|span| !span.fields.contains_key("error"));
    assert_eq!(
        (field(&exported, "format"), field(&exported, "collection")),
        ("jsonl".to_owned(), "live".to_owned())
    );
    assert_eq!(field(&exported, "rows"), "50");
    let refused = find("export", &|span| span.fields.contains_key("error"));
    assert_eq!(field(&refused, "error"), "not_found");
    assert!(!refused.fields.contains_key("collection"), "{refused:?}");
    drop(std::fs::remove_dir_all(&out));

    // Nothing secret anywhere: names, fields or values.
    let mut secrets: Vec<String> = SECRETS.iter().map(|secret| (*secret).to_owned()).collect();
    secrets.push("pw-secret-5bX9".to_owned());
    let mut values = Vec::new();
    for value in VECTOR {
        values.push(format!("{value}"));
        values.push(format!("{value:.4}"));
    }
    for span in &spans {
        let text = format!("{} {:?}", span.name, span.fields);
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{secret:?} leaked into {text}"
            );
        }
        // The vector's digits in any field but a measured duration (a timing such as
        // 0.271817 ms shares the first digits of 0.2718… by chance, not by leaking).
        for (name, value) in &span.fields {
            if *name == "duration_ms" {
                continue;
            }
            for digits in &values {
                assert!(
                    !value.contains(digits.as_str()),
                    "{digits:?} leaked into {} {name} = {value}",
                    span.name
                );
            }
        }
    }
    println!("tracing: {} spans captured, none leaking", spans.len());
}

/// Runs `work` under a capturing subscriber and returns every span it opened.
fn spans_of(work: impl FnOnce()) -> Vec<Captured> {
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), work);
    capture.spans.lock().unwrap().clone()
}

/// A failed operation's span as expected: its name, a field that tells it apart from others
/// of that name, and the error kind.
type Expected = (
    &'static str,
    Option<(&'static str, &'static str)>,
    &'static str,
);

#[test]
fn every_failed_operation_records_its_error_kind_on_its_span() {
    use diesel::connection::SimpleConnection;
    use embedstore::{BackfillOptions, Ingest, IngestOptions, JsonlSource, TextSearch};

    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);

    let db = TestDatabase::new();
    let mut config = Config::new(db.url().expose_secret().to_owned()).unwrap();
    config.statement_timeout = Some(std::time::Duration::from_millis(300));
    let store = Store::connect(config).unwrap();
    let docs = store
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new("failing", 4, Metric::L2, "m"))
        })
        .unwrap();
    let rows: Vec<NewEmbedding> = (0..20u8)
        .map(|index| NewEmbedding::new(format!("id-{index}"), vec![f32::from(index); 4]))
        .collect();
    store
        .write(|uow| uow.embeddings().insert(&docs, rows))
        .unwrap();
    store
        .indexes(&docs)
        .create(&IndexSpec::hnsw(), None)
        .unwrap();
    let tag = FieldPath::parse("tag").unwrap();
    store
        .indexes(&docs)
        .payload()
        .create(&tag, PayloadKind::Keyword)
        .unwrap();
    let nan = vec![f32::NAN, 0.0, 0.0, 1.0];
    let out = std::env::temp_dir().join(format!("embedstore-spans-failed-{}", std::process::id()));

    // (span name, a field that tells this operation's span apart, the error kind expected)
    let mut expected: Vec<Expected> = Vec::new();
    let spans = spans_of(|| {
        let fails = |outcome: bool| assert!(outcome, "the operation was meant to fail");
        fails(
            store
                .search(&docs, SearchRequest::vector(nan.clone(), 3))
                .is_err(),
        );
        expected.push(("search", Some(("mode", "autocommit")), "validation"));
        fails(
            store
                .read(|uow| uow.search(&docs, SearchRequest::vector(nan.clone(), 3)))
                .is_err(),
        );
        expected.push(("search", Some(("mode", "transaction")), "validation"));
        fails(
            store
                .read(|uow| uow.explain_search(&docs, SearchRequest::vector(nan.clone(), 3)))
                .is_err(),
        );
        expected.push(("search", Some(("mode", "explain")), "validation"));
        fails(
            store
                .search_batch(
                    &docs,
                    &[vec![1.0; 4], nan.clone()],
                    SearchRequest::vector(Vec::new(), 3),
                )
                .is_err(),
        );
        expected.push(("search", Some(("mode", "batch")), "validation"));
        let words: TextSearch = SearchRequest::text("?! …", 3);
        // A text query with no words: counted below (a second failed autocommit search).
        fails(store.search(&docs, words).is_err());
        // A statement timeout: another session holds the table.
        let mut holder = db.raw_connection();
        holder
            .batch_execute("BEGIN; LOCK TABLE embeddings IN ACCESS EXCLUSIVE MODE")
            .unwrap();
        fails(
            store
                .search_batch(
                    &docs,
                    &[vec![1.0; 4], vec![2.0; 4]],
                    SearchRequest::vector(Vec::new(), 3).with_exact(true),
                )
                .is_err(),
        );
        expected.push(("search", Some(("mode", "batch")), "statement_timeout"));
        holder.batch_execute("ROLLBACK").unwrap();
        fails(
            store
                .backfill(
                    "failing",
                    "no-such-collection",
                    &BackfillOptions::default(),
                    &mut |items| Ok(items.iter().map(|_| vec![0.0; 4]).collect()),
                    &mut |_| {},
                )
                .is_err(),
        );
        expected.push(("backfill", None, "not_found"));
        fails(
            store
                .write(|uow| {
                    uow.embeddings()
                        .insert(&docs, vec![NewEmbedding::new("id-1", vec![1.0; 4])])
                })
                .is_err(),
        );
        expected.push(("write", Some(("statement", "insert")), "conflict"));
        fails(
            store
                .write(|uow| {
                    uow.embeddings()
                        .upsert(&docs, vec![NewEmbedding::new("id-1", nan.clone())])
                })
                .is_err(),
        );
        expected.push(("write", Some(("statement", "upsert")), "validation"));
        fails(
            store
                .write(|uow| {
                    uow.embeddings()
                        .delete_where(&docs, &Filter::Or(Vec::new()))
                })
                .is_err(),
        );
        expected.push(("write", Some(("statement", "delete_where")), "validation"));
        fails(
            store
                .run(&WorkOptions::write().tenant(""), |uow| {
                    uow.embeddings().count(&docs)
                })
                .is_err(),
        );
        expected.push(("run", None, "validation"));
        let mut source = JsonlSource::from_reader(std::io::Cursor::new(b"{}\n".to_vec()), "rows");
        fails(
            Ingest::new(&store, "no-such-collection", IngestOptions::default())
                .run(&mut source, &mut ())
                .is_err(),
        );
        expected.push(("ingest", None, "not_found"));
        let mut source =
            JsonlSource::from_reader(std::io::Cursor::new(b"not json\n".to_vec()), "rows");
        fails(
            Ingest::new(&store, "failing", IngestOptions::default())
                .run(&mut source, &mut ())
                .is_err(),
        );
        fails(
            store
                .indexes(&docs)
                .create(&IndexSpec::hnsw(), None)
                .is_err(),
        );
        expected.push(("ann_index", Some(("action", "create")), "conflict"));
        fails(
            store
                .indexes(&docs)
                .text()
                .create("no-such-config")
                .is_err(),
        );
        expected.push(("text_index", Some(("action", "create")), "validation"));
        fails(
            store
                .indexes(&docs)
                .payload()
                .create(&tag, PayloadKind::Keyword)
                .is_err(),
        );
        expected.push(("payload_index", Some(("action", "create")), "conflict"));
        fails(
            store
                .export("no-such-collection")
                .jsonl(&out, &mut |_, _| {})
                .is_err(),
        );
        expected.push(("export", None, "not_found"));
        fails(
            store
                .measure_recall(&docs, &RecallRequest::vectors(Vec::<Vec<f32>>::new(), 3))
                .is_err(),
        );
        expected.push(("measure_recall", None, "validation"));
        fails(
            store
                .write(|uow| {
                    uow.collections()
                        .create(NewCollection::new("Hostile Name", 4, Metric::L2, "m"))
                })
                .is_err(),
        );
        expected.push(("create_collection", None, "validation"));
        fails(
            store
                .write(|uow| uow.collections().drop("no-such-collection"))
                .is_err(),
        );
        expected.push(("drop_collection", None, "not_found"));
        fails(
            store
                .write(|uow| uow.aliases().drop("no-such-alias"))
                .is_err(),
        );
        expected.push(("drop_alias", None, "not_found"));
        fails(store.grant_app_role("Not A Role", true).is_err());
        expected.push(("grant", None, "validation"));
        // Rebuilds of indexes the collection does not have.
        let bare = store
            .write(|uow| {
                uow.collections()
                    .create(NewCollection::new("bare", 4, Metric::L2, "m"))
            })
            .unwrap();
        fails(store.indexes(&bare).rebuild(None, None).is_err());
        expected.push(("ann_index", Some(("action", "rebuild")), "not_found"));
        fails(store.indexes(&bare).text().rebuild(None).is_err());
        expected.push(("text_index", Some(("action", "rebuild")), "not_found"));
        // A unit of work whose closure fails: the caller's own error type has no kind of ours.
        fails(
            store
                .write(|_| {
                    Err::<(), _>(embedstore::Error::Validation(
                        embedstore::ValidationError::new([("item", "refused by the caller")]),
                    ))
                })
                .is_err(),
        );
        expected.push(("unit_of_work", Some(("read_only", "false")), "failed"));
    });
    drop(std::fs::remove_dir_all(&out));

    let mut missing = Vec::new();
    for (name, distinct, kind) in &expected {
        let found = spans.iter().any(|span| {
            span.name == *name
                && distinct.is_none_or(|(field, value)| {
                    span.fields.get(field).map(String::as_str) == Some(value)
                })
                && span.fields.get("error").map(String::as_str) == Some(kind)
        });
        if !found {
            missing.push(format!("{name} {distinct:?} error={kind}"));
        }
    }
    // The wordless text query and the malformed ingest: their spans too.
    let failed_autocommit = spans
        .iter()
        .filter(|span| {
            span.name == "search"
                && span.fields.get("mode").map(String::as_str) == Some("autocommit")
                && span.fields.get("error").map(String::as_str) == Some("validation")
        })
        .count();
    if failed_autocommit != 2 {
        missing.push(format!(
            "2 failed autocommit searches (NaN, no words), found {failed_autocommit}"
        ));
    }
    if !spans.iter().any(|span| {
        span.name == "ingest"
            && span
                .fields
                .get("error")
                .is_some_and(|kind| kind == "rejected" || kind == "format")
    }) {
        missing.push("ingest error=rejected|format".to_owned());
    }
    // No span that an operation opened ended without its outcome: every failed one above has
    // an `error`, and a span with `error` has its duration.
    for span in &spans {
        if span.fields.contains_key("error") {
            assert!(span.fields.contains_key("duration_ms"), "{span:?}");
        }
    }
    assert!(
        missing.is_empty(),
        "failed operations whose span has no error kind: {missing:#?}\nspans: {spans:#?}"
    );
}

#[test]
fn reads_record_the_node_that_answered_and_why_one_went_to_the_primary() {
    use embedstore::ReadFrom;
    use embedstore_test_support::cluster::{ClusterOptions, TestCluster};
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let primary = TestCluster::start(ClusterOptions::new()).unwrap();
    let url = primary.migrated_database("app").unwrap();
    let standby = primary.standby(&[]).unwrap();
    let replica_url = standby.url("postgres", primary.superuser_password(), "app", "");
    let mut config = Config::new(url.expose_secret())
        .unwrap()
        .replica(replica_url.expose_secret())
        .unwrap();
    config.replica_wait = std::time::Duration::from_millis(20);
    let store = Store::connect(config).unwrap();
    let docs = store
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new("routed", 4, Metric::Cosine, "m"))
        })
        .unwrap();
    store
        .write(|uow| {
            uow.embeddings().insert(
                &docs,
                vec![NewEmbedding::new("id-secret-r", VECTOR.to_vec())],
            )
        })
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    // In service and caught up with the insert (the test cluster commits asynchronously, so
    // its WAL may reach the standby up to 200 ms later).
    let token = store.last_write_token().unwrap();
    while !store.replica_stats().unwrap().nodes[0].in_service
        || store.replica_stats().unwrap().nodes[0]
            .replayed
            .is_none_or(|replayed| replayed < token)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "replica never in service"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let node_of = |spans: &[Captured], name: &str| -> (String, Option<String>, Option<String>) {
        let span = spans
            .iter()
            .find(|span| span.name == name && span.fields.contains_key("node"))
            .unwrap_or_else(|| panic!("no {name} span with a node: {spans:?}"));
        (
            span.fields["node"].clone(),
            span.fields.get("replica_lag_ms").cloned(),
            span.fields.get("fallback").cloned(),
        )
    };
    let spans = spans_of(|| {
        store
            .search(&docs, SearchRequest::vector(VECTOR.to_vec(), 3))
            .unwrap();
    });
    let (node, lag, fallback) = node_of(&spans, "search");
    assert_eq!(node, "replica-1");
    assert!(
        lag.is_some_and(|lag| lag.parse::<u64>().is_ok()),
        "{spans:?}"
    );
    assert_eq!(fallback, None);
    let spans = spans_of(|| {
        store.get(&docs, "id-secret-r").unwrap().unwrap();
    });
    assert_eq!(node_of(&spans, "lookup").0, "replica-1");
    let spans = spans_of(|| {
        store
            .reading(ReadFrom::Primary)
            .read(|uow| uow.embeddings().count(&docs))
            .unwrap();
    });
    let (node, _, fallback) = node_of(&spans, "unit_of_work");
    assert_eq!(
        (node.as_str(), fallback.as_deref()),
        ("primary", Some("read_from primary"))
    );
    // Replay paused and a fresh write: the read waits 20 ms, then the primary answers.
    let mut admin = standby.connect("app").unwrap();
    diesel::RunQueryDsl::execute(
        diesel::sql_query("SELECT pg_wal_replay_pause()"),
        &mut admin,
    )
    .unwrap();
    store
        .write(|uow| {
            uow.embeddings().insert(
                &docs,
                vec![NewEmbedding::new("id-secret-s", VECTOR.to_vec())],
            )
        })
        .unwrap();
    let spans = spans_of(|| {
        store
            .search(&docs, SearchRequest::vector(VECTOR.to_vec(), 3))
            .unwrap();
    });
    let (node, _, fallback) = node_of(&spans, "search");
    assert_eq!(node, "primary");
    assert_eq!(
        fallback.as_deref(),
        Some("no replica caught up within EMBEDSTORE_REPLICA_WAIT_MS")
    );
    diesel::RunQueryDsl::execute(
        diesel::sql_query("SELECT pg_wal_replay_resume()"),
        &mut admin,
    )
    .unwrap();
    let text = format!("{spans:?}");
    assert!(!text.contains(primary.superuser_password()), "{text}");
    assert!(!text.contains("id-secret"), "{text}");
}
