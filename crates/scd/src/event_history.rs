//! The merge engine of a Type 2 history sequenced by event time, late changes
//! re-stitched: every applicable change row (not one winner per key) is
//! placed among its key's versions at its event time by the rules of
//! `event_time.rs`, and only the versions that changed are rewritten.
//!
//! Shared with the winner engine in `merge.rs`: reading and validating the
//! changes, the key index, the change set a stream sees. Different: a key's
//! versions are read through the table's version index from the one holding
//! the key's earliest change onwards, so an in-order change reads one version
//! and a late one the few after its time, whatever the length of history.

use std::sync::Arc;

use arrow::array::UInt32Array;
use arrow::array::{Array, ArrayRef, BooleanArray, DynComparator, RecordBatch, make_comparator};
use arrow::buffer::NullBuffer;
use arrow::compute::{SortOptions, concat, interleave, take};
use rayon::prelude::*;

use crate::assemble::system_columns;
use crate::change_batches::Changes;
use crate::changeset::ChangeSet;
use crate::event_time::{Effect, Event, Version, VersionValues, apply};
use crate::keys::KeyRef;
use crate::merge::{LateChange, MergeMetrics, MergeOutcome, rejections, take_rows};
use crate::spec::ChangeFormat;
use crate::strategy::{MergeContext, times};
use crate::table::{KeyState, RowAddr, Table};
use crate::validity::{
    OPEN_END_MICROS, ValidityColumns, end_times, system_values, with_version_ids,
};
use crate::versions::{Slot, WindowColumns, horizon, newest_time};
use crate::{ChangeOp, Result, TableSpec};

/// What the engine needs to know of a history sequenced by event time (see
/// [`crate::MergeStrategy::event_time_rules`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTimeRules {
    /// Names of the validity columns.
    pub columns: ValidityColumns,
    /// Whether a delete leaves a tombstone version.
    pub tombstones: bool,
    /// Business columns whose change opens a version.
    pub tracked: Vec<usize>,
    /// Compared columns that are overwritten in the version a change falls in.
    pub untracked: Vec<usize>,
    /// How late a change may be, in µs (see [`crate::LateChanges::Restitch`]);
    /// `None`: any lateness.
    pub within: Option<i64>,
}

impl EventTimeRules {
    /// The columns and bound a table keeps its window of versions by.
    pub(crate) fn window(&self, table: &Table) -> Result<WindowColumns> {
        Ok(WindowColumns {
            start: table.column_index(&self.columns.start)?,
            end: table.column_index(&self.columns.end)?,
            within: self.within,
        })
    }
}

/// Where a version's business values come from: a stored version (a row of
/// the gathered versions) or a change row, with the untracked columns of
/// another change row when they were overwritten, and single cells kept from
/// the version a change fell in (`IGNORE NULL UPDATES`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Source {
    base: Base,
    patch: Option<usize>,
    /// (column, cell) pairs that win over `base` and `patch`.
    kept: Option<Arc<[(usize, Cell)]>>,
}

/// A value's place: (0 = changes, 1 = stored versions, row).
type Cell = (usize, usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    Stored(usize),
    Change(usize),
}

impl Source {
    fn stored(row: usize) -> Self {
        Self {
            base: Base::Stored(row),
            patch: None,
            kept: None,
        }
    }

    fn change(row: usize) -> Self {
        Self {
            base: Base::Change(row),
            patch: None,
            kept: None,
        }
    }

    /// The cell of business column `column` (untracked or not).
    fn cell(&self, column: usize, untracked: bool) -> Cell {
        let kept = self.kept.as_deref().unwrap_or_default();
        if let Some(&(_, cell)) = kept.iter().find(|(c, _)| *c == column) {
            return cell;
        }
        match (self.patch.filter(|_| untracked), self.base) {
            (Some(change), _) | (None, Base::Change(change)) => (0, change),
            (None, Base::Stored(row)) => (1, row),
        }
    }

    /// The change row whose untracked values it carries, if any.
    fn untracked_row(&self) -> Option<usize> {
        match (self.patch, self.base) {
            (Some(change), _) | (None, Base::Change(change)) => Some(change),
            (None, Base::Stored(_)) => None,
        }
    }
}

/// Null-safe equality of columns between change rows and stored versions.
struct Comparators {
    /// Per column, its index and comparators change-change, change-stored,
    /// stored-stored.
    columns: Vec<(usize, [DynComparator; 3])>,
    untracked: bool,
}

impl Comparators {
    fn new(
        changes: &RecordBatch,
        stored: &RecordBatch,
        columns: &[usize],
        untracked: bool,
    ) -> Result<Self> {
        let options = SortOptions::default();
        let columns = columns
            .iter()
            .map(|&c| {
                let (a, b) = (changes.column(c).as_ref(), stored.column(c).as_ref());
                let comparators = [
                    make_comparator(a, a, options)?,
                    make_comparator(a, b, options)?,
                    make_comparator(b, b, options)?,
                ];
                Ok((c, comparators))
            })
            .collect::<Result<_>>()?;
        Ok(Self { columns, untracked })
    }

    fn equal(&self, a: &Source, b: &Source) -> bool {
        self.columns.iter().all(|(c, [cc, cs, ss])| {
            let (a, b) = (a.cell(*c, self.untracked), b.cell(*c, self.untracked));
            match (a.0, b.0) {
                (0, 0) => cc(a.1, b.1),
                (0, _) => cs(a.1, b.1),
                (_, 0) => cs(b.1, a.1),
                _ => ss(a.1, b.1),
            }
            .is_eq()
        })
    }
}

struct Compare {
    tracked: Comparators,
    untracked: Comparators,
    /// The `IGNORE NULL UPDATES` columns that hold a NULL in some change:
    /// (column, untracked, the change rows' nulls).
    keep: Vec<(usize, bool, NullBuffer)>,
    untracked_columns: Vec<usize>,
}

impl Compare {
    fn new(
        rules: &EventTimeRules,
        spec: &TableSpec,
        changes: &RecordBatch,
        stored: &RecordBatch,
    ) -> Result<Self> {
        let keep = spec
            .ignore_null_updates()
            .iter()
            .filter_map(|&c| {
                let nulls = changes.column(c).logical_nulls()?;
                let untracked = rules.untracked.contains(&c);
                (nulls.null_count() > 0).then_some((c, untracked, nulls))
            })
            .collect();
        Ok(Self {
            tracked: Comparators::new(changes, stored, &rules.tracked, false)?,
            untracked: Comparators::new(changes, stored, &rules.untracked, true)?,
            keep,
            untracked_columns: rules.untracked.clone(),
        })
    }
}

impl VersionValues<Source> for Compare {
    fn same_tracked(&self, a: &Source, b: &Source) -> bool {
        self.tracked.equal(a, b)
    }

    fn same_untracked(&self, a: &Source, b: &Source) -> bool {
        self.untracked.equal(a, b)
    }

    fn patched(&self, stored: &Source, change: &Source) -> Source {
        // Tracked cells as the stored version kept them, untracked ones as
        // the change (filled from that same version) has them.
        let untracked = |c: &usize| self.untracked_columns.contains(c);
        let kept: Vec<(usize, Cell)> = stored
            .kept
            .iter()
            .flat_map(|k| k.iter().filter(|(c, _)| !untracked(c)))
            .chain(
                change
                    .kept
                    .iter()
                    .flat_map(|k| k.iter().filter(|(c, _)| untracked(c))),
            )
            .copied()
            .collect();
        Source {
            base: stored.base,
            patch: change.untracked_row(),
            kept: (!kept.is_empty()).then(|| kept.into()),
        }
    }

    fn filled(&self, change: &Source, held: &Source) -> Source {
        let Base::Change(row) = change.base else {
            return change.clone();
        };
        let kept: Vec<(usize, Cell)> = self
            .keep
            .iter()
            .filter(|(_, _, nulls)| nulls.is_null(row))
            .map(|&(c, untracked, _)| (c, held.cell(c, untracked)))
            .collect();
        match kept.is_empty() {
            true => change.clone(),
            false => Source {
                kept: Some(kept.into()),
                ..change.clone()
            },
        }
    }
}

/// A version the merge writes.
struct Written {
    version: Version<Source>,
    /// The stored version (row of the gathered versions) whose row id it keeps.
    replaces: Option<usize>,
}

/// The result for one key.
struct KeyResult {
    /// A change row of the key (for its `KeyRef`).
    row: usize,
    /// The key's versions after the merge from the first one read on.
    tail: Vec<(i64, Pending)>,
    /// How many versions before them are left as they are.
    kept_before: usize,
    written: Vec<Written>,
    /// Stored versions (rows of the gathered versions) that are removed.
    removed: Vec<usize>,
    live_before: bool,
    live_after: bool,
    /// Changes that came before the key's newest version and were put in
    /// their place.
    restitched: usize,
    /// Changes before the key's horizon, rejected.
    too_late: Vec<LateChange>,
    /// The key's horizon after the merge (with a bounded lateness).
    horizon: Option<i64>,
    sequence: Option<i64>,
}

/// A version of a key's result: left as it is, or the n-th of the key's
/// written versions.
#[derive(Clone, Copy)]
enum Pending {
    Stored(usize),
    Written(usize),
}

/// Merge `batches` into the history `table` by event time (see the module
/// doc); the table gets a version index if it has none.
pub(crate) fn merge_by_event_time(
    rules: &EventTimeRules,
    spec: &TableSpec,
    table: &mut Table,
    batches: &[&RecordBatch],
    context: MergeContext,
) -> Result<MergeOutcome> {
    if table.retires() && rules.within.is_none() {
        return Err(spec.invalid(
            "a history that accepts changes of any lateness keeps every version in the table: it cannot retire them (Table::retire_superseded); bound the lateness (LateChanges::Restitch { within })",
        ));
    }
    let window = rules.window(table)?;
    if table.versions().map(|v| v.columns()) != Some(window) {
        table.index_versions(window)?;
    }
    let changes = Changes::read(spec, table, batches)?;
    let applicable = changes.ops.iter().filter(|o| o.is_some()).count();
    if applicable > 0 && !changes.sequence_is_time {
        return Err(spec.invalid(
            "a history sequenced by event time needs a timestamp sequence column (TIMESTAMP_NTZ)",
        ));
    }
    let (order, ranges) = group_by_key(&changes);
    let groups: Vec<&[usize]> = ranges.iter().map(|r| &order[r.clone()]).collect();
    let event_time = |row: usize| event_time_of(&changes, spec, context, row);
    // The versions each key's changes can touch: from the one holding its
    // earliest change onwards.
    let index = versions(table)?;
    let mut addrs: Vec<RowAddr> = Vec::new();
    let reads: Vec<(usize, usize, usize)> = groups
        .iter()
        .map(|rows| {
            let earliest = rows.iter().map(|&r| event_time(r)).min().unwrap_or(0);
            let (before, tail) = index.holding_or_after(changes.key(rows[0]), earliest);
            let first = addrs.len();
            addrs.extend(tail.iter().map(|&(_, a)| a));
            (before, first, tail.len())
        })
        .collect();
    let stored = table.gather(&addrs)?;
    let validity = Validity::read(&stored, rules, spec.name())?;
    let compare = Compare::new(rules, spec, &changes.business, &stored)?;
    let results: Vec<KeyResult> = groups
        .par_iter()
        .zip(reads.par_iter())
        .map(|(rows, &(before, first, len))| {
            let state = table.key_state(changes.key(rows[0]));
            restitch_key(
                rules,
                &changes,
                &validity,
                &compare,
                rows,
                &event_time,
                state,
                before,
                first,
                len,
            )
        })
        .collect();
    finish(rules, spec, table, &changes, &stored, &addrs, results)
}

/// The table's version index (built by [`merge_by_event_time`] first).
fn versions(table: &Table) -> Result<&crate::versions::VersionIndex> {
    table
        .versions()
        .ok_or_else(|| crate::ScdError::TargetShape {
            table: table.name().to_string(),
            reason: "a history sequenced by event time has no version index".into(),
        })
}

/// Applicable change rows grouped by key (keys in key order), each key's
/// rows in arrival order: the history is the one the rows make applied one
/// by one, however arrivals are cut into merges. (A stream's change set has
/// no order within a key: there, as in the winner engine, a DELETE comes
/// before an INSERT.) Returns the rows and each key's range of them: one
/// sort, no allocation per key.
fn group_by_key(changes: &Changes) -> (Vec<usize>, Vec<std::ops::Range<usize>>) {
    let mut order: Vec<usize> = (0..changes.ops.len())
        .filter(|&r| changes.ops[r].is_some())
        .collect();
    if changes.from_stream {
        order.par_sort_unstable_by_key(|&r| (changes.key(r), changes.rank(r)));
    } else {
        order.par_sort_unstable_by_key(|&r| (changes.key(r), r));
    }
    let mut ranges = Vec::new();
    let mut start = 0;
    for i in 1..=order.len() {
        if i == order.len() || changes.key(order[i]) != changes.key(order[start]) {
            ranges.push(start..i);
            start = i;
        }
    }
    (order, ranges)
}

/// A change's event time: its sequence, except a stream's DELETE rows, which
/// carry the deleted row's values and so are dated by the merge's clock.
fn event_time_of(changes: &Changes, spec: &TableSpec, context: MergeContext, row: usize) -> i64 {
    let stream_delete =
        changes.ops[row] == Some(ChangeOp::Delete) && spec.format() == &ChangeFormat::Stream;
    match changes.sequence.as_ref() {
        Some(s) if !stream_delete => s[row],
        _ => context.now_micros,
    }
}

/// The validity columns of the gathered versions.
struct Validity {
    start: arrow::array::Int64Array,
    end: arrow::array::Int64Array,
    tombstone: Option<BooleanArray>,
}

impl Validity {
    fn read(stored: &RecordBatch, rules: &EventTimeRules, table: &str) -> Result<Self> {
        let column = |name: &str| -> Result<&ArrayRef> {
            stored
                .column_by_name(name)
                .ok_or_else(|| crate::ScdError::TargetShape {
                    table: table.to_string(),
                    reason: format!("the history has no column `{name}`"),
                })
        };
        let tombstone = match &rules.columns.deleted {
            Some(deleted) => Some(crate::strategy::flags(column(deleted)?)?),
            None => None,
        };
        Ok(Self {
            start: times(column(&rules.columns.start)?)?,
            end: end_times(column(&rules.columns.end)?)?,
            tombstone,
        })
    }

    fn version(&self, row: usize) -> Version<Source> {
        Version {
            start: self.start.value(row),
            end: self.end.value(row),
            values: Source::stored(row),
            tombstone: self
                .tombstone
                .as_ref()
                .is_some_and(|t| t.is_valid(row) && t.value(row)),
            origin: Some(row),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn restitch_key(
    rules: &EventTimeRules,
    changes: &Changes,
    validity: &Validity,
    compare: &Compare,
    rows: &[usize],
    event_time: &(impl Fn(usize) -> i64 + Sync),
    state: KeyState,
    kept_before: usize,
    first: usize,
    len: usize,
) -> KeyResult {
    let mut versions: Vec<Version<Source>> =
        (first..first + len).map(|r| validity.version(r)).collect();
    let newest_start = versions.last().map(|v| v.start);
    // The key's newest change time: its applied sequence, or (a table loaded
    // without sequences) what its newest version says.
    let mut newest = state
        .sequence
        .max(versions.last().map(|v| newest_time(v.start, v.end)));
    let (mut restitched, mut too_late) = (0, Vec::new());
    for &row in rows {
        let at = event_time(row);
        if let Some(n) = newest
            && horizon(n, rules.within).is_some_and(|h| at < h)
        {
            too_late.push(LateChange {
                row,
                sequence: at,
                applied_sequence: n,
            });
            continue;
        }
        if newest_start.is_some_and(|s| at < s) {
            restitched += 1;
        }
        let confirmed = newest.unwrap_or(i64::MIN);
        newest = newest.max(Some(at));
        let event = match changes.ops[row] {
            Some(ChangeOp::Delete) => Event::Delete { at },
            _ => Event::Upsert {
                at,
                values: Source::change(row),
            },
        };
        let _: Effect = apply(&mut versions, event, rules.tombstones, confirmed, compare);
    }
    let live_after = versions
        .last()
        .is_some_and(|v| v.end == OPEN_END_MICROS && !v.tombstone);
    let mut result = KeyResult {
        row: rows[0],
        tail: Vec::with_capacity(versions.len()),
        kept_before,
        written: Vec::new(),
        removed: Vec::new(),
        live_before: state.live,
        live_after,
        restitched,
        horizon: newest.and_then(|n| horizon(n, rules.within)),
        too_late,
        sequence: newest,
    };
    let mut kept = vec![false; len];
    for v in versions {
        let original = v.origin.map(|o| validity.version(o));
        if original.as_ref() == Some(&v) {
            let o = v.origin.unwrap_or_default();
            kept[o - first] = true;
            result.tail.push((v.start, Pending::Stored(o)));
            continue;
        }
        result
            .tail
            .push((v.start, Pending::Written(result.written.len())));
        result.written.push(Written {
            replaces: v.origin,
            version: v,
        });
    }
    result.removed = (first..first + len).filter(|&o| !kept[o - first]).collect();
    result
}

/// Applies the keys' results to the table and reports them.
fn finish(
    rules: &EventTimeRules,
    spec: &TableSpec,
    table: &mut Table,
    changes: &Changes,
    stored: &RecordBatch,
    addrs: &[RowAddr],
    results: Vec<KeyResult>,
) -> Result<MergeOutcome> {
    let mut metrics = MergeMetrics {
        source_rows: changes.ops.len(),
        skipped: changes.ops.iter().filter(|o| o.is_none()).count() - changes.rejected.len(),
        bad: changes.rejected.len(),
        ..MergeMetrics::default()
    };
    let in_key_order: Vec<&Written> = results.iter().flat_map(|r| &r.written).collect();
    let removed: Vec<usize> = results
        .iter()
        .flat_map(|r| r.removed.iter().copied())
        .collect();
    // Written rows grouped by where their values come from, so that each
    // group is one `take` (see `column_of`); `written_at[i]` is where the
    // i-th in key order went.
    let mut by_source: Vec<usize> = (0..in_key_order.len()).collect();
    by_source.sort_by_key(|&i| source_kind(&in_key_order[i].version.values));
    let mut written_at = vec![0; by_source.len()];
    for (position, &i) in by_source.iter().enumerate() {
        written_at[i] = position;
    }
    let written: Vec<&Written> = by_source.iter().map(|&i| in_key_order[i]).collect();
    let written_batch = written_rows(rules, spec, table, changes, stored, &written)?;
    let removed_batch = crate::table::take_batch(
        stored,
        &arrow::array::UInt32Array::from_iter_values(removed.iter().map(|&r| r as u32)),
    )?;
    let removed_ids: Vec<u64> = removed.iter().map(|&r| table.row_id(addrs[r])).collect();
    let written_ids: Vec<u64> = written
        .iter()
        .map(|w| match w.replaces {
            Some(o) => table.row_id(addrs[o]),
            None => table.allocate_row_id(),
        })
        .collect();
    let removed_addrs: Vec<RowAddr> = removed.iter().map(|&r| addrs[r]).collect();
    let index = versions(table)?;
    let mut states = Vec::with_capacity(results.len());
    let mut lists = Vec::with_capacity(results.len());
    let mut offset = 0;
    for r in &results {
        let key = changes.key(r.row);
        let tail: Vec<(i64, Slot)> = r
            .tail
            .iter()
            .map(|&(start, p)| match p {
                Pending::Stored(o) => (start, Slot::Stored(addrs[o])),
                Pending::Written(n) => (start, Slot::Written(written_at[offset + n])),
            })
            .collect();
        // The key's newest version: the tail's last, else the last one kept
        // before it.
        let kept_last = r.kept_before.checked_sub(1).map(|i| index.all(key)[i].1);
        let (latest, latest_row) = match tail.last() {
            Some(&(_, Slot::Stored(a))) => (Some(a), None),
            Some(&(_, Slot::Written(n))) => (None, Some(n)),
            None => (kept_last, None),
        };
        let state = KeyState {
            latest,
            live: r.live_after,
            sequence: r.sequence,
        };
        states.push((key, state, latest_row));
        lists.push((key, r.kept_before, tail));
        offset += r.written.len();
        count(r, &mut metrics);
    }
    metrics.target_rows_written = written_batch.num_rows();
    metrics.target_rows_removed = removed_batch.num_rows();
    let keys: Vec<KeyRef<'_>> = results.iter().map(|r| changes.key(r.row)).collect();
    table.apply(
        &removed_addrs,
        std::slice::from_ref(&written_batch),
        &written_ids,
        states,
        lists,
    )?;
    let horizons: Vec<(KeyRef<'_>, i64)> = results
        .iter()
        .filter_map(|r| Some((changes.key(r.row), r.horizon?)))
        .collect();
    table.retire_before(&horizons)?;
    let mut late: Vec<LateChange> = results.into_iter().flat_map(|r| r.too_late).collect();
    late.sort_unstable_by_key(|l| l.row);
    let late_rows = take_rows(&changes.business, late.iter().map(|l| l.row))?;
    let late_rows = RecordBatch::try_new(spec.schema().clone(), late_rows.columns().to_vec())?;
    let change_set =
        ChangeSet::from_mutation(removed_batch, removed_ids, vec![written_batch], written_ids);
    let applied_sequences = match spec.sequence() {
        Some(_) => Some(table.applied_sequences_of(keys.into_iter())?),
        None => None,
    };
    Ok(MergeOutcome {
        metrics,
        changes: change_set,
        rejected: rejections(
            changes.rejected.clone(),
            &late,
            spec,
            changes.sequence_is_time,
        ),
        late,
        late_rows,
        applied_sequences,
    })
}

/// Which group a written row's values come from: stored versions, changes,
/// or a mix (overwritten untracked columns, kept cells).
fn source_kind(s: &Source) -> u8 {
    match (s.base, s.patch, &s.kept) {
        (Base::Stored(_), None, None) => 0,
        (Base::Change(_), None, None) => 1,
        _ => 2,
    }
}

fn count(r: &KeyResult, m: &mut MergeMetrics) {
    m.restitched += r.restitched;
    m.late += r.too_late.len();
    let changed = !r.written.is_empty() || !r.removed.is_empty();
    match (r.live_before, r.live_after, changed) {
        (_, _, false) => m.unchanged += 1,
        (false, true, _) => m.inserted += 1,
        (true, false, _) => m.deleted += 1,
        _ => m.updated += 1,
    }
}

/// The rows `idx` (source, row) of `sources`: one `take` per source when the
/// rows come grouped by source (they do, but for overwritten untracked
/// columns), else an interleave.
fn column_of(sources: &[&dyn Array; 2], idx: &[(usize, usize)]) -> Result<ArrayRef> {
    let first = idx[0].0;
    let split = idx
        .iter()
        .position(|&(s, _)| s != first)
        .unwrap_or(idx.len());
    if idx[split..].iter().any(|&(s, _)| s == first) {
        return Ok(interleave(sources, idx)?);
    }
    let part = |range: &[(usize, usize)]| -> Result<ArrayRef> {
        let rows = UInt32Array::from_iter_values(range.iter().map(|&(_, r)| r as u32));
        Ok(take(sources[range[0].0], &rows, None)?)
    };
    if split == idx.len() {
        return part(idx);
    }
    let (a, b) = (part(&idx[..split])?, part(&idx[split..])?);
    Ok(concat(&[a.as_ref(), b.as_ref()])?)
}

/// The written versions as rows of the target.
fn written_rows(
    rules: &EventTimeRules,
    spec: &TableSpec,
    table: &Table,
    changes: &Changes,
    stored: &RecordBatch,
    written: &[&Written],
) -> Result<RecordBatch> {
    let target = table.schema().clone();
    let business = changes.business.num_columns();
    if written.is_empty() {
        return Ok(RecordBatch::new_empty(target));
    }
    let mut columns: Vec<ArrayRef> = (0..business)
        .into_par_iter()
        .map(|c| {
            let untracked = rules.untracked.contains(&c);
            let sources: [&dyn Array; 2] = [changes.business.column(c), stored.column(c)];
            let idx: Vec<(usize, usize)> = written
                .iter()
                .map(|w| w.version.values.cell(c, untracked))
                .collect();
            column_of(&sources, &idx)
        })
        .collect::<Result<_>>()?;
    let system: Vec<_> = written
        .iter()
        .map(|w| {
            let v = &w.version;
            system_values(&rules.columns, v.start, v.end, v.tombstone)
        })
        .collect();
    columns.extend(system_columns(&target.fields()[business..], system.iter())?);
    let rows = RecordBatch::try_new(target, columns)?;
    with_version_ids(&rules.columns, spec.key(), rows)
}
