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
//! Options: `--schedule "1 minute"` (the SCD-1 task's; Snowflake's shortest is 10 seconds),
//! `--database` / `--schema` (default `SNOWFLAKE_DATABASE` / `SNOWFLAKE_SCHEMA`, else
//! `SNOWDRIFT` / `PUBLIC`), `--warehouse` (default `SNOWFLAKE_WAREHOUSE`; serverless tasks
//! without one). The stage reaches its bucket through `SNOWDRIFT_STORAGE_INTEGRATION` if set,
//! else with `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` read at deploy time.

#[path = "support/args.rs"]
mod args;

use std::error::Error;

use args::{arg, flag};
use snowdrift::snowflake::{Renderer, SnowflakeConfig, SnowflakeWarehouse, StageAccess};
use snowdrift::warehouse::{PipelineSpec, Schedule};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    if flag("--help") {
        println!(
            "{}",
            include_str!("snowflake_deploy.rs")
                .lines()
                .take_while(|l| l.starts_with("//!"))
                .map(|l| l.trim_start_matches("//!").trim_start())
                .collect::<Vec<_>>()
                .join("\n")
        );
        return Ok(());
    }
    let env = |name: &str, default: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_string())
    };
    let spec = PipelineSpec {
        stage_url: arg("--stage", "s3://my-bucket/landing"),
        schedule: Schedule::parse(&arg("--schedule", "1 minute"))?,
        ..PipelineSpec::default()
    };
    if flag("--apply") || flag("--teardown") {
        let config = SnowflakeConfig::from_env()?;
        let warehouse = SnowflakeWarehouse::connect(&config).await?;
        let plan = if flag("--teardown") && flag("--drop-namespace") {
            warehouse.teardown_spec_with_namespace(&spec).await?
        } else if flag("--teardown") {
            warehouse.teardown_spec(&spec).await?
        } else {
            warehouse.deploy_spec(&spec).await?
        };
        print!("{plan}");
        eprintln!(
            "applied {} statements to {}.{} on {}",
            plan.statements.len(),
            config.database,
            config.schema,
            config.account
        );
        return Ok(());
    }
    let mut renderer = Renderer::new(
        arg("--database", &env("SNOWFLAKE_DATABASE", "SNOWDRIFT")),
        arg("--schema", &env("SNOWFLAKE_SCHEMA", "PUBLIC")),
    );
    let warehouse = arg("--warehouse", &env("SNOWFLAKE_WAREHOUSE", ""));
    if !warehouse.is_empty() {
        renderer = renderer.with_warehouse(warehouse);
    }
    let plan = renderer.deploy_plan(&spec, &StageAccess::from_env())?;
    print!("{plan}");
    eprintln!(
        "{} statements; nothing was sent (no --apply). Set SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER and \
         SNOWFLAKE_PASSWORD (or SNOWFLAKE_PRIVATE_KEY_FILE) and add --apply to deploy.",
        plan.statements.len()
    );
    Ok(())
}
