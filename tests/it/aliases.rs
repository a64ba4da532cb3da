//! Aliases: a name that points at one collection, resolved wherever a collection name is
//! taken, moved atomically under concurrent readers, never shadowing a collection.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use embedstore::{Collection, Error, Metric, NewCollection, NewEmbedding, SearchRequest, Store};
use embedstore_test_support::TestDatabase;

use crate::support::{Rng, count, failures, items, with_collection};

fn create(store: &Store, name: &str, dimension: u32, model: &str) -> Collection {
    store
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new(name, dimension, Metric::Cosine, model))
        })
        .unwrap()
}

fn set(store: &Store, alias: &str, collection: &str) -> embedstore::Result<embedstore::Alias> {
    store.write(|uow| uow.aliases().set(alias, collection))
}

fn constraint(error: &Error) -> Option<&str> {
    match error {
        Error::Conflict { constraint, .. } => constraint.as_deref(),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// `count` rows `prefix-0…` whose metadata names the collection they were written to.
fn tagged(rng: &mut Rng, prefix: &str, count: usize, dimension: usize) -> Vec<NewEmbedding> {
    (0..count)
        .map(|index| {
            NewEmbedding::new(format!("{prefix}-{index}"), rng.vector(dimension))
                .with_metadata(serde_json::json!({ "written_to": prefix }))
        })
        .collect()
}

#[test]
fn an_alias_is_resolved_wherever_a_collection_name_is_taken_and_cuts_over_and_back() {
    let db = TestDatabase::new();
    let store = db.store();
    let small = create(store, "docs_384", 384, "minilm");
    let large = create(store, "docs_768", 768, "mpnet");
    let mut rng = Rng::new(14);
    store
        .write(|uow| {
            uow.embeddings()
                .insert(&small, tagged(&mut rng, "a", 20, 384))?;
            uow.embeddings()
                .insert(&large, tagged(&mut rng, "b", 30, 768))
        })
        .unwrap();

    let alias = set(store, "docs", "docs_384").unwrap();
    assert_eq!((alias.name.as_str(), &alias.collection), ("docs", &small));
    let (resolved, hits) = store
        .read(|uow| {
            let docs = uow.collections().get("docs")?;
            let hits = uow.search(&docs, SearchRequest::vector(rng.vector(384), 5))?;
            Ok::<_, Error>((docs, hits.hits))
        })
        .unwrap();
    assert_eq!(resolved, small);
    assert_eq!(hits.len(), 5);
    assert!(hits.iter().all(|hit| hit.external_id.starts_with("a-")));

    // Cut over to the 768-dimension collection: same name, new model and dimension.
    let moved = set(store, "docs", "docs_768").unwrap();
    assert_eq!(moved.collection, large);
    assert!(moved.updated_at >= alias.updated_at);
    let docs = store.read(|uow| uow.collections().get("docs")).unwrap();
    assert_eq!((docs.dimension, docs.model.as_str()), (768, "mpnet"));
    let response = store
        .search(&docs, SearchRequest::vector(rng.vector(768), 5))
        .unwrap();
    assert!(
        response
            .hits
            .iter()
            .all(|hit| hit.external_id.starts_with("b-"))
    );
    // Writes through the alias land in the collection it points at.
    store
        .write(|uow| {
            let docs = uow.collections().get("docs")?;
            uow.embeddings()
                .insert(&docs, tagged(&mut rng, "c", 1, 768))
        })
        .unwrap();
    assert_eq!((count(&db, &small), count(&db, &large)), (20, 31));

    // And back: one command, the old collection was never touched.
    set(store, "docs", "docs_384").unwrap();
    assert_eq!(
        store.read(|uow| uow.collections().get("docs")).unwrap(),
        small
    );
    let listed = store.read(|uow| uow.aliases().list()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].name.as_str(), listed[0].collection.name.as_str()),
        ("docs", "docs_384")
    );
    // Collections are listed as before: an alias is not a collection.
    let names: Vec<String> = store
        .read(|uow| uow.collections().list())
        .unwrap()
        .into_iter()
        .map(|collection| collection.name)
        .collect();
    assert_eq!(names, ["docs_384", "docs_768"]);
}

#[test]
fn an_alias_never_shadows_a_collection_nor_a_collection_an_alias() {
    let (db, _) = with_collection("docs", 4, Metric::L2);
    let store = db.store();
    create(store, "other", 4, "m");

    let error = set(store, "docs", "other").unwrap_err();
    assert_eq!(constraint(&error), Some("catalog_names_pkey"), "{error}");
    assert_eq!(
        error.to_string(),
        "conflict: \"docs\" is a collection's name: an alias cannot shadow a collection"
    );

    set(store, "live", "docs").unwrap();
    let error = store
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new("live", 4, Metric::L2, "m"))
        })
        .unwrap_err();
    assert_eq!(constraint(&error), Some("catalog_names_pkey"), "{error}");
    assert_eq!(
        error.to_string(),
        "conflict: \"live\" is an alias's name: a collection cannot take it"
    );

    // An alias points at a collection, never at another alias.
    let error = set(store, "second", "live").unwrap_err();
    assert_eq!(constraint(&error), None);
    assert!(error.to_string().contains("is an alias"), "{error}");
    let error = set(store, "ghost", "missing").unwrap_err();
    assert!(
        matches!(&error, Error::NotFound { entity: "collection", key } if key == "missing"),
        "{error:?}"
    );
    let aliases = store.read(|uow| uow.aliases().list()).unwrap();
    assert_eq!(aliases.len(), 1, "only `live`: {aliases:?}");

    // Once the alias is dropped its name is free for a collection.
    let dropped = store.write(|uow| uow.aliases().drop("live")).unwrap();
    assert_eq!(dropped.collection.name, "docs");
    create(store, "live", 4, "m");
    let error = store.write(|uow| uow.aliases().drop("live")).unwrap_err();
    assert!(
        matches!(
            error,
            Error::NotFound {
                entity: "alias",
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn dropping_a_collection_an_alias_points_at_is_refused_and_drops_nothing() {
    let db = TestDatabase::new();
    let store = db.store();
    let docs = create(store, "docs_v1", 4, "m");
    store
        .write(|uow| {
            uow.embeddings()
                .insert(&docs, items(&mut Rng::new(1), 10, 4))
        })
        .unwrap();
    set(store, "docs", "docs_v1").unwrap();

    let error = store
        .write(|uow| uow.collections().drop("docs_v1"))
        .unwrap_err();
    assert_eq!(
        constraint(&error),
        Some("collection_aliases_collection_id_fkey")
    );
    assert_eq!(
        error.to_string(),
        "conflict: collection \"docs_v1\" is the target of alias \"docs\": point the alias at \
         another collection (`alias set`) or drop it (`alias drop`) first"
    );
    // A collection is dropped by its own name only, never through an alias.
    let error = store
        .write(|uow| uow.collections().drop("docs"))
        .unwrap_err();
    assert_eq!(constraint(&error), None);
    assert!(error.to_string().contains("is an alias"), "{error}");
    assert_eq!(count(&db, &docs), 10);

    store.write(|uow| uow.aliases().drop("docs")).unwrap();
    store
        .write(|uow| uow.collections().drop("docs_v1"))
        .unwrap();
}

#[test]
fn hostile_alias_names_are_refused_before_any_sql_and_write_nothing() {
    let (db, _) = with_collection("docs", 4, Metric::L2);
    let store = db.store();
    let long = "a".repeat(64);
    for hostile in [
        "",
        "has space",
        "quote\"d",
        "it's",
        "ünïcödé",
        "UPPER",
        "docs; DROP TABLE embeddings; --",
        long.as_str(),
    ] {
        let error = set(store, hostile, "docs").unwrap_err();
        let lines = failures(&error);
        assert!(
            lines.len() == 1 && lines[0].starts_with("name: "),
            "{hostile:?}: {lines:?}"
        );
        let error = set(store, "fine", hostile).unwrap_err();
        let lines = failures(&error);
        assert!(
            lines.len() == 1 && lines[0].starts_with("collection: "),
            "{hostile:?}: {lines:?}"
        );
        // Reading or dropping through a hostile name is only "not found".
        let error = store.write(|uow| uow.aliases().drop(hostile)).unwrap_err();
        assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
        let error = store
            .read(|uow| uow.collections().get(hostile))
            .unwrap_err();
        assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    }
    assert!(store.read(|uow| uow.aliases().list()).unwrap().is_empty());
    let mut both = failures(&set(store, "", "").unwrap_err());
    both.sort();
    assert_eq!(both, ["collection: is empty", "name: is empty"]);
}

#[test]
fn of_a_concurrent_collection_create_and_alias_set_of_one_name_exactly_one_succeeds() {
    let (db, _) = with_collection("target", 4, Metric::L2);
    let store = db.store();
    for round in 0..12 {
        let name = format!("contested-{round}");
        let barrier = Barrier::new(2);
        let (created, aliased) = thread::scope(|scope| {
            let creating = scope.spawn(|| {
                barrier.wait();
                store.write(|uow| {
                    uow.collections()
                        .create(NewCollection::new(&name, 4, Metric::L2, "m"))
                })
            });
            let aliasing = scope.spawn(|| {
                barrier.wait();
                set(store, &name, "target")
            });
            (creating.join().unwrap(), aliasing.join().unwrap())
        });
        match (&created, &aliased) {
            (Ok(_), Err(error)) | (Err(error), Ok(_)) => {
                assert_eq!(constraint(error), Some("catalog_names_pkey"), "{error}");
            }
            _ => panic!("round {round}: {created:?} and {aliased:?}"),
        }
        let is_collection = store
            .read(|uow| uow.collections().list())
            .unwrap()
            .iter()
            .any(|collection| collection.name == name);
        let is_alias = store
            .read(|uow| uow.aliases().find(&name))
            .unwrap()
            .is_some();
        assert!(
            is_collection != is_alias,
            "round {round}: one owner of {name}"
        );
    }
}

#[test]
fn readers_through_an_alias_see_one_whole_collection_during_100_swaps() {
    let db = TestDatabase::new();
    let store = db.store();
    let mut rng = Rng::new(7);
    for name in ["blue", "green"] {
        let collection = create(store, name, 8, "m");
        store
            .write(|uow| {
                uow.embeddings()
                    .insert(&collection, tagged(&mut rng, name, 40, 8))
            })
            .unwrap();
    }
    set(store, "live", "blue").unwrap();

    let swapping = AtomicBool::new(true);
    let searches = AtomicUsize::new(0);
    let seen = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let query = Arc::new(rng.vector(8));
    thread::scope(|scope| {
        for reader in 0..3 {
            let (swapping, searches, seen, query) = (&swapping, &searches, &seen, &query);
            scope.spawn(move || {
                while swapping.load(Ordering::Acquire) {
                    // Alternately in a unit of work and through Store::search (autocommit).
                    let (collection, hits) = if reader % 2 == 0 {
                        store
                            .read(|uow| {
                                let live = uow.collections().get("live")?;
                                let response =
                                    uow.search(&live, SearchRequest::vector(query.to_vec(), 10))?;
                                Ok::<_, Error>((live.name, response.hits))
                            })
                            .unwrap_or_else(|error| panic!("reader {reader}: {error}"))
                    } else {
                        let live = store
                            .read(|uow| uow.collections().get("live"))
                            .unwrap_or_else(|error| panic!("reader {reader}: {error}"));
                        let response = store
                            .search(&live, SearchRequest::vector(query.to_vec(), 10))
                            .unwrap_or_else(|error| panic!("reader {reader}: {error}"));
                        (live.name, response.hits)
                    };
                    assert_eq!(hits.len(), 10);
                    for hit in &hits {
                        let tag = &hit.metadata.as_ref().unwrap()["written_to"];
                        assert_eq!(tag, collection.as_str(), "a mix: {hits:?}");
                    }
                    seen[usize::from(collection == "green")].fetch_add(1, Ordering::Relaxed);
                    searches.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        scope.spawn(|| {
            for swap in 0..100 {
                let target = if swap % 2 == 0 { "green" } else { "blue" };
                set(store, "live", target).unwrap_or_else(|error| panic!("swap {swap}: {error}"));
                // Give the readers a chance to see each state.
                thread::sleep(std::time::Duration::from_millis(2));
            }
            swapping.store(false, Ordering::Release);
        });
    });
    let searches = searches.into_inner();
    let [blue, green] = seen.map(AtomicUsize::into_inner);
    assert!(
        searches >= 20,
        "only {searches} searches ran during the swaps"
    );
    assert!(blue > 0 && green > 0, "blue {blue}, green {green}");
    // 100 swaps from blue: back on blue.
    assert_eq!(
        store
            .read(|uow| uow.collections().get("live"))
            .unwrap()
            .name,
        "blue"
    );
}
