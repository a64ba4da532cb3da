//! The hostile-input matrix through the CLI: every case gets a specific error naming the line
//! or option, and the database is unchanged afterwards ([`fingerprint`] before and after).

use embedstore::Metric;
use embedstore_test_support::{Rng, TestDatabase, fingerprint, with_items};

use crate::support::{self, stdout_and_stderr, with_stdin};

/// Runs the CLI with `stdin` as its input (none: stdin closed at once) and returns (success,
/// stdout + stderr).
fn embedstore(db: &TestDatabase, args: &[&str], stdin: Option<&[u8]>) -> (bool, String) {
    let output = with_stdin(
        support::embedstore(db).args(args),
        stdin.unwrap_or_default(),
    );
    (output.status.success(), stdout_and_stderr(&output))
}

#[test]
fn hostile_inputs_through_the_cli_get_specific_errors_and_change_nothing() {
    let (db, _) = with_items("docs", 3, Metric::L2, 20, 2);
    let before = fingerprint(&db);
    let good = br#"{"external_id": "ok-1", "vector": [0.1, 0.2, 0.3]}"#.to_vec();
    let with_good = |bad: &[u8]| -> Vec<u8> {
        let mut input = good.clone();
        input.push(b'\n');
        input.extend_from_slice(bad);
        input.push(b'\n');
        input
    };
    let mut checked = 0;
    for (name, line, expected) in [
        (
            "NaN token",
            &br#"{"external_id": "a", "vector": [0.1, NaN, 0.3]}"#[..],
            vec!["line 2", "vector"],
        ),
        (
            "Infinity token",
            br#"{"external_id": "a", "vector": [Infinity, 0.2, 0.3]}"#,
            vec!["line 2", "vector"],
        ),
        (
            "1e40 beyond f32",
            br#"{"external_id": "a", "vector": [1e40, 0.2, 0.3]}"#,
            vec!["line 2", "vector[0]"],
        ),
        (
            "NUL in id",
            br#"{"external_id": "a\u0000b", "vector": [0.1, 0.2, 0.3]}"#,
            vec!["line 2", "external_id"],
        ),
        (
            "invalid UTF-8",
            b"{\"external_id\": \"a\xff\xfe\", \"vector\": [0.1, 0.2, 0.3]}",
            vec!["line 2"],
        ),
        (
            "metadata not an object",
            br#"{"external_id": "a", "vector": [0.1, 0.2, 0.3], "metadata": "x"}"#,
            vec!["line 2", "metadata"],
        ),
        (
            "unknown field",
            br#"{"external_id": "a", "vector": [0.1, 0.2, 0.3], "metdata": {}}"#,
            vec!["line 2", "metdata"],
        ),
        (
            "wrong dimension",
            br#"{"external_id": "a", "vector": [0.1, 0.2]}"#,
            vec!["line 2", "vector"],
        ),
        ("not JSON", b"{not json", vec!["line 2"]),
    ] {
        let (ok, text) = embedstore(&db, &["insert", "docs", "-"], Some(&with_good(line)));
        assert!(!ok, "{name}: accepted: {text}");
        for piece in expected {
            assert!(text.contains(piece), "{name}: {text}");
        }
        assert_eq!(fingerprint(&db), before, "{name} changed the database");
        checked += 1;
    }
    for (name, args, expected) in [
        (
            "SQL-looking collection",
            vec![
                "collection",
                "create",
                "x; DROP TABLE embeddings; --",
                "--dimension",
                "3",
                "--model",
                "m",
            ],
            "name",
        ),
        (
            "look-alike collection",
            vec![
                "collection",
                "create",
                "dоcs",
                "--dimension",
                "3",
                "--model",
                "m",
            ],
            "name",
        ),
        (
            "k = 0",
            vec!["search", "docs", "--vector", "[0.1, 0.2, 0.3]", "--k", "0"],
            "--k",
        ),
        (
            "k negative",
            vec!["search", "docs", "--vector", "[0.1, 0.2, 0.3]", "--k", "-1"],
            "'-1'",
        ),
        (
            "k = 1,000,000",
            vec![
                "search",
                "docs",
                "--vector",
                "[0.1, 0.2, 0.3]",
                "--k",
                "1000000",
            ],
            "--k",
        ),
        (
            "NaN query",
            vec!["search", "docs", "--vector", "[0.1, NaN, 0.3]"],
            "--vector",
        ),
        (
            "hostile filter",
            vec![
                "search",
                "docs",
                "--vector",
                "[0.1, 0.2, 0.3]",
                "--filter",
                r#"{"a": {"$where": "1"}}"#,
            ],
            "$where",
        ),
        (
            "delete without --yes",
            vec!["delete", "docs", "--filter", "{\"n\": {\"$gte\": 0}}"],
            "--yes",
        ),
    ] {
        let (ok, text) = embedstore(&db, &args, None);
        assert!(!ok, "{name}: accepted: {text}");
        assert!(text.contains(expected), "{name}: {text}");
        assert_eq!(fingerprint(&db), before, "{name} changed the database");
        checked += 1;
    }
    // A lying .npy header: the shape promises more rows than the file holds.
    let dir = std::env::temp_dir().join(format!("embedstore-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let npy = dir.join("lying.npy");
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 3), }";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let padded = format!("{header:<118}\n");
    bytes.extend_from_slice(&(padded.len() as u16).to_le_bytes());
    bytes.extend_from_slice(padded.as_bytes());
    for value in Rng::new(3).vector(6) {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    std::fs::write(&npy, bytes).unwrap();
    let (ok, text) = embedstore(
        &db,
        &[
            "ingest",
            "docs",
            "--vectors",
            npy.to_str().unwrap(),
            "--id-prefix",
            "n-",
            "--progress",
            "off",
        ],
        None,
    );
    assert!(!ok, "lying header accepted: {text}");
    assert!(text.contains("lying.npy"), "{text}");
    assert_eq!(fingerprint(&db), before);
    checked += 1;
    std::fs::remove_dir_all(dir).unwrap();
    println!("hostile (CLI): {checked} cases, database unchanged");
}
