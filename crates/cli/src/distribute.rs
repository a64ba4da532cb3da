//! `embedstore distribute`: turn the database on a Citus coordinator into a distributed one,
//! or (`--status`) say what the cluster is.

use std::io::Write;

use clap::Args;
use embedstore::{CitusCluster, Store};

use crate::error::CliError;

#[derive(Debug, Args)]
pub struct DistributeArgs {
    /// Only report the Citus cluster and whether the database is distributed; change nothing.
    #[arg(long)]
    status: bool,
}

pub fn run(store: &Store, args: &DistributeArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let target = store.config().database_url.target();
    if args.status {
        match store.citus()? {
            None => writeln!(
                out,
                "{target}: no citus extension in this database (one server)"
            )?,
            Some(cluster) => describe(out, &target, &cluster)?,
        }
        return Ok(());
    }
    let report = store.distribute()?;
    if report.already {
        writeln!(out, "{target}: already distributed, nothing changed")?;
    } else {
        writeln!(
            out,
            "{target}: distributed; {} collection(s) moved to the workers",
            report.collections
        )?;
    }
    describe(out, &target, &report.cluster)
}

fn describe(out: &mut dyn Write, target: &str, cluster: &CitusCluster) -> Result<(), CliError> {
    writeln!(
        out,
        "{target}: {}, {} worker(s)",
        cluster.version, cluster.workers
    )?;
    match cluster.distribution {
        Some(distribution) => writeln!(
            out,
            "embeddings: distributed {distribution}, {} shards",
            cluster.shards
        )?,
        None => writeln!(
            out,
            "embeddings: not distributed (run `embedstore distribute`)"
        )?,
    }
    Ok(())
}
