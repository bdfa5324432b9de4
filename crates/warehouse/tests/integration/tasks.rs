//! Task runs that go wrong: a run past its timeout is `Cancelled` and commits nothing; failed
//! attempts are retried up to `auto_retry_attempts` with their numbers in the history; a
//! checkpoint that fails after a durable commit does not fail the run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use crate::support::{id_email, raw_and_target};
use arrow::array::{Int64Array, RecordBatch, StringArray};
use object_store::ObjectStore;
use object_store::memory::InMemory;
use snowdrift_testkit::faults::{FaultPlan, FaultStore};
use snowdrift_warehouse::{
    Clock, CreateMode, Dml, LocalWarehouse, MergeDef, ObjectDef, StreamDef, TaskAction, TaskBody,
    TaskDef, TaskRunState, Warehouse, WarehouseExt,
};

const ROOT: &str = "memory://tasks";

fn rows(ids: &[i64]) -> RecordBatch {
    let emails: Vec<String> = ids.iter().map(|i| format!("{i}@x")).collect();
    RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(ids.to_vec())) as _),
        ("email", Arc::new(StringArray::from(emails)) as _),
    ])
    .unwrap()
}

/// A raw table, a keyed target, a stream and a merge task `t` made by `task`.
async fn deploy(w: &LocalWarehouse, task: impl FnOnce(TaskDef) -> TaskDef) {
    for object in raw_and_target(id_email()).into_iter().chain([
        ObjectDef::Stream(StreamDef {
            name: "raw_s".into(),
            table: "raw".into(),
            append_only: true,
            show_initial_rows: false,
        }),
        ObjectDef::Task(task(TaskDef::new(
            "t",
            TaskBody::Merge(MergeDef::new("raw_s", "target")),
        ))),
    ]) {
        w.create(object, CreateMode::OrReplace).await.unwrap();
    }
    w.alter_task("t", TaskAction::Resume).await.unwrap();
}

async fn faulty(plan_seed: u64) -> (LocalWarehouse, Arc<FaultPlan>, Arc<dyn ObjectStore>) {
    let (store, plan) = FaultStore::wrap(Arc::new(InMemory::new()), plan_seed);
    let w = LocalWarehouse::builder(ROOT)
        .object_store(ROOT, store.clone())
        .background(false)
        .checkpoint_every(1)
        .open()
        .await
        .unwrap();
    (w, plan, store)
}

#[tokio::test]
async fn a_run_past_its_timeout_is_cancelled_and_commits_nothing() {
    // A clock that jumps a second at every reading while `slow` is set.
    let slow = Arc::new(AtomicBool::new(false));
    let now = Arc::new(AtomicI64::new(1_700_000_000_000_000));
    let (s, n) = (slow.clone(), now.clone());
    let clock = Clock::from_fn(move || {
        let step = if s.load(Ordering::SeqCst) {
            1_000_000
        } else {
            1
        };
        n.fetch_add(step, Ordering::SeqCst) + step
    });
    let w = LocalWarehouse::builder("memory://")
        .background(false)
        .clock(clock)
        .open()
        .await
        .unwrap();
    deploy(&w, |t| TaskDef {
        timeout: Duration::from_millis(500),
        ..t
    })
    .await;
    w.dml("raw", Dml::Insert(vec![rows(&[1, 2])]))
        .await
        .unwrap();
    slow.store(true, Ordering::SeqCst);
    let run = w.execute_task("t").await.unwrap();
    assert_eq!(run.state, TaskRunState::Cancelled);
    assert!(run.error.is_some());
    assert_eq!(w.table("target").await.unwrap().num_rows(), 0);
    assert!(w.stream_has_data("raw_s").await.unwrap());

    slow.store(false, Ordering::SeqCst);
    let run = w.execute_task("t").await.unwrap();
    assert_eq!(run.state, TaskRunState::Succeeded);
    assert_eq!(w.table("target").await.unwrap().num_rows(), 2);
    let states: Vec<TaskRunState> = w
        .task_history("t")
        .await
        .unwrap()
        .iter()
        .map(|r| r.state)
        .collect();
    assert_eq!(states, [TaskRunState::Cancelled, TaskRunState::Succeeded]);
}

#[tokio::test]
async fn a_failed_attempt_is_retried_with_its_number_in_the_history() {
    let (w, plan, _) = faulty(3).await;
    deploy(&w, |t| TaskDef {
        auto_retry_attempts: 2,
        ..t
    })
    .await;
    w.dml("raw", Dml::Insert(vec![rows(&[1])])).await.unwrap();
    plan.fail_next_commits(1); // the first attempt's commit
    let run = w.execute_task("t").await.unwrap();
    assert_eq!((run.state, run.attempt), (TaskRunState::Succeeded, 2));
    let history = w.task_history("t").await.unwrap();
    let attempts: Vec<(TaskRunState, u32)> = history.iter().map(|r| (r.state, r.attempt)).collect();
    assert_eq!(
        attempts,
        [(TaskRunState::Failed, 1), (TaskRunState::Succeeded, 2)]
    );
    assert_eq!(w.table("target").await.unwrap().num_rows(), 1);
}

#[tokio::test]
async fn without_retries_a_failed_attempt_is_the_run() {
    let (w, plan, _) = faulty(4).await;
    deploy(&w, |t| t).await;
    w.dml("raw", Dml::Insert(vec![rows(&[1])])).await.unwrap();
    plan.fail_next_commits(1);
    w.execute_task("t").await.unwrap();
    let history = w.task_history("t").await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].state, TaskRunState::Failed);
    assert!(w.stream_has_data("raw_s").await.unwrap());
}

#[tokio::test]
async fn a_checkpoint_failing_after_a_durable_commit_does_not_fail_the_run() {
    let (w, plan, store) = faulty(5).await;
    deploy(&w, |t| t).await;
    w.dml("raw", Dml::Insert(vec![rows(&[1, 2, 3])]))
        .await
        .unwrap();
    plan.refuse_folder(Some("checkpoint"));
    let run = w.execute_task("t").await.unwrap();
    assert_eq!(run.state, TaskRunState::Succeeded);
    // Checkpoints are written in the background, after the commit that made one due.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while plan.injected.load(Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint was tried"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    drop(w);
    plan.heal();
    let w = LocalWarehouse::builder(ROOT)
        .object_store(ROOT, store)
        .background(false)
        .open()
        .await
        .unwrap();
    assert_eq!(w.table("target").await.unwrap().num_rows(), 3);
    assert!(!w.stream_has_data("raw_s").await.unwrap());
}

#[tokio::test]
async fn retries_beyond_snowflakes_limit_are_refused() {
    let w = LocalWarehouse::builder("memory://")
        .background(false)
        .open()
        .await
        .unwrap();
    deploy(&w, |t| t).await;
    let task = TaskDef {
        auto_retry_attempts: 31,
        ..TaskDef::new("t2", TaskBody::Merge(MergeDef::new("raw_s", "target")))
    };
    let error = w
        .create(ObjectDef::Task(task), CreateMode::Create)
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        snowdrift_warehouse::WarehouseError::InvalidDefinition { .. }
    ));
}

#[tokio::test]
async fn a_failed_commit_that_cannot_be_rebuilt_at_once_leaves_nothing_of_the_run() {
    let (w, plan, store) = faulty(6).await;
    deploy(&w, |t| t).await;
    w.create(
        ObjectDef::Stream(StreamDef {
            name: "target_s".into(),
            table: "target".into(),
            append_only: false,
            show_initial_rows: false,
        }),
        CreateMode::OrReplace,
    )
    .await
    .unwrap();
    w.dml("raw", Dml::Insert(vec![rows(&[1, 2])]))
        .await
        .unwrap();
    // The run's commit fails, and so does every read of the rebuild after it: the state in
    // memory (which holds the merge that did not commit) is stale until storage answers.
    plan.fail_next_commits(1);
    plan.fail_gets_of("", 4);
    let run = w.execute_task("t").await.unwrap();
    assert_eq!(run.state, TaskRunState::Failed);
    assert_eq!(w.table("target").await.unwrap().num_rows(), 0);
    assert!(w.stream_has_data("raw_s").await.unwrap());
    assert!(!w.stream_has_data("target_s").await.unwrap());

    // Nothing of the failed merge reached storage either, checkpoints included.
    let reopened = LocalWarehouse::builder(ROOT)
        .object_store(ROOT, store)
        .background(false)
        .open()
        .await
        .unwrap();
    assert_eq!(reopened.table("target").await.unwrap().num_rows(), 0);

    // The next run merges the rows, and the target's stream sees every one of them.
    let run = w.execute_task("t").await.unwrap();
    assert_eq!(run.state, TaskRunState::Succeeded);
    assert_eq!(w.table("target").await.unwrap().num_rows(), 2);
    assert_eq!(w.stream("target_s").await.unwrap().num_rows(), 2);
}
