//! The warehouse crate's integration tests: conformance, crash, pipeline, fault and limit tests of the embedded engine.
//!
//! One test binary for the crate: every file beside this one is a module of it, so the
//! crate's dependencies are linked once rather than once per file (each link of a test binary
//! is about 100 MB on disk in a debug build). `cargo test --test integration <module>::`
//! runs one file's tests.

mod support;

mod bad_files;
mod conformance;
mod crash;
mod event_time;
mod events;
mod faults;
mod limits;
mod liveness;
mod options;
mod pipeline;
mod pipes;
mod provided;
mod read_only;
mod rejects;
mod retention;
mod snapshots;
mod storage;
mod tasks;
