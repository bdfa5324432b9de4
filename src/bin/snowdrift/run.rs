//! `snowdrift run`: the whole pipeline on embedded defaults (or on Snowflake), verified against
//! the generator's ground truth; it leaves the warehouse at `<data>/run-<id>/warehouse` and
//! prints that path. The same code as the `full_pipeline` example (`snowdrift::run`).

use snowdrift::run::{RunArgs, run_and_print};

use crate::Failure;

pub(crate) async fn run(args: RunArgs) -> Result<(), Failure> {
    match run_and_print(&args).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Failure::Failed(
            "the run does not match the ground truth (MISMATCH lines above)".into(),
        )),
        Err(error) => Err(Failure::Failed(error.to_string())),
    }
}
