//! The conformance suite on the embedded engine: every scenario must pass, on a warehouse in
//! a local folder, on one in memory, with no memory for retained changes and on S3.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_passes_with_no_memory_for_retained_changes() {
    // Every change streams have not consumed is read back from its file.
    let dir = tempfile::tempdir().unwrap();
    let warehouse = LocalWarehouse::builder(dir.path().join("warehouse").to_str().unwrap())
        .memory_budget(0)
        .open()
        .await
        .unwrap();
    let fixture = Fixture::new(dir.path().join("stage").to_str().unwrap()).unwrap();
    let report = run(&warehouse, &fixture).await;
    assert!(report.failed.is_empty(), "{report}");
    assert_eq!(report.passed.len(), scenarios().len(), "{report}");
}

/// Stages and the warehouse root on an S3-compatible server (s3s-fs on 127.0.0.1, started by
/// the test): the store is given to the warehouse for the `s3://stage` prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_passes_with_stages_and_root_on_s3() {
    let server = snowdrift_testkit::s3::S3Server::start().await;
    let store = server.store();
    let warehouse = LocalWarehouse::builder("s3://stage/warehouse")
        .object_store("s3://stage", store.clone())
        .open()
        .await
        .unwrap();
    let fixture = Fixture {
        stage_url: "s3://stage/files".into(),
        stage: snowdrift_stage::StageLocation::from_store(store.clone(), "files"),
    };
    let report = run(&warehouse, &fixture).await;
    assert!(report.failed.is_empty(), "{report}");
    assert_eq!(report.passed.len(), scenarios().len(), "{report}");
    drop(warehouse);
    // The commit log is on S3: a new warehouse on the same root sees every table.
    let reopened = LocalWarehouse::builder("s3://stage/warehouse")
        .object_store("s3://stage", store)
        .background(false)
        .open()
        .await
        .unwrap();
    use snowdrift_warehouse::WarehouseExt as _;
    assert_eq!(reopened.table("copy_once_t").await.unwrap().num_rows(), 9);
}
