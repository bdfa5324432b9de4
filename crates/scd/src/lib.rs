//! # snowdrift-scd
//!
//! Slowly changing dimension merges over Arrow
//! [`RecordBatch`](arrow::array::RecordBatch)es: the semantics of snowdrift,
//! written once, pure and synchronous (no I/O).
//!
//! - [`TableSpec`] describes a table: business columns, key (composite keys
//!   allowed), compared columns, an optional sequence that orders versions,
//!   and how change rows carry their operation ([`ChangeFormat`]).
//! - [`MergeStrategy`] is an SCD type. [`Scd1`] keeps the latest state,
//!   [`Scd2`] the full history, [`Scd0`] the first values; other types are
//!   other implementations, with no change to the engine.
//! - [`merge`] applies a batch of changes to a [`Table`] and returns
//!   [`MergeMetrics`], the [`ChangeSet`] a standard stream on the table would
//!   show, and the late changes it rejected.
//! - [`net_changes`] folds consecutive change sets into the net change a
//!   stream reports; [`check_history`] checks the invariants of any history
//!   table.
//!
//! The rules (one winner per key, null-safe comparison, logical deletes,
//! strict version order, late changes) are described in `docs/scd.md`.
//!
//! ```
//! use std::sync::Arc;
//! use arrow::array::{Int64Array, RecordBatch, StringArray};
//! use arrow::datatypes::{DataType, Field, Schema};
//! use snowdrift_scd::{MergeContext, MergeStrategy as _, Scd1, Scd2, TableSpec, merge};
//!
//! let schema = Arc::new(Schema::new(vec![
//!     Field::new("customer_id", DataType::Int64, false),
//!     Field::new("email", DataType::Utf8, true),
//! ]));
//! let spec = TableSpec::builder("customer", schema.clone()).key(["customer_id"]).build()?;
//! let batch = |email: &str| RecordBatch::try_new(schema.clone(), vec![
//!     Arc::new(Int64Array::from(vec![1])),
//!     Arc::new(StringArray::from(vec![email])),
//! ]);
//!
//! let (scd1, scd2) = (Scd1::default(), Scd2::default());
//! let mut customer = scd1.create_table(&spec)?;
//! let mut history = scd2.create_table(&spec)?;
//! for (t, email) in [(1, "a@x"), (2, "b@x")] {
//!     let changed = merge(&scd1, &spec, &mut customer, &[&batch(email)?], MergeContext::at(t))?;
//!     // The history follows the SCD-1 table's change set, as a task on a stream.
//!     let stream_spec = TableSpec::builder("customer_history", schema.clone())
//!         .key(["customer_id"])
//!         .format(snowdrift_scd::ChangeFormat::Stream)
//!         .build()?;
//!     merge(&scd2, &stream_spec, &mut history, &[changed.changes.batch()?], MergeContext::at(t))?;
//! }
//! assert_eq!(customer.num_rows(), 1);
//! assert_eq!(history.num_rows(), 2); // a closed version and the current one
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod assemble;
mod change_batches;
mod changeset;
mod error;
mod event_history;
mod event_time;
mod implicit_deletes;
mod invariants;
mod keys;
mod merge;
mod null_updates;
mod operation;
mod predicate;
mod prepared;
mod reject;
mod scd0;
mod scd1;
mod scd2;
mod segment;
mod spec;
pub mod strategy;
mod table;
#[cfg(test)]
mod testing;
mod validity;
mod versions;

pub use changeset::{ACTION, ChangeSet, IS_UPDATE, ROW_ID, net_changes, row_ids};
pub use error::{Result, ScdError};
pub use event_history::EventTimeRules;
pub use invariants::{Rule, Violation, check_history};
pub use merge::{
    LateChange, MergeMetrics, MergeOutcome, load_into, load_table, load_table_with_row_ids, merge,
    prepare_merge,
};
pub use null_updates::IgnoreNullUpdates;
pub use operation::{ChangeOp, OPERATION_TRIM, Operation};
pub use predicate::ChangePredicate;
pub use prepared::PreparedMerge;
pub use reject::{OnBadRow, RejectReason, Rejection, late_detail};
pub use scd0::Scd0;
pub use scd1::{Scd1, Scd1Delete};
pub use scd2::{LateChanges, Scd2, Scd2Delete};
pub use spec::{AbsentKeys, ChangeFormat, ChangeSource, TIMESTAMP, TableSpec, TableSpecBuilder};
pub use strategy::{KeyOutcome, MergeContext, MergeStrategy};
pub use table::{APPLIED_SEQUENCE, RowAddr, SEQUENCE_FLOOR, Table, TableSnapshot};
pub use validity::{OPEN_END_MICROS, OpenEnd, ValidityColumns, version_id};
