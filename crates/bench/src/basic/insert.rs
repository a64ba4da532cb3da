//! Insert throughput: the library's `insert` (validation + binary COPY in one transaction)
//! against `psql`'s `\copy` of the same rows in text format.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer};
use embedstore::{
    Collection, CollectionRules, Duplicates, EmbeddingBatch, Metric, NewCollection, NewEmbedding,
};
use embedstore_test_support::TestDatabase;

use crate::BenchResult;
use crate::args::Args;
use crate::baseline::copy_text::{self, RenderedRows};

/// The timings of one round.
#[derive(Debug, Clone, Copy)]
pub struct Round {
    /// Library insert, from the prepared `Vec<NewEmbedding>` to the last commit.
    pub library: Duration,
    /// The `psql` process, from spawn to exit.
    pub psql: Duration,
    /// Whether the library went first in this round.
    pub library_first: bool,
}

/// Everything the insert measurement found.
#[derive(Debug)]
pub struct InsertOutcome {
    /// Every round, in order.
    pub rounds: Vec<Round>,
    /// Fastest library round.
    pub best_library: Duration,
    /// Fastest psql round.
    pub best_psql: Duration,
    /// Fastest of two garde validations of the whole batch.
    pub validation: Duration,
    /// Whether `CHECKPOINT` before each timed write was allowed.
    pub checkpointed: bool,
    /// Size of the COPY text file.
    pub copy_file_bytes: usize,
    /// The first round's library collection, kept (with its rows) for the search benchmark.
    pub search_collection: Collection,
}

/// Runs `args.rounds` insert rounds of `items` on `db`.
pub fn measure(
    db: &TestDatabase,
    args: &Args,
    items: &[NewEmbedding],
) -> BenchResult<InsertOutcome> {
    let mut conn = PgConnection::establish(db.url().expose_secret())?;
    eprintln!("rendering {} rows in COPY text format …", items.len());
    let rendered = RenderedRows::render(items)?;
    let copy_file = TempFile::new()?;
    let mut rounds = Vec::with_capacity(args.rounds);
    let mut validation = Duration::ZERO;
    let mut checkpointed = true;
    let mut kept = None;
    for round in 0..args.rounds {
        let library_collection = create_collection(db, &format!("lib-{round}"), args.dim)?;
        let psql_collection = create_collection(db, &format!("psql-{round}"), args.dim)?;
        let mut library_items = items.to_vec();
        if round == 0 {
            let rules = CollectionRules::of(&library_collection);
            (validation, library_items) = time_validation(library_items, &rules)?;
        }
        let mut chunks = Some(into_chunks(library_items, args.batch_size));
        write_copy_file(copy_file.path(), psql_collection.id.0, &rendered)?;

        let library_first = round.is_multiple_of(2);
        let (mut library, mut psql) = (Duration::ZERO, Duration::ZERO);
        for library_turn in [library_first, !library_first] {
            checkpointed &= checkpoint(&mut conn);
            if library_turn {
                eprintln!("round {}: library insert …", round + 1);
                let prepared = chunks.take().ok_or("the library rows were already used")?;
                library = library_insert(db, &library_collection, prepared)?;
            } else {
                eprintln!("round {}: psql \\copy …", round + 1);
                psql = psql_copy(db, copy_file.path())?;
            }
        }
        check_counts(db, &library_collection, &psql_collection, items.len())?;
        if round == 0 {
            check_same_rows(
                &mut conn,
                &library_collection,
                &psql_collection,
                items.len(),
            )?;
            kept = Some(library_collection);
        } else {
            drop_collection(db, &library_collection)?;
        }
        drop_collection(db, &psql_collection)?;
        rounds.push(Round {
            library,
            psql,
            library_first,
        });
    }
    let search_collection = kept.ok_or("no insert round ran")?;
    Ok(InsertOutcome {
        best_library: rounds
            .iter()
            .map(|round| round.library)
            .min()
            .unwrap_or_default(),
        best_psql: rounds
            .iter()
            .map(|round| round.psql)
            .min()
            .unwrap_or_default(),
        rounds,
        validation,
        checkpointed,
        copy_file_bytes: rendered.bytes(),
        search_collection,
    })
}

/// A collection of `dimension` cosine vectors, created through the library.
fn create_collection(db: &TestDatabase, name: &str, dimension: u32) -> BenchResult<Collection> {
    let spec = NewCollection::new(name, dimension, Metric::Cosine, "embedstore-bench");
    Ok(db.store().write(|uow| uow.collections().create(spec))?)
}

fn drop_collection(db: &TestDatabase, collection: &Collection) -> BenchResult<()> {
    db.store()
        .write(|uow| uow.collections().drop(&collection.name))?;
    Ok(())
}

/// The faster of two garde validations of the whole batch, as `Embeddings::insert` runs it;
/// hands the items back.
fn time_validation(
    items: Vec<NewEmbedding>,
    rules: &CollectionRules,
) -> BenchResult<(Duration, Vec<NewEmbedding>)> {
    let batch = EmbeddingBatch {
        items,
        duplicates: Duplicates::Reject,
    };
    let mut fastest = Duration::MAX;
    for _ in 0..2 {
        let started = Instant::now();
        let outcome = garde::Validate::validate_with(&batch, rules);
        fastest = fastest.min(started.elapsed());
        outcome.map_err(|report| format!("benchmark data failed validation: {report}"))?;
    }
    Ok((fastest, batch.items))
}

/// The items split into the writes the library will be given: one, or `batch_size`-row chunks.
fn into_chunks(items: Vec<NewEmbedding>, batch_size: Option<usize>) -> Vec<Vec<NewEmbedding>> {
    let Some(size) = batch_size.filter(|size| *size < items.len()) else {
        return vec![items];
    };
    let mut chunks = Vec::with_capacity(items.len().div_ceil(size));
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        chunks.push(items.by_ref().take(size).collect());
    }
    chunks
}

/// The timed library path: each chunk in its own `Store::write`.
fn library_insert(
    db: &TestDatabase,
    collection: &Collection,
    chunks: Vec<Vec<NewEmbedding>>,
) -> BenchResult<Duration> {
    let started = Instant::now();
    for chunk in chunks {
        db.store()
            .write(|uow| uow.embeddings().insert(collection, chunk))?;
    }
    Ok(started.elapsed())
}

/// The timed baseline: `psql` reading the COPY file on its standard input.
fn psql_copy(db: &TestDatabase, data: &Path) -> BenchResult<Duration> {
    let command = format!("\\copy embeddings ({}) FROM pstdin", copy_text::COLUMNS);
    crate::baseline::psql::timed_copy(db.url().expose_secret(), &command, data)
}

fn write_copy_file(path: &Path, collection_id: i32, rows: &RenderedRows) -> BenchResult<()> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    copy_text::write_rows(&mut out, collection_id, rows)?;
    out.into_inner()
        .map_err(|error| error.into_error())?
        .sync_all()?;
    Ok(())
}

/// Flushes dirty buffers so that the next timed write does not pay for the previous one's.
fn checkpoint(conn: &mut PgConnection) -> bool {
    diesel::sql_query("CHECKPOINT").execute(conn).is_ok()
}

fn check_counts(
    db: &TestDatabase,
    library: &Collection,
    psql: &Collection,
    expected: usize,
) -> BenchResult<()> {
    let (library_rows, psql_rows) = db.store().read(|uow| {
        let mut embeddings = uow.embeddings();
        Ok::<_, embedstore::Error>((embeddings.count(library)?, embeddings.count(psql)?))
    })?;
    if library_rows != expected as u64 || psql_rows != expected as u64 {
        return Err(format!(
            "row counts differ: expected {expected}, library collection holds {library_rows}, \
             psql collection {psql_rows}"
        )
        .into());
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Matching {
    #[diesel(sql_type = BigInt)]
    matching: i64,
}

/// Checks that both paths stored the same rows: vector, content and metadata equal, joined on
/// `external_id`. This is what proves the baseline's text rendering and escaping are right.
fn check_same_rows(
    conn: &mut PgConnection,
    library: &Collection,
    psql: &Collection,
    expected: usize,
) -> BenchResult<()> {
    let found: Matching = diesel::sql_query(
        "SELECT count(*) AS matching FROM embeddings a \
         JOIN embeddings b ON b.collection_id = $2 AND b.external_id = a.external_id \
         WHERE a.collection_id = $1 AND a.embedding = b.embedding \
           AND a.content IS NOT DISTINCT FROM b.content AND a.metadata = b.metadata",
    )
    .bind::<Integer, _>(library.id.0)
    .bind::<Integer, _>(psql.id.0)
    .get_result(conn)?;
    if found.matching != expected as i64 {
        return Err(format!(
            "only {} of {expected} rows are identical in the library and psql collections",
            found.matching
        )
        .into());
    }
    Ok(())
}

/// A file in the temporary directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new() -> BenchResult<Self> {
        let path =
            std::env::temp_dir().join(format!("embedstore-bench-{}.copy", std::process::id()));
        File::create(&path)?;
        Ok(Self(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(count: usize) -> Vec<NewEmbedding> {
        (0..count)
            .map(|index| NewEmbedding::new(format!("x{index}"), vec![1.0]))
            .collect()
    }

    #[test]
    fn chunks_cover_every_item_in_order() {
        let chunks = into_chunks(items(10), Some(4));
        let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
        assert_eq!(sizes, [4, 4, 2]);
        assert_eq!(chunks[2][1].external_id, "x9");
        assert_eq!(into_chunks(items(10), None).len(), 1);
        assert_eq!(into_chunks(items(10), Some(10)).len(), 1);
    }
}
