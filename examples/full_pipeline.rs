//! The whole flow on one machine, verified — the same code as `snowdrift run`
//! (`snowdrift::run`): synthetic customer changes → CSV files in a staging folder → the embedded
//! warehouse's pipe loads them into `customer_raw` → a task merges raw into `customer` (SCD-1)
//! and a task after it keeps `customer_history` (SCD-2); both tables are then checked against
//! the generator's ground truth, the whole history version by version. Exit code 0 when
//! verified, 1 on a mismatch, 2 for a bad command line or a failed run.
//!
//! ```text
//! cargo run --release --example full_pipeline
//! cargo run --release --example full_pipeline -- --batches 50 --rows 10000 --interval "1 minute"
//! cargo run --release --example full_pipeline -- --stage s3://my-bucket/landing   # AWS_* env
//! cargo run --release --features snowflake --example full_pipeline -- --backend snowflake \
//!     --stage s3://my-bucket/landing --interval "1 minute"                          # SNOWFLAKE_* env
//! cargo run --release --example full_pipeline -- --help                            # every option
//! ```

use std::process::ExitCode;

use clap::Parser;
use snowdrift::run::{RunArgs, run_and_print};

/// The whole pipeline, verified (the same as `snowdrift run`).
#[derive(Debug, Parser)]
#[command(name = "full_pipeline")]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run_and_print(&cli.run).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}
