//! The invariant checker for history tables: what must hold of any SCD-2
//! table, whoever wrote it.

use std::fmt;

use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::row::{RowConverter, SortField};

use crate::keys::display_value;
use crate::validity::{OPEN_END_MICROS, ValidityColumns};
use crate::{Result, ScdError, TableSpec};

/// One broken invariant, with the key and rows (0-based, in the checked
/// batch) it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The key, as text (`a|b` for composite keys).
    pub key: String,
    /// The rows involved.
    pub rows: Vec<usize>,
    /// Which rule.
    pub rule: Rule,
}

/// The invariants of a history table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// At most one current row per key.
    OneCurrent,
    /// Every interval ends after it starts.
    EndAfterStart,
    /// A row is current exactly when its end is open (9999-12-31).
    CurrentIffOpen,
    /// Intervals of one key do not overlap.
    NoOverlap,
    /// Each interval ends where the key's next one starts (checked only
    /// when gaps are not allowed).
    Contiguous,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "key {}: {:?} broken by rows {:?}",
            self.key, self.rule, self.rows
        )
    }
}

/// Check a history table. `allow_gaps` accepts gaps between versions (a
/// logical delete closes a version without opening one); pass `false` for
/// tables that never delete or that use tombstones.
///
/// Returns every violation found; an empty list means the table is sound.
///
/// # Errors
///
/// [`crate::ScdError::TargetShape`] when `history` lacks a key or validity
/// column or holds one of another type (a violation of the rules is not an
/// error: it is in the list).
pub fn check_history(
    history: &RecordBatch,
    spec: &TableSpec,
    columns: &ValidityColumns,
    allow_gaps: bool,
) -> Result<Vec<Violation>> {
    let (keys, names) = keys_of(history, spec)?;
    let start = times(history, spec, &columns.start)?;
    let end = crate::validity::end_times(column(history, spec, &columns.end)?)?;
    let current = flags(history, spec, &columns.current)?;
    let mut rows: Vec<usize> = (0..history.num_rows()).collect();
    rows.sort_by(|&a, &b| (&keys[a], start.value(a), a).cmp(&(&keys[b], start.value(b), b)));
    let mut out = Vec::new();
    let violation = |row: usize, rows: Vec<usize>, rule| Violation {
        key: names[row].clone(),
        rows,
        rule,
    };
    for (i, &r) in rows.iter().enumerate() {
        if end.value(r) <= start.value(r) {
            out.push(violation(r, vec![r], Rule::EndAfterStart));
        }
        if current.value(r) != (end.value(r) == OPEN_END_MICROS) {
            out.push(violation(r, vec![r], Rule::CurrentIffOpen));
        }
        let Some(&next) = rows.get(i + 1).filter(|&&n| keys[n] == keys[r]) else {
            continue;
        };
        if current.value(r) && current.value(next) {
            out.push(violation(r, vec![r, next], Rule::OneCurrent));
        }
        if end.value(r) > start.value(next) {
            out.push(violation(r, vec![r, next], Rule::NoOverlap));
        } else if !allow_gaps && end.value(r) < start.value(next) {
            out.push(violation(r, vec![r, next], Rule::Contiguous));
        }
    }
    Ok(out)
}

fn column<'a>(b: &'a RecordBatch, spec: &TableSpec, name: &str) -> Result<&'a ArrayRef> {
    b.column_by_name(name).ok_or_else(|| ScdError::TargetShape {
        table: spec.name().to_string(),
        reason: format!("the history has no column `{name}`"),
    })
}

fn times(b: &RecordBatch, spec: &TableSpec, name: &str) -> Result<Int64Array> {
    let c = cast(column(b, spec, name)?, &DataType::Int64)?;
    let c = c
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("cast to Int64")
        .clone();
    if c.null_count() > 0 {
        return Err(ScdError::TargetShape {
            table: spec.name().to_string(),
            reason: format!("column `{name}` holds NULLs"),
        });
    }
    Ok(c)
}

fn flags(b: &RecordBatch, spec: &TableSpec, name: &str) -> Result<BooleanArray> {
    let c = cast(column(b, spec, name)?, &DataType::Boolean)?;
    Ok(c.as_any()
        .downcast_ref::<BooleanArray>()
        .expect("cast to Boolean")
        .clone())
}

/// Each row's key as comparable bytes, and as text for messages.
fn keys_of(b: &RecordBatch, spec: &TableSpec) -> Result<(Vec<Vec<u8>>, Vec<String>)> {
    let cols: Vec<ArrayRef> = spec
        .key_names()
        .iter()
        .map(|n| column(b, spec, n).cloned())
        .collect::<Result<_>>()?;
    let converter = RowConverter::new(
        cols.iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )?;
    let encoded = converter.convert_columns(&cols)?;
    let bytes = (0..b.num_rows())
        .map(|r| encoded.row(r).data().to_vec())
        .collect();
    let names = (0..b.num_rows())
        .map(|r| {
            let parts: Vec<String> = cols.iter().map(|c| display_value(c.as_ref(), r)).collect();
            parts.join("|")
        })
        .collect();
    Ok((bytes, names))
}
