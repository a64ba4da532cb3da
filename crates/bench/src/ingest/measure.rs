//! The rounds: every path writes the same rows into a fresh collection of its own, in an
//! order that is reversed every other round, with a `CHECKPOINT` before each timed write so
//! that one path's dirty pages and WAL are not flushed on another's clock.

use std::path::PathBuf;
use std::time::Duration;

use diesel::prelude::*;
use embedstore::{Collection, Metric, NewCollection};
use embedstore_test_support::TestDatabase;

use crate::BenchResult;
use crate::ingest::args::IngestArgs;
use crate::ingest::baseline::{self, CopyFormat};
use crate::ingest::checks;
use crate::ingest::cli::{self, IngestRun, Mode};
use crate::ingest::files::{self, IngestFiles};
use crate::scratch::ScratchDir;

/// The timings of one round.
#[derive(Debug, Clone, Copy)]
pub struct Round {
    /// `psql` sending the pre-encoded binary COPY stream.
    pub binary_copy: Duration,
    /// `psql` sending the text COPY stream.
    pub text_copy: Duration,
    /// The naive sample.
    pub naive: Duration,
    /// `embedstore ingest --mode insert` into an empty collection.
    pub insert: IngestRun,
    /// `embedstore ingest --mode upsert` into an empty collection.
    pub upsert: IngestRun,
    /// The same upsert again: every row unchanged.
    pub unchanged: IngestRun,
    /// Whether this round ran the paths in the forward order (ceiling first).
    pub forward: bool,
}

/// Everything the ingest benchmark measured.
#[derive(Debug)]
pub struct IngestOutcome {
    /// Every round, in order.
    pub rounds: Vec<Round>,
    /// Size of the `.npy` + JSONL pair.
    pub ingest_file_bytes: u64,
    /// Size of the binary COPY stream.
    pub binary_copy_bytes: u64,
    /// Size of the text COPY stream.
    pub text_copy_bytes: u64,
    /// Whether every `CHECKPOINT` was allowed.
    pub checkpointed: bool,
    /// The `--rss-rows` ingest, when asked for.
    pub rss_run: Option<IngestRun>,
    /// The insert-mode command line, for the report.
    pub insert_command: String,
    /// Wrong counts or contents found by the checks; empty when every path stored the rows.
    pub problems: Vec<String>,
}

/// The paths of a round, in the forward order. The unchanged re-run always follows the
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    BinaryCopy,
    Insert,
    Upsert,
    Unchanged,
    TextCopy,
    Naive,
}

const FORWARD: [Step; 6] = [
    Step::BinaryCopy,
    Step::Insert,
    Step::Upsert,
    Step::Unchanged,
    Step::TextCopy,
    Step::Naive,
];
const BACKWARD: [Step; 6] = [
    Step::Naive,
    Step::TextCopy,
    Step::Upsert,
    Step::Unchanged,
    Step::Insert,
    Step::BinaryCopy,
];

/// Runs `args.rounds` rounds (and the `--rss-rows` ingest) on `db`.
pub fn measure(db: &TestDatabase, args: &IngestArgs) -> BenchResult<IngestOutcome> {
    let cli = cli::locate(args.embedstore.as_deref())?;
    let dimension = usize::try_from(args.dim)?;
    let dir = ScratchDir::new()?;
    eprintln!("writing {} rows as .npy + JSONL …", args.rows);
    let files = files::write_ingest_files(&dir, "rows", args.rows, dimension)?;
    let mut bench = Bench {
        db,
        url: db.url().expose_secret(),
        conn: PgConnection::establish(db.url().expose_secret())?,
        cli,
        args,
        dimension,
        binary_path: dir.file("rows.copy-binary"),
        text_path: dir.file("rows.copy-text"),
        checkpointed: true,
        problems: Vec::new(),
    };
    let mut rounds = Vec::with_capacity(args.rounds);
    let (mut binary_copy_bytes, mut text_copy_bytes) = (0, 0);
    for round in 0..args.rounds {
        let (outcome, sizes) = bench.round(round, &files)?;
        (binary_copy_bytes, text_copy_bytes) = sizes;
        rounds.push(outcome);
    }
    std::fs::remove_file(&bench.binary_path)?;
    std::fs::remove_file(&bench.text_path)?;
    let rss_run = match args.rss_rows {
        Some(rows) => Some(bench.rss_run(&dir, rows)?),
        None => None,
    };
    Ok(IngestOutcome {
        rounds,
        ingest_file_bytes: files.bytes,
        binary_copy_bytes,
        text_copy_bytes,
        checkpointed: bench.checkpointed,
        rss_run,
        insert_command: cli::describe("<collection>", &files, Mode::Insert, args.batch_size),
        problems: bench.problems,
    })
}

/// What a round needs, in one place.
struct Bench<'a> {
    db: &'a TestDatabase,
    url: &'a str,
    conn: PgConnection,
    cli: PathBuf,
    args: &'a IngestArgs,
    dimension: usize,
    binary_path: PathBuf,
    text_path: PathBuf,
    checkpointed: bool,
    problems: Vec<String>,
}

/// The collections of one round, one per path.
struct RoundCollections {
    binary: Collection,
    text: Collection,
    naive: Collection,
    insert: Collection,
    upsert: Collection,
}

impl Bench<'_> {
    /// One round; returns its timings and the sizes of the two COPY streams.
    fn round(&mut self, round: usize, files: &IngestFiles) -> BenchResult<(Round, (u64, u64))> {
        let number = round + 1;
        let collections = RoundCollections {
            binary: self.create(&format!("copy-binary-{number}"))?,
            text: self.create(&format!("copy-text-{number}"))?,
            naive: self.create(&format!("naive-{number}"))?,
            insert: self.create(&format!("ingest-insert-{number}"))?,
            upsert: self.create(&format!("ingest-upsert-{number}"))?,
        };
        let (rows, dimension) = (self.args.rows, self.dimension);
        eprintln!("round {number}: encoding the COPY streams (not timed) …");
        let binary_bytes =
            files::write_binary_copy(&self.binary_path, collections.binary.id.0, rows, dimension)?;
        let text_bytes =
            files::write_text_copy(&self.text_path, collections.text.id.0, rows, dimension)?;
        let forward = round.is_multiple_of(2);
        let mut timings = Timings::default();
        let mut upsert_before_rerun = None;
        for step in if forward { FORWARD } else { BACKWARD } {
            if step == Step::Unchanged {
                upsert_before_rerun = Some(checks::snapshot(&mut self.conn, &collections.upsert)?);
            }
            self.checkpoint();
            eprintln!("round {number}: {step:?} …");
            match step {
                Step::BinaryCopy => {
                    timings.binary_copy =
                        baseline::psql_copy(self.url, &self.binary_path, CopyFormat::Binary)?;
                }
                Step::TextCopy => {
                    timings.text_copy =
                        baseline::psql_copy(self.url, &self.text_path, CopyFormat::Text)?;
                }
                Step::Naive => {
                    timings.naive = baseline::naive_inserts(
                        self.url,
                        collections.naive.id.0,
                        self.args.naive_sample,
                        dimension,
                    )?;
                }
                Step::Insert => {
                    timings.insert = Some(self.ingest(&collections.insert, files, Mode::Insert)?);
                }
                Step::Upsert => {
                    timings.upsert = Some(self.ingest(&collections.upsert, files, Mode::Upsert)?);
                }
                Step::Unchanged => {
                    timings.unchanged =
                        Some(self.ingest(&collections.upsert, files, Mode::Upsert)?);
                }
            }
        }
        let outcome = Round {
            binary_copy: timings.binary_copy,
            text_copy: timings.text_copy,
            naive: timings.naive,
            insert: timings.insert.ok_or("the insert-mode ingest did not run")?,
            upsert: timings.upsert.ok_or("the upsert-mode ingest did not run")?,
            unchanged: timings
                .unchanged
                .ok_or("the unchanged re-run did not run")?,
            forward,
        };
        self.check_round(
            number,
            &collections,
            &outcome,
            upsert_before_rerun.ok_or("no snapshot before the re-run")?,
        )?;
        for collection in [
            collections.binary,
            collections.text,
            collections.naive,
            collections.insert,
            collections.upsert,
        ] {
            self.drop(&collection)?;
        }
        Ok((outcome, (binary_bytes, text_bytes)))
    }

    /// Every count and, in the first round, every stored row compared with the ceiling's.
    fn check_round(
        &mut self,
        number: usize,
        collections: &RoundCollections,
        outcome: &Round,
        before_rerun: checks::Snapshot,
    ) -> BenchResult<()> {
        let rows = self.args.rows;
        let mut found = Vec::new();
        found.extend(checks::report_counts(
            "insert",
            &outcome.insert.report,
            rows,
            rows,
            0,
        ));
        found.extend(checks::report_counts(
            "upsert",
            &outcome.upsert.report,
            rows,
            rows,
            0,
        ));
        found.extend(checks::report_counts(
            "unchanged re-run",
            &outcome.unchanged.report,
            rows,
            0,
            rows,
        ));
        let after_rerun = checks::snapshot(&mut self.conn, &collections.upsert)?;
        if after_rerun != before_rerun {
            found.push(format!(
                "the unchanged re-run wrote: before {before_rerun:?}, after {after_rerun:?}"
            ));
        }
        let expected = [
            (&collections.binary, rows),
            (&collections.text, rows),
            (&collections.naive, self.args.naive_sample),
            (&collections.insert, rows),
            (&collections.upsert, rows),
        ];
        for (collection, rows) in expected {
            found.extend(checks::row_count(&mut self.conn, collection, rows)?);
        }
        if number == 1 {
            eprintln!("round 1: comparing every stored row with the binary COPY's …");
            for (collection, rows) in [
                (&collections.text, rows),
                (&collections.naive, self.args.naive_sample),
                (&collections.insert, rows),
                (&collections.upsert, rows),
            ] {
                found.extend(checks::same_rows(
                    &mut self.conn,
                    collection,
                    &collections.binary,
                    rows,
                )?);
            }
        }
        self.problems.extend(
            found
                .into_iter()
                .map(|problem| format!("round {number}: {problem}")),
        );
        Ok(())
    }

    /// The `--rss-rows` ingest: its own file pair, insert mode, one run.
    fn rss_run(&mut self, dir: &ScratchDir, rows: usize) -> BenchResult<IngestRun> {
        eprintln!("writing {rows} rows as .npy + JSONL for the RSS run …");
        let files = files::write_ingest_files(dir, "rss", rows, self.dimension)?;
        let collection = self.create("ingest-rss")?;
        self.checkpoint();
        eprintln!("RSS run: embedstore ingest of {rows} rows …");
        let run = self.ingest(&collection, &files, Mode::Insert)?;
        let mut found = checks::report_counts("RSS run", &run.report, rows, rows, 0);
        found.extend(checks::row_count(&mut self.conn, &collection, rows)?);
        self.problems.extend(found);
        self.drop(&collection)?;
        std::fs::remove_file(&files.vectors)?;
        std::fs::remove_file(&files.records)?;
        Ok(run)
    }

    fn ingest(
        &self,
        collection: &Collection,
        files: &IngestFiles,
        mode: Mode,
    ) -> BenchResult<IngestRun> {
        cli::run(
            &self.cli,
            self.url,
            &collection.name,
            files,
            mode,
            self.args.batch_size,
        )
    }

    /// A cosine collection of the benchmark's dimension, created through the library.
    fn create(&self, name: &str) -> BenchResult<Collection> {
        let spec = NewCollection::new(name, self.args.dim, Metric::Cosine, "embedstore-bench");
        Ok(self
            .db
            .store()
            .write(|uow| uow.collections().create(spec))?)
    }

    fn drop(&self, collection: &Collection) -> BenchResult<()> {
        self.db
            .store()
            .write(|uow| uow.collections().drop(&collection.name))?;
        Ok(())
    }

    /// Flushes dirty buffers so that the next timed write does not pay for the previous one's;
    /// remembers whether the server allowed it (superuser or `pg_checkpoint`).
    fn checkpoint(&mut self) {
        self.checkpointed &= diesel::sql_query("CHECKPOINT")
            .execute(&mut self.conn)
            .is_ok();
    }
}

/// A round's timings while it runs.
#[derive(Default)]
struct Timings {
    binary_copy: Duration,
    text_copy: Duration,
    naive: Duration,
    insert: Option<IngestRun>,
    upsert: Option<IngestRun>,
    unchanged: Option<IngestRun>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_orders_run_every_step_once_with_the_rerun_after_its_upsert() {
        for order in [FORWARD, BACKWARD] {
            for step in FORWARD {
                assert_eq!(order.iter().filter(|s| **s == step).count(), 1);
            }
            let upsert = order.iter().position(|s| *s == Step::Upsert).unwrap();
            assert_eq!(order[upsert + 1], Step::Unchanged);
        }
        assert_eq!(FORWARD[0], Step::BinaryCopy);
        assert_eq!(BACKWARD[5], Step::BinaryCopy);
    }
}
