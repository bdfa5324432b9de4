//! The whole flow on the embedded engine, checked against the faker's ground truth: a change
//! stream staged as CSV files by the stage sink, loaded by the pipe on its notifications,
//! merged by the two tasks — with and without restarts, on demand and on a schedule.

use crate::support;

use std::time::{Duration, Instant};

use snowdrift_faker::{ChangeStream, EntitySpec, GroundTruth};
use snowdrift_stage::{StageLocation, StageSink};
use snowdrift_warehouse::conformance::sorted_rows;
use snowdrift_warehouse::{
    CreateMode, LocalWarehouse, PipelineSpec, Schedule, TaskAction, TaskRunState, Warehouse,
    WarehouseExt,
};
use support::flow::{BUSINESS, assert_same, open_with, sink, stage_and_merge, wait_for_files};

fn changes(seed: u64) -> ChangeStream {
    ChangeStream::builder(EntitySpec::customer())
        .seed(seed)
        .batch_size(400)
        .initial_population(300)
        .operation_column(Some("op"))
        .event_time_column(None)
        .late_rate(0.0)
        .build()
        .unwrap()
}

fn spec(stage: &std::path::Path, schedule: Schedule) -> PipelineSpec {
    PipelineSpec {
        stage_url: stage.to_str().unwrap().to_owned(),
        operation_column: Some("op".into()),
        schedule,
        ..PipelineSpec::default()
    }
}

/// One file per batch, one task run per file; restarts (without closing) after `restart_after`;
/// a checkpoint every `checkpoint_every` commits.
async fn run_step_by_step(batches: usize, restart_after: Option<usize>, checkpoint_every: u64) {
    let dir = tempfile::tempdir().unwrap();
    let (root, stage) = (dir.path().join("warehouse"), dir.path().join("stage"));
    let spec = spec(&stage, Schedule::Interval(Duration::from_secs(3600)));
    let mut warehouse = open_with(&root, &spec, checkpoint_every).await;
    warehouse
        .alter_task(&spec.history_task, TaskAction::Resume)
        .await
        .unwrap();
    let mut stream = changes(7);
    let mut truth = GroundTruth::for_stream(&stream);
    let sink = sink(&stage, stream.schema());
    warehouse.forward_notifications(&spec.stage, sink.subscribe());
    for step in 0..batches {
        let change = stream.next_batch();
        stage_and_merge(&warehouse, &sink, &spec, &change.batch, step + 1).await;
        truth.merge(&[&change.batch]).unwrap();
        if restart_after == Some(step) {
            drop(warehouse);
            warehouse = open_with(&root, &spec, checkpoint_every).await;
            warehouse.forward_notifications(&spec.stage, sink.subscribe());
        }
    }
    sink.close().await.unwrap();
    let customer = warehouse.table(&spec.current_table).await.unwrap();
    assert_same(
        "customer",
        sorted_rows(&customer, &BUSINESS),
        sorted_rows(&truth.expected_current().unwrap(), &BUSINESS),
    );
    let mut with_flag: Vec<&str> = BUSINESS.to_vec();
    with_flag.push("is_current");
    let history = warehouse.table(&spec.history_table).await.unwrap();
    assert_same(
        "customer_history",
        sorted_rows(&history, &with_flag),
        sorted_rows(&truth.expected_history().unwrap(), &with_flag),
    );
    assert_eq!(
        warehouse.copy_history(&spec.raw_table).await.unwrap().len(),
        batches,
        "every file loaded exactly once"
    );
    let raw_rows: usize = warehouse.table(&spec.raw_table).await.unwrap().num_rows();
    assert_eq!(
        raw_rows,
        batches * 400,
        "raw keeps every row (consumed by offset, never truncated)"
    );
    assert_bounded_by_keys(&warehouse, &spec, &history).await;
}

/// Memory holds the latest row of each key; appended rows and closed versions are in
/// segment files.
async fn assert_bounded_by_keys(
    warehouse: &LocalWarehouse,
    spec: &PipelineSpec,
    versions: &arrow::array::RecordBatch,
) {
    let raw = warehouse.table_storage(&spec.raw_table).await.unwrap();
    assert_eq!(raw.rows_in_memory, 0, "{raw:?}");
    assert_eq!(raw.rows_in_segments, raw.rows, "{raw:?}");
    let history = warehouse.table_storage(&spec.history_table).await.unwrap();
    assert_eq!(history.rows, versions.num_rows() as u64);
    assert!(history.rows_in_segments > 0, "{history:?}");
    // The history's memory holds one row per key ever seen (a deleted key keeps its closed
    // latest version): exactly the distinct keys of the history.
    let keys: std::collections::HashSet<String> = sorted_rows(versions, &["customer_id"])
        .into_iter()
        .collect();
    assert_eq!(history.rows_in_memory, keys.len() as u64, "{history:?}");
    assert_eq!(
        history.rows,
        history.rows_in_memory + history.rows_in_segments
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_by_step_matches_the_ground_truth() {
    run_step_by_step(6, None, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_between_runs_loses_and_repeats_nothing() {
    // checkpoint_every(3): the restart replays a checkpoint plus log entries after it.
    run_step_by_step(7, Some(3), 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_without_a_checkpoint_rebuilds_memory_from_the_log_alone() {
    // No checkpoint before the restart: the latest rows are rebuilt from the change sets and
    // the retired versions stay in their segments (none comes back into memory twice).
    run_step_by_step(5, Some(2), 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_tasks_converge_on_the_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let (root, stage) = (dir.path().join("warehouse"), dir.path().join("stage"));
    let spec = spec(&stage, Schedule::Interval(Duration::from_millis(50)));
    let warehouse = LocalWarehouse::open(root.to_str().unwrap()).await.unwrap();
    warehouse.deploy(&spec).await.unwrap();
    warehouse.deploy(&spec).await.unwrap(); // deploying twice is safe
    let mut stream = changes(11);
    let mut truth = GroundTruth::for_stream(&stream);
    let sink = StageSink::builder(
        StageLocation::parse(stage.to_str().unwrap()).unwrap(),
        stream.schema(),
    )
    .writer_id(2)
    .build()
    .unwrap();
    warehouse.forward_notifications(&spec.stage, sink.subscribe());
    let mut all = Vec::new();
    for _ in 0..8 {
        let change = stream.next_batch();
        sink.write(&change.batch).await.unwrap();
        all.push(change.batch);
    }
    sink.close().await.unwrap();
    let refs: Vec<_> = all.iter().collect();
    truth.merge(&refs).unwrap();
    let want = sorted_rows(&truth.expected_current().unwrap(), &BUSINESS);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let customer = warehouse.table(&spec.current_table).await.unwrap();
        let pending = warehouse.pipeline_has_data(&spec).await.unwrap();
        if !pending && sorted_rows(&customer, &BUSINESS) == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the pipeline did not converge in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let history = warehouse.table(&spec.history_table).await.unwrap();
    let mut with_flag = BUSINESS.to_vec();
    with_flag.push("is_current");
    let current: Vec<String> = sorted_rows(&history, &with_flag)
        .into_iter()
        .filter_map(|r| r.strip_suffix("|true").map(str::to_owned))
        .collect();
    assert_same("current history rows", current, want.clone());
    let export = dir.path().join("customer.arrow");
    let exported = warehouse
        .export_ipc(&spec.current_table, &export)
        .await
        .unwrap();
    let reader =
        arrow::ipc::reader::FileReader::try_new(std::fs::File::open(&export).unwrap(), None)
            .unwrap();
    let read_back: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!((exported, read_back), (want.len(), want.len()));
    let runs = warehouse.task_history(&spec.current_task).await.unwrap();
    assert!(runs.iter().any(|r| r.state == TaskRunState::Succeeded));
    assert!(
        runs.iter().all(|r| r.state != TaskRunState::Failed),
        "{runs:?}"
    );
    warehouse.teardown(&spec).await.unwrap();
    assert!(warehouse.table(&spec.current_table).await.is_err());
}

/// A file nobody announced (no notification, no refresh) is found by the pipe's periodic
/// listing of its stage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipe_finds_unannounced_files_by_listing_its_stage() {
    let dir = tempfile::tempdir().unwrap();
    let (root, stage) = (dir.path().join("warehouse"), dir.path().join("stage"));
    let spec = spec(&stage, Schedule::Interval(Duration::from_secs(3600)));
    let warehouse = LocalWarehouse::builder(root.to_str().unwrap())
        .list_interval(Duration::from_millis(50))
        .open()
        .await
        .unwrap();
    for object in spec.objects() {
        warehouse.create(object, CreateMode::Create).await.unwrap();
    }
    let header = "customer_id,first_name,last_name,email,street,city,state,country,op\n";
    let body = format!("{header}1,Ann,Lee,ann@x,1 Road,Oslo,Oslo,Norway,INSERT\n");
    std::fs::write(stage.join("dropped_by_hand.csv"), body).unwrap();
    wait_for_files(&warehouse, &spec, 1).await;
    assert_eq!(
        warehouse.table(&spec.raw_table).await.unwrap().num_rows(),
        1
    );
}
