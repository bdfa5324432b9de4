//! The snowdrift facade's integration tests: the command line (run, status, export, sql) and the customer columns every peer shares.
//!
//! One test binary for the crate: every file beside this one is a module of it, so the
//! crate's dependencies are linked once rather than once per file (each link of a test binary
//! is about 100 MB on disk in a debug build). `cargo test --test integration <module>::`
//! runs one file's tests.

mod support;

mod cli;
mod cli_sql;
mod customer_columns;
