//! Writes an SCD workload (a target of `--keys` customers and `--changes`
//! changes) as CSV, merges it with snowdrift's SCD-1 and SCD-2, and writes
//! the results, so that `ci/peers/scd_peer.py` can run DuckDB's `MERGE INTO`
//! on the same rows and check that both end with the same tables.
//!
//! ```text
//! cargo run --release --example scd_vs_duckdb -- --keys 1000000 --changes 100000 --out .cache/bench-scd
//! ```
//! Prints one JSON line per merge with its time (best of three).

use clap::Parser;
use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use arrow::array::RecordBatch;
use snowdrift::faker::EntitySpec;
use snowdrift::scd::{MergeContext, MergeStrategy, Scd1, Scd2, TableSpec, load_table, merge};
use snowdrift::workloads::{MERGED_AT, ScdWorkload, write_csv};

/// Writes the SCD workload for the DuckDB peer and times snowdrift's merges on it.
#[derive(Debug, Parser)]
struct Args {
    /// Keys in the target table.
    #[arg(long, default_value_t = 1_000_000)]
    keys: usize,
    /// Changes merged.
    #[arg(long, default_value_t = 100_000)]
    changes: usize,
    /// Where the workload's files go.
    #[arg(long, default_value = ".cache/bench-scd")]
    out: PathBuf,
}

fn main() -> Result<(), Box<dyn Error>> {
    let Args { keys, changes, out } = Args::parse();
    std::fs::create_dir_all(&out)?;
    let w = ScdWorkload::generate(keys, changes, 0.1, 7)?;
    write_csv(&out.join("target.csv"), &w.target)?;
    write_csv(&out.join("changes.csv"), &w.changes)?;
    let spec = TableSpec::builder("customer", EntitySpec::customer().schema())
        .key(["customer_id"])
        .build()?;
    let runs: [(&str, &dyn MergeStrategy, RecordBatch); 2] = [
        ("scd1", &Scd1::default(), w.scd1_target()?),
        ("scd2", &Scd2::default(), w.scd2_target()?),
    ];
    for (name, strategy, rows) in runs {
        let loaded = load_table(strategy, &spec, rows)?;
        let mut best = f64::MAX;
        let mut result = None;
        for _ in 0..3 {
            let mut table = loaded.clone();
            let start = Instant::now();
            merge(
                strategy,
                &spec,
                &mut table,
                &[&w.changes],
                MergeContext::at(MERGED_AT),
            )?;
            best = best.min(start.elapsed().as_secs_f64());
            result = Some(table);
        }
        let table = result.expect("three runs");
        write_csv(
            &out.join(format!("{name}_snowdrift.csv")),
            &table.to_batch()?,
        )?;
        println!(
            "{{\"tool\": \"snowdrift\", \"merge\": \"{name}\", \"keys\": {keys}, \"changes\": {changes}, \"seconds\": {best:.4}, \"changes_per_sec\": {:.0}}}",
            changes as f64 / best
        );
    }
    Ok(())
}
