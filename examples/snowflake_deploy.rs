//! The pipeline on Snowflake. Without an account it prints the deploy plan — every statement,
//! in order, secrets shown as `***`. With `--apply` it deploys the plan to the account the
//! `SNOWFLAKE_*` variables name (safe to repeat); `--teardown` removes what deploy made but the
//! database and schema, `--teardown --drop-namespace` those too (their whole contents).
//!
//! ```text
//! cargo run --features snowflake --example snowflake_deploy -- --stage s3://my-bucket/landing
//! cargo run --features snowflake --example snowflake_deploy -- --stage s3://my-bucket/landing --apply
//! cargo run --features snowflake --example snowflake_deploy -- --stage s3://my-bucket/landing --teardown
//! ```
//! Options (`--help` lists them): `--schedule "1 minute"` (the SCD-1 task's; Snowflake's shortest is 10 seconds),
//! `--database` / `--schema` (default `SNOWFLAKE_DATABASE` / `SNOWFLAKE_SCHEMA`, else
//! `SNOWDRIFT` / `PUBLIC`), `--warehouse` (default `SNOWFLAKE_WAREHOUSE`; serverless tasks
//! without one). The stage reaches its bucket through `SNOWDRIFT_STORAGE_INTEGRATION` if set,
//! else with `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` read at deploy time.

use std::process::ExitCode;

use clap::Parser;
use snowdrift::deploy::{DeployAction, DeployArgs, deploy_and_print};

/// The pipeline on Snowflake: print the deploy plan, apply it, or tear it down.
#[derive(Debug, Parser)]
#[command(name = "snowflake_deploy")]
struct Cli {
    #[command(flatten)]
    deploy: DeployArgs,
    /// Remove what deploy made (on the account; with --drop-namespace the database and schema
    /// too).
    #[arg(long)]
    teardown: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let action = if cli.teardown {
        DeployAction::Teardown
    } else {
        DeployAction::Deploy
    };
    match deploy_and_print(&cli.deploy, action).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
