//! The live suite: on a real Snowflake account, the shared conformance suite and a full
//! deploy → stage a file → pipe → tasks → teardown of the pipeline.
//!
//! It runs only when `SNOWFLAKE_ACCOUNT` and `SNOWDRIFT_LIVE_STAGE_URL` (an `s3://bucket/prefix`
//! the account can read through `SNOWDRIFT_STORAGE_INTEGRATION` or the `AWS_*` keys, and this
//! machine can write with the same `AWS_*` variables) are set, and says that it skipped
//! otherwise. It creates its objects in `SNOWFLAKE_DATABASE` / `SNOWFLAKE_SCHEMA` and drops them
//! at the end. See docs/configuration.md for the privileges it needs.

use std::time::{Duration, Instant};

use object_store::ObjectStoreExt as _;
use object_store::PutPayload;
use object_store::path::Path;
use snowdrift_snowflake::{SnowflakeConfig, SnowflakeWarehouse};
use snowdrift_stage::StageLocation;
use snowdrift_warehouse::conformance::{Fixture, run};
use snowdrift_warehouse::{PipelineSpec, Schedule, TaskRunState, Warehouse, WarehouseExt};

/// The stage URL, or `None` (with the reason printed) when the live suite does not run.
fn live_stage() -> Option<String> {
    let missing: Vec<&str> = [
        "SNOWFLAKE_ACCOUNT",
        "SNOWFLAKE_USER",
        "SNOWDRIFT_LIVE_STAGE_URL",
    ]
    .into_iter()
    .filter(|v| std::env::var(v).map_or(true, |s| s.is_empty()))
    .collect();
    if missing.is_empty() {
        std::env::var("SNOWDRIFT_LIVE_STAGE_URL").ok()
    } else {
        eprintln!(
            "SKIPPED: the live Snowflake suite needs {} (see docs/configuration.md)",
            missing.join(", ")
        );
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_conformance_suite() {
    let Some(stage_url) = live_stage() else {
        return;
    };
    let config = SnowflakeConfig::from_env().expect("SNOWFLAKE_* variables");
    let warehouse = SnowflakeWarehouse::connect(&config).await.unwrap();
    let fixture =
        Fixture::new(&format!("{}/conformance", stage_url.trim_end_matches('/'))).unwrap();
    let report = run(&warehouse, &fixture).await;
    println!("{report}");
    assert!(report.failed.is_empty(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_deploy_run_and_teardown() {
    let Some(stage_url) = live_stage() else {
        return;
    };
    let config = SnowflakeConfig::from_env().expect("SNOWFLAKE_* variables");
    let warehouse = SnowflakeWarehouse::connect(&config).await.unwrap();
    let prefix = format!(
        "{}/pipeline-{}",
        stage_url.trim_end_matches('/'),
        std::process::id()
    );
    let spec = PipelineSpec {
        stage_url: prefix.clone(),
        schedule: Schedule::Interval(Duration::from_secs(60)),
        ..PipelineSpec::default()
    };
    let plan = warehouse.deploy_spec(&spec).await.unwrap();
    println!("{plan}");
    // Deploying again is safe.
    warehouse.deploy_spec(&spec).await.unwrap();

    let stage = StageLocation::parse_opts(&prefix, snowdrift_stage::aws_environment()).unwrap();
    let csv = "customer_id,first_name,last_name,email,street,city,state,country\n\
               1,Ada,Lovelace,ada@example.com,1 Analytical St,London,LDN,UK\n\
               2,Alan,Turing,alan@example.com,2 Enigma Rd,Wilmslow,CHS,UK\n";
    stage
        .store()
        .put(
            &Path::from(format!("{}/customer_20261124000000.csv", stage.prefix())),
            PutPayload::from(csv.as_bytes().to_vec()),
        )
        .await
        .unwrap();
    warehouse.refresh_pipe(&spec.pipe).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while warehouse.table(&spec.raw_table).await.unwrap().num_rows() < 2 {
        assert!(
            Instant::now() < deadline,
            "the pipe loaded nothing in 5 minutes"
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let status = warehouse.pipe_status(&spec.pipe).await.unwrap();
    println!("{status:?}");

    let run1 = warehouse.execute_task(&spec.current_task).await.unwrap();
    assert_eq!(run1.state, TaskRunState::Succeeded, "{run1:?}");
    assert_eq!(
        warehouse
            .table(&spec.current_table)
            .await
            .unwrap()
            .num_rows(),
        2
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    while warehouse
        .table(&spec.history_table)
        .await
        .unwrap()
        .num_rows()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "the SCD-2 task wrote nothing in 5 minutes"
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    assert!(
        !warehouse
            .task_history(&spec.current_task)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !warehouse
            .copy_history(&spec.raw_table)
            .await
            .unwrap()
            .is_empty()
    );

    warehouse.teardown_spec(&spec).await.unwrap();
    assert!(warehouse.table(&spec.raw_table).await.is_err());
}
