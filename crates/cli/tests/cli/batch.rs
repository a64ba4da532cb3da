//! `embedstore search --queries` with a batch that fails part-way: the answers of the chunks
//! before the failure are printed as they come, and the error names the statement timeout's
//! setting, the chunk and how many queries were answered.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;

use diesel::connection::SimpleConnection;
use embedstore::{Metric, NewCollection};
use embedstore_test_support::{Rng, TestDatabase, items};

use crate::support;

#[test]
fn a_batch_that_times_out_part_way_has_printed_the_answers_before_the_error() {
    let db = TestDatabase::new();
    let docs = db
        .store()
        .write(|uow| {
            uow.collections()
                .create(NewCollection::new("docs", 8, Metric::L2, "m"))
        })
        .unwrap();
    let mut rng = Rng::new(5);
    db.store()
        .write(|uow| uow.embeddings().insert(&docs, items(&mut rng, 2_000, 8)))
        .unwrap();
    let scratch = std::env::temp_dir().join(format!("embedstore-cli-batch-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let queries = scratch.join("queries.jsonl");
    let mut file = std::fs::File::create(&queries).unwrap();
    for _ in 0..1_000 {
        writeln!(file, "{}", serde_json::json!({"vector": rng.vector(8)})).unwrap();
    }
    drop(file);

    let mut child = support::embedstore(&db)
        .args(["search", "docs", "--k", "10", "--queries"])
        .arg(&queries)
        .env("EMBEDSTORE_STATEMENT_TIMEOUT_MS", "500")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("query"), "{first:?}");
    // The first answer is out. Until this test reads on, the CLI can write no more than the
    // pipe holds (far less than 1,000 answers of 10 hits); now another session takes the
    // table, so a later chunk waits on the lock until the statement timeout cancels it.
    let mut holder = db.raw_connection();
    holder
        .batch_execute("BEGIN; LOCK TABLE embeddings IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    holder.batch_execute("ROLLBACK").unwrap();
    drop(std::fs::remove_dir_all(&scratch));

    assert!(!status.success(), "{status}\n{stderr}");
    let printed = 1 + rest
        .lines()
        .filter(|line| line.starts_with("query"))
        .count();
    assert!(
        (16..1_000).contains(&printed),
        "answers printed before the failure: {printed}\n{stderr}"
    );
    for part in [
        "statement timeout",
        "EMBEDSTORE_STATEMENT_TIMEOUT_MS = 500 ms",
        &format!("chunk of queries {printed}.."),
        &format!("after {printed} of 1000 queries answered"),
    ] {
        assert!(stderr.contains(part), "{part:?} missing from {stderr}");
    }
    // Every printed answer is whole: its header and its 10 hits.
    let hits = rest
        .lines()
        .filter(|line| line.starts_with("  ") && !line.trim_start().starts_with("settings"))
        .count();
    assert!(
        hits >= (printed - 1) * 10,
        "{hits} hit lines for {printed} answers"
    );
}
