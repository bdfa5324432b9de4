//! Generate a seeded change stream of customers, show what it contains, and
//! print the ground truth a correct pipeline must end with.
//!
//! ```text
//! cargo run --release --example faker_changes -- [--seed N] [--rows N] [--batches N] [--locale de_DE]
//! ```

use std::error::Error;
use std::process::ExitCode;

use arrow::util::pretty::pretty_format_batches;
use snowdrift::faker::{ChangeStream, EntitySpec, GroundTruth, Locale};

struct Args {
    seed: u64,
    rows: usize,
    batches: usize,
    locale: Locale,
}

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut args = Args {
        seed: 42,
        rows: 10_000,
        batches: 5,
        locale: Locale::En,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--seed" => args.seed = value.parse()?,
            "--rows" => args.rows = value.parse()?,
            "--batches" => args.batches = value.parse()?,
            "--locale" => args.locale = value.parse()?,
            _ => return Err(format!("unknown option {flag}").into()),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let mut stream = ChangeStream::builder(EntitySpec::customer())
        .seed(args.seed)
        .locale(args.locale)
        .batch_size(args.rows)
        .initial_population(args.rows)
        .late_rate(0.01)
        .parallel(true)
        .build()?;
    let mut truth = GroundTruth::for_stream(&stream);

    for change in stream.by_ref().take(args.batches) {
        if change.index == 1 {
            println!("first rows of batch 1:");
            println!(
                "{}",
                pretty_format_batches(&[change.batch.slice(0, 5.min(args.rows))])?
            );
        }
        let merged = truth.merge(&[&change.batch])?;
        println!("batch {}: {:?}", change.index, change.stats);
        println!("  merged: {merged:?}");
    }

    let customer = truth.expected_current()?;
    let history = truth.expected_history()?;
    println!(
        "expected customer (SCD-1): {} rows; expected customer_history (SCD-2): {} rows",
        customer.num_rows(),
        history.num_rows()
    );
    Ok(())
}
