//! `embedstore collection create|list|show|drop`.

use std::io::Write;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use embedstore::{Collection, Metric, NewCollection, Store, VectorKind};
use serde::Serialize;

use crate::error::{CliError, json_problem};
use crate::output::{Column, Format, plural, thousands, write_table};

/// The `collection` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum CollectionCommand {
    /// Create a collection.
    Create(CreateArgs),
    /// List every collection with its row count.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Show one collection with its row count.
    Show {
        /// The collection (or an alias of it).
        name: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Drop a collection and all its embeddings.
    Drop {
        /// The collection, by its own name (an alias is refused).
        name: String,
        /// Really drop it (without this, nothing is dropped).
        #[arg(long)]
        yes: bool,
    },
}

/// Arguments of `embedstore collection create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Unique name: a lowercase letter, then lowercase letters, digits, `_` or `-`.
    pub name: String,
    /// Length of every vector: 1..=16000 values (dense), 1..=1000000000 positions (sparse),
    /// 1..=64000 bits (bit).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000_000))]
    pub dimension: u32,
    /// How distance is measured: l2, cosine, inner_product or l1 for dense and sparse
    /// collections (default cosine), hamming or jaccard for bit collections (default hamming).
    #[arg(long, value_parser = parse_metric())]
    pub metric: Option<Metric>,
    /// What the collection stores: dense vectors, sparse vectors (e.g. SPLADE) or bit vectors.
    #[arg(long, default_value = "dense", value_parser = parse_kind())]
    pub kind: VectorKind,
    /// The embedding model that produces the vectors.
    #[arg(long)]
    pub model: String,
    /// A JSON object describing the collection.
    #[arg(long, value_name = "JSON")]
    pub description: Option<String>,
}

/// Runs a `collection` subcommand.
///
/// # Errors
/// Invalid specs, a taken or unknown name, a drop without `--yes`, or a failed query.
pub fn run(
    store: &Store,
    command: &CollectionCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        CollectionCommand::Create(args) => create(store, args, out),
        CollectionCommand::List { format } => list(store, *format, out),
        CollectionCommand::Show { name, format } => show(store, name, *format, out),
        CollectionCommand::Drop { name, yes } => drop_collection(store, name, *yes, out),
    }
}

/// A collection as listed: the stored row and how many embeddings it holds.
#[derive(Debug, Serialize)]
struct Listed {
    #[serde(flatten)]
    collection: Collection,
    rows: u64,
}

fn parse_metric() -> impl TypedValueParser<Value = Metric> {
    PossibleValuesParser::new(Metric::EVERY.map(Metric::as_str))
        .try_map(|name| name.parse::<Metric>())
}

fn parse_kind() -> impl TypedValueParser<Value = VectorKind> {
    PossibleValuesParser::new(VectorKind::ALL.map(VectorKind::as_str))
        .try_map(|name| name.parse::<VectorKind>())
}

fn create(store: &Store, args: &CreateArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let metric = match (args.metric, args.kind) {
        (Some(metric), _) => metric,
        (None, VectorKind::Bit) => Metric::Hamming,
        (None, VectorKind::Dense | VectorKind::Sparse) => Metric::Cosine,
        // A kind added to the library after this CLI was written has no default here.
        (None, other) => {
            return Err(CliError::refused(format!(
                "{other} collections have no default metric in this CLI; pass --metric"
            )));
        }
    };
    let mut spec =
        NewCollection::new(&args.name, args.dimension, metric, &args.model).with_kind(args.kind);
    if let Some(json) = &args.description {
        let description = serde_json::from_str(json).map_err(|error| CliError::Problems {
            summary: "--description is not valid JSON".to_owned(),
            problems: vec![json_problem(&error)],
        })?;
        spec = spec.with_description(description);
    }
    let collection = store.write(|uow| uow.collections().create(spec))?;
    writeln!(
        out,
        "created collection {:?}: {} {} dimensions, {}, model {:?}",
        collection.name, collection.kind, collection.dimension, collection.metric, collection.model
    )?;
    Ok(())
}

fn list(store: &Store, format: Format, out: &mut dyn Write) -> Result<(), CliError> {
    let listed = store.read(|uow| -> embedstore::Result<Vec<Listed>> {
        let collections = uow.collections().list()?;
        let mut listed = Vec::with_capacity(collections.len());
        for collection in collections {
            let rows = uow.embeddings().count(&collection)?;
            listed.push(Listed { collection, rows });
        }
        Ok(listed)
    })?;
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &listed).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        Format::Table if listed.is_empty() => writeln!(
            out,
            "no collections yet; create one with `embedstore collection create`"
        )?,
        Format::Table => {
            let rows: Vec<Vec<String>> = listed
                .iter()
                .map(|Listed { collection, rows }| {
                    vec![
                        collection.name.clone(),
                        collection.kind.to_string(),
                        collection.dimension.to_string(),
                        collection.metric.to_string(),
                        thousands(*rows),
                        collection.model.clone(),
                        collection.created_at.format("%Y-%m-%d %H:%M").to_string(),
                    ]
                })
                .collect();
            let columns = [
                Column::left("name"),
                Column::left("kind"),
                Column::right("dimension"),
                Column::left("metric"),
                Column::right("rows"),
                Column::left("model"),
                Column::left("created (UTC)"),
            ];
            write_table(out, "", &columns, &rows)?;
        }
    }
    Ok(())
}

fn show(store: &Store, name: &str, format: Format, out: &mut dyn Write) -> Result<(), CliError> {
    let listed = store.read(|uow| -> embedstore::Result<Listed> {
        let collection = uow.collections().get(name)?;
        let rows = uow.embeddings().count(&collection)?;
        Ok(Listed { collection, rows })
    })?;
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut *out, &listed).map_err(std::io::Error::from)?;
        writeln!(out)?;
        return Ok(());
    }
    let Listed { collection, rows } = &listed;
    let time = |at: &chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let fields = [
        ("name", collection.name.clone()),
        ("id", collection.id.0.to_string()),
        ("kind", collection.kind.to_string()),
        ("dimension", collection.dimension.to_string()),
        ("metric", collection.metric.to_string()),
        ("model", collection.model.clone()),
        ("description", collection.description.to_string()),
        ("rows", thousands(*rows)),
        ("partition", collection.partition_name()),
        ("created", time(&collection.created_at)),
        ("updated", time(&collection.updated_at)),
    ];
    for (field, value) in fields {
        writeln!(out, "{field:<12} {value}")?;
    }
    Ok(())
}

fn drop_collection(
    store: &Store,
    name: &str,
    confirmed: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if !confirmed {
        // `get` below would resolve an alias, which `drop` refuses: say so now.
        if let Some(alias) = store.read(|uow| uow.aliases().find(name))? {
            return Err(CliError::refused(format!(
                "{name:?} is an alias (of collection {:?}), not a collection: drop the alias \
                 (`alias drop`), or the collection by its own name",
                alias.collection.name
            )));
        }
        let rows = store.read(|uow| -> embedstore::Result<u64> {
            let collection = uow.collections().get(name)?;
            uow.embeddings().count(&collection)
        })?;
        return Err(CliError::refused(format!(
            "not dropping collection {name:?} ({}): add --yes to drop it",
            plural(rows, "row", "rows")
        )));
    }
    // No row count here: counting is a full scan, and dropping exists to be instant whatever
    // the size (the partition goes, no row is visited).
    let dropped = store.write(|uow| uow.collections().drop(name))?;
    writeln!(
        out,
        "dropped collection {name:?} ({} dimensions, {}) with all its embeddings",
        dropped.dimension, dropped.metric
    )?;
    Ok(())
}
