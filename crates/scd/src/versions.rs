//! The version index of a history sequenced by event time: every version of
//! each key, in start order, so that a late change finds the versions around
//! its time without a scan.
//!
//! A [`crate::Table`] keeps one only for such histories (the key index alone
//! points at each key's latest row). Entries carry the version's start, so
//! that a merge gathers only the versions from the one holding its earliest
//! change onwards: an in-order change reads one version, as without the
//! index.

use crate::keys::{KeyMap, KeyRef};
use crate::table::RowAddr;

/// Every version of each key: `(start, row)`, in start order.
#[derive(Debug, Clone)]
pub(crate) struct VersionIndex {
    keys: KeyMap<Vec<(i64, RowAddr)>>,
    columns: WindowColumns,
}

/// What a table needs to keep the versions of a lateness window: the
/// validity columns and the bound (see [`crate::LateChanges::Restitch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WindowColumns {
    /// The start column.
    pub(crate) start: usize,
    /// The end column.
    pub(crate) end: usize,
    /// How late a change may be (µs); `None`: any lateness.
    pub(crate) within: Option<i64>,
}

/// The horizon of a key whose newest change was at `newest`: changes before
/// it are too late, and versions that ended before it are read by no merge
/// again. `None` without a bound.
pub(crate) fn horizon(newest: i64, within: Option<i64>) -> Option<i64> {
    within.map(|w| newest.saturating_sub(w))
}

/// The newest event time a key's newest version `[start, end)` shows: its
/// start while open, its end once closed. The key's newest change may be
/// later (a change equal to the current version leaves no version), so a
/// horizon measured from this is never past the true one.
pub(crate) fn newest_time(start: i64, end: i64) -> i64 {
    if end == crate::validity::OPEN_END_MICROS {
        start
    } else {
        end
    }
}

/// Where a version of a merge's result lives: a row the table already has,
/// or a row of the merge's written batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// An existing row, unchanged.
    Stored(RowAddr),
    /// Row `n` of the rows the merge writes.
    Written(usize),
}

/// A key's new versions from a position on: (key, position, versions), what a
/// merge hands [`crate::Table`] to record.
pub(crate) type VersionTail<'k> = (KeyRef<'k>, usize, Vec<(i64, Slot)>);

impl VersionIndex {
    pub(crate) fn new(int_keys: bool, columns: WindowColumns) -> Self {
        Self {
            keys: KeyMap::new(int_keys),
            columns,
        }
    }

    /// The columns and bound it is built on.
    pub(crate) fn columns(&self) -> WindowColumns {
        self.columns
    }

    /// How many versions of `key` come before the one holding `horizon` (or
    /// the first after it): those no change at or after the horizon reads.
    pub(crate) fn before_horizon(&self, key: KeyRef<'_>, horizon: i64) -> usize {
        self.holding_or_after(key, horizon).0
    }

    /// Removes the first `n` versions of `key`, returning their rows.
    pub(crate) fn drain_front(&mut self, key: KeyRef<'_>, n: usize) -> Vec<RowAddr> {
        match self.keys.get_mut(key) {
            Some(list) => list.drain(..n.min(list.len())).map(|(_, a)| a).collect(),
            None => Vec::new(),
        }
    }

    /// Every key's versions.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[(i64, RowAddr)]> {
        self.keys.values().map(Vec::as_slice)
    }

    /// The versions of `key` from the one holding `t` (or the first after
    /// it) onwards, and how many come before them.
    pub(crate) fn holding_or_after(&self, key: KeyRef<'_>, t: i64) -> (usize, &[(i64, RowAddr)]) {
        let all = self.keys.get(key).map_or(&[][..], Vec::as_slice);
        let first = all
            .partition_point(|&(start, _)| start <= t)
            .saturating_sub(1);
        (first, &all[first..])
    }

    /// Every version of `key`.
    pub(crate) fn all(&self, key: KeyRef<'_>) -> &[(i64, RowAddr)] {
        self.keys.get(key).map_or(&[][..], Vec::as_slice)
    }

    /// Replaces the versions of `key` from position `from` on by `tail`.
    pub(crate) fn splice(
        &mut self,
        key: KeyRef<'_>,
        from: usize,
        tail: impl Iterator<Item = (i64, RowAddr)>,
    ) {
        match self.keys.get_mut(key) {
            Some(list) => {
                list.truncate(from);
                list.extend(tail);
            }
            None => self.keys.insert(key, tail.collect()),
        }
    }

    /// Adds a version of `key` (a loaded row); call [`VersionIndex::sort`]
    /// after the last.
    pub(crate) fn push(&mut self, key: KeyRef<'_>, start: i64, addr: RowAddr) {
        match self.keys.get_mut(key) {
            Some(list) => list.push((start, addr)),
            None => self.keys.insert(key, vec![(start, addr)]),
        }
    }

    /// Puts every key's versions in start order (after loading).
    pub(crate) fn sort(&mut self) {
        self.keys
            .for_each_mut(|list| list.sort_unstable_by_key(|&(start, _)| start));
    }

    /// Records that the row of `key` at `old` now lives at `new`.
    pub(crate) fn moved(&mut self, key: KeyRef<'_>, old: RowAddr, new: RowAddr) {
        if let Some(entry) = self
            .keys
            .get_mut(key)
            .and_then(|list| list.iter_mut().find(|(_, a)| *a == old))
        {
            entry.1 = new;
        }
    }
}
