//! What the [`crate::Warehouse`] methods take and return: the relation to read, a DML
//! change, `COPY INTO` options, load results, pipe status, task runs, and the `ALTER` actions
//! on pipes and tasks.

use std::time::SystemTime;

use arrow::array::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::catalog::OnError;
use crate::load::LoadError;

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

impl TaskRun {
    /// Attempt `attempt` of `task` in graph run `graph_run`, due at `scheduled_time` and
    /// started at `started`: executing, nothing counted, consumed or committed yet.
    pub fn begun(
        task: impl Into<String>,
        graph_run: u64,
        scheduled_time: SystemTime,
        started: SystemTime,
        attempt: u32,
    ) -> Self {
        TaskRun {
            task: task.into(),
            graph_run,
            state: TaskRunState::Executing,
            scheduled_time,
            started,
            completed: None,
            error: None,
            attempt,
            rows_consumed: 0,
            rows_written: 0,
            late_rows: 0,
            rejected_rows: 0,
            window: None,
            source_files: Vec::new(),
            version: None,
        }
    }
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
