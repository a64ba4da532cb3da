//! `-v` / `-vv` / `RUST_LOG`: embedstore's spans on stderr, stdout untouched, nothing without
//! them.

use embedstore::{Metric, NewEmbedding};
use embedstore_test_support::with_collection;

use crate::support::{embedstore, successful};

#[test]
fn verbosity_traces_operations_on_stderr_only_when_asked() {
    let (db, docs) = with_collection("docs", 3, Metric::L2);
    let rows = (0..4)
        .map(|index| NewEmbedding::new(format!("e{index}"), vec![7.654321, 2.0, index as f32]))
        .collect();
    db.store()
        .write(|uow| uow.embeddings().insert(&docs, rows))
        .unwrap();
    db.store()
        .write(|uow| uow.aliases().set("live", "docs"))
        .unwrap();
    let search = [
        "search",
        "live",
        "--vector",
        "[1.234567, 2, 3]",
        "--k",
        "3",
        "--ids-only",
    ];

    let quiet = successful(embedstore(&db).args(search).env_remove("RUST_LOG"));
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );

    let verbose = successful(
        embedstore(&db)
            .arg("-v")
            .args(search)
            .env_remove("RUST_LOG"),
    );
    assert_eq!(verbose.stdout, quiet.stdout, "tracing never goes to stdout");
    let stderr = String::from_utf8(verbose.stderr).unwrap();
    let search_line = stderr
        .lines()
        .find(|line| line.contains(" search{"))
        .unwrap_or_else(|| panic!("no search span in:\n{stderr}"));
    for expected in [
        "collection=docs",
        "k=3",
        "returned=3",
        "path=\"exact\"",
        "duration_ms=",
    ] {
        assert!(
            search_line.contains(expected),
            "{expected} missing: {search_line}"
        );
    }
    assert!(stderr.contains("connect{"), "{stderr}");
    for value in ["1.234567", "7.654321"] {
        assert!(!stderr.contains(value), "a vector value in:\n{stderr}");
    }

    let from_env = successful(
        embedstore(&db)
            .args(search)
            .env("RUST_LOG", "embedstore=info"),
    );
    assert!(
        String::from_utf8_lossy(&from_env.stderr).contains(" search{"),
        "RUST_LOG alone turns tracing on"
    );
}
