//! The validity columns of a history table and how they are written and read:
//! their names, the open end of a current version (`9999-12-31` as in the
//! original and dbt's `dbt_valid_to_current`, or NULL as in Databricks AUTO
//! CDC and dbt's default), and the optional version id (dbt's `dbt_scd_id`).
//!
//! Every writer of history rows (the SCD-2 strategy and the event-time
//! re-stitcher) writes the system values through [`system_values`] and
//! [`with_version_ids`]; every reader of an end column reads it through
//! [`end_times`], so the open end has one meaning whatever its spelling.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use md5::{Digest, Md5};

use crate::Result;
use crate::strategy::{SystemValue, SystemValues};

/// 9999-12-31T00:00:00, the original's "open" end time, in µs. The engine
/// computes with it whatever [`OpenEnd`] a table writes.
pub const OPEN_END_MICROS: i64 = 253_402_214_400_000_000;

/// How a current version's end is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum OpenEnd {
    /// `9999-12-31 00:00:00` ([`OPEN_END_MICROS`]): the original's and dbt's
    /// `dbt_valid_to_current` (the default). `end > t` needs no NULL test.
    #[default]
    FarFuture,
    /// NULL, as Databricks AUTO CDC (`__END_AT`) and dbt by default
    /// (`dbt_valid_to`) write it. The end column is then nullable.
    Null,
}

/// Names of the validity columns of a history table, how the open end is
/// written, and the optional version id column.
///
/// ```
/// use snowdrift_scd::{OpenEnd, ValidityColumns};
/// let dbt = ValidityColumns::dbt();
/// assert_eq!((dbt.start.as_str(), dbt.end.as_str()), ("dbt_valid_from", "dbt_valid_to"));
/// assert_eq!(dbt.open_end, OpenEnd::Null);
/// assert_eq!(dbt.scd_id.as_deref(), Some("dbt_scd_id"));
/// // dbt's `hard_deletes: new_record`: tombstones flagged in `dbt_is_deleted`.
/// let with_tombstones = dbt.with_tombstones("dbt_is_deleted");
/// assert!(with_tombstones.deleted.is_some());
/// ```
///
/// With the `serde` feature this is the form a catalog stores (the warehouse's table
/// definitions use it): `open_end` and `scd_id` may be left out and take their defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ValidityColumns {
    /// When the version became valid (inclusive).
    pub start: String,
    /// When it stopped being valid (exclusive); open per [`Self::open_end`]
    /// while current.
    pub end: String,
    /// Whether it is the key's current version.
    pub current: String,
    /// A column flagging tombstone versions, when the history has one (none
    /// by default). [`crate::Scd2Delete::CloseWithTombstone`] needs it; with
    /// another delete rule the column is kept and written `FALSE`.
    pub deleted: Option<String>,
    /// How the end of a current version is written (default
    /// [`OpenEnd::FarFuture`]).
    #[cfg_attr(feature = "serde", serde(default))]
    pub open_end: OpenEnd,
    /// A column holding each version's id, as dbt's `dbt_scd_id`: the MD5 (32
    /// lowercase hex digits) of the key's values and the version's start,
    /// see [`version_id`]. `None` (the default): no such column.
    #[cfg_attr(feature = "serde", serde(default))]
    pub scd_id: Option<String>,
}

impl Default for ValidityColumns {
    fn default() -> Self {
        Self {
            start: "start_time".into(),
            end: "end_time".into(),
            current: "is_current".into(),
            deleted: None,
            open_end: OpenEnd::FarFuture,
            scd_id: None,
        }
    }
}

impl ValidityColumns {
    /// These columns with tombstones flagged in `column`, as
    /// [`crate::Scd2Delete::CloseWithTombstone`] needs.
    ///
    /// ```
    /// use snowdrift_scd::ValidityColumns;
    /// let columns = ValidityColumns::default().with_tombstones("is_deleted");
    /// assert_eq!(columns.deleted.as_deref(), Some("is_deleted"));
    /// ```
    pub fn with_tombstones(self, column: impl Into<String>) -> Self {
        Self {
            deleted: Some(column.into()),
            ..self
        }
    }

    /// dbt snapshot names: `dbt_valid_from`, `dbt_valid_to` (NULL while
    /// current), `dbt_scd_id`, no tombstones (dbt's `hard_deletes:
    /// new_record` is [`crate::Scd2Delete::CloseWithTombstone`] with
    /// `deleted: Some("dbt_is_deleted")`).
    /// dbt has no current flag; snowdrift keeps one, `dbt_is_current`. For
    /// `dbt_valid_to_current = '9999-12-31'`, set
    /// [`Self::open_end`] to [`OpenEnd::FarFuture`].
    pub fn dbt() -> Self {
        Self {
            start: "dbt_valid_from".into(),
            end: "dbt_valid_to".into(),
            current: "dbt_is_current".into(),
            deleted: None,
            open_end: OpenEnd::Null,
            scd_id: Some("dbt_scd_id".into()),
        }
    }

    /// Databricks AUTO CDC names: `__START_AT`, `__END_AT` (NULL while
    /// current). AUTO CDC has no current flag or tombstones; snowdrift keeps
    /// `__IS_CURRENT`.
    pub fn auto_cdc() -> Self {
        Self {
            start: "__START_AT".into(),
            end: "__END_AT".into(),
            current: "__IS_CURRENT".into(),
            deleted: None,
            open_end: OpenEnd::Null,
            scd_id: None,
        }
    }
}

/// The system columns of a version, in the order of [`crate::Scd2`]'s
/// target schema: start, end (written per [`OpenEnd`]), current (the end is
/// open), the tombstone flag (when the history has the column), then the
/// version id, left NULL here and filled by [`with_version_ids`].
pub(crate) fn system_values(
    columns: &ValidityColumns,
    start: i64,
    end: i64,
    deleted: bool,
) -> SystemValues {
    let open = end == OPEN_END_MICROS;
    let end = match (open, columns.open_end) {
        (true, OpenEnd::Null) => SystemValue::Null,
        _ => SystemValue::Timestamp(end),
    };
    // On the stack: this runs once per written version.
    let values = [
        SystemValue::Timestamp(start),
        end,
        SystemValue::Bool(open),
        SystemValue::Bool(deleted),
        SystemValue::Null,
    ];
    if columns.deleted.is_some() {
        SystemValues::from_slice(&values)
    } else {
        SystemValues::from_slice(&[values[0], values[1], values[2], values[4]])
    }
}

/// An end column as µs, with the open end (NULL or [`OPEN_END_MICROS`]) as
/// [`OPEN_END_MICROS`].
pub(crate) fn end_times(column: &ArrayRef) -> Result<Int64Array> {
    let ends = crate::strategy::times(column)?;
    if ends.null_count() == 0 {
        return Ok(ends);
    }
    Ok(ends
        .iter()
        .map(|end| Some(end.unwrap_or(OPEN_END_MICROS)))
        .collect())
}

/// The id of the version of the key whose values are `key` that starts at
/// `start_micros`: the MD5 of the key's values as text, then the start as µs
/// since the epoch, joined by `|`, as 32 lowercase hex digits. The Snowflake
/// backend renders the same expression, so ids agree across backends for keys
/// of integer and text types.
///
/// ```
/// assert_eq!(
///     snowdrift_scd::version_id(&["42"], 1_700_000_000_000_000),
///     snowdrift_scd::version_id(&["42"], 1_700_000_000_000_000),
/// );
/// assert_ne!(
///     snowdrift_scd::version_id(&["42"], 0),
///     snowdrift_scd::version_id(&["4", "2"], 0),
/// );
/// ```
pub fn version_id(key: &[&str], start_micros: i64) -> String {
    let mut hasher = Md5::new();
    for part in key {
        hasher.update(part.as_bytes());
        hasher.update(b"|");
    }
    hasher.update(start_micros.to_string().as_bytes());
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// `batch` (rows of a history table) with its version id column, if the
/// table has one, computed from the key columns `key` and the start column.
pub(crate) fn with_version_ids(
    columns: &ValidityColumns,
    key: &[usize],
    batch: RecordBatch,
) -> Result<RecordBatch> {
    let Some(id_name) = &columns.scd_id else {
        return Ok(batch);
    };
    let schema = batch.schema();
    let (Ok(id), Ok(start)) = (schema.index_of(id_name), schema.index_of(&columns.start)) else {
        return Ok(batch);
    };
    let starts = crate::strategy::times(batch.column(start))?;
    let keys = key
        .iter()
        .map(|&k| Ok(cast(batch.column(k), &DataType::Utf8)?))
        .collect::<Result<Vec<ArrayRef>>>()?;
    let keys: Vec<&arrow::array::StringArray> = keys
        .iter()
        .filter_map(|k| k.as_any().downcast_ref())
        .collect();
    let mut ids = StringBuilder::with_capacity(batch.num_rows(), batch.num_rows() * 32);
    let mut parts: Vec<&str> = Vec::with_capacity(keys.len());
    for row in 0..batch.num_rows() {
        parts.clear();
        parts.extend(
            keys.iter()
                .map(|k| if k.is_valid(row) { k.value(row) } else { "" }),
        );
        ids.append_value(version_id(&parts, starts.value(row)));
    }
    let mut out: Vec<ArrayRef> = batch.columns().to_vec();
    out[id] = Arc::new(ids.finish());
    Ok(RecordBatch::try_new(schema, out)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_id_is_the_md5_of_key_and_start() {
        // As `printf '42|0' | md5sum` and `printf '7|1|1700000000000000' | md5sum` print them.
        assert_eq!(version_id(&["42"], 0), "b85192cd8ad81ee02f2462c82a29afda");
        assert_eq!(
            version_id(&["7", "1"], 1_700_000_000_000_000),
            "252a32d5a60fb99432de61033ac654b9"
        );
    }

    #[test]
    fn an_open_end_is_written_as_asked_and_read_back_as_open() {
        let null = ValidityColumns::dbt();
        let values = system_values(&null, 1, OPEN_END_MICROS, false);
        assert_eq!(values.get(1), SystemValue::Null);
        assert_eq!(values.get(2), SystemValue::Bool(true));
        let far = ValidityColumns::default();
        let values = system_values(&far, 1, OPEN_END_MICROS, false);
        assert_eq!(values.get(1), SystemValue::Timestamp(OPEN_END_MICROS));
        let column: ArrayRef = Arc::new(Int64Array::from(vec![Some(5), None]));
        let ends = end_times(&column).unwrap();
        assert_eq!(ends.values(), &[5, OPEN_END_MICROS]);
    }
}
