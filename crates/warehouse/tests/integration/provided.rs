//! The provided methods of [`Warehouse`]: a backend with pipes, streams and tasks that does
//! not implement `scan` (here the embedded engine behind a wrapper that forwards nothing
//! else) passes the whole conformance suite through the provided implementations, and a
//! backend with only the required methods passes the scenarios it declares, its optional
//! methods failing with `Unsupported`.

use arrow::array::RecordBatch;
use async_trait::async_trait;
use snowdrift_warehouse::conformance::{Fixture, run, scenarios};
use snowdrift_warehouse::{
    Capabilities, CopyOptions, CreateMode, Dml, DmlCount, FileLoad, LocalWarehouse, ObjectDef,
    ObjectKind, PipeAction, PipeStatus, Relation, Result, TaskAction, TaskRun, Warehouse,
    WarehouseError,
};

/// `impl Warehouse for $ty` forwarding the required methods to the `LocalWarehouse` it wraps,
/// named `$backend`, with the optional methods in `$optional` besides.
macro_rules! forwarding {
    ($ty:ident, $backend:literal, $($optional:tt)*) => {
        #[async_trait]
        impl Warehouse for $ty {
            fn backend(&self) -> &'static str {
                $backend
            }
            async fn create(&self, object: ObjectDef, mode: CreateMode) -> Result<()> {
                self.0.create(object, mode).await
            }
            async fn drop_object(&self, kind: ObjectKind, name: &str, if_exists: bool) -> Result<()> {
                self.0.drop_object(kind, name, if_exists).await
            }
            async fn dml(&self, table: &str, change: Dml) -> Result<DmlCount> {
                self.0.dml(table, change).await
            }
            async fn copy_into(
                &self,
                table: &str,
                stage: &str,
                options: CopyOptions,
            ) -> Result<Vec<FileLoad>> {
                self.0.copy_into(table, stage, options).await
            }
            async fn query(&self, relation: Relation) -> Result<RecordBatch> {
                self.0.query(relation).await
            }
            async fn copy_history(&self, table: &str) -> Result<Vec<FileLoad>> {
                self.0.copy_history(table).await
            }
            $($optional)*
        }
    };
}

/// The embedded engine with every method forwarded but `scan` (and the `WarehouseExt` ones).
#[derive(Debug)]
struct WithoutScan(LocalWarehouse);

forwarding! {
    WithoutScan,
    "without-scan",
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    async fn stream_has_data(&self, stream: &str) -> Result<bool> {
        self.0.stream_has_data(stream).await
    }
    async fn pipe_status(&self, pipe: &str) -> Result<PipeStatus> {
        self.0.pipe_status(pipe).await
    }
    async fn refresh_pipe(&self, pipe: &str) -> Result<u64> {
        self.0.refresh_pipe(pipe).await
    }
    async fn alter_pipe(&self, pipe: &str, action: PipeAction) -> Result<()> {
        self.0.alter_pipe(pipe, action).await
    }
    async fn alter_task(&self, task: &str, action: TaskAction) -> Result<()> {
        self.0.alter_task(task, action).await
    }
    async fn execute_task(&self, task: &str) -> Result<TaskRun> {
        self.0.execute_task(task).await
    }
    async fn task_history(&self, task: &str) -> Result<Vec<TaskRun>> {
        self.0.task_history(task).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_passes_through_the_provided_methods() {
    let dir = tempfile::tempdir().unwrap();
    let inner = LocalWarehouse::open(dir.path().join("warehouse").to_str().unwrap())
        .await
        .unwrap();
    let warehouse = WithoutScan(inner);
    let fixture = Fixture::new(dir.path().join("stage").to_str().unwrap()).unwrap();
    let report = run(&warehouse, &fixture).await;
    assert!(report.failed.is_empty(), "{report}");
    assert_eq!(report.passed.len(), scenarios().len(), "{report}");
}

/// The embedded engine with only the required methods forwarded: no pipes, streams or tasks.
#[derive(Debug)]
struct RequiredOnly(LocalWarehouse);

forwarding! { RequiredOnly, "required-only", }

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_with_only_the_required_methods_passes_the_scenarios_it_declares() {
    let dir = tempfile::tempdir().unwrap();
    let inner = LocalWarehouse::open(dir.path().join("warehouse").to_str().unwrap())
        .await
        .unwrap();
    let warehouse = RequiredOnly(inner);
    assert_eq!(warehouse.capabilities(), Capabilities::default());
    let fixture = Fixture::new(dir.path().join("stage").to_str().unwrap()).unwrap();
    let report = run(&warehouse, &fixture).await;
    assert!(report.failed.is_empty(), "{report}");
    assert!(!report.passed.is_empty(), "{report}");
    assert!(!report.skipped.is_empty(), "{report}");
    assert_eq!(
        report.passed.len() + report.skipped.len(),
        scenarios().len(),
        "{report}"
    );
}

/// `(kind, name)` of an `Unsupported` error.
#[track_caller]
fn unsupported<T: std::fmt::Debug>(outcome: Result<T>) -> (ObjectKind, String) {
    match outcome {
        Err(WarehouseError::Unsupported { kind, name, .. }) => (kind, name),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_optional_methods_a_backend_does_not_implement_are_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    let inner = LocalWarehouse::open(dir.path().join("warehouse").to_str().unwrap())
        .await
        .unwrap();
    let w = RequiredOnly(inner);
    let pipe = (ObjectKind::Pipe, "p".to_owned());
    let task = (ObjectKind::Task, "t".to_owned());
    assert_eq!(unsupported(w.pipe_status("p").await), pipe);
    assert_eq!(unsupported(w.refresh_pipe("p").await), pipe);
    assert_eq!(
        unsupported(w.alter_pipe("p", PipeAction::Pause).await),
        pipe
    );
    assert_eq!(
        unsupported(w.stream_has_data("s").await),
        (ObjectKind::Stream, "s".to_owned())
    );
    assert_eq!(
        unsupported(w.alter_task("t", TaskAction::Resume).await),
        task
    );
    assert_eq!(unsupported(w.execute_task("t").await), task);
    assert_eq!(unsupported(w.task_history("t").await), task);
}
