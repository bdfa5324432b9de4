//! `snowdrift deploy|teardown --backend snowflake`: the pipeline's objects on a Snowflake
//! account (feature `snowflake`), as `snowdrift::deploy` does for the `snowflake_deploy`
//! example too. Without `--apply`, `deploy` prints the plan and sends nothing.

use snowdrift::deploy::{DeployAction, DeployArgs, deploy_and_print};

use crate::Failure;

/// Options of `snowdrift deploy` and `snowdrift teardown`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where to deploy: `snowflake` (the embedded warehouse is deployed by `snowdrift run`).
    #[arg(long, value_parser = ["snowflake"])]
    backend: String,
    #[command(flatten)]
    deploy: DeployArgs,
}

pub(crate) async fn run(args: Args, action: DeployAction) -> Result<(), Failure> {
    debug_assert_eq!(args.backend, "snowflake");
    deploy_and_print(&args.deploy, action)
        .await
        .map_err(|e| Failure::Failed(e.to_string()))
}
