//! Implicit deletes: keys a merge deletes although no change row names them.
//! Two options ask for them, and both are one rule — a *reset* at a place
//! in the change order, after which the table holds only what later rows
//! say:
//!
//! - a truncate row (`APPLY AS TRUNCATE WHEN`): the reset is at the last
//!   truncate row of the merge, by `(sequence, row)`; every key whose last
//!   applied change is not after it is deleted unless a later row of the
//!   merge changes it;
//! - a snapshot source with [`AbsentKeys::Delete`]: the reset is at the first
//!   row of the last snapshot; every key the snapshot does not name is
//!   deleted.
//!
//! Rows before the reset are superseded by it. The deletes become change rows
//! of the merge (the keys' stored values, operation DELETE), so every
//! strategy treats them as it treats any delete, and the change set, the
//! metrics and the key index follow with no special case.

use arrow::array::Array;
use hashbrown::HashSet;

use crate::change_batches::Changes;
use crate::keys::KeyRef;
use crate::spec::{AbsentKeys, ChangeSource};
use crate::table::{RowAddr, Table};
use crate::{Result, TableSpec};

/// What the resets of one merge did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Resets {
    /// Change rows before the reset, superseded by it.
    pub(crate) superseded: usize,
    /// Truncate rows read (they are neither applied nor rejected).
    pub(crate) truncate_rows: usize,
    /// Keys deleted because the reset left them out.
    pub(crate) deletes: usize,
    /// With a sequence: the sequence of the truncate, which every later
    /// change must not precede (the table's sequence floor).
    pub(crate) floor: Option<i64>,
}

/// Applies the merge's reset, if it has one, to `changes`: drops the rows it
/// supersedes and appends a delete row for each key it leaves out.
pub(crate) fn apply(spec: &TableSpec, table: &Table, changes: &mut Changes) -> Result<Resets> {
    let mut resets = Resets {
        truncate_rows: changes.truncates.len(),
        ..Resets::default()
    };
    let Some(reset) = reset_point(spec, changes) else {
        return Ok(resets);
    };
    resets.superseded = supersede(changes, reset);
    let bound = reset.sequence.filter(|_| spec.sequence().is_some());
    let Some(mut addrs) = left_out(spec, table, changes, reset, bound) else {
        // A snapshot row whose key cannot be read may name any key: absence
        // proves nothing, so nothing is deleted.
        return Ok(resets);
    };
    // Deterministic order (the index is a hash map): by where the rows are.
    addrs.sort_unstable();
    resets.deletes = addrs.len();
    resets.floor = bound;
    if !addrs.is_empty() {
        let rows = table.gather(&addrs)?;
        changes.append_deletes(table, spec, &rows, reset.sequence.unwrap_or(0))?;
    }
    Ok(resets)
}

/// The latest rows of the live keys the reset leaves out: not named after
/// it, and (with a sequence `bound`) last changed at or before it. `None`
/// when a snapshot row's key cannot be read.
fn left_out(
    spec: &TableSpec,
    table: &Table,
    changes: &Changes,
    reset: Reset,
    bound: Option<i64>,
) -> Option<Vec<RowAddr>> {
    let named = match reset.kind {
        Kind::Truncate => applied_keys(changes),
        Kind::Snapshot => snapshot_keys(spec, changes, reset.row)?,
    };
    Some(
        table
            .keys
            .iter()
            .filter(|(key, state)| {
                state.live
                    && !named.contains(key)
                    && bound.is_none_or(|b| state.sequence.is_none_or(|s| s <= b))
            })
            .filter_map(|(_, state)| state.latest)
            .collect(),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Truncate,
    Snapshot,
}

/// Where the reset is: rows at or before `(sequence, row)` are superseded.
#[derive(Debug, Clone, Copy)]
struct Reset {
    kind: Kind,
    sequence: Option<i64>,
    row: usize,
}

impl Reset {
    /// Whether change row `row` (at `sequence`) comes at or before the reset.
    fn precedes(&self, sequence: Option<i64>, row: usize) -> bool {
        match self.kind {
            Kind::Truncate => {
                (sequence.unwrap_or(0), row) <= (self.sequence.unwrap_or(0), self.row)
            }
            Kind::Snapshot => row < self.row,
        }
    }
}

fn reset_point(spec: &TableSpec, changes: &Changes) -> Option<Reset> {
    let sequence_of = |row: usize| changes.sequence.as_ref().map(|s| s[row]);
    if let ChangeSource::Snapshots(AbsentKeys::Delete) = spec.source() {
        return changes.batch_starts.last().map(|&row| Reset {
            kind: Kind::Snapshot,
            sequence: None,
            row,
        });
    }
    changes
        .truncates
        .iter()
        .map(|&row| (sequence_of(row).unwrap_or(0), row))
        .max()
        .map(|(sequence, row)| Reset {
            kind: Kind::Truncate,
            sequence: sequence_of(row).map(|_| sequence),
            row,
        })
}

/// Drops the change rows at or before the reset; returns how many.
fn supersede(changes: &mut Changes, reset: Reset) -> usize {
    let mut dropped = 0;
    for row in 0..changes.ops.len() {
        let sequence = changes.sequence.as_ref().map(|s| s[row]);
        if changes.ops[row].is_some() && reset.precedes(sequence, row) {
            changes.ops[row] = None;
            dropped += 1;
        }
    }
    dropped
}

/// Keys a change row still applies to (their own winners decide them).
fn applied_keys(changes: &Changes) -> HashSet<KeyRef<'_>> {
    (0..changes.ops.len())
        .filter(|&row| changes.ops[row].is_some())
        .map(|row| changes.key(row))
        .collect()
}

/// Keys the last snapshot names, rejected rows included (a key whose row is
/// bad is still in the snapshot: it is kept as stored); `None` when a row's
/// key cannot be read.
fn snapshot_keys<'c>(
    spec: &TableSpec,
    changes: &'c Changes,
    first: usize,
) -> Option<HashSet<KeyRef<'c>>> {
    let rows = first..changes.ops.len();
    let readable = spec
        .key()
        .iter()
        .all(|&k| (first..changes.ops.len()).all(|r| changes.business.column(k).is_valid(r)));
    readable.then(|| rows.map(|row| changes.key(row)).collect())
}
