//! The latency of single merges on large in-memory SCD tables, no warehouse: a population of
//! customers is inserted, then batches of changes (mostly updates) are merged one by one into
//! an SCD-1 table and into an SCD-2 table that retires closed versions (as the embedded
//! warehouse keeps its history). Prints one JSON line per table with the median, p90, p99 and
//! worst merge time and the total: the worst case shows what compaction inside a merge costs.
//!
//! ```text
//! cargo run --release --no-default-features --example merge_latency -- --population 500000 --merges 1300
//! ```

use std::error::Error;
use std::time::Instant;

use clap::Parser;
use snowdrift::faker::{ChangeStream, EntitySpec};
use snowdrift::scd::{ChangeFormat, MergeContext, MergeStrategy, Scd1, Scd2, TableSpec, merge};

/// Merge latency on large in-memory tables.
#[derive(Debug, Parser)]
struct Args {
    /// Customers inserted first (the tables' live keys).
    #[arg(long, default_value_t = 500_000, value_parser = clap::value_parser!(u64).range(1..))]
    population: u64,
    /// Changes per merge.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    rows: u64,
    /// Merges into each table (the population's inserts included).
    #[arg(long, default_value_t = 1_300, value_parser = clap::value_parser!(u64).range(1..))]
    merges: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let changes = ChangeStream::builder(EntitySpec::customer())
        .seed(args.seed)
        .batch_size(usize::try_from(args.rows)?)
        .initial_population(usize::try_from(args.population)?)
        .build()?;
    let spec = TableSpec::builder("customer", EntitySpec::customer().schema())
        .key(["customer_id"])
        .format(ChangeFormat::OperationColumn("op".into()))
        .build()?;
    let (scd1, scd2) = (Scd1::default(), Scd2::default());
    let mut current = scd1.create_table(&spec)?;
    let mut history = scd2.create_table(&spec)?;
    history.retire_superseded(true);
    let (mut one, mut two) = (Vec::new(), Vec::new());
    for (i, change) in changes.take(usize::try_from(args.merges)?).enumerate() {
        let at = MergeContext::at(1_704_067_200_000_000 + i as i64 * 1_000_000);
        let start = Instant::now();
        merge(&scd1, &spec, &mut current, &[&change.batch], at)?;
        one.push(start.elapsed().as_secs_f64() * 1e3);
        let start = Instant::now();
        merge(&scd2, &spec, &mut history, &[&change.batch], at)?;
        history.take_retired()?;
        two.push(start.elapsed().as_secs_f64() * 1e3);
    }
    for (strategy, times) in [(&scd1 as &dyn MergeStrategy, one), (&scd2, two)] {
        println!("{}", summary(strategy.name(), times, &args));
    }
    Ok(())
}

/// Percentiles of `times` (ms) as a JSON line.
fn summary(table: &str, mut times: Vec<f64>, args: &Args) -> serde_json::Value {
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    serde_json::json!({
        "table": table,
        "population": args.population,
        "rows_per_merge": args.rows,
        "merges": times.len(),
        "p50_ms": at(0.5),
        "p90_ms": at(0.9),
        "p99_ms": at(0.99),
        "max_ms": at(1.0),
        "total_s": times.iter().sum::<f64>() / 1e3,
    })
}
