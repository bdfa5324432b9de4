//! Deploying the pipeline to Snowflake and tearing it down — what `snowdrift deploy` /
//! `snowdrift teardown --backend snowflake` and the `snowflake_deploy` example do, written
//! once. Without `--apply` a deploy prints its plan (every statement in order, secrets as
//! `***`) and sends nothing; with it the plan runs on the account the `SNOWFLAKE_*` variables
//! name (safe to repeat). A teardown always runs on the account: it removes what deploy made
//! but the database and schema, or those too with `--drop-namespace`.

use std::io::Write as _;

use crate::snowflake::{Renderer, SnowflakeConfig, SnowflakeWarehouse, StageAccess};
use crate::verify::CheckError;
use crate::warehouse::{PipelineSpec, Schedule};

/// Options of a deploy or teardown.
#[derive(Debug, Clone, clap::Args)]
pub struct DeployArgs {
    /// Where the pipe loads from (`s3://bucket/prefix`).
    #[arg(long, default_value = "s3://my-bucket/landing", value_name = "URL")]
    pub stage: String,
    /// The SCD-1 task's schedule (Snowflake's shortest is 10 seconds).
    #[arg(long, default_value = "1 minute", value_parser = parse_schedule)]
    pub schedule: Schedule,
    /// The database (default `SNOWFLAKE_DATABASE`, else `SNOWDRIFT`); for the printed plan.
    #[arg(long)]
    pub database: Option<String>,
    /// The schema (default `SNOWFLAKE_SCHEMA`, else `PUBLIC`); for the printed plan.
    #[arg(long)]
    pub schema: Option<String>,
    /// The virtual warehouse tasks run on (default `SNOWFLAKE_WAREHOUSE`; serverless tasks
    /// without one); for the printed plan.
    #[arg(long)]
    pub warehouse: Option<String>,
    /// Deploy: send the plan to the account instead of printing it only.
    #[arg(long)]
    pub apply: bool,
    /// Teardown: drop the database and schema too (their whole contents).
    #[arg(long)]
    pub drop_namespace: bool,
}

fn parse_schedule(text: &str) -> Result<Schedule, String> {
    Schedule::parse(text).map_err(|e| e.to_string())
}

/// Deploy or tear down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployAction {
    /// Create (or print the plan to create) every object.
    Deploy,
    /// Drop what deploy made.
    Teardown,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// Runs `action` as `args` say, printing the plan on standard output and what was done on
/// standard error.
///
/// # Errors
///
/// A missing or bad `SNOWFLAKE_*` configuration when the account is needed, a failed
/// connection or statement, a spec that cannot be rendered.
pub async fn deploy_and_print(args: &DeployArgs, action: DeployAction) -> Result<(), CheckError> {
    let spec = PipelineSpec {
        stage_url: args.stage.clone(),
        schedule: args.schedule.clone(),
        ..PipelineSpec::default()
    };
    if action == DeployAction::Teardown || args.apply {
        let config = SnowflakeConfig::from_env()?;
        let warehouse = SnowflakeWarehouse::connect(&config).await?;
        let plan = match action {
            DeployAction::Teardown if args.drop_namespace => {
                warehouse.teardown_spec_with_namespace(&spec).await?
            }
            DeployAction::Teardown => warehouse.teardown_spec(&spec).await?,
            DeployAction::Deploy => warehouse.deploy_spec(&spec).await?,
        };
        let _ = write!(std::io::stdout(), "{plan}");
        let _ = writeln!(
            std::io::stderr(),
            "applied {} statements to {}.{} on {}",
            plan.statements.len(),
            config.database,
            config.schema,
            config.account
        );
        return Ok(());
    }
    let mut renderer = Renderer::new(
        args.database
            .clone()
            .unwrap_or_else(|| env_or("SNOWFLAKE_DATABASE", "SNOWDRIFT")),
        args.schema
            .clone()
            .unwrap_or_else(|| env_or("SNOWFLAKE_SCHEMA", "PUBLIC")),
    );
    let warehouse = args
        .warehouse
        .clone()
        .unwrap_or_else(|| env_or("SNOWFLAKE_WAREHOUSE", ""));
    if !warehouse.is_empty() {
        renderer = renderer.with_warehouse(warehouse);
    }
    let plan = renderer.deploy_plan(&spec, &StageAccess::from_env())?;
    let _ = write!(std::io::stdout(), "{plan}");
    let _ = writeln!(
        std::io::stderr(),
        "{} statements; nothing was sent (no --apply). Set SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER and \
         SNOWFLAKE_PASSWORD (or SNOWFLAKE_PRIVATE_KEY_FILE) and add --apply to deploy.",
        plan.statements.len()
    );
    Ok(())
}
