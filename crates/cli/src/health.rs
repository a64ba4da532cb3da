//! `embedstore index health [COLLECTION]`: drift signals of ANN indexes (rows, updates and
//! deletes since the build, dead tuples, sampled recall@k), whether the planner uses the index,
//! and advice (also on rare `--filter`s no payload index serves); `--format json` for a cron
//! job.

use std::io::Write;

use embedstore::{HealthOptions, IndexHealth, Store};

use crate::error::CliError;
use crate::output::{Format, thousands};

/// Arguments of `index health`.
#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// The collection (or an alias of it); every collection when omitted.
    pub collection: Option<String>,
    /// Stored vectors sampled as recall queries (0: no recall measurement).
    #[arg(long, default_value_t = 20)]
    pub queries: u32,
    /// The k of recall@k.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub k: u32,
    /// Recall below this is advised on.
    #[arg(long, default_value_t = 0.9)]
    pub recall_floor: f64,
    /// A filter the application searches with (repeatable), e.g. '{"doc": "style-guide"}':
    /// each is searched once, and a rare one no payload index serves is advised on.
    #[arg(long = "filter", value_name = "JSON")]
    pub filters: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Runs `index health`.
///
/// # Errors
/// An unknown collection, options out of range, or a failed query.
pub fn run(store: &Store, args: &HealthArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let collections = store.read(|uow| match &args.collection {
        Some(name) => uow
            .collections()
            .get(name)
            .map(|collection| vec![collection]),
        None => uow.collections().list(),
    })?;
    let mut options = HealthOptions::default()
        .recall_queries(args.queries)
        .k(args.k)
        .recall_floor(args.recall_floor);
    for json in &args.filters {
        options = options.filter(crate::index::parse_filter(json)?);
    }
    let reports = collections
        .iter()
        .map(|collection| store.indexes(collection).health(&options))
        .collect::<embedstore::Result<Vec<IndexHealth>>>()?;
    if args.format == Format::Json {
        serde_json::to_writer_pretty(&mut *out, &reports).map_err(std::io::Error::from)?;
        writeln!(out)?;
        return Ok(());
    }
    if reports.is_empty() {
        writeln!(out, "no collections yet")?;
    }
    for (index, health) in reports.iter().enumerate() {
        if index > 0 {
            writeln!(out)?;
        }
        write_health(out, health)?;
    }
    Ok(())
}

fn write_health(out: &mut dyn Write, health: &IndexHealth) -> std::io::Result<()> {
    let status = &health.status;
    let index = match (status.exists, status.method) {
        (false, _) => "no ANN index".to_owned(),
        (true, method) => format!(
            "{} ({}{})",
            status.name,
            method.map_or("?", |method| method.as_str()),
            if status.valid { "" } else { ", INVALID" }
        ),
    };
    let count = |value: Option<u64>| value.map_or_else(|| "unknown".to_owned(), thousands);
    let time = |at: Option<chrono::DateTime<chrono::Utc>>| {
        at.map_or_else(
            || "never".to_owned(),
            |at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        )
    };
    let recall = match health.recall {
        Some(recall) => format!(
            "{recall:.3} on {} sampled vectors, measured {}",
            health.recall_queries,
            time(health.recall_measured_at)
        ),
        None => "not measured (no valid index, or no rows)".to_owned(),
    };
    let fields = [
        ("index", index),
        ("rows now", thousands(status.rows)),
        ("rows at build", count(status.built_rows)),
        ("built", time(status.built_at)),
        ("updated since", count(health.updated_since_build)),
        ("deleted since", count(health.deleted_since_build)),
        ("dead tuples", thousands(health.dead_tuples)),
        ("last vacuum", time(health.last_vacuum)),
        (&*format!("recall@{}", health.recall_k), recall),
    ];
    writeln!(out, "{}", status.collection)?;
    for (field, value) in fields {
        writeln!(out, "  {field:<15} {value}")?;
    }
    if health.advice.is_empty() {
        writeln!(out, "  {:<15} none", "advice")?;
    }
    for advice in &health.advice {
        writeln!(out, "  {:<15} {advice}", "advice")?;
    }
    Ok(())
}
