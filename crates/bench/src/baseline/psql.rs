//! The `psql` baselines: a COPY command fed from a file, timed from spawn to exit.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::BenchResult;

/// Runs `psql DATABASE_URL -c COMMAND` with `data` on its standard input and returns how long
/// it took, process start to exit (the same way the CLI under test is timed).
pub fn timed_copy(database_url: &str, command: &str, data: &Path) -> BenchResult<Duration> {
    let input = File::open(data)?;
    let started = Instant::now();
    let output = Command::new("psql")
        .arg(database_url)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", command])
        .stdin(Stdio::from(input))
        .output()
        .map_err(|error| format!("cannot run psql (is it installed and on PATH?): {error}"))?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        return Err(format!(
            "psql {command} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    Ok(elapsed)
}
