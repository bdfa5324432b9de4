//! [`FaultStore`]: an `ObjectStore` wrapper for fault tests of anything durable, and the
//! [`FaultPlan`] that says what it does. It can
//!
//! - fail a seeded random share of puts, gets, heads and lists with transient errors (the
//!   same seed fails the same calls, call for call);
//! - *crash*: let a given number of commit-log puts through (puts whose path has a `log/`
//!   folder), then refuse every later put, as if the process had died right after that
//!   commit. Reopening the warehouse on the inner store is the restart;
//! - fail the next puts, commit-log puts, multipart parts or gets of a path on purpose, or
//!   every put into a folder;
//! - hold commits, or every put, until the test lets them through, and count the puts that
//!   reached the store and how many were in flight at once.
//!
//! One wrapper serves the stage's tests (uploads) and the warehouse's (commits, checkpoints).

mod plan;
mod store;

pub use plan::FaultPlan;
pub use store::FaultStore;
