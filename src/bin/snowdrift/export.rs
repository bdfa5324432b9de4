//! `snowdrift export`: one table at its last committed version to one file — Parquet or Arrow
//! IPC through the warehouse's own exports, CSV (with a header) through a streamed scan.

use std::path::PathBuf;

use clap::ValueEnum;
use futures::TryStreamExt as _;
use snowdrift::warehouse::{LocalWarehouse, Scan, Warehouse};

use crate::Failure;

/// Options of `snowdrift export`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The warehouse root (a folder, `file://…` or `s3://bucket/prefix`).
    #[arg(long, value_name = "DIR")]
    root: String,
    /// The table to export.
    #[arg(long)]
    table: String,
    /// The file format.
    #[arg(long, value_enum, default_value = "parquet")]
    format: FileKind,
    /// The file to write (replaced if it exists).
    #[arg(long, value_name = "PATH")]
    out: PathBuf,
}

/// `--format` of `snowdrift export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FileKind {
    /// Parquet (Snappy, with statistics).
    Parquet,
    /// CSV with a header line.
    Csv,
    /// An Arrow IPC file.
    Arrow,
}

pub(crate) async fn run(args: Args) -> Result<(), Failure> {
    let warehouse = crate::open(&args.root).await?;
    // A spinner on a terminal while a large table is written (hidden otherwise).
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(format!("exporting {}", args.table));
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    let written = export(&warehouse, &args).await;
    bar.finish_and_clear();
    let rows = written?;
    crate::output::line(format_args!(
        "{rows} rows of {} written to {}",
        args.table,
        args.out.display()
    ));
    Ok(())
}

async fn export(warehouse: &LocalWarehouse, args: &Args) -> Result<usize, Failure> {
    let rows = match args.format {
        FileKind::Parquet => warehouse.export_parquet(&args.table, &args.out).await,
        FileKind::Arrow => warehouse.export_ipc(&args.table, &args.out).await,
        FileKind::Csv => return csv(warehouse, args).await,
    }
    .map_err(|e| Failure::from_warehouse("--table", e))?;
    Ok(rows)
}

async fn csv(warehouse: &LocalWarehouse, args: &Args) -> Result<usize, Failure> {
    let mut parts = warehouse
        .scan(&args.table, Scan::new())
        .await
        .map_err(|e| Failure::from_warehouse("--table", e))?;
    let failed = |e: &dyn std::fmt::Display| {
        Failure::Failed(format!("cannot write `{}`: {e}", args.out.display()))
    };
    let file = std::fs::File::create(&args.out).map_err(|e| failed(&e))?;
    let mut writer = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(std::io::BufWriter::new(file));
    let mut rows = 0;
    while let Some(part) = parts.try_next().await.map_err(|e| failed(&e))? {
        rows += part.num_rows();
        writer.write(&part).map_err(|e| failed(&e))?;
    }
    drop(writer);
    Ok(rows)
}
