//! The [`Warehouse`] trait every backend implements, the records it returns (load results,
//! pipe status, task runs), and [`WarehouseExt`], the conveniences built on it.

use std::time::SystemTime;

use arrow::array::RecordBatch;
use async_trait::async_trait;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::catalog::{CreateMode, ObjectDef, ObjectKind, OnError};
use crate::error::Result;
use crate::load::LoadError;
use crate::scan::{Scan, ScanPlan};
use crate::spec::PipelineSpec;

/// The optional abilities a backend has ([`Warehouse::capabilities`]); the conformance suite
/// runs only what a backend declares. Tables, `COPY INTO`, DML and reads are not optional.
/// The default declares none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Pipes that load new staged files on their own ([`Warehouse::pipe_status`],
    /// [`Warehouse::refresh_pipe`], [`Warehouse::alter_pipe`]).
    pub pipes: bool,
    /// Streams on tables ([`Warehouse::stream_has_data`], [`Relation::Stream`]).
    pub streams: bool,
    /// Scheduled tasks and task graphs ([`Warehouse::alter_task`],
    /// [`Warehouse::execute_task`], [`Warehouse::task_history`]).
    pub tasks: bool,
}

impl Capabilities {
    /// Pipes, streams and tasks: everything a pipeline needs.
    pub const ALL: Capabilities = Capabilities {
        pipes: true,
        streams: true,
        tasks: true,
    };
}

/// The error of an optional method a backend does not implement.
fn unsupported(kind: ObjectKind, name: &str, ability: &str) -> crate::WarehouseError {
    crate::WarehouseError::Unsupported {
        kind,
        name: name.to_owned(),
        reason: format!("this backend has no {ability} (see Warehouse::capabilities)"),
    }
}

/// What to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relation {
    /// All rows of a table, with its system columns.
    Table(String),
    /// A stream's change rows (`METADATA$ACTION`, `METADATA$ISUPDATE`, `METADATA$ROW_ID`
    /// after the table's columns). Reading never moves the offset.
    Stream(String),
}

/// A change to a table's rows outside a merge task, like INSERT / UPDATE / DELETE.
#[derive(Debug, Clone)]
pub enum Dml {
    /// Insert rows (business columns). A table with a key treats a row of an existing key as
    /// an update, as a MERGE would.
    Insert(Vec<RecordBatch>),
    /// Overwrite the business columns of rows with these keys (rows of unknown keys are
    /// inserted).
    Update(Vec<RecordBatch>),
    /// Delete the rows whose keys appear in this batch (key columns only, or whole rows).
    Delete(RecordBatch),
}

/// Rows a [`Dml`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DmlCount {
    /// Rows inserted.
    pub inserted: u64,
    /// Rows updated.
    pub updated: u64,
    /// Rows deleted.
    pub deleted: u64,
}

/// Options of `COPY INTO <table> FROM @<stage>`.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyOptions {
    /// The file format (default: the stage's).
    pub file_format: Option<String>,
    /// Bad-record handling (default `AbortStatement`, as in Snowflake).
    pub on_error: OnError,
    /// Load files again even when the load history says they were loaded (may duplicate).
    pub force: bool,
    /// Only these files (paths relative to the stage).
    pub files: Option<Vec<String>>,
    /// Only files whose relative path matches this glob.
    pub pattern: Option<String>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            file_format: None,
            on_error: OnError::AbortStatement,
            force: false,
            files: None,
            pattern: None,
        }
    }
}

/// The outcome of loading one file (Snowflake's copy history `STATUS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoadStatus {
    /// Every record loaded.
    Loaded,
    /// Some records loaded, the bad ones skipped (`ON_ERROR = CONTINUE`).
    PartiallyLoaded,
    /// Nothing loaded because of bad records.
    LoadFailed,
    /// Not loaded because it was loaded before.
    LoadSkipped,
}

/// One file's entry in the copy history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileLoad {
    /// The staged file (path in the object store).
    pub file: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag when loaded.
    pub e_tag: Option<String>,
    /// The outcome.
    pub status: LoadStatus,
    /// Data records read.
    pub rows_parsed: u64,
    /// Records loaded.
    pub rows_loaded: u64,
    /// Bad records.
    pub error_count: u64,
    /// The first bad record.
    pub first_error: Option<LoadError>,
    /// When the load committed.
    pub load_time: SystemTime,
    /// Anything else worth knowing (for example that the file was rewritten since an
    /// earlier load).
    pub note: Option<String>,
}

/// A pipe's execution state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PipeExecutionState {
    /// Loading files as they arrive.
    Running,
    /// Paused.
    Paused,
    /// Stopped by repeated failures to read the stage; it retries.
    StalledStageAccess,
}

/// Snowflake's `SYSTEM$PIPE_STATUS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeStatus {
    /// Running, paused or stalled.
    pub execution_state: PipeExecutionState,
    /// Files announced or listed but not loaded yet.
    pub pending_file_count: u64,
    /// The oldest of them.
    pub oldest_pending_file_path: Option<String>,
    /// When the last file was loaded.
    pub last_ingested_timestamp: Option<SystemTime>,
    /// The last file loaded.
    pub last_ingested_file_path: Option<String>,
    /// The last error reading the stage, if the pipe is stalled.
    pub error: Option<String>,
}

/// A task run's state (Snowflake's task history `STATE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskRunState {
    /// Running now.
    Executing,
    /// Finished without error.
    Succeeded,
    /// Failed.
    Failed,
    /// Failed, and the task suspended itself after too many consecutive failures.
    FailedAndAutoSuspended,
    /// Cancelled (timeout).
    Cancelled,
    /// Not run: its `WHEN` condition was false.
    Skipped,
}

/// One run of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRun {
    /// The task.
    pub task: String,
    /// Identifies the graph run this run belongs to.
    pub graph_run: u64,
    /// The outcome.
    pub state: TaskRunState,
    /// When it was due.
    pub scheduled_time: SystemTime,
    /// When it started.
    pub started: SystemTime,
    /// When it ended.
    pub completed: Option<SystemTime>,
    /// Why it failed.
    pub error: Option<String>,
    /// Attempt number (1 unless retried).
    pub attempt: u32,
    /// Source rows the run consumed.
    pub rows_consumed: u64,
    /// Target rows it wrote.
    pub rows_written: u64,
    /// Changes rejected as late (dead-letter count).
    pub late_rows: u64,
    /// Rows the run wrote to its rejected table (late and bad rows).
    #[serde(default)]
    pub rejected_rows: u64,
    /// The stream window the run consumed: its offset before (a table version, exclusive)
    /// and after (inclusive). With [`TaskRun::version`] it tells which runs' changes a later
    /// run of a child read.
    #[serde(default)]
    pub window: Option<(u64, u64)>,
    /// The staged files the consumed rows were loaded from, in load order (when known).
    #[serde(default)]
    pub source_files: Vec<String>,
    /// The warehouse version the run committed (`None` when it committed nothing).
    #[serde(default)]
    pub version: Option<u64>,
}

/// Suspend or resume a task (`ALTER TASK … SUSPEND | RESUME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskAction {
    /// Start scheduling it.
    Resume,
    /// Stop scheduling it (a running run finishes).
    Suspend,
}

/// Pause or resume a pipe (`ALTER PIPE … SET PIPE_EXECUTION_PAUSED = TRUE | FALSE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipeAction {
    /// Stop loading: new files queue up (notifications are still taken) until it resumes.
    Pause,
    /// Load again, the queued files first.
    Resume,
}

/// A data warehouse holding the pipeline's objects: the embedded engine, Snowflake, or any
/// other backend. Object-safe: use it as `Arc<dyn Warehouse>`.
///
/// # Errors
///
/// Every method fails with [`crate::WarehouseError::NotFound`] for an object that does not
/// exist, [`crate::WarehouseError::InvalidDefinition`] for a definition or change the object
/// cannot take, [`crate::WarehouseError::Unsupported`] for what the backend cannot do (see
/// [`Warehouse::capabilities`]), and with the backend's own errors
/// ([`crate::WarehouseError::Storage`] and [`crate::WarehouseError::Corrupt`] on the embedded
/// engine, [`crate::WarehouseError::Backend`] from a remote one). A task run that fails is a
/// [`TaskRun`] with its error, not an `Err`, unless the task cannot be run at all.
///
/// # Cancel safety
///
/// A change (`create`, `dml`, `copy_into`, `execute_task`, …) is committed whole or not at
/// all: a future dropped before it returns never leaves half of one. Whether it was committed
/// may then be unknown (on Snowflake a statement already sent runs to its end); read the state
/// again (`copy_history`, `task_history`, `query`) to know. Reads change nothing and may be
/// dropped at any point.
#[async_trait]
pub trait Warehouse: Send + Sync + std::fmt::Debug {
    /// A short backend name (`"local"`, `"snowflake"`).
    fn backend(&self) -> &'static str;

    /// The optional abilities this backend has. The provided implementation declares none,
    /// matching the provided pipe, stream and task methods, which fail with
    /// [`crate::WarehouseError::Unsupported`]; a backend that has them overrides both.
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    /// Creates an object.
    async fn create(&self, object: ObjectDef, mode: CreateMode) -> Result<()>;

    /// Drops an object; with `if_exists`, a missing object is not an error.
    async fn drop_object(&self, kind: ObjectKind, name: &str, if_exists: bool) -> Result<()>;

    /// Changes a table's rows.
    async fn dml(&self, table: &str, change: Dml) -> Result<DmlCount>;

    /// `COPY INTO <table> FROM @<stage>`: loads the stage's files not loaded before.
    async fn copy_into(
        &self,
        table: &str,
        stage: &str,
        options: CopyOptions,
    ) -> Result<Vec<FileLoad>>;

    /// Reads a table or a stream as one batch.
    async fn query(&self, relation: Relation) -> Result<RecordBatch>;

    /// The rows of `table` at its last committed version as a stream of batches, with only
    /// the columns and keys `scan` asks for.
    ///
    /// The provided implementation reads the table with [`Warehouse::query`] and cuts the
    /// one batch down; the embedded engine streams one segment file at a time instead, so a
    /// table larger than memory can be read whole.
    ///
    /// # Errors
    ///
    /// [`crate::WarehouseError::NotFound`] for an unknown table,
    /// [`crate::WarehouseError::InvalidDefinition`] for a column the table does not have
    /// (in the projection or the keys); items of the stream fail with storage errors.
    ///
    /// # Cancel safety
    ///
    /// Dropping the stream stops the read; nothing is changed.
    async fn scan(
        &self,
        table: &str,
        scan: Scan,
    ) -> Result<BoxStream<'static, Result<RecordBatch>>> {
        let rows = self.query(Relation::Table(table.to_owned())).await?;
        let plan = ScanPlan::new(table, &rows.schema(), &scan)?;
        let part = plan.finish(rows);
        Ok(futures::stream::once(async move { part }).boxed())
    }

    /// `SYSTEM$STREAM_HAS_DATA`: may say true when the net change is empty, never false when
    /// it is not.
    async fn stream_has_data(&self, stream: &str) -> Result<bool> {
        Err(unsupported(ObjectKind::Stream, stream, "streams"))
    }

    /// The load history of a table, oldest first.
    async fn copy_history(&self, table: &str) -> Result<Vec<FileLoad>>;

    /// `SYSTEM$PIPE_STATUS`.
    async fn pipe_status(&self, pipe: &str) -> Result<PipeStatus> {
        Err(unsupported(ObjectKind::Pipe, pipe, "pipes"))
    }

    /// `ALTER PIPE … REFRESH`: queues the stage's files the pipe has not loaded; returns how
    /// many were queued.
    async fn refresh_pipe(&self, pipe: &str) -> Result<u64> {
        Err(unsupported(ObjectKind::Pipe, pipe, "pipes"))
    }

    /// Pauses or resumes a pipe. A paused pipe shows `Paused` in its status, loads nothing and
    /// stays paused across restarts.
    async fn alter_pipe(&self, pipe: &str, action: PipeAction) -> Result<()> {
        let _ = action;
        Err(unsupported(ObjectKind::Pipe, pipe, "pipes"))
    }

    /// `ALTER TASK … SUSPEND | RESUME`.
    async fn alter_task(&self, task: &str, action: TaskAction) -> Result<()> {
        let _ = action;
        Err(unsupported(ObjectKind::Task, task, "tasks"))
    }

    /// `EXECUTE TASK`: runs the task (and, for a root, its graph) now; returns the task's run (its
    /// last attempt when failed attempts were retried).
    async fn execute_task(&self, task: &str) -> Result<TaskRun> {
        Err(unsupported(ObjectKind::Task, task, "tasks"))
    }

    /// The task's runs, oldest first.
    async fn task_history(&self, task: &str) -> Result<Vec<TaskRun>> {
        Err(unsupported(ObjectKind::Task, task, "tasks"))
    }
}

/// Conveniences on any [`Warehouse`].
#[async_trait]
pub trait WarehouseExt: Warehouse {
    /// Creates every object of `spec` in dependency order (`CREATE … IF NOT EXISTS`, so
    /// deploying twice is safe), then resumes the tasks, children first.
    async fn deploy(&self, spec: &PipelineSpec) -> Result<()> {
        spec.validate()?;
        for object in spec.objects() {
            self.create(object, CreateMode::IfNotExists).await?;
        }
        for task in spec.tasks_children_first() {
            self.alter_task(&task, TaskAction::Resume).await?;
        }
        Ok(())
    }

    /// Whether any stream of `spec`'s task graph has changes its tasks have not merged yet
    /// (false: both merges have caught up with everything loaded).
    async fn pipeline_has_data(&self, spec: &PipelineSpec) -> Result<bool> {
        for stream in spec.streams() {
            if self.stream_has_data(stream).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Suspends the tasks (root first) and drops every object of `spec`, dependents first.
    async fn teardown(&self, spec: &PipelineSpec) -> Result<()> {
        let mut tasks = spec.tasks_children_first();
        tasks.reverse();
        for task in tasks {
            match self.alter_task(&task, TaskAction::Suspend).await {
                Ok(()) | Err(crate::WarehouseError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        for object in spec.objects().into_iter().rev() {
            self.drop_object(object.kind(), object.name(), true).await?;
        }
        Ok(())
    }

    /// All rows of a table.
    async fn table(&self, name: &str) -> Result<RecordBatch> {
        self.query(Relation::Table(name.to_owned())).await
    }

    /// A stream's change rows.
    async fn stream(&self, name: &str) -> Result<RecordBatch> {
        self.query(Relation::Stream(name.to_owned())).await
    }
}

impl<W: Warehouse + ?Sized> WarehouseExt for W {}
