//! # snowdrift
//!
//! Real-time change pipelines into slowly changing dimensions, as Rust
//! libraries. This facade re-exports the member crates:
//!
//! - [`faker`]: seeded synthetic customers, change streams and ground truth.
//! - [`scd`]: SCD merges (Type 0, 1, 2) over Arrow, stream change sets, the
//!   history invariant checker.
//! - [`stage`]: CSV staging on object_store (local folder, memory, S3) with
//!   rolling, notifications and exactly-once folder pickup.
//! - [`warehouse`]: the `Warehouse` trait and the embedded engine (pipes,
//!   streams, tasks), durable on object_store.
//! - `sql` (feature `sql`): SQL over the embedded warehouse in
//!   Snowflake's dialect, with DataFusion (`snowdrift sql`).
//! - `snowflake` (feature `snowflake`): the same pipeline deployed to and run on
//!   Snowflake through `snowflake-connector-rs`.
//! - [`verify`]: checking a pipeline run against the faker's ground truth
//!   and the SCD invariants; freshness of a run.
//! - `deploy` (feature `snowflake`): deploy the pipeline to Snowflake or tear it down.
//! - [`run`]: the whole pipeline, verified (`snowdrift run`).
//! - [`replay`]: the ground truth rebuilt in the grouping of a run's merges,
//!   to check the whole history and the rejected late rows.
//! - [`workloads`]: reproducible data sets for benchmarks and peer
//!   comparisons.
//!
//! See the repository's `README.md` and `docs/` for the whole picture.
#![warn(missing_docs)]

pub use snowdrift_faker as faker;
pub use snowdrift_scd as scd;
#[cfg(feature = "snowflake")]
pub use snowdrift_snowflake as snowflake;
#[cfg(feature = "sql")]
pub use snowdrift_sql as sql;
pub use snowdrift_stage as stage;
pub use snowdrift_warehouse as warehouse;

#[cfg(feature = "snowflake")]
pub mod deploy;
pub mod replay;
pub mod run;
pub mod verify;
pub mod workloads;

/// The code blocks of the user guides in `docs/`, compiled and run as doc
/// tests so that every snippet works as written.
#[cfg(doctest)]
mod guides {
    #[doc = include_str!("../docs/faker.md")]
    struct FakerGuide;

    #[doc = include_str!("../docs/scd.md")]
    struct ScdGuide;

    #[doc = include_str!("../docs/stage.md")]
    struct StageGuide;

    #[doc = include_str!("../docs/warehouse.md")]
    struct WarehouseGuide;

    // Its Snowflake snippet needs the `snowflake` feature (ci/test builds with all features).
    #[cfg(feature = "snowflake")]
    #[doc = include_str!("../docs/configuration.md")]
    struct ConfigurationGuide;

    #[doc = include_str!("../docs/operations.md")]
    struct OperationsGuide;

    #[cfg(feature = "sql")]
    #[doc = include_str!("../docs/sql.md")]
    struct SqlGuide;
}
