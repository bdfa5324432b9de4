//! The merge engine, which runs a [`MergeStrategy`] (the trait SCD types
//! implement is in `strategy`).
//!
//! The engine does what every type shares: read and validate the changes,
//! pick one winner per key, reject late changes, look up the keys' current
//! rows through the table's key index and compare them null-safely. A
//! strategy only decides, per winner, which rows to remove and which to
//! write. The engine then applies that plan to the table and reports it as
//! metrics and as the change set a stream on the table would show.

use std::fmt::Debug;

use arrow::array::{BooleanArray, RecordBatch, UInt32Array};
use arrow::datatypes::SchemaRef;

use rayon::prelude::*;

use crate::assemble::{assemble, order_writes};
use crate::change_batches::Changes;
use crate::changeset::ChangeSet;
use crate::prepared::{Decided, PreparedMerge};
use crate::reject::{RejectReason, Rejection};
use crate::spec::ChangeSource;
use crate::strategy::{
    KeyOutcome, MAX_SYSTEM_COLUMNS, MergeContext, MergeStrategy, Plan, PlanInput, RowIdentity,
    Winner,
};
use crate::table::{KeyState, RowAddr, Table};
use crate::{Result, ScdError, TableSpec};

/// A target holding `rows` (in the target schema, columns matched by name),
/// for example a table read back from storage or a bulk load.
///
/// # Errors
///
/// [`ScdError::TargetShape`] when the rows do not fit the strategy's target
/// schema or a key is NULL.
pub fn load_table(
    strategy: &dyn MergeStrategy,
    spec: &TableSpec,
    rows: RecordBatch,
) -> Result<Table> {
    let mut table = strategy.create_table(spec)?;
    table.load(
        rows,
        None,
        |b, r| strategy.live(b, r),
        |b, a, c| strategy.newer(b, a, c),
    )?;
    Ok(table)
}

/// Like [`load_table`], but the rows keep the given row ids (`row_ids[i]` for
/// row `i`), for example a table restored from storage whose streams still
/// refer to them. Row ids allocated later are above all of them.
///
/// # Errors
///
/// As [`load_into`].
pub fn load_table_with_row_ids(
    strategy: &dyn MergeStrategy,
    spec: &TableSpec,
    rows: RecordBatch,
    row_ids: &[u64],
) -> Result<Table> {
    let mut table = strategy.create_table(spec)?;
    load_into(strategy, &mut table, rows, row_ids)?;
    Ok(table)
}

/// Adds `rows` with their row ids to an existing `table` made for
/// `strategy`, as [`load_table_with_row_ids`] does to a new one; for a table
/// set up first, for example with [`Table::retire_superseded`] (which then
/// retires the loaded rows that are not their key's latest).
///
/// # Errors
///
/// [`ScdError::TargetShape`] when the rows do not fit the table, a key is
/// NULL or the number of row ids differs from the number of rows.
pub fn load_into(
    strategy: &dyn MergeStrategy,
    table: &mut Table,
    rows: RecordBatch,
    row_ids: &[u64],
) -> Result<()> {
    table.load(
        rows,
        Some(row_ids),
        |b, r| strategy.live(b, r),
        |b, a, c| strategy.newer(b, a, c),
    )
}

/// Counts of one merge, in the manner of delta-rs's merge metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeMetrics {
    /// Change rows read.
    pub source_rows: usize,
    /// Rows that lost to a later change of the same key in this merge.
    pub superseded: usize,
    /// Stream rows skipped (the DELETE half of an update).
    pub skipped: usize,
    /// Winners rejected as late (older than the key's last applied change).
    pub late: usize,
    /// Late changes put in their place in a history sequenced by event time
    /// (older than the key's newest version).
    pub restitched: usize,
    /// Rows rejected as bad (see [`crate::OnBadRow::Reject`]); late ones not
    /// included.
    pub bad: usize,
    /// Truncate rows read (`APPLY AS TRUNCATE WHEN`).
    pub truncates: usize,
    /// Keys deleted because a truncate or a snapshot left them out (also
    /// counted in `deleted` when the strategy deletes them).
    pub implicit_deletes: usize,
    /// Keys inserted.
    pub inserted: usize,
    /// Keys updated.
    pub updated: usize,
    /// Keys deleted.
    pub deleted: usize,
    /// Winners that changed nothing.
    pub unchanged: usize,
    /// Winners the strategy ignores.
    pub ignored: usize,
    /// Target rows written.
    pub target_rows_written: usize,
    /// Target rows removed.
    pub target_rows_removed: usize,
}

/// A change rejected because its key already has a newer change applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LateChange {
    /// Row of the change in the merge's input.
    pub row: usize,
    /// Its sequence.
    pub sequence: i64,
    /// The sequence of the key's last applied change.
    pub applied_sequence: i64,
}

/// The result of [`merge`].
#[derive(Debug, Clone)]
pub struct MergeOutcome {
    /// Counts.
    pub metrics: MergeMetrics,
    /// The change set a standard stream on the target shows for this merge.
    pub changes: ChangeSet,
    /// Late changes (the dead-letter output), with their business values in
    /// [`MergeOutcome::late_rows`].
    pub late: Vec<LateChange>,
    /// Business columns of the late changes, in the order of `late`.
    pub late_rows: RecordBatch,
    /// Every change row not applied, late ones included, in row order.
    pub rejected: Vec<Rejection>,
    /// With a sequence: the applied sequence of every key this merge
    /// decided on, in the form of [`Table::applied_sequences`] (what to keep
    /// durable beside the change set so late changes stay late after a
    /// restart).
    pub applied_sequences: Option<RecordBatch>,
}

/// Merge `batches` (in load order) into `table` as one merge: [`prepare_merge`], then
/// [`PreparedMerge::apply`].
///
/// Nothing is applied when any batch is malformed: the error names the
/// table, the row (counted across `batches`), the column and the value.
///
/// # Errors
///
/// [`ScdError::TargetShape`] when `table` was not made for `strategy` and
/// `spec`; [`ScdError::MissingColumn`] or [`ScdError::ColumnType`] when the
/// changes lack a column the spec needs or hold one that cannot be read as
/// its type; [`ScdError::BadRow`] for the first row that cannot be applied
/// under [`crate::OnBadRow::Fail`] (under `Reject` such rows are returned in
/// [`MergeOutcome::rejected`] instead); [`ScdError::InvalidSpec`] when the
/// spec's options do not suit the strategy. The table is unchanged then.
pub fn merge(
    strategy: &dyn MergeStrategy,
    spec: &TableSpec,
    table: &mut Table,
    batches: &[&RecordBatch],
    context: MergeContext,
) -> Result<MergeOutcome> {
    prepare_merge(strategy, spec, table, batches, context)?.apply(table)
}

/// Decides the merge of `batches` (in load order) into `table` without changing it: the
/// reads, comparisons, the strategy's plan and the new rows, which are most of a merge's
/// work. [`PreparedMerge::apply`] then writes the decision into the table in time
/// proportional to the change, so a store can prepare a merge on a shared, unchanging table
/// (readers and writers of other tables go on) and apply it briefly, with no copy of the
/// table. A history sequenced by event time decides as it applies: its preparation only
/// checks the options, and the work happens in `apply`.
///
/// # Errors
///
/// As [`merge`]; the table is never changed.
pub fn prepare_merge(
    strategy: &dyn MergeStrategy,
    spec: &TableSpec,
    table: &Table,
    batches: &[&RecordBatch],
    context: MergeContext,
) -> Result<PreparedMerge> {
    let target = table.schema().clone();
    check_target(strategy, spec, &target)?;
    if let Some(rules) = strategy.event_time_rules(spec)? {
        if spec.truncate_when().is_some() || spec.source() != ChangeSource::Changes {
            return Err(spec.invalid(
                "a history sequenced by event time takes neither truncates nor snapshots: \
                 truncate or diff the SCD-1 table and let the history follow its changes",
            ));
        }
        return Ok(PreparedMerge::by_event_time(
            table,
            rules,
            spec.clone(),
            batches.iter().map(|b| (*b).clone()).collect(),
            context,
        ));
    }
    decide(strategy, spec, table, batches, context)
        .map(|decided| PreparedMerge::decided(table, decided))
}

/// The merge of `batches` into `table` as decided (see [`prepare_merge`]).
fn decide(
    strategy: &dyn MergeStrategy,
    spec: &TableSpec,
    table: &Table,
    batches: &[&RecordBatch],
    context: MergeContext,
) -> Result<Decided> {
    let target = table.schema().clone();
    let mut changes = Changes::read(spec, table, batches)?;
    let source_rows = changes.ops.len();
    let not_applied = changes.ops.iter().filter(|o| o.is_none()).count();
    let skipped = not_applied - changes.rejected.len() - changes.truncates.len();
    let resets = crate::implicit_deletes::apply(spec, table, &mut changes)?;
    let (winner_rows, superseded) = changes.winners();
    let mut metrics = MergeMetrics {
        source_rows,
        superseded: superseded + resets.superseded,
        skipped,
        bad: changes.rejected.len(),
        truncates: resets.truncate_rows,
        implicit_deletes: resets.deletes,
        ..MergeMetrics::default()
    };
    let (winners, states, late) = classify(&changes, table, &winner_rows);
    metrics.late = late.len();
    let addrs: Vec<RowAddr> = winners.iter().filter_map(|w| w.latest).collect();
    // Independent reads, side by side on both cores; the latest rows' ids are read once,
    // here, for the removed rows and the rows written in their place.
    let (latest, (winner_values, latest_ids)) = rayon::join(
        || table.gather(&addrs),
        || {
            rayon::join(
                || take_rows(&changes.business, winners.iter().map(|w| w.row)),
                || addrs.iter().map(|a| table.row_id(*a)).collect::<Vec<u64>>(),
            )
        },
    );
    let (latest, winner_values) = (latest?, winner_values?);
    let mut next = 0;
    let latest_row: Vec<Option<usize>> = winners
        .iter()
        .map(|w| {
            w.latest.map(|_| {
                next += 1;
                next - 1
            })
        })
        .collect();
    let winner_values = crate::null_updates::fill_nulls(
        spec.ignore_null_updates(),
        &winners,
        winner_values,
        &latest,
        &latest_row,
    )?;
    let differs = compare(spec, &winner_values, &latest, &latest_row)?;
    let input = PlanInput {
        spec,
        target: &target,
        winners: &winners,
        context,
        latest: &latest,
        latest_row: &latest_row,
        differs,
    };
    let plan = strategy.plan(&input)?;
    let (ordered, last_write) = order_writes(&plan.write, winners.len());
    if plan.outcomes.len() != winners.len() {
        return Err(ScdError::TargetShape {
            table: spec.name().to_string(),
            reason: format!(
                "strategy {} decided {} outcomes for {} winners",
                strategy.name(),
                plan.outcomes.len(),
                winners.len()
            ),
        });
    }
    count_outcomes(&plan.outcomes, &mut metrics);
    let removed_at = positions_in(&addrs, &plan.remove);
    // The new rows, the removed rows (for the change set) and the key
    // states depend only on the plan: built side by side.
    let ((written, removed), key_states) = rayon::join(
        || {
            rayon::join(
                || assemble(&input, &winner_values, &ordered),
                || removed_rows(table, &latest, &plan.remove, removed_at.as_deref()),
            )
        },
        || next_key_states(&winners, &states, &plan, &last_write),
    );
    let (written, removed) = (written?, removed?);
    let written = written
        .into_iter()
        .map(|rows| strategy.complete_rows(spec, rows))
        .collect::<Result<Vec<_>>>()?;
    let removed_ids: Vec<u64> = match &removed_at {
        Some(at) => at.iter().map(|&i| latest_ids[i as usize]).collect(),
        None => plan.remove.iter().map(|a| table.row_id(*a)).collect(),
    };
    let written_ids: Vec<Option<u64>> = ordered
        .iter()
        .map(|w| match w.identity {
            RowIdentity::SameAs(a) => Some(match latest_row[w.winner] {
                Some(r) if winners[w.winner].latest == Some(a) => latest_ids[r],
                _ => table.row_id(a),
            }),
            RowIdentity::New => None,
        })
        .collect();
    metrics.target_rows_written = written.iter().map(RecordBatch::num_rows).sum();
    metrics.target_rows_removed = removed.num_rows();
    let late_rows = take_rows(&changes.business, late.iter().map(|l| l.row))?;
    let late_rows = RecordBatch::try_new(spec.schema().clone(), late_rows.columns().to_vec())?;
    let winner_rows = winners.iter().map(|w| w.row).collect();
    let rejected = rejections(
        std::mem::take(&mut changes.rejected),
        &late,
        spec,
        changes.sequence_is_time,
    );
    Ok(Decided {
        metrics,
        remove: plan.remove,
        written,
        written_ids,
        removed,
        removed_ids,
        winner_rows,
        key_states,
        floor: resets.floor,
        with_sequence: spec.sequence().is_some(),
        changes,
        late,
        late_rows,
        rejected,
    })
}

/// The bad rows and the late ones, in row order.
pub(crate) fn rejections(
    bad: Vec<Rejection>,
    late: &[LateChange],
    spec: &TableSpec,
    sequence_is_time: bool,
) -> Vec<Rejection> {
    let column = spec.sequence().map(str::to_string);
    let mut all = bad;
    all.extend(late.iter().map(|l| Rejection {
        row: l.row,
        reason: RejectReason::Late,
        column: column.clone(),
        detail: crate::reject::late_detail(l.sequence, l.applied_sequence, sequence_is_time),
    }));
    all.sort_by_key(|r| r.row);
    all
}

/// Where each of `remove` stands in `latest` (the winners' latest rows, in winner order),
/// found by one forward walk: the usual case, as strategies remove winners' latest rows in
/// winner order. `None` when a removed row is not there, or out of that order.
fn positions_in(latest: &[RowAddr], remove: &[RowAddr]) -> Option<Vec<u32>> {
    let mut at = Vec::with_capacity(remove.len());
    let mut cursor = 0;
    for a in remove {
        while cursor < latest.len() && latest[cursor] != *a {
            cursor += 1;
        }
        if cursor == latest.len() {
            return None;
        }
        at.push(cursor as u32);
    }
    Some(at)
}

/// The rows `remove` names: taken from the already gathered latest rows when all of them
/// are there (`at`, see [`positions_in`]), else read from the table.
fn removed_rows(
    table: &Table,
    latest: &RecordBatch,
    remove: &[RowAddr],
    at: Option<&[u32]>,
) -> Result<RecordBatch> {
    let Some(idx) = at else {
        return table.gather(remove);
    };
    // Every latest row removed, in order (an SCD-1 update or an SCD-2
    // close of each matched key): the gathered batch itself, no copy.
    if idx.len() == latest.num_rows() && idx.iter().enumerate().all(|(i, &r)| r as usize == i) {
        return Ok(latest.clone());
    }
    Ok(arrow::compute::take_record_batch(
        latest,
        &UInt32Array::from(idx.to_vec()),
    )?)
}

fn check_target(strategy: &dyn MergeStrategy, spec: &TableSpec, target: &SchemaRef) -> Result<()> {
    let expected = strategy.target_schema(spec)?;
    if expected.fields().len() > spec.schema().fields().len() + MAX_SYSTEM_COLUMNS {
        return Err(ScdError::TargetShape {
            table: spec.name().to_string(),
            reason: format!(
                "strategy {} adds more than {MAX_SYSTEM_COLUMNS} system columns",
                strategy.name()
            ),
        });
    }
    if expected.fields() != target.fields() {
        return Err(ScdError::TargetShape {
            table: spec.name().to_string(),
            reason: format!(
                "the table's schema does not match what {} needs for this spec; create it with create_table",
                strategy.name()
            ),
        });
    }
    Ok(())
}

/// Winners with their keys' state; late winners set aside.
fn classify(
    changes: &Changes,
    table: &Table,
    rows: &[usize],
) -> (Vec<Winner>, Vec<KeyState>, Vec<LateChange>) {
    let mut winners = Vec::with_capacity(rows.len());
    let mut states = Vec::with_capacity(rows.len());
    let mut late = Vec::new();
    let floor = table.sequence_floor();
    // Index lookups are independent random reads: done on all cores.
    let looked_up: Vec<KeyState> = rows
        .par_iter()
        .with_min_len(4096)
        .map(|&row| table.key_state(changes.key(row)))
        .collect();
    for (&row, state) in rows.iter().zip(looked_up) {
        let sequence = changes.sequence.as_ref().map(|s| s[row]);
        if let (Some(seq), Some(applied)) = (sequence, state.sequence.max(floor))
            && seq < applied
        {
            late.push(LateChange {
                row,
                sequence: seq,
                applied_sequence: applied,
            });
            continue;
        }
        winners.push(Winner {
            row,
            op: changes.ops[row].expect("winners are never skipped rows"),
            sequence,
            time: sequence.filter(|_| changes.sequence_is_time),
            live: state.live,
            latest: state.latest,
        });
        states.push(state);
    }
    (winners, states, late)
}

pub(crate) fn take_rows(
    batch: &RecordBatch,
    rows: impl Iterator<Item = usize>,
) -> Result<RecordBatch> {
    let idx = UInt32Array::from_iter_values(rows.map(|r| r as u32));
    crate::table::take_batch(batch, &idx)
}

/// Per compared column, whether each winner's value is distinct from its
/// latest row's (winners without one compare against NULL).
fn compare(
    spec: &TableSpec,
    winners: &RecordBatch,
    latest: &RecordBatch,
    latest_row: &[Option<usize>],
) -> Result<Vec<BooleanArray>> {
    spec.compared()
        .par_iter()
        .map(|&c| {
            // Compared in place, row against row (no copy of the latest
            // values): NULL equals NULL, NULL differs from any value.
            let same = arrow::array::make_comparator(
                winners.column(c).as_ref(),
                latest.column(c).as_ref(),
                arrow::compute::SortOptions::default(),
            )?;
            Ok(latest_row
                .iter()
                .enumerate()
                .map(|(w, row)| Some(row.is_none_or(|r| same(w, r).is_ne())))
                .collect())
        })
        .collect()
}

fn count_outcomes(outcomes: &[KeyOutcome], m: &mut MergeMetrics) {
    for o in outcomes {
        match o {
            KeyOutcome::Inserted => m.inserted += 1,
            KeyOutcome::Updated => m.updated += 1,
            KeyOutcome::Deleted => m.deleted += 1,
            KeyOutcome::Unchanged => m.unchanged += 1,
            KeyOutcome::Ignored => m.ignored += 1,
        }
    }
}

/// The keys' states after the plan: latest row, liveness and sequence.
fn next_key_states(
    winners: &[Winner],
    before: &[KeyState],
    plan: &Plan,
    last_write: &[Option<usize>],
) -> Vec<(KeyState, Option<usize>)> {
    let removed: hashbrown::HashSet<RowAddr> = plan.remove.iter().copied().collect();
    winners
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let mut state = before[i];
            state.live = match plan.outcomes[i] {
                KeyOutcome::Inserted | KeyOutcome::Updated => true,
                KeyOutcome::Deleted => false,
                KeyOutcome::Unchanged | KeyOutcome::Ignored => before[i].live,
            };
            if state.latest.is_some_and(|a| removed.contains(&a)) && last_write[i].is_none() {
                state.latest = None;
            }
            if w.sequence.is_some() {
                state.sequence = w.sequence.max(before[i].sequence);
            }
            (state, last_write[i])
        })
        .collect()
}
