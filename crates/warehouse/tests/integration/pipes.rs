//! Pipes when files or the stage misbehave: a file that cannot be read backs off on its own
//! while the others load, and is recorded as `Load failed` with its error after its last
//! attempt; a paused pipe loads nothing until resumed, across restarts too; a pipe without
//! auto-ingest loads only what `ALTER PIPE … REFRESH` queues.

use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _};
use snowdrift_testkit::faults::{FaultPlan, FaultStore};
use snowdrift_warehouse::{
    Column, ColumnType, CreateMode, LoadStatus, LocalWarehouse, ObjectDef, OnError, PipeAction,
    PipeDef, PipeExecutionState, PipeRetry, TableDef, Warehouse,
};

const STAGE: &str = "memory://stage";

fn objects(auto_ingest: bool) -> Vec<ObjectDef> {
    [ObjectDef::Table(TableDef::new(
        "raw",
        vec![
            Column::new("id", ColumnType::Number),
            Column::new("email", ColumnType::Varchar),
        ],
    ))]
    .into_iter()
    .chain(crate::support::csv_stage(STAGE))
    .chain([ObjectDef::Pipe(PipeDef {
        name: "p".into(),
        stage: "landing".into(),
        table: "raw".into(),
        file_format: None,
        on_error: OnError::SkipFile,
        auto_ingest,
        pattern: None,
    })])
    .collect()
}

async fn open(
    root: &str,
    stage: &Arc<dyn ObjectStore>,
    retry: PipeRetry,
    auto_ingest: bool,
) -> LocalWarehouse {
    let w = LocalWarehouse::builder(root)
        .object_store(STAGE, stage.clone())
        .list_interval(Duration::from_millis(30))
        .pipe_retry(retry)
        .open()
        .await
        .unwrap();
    for object in objects(auto_ingest) {
        w.create(object, CreateMode::IfNotExists).await.unwrap();
    }
    w
}

async fn stage_file(store: &Arc<dyn ObjectStore>, name: &str, id: i64) {
    let body = format!("id,email\n{id},{id}@x\n");
    store
        .put(&Path::from(name), body.into_bytes().into())
        .await
        .unwrap();
}

fn faulty_stage() -> (Arc<dyn ObjectStore>, Arc<FaultPlan>) {
    FaultStore::wrap(Arc::new(InMemory::new()), 9)
}

async fn wait_until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn status_of(w: &LocalWarehouse, file: &str) -> Option<LoadStatus> {
    let history = w.copy_history("raw").await.unwrap();
    history.iter().find(|l| l.file == file).map(|l| l.status)
}

#[tokio::test]
async fn a_file_that_cannot_be_read_backs_off_alone_while_the_others_load() {
    let (stage, plan) = faulty_stage();
    plan.fail_gets_of("a.csv", 3);
    stage_file(&stage, "a.csv", 1).await;
    stage_file(&stage, "b.csv", 2).await;
    let retry = PipeRetry {
        initial: Duration::from_millis(300),
        ..PipeRetry::default()
    };
    let w = open("memory://", &stage, retry, true).await;
    wait_until("b.csv", || async { status_of(&w, "b.csv").await.is_some() }).await;
    // b.csv was read beside a.csv's first failed attempt; a.csv now waits 300 ms on its own.
    let status = w.pipe_status("p").await.unwrap();
    assert_eq!(status.execution_state, PipeExecutionState::Running);
    assert_eq!(status.pending_file_count, 1);
    assert!(
        status.error.as_deref().is_some_and(|e| e.contains("a.csv")),
        "{status:?}"
    );
    assert_eq!(status_of(&w, "a.csv").await, None);

    wait_until("a.csv", || async { status_of(&w, "a.csv").await.is_some() }).await;
    assert_eq!(status_of(&w, "a.csv").await, Some(LoadStatus::Loaded));
    assert_eq!(w.copy_history("raw").await.unwrap().len(), 2);
    assert_eq!(w.pipe_status("p").await.unwrap().error, None);
}

#[tokio::test]
async fn a_file_that_never_reads_is_recorded_as_failed_and_the_pipe_goes_on() {
    let (stage, plan) = faulty_stage();
    plan.fail_gets_of("a.csv", u64::MAX);
    stage_file(&stage, "a.csv", 1).await;
    stage_file(&stage, "b.csv", 2).await;
    let retry = PipeRetry {
        initial: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_attempts: 3,
    };
    let w = open("memory://", &stage, retry, true).await;
    wait_until("a.csv's record", || async {
        status_of(&w, "a.csv").await.is_some()
    })
    .await;
    let history = w.copy_history("raw").await.unwrap();
    let a = history.iter().find(|l| l.file == "a.csv").unwrap();
    assert_eq!(a.status, LoadStatus::LoadFailed);
    assert!(a.first_error.is_some());
    assert_eq!(status_of(&w, "b.csv").await, Some(LoadStatus::Loaded));
    assert_eq!(w.pipe_status("p").await.unwrap().pending_file_count, 0);
    assert_eq!(w.row_count("raw").await.unwrap(), 1);
}

#[tokio::test]
async fn a_paused_pipe_loads_nothing_until_resumed_even_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_owned();
    let (stage, _) = faulty_stage();
    let w = open(&root, &stage, PipeRetry::default(), true).await;
    w.alter_pipe("p", PipeAction::Pause).await.unwrap();
    stage_file(&stage, "a.csv", 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(status_of(&w, "a.csv").await, None);
    assert_eq!(
        w.pipe_status("p").await.unwrap().execution_state,
        PipeExecutionState::Paused
    );
    drop(w);

    let w = open(&root, &stage, PipeRetry::default(), true).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        w.pipe_status("p").await.unwrap().execution_state,
        PipeExecutionState::Paused
    );
    assert_eq!(status_of(&w, "a.csv").await, None);
    w.alter_pipe("p", PipeAction::Resume).await.unwrap();
    wait_until("a.csv", || async { status_of(&w, "a.csv").await.is_some() }).await;
    assert_eq!(
        w.pipe_status("p").await.unwrap().execution_state,
        PipeExecutionState::Running
    );
}

#[tokio::test]
async fn a_pipe_without_auto_ingest_loads_only_on_refresh() {
    let (stage, _) = faulty_stage();
    stage_file(&stage, "a.csv", 1).await;
    let w = open("memory://", &stage, PipeRetry::default(), false).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(status_of(&w, "a.csv").await, None);
    assert_eq!(w.refresh_pipe("p").await.unwrap(), 1);
    wait_until("a.csv", || async { status_of(&w, "a.csv").await.is_some() }).await;
}

#[tokio::test]
async fn the_last_ingested_file_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_owned();
    let (stage, _) = faulty_stage();
    let w = open(&root, &stage, PipeRetry::default(), true).await;
    stage_file(&stage, "a.csv", 1).await;
    wait_until("a.csv", || async { status_of(&w, "a.csv").await.is_some() }).await;
    stage_file(&stage, "b.csv", 2).await;
    wait_until("b.csv", || async { status_of(&w, "b.csv").await.is_some() }).await;
    let before = w.pipe_status("p").await.unwrap();
    assert_eq!(before.last_ingested_file_path.as_deref(), Some("b.csv"));
    w.close().await.unwrap();

    let w = LocalWarehouse::builder(root.as_str())
        .object_store(STAGE, stage.clone())
        .background(false)
        .open()
        .await
        .unwrap();
    let after = w.pipe_status("p").await.unwrap();
    assert_eq!(
        after.last_ingested_file_path,
        before.last_ingested_file_path
    );
    assert_eq!(
        after.last_ingested_timestamp,
        before.last_ingested_timestamp
    );
}
