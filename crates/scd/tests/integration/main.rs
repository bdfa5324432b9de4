//! The scd crate's integration tests: golden merges, properties against reference models, options, streams, event time.
//!
//! One test binary for the crate: every file beside this one is a module of it, so the
//! crate's dependencies are linked once rather than once per file (each link of a test binary
//! is about 100 MB on disk in a debug build). `cargo test --test integration <module>::`
//! runs one file's tests.

mod common;

mod event_time;
mod faker_truth;
mod golden;
mod options;
mod properties;
mod rejects;
mod streams;
mod truncates_and_snapshots;
mod validity;
