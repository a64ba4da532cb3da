//! `embedstore ingest` (`.npy` + JSONL) and `embedstore insert` (JSONL), run as a user would
//! against a real database.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use embedstore::Metric;
use embedstore_test_support::{
    Scratch, TestDatabase, count, dataset, expected, files, stored, with_collection,
};

use crate::support::{
    assert_success, embedstore, stderr_of_failure, stdout_of, successful, with_stdin,
};

/// `embedstore ingest docs --vectors <npy> --records <jsonl>`; add the options.
fn ingest(db: &TestDatabase, npy: &Path, jsonl: &Path) -> Command {
    let mut command = embedstore(db);
    command
        .args(["ingest", "docs", "--vectors"])
        .arg(npy)
        .arg("--records")
        .arg(jsonl);
    command
}

#[test]
fn cli_prints_a_json_summary_as_the_last_line_and_writes_rejects() {
    let (db, _collection) = with_collection("docs", 4, Metric::L2);
    let scratch = Scratch::new(&db);
    let (vectors, mut records) = dataset(8, 40, 4);
    records[7] = r#"{"id": "doc-00007", "metadata": {"x": NaN}}"#.into();
    let (npy, jsonl) = files(&scratch, &vectors, &records);
    let rejects = scratch.path("rejects.jsonl");
    let output = successful(
        ingest(&db, &npy, &jsonl)
            .args([
                "--format",
                "json",
                "--progress",
                "lines",
                "--batch-size",
                "16",
                "--rejects",
            ])
            .arg(&rejects),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    for (key, value) in [
        ("rows", 40),
        ("inserted", 39),
        ("updated", 0),
        ("unchanged", 0),
        ("rejected", 1),
        ("batches", 3),
        ("writers", 2),
    ] {
        assert_eq!(summary[key], value, "{key}: {summary}");
    }
    assert!(summary["seconds"].as_f64().unwrap() > 0.0);
    assert!(summary["rows_per_second"].as_f64().unwrap() > 0.0);
    assert!(summary["peak_rss_bytes"].as_u64().unwrap() > 0);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ingest: 40/40 rows (100.0%)"), "{stderr}");
    let reject: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&rejects).unwrap().trim()).unwrap();
    assert_eq!(reject["row"], 7);
    assert_eq!(reject["line"], 8);
    assert_eq!(reject["problems"][0]["field"], "metadata.x");

    // --writers takes 1 to 16; anything else is refused before anything is read.
    for bad in ["0", "17", "-1", "two", " 2", ""] {
        let stderr = stderr_of_failure(ingest(&db, &npy, &jsonl).args(["--writers", bad]));
        // clap names the option, or (for "-1", which looks like a flag) the value.
        assert!(
            stderr.contains("--writers") || stderr.contains(&format!("'{bad}'")),
            "--writers {bad:?}: {stderr}"
        );
    }
    assert_eq!(
        count(&db, &_collection),
        39,
        "the refused runs wrote nothing"
    );
}

#[test]
fn cli_refuses_a_bad_batch_naming_file_row_and_field() {
    let (db, collection) = with_collection("docs", 4, Metric::L2);
    let scratch = Scratch::new(&db);
    let (vectors, mut records) = dataset(9, 6, 4);
    records[4] = r#"{"id": "doc-00004", "metadata": {"deep": 1}, "contnet": "typo"}"#.into();
    let (npy, jsonl) = files(&scratch, &vectors, &records);
    let stderr = stderr_of_failure(ingest(&db, &npy, &jsonl).args(["--progress", "off"]));
    assert!(
        stderr
            .contains("records.jsonl: 1 invalid row in a batch; nothing of that batch was written"),
        "{stderr}"
    );
    assert!(
        stderr.contains("row 4 (line 5): contnet: unknown field `contnet`"),
        "{stderr}"
    );
    assert_eq!(count(&db, &collection), 0);
}

/// The done-when test: kill the CLI mid-file (by its pid), run it again, and the collection
/// holds exactly the file's rows.
#[test]
fn killed_ingest_resumes_to_exactly_the_files_rows() {
    let (db, collection) = with_collection("docs", 16, Metric::L2);
    let scratch = Scratch::new(&db);
    let rows = 60_000;
    let (vectors, records) = dataset(10, rows, 16);
    let (npy, jsonl) = files(&scratch, &vectors, &records);
    let run = || {
        let mut command = ingest(&db, &npy, &jsonl);
        command.args([
            "--progress",
            "off",
            "--format",
            "json",
            "--batch-size",
            "500",
        ]);
        command
    };
    let mut child = run()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = 0;
    while seen < 2_000 {
        assert!(Instant::now() < deadline, "the ingest never got going");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the ingest finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
        seen = count(&db, &collection);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let after_kill = count(&db, &collection);
    assert!(
        after_kill < rows as u64,
        "killed mid-file: {after_kill} of {rows} rows"
    );
    assert_eq!(after_kill % 500, 0, "only whole batches are committed");
    let stdout = stdout_of(&mut run());
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["unchanged"], after_kill, "{summary}");
    assert_eq!(summary["inserted"], rows as u64 - after_kill, "{summary}");
    assert_eq!(summary["updated"], 0, "{summary}");
    assert_eq!(stored(&db, &collection), expected(&vectors, &records));
}

/// `embedstore insert` streams its input in chunks inside one transaction: problems in a later
/// chunk roll back the earlier ones, and every bad line is named (unknown fields, NaN tokens).
#[test]
fn cli_insert_streams_and_refuses_every_bad_line_writing_nothing() {
    let (db, collection) = with_collection("docs", 3, Metric::L2);
    let mut lines: Vec<String> = (0..25)
        .map(|index| format!(r#"{{"id": "i{index}", "vector": [1, 2, {index}]}}"#))
        .collect();
    lines[21] = r#"{"id": "i21", "vector": [1, 2, 3], "metdata": {"lang": "en"}}"#.into();
    lines[22] = r#"{"id": "i22", "vector": [1, NaN, 3]}"#.into();
    lines[23] = r#"{"id": "i3", "vector": [1, 2, 3]}"#.into();
    let insert = |stdin: String| {
        with_stdin(
            embedstore(&db).args(["insert", "docs", "-", "--batch-size", "10"]),
            stdin.as_bytes(),
        )
    };
    let output = insert(lines.join("\n"));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("3 bad lines in stdin; nothing was written"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 22: metdata: unknown field `metdata`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 23: vector[1]: NaN is not valid JSON"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 24: external_id: repeats the external_id of row 3 (line 4)"),
        "{stderr}"
    );
    assert_eq!(
        count(&db, &collection),
        0,
        "the first two chunks were rolled back"
    );
    lines.truncate(21);
    assert_success(&insert(lines.join("\n")));
    assert_eq!(count(&db, &collection), 21);
}

/// The plain `ingest COLLECTION --vectors X.npy --records Y.jsonl`, in whatever feature set the
/// binary was built with (the default build once panicked on `ingest` before reading a byte):
/// every row arrives with its id, exact vector, content and metadata.
#[test]
fn cli_ingests_npy_with_jsonl_records_exactly() {
    let (db, collection) = with_collection("docs", 3, Metric::Cosine);
    let scratch = Scratch::new(&db);
    let vectors = vec![
        vec![0.5, -0.25, 1.0],
        vec![f32::from_bits(0x3f80_0001), -0.0, f32::MIN_POSITIVE / 2.0],
        vec![1e-3, 0.0, 7.0],
    ];
    let records = [
        r#"{"id": "a", "metadata": {"lang": "en"}, "content": "first"}"#,
        r#"{"external_id": "b", "metadata": {"tags": ["x", "ü"], "n": 2}}"#,
        r#"{"id": "c"}"#,
    ]
    .map(str::to_owned);
    let (npy, jsonl) = files(&scratch, &vectors, &records);
    successful(&mut ingest(&db, &npy, &jsonl));
    assert_eq!(count(&db, &collection), 3);
    let rows = stored(&db, &collection);
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
    let bits: Vec<u32> = vectors[1].iter().map(|value| value.to_bits()).collect();
    assert_eq!(
        rows["b"].0, bits,
        "bit-exact, -0.0 and a subnormal included"
    );
    assert_eq!(rows["b"].2, serde_json::json!({"tags": ["x", "ü"], "n": 2}));
    assert_eq!(
        (&rows["a"].1, &rows["a"].2),
        (
            &Some("first".to_owned()),
            &serde_json::json!({"lang": "en"})
        )
    );
    assert_eq!(
        (&rows["c"].1, &rows["c"].2),
        (&None, &serde_json::json!({}))
    );
    assert_eq!(rows, expected(&vectors, &records));
}
