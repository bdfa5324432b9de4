//! The ground truth of a history sequenced by event time
//! ([`crate::VersionOrder::Restitch`]): each change row is applied on its own,
//! in arrival order, at its event time, among the versions of its key kept as
//! a list of half-open intervals sorted by start. This is a second, plain
//! formulation of the rules `snowdrift-scd` implements with a version index
//! (`docs/scd.md`, "History by event time"), written without looking at that
//! code's structure, so that a pipeline's history can be checked against it:
//!
//! - a change at `t` before its key's horizon (the time of its newest change
//!   − `within`) is late and changes nothing;
//! - a change before the key's newest change that would change the current
//!   version first cuts it at the newest change's time: the current values
//!   hold from then on (as the latest change by event time says), the change
//!   applies to the part before;
//! - a change at `t` falls in the version holding `t`: equal values add
//!   nothing; a version starting exactly at `t` takes the new values (a delete
//!   removes it); otherwise the version is split at `t`, the change taking the
//!   rest of its interval;
//! - a change where the key did not exist opens a version lasting until the
//!   next version starts (current when there is none); a delete there changes
//!   nothing;
//! - a delete ends the version holding `t` at `t` and leaves later versions.

use crate::truth::{KeyState, Row, Version};

/// What one change did to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Restitched {
    /// Before the key's horizon: the newest event time it was measured from.
    Late { newest: i64 },
    /// A version where the key did not exist.
    Inserted,
    /// A version split or its values replaced.
    Updated,
    /// A version ended (or removed) by a delete.
    Deleted,
    /// Nothing changed (equal values, or a delete where the key did not exist).
    Unchanged,
}

/// Applies one change (`row = None` for a delete) at event time `t`.
pub(crate) fn apply(
    state: &mut KeyState,
    row: Option<Row>,
    t: i64,
    within: Option<i64>,
) -> Restitched {
    let newest = state.last_event_time;
    if let (Some(newest), Some(within)) = (newest, within)
        && t < newest.saturating_sub(within)
    {
        return Restitched::Late { newest };
    }
    state.last_event_time = newest.max(Some(t));
    let holding = state
        .versions
        .iter()
        .position(|v| v.start.is_some_and(|s| s <= t) && v.end.is_none_or(|e| t < e));
    if let (Some(i), Some(newest)) = (holding, newest)
        && state.versions[i].current
        && t < newest
    {
        if row.as_ref() == Some(&state.versions[i].row) {
            return Restitched::Unchanged;
        }
        cut_current(state, i, newest);
    }
    let outcome = match (holding, row) {
        (None, None) => Restitched::Unchanged,
        (None, Some(row)) => {
            insert_in_gap(state, row, t, newest);
            Restitched::Inserted
        }
        (Some(i), None) => {
            delete_at(state, i, t);
            Restitched::Deleted
        }
        (Some(i), Some(row)) if state.versions[i].row == row => Restitched::Unchanged,
        (Some(i), Some(row)) => {
            update_at(state, i, row, t);
            Restitched::Updated
        }
    };
    state.live = state.versions.last().is_some_and(|v| v.current);
    outcome
}

/// Cuts the current version `i` at `at`: a copy holds from then on.
fn cut_current(state: &mut KeyState, i: usize, at: i64) {
    let v = &mut state.versions[i];
    let rest = Version {
        row: v.row.clone(),
        start: Some(at),
        end: None,
        current: true,
    };
    v.end = Some(at);
    v.current = false;
    state.versions.insert(i + 1, rest);
}

/// A version at `t` where the key did not exist, until the next version, or
/// (after the last version) until the key's newest change when that is later:
/// it was a delete.
fn insert_in_gap(state: &mut KeyState, row: Row, t: i64, newest: Option<i64>) {
    let at = state
        .versions
        .iter()
        .position(|v| v.start.is_some_and(|s| s > t))
        .unwrap_or(state.versions.len());
    let next_start = state
        .versions
        .get(at)
        .and_then(|v| v.start)
        .or(newest.filter(|&n| t < n));
    state.versions.insert(
        at,
        Version {
            row,
            start: Some(t),
            end: next_start,
            current: next_start.is_none(),
        },
    );
}

/// Ends version `i` at `t`, or removes it when it starts at `t`.
fn delete_at(state: &mut KeyState, i: usize, t: i64) {
    if state.versions[i].start == Some(t) {
        state.versions.remove(i);
        return;
    }
    let v = &mut state.versions[i];
    v.end = Some(t);
    v.current = false;
}

/// Gives version `i` the values `row` from `t` on: in place when it starts at
/// `t`, else by splitting it there.
fn update_at(state: &mut KeyState, i: usize, row: Row, t: i64) {
    let v = &mut state.versions[i];
    if v.start == Some(t) {
        v.row = row;
        return;
    }
    let tail = Version {
        row,
        start: Some(t),
        end: v.end,
        current: v.current,
    };
    v.end = Some(t);
    v.current = false;
    state.versions.insert(i + 1, tail);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::truth::Scalar;

    fn row(s: &str) -> Row {
        Arc::from(vec![Scalar::Str(s.into())])
    }

    /// The key's versions as (value, start, end) with `None` for an open end.
    fn intervals(state: &KeyState) -> Vec<(String, i64, Option<i64>)> {
        state
            .versions
            .iter()
            .map(|v| {
                let Scalar::Str(s) = &v.row[0] else {
                    unreachable!("test rows are strings")
                };
                (s.to_string(), v.start.unwrap(), v.end)
            })
            .collect()
    }

    fn key(changes: &[(Option<&str>, i64)], within: Option<i64>) -> (KeyState, Vec<Restitched>) {
        let mut state = KeyState::default();
        let outcomes = changes
            .iter()
            .map(|&(value, t)| apply(&mut state, value.map(row), t, within))
            .collect();
        (state, outcomes)
    }

    fn v(s: &str, start: i64, end: Option<i64>) -> (String, i64, Option<i64>) {
        (s.into(), start, end)
    }

    #[test]
    fn a_late_change_splits_the_version_holding_its_time() {
        let (state, _) = key(&[(Some("a"), 10), (Some("c"), 30), (Some("b"), 20)], None);
        assert_eq!(
            intervals(&state),
            [v("a", 10, Some(20)), v("b", 20, Some(30)), v("c", 30, None)]
        );
        assert!(state.live);
    }

    #[test]
    fn a_change_before_the_first_version_lasts_until_it() {
        let (state, _) = key(&[(Some("a"), 10), (Some("z"), 5)], None);
        assert_eq!(intervals(&state), [v("z", 5, Some(10)), v("a", 10, None)]);
    }

    #[test]
    fn a_late_delete_ends_the_key_only_until_the_next_version() {
        let (state, _) = key(&[(Some("a"), 10), (Some("c"), 30), (None, 20)], None);
        assert_eq!(intervals(&state), [v("a", 10, Some(20)), v("c", 30, None)]);
    }

    #[test]
    fn a_change_at_a_versions_start_replaces_it_and_a_delete_there_removes_it() {
        let (state, _) = key(&[(Some("a"), 10), (Some("b"), 10)], None);
        assert_eq!(intervals(&state), [v("b", 10, None)]);
        let (state, _) = key(&[(Some("a"), 10), (Some("b"), 20), (None, 20)], None);
        assert_eq!(intervals(&state), [v("a", 10, Some(20))]);
        assert!(!state.live);
    }

    #[test]
    fn a_change_equal_to_the_version_it_falls_in_adds_nothing() {
        let (state, outcomes) = key(&[(Some("a"), 10), (Some("c"), 30), (Some("a"), 20)], None);
        assert_eq!(intervals(&state), [v("a", 10, Some(30)), v("c", 30, None)]);
        assert_eq!(outcomes[2], Restitched::Unchanged);
    }

    #[test]
    fn a_late_change_in_the_current_version_lasts_until_the_keys_newest_change() {
        // `a` re-stated unchanged at 40, then a late delete at 20 and a late `b` at 15.
        let changes = [
            (Some("a"), 10),
            (Some("a"), 40),
            (None, 20),
            (Some("b"), 15),
        ];
        let (state, _) = key(&changes, None);
        assert_eq!(
            intervals(&state),
            [v("a", 10, Some(15)), v("b", 15, Some(20)), v("a", 40, None)]
        );
        assert!(state.live);
    }

    #[test]
    fn a_late_change_after_the_last_version_lasts_until_a_newer_delete() {
        // A delete at 40 where the key did not exist yet, then its late insert at 30.
        let (state, _) = key(&[(None, 40), (Some("a"), 30)], None);
        assert_eq!(intervals(&state), [v("a", 30, Some(40))]);
        assert!(!state.live);
    }

    #[test]
    fn a_change_before_the_horizon_is_late_measured_from_a_delete_once_deleted() {
        let (state, outcomes) = key(
            &[(Some("a"), 10), (Some("c"), 40), (Some("b"), 33)],
            Some(5),
        );
        assert_eq!(outcomes[2], Restitched::Late { newest: 40 });
        assert_eq!(intervals(&state), [v("a", 10, Some(40)), v("c", 40, None)]);
        let (_, outcomes) = key(&[(Some("a"), 10), (None, 50), (Some("b"), 46)], Some(5));
        assert_eq!(outcomes[2], Restitched::Updated);
    }
}
