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
