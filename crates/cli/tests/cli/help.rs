//! `--help` of every subcommand, found by walking the binary's own help: clap checks a
//! command's definition only when it is built, so a definition that is wrong in one feature
//! set (the default build once panicked on `ingest --help` while every all-features test
//! passed) shows up here in that build, whatever the subcommand.

use std::process::Command;

/// Runs `embedstore <path…> --help`, asserts it succeeds with a `Usage:` line for that path,
/// and returns stdout.
fn help(path: &[String]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_embedstore"))
        .args(path)
        .arg("--help")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "embedstore {} --help: {:?}\n{stdout}{}",
        path.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let usage = ["Usage: embedstore"]
        .into_iter()
        .chain(path.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        stdout.lines().any(|line| line.starts_with(&usage)),
        "embedstore {} --help has no `{usage}` line:\n{stdout}",
        path.join(" ")
    );
    stdout
}

/// The subcommand names listed under `Commands:` (two-space indent; deeper lines continue a
/// description), without clap's own `help`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| line.trim_end() != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_subcommand_prints_its_help() {
    let mut found: Vec<String> = Vec::new();
    let mut pending: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(path) = pending.pop() {
        let text = help(&path);
        if !path.is_empty() {
            found.push(path.join(" "));
        }
        for name in subcommands(&text) {
            let mut child = path.clone();
            child.push(name);
            pending.push(child);
        }
    }
    found.sort();
    println!(
        "--help of {} subcommands: {}",
        found.len(),
        found.join(", ")
    );
    for expected in [
        "ingest",
        "insert",
        "search",
        "export",
        "index create",
        "index health",
        "backfill",
        "alias set",
        "alias show",
        "alias list",
        "alias drop",
    ] {
        assert!(
            found.iter().any(|path| path == expected),
            "`{expected}` was not discovered: {found:?}"
        );
    }
}
