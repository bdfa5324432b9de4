//! Event-time history: where one change lands among one key's versions when
//! history is sequenced by a business time carried in the changes, late
//! changes included.
//!
//! This file owns the rules and nothing else: pure operations on a key's
//! versions in start order, generic over how a version's values are held, so
//! that every engine and test shares one definition
//! (`crates/scd/tests/integration/event_time.rs` checks the whole engine against a
//! second formulation of the rules, over a grid of instants). The rules (see
//! `docs/scd.md`, "History by event time"):
//!
//! - **Upsert at `t`** finds the version whose interval holds `t` (with
//!   `IGNORE NULL UPDATES`, the change's NULLs in the listed columns first
//!   take that version's values when it is live; before the first version,
//!   in a gap or in a tombstone they stay NULL, as for an insert):
//!   - equal to it in the tracked columns: nothing, except that differing
//!     untracked columns are overwritten in that version;
//!   - different and starting before `t`: the version is split, the earlier
//!     part keeps its values and ends at `t`, the change takes `[t, end)`;
//!   - different and starting at `t` (two changes at one instant): the later
//!     arrival replaces its values;
//!   - a tombstone (the key was deleted then): the key comes back at `t`,
//!     until the tombstone's end;
//!   - no version holds `t` (before the first version, or in a gap after a
//!     delete): the change opens a version that lasts until the next
//!     version's start, or stays open when there is none.
//! - **Delete at `t`** ends the version holding `t` at `t` (all of it when it
//!   starts at `t`); with tombstones a tombstone takes over the rest of its
//!   interval. Versions after it are untouched: a delete that precedes later
//!   changes ends the key only until the next version. A delete where no
//!   live version holds `t` changes nothing.
//! - Versions after the change's interval are never touched, so a late
//!   change equal to its successor stays a version of its own.
//! - **The current version holds from the key's newest change on.** Changes
//!   equal to the current version leave no version of their own, only the
//!   key's newest event time (`confirmed`). A change before that time that
//!   falls in the current version and would change it first cuts the current
//!   version at `confirmed`: the part from `confirmed` on keeps its values
//!   (the newest change said so), the change applies to the part before. So
//!   the current version always agrees with the latest change by event time,
//!   as an SCD-1 table sequenced by the same column does. Untracked columns
//!   of the current version are overwritten only by changes from `confirmed`
//!   on, for the same reason. Likewise a change before `confirmed` that
//!   opens a version after the last one (the newest change was a delete
//!   where the key did not exist) lasts until `confirmed`, where the key is
//!   deleted again (with a tombstone when deletes leave them).
//!
//! Together these keep one invariant: from the key's newest change on, the
//! history says what that change said.

use crate::validity::OPEN_END_MICROS;

/// One version of a key: values valid over `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version<V> {
    /// Inclusive start, µs.
    pub start: i64,
    /// Exclusive end, µs; [`OPEN_END_MICROS`] while current.
    pub end: i64,
    /// The version's business values.
    pub values: V,
    /// Whether it records that the key was deleted.
    pub tombstone: bool,
    /// Which stored version it is, or was cut from (`None` for a version the
    /// merge opened): the identity its row keeps.
    pub origin: Option<usize>,
}

impl<V> Version<V> {
    fn holds(&self, t: i64) -> bool {
        self.start <= t && t < self.end
    }
}

/// One change of a key at its event time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event<V> {
    /// The key has `values` from `at` on.
    Upsert {
        /// Event time, µs.
        at: i64,
        /// The change's values.
        values: V,
    },
    /// The key stops existing at `at`.
    Delete {
        /// Event time, µs.
        at: i64,
    },
}

/// How versions' values compare and combine; the merge engine compares Arrow
/// rows, tests compare plain numbers.
pub(crate) trait VersionValues<V> {
    /// Whether `a` and `b` agree in every tracked column (null-safely).
    fn same_tracked(&self, a: &V, b: &V) -> bool;
    /// Whether they agree in every untracked compared column.
    fn same_untracked(&self, a: &V, b: &V) -> bool;
    /// `stored` with its untracked columns taken from `change`.
    fn patched(&self, stored: &V, change: &V) -> V;
    /// `change` with its `IGNORE NULL UPDATES` NULLs taken from `held`, the
    /// live version it falls in.
    fn filled(&self, change: &V, held: &V) -> V;
}

/// What one event did to the key's versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Nothing changed.
    Unchanged,
    /// Untracked columns were overwritten in the version holding the time.
    Patched,
    /// A version was opened where none was valid.
    Opened,
    /// A version was split at the event's time.
    Split,
    /// A version starting at the event's time took the change's values.
    Replaced,
    /// The version holding the time was ended there.
    Ended,
}

/// Applies `event` to `versions` (one key's, in start order, not
/// overlapping). `tombstones` says whether deletes leave tombstone versions;
/// `confirmed` is the key's newest change time before this event
/// (`i64::MIN` when it has none).
pub(crate) fn apply<V: Clone>(
    versions: &mut Vec<Version<V>>,
    event: Event<V>,
    tombstones: bool,
    confirmed: i64,
    compare: &impl VersionValues<V>,
) -> Effect {
    match event {
        Event::Upsert { at, values } => {
            upsert(versions, at, values, (tombstones, confirmed), compare)
        }
        Event::Delete { at } => delete(versions, at, tombstones, confirmed),
    }
}

/// Whether version `i` is the current one and `at` comes before the key's
/// newest change (see the module doc).
fn before_confirmed<V>(versions: &[Version<V>], i: usize, at: i64, confirmed: i64) -> bool {
    i + 1 == versions.len() && versions[i].end == OPEN_END_MICROS && at < confirmed
}

/// Cuts the current version `i` at `confirmed`: the part from then on keeps
/// its values as a version of its own.
fn cut_at_confirmed<V: Clone>(versions: &mut Vec<Version<V>>, i: usize, confirmed: i64) {
    let held = &mut versions[i];
    let rest = opened(confirmed, held.end, held.values.clone(), held.tombstone);
    held.end = confirmed;
    versions.insert(i + 1, rest);
}

/// The index of the version holding `t`, else where a version starting at
/// `t` would go.
fn locate<V>(versions: &[Version<V>], t: i64) -> Result<usize, usize> {
    let after = versions.partition_point(|v| v.start <= t);
    match after.checked_sub(1) {
        Some(i) if versions[i].holds(t) => Ok(i),
        _ => Err(after),
    }
}

fn upsert<V: Clone>(
    versions: &mut Vec<Version<V>>,
    at: i64,
    values: V,
    (tombstones, confirmed): (bool, i64),
    compare: &impl VersionValues<V>,
) -> Effect {
    let i = match locate(versions, at) {
        Ok(i) => i,
        Err(next) if next == versions.len() && at < confirmed => {
            // After the last version, before a newest change that was a delete.
            versions.push(opened(at, confirmed, values.clone(), false));
            if tombstones {
                versions.push(opened(confirmed, OPEN_END_MICROS, values, true));
            }
            return Effect::Opened;
        }
        Err(next) => {
            let end = versions.get(next).map_or(OPEN_END_MICROS, |v| v.start);
            versions.insert(next, opened(at, end, values, false));
            return Effect::Opened;
        }
    };
    let late_in_current = before_confirmed(versions, i, at, confirmed);
    let held = &mut versions[i];
    let values = match held.tombstone {
        true => values,
        false => compare.filled(&values, &held.values),
    };
    if !held.tombstone && compare.same_tracked(&held.values, &values) {
        if late_in_current || compare.same_untracked(&held.values, &values) {
            return Effect::Unchanged;
        }
        held.values = compare.patched(&held.values, &values);
        return Effect::Patched;
    }
    if late_in_current {
        cut_at_confirmed(versions, i, confirmed);
    }
    let held = &mut versions[i];
    if held.start == at {
        held.values = values;
        held.tombstone = false;
        return Effect::Replaced;
    }
    let end = std::mem::replace(&mut held.end, at);
    versions.insert(i + 1, opened(at, end, values, false));
    Effect::Split
}

fn delete<V: Clone>(
    versions: &mut Vec<Version<V>>,
    at: i64,
    tombstones: bool,
    confirmed: i64,
) -> Effect {
    let Ok(i) = locate(versions, at) else {
        return Effect::Unchanged;
    };
    if versions[i].tombstone {
        return Effect::Unchanged;
    }
    if before_confirmed(versions, i, at, confirmed) {
        cut_at_confirmed(versions, i, confirmed);
    }
    let held = &mut versions[i];
    if held.start == at {
        if tombstones {
            held.tombstone = true;
        } else {
            versions.remove(i);
        }
        return Effect::Ended;
    }
    let end = std::mem::replace(&mut held.end, at);
    if tombstones {
        let values = held.values.clone();
        versions.insert(i + 1, opened(at, end, values, true));
    }
    Effect::Ended
}

fn opened<V>(start: i64, end: i64, values: V, tombstone: bool) -> Version<V> {
    Version {
        start,
        end,
        values,
        tombstone,
        origin: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values as (tracked, untracked) numbers.
    struct Pairs;

    impl VersionValues<(u8, u8)> for Pairs {
        fn same_tracked(&self, a: &(u8, u8), b: &(u8, u8)) -> bool {
            a.0 == b.0
        }
        fn same_untracked(&self, a: &(u8, u8), b: &(u8, u8)) -> bool {
            a.1 == b.1
        }
        fn patched(&self, stored: &(u8, u8), change: &(u8, u8)) -> (u8, u8) {
            (stored.0, change.1)
        }
        /// Numbers are never NULL: nothing to keep.
        fn filled(&self, change: &(u8, u8), _held: &(u8, u8)) -> (u8, u8) {
            *change
        }
    }

    const OPEN: i64 = OPEN_END_MICROS;

    fn v(start: i64, end: i64, tracked: u8) -> Version<(u8, u8)> {
        Version {
            start,
            end,
            values: (tracked, 0),
            tombstone: false,
            origin: None,
        }
    }

    fn tomb(start: i64, end: i64, tracked: u8) -> Version<(u8, u8)> {
        Version {
            tombstone: true,
            ..v(start, end, tracked)
        }
    }

    fn up(at: i64, tracked: u8) -> Event<(u8, u8)> {
        Event::Upsert {
            at,
            values: (tracked, 0),
        }
    }

    /// `event` applied to `versions`, whose newest change is the newest
    /// version's start (no equal change came after it).
    fn run(
        versions: Vec<Version<(u8, u8)>>,
        event: Event<(u8, u8)>,
        tombstones: bool,
    ) -> (Vec<Version<(u8, u8)>>, Effect) {
        let confirmed = versions.last().map_or(i64::MIN, |v| v.start);
        run_confirmed(versions, event, tombstones, confirmed)
    }

    fn run_confirmed(
        mut versions: Vec<Version<(u8, u8)>>,
        event: Event<(u8, u8)>,
        tombstones: bool,
        confirmed: i64,
    ) -> (Vec<Version<(u8, u8)>>, Effect) {
        let effect = apply(&mut versions, event, tombstones, confirmed, &Pairs);
        (versions, effect)
    }

    #[test]
    fn a_late_delete_in_the_current_version_ends_it_only_until_the_keys_newest_change() {
        // [10, open) 1, re-stated unchanged at 40: a delete at 20 leaves the key
        // current from 40 on, as the latest change by event time says.
        let (after, effect) =
            run_confirmed(vec![v(10, OPEN, 1)], Event::Delete { at: 20 }, false, 40);
        assert_eq!(after, [v(10, 20, 1), v(40, OPEN, 1)]);
        assert_eq!(effect, Effect::Ended);
        let (after, _) = run_confirmed(vec![v(10, OPEN, 1)], Event::Delete { at: 20 }, true, 40);
        assert_eq!(after, [v(10, 20, 1), tomb(20, 40, 1), v(40, OPEN, 1)]);
    }

    #[test]
    fn a_late_change_in_the_current_version_lasts_until_the_keys_newest_change() {
        let (after, effect) = run_confirmed(vec![v(10, OPEN, 1)], up(20, 2), false, 40);
        assert_eq!(after, [v(10, 20, 1), v(20, 40, 2), v(40, OPEN, 1)]);
        assert_eq!(effect, Effect::Split);
        let (after, _) = run_confirmed(vec![v(10, 30, 1), tomb(30, OPEN, 1)], up(35, 2), true, 40);
        assert_eq!(
            after,
            [
                v(10, 30, 1),
                tomb(30, 35, 1),
                v(35, 40, 2),
                tomb(40, OPEN, 1)
            ]
        );
    }

    #[test]
    fn a_late_change_after_the_last_version_lasts_until_a_newer_delete() {
        // The key was deleted at 40 where it did not exist (after [10, 20)).
        let before = vec![v(10, 20, 1)];
        let (after, effect) = run_confirmed(before.clone(), up(30, 2), false, 40);
        assert_eq!(after, [v(10, 20, 1), v(30, 40, 2)]);
        assert_eq!(effect, Effect::Opened);
        let (after, _) = run_confirmed(Vec::new(), up(30, 2), true, 40);
        assert_eq!(after, [v(30, 40, 2), tomb(40, OPEN, 2)]);
    }

    #[test]
    fn a_late_change_does_not_overwrite_the_current_versions_untracked_columns() {
        let change = Event::Upsert {
            at: 20,
            values: (1, 9),
        };
        let (after, effect) = run_confirmed(vec![v(10, OPEN, 1)], change, false, 40);
        assert_eq!((after, effect), (vec![v(10, OPEN, 1)], Effect::Unchanged));
    }

    #[test]
    fn a_change_after_the_current_version_closes_it_and_opens_the_next() {
        let (after, effect) = run(vec![v(10, OPEN, 1)], up(20, 2), false);
        assert_eq!(after, [v(10, 20, 1), v(20, OPEN, 2)]);
        assert_eq!(effect, Effect::Split);
    }

    #[test]
    fn a_late_change_splits_the_interval_it_falls_in_and_leaves_later_versions() {
        let before = vec![v(10, 30, 1), v(30, OPEN, 3)];
        let (after, effect) = run(before, up(20, 2), false);
        assert_eq!(after, [v(10, 20, 1), v(20, 30, 2), v(30, OPEN, 3)]);
        assert_eq!(effect, Effect::Split);
    }

    #[test]
    fn a_late_change_identical_to_its_predecessor_adds_nothing() {
        let before = vec![v(10, 30, 1), v(30, OPEN, 3)];
        let (after, effect) = run(before.clone(), up(20, 1), false);
        assert_eq!((after, effect), (before, Effect::Unchanged));
    }

    #[test]
    fn a_late_change_equal_to_its_successor_stays_a_version_of_its_own() {
        let before = vec![v(10, 30, 1), v(30, OPEN, 3)];
        let (after, _) = run(before, up(20, 3), false);
        assert_eq!(after, [v(10, 20, 1), v(20, 30, 3), v(30, OPEN, 3)]);
    }

    #[test]
    fn a_late_change_before_the_first_version_becomes_the_first_version() {
        let (after, effect) = run(vec![v(10, OPEN, 1)], up(5, 2), false);
        assert_eq!(after, [v(5, 10, 2), v(10, OPEN, 1)]);
        assert_eq!(effect, Effect::Opened);
    }

    #[test]
    fn a_change_at_a_versions_start_replaces_its_values() {
        let before = vec![v(10, 30, 1), v(30, OPEN, 3)];
        let (after, effect) = run(before, up(10, 2), false);
        assert_eq!(after, [v(10, 30, 2), v(30, OPEN, 3)]);
        assert_eq!(effect, Effect::Replaced);
    }

    #[test]
    fn an_untracked_change_overwrites_the_version_it_falls_in() {
        let before = vec![v(10, 30, 1), v(30, OPEN, 3)];
        let change = Event::Upsert {
            at: 20,
            values: (1, 9),
        };
        let (after, effect) = run(before, change, false);
        let mut patched = v(10, 30, 1);
        patched.values.1 = 9;
        assert_eq!(after, [patched, v(30, OPEN, 3)]);
        assert_eq!(effect, Effect::Patched);
    }

    #[test]
    fn a_late_delete_ends_the_key_only_until_the_next_version() {
        let before = vec![v(10, 30, 1), v(30, OPEN, 3)];
        let (after, effect) = run(before, Event::Delete { at: 20 }, false);
        assert_eq!(after, [v(10, 20, 1), v(30, OPEN, 3)]);
        assert_eq!(effect, Effect::Ended);
    }

    #[test]
    fn a_late_delete_with_tombstones_fills_the_rest_of_the_interval() {
        let before = vec![v(10, 30, 1), v(30, OPEN, 3)];
        let (after, _) = run(before, Event::Delete { at: 20 }, true);
        assert_eq!(after, [v(10, 20, 1), tomb(20, 30, 1), v(30, OPEN, 3)]);
    }

    #[test]
    fn a_delete_at_a_versions_start_removes_it() {
        let before = vec![v(10, 30, 1), v(30, OPEN, 3)];
        let (after, _) = run(before.clone(), Event::Delete { at: 30 }, false);
        assert_eq!(after, [v(10, 30, 1)]);
        let (after, _) = run(before, Event::Delete { at: 30 }, true);
        assert_eq!(after, [v(10, 30, 1), tomb(30, OPEN, 3)]);
    }

    #[test]
    fn a_delete_where_the_key_does_not_exist_changes_nothing() {
        let gap = vec![v(10, 20, 1), v(30, OPEN, 3)];
        for (before, at) in [(gap.clone(), 25), (gap, 5), (vec![tomb(10, OPEN, 1)], 15)] {
            let (after, effect) = run(before.clone(), Event::Delete { at }, false);
            assert_eq!((after, effect), (before, Effect::Unchanged));
        }
    }

    #[test]
    fn a_late_change_in_a_gap_after_a_delete_lasts_until_the_next_version() {
        let before = vec![v(10, 20, 1), v(30, OPEN, 3)];
        let (after, effect) = run(before, up(25, 2), false);
        assert_eq!(after, [v(10, 20, 1), v(25, 30, 2), v(30, OPEN, 3)]);
        assert_eq!(effect, Effect::Opened);
    }

    #[test]
    fn a_change_after_the_last_delete_opens_a_current_version() {
        let (after, _) = run(vec![v(10, 20, 1)], up(25, 1), false);
        assert_eq!(after, [v(10, 20, 1), v(25, OPEN, 1)]);
    }

    #[test]
    fn a_key_comes_back_inside_a_tombstone_with_the_same_values() {
        let before = vec![v(10, 20, 1), tomb(20, OPEN, 1)];
        let (after, effect) = run(before, up(25, 1), true);
        assert_eq!(after, [v(10, 20, 1), tomb(20, 25, 1), v(25, OPEN, 1)]);
        assert_eq!(effect, Effect::Split);
    }

    #[test]
    fn a_split_version_keeps_its_origin_and_the_new_part_has_none() {
        let mut stored = v(10, OPEN, 1);
        stored.origin = Some(7);
        let (after, _) = run(vec![stored], up(20, 2), false);
        assert_eq!(
            after.iter().map(|v| v.origin).collect::<Vec<_>>(),
            [Some(7), None]
        );
    }
}
