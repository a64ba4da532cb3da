//! `embedstore alias set|show|list|drop`, and every command reaching a collection through an
//! alias, run as a user would against a real database.

use embedstore_test_support::TestDatabase;

use crate::support::{embedstore, stderr_of_failure, stdout_of};

#[track_caller]
fn ok(db: &TestDatabase, args: &[&str]) -> String {
    stdout_of(embedstore(db).args(args))
}

#[track_caller]
fn fails(db: &TestDatabase, args: &[&str]) -> String {
    stderr_of_failure(embedstore(db).args(args))
}

/// Collections `docs_v1` (3 dimensions, row `old-<i>`) and `docs_v2` (5 dimensions, row
/// `new-<i>`), two rows each.
fn two_models() -> TestDatabase {
    let db = TestDatabase::new();
    for (name, dimension, model, prefix) in [
        ("docs_v1", 3, "model-a", "old"),
        ("docs_v2", 5, "model-b", "new"),
    ] {
        let dimension_text = dimension.to_string();
        ok(
            &db,
            &[
                "collection",
                "create",
                name,
                "--dimension",
                &dimension_text,
                "--model",
                model,
            ],
        );
        let path = std::env::temp_dir().join(format!(
            "embedstore-cli-alias-{}-{name}.jsonl",
            std::process::id()
        ));
        let lines: Vec<String> = (0..2)
            .map(|index| {
                let vector: Vec<f32> = (0..dimension).map(|at| (at + index + 1) as f32).collect();
                serde_json::json!({"external_id": format!("{prefix}-{index}"), "vector": vector})
                    .to_string()
            })
            .collect();
        std::fs::write(&path, lines.join("\n")).unwrap();
        ok(&db, &["insert", name, path.to_str().unwrap()]);
        std::fs::remove_file(&path).unwrap();
    }
    db
}

#[test]
fn alias_commands_point_move_show_list_and_drop_and_other_commands_follow_the_alias() {
    let db = TestDatabase::new();
    assert_eq!(
        ok(&db, &["alias", "list"]),
        "no aliases yet; point one at a collection with `embedstore alias set NAME COLLECTION`\n"
    );
    drop(db);
    let db = two_models();
    assert_eq!(
        ok(&db, &["alias", "set", "docs", "docs_v1"]),
        "alias \"docs\" points at collection \"docs_v1\" (3 dimensions, cosine, model \"model-a\")\n"
    );
    let search = |dimension: usize| {
        let vector: Vec<f32> = vec![1.0; dimension];
        let vector = serde_json::to_string(&vector).unwrap();
        let text = ok(
            &db,
            &["search", "docs", "--vector", &vector, "--format", "json"],
        );
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let ids: Vec<String> = json["hits"]
            .as_array()
            .unwrap_or_else(|| panic!("{text}"))
            .iter()
            .map(|hit| hit["external_id"].as_str().unwrap().to_owned())
            .collect();
        ids
    };
    assert!(search(3).iter().all(|id| id.starts_with("old-")));
    assert!(ok(&db, &["count", "docs"]).contains('2'));

    // Cut over to the 5-dimension model, then back.
    assert_eq!(
        ok(&db, &["alias", "set", "docs", "docs_v2"]),
        "alias \"docs\" now points at collection \"docs_v2\" (5 dimensions, cosine, model \"model-b\") (was \"docs_v1\")\n"
    );
    assert!(search(5).iter().all(|id| id.starts_with("new-")));
    let error = fails(&db, &["search", "docs", "--vector", "[1, 1, 1]"]);
    assert!(
        error.contains("5"),
        "a 3-value query against 5 dimensions: {error}"
    );

    let table = ok(&db, &["alias", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("alias     collection  model    dimension  metric  set (UTC)"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("docs   →  docs_v2     model-b          5  cosine"),
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&db, &["alias", "list", "--format", "json"])).unwrap();
    assert_eq!(json[0]["name"], "docs");
    assert_eq!(json[0]["collection"]["name"], "docs_v2");
    assert_eq!(json[0]["collection"]["dimension"], 5);
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&db, &["alias", "show", "docs", "--format", "json"])).unwrap();
    assert_eq!(shown, json[0]);
    assert!(ok(&db, &["alias", "show", "docs"]).contains("docs_v2"));

    assert_eq!(
        ok(&db, &["alias", "set", "docs", "docs_v1"]),
        "alias \"docs\" now points at collection \"docs_v1\" (3 dimensions, cosine, model \"model-a\") (was \"docs_v2\")\n"
    );
    assert!(search(3).iter().all(|id| id.starts_with("old-")));
    assert!(
        ok(&db, &["alias", "set", "docs", "docs_v1"])
            .starts_with("alias \"docs\" already points at")
    );

    // A collection an alias points at is not dropped, nor is a collection through an alias.
    let error = fails(&db, &["collection", "drop", "docs_v1", "--yes"]);
    assert!(
        error.contains("collection \"docs_v1\" is the target of alias \"docs\""),
        "{error}"
    );
    for args in [
        &["collection", "drop", "docs"][..],
        &["collection", "drop", "docs", "--yes"],
    ] {
        let error = fails(&db, args);
        assert!(
            error.contains("\"docs\" is an alias (of collection \"docs_v1\")"),
            "{error}"
        );
    }
    // The unaliased one drops as before.
    ok(&db, &["collection", "drop", "docs_v2", "--yes"]);

    assert_eq!(
        ok(&db, &["alias", "drop", "docs"]),
        "dropped alias \"docs\"; collection \"docs_v1\" stays\n"
    );
    let error = fails(&db, &["alias", "show", "docs"]);
    assert_eq!(error, "error: alias \"docs\" not found\n");
    ok(&db, &["collection", "drop", "docs_v1", "--yes"]);
}

#[test]
fn alias_set_refuses_hostile_names_shadowing_and_unknown_collections_and_writes_nothing() {
    let db = two_models();
    let long = "a".repeat(64);
    for hostile in [
        "",
        "has space",
        "quote\"d",
        "it's",
        "ünï",
        "Docs",
        "x; DROP TABLE embeddings; --",
        long.as_str(),
    ] {
        let error = fails(&db, &["alias", "set", hostile, "docs_v1"]);
        assert!(error.contains("name: "), "{hostile:?}: {error}");
        let error = fails(&db, &["alias", "set", "fine", hostile]);
        assert!(error.contains("collection: "), "{hostile:?}: {error}");
    }
    let error = fails(&db, &["alias", "set", "docs_v2", "docs_v1"]);
    assert!(
        error.contains("\"docs_v2\" is a collection's name: an alias cannot shadow a collection"),
        "{error}"
    );
    let error = fails(&db, &["alias", "set", "docs", "missing"]);
    assert!(
        error.contains("collection \"missing\" not found"),
        "{error}"
    );
    ok(&db, &["alias", "set", "docs", "docs_v1"]);
    let error = fails(&db, &["alias", "set", "again", "docs"]);
    assert!(error.contains("\"docs\" is an alias"), "{error}");
    let error = fails(
        &db,
        &[
            "collection",
            "create",
            "docs",
            "--dimension",
            "3",
            "--model",
            "m",
        ],
    );
    assert!(
        error.contains("\"docs\" is an alias's name: a collection cannot take it"),
        "{error}"
    );
    let error = fails(&db, &["alias", "drop", "docs_v1"]);
    assert!(error.contains("alias \"docs_v1\" not found"), "{error}");
    let listed = ok(&db, &["alias", "list", "--format", "json"]);
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "only `docs`: {listed}");
}
