//! `hot --builds`: the writes and the HNSW build at the collection's full size (issue 20 item
//! 4, issue 23). [`load`] fills the searched collection through `Ingest::run_rows` and the
//! library builds its index with its defaults (both in `mod.rs`); [`measure`] then writes the
//! same rows from a `.npy` + JSONL file through `Ingest::run`, from memory with the default
//! options, and with one binary COPY from the raw client into a copy of the collection, on which
//! the raw client builds the same index with plain `CREATE INDEX` (unless `--no-raw-builds`):
//! with the memory and parallel workers the library's build ran with, then with pgvector's and
//! the server's defaults (cancelled after `--defaults-build-limit`). The capacity planner's
//! build time is printed beside each build.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::time::{Duration, Instant};

use embedstore::{
    CapacityInput, Collection, Ids, IndexSpec, Ingest, IngestOptions, IngestSummary, Metric,
    NewCollection, NewEmbedding, NpySource, Store, WriteMode,
};
use postgres::error::SqlState;
use serde::Serialize;

use crate::BenchResult;
use crate::baseline::binary_copy::{self, CopyRow};
use crate::hot::raw;
use crate::library;
use crate::report::{Table, ratio, round3};
use crate::scratch::{ScratchDir, npy_header};
use crate::stats::rows_per_second;
use embedstore_test_support::dataset::Dataset;

/// Rows generated at a time, as the writes consume them.
const CHUNK: usize = 10_000;

/// The library's side, measured in `mod.rs` on the searched collection.
pub struct LibrarySide<'a> {
    /// The searched collection.
    pub collection: &'a Collection,
    /// [`load`]'s time.
    pub load: Duration,
    /// The library's index build with its defaults.
    pub build: Duration,
}

/// Creates the collection `name` and writes `data`'s rows into it with `Ingest::run_rows` in
/// insert mode, the rows made as the ingest consumes them (as a service producing them would);
/// the collection and the ingest's time.
pub fn load(
    store: &Store,
    url: &str,
    name: &str,
    data: &Dataset,
) -> BenchResult<(Collection, Duration)> {
    let collection = create(store, name, data)?;
    eprintln!("loading {} rows with Ingest::run_rows …", data.rows());
    checkpoint(&mut raw::connect_plain(url).map_err(|error| error.to_string())?);
    let started = Instant::now();
    let summary = Ingest::new(store, name, insert_mode()).run_rows(items_of(data), &mut ())?;
    let elapsed = started.elapsed();
    stored(&summary, data.rows())?;
    Ok((collection, elapsed))
}

/// The writes at full size beside one binary COPY of the same rows: `Ingest::run` over a
/// `.npy` + JSONL file and `Ingest::run_rows` with the default options, each into a collection
/// of its own, then the COPY into a copy of the collection; the `writes` table (with `load`, the
/// in-memory ingest in insert mode that filled the searched collection) and that copy, analyzed.
fn compare_writes(
    store: &Store,
    url: &str,
    admin: &mut postgres::Client,
    data: &Dataset,
    load: Duration,
) -> BenchResult<(Table, Collection)> {
    let rows = data.rows();
    let file = ingest_file(store, data, admin)?;
    let upsert = ingest_default(store, data, admin)?;
    eprintln!("raw: one binary COPY of {rows} rows into a copy of the collection …");
    let copy_target = create(store, "hot-raw", data)?;
    checkpoint(admin);
    let started = Instant::now();
    let written = raw::copy_with(admin, |out| copy_rows(out, data, copy_target.id.0))
        .map_err(|error| error.to_string())?;
    let copy = started.elapsed();
    if written != rows as u64 {
        return Err(format!("the COPY wrote {written} rows of {rows}").into());
    }
    library::analyze(url, &copy_target, true)?;
    let mut writes = Table::new("writes", "path rows rows_per_s seconds over_copy");
    for (path, time) in [
        ("ingest from memory (Ingest::run_rows, insert)", load),
        (
            "ingest from memory (Ingest::run_rows, default options: upsert)",
            upsert,
        ),
        ("ingest from .npy + JSONL (Ingest::run, insert)", file),
        ("raw: one binary COPY", copy),
    ] {
        writes.record(WriteRow {
            path,
            rows,
            rows_per_s: rows_per_second(rows, time).round(),
            seconds: round3(time.as_secs_f64()),
            over_copy: ratio(copy.as_secs_f64(), time.as_secs_f64()).map(round3),
        });
    }
    Ok((writes, copy_target))
}

/// `--writes-only`: the `writes` table alone (no index, no build, no search).
pub fn writes_only(store: &Store, url: &str, data: &Dataset, load: Duration) -> BenchResult<Table> {
    let mut admin = raw::connect_plain(url).map_err(|error| error.to_string())?;
    let (writes, copy_target) = compare_writes(store, url, &mut admin, data, load)?;
    store.write(|uow| uow.collections().drop(&copy_target.name))?;
    eprintln!("{}", writes.render());
    Ok(writes)
}

/// Everything [`measure`] reports: the `writes` and `builds` tables.
pub fn measure(
    store: &Store,
    url: &str,
    data: &Dataset,
    library: &LibrarySide<'_>,
    limit: Duration,
    raw_builds: bool,
) -> BenchResult<Vec<Table>> {
    let rows = data.rows();
    let mut admin = raw::connect_plain(url).map_err(|error| error.to_string())?;
    let setting = |admin: &mut postgres::Client, name: &str| -> BenchResult<String> {
        Ok(admin.query_one(&format!("SHOW {name}"), &[])?.try_get(0)?)
    };
    let workers: u32 = setting(&mut admin, "max_parallel_maintenance_workers")?.parse()?;
    let server_memory = setting(&mut admin, "maintenance_work_mem")?;
    let status = store.indexes(library.collection).status()?;
    let memory_mb = status.parameters["maintenance_work_mem_mb"]
        .as_u64()
        .ok_or("the library's build recorded no maintenance_work_mem_mb")?;

    let (writes, copy_target) = compare_writes(store, url, &mut admin, data, library.load)?;
    let (same, defaults) = if raw_builds {
        raw_builds_of(&mut admin, &copy_target, data, memory_mb, workers, limit)?
    } else {
        (None, None)
    };
    store.write(|uow| uow.collections().drop(&copy_target.name))?;

    let server_mb = megabytes(&server_memory).ok_or("unreadable maintenance_work_mem")?;
    let planned = |memory_mb: u64, workers: u32| {
        let mut input = CapacityInput::dense(rows as u64, u32::try_from(data.dimension)?);
        input.index = Some(
            IndexSpec::hnsw()
                .maintenance_work_mem_mb(u32::try_from(memory_mb)?)
                .parallel_workers(workers),
        );
        let build = input.plan().build.ok_or("no build in the plan")?;
        Ok::<_, Box<dyn std::error::Error>>(round3(build.seconds))
    };
    let mut builds = Table::new(
        "builds",
        "build memory_mb workers seconds cancelled_after_s over_raw planned_s \
         planned_over_measured",
    );
    let mut rows_of_builds = vec![(
        "library, its defaults (CONCURRENTLY, ANALYZE)",
        memory_mb,
        Some(library.build),
    )];
    if raw_builds {
        rows_of_builds.push((
            "raw, the same m/ef_construction/memory/workers",
            memory_mb,
            same,
        ));
        rows_of_builds.push(("raw, pgvector and server defaults", server_mb, defaults));
    }
    for (build, memory, time) in rows_of_builds {
        let planned_s = planned(memory, workers)?;
        let seconds = time.map(|time| round3(time.as_secs_f64()));
        builds.record(BuildRow {
            build,
            memory_mb: memory,
            workers,
            seconds,
            cancelled_after_s: time.is_none().then_some(limit.as_secs()),
            over_raw: seconds
                .zip(same)
                .and_then(|(seconds, same)| ratio(seconds, same.as_secs_f64()))
                .map(round3),
            planned_s,
            planned_over_measured: seconds
                .and_then(|seconds| ratio(planned_s, seconds))
                .map(round3),
        });
    }
    // Printed now as well: the sweep after them takes long, and these took longer.
    eprintln!("{}\n{}", writes.render(), builds.render());
    Ok(vec![writes, builds])
}

/// The raw client's two builds on `copy_target`: with the library's memory and workers (an
/// error when cancelled), then with pgvector's and the server's defaults (`None` when
/// cancelled after `limit`).
fn raw_builds_of(
    admin: &mut postgres::Client,
    copy_target: &Collection,
    data: &Dataset,
    memory_mb: u64,
    workers: u32,
    limit: Duration,
) -> BenchResult<(Option<Duration>, Option<Duration>)> {
    let same = raw_build(
        admin,
        copy_target,
        data,
        &format!(
            "SET maintenance_work_mem = '{memory_mb}MB'; \
                  SET max_parallel_maintenance_workers = {workers}; \
                  SET statement_timeout = 0"
        ),
        " WITH (m = 16, ef_construction = 64)",
    )?
    .ok_or("the raw build with the library's settings was cancelled")?;
    let limit_ms = limit.as_millis();
    let defaults = raw_build(
        admin,
        copy_target,
        data,
        &format!(
            "RESET maintenance_work_mem; RESET max_parallel_maintenance_workers; \
                  SET statement_timeout = {limit_ms}"
        ),
        "",
    )?;
    admin.batch_execute("RESET statement_timeout")?;
    Ok((Some(same), defaults))
}

#[derive(Serialize)]
struct WriteRow {
    path: &'static str,
    rows: usize,
    rows_per_s: f64,
    seconds: f64,
    over_copy: Option<f64>,
}

#[derive(Serialize)]
struct BuildRow {
    build: &'static str,
    memory_mb: u64,
    workers: u32,
    /// `None` when the statement timeout cancelled the build.
    seconds: Option<f64>,
    cancelled_after_s: Option<u64>,
    over_raw: Option<f64>,
    planned_s: f64,
    planned_over_measured: Option<f64>,
}

fn insert_mode() -> IngestOptions {
    IngestOptions {
        mode: WriteMode::Insert,
        ..IngestOptions::default()
    }
}

fn create(store: &Store, name: &str, data: &Dataset) -> BenchResult<Collection> {
    let dimension = u32::try_from(data.dimension)?;
    let spec = NewCollection::new(name, dimension, Metric::Cosine, "embedstore-bench");
    Ok(store.write(|uow| uow.collections().create(spec))?)
}

/// `data`'s rows as the library takes them, made a chunk at a time.
fn items_of(data: &Dataset) -> impl Iterator<Item = NewEmbedding> + Send + '_ {
    (0..data.rows())
        .step_by(CHUNK)
        .flat_map(move |start| data.items(start, start + CHUNK))
}

/// An error unless the ingest stored every one of `rows` new rows (else its time means nothing).
fn stored(summary: &IngestSummary, rows: usize) -> BenchResult<()> {
    if summary.inserted != rows as u64 || summary.rejected != 0 {
        return Err(format!("the ingest stored {summary:?} of {rows} rows").into());
    }
    Ok(())
}

/// `CHECKPOINT` before a timed write or build, so that none pays for the last one's dirty
/// pages; best effort (it needs `pg_checkpoint` or a superuser).
fn checkpoint(admin: &mut postgres::Client) {
    let _ = admin.batch_execute("CHECKPOINT");
}

/// Writes `data` as a `.npy` matrix and a JSONL records file (id and metadata; not timed),
/// then times `Ingest::run` over them into a collection of its own, dropped afterwards.
fn ingest_file(
    store: &Store,
    data: &Dataset,
    admin: &mut postgres::Client,
) -> BenchResult<Duration> {
    let rows = data.rows();
    let dir = ScratchDir::new()?;
    let (vectors, records) = (dir.file("rows.npy"), dir.file("rows.jsonl"));
    eprintln!("writing {rows} rows to .npy + JSONL …");
    let mut npy = BufWriter::with_capacity(1 << 20, File::create(&vectors)?);
    npy.write_all(&npy_header(rows, data.dimension))?;
    let mut jsonl = BufWriter::with_capacity(1 << 20, File::create(&records)?);
    for item in items_of(data) {
        for value in item.vector.as_dense().unwrap_or_default() {
            npy.write_all(&value.to_le_bytes())?;
        }
        let record =
            serde_json::json!({"external_id": item.external_id, "metadata": item.metadata});
        writeln!(jsonl, "{record}")?;
    }
    for out in [npy, jsonl] {
        out.into_inner()
            .map_err(|error| error.into_error())?
            .sync_all()?;
    }
    let collection = create(store, "hot-file", data)?;
    eprintln!("ingest from the files …");
    checkpoint(admin);
    let started = Instant::now();
    let mut source = NpySource::open(&vectors, &Ids::Records(records.clone()))?;
    let summary = Ingest::new(store, &collection.name, insert_mode()).run(&mut source, &mut ())?;
    let elapsed = started.elapsed();
    stored(&summary, rows)?;
    store.write(|uow| uow.collections().drop(&collection.name))?;
    Ok(elapsed)
}

/// Times `Ingest::run_rows` with the default options (upsert, which compares each batch with
/// the stored rows unless the collection was empty) over `data`'s rows into a collection of its
/// own, dropped afterwards.
fn ingest_default(
    store: &Store,
    data: &Dataset,
    admin: &mut postgres::Client,
) -> BenchResult<Duration> {
    let collection = create(store, "hot-upsert", data)?;
    eprintln!("ingest from memory with the default options …");
    checkpoint(admin);
    let started = Instant::now();
    let summary = Ingest::new(store, &collection.name, IngestOptions::default())
        .run_rows(items_of(data), &mut ())?;
    let elapsed = started.elapsed();
    stored(&summary, data.rows())?;
    store.write(|uow| uow.collections().drop(&collection.name))?;
    Ok(elapsed)
}

/// The COPY stream of `data`'s rows for `collection_id`: each row made as it is sent, from the
/// same items the library's ingest takes.
fn copy_rows(
    out: &mut dyn std::io::Write,
    data: &Dataset,
    collection_id: i32,
) -> std::io::Result<()> {
    binary_copy::write_header(out)?;
    for item in items_of(data) {
        let metadata_json = serde_json::to_string(&item.metadata)?;
        let row = CopyRow {
            collection_id,
            external_id: &item.external_id,
            vector: item.vector.as_dense().unwrap_or_default(),
            content: item.content.as_deref(),
            metadata_json: &metadata_json,
        };
        binary_copy::write_row(out, &row)?;
    }
    binary_copy::write_trailer(out)
}

/// One raw HNSW build on `collection`'s partition after `settings`, with `with` after the
/// operator class; its time, or `None` when the statement timeout cancelled it. The index is
/// dropped afterwards.
fn raw_build(
    admin: &mut postgres::Client,
    collection: &Collection,
    data: &Dataset,
    settings: &str,
    with: &str,
) -> BenchResult<Option<Duration>> {
    // Both names are ours (`embeddings_<id>`), the dimension an integer.
    let partition = collection.partition_name();
    let index = format!("{partition}_raw_hnsw");
    let statement = format!(
        "CREATE INDEX {index} ON {partition} USING hnsw \
         ((embedding::vector({})) vector_cosine_ops){with}",
        data.dimension
    );
    eprintln!("raw: {statement} after {settings} …");
    checkpoint(admin);
    admin.batch_execute(settings)?;
    let started = Instant::now();
    let built = match admin.batch_execute(&statement) {
        Ok(()) => Some(started.elapsed()),
        Err(error) if error.code() == Some(&SqlState::QUERY_CANCELED) => None,
        Err(error) => return Err(error.into()),
    };
    admin.batch_execute(&format!("DROP INDEX IF EXISTS {index}"))?;
    Ok(built)
}

/// A `maintenance_work_mem` as `SHOW` prints it (`64MB`, `1GB`, `512kB`) in MiB.
fn megabytes(setting: &str) -> Option<u64> {
    let split = setting.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = setting.split_at(split);
    let number: u64 = number.parse().ok()?;
    match unit {
        "kB" => Some(number / 1024),
        "MB" => Some(number),
        "GB" => Some(number << 10),
        "TB" => Some(number << 20),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_settings_read_in_mebibytes() {
        assert_eq!(megabytes("64MB"), Some(64));
        assert_eq!(megabytes("2GB"), Some(2048));
        assert_eq!(megabytes("2048kB"), Some(2));
        assert_eq!(megabytes("64"), None);
        assert_eq!(megabytes("lots"), None);
    }
}
