//! `IGNORE NULL UPDATES` (Databricks AUTO CDC's name): a NULL in an update
//! keeps the value the key has, so a source may send only the columns that
//! changed. The option ([`IgnoreNullUpdates`]) and the one rule that applies
//! it ([`fill_nulls`]) live here; the merge engine calls the rule on the
//! winning changes before comparing them, and the Snowflake rendering writes
//! the same rule as `COALESCE(change, stored)`.
//!
//! The rule: for an upsert of a key that exists (a live row), each listed
//! column that is NULL in the change takes the key's current value. An insert
//! of a new (or deleted) key keeps its NULLs: there is no value to keep.

use arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::{is_null, take};

use crate::strategy::Winner;
use crate::{ChangeOp, Result};

/// Which columns keep their stored value when a change holds NULL there.
///
/// ```
/// use std::sync::Arc;
/// use arrow::datatypes::{DataType, Field, Schema};
/// use snowdrift_scd::{IgnoreNullUpdates, TableSpec};
/// let schema = Arc::new(Schema::new(vec![
///     Field::new("id", DataType::Int64, false),
///     Field::new("email", DataType::Utf8, true),
///     Field::new("city", DataType::Utf8, true),
/// ]));
/// let spec = TableSpec::builder("customer", schema)
///     .key(["id"])
///     .ignore_null_updates(IgnoreNullUpdates::Columns(vec!["email".into()]))
///     .build()?;
/// assert_eq!(spec.ignore_null_updates(), &[1]);
/// # Ok::<(), snowdrift_scd::ScdError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum IgnoreNullUpdates {
    /// A NULL in a change is a value like any other (the default).
    #[default]
    Off,
    /// Every business column outside the key (`IGNORE NULL UPDATES`).
    All,
    /// Only these columns.
    Columns(Vec<String>),
    /// Every business column outside the key but these.
    AllExcept(Vec<String>),
}

/// The winners' business values with the NULLs of `columns` filled from
/// each live key's latest row (`latest`, at `latest_row`), for upserts.
pub(crate) fn fill_nulls(
    columns: &[usize],
    winners: &[Winner],
    values: RecordBatch,
    latest: &RecordBatch,
    latest_row: &[Option<usize>],
) -> Result<RecordBatch> {
    if columns.is_empty() || winners.is_empty() {
        return Ok(values);
    }
    let stored_at = UInt32Array::from_iter(winners.iter().zip(latest_row).map(|(w, row)| {
        row.filter(|_| w.live && w.op == ChangeOp::Upsert)
            .map(|r| r as u32)
    }));
    let mut out: Vec<ArrayRef> = values.columns().to_vec();
    for &c in columns {
        let change = values.column(c);
        if change.null_count() == 0 {
            continue;
        }
        let stored = take(latest.column(c).as_ref(), &stored_at, None)?;
        let null = is_null(change.as_ref())?;
        out[c] = arrow::compute::kernels::zip::zip(&null, &stored, change)?;
    }
    Ok(RecordBatch::try_new(values.schema(), out)?)
}
