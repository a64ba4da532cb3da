//! Running the `embedstore` binary from the tests: against a test database, with or without
//! input, asserting how it ended. The assertions are `#[track_caller]`, so a failure names the
//! test's line.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use embedstore_test_support::TestDatabase;

/// The `embedstore` binary with `DATABASE_URL` set to the test database; add the arguments.
pub fn embedstore(db: &TestDatabase) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_embedstore"));
    command.env("DATABASE_URL", db.url().expose_secret());
    command
}

/// Asserts that the run that gave `output` succeeded; the message has its stdout and stderr.
#[track_caller]
pub fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "{}\n{}",
        output.status,
        stdout_and_stderr(output)
    );
}

/// Runs `command`, asserts that it succeeded and returns its output.
#[track_caller]
pub fn successful(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert_success(&output);
    output
}

/// Runs `command`, asserts that it succeeded and returns its stdout.
#[track_caller]
pub fn stdout_of(command: &mut Command) -> String {
    String::from_utf8(successful(command).stdout).unwrap()
}

/// Runs `command`, asserts that it failed (the message has its arguments, stdout and stderr)
/// and returns its stderr.
#[track_caller]
pub fn stderr_of_failure(command: &mut Command) -> String {
    let output = command.output().unwrap();
    let args: Vec<_> = command
        .get_args()
        .map(|arg| arg.to_string_lossy())
        .collect();
    assert!(
        !output.status.success(),
        "{args:?} should fail:\n{}",
        stdout_and_stderr(&output)
    );
    String::from_utf8(output.stderr).unwrap()
}

/// Runs `command` with `input` on its stdin (closed after it; empty input closes it at once)
/// and returns its output, whatever its status.
pub fn with_stdin(command: &mut Command, input: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// Stdout then stderr, as text: what a user would see in the terminal for the checks that
/// look for a message wherever it was printed.
pub fn stdout_and_stderr(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
