//! The snowflake crate's integration tests: rendered SQL, the deploy plan, the emulator differential suite and the live suite (skipped without an account).
//!
//! One test binary for the crate: every file beside this one is a module of it, so the
//! crate's dependencies are linked once rather than once per file (each link of a test binary
//! is about 100 MB on disk in a debug build). `cargo test --test integration <module>::`
//! runs one file's tests.

mod emulator;
mod live;
mod plan;
mod render;
