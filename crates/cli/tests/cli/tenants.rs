//! Tenant isolation with row-level security, as the service's app role (not the owner, not a
//! superuser): a unit of work bound to tenant A never returns, counts or modifies tenant B's
//! rows — through the library, crafted SQL, joins, or the pooled connection's next user.
//!
//! Tenant b's rows are written with `insert`, which stages its `COPY` under row-level security
//! (PostgreSQL refuses `COPY … FROM` into a table whose policies apply to the role).

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use embedstore::{Collection, Error, NewEmbedding, SearchRequest, Store};
use embedstore_test_support::{Rng, items};

use crate::privileges::Setup;

/// `count` items `<prefix>-0…`.
fn tenant_items(prefix: &str, count: usize, seed: u64) -> Vec<NewEmbedding> {
    items(&mut Rng::new(seed), count, 4)
        .into_iter()
        .map(|mut item| {
            item.external_id = item.external_id.replace("item", prefix);
            item
        })
        .collect()
}

#[derive(Debug, QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Runs raw SQL returning `n` in a unit of work bound to `tenant`.
fn raw_count(store: &Store, tenant: &str, sql: &str) -> i64 {
    store
        .run(&embedstore::WorkOptions::read().tenant(tenant), |uow| {
            diesel::sql_query(sql)
                .get_result::<Count>(uow.connection())
                .map_err(Error::from)
        })
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
        .n
}

/// Tenants a (10 rows), b (10 rows) and 5 untenanted rows in one collection.
fn three_populations() -> (Setup, Collection) {
    let setup = Setup::new();
    let docs = setup.create_collection("docs");
    let (status, text) = setup.grant(&["es_app"]);
    assert_eq!(status, Some(0), "{text}");
    let app = &setup.app;
    app.run(&embedstore::WorkOptions::write().tenant("a"), |uow| {
        uow.embeddings().upsert(&docs, tenant_items("a", 10, 1))
    })
    .unwrap();
    app.run(&embedstore::WorkOptions::write().tenant("b"), |uow| {
        uow.embeddings().insert(&docs, tenant_items("b", 10, 2))
    })
    .unwrap();
    app.write(|uow| uow.embeddings().upsert(&docs, tenant_items("shared", 5, 3)))
        .unwrap();
    (setup, docs)
}

#[test]
fn a_tenant_sees_and_counts_only_its_own_rows_through_the_library() {
    let (setup, docs) = three_populations();
    let app = &setup.app;
    let (count, hits, found, existing) = app
        .run(&embedstore::WorkOptions::read().tenant("a"), |uow| {
            let count = uow.embeddings().count(&docs)?;
            let hits = uow.search(&docs, SearchRequest::vector(vec![0.1, 0.2, 0.3, 0.4], 100))?;
            let found = uow.embeddings().get(&docs, &["b-1", "shared-1", "a-1"])?;
            let existing = uow.embeddings().existing(&docs, &["b-2", "a-2"])?;
            Ok::<_, Error>((count, hits, found, existing))
        })
        .unwrap();
    assert_eq!(count, 10);
    assert_eq!(hits.hits.len(), 10, "k = 100 must not reach past tenant a");
    assert!(
        hits.hits
            .iter()
            .all(|hit| hit.external_id.starts_with("a-"))
    );
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].external_id, "a-1");
    assert_eq!(existing, ["a-2"]);
    // Unbound: only the rows without a tenant.
    assert_eq!(app.read(|uow| uow.embeddings().count(&docs)).unwrap(), 5);
    // The owner bypasses row-level security (documented): all 25.
    assert_eq!(
        setup
            .owner
            .read(|uow| uow.embeddings().count(&docs))
            .unwrap(),
        25
    );
}

#[test]
fn a_tenant_cannot_modify_another_tenants_rows() {
    let (setup, docs) = three_populations();
    let app = &setup.app;
    let deleted = app
        .run(&embedstore::WorkOptions::write().tenant("a"), |uow| {
            uow.embeddings().delete(&docs, &["b-1", "b-2", "shared-1"])
        })
        .unwrap();
    assert_eq!(deleted, 0);
    // An upsert of b's id from a is refused as a whole and writes nothing.
    let mut batch = tenant_items("a", 3, 9);
    batch.push(NewEmbedding::new("b-3", vec![9.0, 9.0, 9.0, 9.0]));
    let error = app
        .run(&embedstore::WorkOptions::write().tenant("a"), |uow| {
            uow.embeddings().upsert(&docs, batch.clone())
        })
        .unwrap_err();
    assert!(error.to_string().contains("row-level security"), "{error}");
    let b3 = app
        .run(&embedstore::WorkOptions::read().tenant("b"), |uow| {
            uow.embeddings().get(&docs, &["b-3"])
        })
        .unwrap();
    assert_ne!(b3[0].vector.to_vec(), [9.0, 9.0, 9.0, 9.0]);
    // Raw SQL: updates and deletes reach nothing of b's; moving a row to b is refused.
    let touched = app
        .run(&embedstore::WorkOptions::write().tenant("a"), |uow| {
            let conn = uow.connection();
            let updated = diesel::sql_query(
                "UPDATE embeddings SET content = 'pwned' WHERE tenant = 'b' OR tenant IS NULL",
            )
            .execute(conn)
            .map_err(Error::from)?;
            let deleted = diesel::sql_query("DELETE FROM embeddings WHERE external_id LIKE 'b-%'")
                .execute(conn)
                .map_err(Error::from)?;
            Ok::<_, Error>(updated + deleted)
        })
        .unwrap();
    assert_eq!(touched, 0);
    for sql in [
        "UPDATE embeddings SET tenant = 'b' WHERE external_id = 'a-1'",
        "INSERT INTO embeddings (collection_id, external_id, embedding, tenant)
         SELECT id, 'forged', '[1,2,3,4]', 'b' FROM collections",
    ] {
        let error = app
            .run(&embedstore::WorkOptions::write().tenant("a"), |uow| {
                diesel::sql_query(sql)
                    .execute(uow.connection())
                    .map_err(Error::from)
            })
            .unwrap_err();
        assert!(
            error.to_string().contains("row-level security"),
            "{sql}: {error}"
        );
    }
    assert_eq!(
        raw_count(app, "b", "SELECT count(*) AS n FROM embeddings"),
        10
    );
    assert_eq!(
        raw_count(
            app,
            "b",
            "SELECT count(*) AS n FROM embeddings WHERE content = 'pwned'"
        ),
        0
    );
}

#[test]
fn crafted_filters_joins_and_the_next_pooled_user_never_see_another_tenant() {
    let (setup, docs) = three_populations();
    let app = &setup.app;
    for sql in [
        "SELECT count(*) AS n FROM embeddings",
        "SELECT count(*) AS n FROM embeddings WHERE tenant = 'b' OR true",
        "SELECT count(*) AS n FROM embeddings e JOIN collections c ON c.id = e.collection_id",
        "SELECT count(*) AS n FROM embeddings x, embeddings y WHERE x.tenant IS DISTINCT FROM y.tenant",
        "SELECT count(*) AS n FROM (SELECT tenant FROM embeddings UNION ALL SELECT tenant FROM ONLY embeddings) t",
        "SELECT count(*) AS n FROM embeddings WHERE tenant IS NULL OR tenant <> 'a'",
    ] {
        let n = raw_count(app, "a", sql);
        assert!(n == 10 || n == 0, "{sql}: {n}");
        if sql.contains("<> 'a'") || sql.contains("IS DISTINCT") {
            assert_eq!(n, 0, "{sql}");
        }
    }
    // The partition itself is out of reach (no grant on partitions).
    let error = app
        .run(&embedstore::WorkOptions::read().tenant("a"), |uow| {
            diesel::sql_query(format!(
                "SELECT count(*) AS n FROM {}",
                docs.partition_name()
            ))
            .get_result::<Count>(uow.connection())
            .map_err(Error::from)
        })
        .unwrap_err();
    assert!(error.to_string().contains("permission denied"), "{error}");
    // The binding ends with the transaction: the next unit of work on the pool is unbound.
    for _ in 0..3 {
        assert_eq!(
            raw_count(app, "a", "SELECT count(*) AS n FROM embeddings"),
            10
        );
        assert_eq!(app.read(|uow| uow.embeddings().count(&docs)).unwrap(), 5);
    }
}

#[test]
fn empty_and_oversized_tenants_are_refused_before_any_sql() {
    let (setup, docs) = three_populations();
    for tenant in [String::new(), "t".repeat(257), "a\0b".to_owned()] {
        let error = setup
            .app
            .run(&embedstore::WorkOptions::read().tenant(&tenant), |uow| {
                uow.embeddings().count(&docs)
            })
            .unwrap_err();
        let failures: Vec<String> = error.as_validation().unwrap().lines().collect();
        assert!(failures[0].starts_with("tenant: "), "{failures:?}");
    }
    assert!(
        setup
            .app
            .run(
                &embedstore::WorkOptions::read().tenant("t".repeat(256)),
                |uow| uow.embeddings().count(&docs)
            )
            .is_ok()
    );
}

#[test]
fn searches_through_the_ann_index_and_filters_stay_inside_the_tenant() {
    let (setup, docs) = three_populations();
    // Index DDL is the owner's.
    setup
        .owner
        .indexes(&docs)
        .create(&embedstore::IndexSpec::hnsw(), None)
        .unwrap();
    setup
        .owner
        .indexes(&docs)
        .payload()
        .create(
            &embedstore::FieldPath::parse("n").unwrap(),
            embedstore::PayloadKind::Integer,
        )
        .unwrap();
    let app = &setup.app;
    let query = vec![0.1, 0.2, 0.3, 0.4];
    let mut leaked = 0;
    for request in [
        SearchRequest::vector(query.clone(), 25),
        SearchRequest::vector(query.clone(), 25).with_exact(true),
        SearchRequest::vector(query.clone(), 25).with_filter(embedstore::Filter::gte("n", 0)),
        SearchRequest::vector(query.clone(), 25).with_filter(embedstore::Filter::eq("n", 3)),
    ] {
        let hits = app
            .run(&embedstore::WorkOptions::read().tenant("a"), |uow| {
                uow.search(&docs, request.clone())
            })
            .unwrap()
            .hits;
        leaked += hits
            .iter()
            .filter(|hit| !hit.external_id.starts_with("a-"))
            .count();
        assert!(!hits.is_empty());
        // Unbound (Store::search needs no transaction): only the rows without a tenant.
        let shared = app.search(&docs, request).unwrap().hits;
        leaked += shared
            .iter()
            .filter(|hit| !hit.external_id.starts_with("shared-"))
            .count();
    }
    println!("tenant searches: 0 rows expected from other tenants, {leaked} seen");
    assert_eq!(leaked, 0);
}

#[test]
fn text_and_hybrid_searches_see_only_the_bound_tenants_rows_on_both_sides() {
    let setup = Setup::new();
    let docs = setup.create_collection("docs");
    let (status, text) = setup.grant(&["es_app"]);
    assert_eq!(status, Some(0), "{text}");
    let app = &setup.app;
    let with_content = |prefix: &str, seed: u64| -> Vec<NewEmbedding> {
        tenant_items(prefix, 10, seed)
            .into_iter()
            .map(|item| item.with_content("shared words in every row"))
            .collect()
    };
    for (tenant, seed) in [("a", 1), ("b", 2)] {
        app.run(&embedstore::WorkOptions::write().tenant(tenant), |uow| {
            uow.embeddings().upsert(&docs, with_content(tenant, seed))
        })
        .unwrap();
    }
    let (text_only, hybrid) = app
        .run(&embedstore::WorkOptions::read().tenant("a"), |uow| {
            let text_only = uow.search(&docs, SearchRequest::text("words", 100))?;
            let hybrid = uow.search(
                &docs,
                SearchRequest::hybrid(vec![0.1, 0.2, 0.3, 0.4], "words", 100),
            )?;
            Ok::<_, Error>((text_only, hybrid))
        })
        .unwrap();
    for response in [&text_only, &hybrid] {
        assert_eq!(
            response.hits.len(),
            10,
            "k = 100 must not reach past tenant a"
        );
        assert!(
            response
                .hits
                .iter()
                .all(|hit| hit.external_id.starts_with("a-"))
        );
    }
    assert!(
        hybrid
            .hits
            .iter()
            .all(|hit| hit.vector_rank.is_some() && hit.text_rank.is_some())
    );
}

#[test]
fn an_insert_conflict_under_row_level_security_says_why_the_id_is_not_named() {
    let (setup, docs) = three_populations();
    let app = &setup.app;
    // Tenant a inserts an id it holds itself, then one tenant b holds: PostgreSQL withholds
    // the key of a unique violation from a role under row-level security, in both cases.
    for taken in ["a-1", "b-1"] {
        let error = app
            .run(&embedstore::WorkOptions::write().tenant("a"), |uow| {
                uow.embeddings().insert(
                    &docs,
                    vec![NewEmbedding::new(taken, vec![1.0, 2.0, 3.0, 4.0])],
                )
            })
            .unwrap_err();
        assert!(
            matches!(error, Error::Conflict { .. }),
            "{taken}: {error:?}"
        );
        let text = error.to_string();
        assert!(!text.contains("()"), "{taken}: empty brackets in {text:?}");
        assert!(text.contains("row-level security"), "{taken}: {text}");
        assert!(text.contains("\"docs\""), "{taken}: {text}");
    }
    // The owner, not under row-level security, gets the key.
    let error = setup
        .owner
        .write(|uow| {
            uow.embeddings().insert(
                &docs,
                vec![NewEmbedding::new("b-1", vec![1.0, 2.0, 3.0, 4.0])],
            )
        })
        .unwrap_err();
    assert!(error.to_string().contains("b-1"), "{error}");
}
