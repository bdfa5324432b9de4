//! # snowdrift-snowflake
//!
//! The snowdrift pipeline on Snowflake. **Work in progress** (issue 7): this crate has the
//! configuration and the DDL rendering; the task bodies (the SCD-1 and SCD-2 merges), the
//! deploy plan, the connection through `snowflake-connector-rs` and the `Warehouse`
//! implementation are not written yet.
//!
//! - [`SnowflakeConfig`]: account, user, password or key pair, role, warehouse, database,
//!   schema and an endpoint override, from `SNOWFLAKE_*` variables; secrets are [`Secret`]s,
//!   redacted in `Debug` and never in errors.
//! - [`sql`]: identifiers validated and quoted, literals escaped — no name or value can inject
//!   SQL.
//! - [`Renderer`]: tables, CSV file formats, stages (storage integration, or keys from the
//!   environment shown as `***`), pipes and streams as Snowflake DDL; [`render::schedule`] for
//!   task schedules.
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
pub mod merge;
mod plan;
pub mod render;
pub mod results;
mod secret;
pub mod sql;
pub mod values;
mod warehouse;

pub use config::{Auth, SnowflakeConfig};
pub use connection::Connection;
pub use error::{Result, SnowflakeError};
pub use merge::Now;
pub use plan::Plan;
pub use render::{Renderer, SourceShape, StageAccess, Statement};
pub use secret::Secret;
pub use warehouse::SnowflakeWarehouse;
