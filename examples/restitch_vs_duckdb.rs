//! The cost of late changes in a history sequenced by event time: writes a history of two
//! versions per customer (`--keys` customers) and `--changes` changes against it, merges them
//! with snowdrift's event-time SCD-2 (`LateChanges::Restitch`) once with no late changes and
//! once with `--late-share` of them late, and writes each result, so that
//! `ci/peers/restitch_peer.py` can run the same re-stitch in DuckDB SQL on the same rows and
//! check that both end with the same history.
//!
//! ```text
//! cargo run --release --no-default-features --example restitch_vs_duckdb -- --keys 1000000 --changes 100000 --out .cache/bench-restitch/1000000
//! ```
//! Prints one JSON line per run with its time (best of three).

use clap::Parser;
use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use snowdrift::faker::EntitySpec;
use snowdrift::scd::{LateChanges, MergeContext, Scd2, TableSpec, load_table, merge};
use snowdrift::workloads::{MERGED_AT, ScdWorkload, write_csv};

/// Times snowdrift's event-time merge with and without late changes and writes the inputs
/// and results for the DuckDB peer.
#[derive(Debug, Parser)]
struct Args {
    /// Customers in the history (two versions each).
    #[arg(long, default_value_t = 1_000_000)]
    keys: usize,
    /// Changes merged.
    #[arg(long, default_value_t = 100_000)]
    changes: usize,
    /// Share of the updates that are late (they fall inside each customer's first version).
    #[arg(long, default_value_t = 0.05)]
    late_share: f64,
    /// Where the files go.
    #[arg(long, default_value = ".cache/bench-restitch")]
    out: PathBuf,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)?;
    let w = ScdWorkload::generate(args.keys, args.changes, 0.1, 7)?;
    let spec = TableSpec::builder("customer_history", EntitySpec::customer().schema())
        .key(["customer_id"])
        .sequence("event_time")
        .build()?;
    let history = Scd2 {
        late: LateChanges::RESTITCH_ANY,
        ..Scd2::default()
    };
    for (name, share) in [("in_order", 0.0), ("late", args.late_share)] {
        let input = w.event_time(share)?;
        if name == "in_order" {
            write_csv(&args.out.join("history.csv"), &input.history)?;
        }
        write_csv(
            &args.out.join(format!("{name}_changes.csv")),
            &input.changes,
        )?;
        let loaded = load_table(&history, &spec, input.history.clone())?;
        let mut best = f64::MAX;
        let mut result = None;
        for _ in 0..3 {
            let mut table = loaded.clone();
            let start = Instant::now();
            let out = merge(
                &history,
                &spec,
                &mut table,
                &[&input.changes],
                MergeContext::at(MERGED_AT),
            )?;
            best = best.min(start.elapsed().as_secs_f64());
            assert_eq!(out.metrics.restitched, input.late, "late changes placed");
            result = Some(table);
        }
        let table = result.ok_or("no run")?;
        write_csv(
            &args.out.join(format!("{name}_snowdrift.csv")),
            &table.to_batch()?,
        )?;
        println!(
            "{{\"tool\": \"snowdrift\", \"run\": \"{name}\", \"keys\": {}, \"changes\": {}, \"late\": {}, \"seconds\": {best:.4}, \"changes_per_sec\": {:.0}}}",
            args.keys,
            args.changes,
            input.late,
            args.changes as f64 / best
        );
    }
    Ok(())
}
