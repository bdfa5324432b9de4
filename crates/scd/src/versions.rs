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
    /// The table's start column.
    start: usize,
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
    pub(crate) fn new(int_keys: bool, start: usize) -> Self {
        Self {
            keys: KeyMap::new(int_keys),
            start,
        }
    }

    /// The index of the start column it is built on.
    pub(crate) fn start_column(&self) -> usize {
        self.start
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
