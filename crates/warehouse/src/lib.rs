//! # snowdrift-warehouse
//!
//! The objects that make the original pipeline real-time — stages, file formats, pipes,
//! streams, tasks, tables — behind one [`Warehouse`] trait, and [`LocalWarehouse`], an embedded
//! engine with Snowflake's semantics that runs the whole flow on one machine, durably.
//!
//! - [`catalog`]: object definitions every backend understands; [`PipelineSpec`] declares the
//!   whole flow, with the original as its default.
//! - [`Warehouse`] / [`WarehouseExt`]: create and drop objects, load, query tables and
//!   streams, pipe status and copy history, task history, suspend/resume/execute tasks;
//!   `deploy` and `teardown` a [`PipelineSpec`].
//! - [`LocalWarehouse`]: the embedded engine. Loads each staged file exactly once, consumes raw
//!   by stream offsets (never by truncation), merges with `snowdrift-scd`, and commits every
//!   change atomically to a log on object_store, so a crash loses nothing and duplicates
//!   nothing.
//!
//! ```
//! use std::sync::Arc;
//! use arrow::array::{Int64Array, RecordBatch, StringArray};
//! use snowdrift_warehouse::{
//!     Column, ColumnType, CreateMode, Dml, LocalWarehouse, MergeDef, ObjectDef, StreamDef,
//!     TableDef, TableLayout, TaskBody, TaskDef, Warehouse, WarehouseExt,
//! };
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let warehouse = LocalWarehouse::builder("memory://").background(false).open().await?;
//! let columns = vec![
//!     Column::new("id", ColumnType::Number).not_null(),
//!     Column::new("email", ColumnType::Varchar),
//! ];
//! for object in [
//!     ObjectDef::Table(TableDef::new("raw", columns.clone())),
//!     ObjectDef::Table(TableDef::new("current", columns.clone()).with_key(["id"]).with_layout(TableLayout::scd1())),
//!     ObjectDef::Stream(StreamDef { name: "raw_stream".into(), table: "raw".into(), append_only: true, show_initial_rows: false }),
//!     ObjectDef::Task(TaskDef::new("merge_raw", TaskBody::Merge(MergeDef::new("raw_stream", "current")))),
//! ] {
//!     warehouse.create(object, CreateMode::Create).await?;
//! }
//! let rows = RecordBatch::try_from_iter(vec![
//!     ("id", Arc::new(Int64Array::from(vec![1, 2, 1])) as _),
//!     ("email", Arc::new(StringArray::from(vec!["a@x", "b@x", "a2@x"])) as _),
//! ])?;
//! warehouse.dml("raw", Dml::Insert(vec![rows])).await?;
//! assert!(warehouse.stream_has_data("raw_stream").await?);
//!
//! let run = warehouse.execute_task("merge_raw").await?;
//! assert_eq!(run.rows_consumed, 3);
//! assert_eq!(warehouse.table("current").await?.num_rows(), 2); // key 1 keeps its latest e-mail
//! assert_eq!(warehouse.table("raw").await?.num_rows(), 3);     // raw is never truncated…
//! assert_eq!(warehouse.stream("raw_stream").await?.num_rows(), 0); // …it is consumed by offset
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod backend;
pub mod catalog;
mod columns;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
mod ext;
mod load;
mod local;
mod records;
pub mod rejected;
pub mod rows;
mod scan;
mod schedule;
mod spec;

pub use backend::{Capabilities, Warehouse};
pub use catalog::{
    AbsentKeys, ChangePredicate, ChangeSource, Column, ColumnType, CreateMode,
    DEFAULT_MAX_DATA_EXTENSION_DAYS, DEFAULT_RETENTION_DAYS, FileFormatDef, IgnoreNullUpdates,
    LateChanges, MergeDef, ObjectDef, ObjectKind, OnBadRow, OnError, OnLateRow, OpenEnd, PipeDef,
    Scd1Delete, Scd2Delete, StageDef, StreamDef, TableDef, TableLayout, TaskBody, TaskCondition,
    TaskDef, ValidityColumns,
};
pub use error::{Result, WarehouseError};
pub use ext::WarehouseExt;
pub use load::{CsvFileFormat, FileCompression, LoadError, LoadLimits};
pub use local::{
    Clock, DEFAULT_MEMORY_BUDGET, DEFAULT_ROOT, LocalWarehouse, LocalWarehouseBuilder, PipeRetry,
    TableStorage, TaskState,
};
pub use records::{
    CopyOptions, Dml, DmlCount, FileLoad, LoadStatus, PipeAction, PipeExecutionState, PipeStatus,
    Relation, TaskAction, TaskRun, TaskRunState,
};
pub use scan::Scan;
pub use schedule::Schedule;
pub use spec::{ColumnSelection, EventTime, PipelineSpec};
