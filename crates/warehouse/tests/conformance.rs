//! The conformance suite on the embedded engine: every scenario must pass, on a warehouse in
//! a local folder and on one in memory.

use snowdrift_warehouse::LocalWarehouse;
use snowdrift_warehouse::conformance::{Fixture, run, scenarios};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_passes_on_a_local_folder() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = LocalWarehouse::open(dir.path().join("warehouse").to_str().unwrap())
        .await
        .unwrap();
    let fixture = Fixture::new(dir.path().join("stage").to_str().unwrap()).unwrap();
    let report = run(&warehouse, &fixture).await;
    assert!(report.failed.is_empty(), "{report}");
    assert_eq!(report.passed.len(), scenarios().len(), "{report}");
    println!("{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_passes_in_memory_with_checkpoints_every_commit() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = LocalWarehouse::builder("memory://")
        .checkpoint_every(1)
        .open()
        .await
        .unwrap();
    let fixture = Fixture::new(dir.path().to_str().unwrap()).unwrap();
    let report = run(&warehouse, &fixture).await;
    assert!(report.failed.is_empty(), "{report}");
}
