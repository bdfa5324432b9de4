//! What the command-line tests share: a warehouse with the default pipeline deployed, the
//! built `snowdrift` binary run on it, and what it printed.

use std::path::Path;
use std::process::{Command, Output};

use snowdrift::warehouse::{LocalWarehouse, PipelineSpec, WarehouseExt};

/// Opens a warehouse under `dir/warehouse` (without background work) and deploys `spec` with
/// its stage at `dir/stage`; returns the root the command line is given, and the warehouse.
pub(crate) async fn deployed(dir: &Path, spec: PipelineSpec) -> (String, LocalWarehouse) {
    let root = dir.join("warehouse").to_str().unwrap().to_owned();
    let spec = PipelineSpec {
        stage_url: dir.join("stage").to_str().unwrap().to_owned(),
        ..spec
    };
    let warehouse = LocalWarehouse::builder(root.clone())
        .background(false)
        .open()
        .await
        .unwrap();
    warehouse.deploy(&spec).await.unwrap();
    (root, warehouse)
}

/// The built `snowdrift` binary run with `args`, to its end.
pub(crate) fn snowdrift(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_snowdrift"))
        .args(args)
        .output()
        .unwrap()
}

/// What a successful run printed (what it printed to stderr shown when it failed).
pub(crate) fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}
