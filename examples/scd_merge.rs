//! The SCD engine used directly on Arrow batches, no warehouse: a stream of customer changes
//! (inserts, updates, deletes, no-ops, duplicate keys in one batch, NULLs) merged batch by batch
//! into an SCD-1 table, whose change set (what a stream on it would show) is merged into an
//! SCD-2 history; then the history's invariants are checked.
//!
//! ```text
//! cargo run --release --example scd_merge -- --batches 5 --rows 10000
//! ```

use clap::Parser;
use std::error::Error;

use snowdrift::faker::{ChangeStream, EntitySpec};
use snowdrift::scd::{
    ChangeFormat, MergeContext, MergeStrategy as _, Scd1, Scd2, TableSpec, ValidityColumns,
    check_history, merge,
};

/// SCD-1 and SCD-2 merges of generated change batches.
#[derive(Debug, Parser)]
struct Args {
    /// Change batches to merge.
    #[arg(long, default_value_t = 5)]
    batches: usize,
    /// Changes per batch.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    rows: u64,
}

fn main() -> Result<(), Box<dyn Error>> {
    let Args { batches, rows } = Args::parse();
    let rows = usize::try_from(rows)?;

    let mut changes = ChangeStream::builder(EntitySpec::customer())
        .seed(7)
        .batch_size(rows)
        .initial_population(rows)
        .operation_column(Some("op"))
        .event_time_column(None)
        .late_rate(0.0)
        .build()?;
    let business = EntitySpec::customer().schema();
    let current_spec = TableSpec::builder("customer", business.clone())
        .key(["customer_id"])
        .format(ChangeFormat::OperationColumn("op".into()))
        .build()?;
    let history_spec = TableSpec::builder("customer_history", business)
        .key(["customer_id"])
        .format(ChangeFormat::Stream)
        .sequence("update_timestamp")
        .build()?;
    let (scd1, scd2) = (Scd1::default(), Scd2::default());
    let mut customer = scd1.create_table(&current_spec)?;
    let mut history = scd2.create_table(&history_spec)?;

    println!("batch  rows    inserted  updated  deleted  unchanged  superseded  history+");
    for (i, change) in changes.by_ref().take(batches).enumerate() {
        // One merge per batch, at a clock that moves one second per batch.
        let now = MergeContext::at(1_704_067_200_000_000 + i as i64 * 1_000_000);
        let one = merge(&scd1, &current_spec, &mut customer, &[&change.batch], now)?;
        let two = merge(
            &scd2,
            &history_spec,
            &mut history,
            &[one.changes.batch()?],
            now,
        )?;
        let m = one.metrics;
        println!(
            "{i:>5}  {:>6}  {:>8}  {:>7}  {:>7}  {:>9}  {:>10}  {:>8}",
            m.source_rows,
            m.inserted,
            m.updated,
            m.deleted,
            m.unchanged,
            m.superseded,
            two.metrics.target_rows_written
        );
    }
    let violations = check_history(
        &history.to_batch()?,
        &history_spec,
        &ValidityColumns::default(),
        true,
    )?;
    println!(
        "customer: {} rows; customer_history: {} versions; invariant violations: {}",
        customer.num_rows(),
        history.num_rows(),
        violations.len()
    );
    if violations.is_empty() {
        Ok(())
    } else {
        Err(format!("history invariants violated: {violations:?}").into())
    }
}
