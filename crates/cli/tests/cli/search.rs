//! The `embedstore` binary's index, payload-index, search, count and delete commands, run as a
//! user would against a real database.

use std::io::Write;
use std::process::Command;

use embedstore_test_support::{Rng, TestDatabase};

use crate::support::{self, stderr_of_failure, stdout_of};

/// `embedstore <args…>` against the database, without the caller's statement timeout.
fn embedstore(db: &TestDatabase, args: &[&str]) -> Command {
    let mut command = support::embedstore(db);
    command
        .args(args)
        .env_remove("EMBEDSTORE_STATEMENT_TIMEOUT_MS");
    command
}

/// Runs the command, asserts success, returns stdout.
#[track_caller]
fn ok(db: &TestDatabase, args: &[&str]) -> String {
    stdout_of(&mut embedstore(db, args))
}

/// Runs the command, asserts failure, returns stderr.
#[track_caller]
fn fails(db: &TestDatabase, args: &[&str]) -> String {
    stderr_of_failure(&mut embedstore(db, args))
}

/// A collection `docs` of 3,000 rows × 8 with `{"lang": "l<i % 10>", "n": i}` metadata.
fn docs(dir: &std::path::Path) -> (TestDatabase, Vec<Vec<f32>>) {
    let db = TestDatabase::new();
    ok(
        &db,
        &[
            "collection",
            "create",
            "docs",
            "--dimension",
            "8",
            "--metric",
            "l2",
            "--model",
            "m",
        ],
    );
    let mut rng = Rng::new(42);
    let vectors: Vec<Vec<f32>> = (0..3000).map(|_| rng.vector(8)).collect();
    let path = dir.join("docs.jsonl");
    let mut file = std::fs::File::create(&path).unwrap();
    for (index, vector) in vectors.iter().enumerate() {
        let record = serde_json::json!({
            "external_id": format!("doc-{index}"),
            "vector": vector,
            "metadata": {"lang": format!("l{}", index % 10), "n": index},
        });
        writeln!(file, "{record}").unwrap();
    }
    drop(file);
    ok(&db, &["insert", "docs", path.to_str().unwrap()]);
    (db, vectors)
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("embedstore-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn index_and_payload_index_commands_build_report_and_drop() {
    let dir = temp_dir("index");
    let (db, _) = docs(&dir);
    // Before there is an index: no name of an index that does not exist.
    let none = ok(&db, &["index", "status", "docs"]);
    assert!(
        none.contains("index:      none (`embedstore index create docs` builds one)"),
        "{none}"
    );
    assert!(!none.contains("_ann"), "{none}");
    let created = ok(
        &db,
        &[
            "index",
            "create",
            "docs",
            "--m",
            "8",
            "--ef-construction",
            "32",
            "--progress",
            "lines",
        ],
    );
    assert!(
        created.contains("(valid)") && created.contains("hnsw"),
        "{created}"
    );
    let status: serde_json::Value =
        serde_json::from_str(&ok(&db, &["index", "status", "docs", "--format", "json"])).unwrap();
    assert_eq!(status["valid"], true);
    assert_eq!(status["parameters"]["m"], 8);
    assert_eq!(status["rows"], 3000);

    let error = fails(&db, &["index", "create", "docs"]);
    assert!(error.contains("already has an ANN index"), "{error}");

    ok(
        &db,
        &[
            "payload-index",
            "create",
            "docs",
            "lang",
            "--type",
            "keyword",
        ],
    );
    ok(&db, &["payload-index", "create", "docs", "--type", "gin"]);
    let list = ok(&db, &["payload-index", "list", "docs", "--format", "json"]);
    let list: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(
        (list[0]["field"].as_str(), list[0]["kind"].as_str()),
        (Some("lang"), Some("keyword"))
    );
    let error = fails(
        &db,
        &["payload-index", "create", "docs", "--type", "keyword"],
    );
    assert!(error.contains("needs a field"), "{error}");
    let id = list[1]["id"].to_string();
    ok(&db, &["payload-index", "drop", "docs", &id]);

    let recall = ok(
        &db,
        &[
            "index",
            "recall",
            "docs",
            "--queries",
            "20",
            "--k",
            "5",
            "--format",
            "json",
        ],
    );
    let recall: serde_json::Value = serde_json::from_str(&recall).unwrap();
    assert_eq!(recall["queries"], 20);
    assert!(recall["recall"].as_f64().unwrap() > 0.5, "{recall}");
    // Held-out queries (never a stored vector finding itself), said in the output.
    assert_eq!(recall["query_kind"]["held_out"]["noise"], 0.5, "{recall}");
    assert_eq!(recall["rerank_factor"], serde_json::Value::Null, "{recall}");

    let rebuilt = ok(&db, &["index", "rebuild", "docs", "--progress", "off"]);
    assert!(rebuilt.contains("(valid)"), "{rebuilt}");
    assert!(ok(&db, &["index", "drop", "docs"]).contains("dropped"));

    // A binary index: recall measured at the re-rank factor asked, and the output says so.
    ok(
        &db,
        &[
            "index",
            "create",
            "docs",
            "--quantization",
            "binary",
            "--progress",
            "off",
        ],
    );
    let table = ok(
        &db,
        &[
            "index",
            "recall",
            "docs",
            "--queries",
            "10",
            "--k",
            "5",
            "--rerank-factor",
            "12",
        ],
    );
    assert!(
        table.contains(
            "queries:   held-out: stored vectors + noise of relative norm 0.5, own row left out"
        ),
        "{table}"
    );
    assert!(
        table.contains("re-rank:   12 candidates per hit from the quantized index"),
        "{table}"
    );
    let json = ok(
        &db,
        &[
            "index",
            "recall",
            "docs",
            "--queries",
            "10",
            "--k",
            "5",
            "--format",
            "json",
        ],
    );
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json["rerank_factor"],
        embedstore::DEFAULT_RERANK_FACTOR,
        "the library's default when none is asked: {json}"
    );
    let bad = fails(&db, &["index", "recall", "docs", "--rerank-factor", "0"]);
    assert!(bad.contains("rerank_factor"), "{bad}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn search_takes_filters_tuning_and_query_files() {
    let dir = temp_dir("search");
    let (db, vectors) = docs(&dir);
    ok(&db, &["index", "create", "docs", "--progress", "off"]);
    let query = serde_json::to_string(&vectors[7]).unwrap();
    let answer = ok(
        &db,
        &[
            "search",
            "docs",
            "--vector",
            &query,
            "--k",
            "5",
            "--filter",
            r#"{"lang": "l7"}"#,
            "--ef-search",
            "100",
            "--format",
            "json",
        ],
    );
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(
        (answer["requested"].as_u64(), answer["returned"].as_u64()),
        (Some(5), Some(5))
    );
    assert_eq!(answer["hits"][0]["external_id"], "doc-7");
    assert!(
        answer["hits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|hit| hit["metadata"]["lang"] == "l7")
    );

    // With a payload index the planner compares its estimate with the exact threshold: the
    // default for 3,000 rows (the floor, 1,000) or --exact-threshold, and says which.
    ok(
        &db,
        &[
            "payload-index",
            "create",
            "docs",
            "lang",
            "--type",
            "keyword",
        ],
    );
    let filtered = |extra: &[&str]| {
        let mut args = vec![
            "search",
            "docs",
            "--vector",
            &query,
            "--filter",
            r#"{"lang": "l7"}"#,
        ];
        args.extend_from_slice(extra);
        ok(&db, &args)
    };
    let answer: serde_json::Value = serde_json::from_str(&filtered(&["--format", "json"])).unwrap();
    assert_eq!(answer["exact_threshold"], 1000, "{answer}");
    assert_eq!(answer["path"], "exact", "{answer}");
    let table = filtered(&[]);
    assert!(
        table.contains("matching rows; exact threshold 1000)"),
        "{table}"
    );
    let table = filtered(&["--exact-threshold", "100"]);
    assert!(table.contains("exact threshold 100)"), "{table}");
    assert!(table.contains("~"), "{table}");
    for hostile in ["0", "1e3", "ten", "", "4294967296", " 5"] {
        let refused = fails(
            &db,
            &[
                "search",
                "docs",
                "--vector",
                &query,
                "--exact-threshold",
                hostile,
            ],
        );
        assert!(
            refused.contains("--exact-threshold"),
            "{hostile:?}: {refused}"
        );
    }
    // A negative number reads as a flag.
    let refused = fails(
        &db,
        &[
            "search",
            "docs",
            "--vector",
            &query,
            "--exact-threshold",
            "-1",
        ],
    );
    assert!(refused.contains("'-1'"), "{refused}");
    let refused = fails(
        &db,
        &["search", "docs", "--text", "x", "--exact-threshold", "5"],
    );
    assert!(refused.contains("--exact-threshold"), "{refused}");

    let exact = ok(
        &db,
        &[
            "search",
            "docs",
            "--vector",
            &query,
            "--exact",
            "--ids-only",
            "--format",
            "json",
        ],
    );
    let exact: serde_json::Value = serde_json::from_str(&exact).unwrap();
    assert_eq!(
        (exact["path"].as_str(), exact["exact"].as_bool()),
        (Some("exact"), Some(true))
    );
    assert!(exact["hits"][0].get("metadata").is_none());

    let table = ok(
        &db,
        &[
            "search",
            "docs",
            "--vector",
            &query,
            "--threshold",
            "0.0001",
        ],
    );
    assert!(table.contains("1 of 10 requested"), "{table}");

    let queries = dir.join("queries.jsonl");
    std::fs::write(
        &queries,
        format!(
            "{{\"id\": \"a\", \"vector\": {}, \"k\": 2}}\n\n{{\"id\": \"b\", \"vector\": {}, \"filter\": {{\"n\": {{\"$lt\": 100}}}}}}\n",
            serde_json::to_string(&vectors[1]).unwrap(),
            serde_json::to_string(&vectors[2]).unwrap(),
        ),
    )
    .unwrap();
    let lines = ok(
        &db,
        &[
            "search",
            "docs",
            "--queries",
            queries.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    let answers: Vec<serde_json::Value> = lines
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(answers.len(), 2);
    assert_eq!(
        (answers[0]["id"].as_str(), answers[0]["returned"].as_u64()),
        (Some("a"), Some(2))
    );
    assert_eq!(answers[1]["returned"], 10);
    assert!(
        answers[1]["hits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|hit| hit["metadata"]["n"].as_u64().unwrap() < 100)
    );

    // Hostile and malformed filters: a precise error, nothing run.
    // A key that looks like SQL is just a key: bound as a parameter, it matches nothing.
    let injected = ok(
        &db,
        &[
            "search",
            "docs",
            "--vector",
            &query,
            "--filter",
            r#"{"x'); DROP TABLE embeddings; --": 1}"#,
            "--format",
            "json",
        ],
    );
    let injected: serde_json::Value = serde_json::from_str(&injected).unwrap();
    assert_eq!(injected["returned"], 0);
    assert_eq!(ok(&db, &["count", "docs"]).trim(), "3000");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn count_and_delete_by_filter() {
    let dir = temp_dir("delete");
    let (db, _) = docs(&dir);
    assert_eq!(
        ok(&db, &["count", "docs", "--filter", r#"{"lang": "l3"}"#]).trim(),
        "300"
    );
    let refused = fails(&db, &["delete", "docs", "--filter", r#"{"lang": "l3"}"#]);
    assert!(
        refused.contains("300 row(s)") && refused.contains("--yes"),
        "{refused}"
    );
    assert_eq!(ok(&db, &["count", "docs"]).trim(), "3000");
    let deleted = ok(
        &db,
        &["delete", "docs", "--filter", r#"{"lang": "l3"}"#, "--yes"],
    );
    assert!(deleted.contains("deleted 300 row(s)"), "{deleted}");
    assert_eq!(ok(&db, &["count", "docs"]).trim(), "2700");
    assert_eq!(
        ok(&db, &["count", "docs", "--filter", r#"{"lang": "l3"}"#]).trim(),
        "0"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn quantized_indexes_are_built_reported_and_searched_with_an_exact_rerank() {
    let dir = temp_dir("quantized");
    let (db, vectors) = docs(&dir);
    let created = ok(
        &db,
        &[
            "index",
            "create",
            "docs",
            "--method",
            "hnsw",
            "--quantization",
            "half",
            "--progress",
            "off",
        ],
    );
    assert!(created.contains("method:     hnsw on halfvec"), "{created}");
    assert!(created.contains("quantized:  half ("), "{created}");
    let query = serde_json::to_string(&vectors[17]).unwrap();
    let found = ok(
        &db,
        &[
            "search",
            "docs",
            "--vector",
            &query,
            "--k",
            "3",
            "--rerank-factor",
            "5",
        ],
    );
    assert!(
        found.contains("15 candidates re-ranked, distances exact"),
        "{found}"
    );
    assert!(found.contains("doc-17"), "{found}");
    let json = ok(
        &db,
        &[
            "search", "docs", "--vector", &query, "--k", "3", "--format", "json",
        ],
    );
    let answer: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    // The library's default factor, 10 (it was 4).
    assert_eq!(answer["reranked"], 30);
    assert_eq!(embedstore::DEFAULT_RERANK_FACTOR, 10);
    assert_eq!(answer["hits"][0]["distance"], 0.0);
    // A rebuild without --quantization keeps it; `none` builds full precision.
    let kept = ok(
        &db,
        &["index", "rebuild", "docs", "--m", "8", "--progress", "off"],
    );
    assert!(kept.contains("quantized:  half"), "{kept}");
    let plain = ok(
        &db,
        &[
            "index",
            "rebuild",
            "docs",
            "--quantization",
            "none",
            "--progress",
            "off",
        ],
    );
    assert!(!plain.contains("quantized"), "{plain}");
    // On a full-precision index --rerank-factor has no effect: the answer says so.
    let unranked = ok(
        &db,
        &[
            "search",
            "docs",
            "--vector",
            &query,
            "--k",
            "3",
            "--rerank-factor",
            "10",
        ],
    );
    assert!(
        unranked.contains("ignored: rerank_factor (the index is not quantized"),
        "{unranked}"
    );
    assert!(
        unranked.contains("settings: hnsw.ef_search=40, hnsw.iterative_scan=off"),
        "{unranked}"
    );
    let refused = fails(
        &db,
        &[
            "index",
            "rebuild",
            "docs",
            "--method",
            "ivfflat",
            "--quantization",
            "binary",
            "--progress",
            "off",
        ],
    );
    assert!(
        refused.contains("quantization: quantized indexes are built with hnsw only"),
        "{refused}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn mmr_flags_pick_diverse_hits_and_hostile_values_are_refused() {
    let dir = temp_dir("mmr");
    let (db, vectors) = docs(&dir);
    let query = serde_json::to_string(&vectors[5]).unwrap();
    let json = ok(
        &db,
        &[
            "search", "docs", "--vector", &query, "--k", "4", "--mmr", "1", "--format", "json",
        ],
    );
    let plain = ok(
        &db,
        &[
            "search", "docs", "--vector", &query, "--k", "4", "--format", "json",
        ],
    );
    let ids = |text: &str| -> Vec<String> {
        let answer: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        answer["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|hit| hit["external_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&json), ids(&plain), "lambda 1 is plain relevance");
    let diverse = ok(
        &db,
        &[
            "search",
            "docs",
            "--vector",
            &query,
            "--k",
            "4",
            "--mmr",
            "0.2",
            "--fetch-k",
            "40",
            "--format",
            "json",
        ],
    );
    assert_eq!(ids(&diverse).len(), 4);
    assert_eq!(ids(&diverse)[0], "doc-5");
    for (flags, expected) in [
        (
            &["--mmr", "NaN"][..],
            "mmr: lambda must be a number in [0, 1], got NaN",
        ),
        (
            &["--mmr", "2"][..],
            "mmr: lambda must be a number in [0, 1], got 2",
        ),
        (
            &["--mmr", "0.5", "--fetch-k", "2"][..],
            "mmr: fetch_k must be in k..=1000 (k = 4), got 2",
        ),
    ] {
        let mut args = vec!["search", "docs", "--vector", &query, "--k", "4"];
        args.extend_from_slice(flags);
        let refused = fails(&db, &args);
        assert!(refused.contains(expected), "{refused}");
    }
    let orphan = fails(
        &db,
        &["search", "docs", "--vector", &query, "--fetch-k", "9"],
    );
    assert!(orphan.contains("--mmr"), "{orphan}");
    // A flag combination the search refuses is about the flags: the query fits the collection.
    let combined = fails(
        &db,
        &[
            "search",
            "docs",
            "--vector",
            &query,
            "--mmr",
            "0.5",
            "--group-by",
            "lang",
        ],
    );
    assert!(
        combined.contains("invalid search options")
            && combined.contains("--group-by: cannot be combined with `mmr`"),
        "{combined}"
    );
    assert!(!combined.contains("do not fit"), "{combined}");
    // A query that does not fit still says so.
    let short = fails(&db, &["search", "docs", "--vector", "[1, 2]"]);
    assert!(
        short.contains("queries do not fit collection \"docs\""),
        "{short}"
    );
    // A bad bit string names the character, not a JSON number.
    let bits = fails(&db, &["search", "docs", "--vector", "0120"]);
    assert!(
        bits.contains("character 2 is neither 0 nor 1") && !bits.contains("invalid number"),
        "{bits}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn group_by_returns_the_best_hits_of_k_groups_and_refuses_bad_fields() {
    let dir = temp_dir("grouped");
    let (db, vectors) = docs(&dir);
    let query = serde_json::to_string(&vectors[3]).unwrap();
    let table = ok(
        &db,
        &[
            "search",
            "docs",
            "--vector",
            &query,
            "--k",
            "3",
            "--group-by",
            "lang",
            "--group-size",
            "2",
        ],
    );
    assert!(
        table.contains("3 of 3 groups requested, 6 hits, exact (exact scan, grouped)"),
        "{table}"
    );
    assert!(table.contains("\"l3\""), "{table}");
    // k counts groups: the hits are never reported against it.
    assert!(!table.contains("6 of 3"), "{table}");
    let json = ok(
        &db,
        &[
            "search",
            "docs",
            "--vector",
            &query,
            "--k",
            "10",
            "--group-by",
            "lang",
            "--format",
            "json",
        ],
    );
    let answer: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(answer["groups"], 10);
    let mut groups: Vec<String> = answer["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["group"].as_str().unwrap().to_owned())
        .collect();
    groups.sort();
    groups.dedup();
    assert_eq!(groups.len(), 10, "one hit per group by default");
    let bad = fails(
        &db,
        &["search", "docs", "--vector", &query, "--group-by", "a\\x"],
    );
    assert!(bad.contains("--group-by:"), "{bad}");
    let zero = fails(
        &db,
        &[
            "search",
            "docs",
            "--vector",
            &query,
            "--group-by",
            "lang",
            "--group-size",
            "0",
        ],
    );
    assert!(
        zero.contains("--group-by: group_size must be in 1..=100, got 0"),
        "{zero}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn text_index_commands_and_text_and_hybrid_search() {
    let dir = temp_dir("text");
    let db = TestDatabase::new();
    ok(
        &db,
        &[
            "collection",
            "create",
            "notes",
            "--dimension",
            "2",
            "--metric",
            "l2",
            "--model",
            "m",
        ],
    );
    let path = dir.join("notes.jsonl");
    let mut file = std::fs::File::create(&path).unwrap();
    for (index, content) in [
        "the quick brown fox",
        "running foxes are quick",
        "a database of vectors",
        "vector search in postgres",
        "nothing to see",
    ]
    .iter()
    .enumerate()
    {
        let record = serde_json::json!({
            "external_id": format!("n{index}"),
            "vector": [index as f32, 1.0],
            "content": content,
        });
        writeln!(file, "{record}").unwrap();
    }
    drop(file);
    ok(&db, &["insert", "notes", path.to_str().unwrap()]);
    // A plain string as the vector of a dense collection: told what a vector is, not only that
    // it is a bad bit string.
    let stringy = dir.join("stringy.jsonl");
    std::fs::write(
        &stringy,
        "{\"external_id\": \"s\", \"vector\": \"hello\"}\n{\"external_id\": \"t\", \"vector\": \"[1, 2]\"}\n",
    )
    .unwrap();
    let refused = fails(&db, &["insert", "notes", stringy.to_str().unwrap()]);
    assert!(
        refused.contains("expected a vector (an array of numbers")
            && refused.contains("got the string \"hello\"")
            && refused
                .contains("JSON inside a string; write the array or object without the quotes")
            && !refused.contains("neither 0 nor 1"),
        "{refused}"
    );
    let none = ok(&db, &["text-index", "status", "notes"]);
    assert!(
        none.contains("index:      none (`embedstore text-index create notes` builds one)"),
        "{none}"
    );
    assert!(
        !none.contains("_text"),
        "no index name that does not exist: {none}"
    );
    let created = ok(
        &db,
        &["text-index", "create", "notes", "--config", "english"],
    );
    assert!(created.contains("config:     english"), "{created}");
    let bad = fails(&db, &["text-index", "rebuild", "notes", "--config", "nope"]);
    assert!(bad.contains("unknown text search configuration"), "{bad}");
    let text = ok(&db, &["search", "notes", "--text", "run fox", "--content"]);
    assert!(text.contains("full text (ranked by ts_rank_cd)"), "{text}");
    assert!(text.contains("n1"), "english stems running/foxes: {text}");
    // A query may start with `-` (web-search syntax for "not"), without `=`.
    let excluding = ok(
        &db,
        &[
            "search",
            "notes",
            "--text",
            "-brown quick",
            "--format",
            "json",
        ],
    );
    let answer: serde_json::Value = serde_json::from_str(excluding.trim()).unwrap();
    let ids: Vec<&str> = answer["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["external_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["n1"], "quick, but not brown: {excluding}");
    // A flag where the query should be stays a flag: --text lacks its value.
    let flag = fails(&db, &["search", "notes", "--text", "--k", "3"]);
    assert!(
        flag.contains("a value is required for '--text <QUERY>'"),
        "{flag}"
    );
    let hybrid = ok(
        &db,
        &[
            "search", "notes", "--vector", "[3, 1]", "--text", "postgres", "--k", "2", "--rrf-k",
            "10", "--format", "json",
        ],
    );
    let answer: serde_json::Value = serde_json::from_str(hybrid.trim()).unwrap();
    assert_eq!(answer["path"], "hybrid");
    // n3 is the nearest and a text match: first on both sides.
    assert_eq!(answer["hits"][0]["external_id"], "n3");
    assert_eq!(answer["hits"][0]["vector_rank"], 1);
    assert_eq!(answer["hits"][0]["text_rank"], 1);
    let hostile = ok(
        &db,
        &["search", "notes", "--text", "\"fox' OR 1=1; -- \\ ü"],
    );
    assert!(hostile.contains("full text"), "{hostile}");
    let empty = fails(&db, &["search", "notes", "--text", "!!!"]);
    assert!(empty.contains("text: the query has no words"), "{empty}");
    let nothing = fails(&db, &["search", "notes"]);
    assert!(nothing.contains("--vector"), "{nothing}");
    let orphan = fails(
        &db,
        &["search", "notes", "--vector", "[1, 1]", "--rrf-k", "5"],
    );
    assert!(orphan.contains("--text"), "{orphan}");
    // Flags that cannot act on a text search are refused by name, never ignored.
    let pointless = fails(
        &db,
        &[
            "search",
            "notes",
            "--text",
            "fox",
            "--ef-search",
            "80",
            "--threshold",
            "0.5",
        ],
    );
    assert!(
        pointless.contains("--ef-search: has no effect on a text search (no query vector)"),
        "{pointless}"
    );
    assert!(
        pointless.contains("--threshold: has no effect on a text search (no query vector)"),
        "{pointless}"
    );
    ok(
        &db,
        &["text-index", "rebuild", "notes", "--config", "simple"],
    );
    let dropped = ok(&db, &["text-index", "drop", "notes"]);
    assert!(dropped.contains("dropped the text index"), "{dropped}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sparse_and_bit_collections_are_created_filled_searched_and_exported_from_the_cli() {
    let dir = temp_dir("kinds");
    let db = TestDatabase::new();
    let created = ok(
        &db,
        &[
            "collection",
            "create",
            "splade",
            "--kind",
            "sparse",
            "--dimension",
            "30522",
            "--metric",
            "inner_product",
            "--model",
            "splade-v3",
        ],
    );
    assert!(
        created.contains("sparse 30522 dimensions, inner_product"),
        "{created}"
    );
    let created = ok(
        &db,
        &[
            "collection",
            "create",
            "hashes",
            "--kind",
            "bit",
            "--dimension",
            "8",
            "--model",
            "h",
        ],
    );
    assert!(created.contains("bit 8 dimensions, hamming"), "{created}");
    let listed = ok(&db, &["collection", "list"]);
    assert!(
        listed
            .lines()
            .any(|line| line.starts_with("splade") && line.contains(" sparse ")),
        "{listed}"
    );
    assert!(ok(&db, &["collection", "show", "hashes"]).contains("kind         bit"));
    let sparse = dir.join("sparse.jsonl");
    std::fs::write(
        &sparse,
        concat!(
            r#"{"id": "a", "vector": {"indices": [1, 30000], "values": [2.0, 1.0], "dim": 30522}}"#,
            "\n",
            r#"{"id": "b", "vector": {"indices": [1], "values": [0.5], "dim": 30522}}"#,
            "\n",
        ),
    )
    .unwrap();
    ok(&db, &["insert", "splade", sparse.to_str().unwrap()]);
    let bits = dir.join("bits.jsonl");
    std::fs::write(
        &bits,
        "{\"id\": \"a\", \"vector\": \"10110000\"}\n{\"id\": \"b\", \"vector\": [0, 1, 0, 0, 1, 1, 1, 1]}\n",
    )
    .unwrap();
    ok(&db, &["insert", "hashes", bits.to_str().unwrap()]);
    // Sparse query as JSON: the inner product ranks a (2.0 at index 1) first.
    let found = ok(
        &db,
        &[
            "search",
            "splade",
            "--vector",
            r#"{"indices": [1], "values": [1.0], "dim": 30522}"#,
            "--k",
            "2",
            "--format",
            "json",
        ],
    );
    let answer: serde_json::Value = serde_json::from_str(found.lines().next().unwrap()).unwrap();
    let ids: Vec<&str> = answer["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["external_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "b"], "{found}");
    assert_eq!(answer["hits"][0]["distance"], -2.0);
    // Bits, bare and quoted: a is 1 bit away from 10100000, b 6.
    for vector in ["10100000", "\"10100000\""] {
        let found = ok(
            &db,
            &[
                "search", "hashes", "--vector", vector, "--k", "1", "--format", "json",
            ],
        );
        let answer: serde_json::Value =
            serde_json::from_str(found.lines().next().unwrap()).unwrap();
        assert_eq!(answer["hits"][0]["external_id"], "a", "{found}");
        assert_eq!(answer["hits"][0]["distance"], 1.0, "{found}");
    }
    // Hostile query vectors: a clear message naming what is wrong.
    for (vector, expected) in [
        ("1012", "character 3 is neither 0 nor 1"),
        (
            r#"{"indices": [1], "values": [1.0]}"#,
            "missing field `dim`",
        ),
        ("10 10", "expected a vector"),
        ("[1, 0] x", "trailing characters"),
    ] {
        let error = fails(&db, &["search", "hashes", "--vector", vector]);
        assert!(error.contains(expected), "{vector}: {error}");
    }
    let error = fails(&db, &["search", "hashes", "--vector", "101"]);
    assert!(error.contains("expected 8 bits, got 3"), "{error}");
    let error = fails(
        &db,
        &[
            "search",
            "splade",
            "--vector",
            r#"{"indices": [5, 2], "values": [1, 1], "dim": 30522}"#,
        ],
    );
    assert!(
        error.contains("vector.indices[1]: 2 does not follow 5"),
        "{error}"
    );
    // Export to JSONL and back.
    let out = dir.join("export");
    ok(
        &db,
        &[
            "export",
            "splade",
            "--out",
            out.to_str().unwrap(),
            "--format",
            "jsonl",
        ],
    );
    let text = std::fs::read_to_string(out.join("embeddings.jsonl")).unwrap();
    assert!(
        text.starts_with(
            r#"{"external_id":"a","vector":{"indices":[1,30000],"values":[2.0,1.0],"dim":30522}"#
        ),
        "{text}"
    );
    let error = fails(&db, &["export", "splade", "--out", out.to_str().unwrap()]);
    assert!(error.contains("export it to JSONL"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_rare_unindexed_filter_is_scanned_exactly_and_search_and_health_advise_a_payload_index() {
    let dir = temp_dir("rare");
    let (db, vectors) = docs(&dir);
    ok(&db, &["index", "create", "docs", "--progress", "off"]);
    let query = serde_json::to_string(&vectors[7]).unwrap();
    // `n` is unique: one row of 3,000 matches.
    let answer = ok(
        &db,
        &[
            "search",
            "docs",
            "--vector",
            &query,
            "--k",
            "5",
            "--filter",
            r#"{"n": 7}"#,
        ],
    );
    let advice = "a payload index on `n` would make this filter exact without scanning every row";
    assert!(
        answer.contains("1 of 5 requested, exact (exact scan"),
        "{answer}"
    );
    assert!(answer.contains(&format!("advice: {advice}")), "{answer}");
    // A common filter walks the index and is not advised on.
    let common = ok(
        &db,
        &[
            "search",
            "docs",
            "--vector",
            &query,
            "--k",
            "5",
            "--filter",
            r#"{"lang": "l7"}"#,
        ],
    );
    assert!(!common.contains("advice:"), "{common}");
    let health = ok(
        &db,
        &[
            "index",
            "health",
            "docs",
            "--queries",
            "0",
            "--filter",
            r#"{"lang": "l7"}"#,
            "--filter",
            r#"{"n": 7}"#,
        ],
    );
    assert!(
        health.contains(&format!("  advice          {advice}")),
        "{health}"
    );
    assert_eq!(health.matches("advice").count(), 1, "{health}");
    std::fs::remove_dir_all(dir).unwrap();
}
