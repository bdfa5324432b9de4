//! # snowdrift-sql
//!
//! SQL over the embedded warehouse, in Snowflake's dialect, planned and run by
//! [Apache DataFusion](https://datafusion.apache.org): the warehouse's tables, its streams
//! (reading one never moves its offset), the rejected tables, and Snowflake's metadata views
//! (`information_schema.copy_history`, `TABLE(information_schema.task_history())`,
//! `SYSTEM$PIPE_STATUS`, `SYSTEM$STREAM_HAS_DATA`). `INSERT`, `UPDATE`, `DELETE` and the task
//! and pipe commands are executed by the warehouse itself, so streams and tasks see them.
//!
//! It is its own crate so that users of the other snowdrift crates do not compile DataFusion.
//! `docs/sql.md` lists what is supported and how it differs from Snowflake.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use snowdrift_sql::SqlSession;
//! use snowdrift_warehouse::{LocalWarehouse, PipelineSpec, WarehouseExt};
//!
//! let dir = tempfile::tempdir()?;
//! let spec = PipelineSpec { stage_url: dir.path().join("stage").to_str().unwrap().into(), ..PipelineSpec::default() };
//! let warehouse = Arc::new(LocalWarehouse::builder(dir.path().join("wh").to_str().unwrap()).background(false).open().await?);
//! warehouse.deploy(&spec).await?;
//!
//! let sql = SqlSession::new(warehouse);
//! sql.execute("insert into customer values(223136,'Jessica','Arnold','tanner39@smith.com','595 Benjamin Forge Suite 124','Michaelstad','Connecticut','Cape Verde',current_timestamp())").await?;
//! let changes = sql.execute("select customer_id, METADATA$ACTION from customer_table_changes").await?;
//! assert_eq!(changes.num_rows(), 1);
//! sql.execute("execute task customer_scd1_task").await?; // and, after it, the SCD-2 task
//! let current = sql.execute("select * from customer_history where IS_CURRENT = TRUE").await?;
//! assert_eq!(current.num_rows(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
#![warn(missing_docs)]

mod commands;
mod dml;
mod error;
mod functions;
mod metadata;
mod relations;
mod rewrite;
mod script;
mod session;
mod show;

pub use error::{Result, SqlError};
pub use script::{Statements, split_statements};
pub use session::{QueryResult, SqlSession};
