//! The [`Warehouse`] trait every backend implements (the extension point alone; the
//! embedded engine is in `local`, Snowflake in its own crate) and the [`Capabilities`] that
//! say which of its optional methods a backend has.

use arrow::array::RecordBatch;
use async_trait::async_trait;
use futures::StreamExt as _;
use futures::stream::BoxStream;

use crate::catalog::{CreateMode, ObjectDef, ObjectKind};
use crate::error::Result;
use crate::records::{
    CopyOptions, Dml, DmlCount, FileLoad, PipeAction, PipeStatus, Relation, TaskAction, TaskRun,
};
use crate::scan::{Scan, ScanPlan};

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
