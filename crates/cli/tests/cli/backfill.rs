//! `embedstore backfill FROM TO --command CMD` with a shell embedder: copy, resume after a
//! failing embedder, nothing twice, then cut over with `alias set`.

use embedstore::{Collection, Metric, NewCollection, NewEmbedding};
use embedstore_test_support::{TestDatabase, count, stored};

use crate::support::{embedstore, stderr_of_failure, stdout_of};

/// The "model": each record's line length and three constants, one JSON line per input line.
const EMBEDDER: &str = r#"awk '{ printf "{\"vector\": [%d, 1, 2, 3]}\n", length($0) }'"#;

fn collection(db: &TestDatabase, name: &str, dimension: u32) -> Collection {
    db.store()
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new(name, dimension, Metric::Cosine, name))
        })
        .unwrap()
}

#[test]
fn backfill_copies_resumes_after_a_failing_embedder_and_the_alias_cuts_over() {
    let db = TestDatabase::new();
    let source = collection(&db, "docs_v1", 3);
    let target = collection(&db, "docs_v2", 4);
    let rows = (0..40)
        .map(|index| {
            NewEmbedding::new(format!("doc-{index:02}"), vec![1.0, 0.5, index as f32])
                .with_content(format!("text number {index}"))
                .with_metadata(serde_json::json!({"n": index}))
        })
        .collect();
    db.store()
        .write(|uow| uow.embeddings().insert(&source, rows))
        .unwrap();
    db.store()
        .write(|uow| uow.aliases().set("docs", "docs_v1"))
        .unwrap();
    let scratch =
        std::env::temp_dir().join(format!("embedstore-cli-backfill-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let calls = scratch.join("calls");

    // The embedder answers two batches, then fails: the backfill stops with what it wrote.
    let flaky = format!(
        "n=$(cat {calls} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {calls}; \
         [ $n -le 2 ] || {{ echo 'model server down' >&2; exit 3; }}; {EMBEDDER}",
        calls = calls.display()
    );
    let error = stderr_of_failure(embedstore(&db).args([
        "backfill",
        "docs",
        "docs_v2",
        "--command",
        &flaky,
        "--batch-size",
        "7",
        "--progress",
        "off",
    ]));
    assert!(error.contains("model server down"), "{error}");
    assert!(
        error.contains("error: embedder failed: the embedder command failed (exit status: 3)"),
        "{error}"
    );
    assert_eq!(count(&db, &target), 14);

    // Run again: only the rest is embedded and written.
    let text = stdout_of(embedstore(&db).args([
        "backfill",
        "docs",
        "docs_v2",
        "--command",
        EMBEDDER,
        "--batch-size",
        "7",
        "--progress",
        "lines",
    ]));
    assert!(
        text.starts_with(
            "backfilled \"docs_v2\" from \"docs\": 26 rows embedded (26 new, 0 updated), 0 deleted, \
             2 pass(es), in step with the source\n"
        ),
        "{text}"
    );
    assert!(text.contains("rows/s excluding the embedder"), "{text}");
    assert!(
        text.contains("embedstore alias set ALIAS docs_v2"),
        "{text}"
    );
    let copied = stored(&db, &target);
    let original = stored(&db, &source);
    assert_eq!(copied.len(), 40);
    for (id, (_, content, metadata)) in &original {
        assert_eq!((&copied[id].1, &copied[id].2), (content, metadata), "{id}");
    }
    let again = stdout_of(embedstore(&db).args([
        "backfill",
        "docs_v1",
        "docs_v2",
        "--command",
        EMBEDDER,
        "--progress",
        "off",
    ]));
    assert!(
        again.contains(": 0 rows embedded (0 new, 0 updated), 0 deleted, 1 pass(es)"),
        "{again}"
    );

    // Cut over: searches through the alias now take the new model's 4 values.
    stdout_of(embedstore(&db).args(["alias", "set", "docs", "docs_v2"]));
    let hits = stdout_of(embedstore(&db).args([
        "search",
        "docs",
        "--vector",
        "[60, 1, 2, 3]",
        "--k",
        "2",
        "--ids-only",
    ]));
    assert!(hits.contains("doc-"), "{hits}");
    std::fs::remove_dir_all(&scratch).unwrap();
}

#[test]
fn backfill_refuses_a_bad_embedder_answer_and_writes_nothing() {
    let db = TestDatabase::new();
    let source = collection(&db, "old", 3);
    let target = collection(&db, "new", 4);
    db.store()
        .write(|uow| {
            uow.embeddings().insert(
                &source,
                vec![NewEmbedding::new("a", vec![1.0, 2.0, 3.0]).with_content("x")],
            )
        })
        .unwrap();
    let cases = [
        ("echo nope", "output line 1: not {\"vector\": [...]}"),
        ("cat >/dev/null", "returned 0 vectors for 1 items"),
        (
            r#"cat >/dev/null; echo '{"external_id": "b", "vector": [1, 2, 3, 4]}'"#,
            "external_id \"b\", expected \"a\"",
        ),
        (
            r#"cat >/dev/null; echo '{"vector": [1, 2, 3]}'"#,
            "items[0].vector: expected 4 values, got 3",
        ),
    ];
    for (command, expected) in cases {
        let error = stderr_of_failure(embedstore(&db).args([
            "backfill",
            "old",
            "new",
            "--command",
            command,
            "--progress",
            "off",
        ]));
        assert!(error.contains(expected), "{command}: {error}");
    }
    assert_eq!(count(&db, &target), 0);
    let error = stderr_of_failure(embedstore(&db).args([
        "backfill",
        "old",
        "missing",
        "--command",
        "cat",
        "--progress",
        "off",
    ]));
    assert!(
        error.contains("collection \"missing\" not found"),
        "{error}"
    );
}
