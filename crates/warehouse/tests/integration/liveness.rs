//! Graph liveness: after a crash exactly between the SCD-1 and the SCD-2 commit of one graph run
//! (injected at that point, not found by chance), or after a failed SCD-2 run, the next
//! scheduled run of the deployed pipeline brings `customer_history` up to date with no new
//! file — the root's `WHEN` watches both streams.

use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::ObjectStore;
use object_store::memory::InMemory;
use snowdrift_testkit::faults::{FaultPlan, FaultStore};
use snowdrift_warehouse::{
    CopyOptions, LocalWarehouse, PipelineSpec, Schedule, TaskRunState, Warehouse, WarehouseExt,
};

const ROOT: &str = "memory://liveness";

fn spec(stage: &std::path::Path) -> PipelineSpec {
    PipelineSpec {
        stage_url: stage.to_str().unwrap().to_owned(),
        schedule: Schedule::Interval(Duration::from_millis(50)),
        ..PipelineSpec::default()
    }
}

async fn open(
    store: &Arc<dyn ObjectStore>,
    spec: &PipelineSpec,
    background: bool,
) -> LocalWarehouse {
    let w = LocalWarehouse::builder(ROOT)
        .object_store(ROOT, store.clone())
        .background(background)
        .open()
        .await
        .unwrap();
    w.deploy(spec).await.unwrap();
    w
}

fn stage_customers(stage: &std::path::Path, name: &str, ids: std::ops::Range<i64>) {
    let mut text =
        String::from("customer_id,first_name,last_name,email,street,city,state,country\n");
    for id in ids {
        text.push_str(&format!("{id},F{id},L,e{id}@x,S,C,ST,CO\n"));
    }
    std::fs::write(stage.join(name), text).unwrap();
}

async fn wait_for_history(w: &LocalWarehouse, rows: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while w.row_count("customer_history").await.unwrap() < rows {
        assert!(Instant::now() < deadline, "the history never caught up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A warehouse on a fault store whose first graph run dies between the two commits.
async fn crash_between_the_merges(
    stage: &std::path::Path,
) -> (Arc<dyn ObjectStore>, Arc<FaultPlan>, PipelineSpec) {
    let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let (store, plan) = FaultStore::wrap(inner, 1);
    let spec = spec(stage);
    let w = open(&store, &spec, false).await;
    stage_customers(stage, "customer_1.csv", 0..50);
    w.copy_into(&spec.raw_table, &spec.stage, CopyOptions::default())
        .await
        .unwrap();
    plan.crash_after_commits(1); // the SCD-1 commit lands, the SCD-2 commit is the crash
    w.execute_task(&spec.current_task).await.unwrap();
    assert!(plan.crashed.load(std::sync::atomic::Ordering::SeqCst));
    drop(w);
    plan.heal();
    (store, plan, spec)
}

#[tokio::test]
async fn a_crash_between_the_scd1_and_scd2_commits_is_caught_up_by_the_next_scheduled_run() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _plan, spec) = crash_between_the_merges(dir.path()).await;

    let w = open(&store, &spec, false).await;
    assert_eq!(w.row_count("customer").await.unwrap(), 50);
    assert_eq!(w.row_count("customer_history").await.unwrap(), 0);
    assert!(!w.stream_has_data(&spec.raw_stream).await.unwrap());
    assert!(w.stream_has_data(&spec.current_stream).await.unwrap());
    drop(w);

    // The restarted pipeline on its schedule, with no new file.
    let w = open(&store, &spec, true).await;
    wait_for_history(&w, 50).await;
    assert!(!w.stream_has_data(&spec.current_stream).await.unwrap());
}

#[tokio::test]
async fn a_failed_history_run_is_retried_by_the_next_graph_run_with_no_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let (store, plan) = FaultStore::wrap(inner, 2);
    let spec = spec(dir.path());
    let w = open(&store, &spec, false).await;
    stage_customers(dir.path(), "customer_1.csv", 0..20);
    w.copy_into(&spec.raw_table, &spec.stage, CopyOptions::default())
        .await
        .unwrap();
    plan.crash_after_commits(1);
    w.execute_task(&spec.current_task).await.unwrap();
    plan.heal(); // the same process goes on: storage works again
    let child = w.task_history(&spec.history_task).await.unwrap();
    assert_eq!(child.last().map(|r| r.state), Some(TaskRunState::Failed));

    let runs = w.execute_task(&spec.current_task).await.unwrap();
    assert_eq!(runs.state, TaskRunState::Succeeded);
    assert_eq!(w.row_count("customer_history").await.unwrap(), 20);
}
