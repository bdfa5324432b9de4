//! Generate a seeded change stream of customers, show what it contains, and
//! print the ground truth a correct pipeline must end with.
//!
//! ```text
//! cargo run --release --example faker_changes -- [--seed N] [--rows N] [--batches N] [--locale de_DE]
//! ```

use std::error::Error;
use std::process::ExitCode;

use arrow::util::pretty::pretty_format_batches;
use clap::Parser;
use snowdrift::faker::{ChangeStream, EntitySpec, GroundTruth, Locale};

/// A seeded change stream of customers and the ground truth it must end in.
#[derive(Debug, Parser)]
struct Args {
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Changes per batch.
    #[arg(long, default_value_t = 10_000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    rows: usize,
    /// Batches to generate.
    #[arg(long, default_value_t = 5)]
    batches: usize,
    /// Locale of names and addresses (en, fr_FR, de_DE, it_IT, pt_BR, nl_NL).
    #[arg(long, default_value = "en", value_parser = locale)]
    locale: Locale,
}

fn locale(text: &str) -> Result<Locale, String> {
    text.parse()
        .map_err(|e: snowdrift::faker::FakerError| e.to_string())
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
    let args = Args::parse();
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
