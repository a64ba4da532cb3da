//! Ground truth by brute force over the generated vectors, and recall against it: the
//! computation is `embedstore_test_support::truth` (data preparation, beside the data set);
//! this is the modes' prologue that generates the data and reports it.

use crate::BenchResult;
use crate::args::DataArgs;
use embedstore_test_support::dataset::Dataset;
pub use embedstore_test_support::truth::{nearest, recall, top_k};

/// The prologue of every mode on the clustered data: generates `args`'s rows with `queries`
/// queries and finds each query's `k` nearest rows by brute force, saying so on stderr.
pub fn generate(args: &DataArgs, queries: usize) -> BenchResult<(Dataset, Vec<Vec<usize>>)> {
    let dimension = usize::try_from(args.dim)?;
    eprintln!(
        "generating {} rows x {dimension} around {} centroids, {} queries …",
        args.rows, args.clusters, args.queries
    );
    let data = Dataset::generate(args.rows, dimension, args.clusters, queries);
    eprintln!("ground truth by brute force …");
    let truth = nearest(&data, usize::try_from(args.k)?, None);
    Ok((data, truth))
}

/// The prologue of the modes that take `--vectors DIR`: the real embeddings in `dir` (see
/// [`Dataset::load`]; `args.rows` and `queries` cap what is read) or, without it, the clustered
/// data; each query's `k` nearest rows by brute force (unfiltered).
pub fn load_or_generate(
    args: &DataArgs,
    vectors: Option<&std::path::Path>,
    queries: usize,
) -> BenchResult<(Dataset, Vec<Vec<usize>>)> {
    let Some(dir) = vectors else {
        return generate(args, queries);
    };
    eprintln!("reading real embeddings from {} …", dir.display());
    let data = Dataset::load(dir, args.rows, queries)?;
    eprintln!("ground truth by brute force …");
    let truth = nearest(&data, usize::try_from(args.k)?, None);
    Ok((data, truth))
}
