//! # snowdrift-testkit
//!
//! Fixtures the test suites of several snowdrift crates share (not published):
//!
//! - [`s3::S3Server`]: the s3s-fs crate's S3-compatible server on 127.0.0.1, started inside the
//!   test, stoppable and restartable on the same port with its data, plus an object_store
//!   client for its bucket. Tests never reach the internet.
//! - [`faults::FaultStore`]: an `ObjectStore` wrapper that fails a seeded share of calls and
//!   can crash right after a chosen commit, for fault and crash tests of durable code.
//! - [`fakesnow::FakeSnowServer`]: the fakesnow Snowflake emulator behind
//!   `fakesnow_adapter.py` (beside this crate's sources), for the snowflake crate's emulator tests.
//! - [`rows`]: batches as text cells, the one way the suites compare a batch with expected rows.
#![warn(missing_docs)]

pub mod fakesnow;
pub mod faults;
pub mod rows;
pub mod s3;
