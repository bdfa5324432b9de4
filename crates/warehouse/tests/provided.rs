//! The provided methods of [`Warehouse`]: a backend that implements only the required ones
//! (here the embedded engine behind a wrapper that forwards nothing else) passes the whole
//! conformance suite, `scan` included, through the provided implementations.

use arrow::array::RecordBatch;
use async_trait::async_trait;
use snowdrift_warehouse::conformance::{Fixture, run, scenarios};
use snowdrift_warehouse::{
    Capabilities, CopyOptions, CreateMode, Dml, DmlCount, FileLoad, LocalWarehouse, ObjectDef,
    ObjectKind, PipeAction, PipeStatus, Relation, Result, TaskAction, TaskRun, Warehouse,
};

/// The embedded engine with only the required methods forwarded.
#[derive(Debug)]
struct RequiredOnly(LocalWarehouse);

#[async_trait]
impl Warehouse for RequiredOnly {
    fn backend(&self) -> &'static str {
        "required-only"
    }
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
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
    async fn stream_has_data(&self, stream: &str) -> Result<bool> {
        self.0.stream_has_data(stream).await
    }
    async fn copy_history(&self, table: &str) -> Result<Vec<FileLoad>> {
        self.0.copy_history(table).await
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
    let warehouse = RequiredOnly(inner);
    let fixture = Fixture::new(dir.path().join("stage").to_str().unwrap()).unwrap();
    let report = run(&warehouse, &fixture).await;
    assert!(report.failed.is_empty(), "{report}");
    assert_eq!(report.passed.len(), scenarios().len(), "{report}");
}
