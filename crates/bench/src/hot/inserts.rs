//! In-memory writes — through units of work, and through the bulk ingest over a
//! `MemorySource` — against one binary COPY of the same rows.

use std::time::{Duration, Instant};

use embedstore::{
    Collection, Ingest, IngestOptions, IngestSummary, Metric, NewCollection, NewEmbedding,
    WriteMode,
};
use embedstore_test_support::TestDatabase;

use crate::BenchResult;
use crate::baseline::binary_copy::CopyRow;
use crate::hot::raw::{self, encode_copy};
use crate::hot::report::{INSERT_PATHS, InsertFigures, ms};
use crate::stats::rows_per_second;
use embedstore_test_support::dataset::{Dataset, external_id};

/// The timed paths (the changing upsert runs after them, on the inserted rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Insert,
    UpsertNew,
    /// `Ingest::run_rows` with the default options (upsert, two writers).
    Ingest,
    /// `Ingest::run_rows` in insert mode (two writers).
    IngestInsert,
    Copy,
}

/// Where each path's time goes in [`InsertFigures::rows_per_s`].
const INSERT: usize = 0;
const UPSERT_NEW: usize = 1;
const UPSERT_CHANGED: usize = 2;
const INGEST: usize = 3;
const INGEST_INSERT: usize = 4;
const COPY: usize = INSERT_PATHS.len() - 1;

/// An error unless the ingest stored every one of `rows` new rows (else its time means nothing).
fn ingested(summary: &IngestSummary, rows: usize) -> BenchResult<()> {
    if summary.inserted != rows as u64 || summary.rejected != 0 {
        return Err(format!("the ingest from memory stored {summary:?} of {rows} rows").into());
    }
    Ok(())
}

/// Runs the insert comparison on `db` with `data`'s rows.
pub fn measure(
    db: &TestDatabase,
    data: &Dataset,
    batch: usize,
    rounds: usize,
) -> BenchResult<InsertFigures> {
    let rows = data.rows();
    let dimension = u32::try_from(data.dimension)?;
    let url = db.url().expose_secret().to_owned();
    let mut copier = raw::connect_plain(&url).map_err(|error| error.to_string())?;
    let mut admin = raw::connect_plain(&url).map_err(|error| error.to_string())?;
    let items = data.items(0, rows);
    let metadata: Vec<String> = items
        .iter()
        .map(|item| serde_json::to_string(&item.metadata))
        .collect::<Result<_, _>>()?;
    let changed: Vec<NewEmbedding> = (0..rows)
        .map(|row| {
            NewEmbedding::new(external_id(row), data.vector((row + 1) % rows).to_vec())
                .with_metadata(serde_json::json!({ "n": row, "changed": true }))
        })
        .collect();
    let batches = |items: &[NewEmbedding]| -> Vec<Vec<NewEmbedding>> {
        items.chunks(batch).map(<[NewEmbedding]>::to_vec).collect()
    };
    let mut checkpointed = true;
    let mut best = [Duration::MAX; INSERT_PATHS.len()];
    let mut round_ms = Vec::with_capacity(rounds);
    for round in 0..rounds {
        eprintln!("inserts, round {} of {rounds} …", round + 1);
        let create = |suffix: &str| -> BenchResult<Collection> {
            Ok(db.store().write(|uow| {
                uow.collections().create(NewCollection::new(
                    format!("hot-{suffix}-{round}"),
                    dimension,
                    Metric::Cosine,
                    "embedstore-bench",
                ))
            })?)
        };
        let inserted = create("insert")?;
        let upserted = create("upsert")?;
        let ingested_upsert = create("ingest")?;
        let ingested_insert = create("ingest-insert")?;
        let copied = create("copy")?;
        let copy_rows: Vec<CopyRow<'_>> = items
            .iter()
            .zip(&metadata)
            .map(|(item, metadata_json)| CopyRow {
                collection_id: copied.id.0,
                external_id: &item.external_id,
                vector: item.vector.as_dense().unwrap_or_default(),
                content: item.content.as_deref(),
                metadata_json,
            })
            .collect();
        let stream = encode_copy(&copy_rows)?;
        let mut times = [Duration::ZERO; INSERT_PATHS.len()];
        let paths = [
            Path::Insert,
            Path::UpsertNew,
            Path::Ingest,
            Path::IngestInsert,
            Path::Copy,
        ];
        for turn in 0..paths.len() {
            let path = paths[(round + turn) % paths.len()];
            checkpointed &= admin.batch_execute("CHECKPOINT").is_ok();
            match path {
                Path::Insert => {
                    let input = batches(&items);
                    let started = Instant::now();
                    for batch in input {
                        db.store()
                            .write(|uow| uow.embeddings().insert(&inserted, batch))?;
                    }
                    times[INSERT] = started.elapsed();
                }
                Path::UpsertNew => {
                    let input = batches(&items);
                    let started = Instant::now();
                    for batch in input {
                        db.store()
                            .write(|uow| uow.embeddings().upsert(&upserted, batch))?;
                    }
                    times[UPSERT_NEW] = started.elapsed();
                }
                // The whole call is timed: resolving the collection, validating every row,
                // the writes, the commits and the closing ANALYZE. Only the copy of the rows
                // the call consumes (the caller's own Vec) is made before the clock starts, as
                // the batches of the paths above are.
                Path::Ingest | Path::IngestInsert => {
                    let (collection, mode, slot) = if path == Path::Ingest {
                        (&ingested_upsert, WriteMode::Upsert, INGEST)
                    } else {
                        (&ingested_insert, WriteMode::Insert, INGEST_INSERT)
                    };
                    let options = IngestOptions {
                        mode,
                        ..IngestOptions::default()
                    };
                    let input = items.clone();
                    let started = Instant::now();
                    let summary = Ingest::new(db.store(), &collection.name, options)
                        .run_rows(input, &mut ())?;
                    times[slot] = started.elapsed();
                    ingested(&summary, rows)?;
                }
                Path::Copy => {
                    let started = Instant::now();
                    let written =
                        raw::copy_in(&mut copier, &stream).map_err(|error| error.to_string())?;
                    times[COPY] = started.elapsed();
                    if written != rows as u64 {
                        return Err(format!("the COPY wrote {written} rows of {rows}").into());
                    }
                }
            }
        }
        checkpointed &= admin.batch_execute("CHECKPOINT").is_ok();
        let input = batches(&changed);
        let started = Instant::now();
        let mut updated = 0;
        for batch in input {
            let summary = db
                .store()
                .write(|uow| uow.embeddings().upsert(&inserted, batch))?;
            updated += summary.updated;
        }
        times[UPSERT_CHANGED] = started.elapsed();
        if updated as usize != rows {
            return Err(format!("the changing upsert updated {updated} rows of {rows}").into());
        }
        for collection in [
            &inserted,
            &upserted,
            &ingested_upsert,
            &ingested_insert,
            &copied,
        ] {
            let count = db.store().read(|uow| uow.embeddings().count(collection))?;
            if count != rows as u64 {
                return Err(format!("{} holds {count} rows of {rows}", collection.name).into());
            }
            db.store()
                .write(|uow| uow.collections().drop(&collection.name))?;
        }
        for (best, time) in best.iter_mut().zip(times) {
            *best = (*best).min(time);
        }
        round_ms.push(times.map(ms));
    }
    let rate = |time: Duration| rows_per_second(rows, time).round();
    Ok(InsertFigures {
        rows,
        batch,
        rounds,
        checkpointed,
        rows_per_s: best.map(rate),
        round_ms,
    })
}
