//! # snowdrift-snowflake
//!
//! The snowdrift pipeline on Snowflake: the same [`PipelineSpec`](snowdrift_warehouse::PipelineSpec)
//! the embedded engine runs, rendered to Snowflake SQL, deployed as a plan, and operated behind
//! the same [`Warehouse`](snowdrift_warehouse::Warehouse) trait through
//! `snowflake-connector-rs` (this is the only crate that depends on it).
//!
//! - [`SnowflakeConfig`]: account, user, password or key pair, role, warehouse, database,
//!   schema and an endpoint override, from `SNOWFLAKE_*` variables or a builder; secrets are
//!   [`Secret`]s, redacted in `Debug` and never in errors.
//! - [`sql`]: identifiers validated and quoted, literals escaped — no name or value can inject
//!   SQL. [`values`]: Arrow rows as escaped `VALUES`.
//! - [`Renderer`]: tables, the CSV file format, the stage (storage integration, or keys from
//!   the environment shown as `***`), the auto-ingest pipe, streams, tasks, and the two merge
//!   task bodies ([`merge`]): SCD-1 consuming raw through a stream, SCD-2 through the stream
//!   on the SCD-1 table, with the original's five defects fixed; [`reject`]: rejected rows
//!   and durable late detection for the SCD-1 merge, in one transaction.
//! - [`SqlPlan`]: deploy and teardown in dependency order, safe to apply twice, tasks resumed
//!   children first.
//! - [`SnowflakeWarehouse`]: the [`Warehouse`](snowdrift_warehouse::Warehouse) on an account —
//!   objects, DML, COPY, tables and streams as `RecordBatch`es, pipe status and refresh, copy
//!   and task history, execute, suspend and resume. Its answers are read into the
//!   warehouse's records (`FileLoad`, `PipeStatus`, `TaskRun`); no type of the connector is
//!   in this crate's public API.
//!
//! Verified by rendered-SQL tests, by an emulator suite that runs the rendered merges on
//! fakesnow through the real connector and compares every table with the embedded engine, and
//! by a live suite on a real account (when `SNOWFLAKE_*` is set). See `docs/configuration.md`
//! for the variables and the privileges the role needs.
//!
//! ```
//! use snowdrift_snowflake::Renderer;
//! use snowdrift_warehouse::{ObjectDef, PipelineSpec};
//!
//! let spec = PipelineSpec::default();
//! let renderer = Renderer::new("snowdrift", "public");
//! let ObjectDef::Table(raw) = &spec.objects()[0] else { unreachable!() };
//! assert_eq!(
//!     renderer.table(raw)?.to_string(),
//!     "CREATE TABLE IF NOT EXISTS \"SNOWDRIFT\".\"PUBLIC\".\"CUSTOMER_RAW\" (\"CUSTOMER_ID\" NUMBER(38,0) NOT NULL, \
//!      \"FIRST_NAME\" VARCHAR, \"LAST_NAME\" VARCHAR, \"EMAIL\" VARCHAR, \"STREET\" VARCHAR, \"CITY\" VARCHAR, \
//!      \"STATE\" VARCHAR, \"COUNTRY\" VARCHAR)"
//! );
//! # Ok::<(), snowdrift_snowflake::SnowflakeError>(())
//! ```
#![warn(missing_docs)]

mod config;
mod connection;
mod decode;
mod dml;
mod error;
mod implicit_deletes;
pub mod merge;
mod plan;
mod predicate;
pub mod reject;
pub mod render;
mod results;
mod secret;
pub mod sql;
pub mod values;
mod warehouse;

pub use config::{Auth, SnowflakeConfig};
pub use connection::Connection;
pub use error::{Result, SnowflakeError};
pub use merge::Now;
pub use plan::SqlPlan;
pub use render::{Renderer, SourceShape, StageAccess, Statement};
pub use secret::Secret;
pub use warehouse::SnowflakeWarehouse;
