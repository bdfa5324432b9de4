//! The merge engine and the [`MergeStrategy`] trait that SCD types
//! implement.
//!
//! The engine does what every type shares: read and validate the changes,
//! pick one winner per key, reject late changes, look up the keys' current
//! rows through the table's key index and compare them null-safely. A
//! strategy only decides, per winner, which rows to remove and which to
//! write. The engine then applies that plan to the table and reports it as
//! metrics and as the change set a stream on the table would show.

use std::fmt::Debug;

use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, UInt32Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, SchemaRef};

use rayon::prelude::*;

use crate::assemble::{assemble, order_writes};
use crate::changes::Changes;
use crate::changeset::ChangeSet;
use crate::event_history::{EventTimeRules, merge_by_event_time};
use crate::operation::ChangeOp;
use crate::reject::{RejectReason, Rejection};
use crate::spec::ChangeSource;
use crate::table::{KeyState, RowAddr, Table};
use crate::{Result, ScdError, TableSpec};

/// The merge's clock: the time stamped on rows the merge writes where no
/// sequence provides one (`update_timestamp`, validity of versions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeContext {
    /// Microseconds since the Unix epoch (UTC, no time zone).
    pub now_micros: i64,
}

impl MergeContext {
    /// A merge at `now_micros`.
    pub fn at(now_micros: i64) -> Self {
        Self { now_micros }
    }

    /// A merge at the system clock's current time.
    pub fn now() -> Self {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        Self::at(micros)
    }
}

/// One winning change, as a strategy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Winner {
    /// Row of the change in the merge's input (across all batches).
    pub row: usize,
    /// What the change asks for.
    pub op: ChangeOp,
    /// Its sequence value, if the spec has a sequence.
    pub sequence: Option<i64>,
    /// Its time: the sequence if that is a timestamp (µs), else `None`.
    pub time: Option<i64>,
    /// Whether the key exists in the table before the merge.
    pub live: bool,
    /// The key's latest row before the merge, if any (SCD-2: the newest
    /// version, possibly closed).
    pub latest: Option<RowAddr>,
}

/// Where the business values of a written row come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Values {
    /// The winning change.
    Change,
    /// The key's latest row in the table.
    Latest,
    /// The latest row, with the listed business columns taken from the
    /// change.
    LatestWith(Vec<usize>),
}

/// A value of a system column (a column after the business columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemValue {
    /// A timestamp, µs since the epoch.
    Timestamp(i64),
    /// A boolean.
    Bool(bool),
    /// NULL.
    Null,
}

/// Most system columns a strategy may add after the business columns.
pub const MAX_SYSTEM_COLUMNS: usize = 6;

/// The system values of one written row, in the target schema's order
/// (entries past the target's system columns are ignored). Fixed-size and
/// compact (a value and a tag per column), so that planning a merge
/// allocates nothing per row and moves little.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemValues {
    values: [i64; MAX_SYSTEM_COLUMNS],
    tags: [u8; MAX_SYSTEM_COLUMNS],
}

const TAG_NULL: u8 = 0;
const TAG_TIMESTAMP: u8 = 1;
const TAG_BOOL: u8 = 2;

impl SystemValues {
    /// No system values.
    pub const NONE: Self = Self {
        values: [0; MAX_SYSTEM_COLUMNS],
        tags: [TAG_NULL; MAX_SYSTEM_COLUMNS],
    };

    /// The given values, then NULLs. At most [`MAX_SYSTEM_COLUMNS`] are kept.
    pub fn from_slice(values: &[SystemValue]) -> Self {
        debug_assert!(values.len() <= MAX_SYSTEM_COLUMNS);
        let mut out = Self::NONE;
        for (i, v) in values.iter().take(MAX_SYSTEM_COLUMNS).enumerate() {
            (out.values[i], out.tags[i]) = match *v {
                SystemValue::Timestamp(t) => (t, TAG_TIMESTAMP),
                SystemValue::Bool(b) => (i64::from(b), TAG_BOOL),
                SystemValue::Null => (0, TAG_NULL),
            };
        }
        out
    }

    /// The value for system column `i`.
    pub fn get(&self, i: usize) -> SystemValue {
        match self.tags.get(i) {
            Some(&TAG_TIMESTAMP) => SystemValue::Timestamp(self.values[i]),
            Some(&TAG_BOOL) => SystemValue::Bool(self.values[i] != 0),
            _ => SystemValue::Null,
        }
    }
}

/// The identity of a written row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowIdentity {
    /// A new row.
    New,
    /// The same row as the removed row at this address (an update in place).
    SameAs(RowAddr),
}

/// One row a strategy writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    /// Index of the winner (in [`PlanInput::winners`]) it belongs to.
    pub winner: usize,
    /// Its business values.
    pub values: Values,
    /// Its system columns, in the target schema's order.
    pub system: SystemValues,
    /// Its identity.
    pub identity: RowIdentity,
}

/// What a merge did to one key, for metrics and the key index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOutcome {
    /// The key began to exist.
    Inserted,
    /// Its values changed.
    Updated,
    /// It was deleted.
    Deleted,
    /// Nothing changed (an exact re-statement, or a delete of an absent key).
    Unchanged,
    /// The strategy ignores this kind of change (for example SCD-0 updates).
    Ignored,
}

/// A strategy's decision for one merge.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Rows to remove.
    pub remove: Vec<RowAddr>,
    /// Rows to write, in order; a key's last written row becomes its latest.
    pub write: Vec<Write>,
    /// Per winner, what happened to its key.
    pub outcomes: Vec<KeyOutcome>,
}

impl Plan {
    /// An empty plan with room for `winners` outcomes and removals and
    /// `writes_per_winner` writes each (planning then never reallocates).
    pub fn with_capacity(winners: usize, writes_per_winner: usize) -> Self {
        Plan {
            remove: Vec::with_capacity(winners),
            write: Vec::with_capacity(winners * writes_per_winner),
            outcomes: Vec::with_capacity(winners),
        }
    }
}

/// What a strategy gets to decide on.
#[derive(Debug)]
pub struct PlanInput<'a> {
    /// The table spec.
    pub spec: &'a TableSpec,
    /// The target's schema.
    pub target: &'a SchemaRef,
    /// The winners, in input order.
    pub winners: &'a [Winner],
    /// The merge's clock.
    pub context: MergeContext,
    pub(crate) latest: &'a RecordBatch,
    pub(crate) latest_row: &'a [Option<usize>],
    differs: Vec<BooleanArray>,
}

impl PlanInput<'_> {
    /// Whether winner `w` differs from its key's latest row in any of
    /// `columns` (business column indices), null-safely. `true` when the key
    /// has no latest row.
    pub fn differs(&self, w: usize, columns: &[usize]) -> bool {
        if self.latest_row[w].is_none() {
            return true;
        }
        columns.iter().any(|&c| {
            let pos = self
                .spec
                .compared()
                .iter()
                .position(|&x| x == c)
                .expect("only compared columns can be tested");
            self.differs[pos].value(w)
        })
    }

    /// Row of winner `w`'s latest row in the columns returned by
    /// [`PlanInput::latest_times`] and [`PlanInput::latest_flags`].
    pub fn latest_index(&self, w: usize) -> Option<usize> {
        self.latest_row[w]
    }

    /// A timestamp column of the latest rows, as µs (NULL stays NULL).
    pub fn latest_times(&self, column: &str) -> Result<Int64Array> {
        times(self.latest_column(column)?)
    }

    /// A boolean column of the latest rows.
    pub fn latest_flags(&self, column: &str) -> Result<BooleanArray> {
        flags(self.latest_column(column)?)
    }

    pub(crate) fn latest_column(&self, name: &str) -> Result<&ArrayRef> {
        self.latest
            .column_by_name(name)
            .ok_or_else(|| ScdError::TargetShape {
                table: self.spec.name().to_string(),
                reason: format!("the target has no column `{name}`"),
            })
    }
}

/// The value at `row` of `array`, unless NULL or `row` is `None`.
pub fn value_at(array: &Int64Array, row: Option<usize>) -> Option<i64> {
    row.filter(|&r| array.is_valid(r)).map(|r| array.value(r))
}

/// An SCD type: how changes become rows of the target.
///
/// Implementations decide, winner by winner, what to remove and write; the
/// engine ([`merge`]) does everything else. A new type is a new
/// implementation, with no change to the engine.
pub trait MergeStrategy: Debug + Send + Sync {
    /// A short name (`"scd1"`), for errors and reports.
    fn name(&self) -> &'static str;

    /// The target table's schema: the business columns, then the
    /// strategy's system columns.
    fn target_schema(&self, spec: &TableSpec) -> Result<SchemaRef>;

    /// Among two rows of one key in a loaded table, whether row `a` is newer
    /// than row `b` (default: the later row).
    fn newer(&self, _target: &RecordBatch, a: usize, b: usize) -> bool {
        a > b
    }

    /// Whether a key whose latest row is `row` exists (default: yes).
    fn live(&self, _target: &RecordBatch, _row: usize) -> bool {
        true
    }

    /// Decide the merge.
    fn plan(&self, input: &PlanInput<'_>) -> Result<Plan>;

    /// Fill the system columns of written `rows` (in the target schema)
    /// that derive from the rest of each row, such as a version id; called
    /// on every batch a merge writes. Default: the rows as planned.
    ///
    /// # Errors
    ///
    /// Whatever computing the columns fails with.
    fn complete_rows(&self, _spec: &TableSpec, rows: RecordBatch) -> Result<RecordBatch> {
        Ok(rows)
    }

    /// For a history sequenced by event time whose late changes are put in
    /// their place: its rules. The engine then places every change row at
    /// its event time among all of its key's versions (the table keeps an
    /// index of them) instead of asking [`MergeStrategy::plan`] per winner.
    /// Default: `None`, the winner engine.
    ///
    /// # Errors
    ///
    /// [`ScdError::InvalidSpec`] when `spec` does not suit the strategy.
    fn event_time_rules(&self, _spec: &TableSpec) -> Result<Option<EventTimeRules>> {
        Ok(None)
    }
}

/// A time column (timestamp or integer) as µs in an `Int64Array`.
pub(crate) fn times(column: &ArrayRef) -> Result<Int64Array> {
    let cast = cast(column, &DataType::Int64)?;
    Ok(arrow::array::downcast_array::<Int64Array>(cast.as_ref()))
}

/// A boolean column.
pub(crate) fn flags(column: &ArrayRef) -> Result<BooleanArray> {
    let cast = cast(column, &DataType::Boolean)?;
    Ok(arrow::array::downcast_array::<BooleanArray>(cast.as_ref()))
}

/// An empty target for `strategy` and `spec`.
pub fn create_table(strategy: &dyn MergeStrategy, spec: &TableSpec) -> Result<Table> {
    let mut table = Table::new(
        spec.name(),
        strategy.target_schema(spec)?,
        spec.key().to_vec(),
    )?;
    index_versions(strategy, spec, &mut table)?;
    Ok(table)
}

/// Gives `table` the version index a history sequenced by event time needs
/// (rebuilt from its rows).
fn index_versions(strategy: &dyn MergeStrategy, spec: &TableSpec, table: &mut Table) -> Result<()> {
    if let Some(rules) = strategy.event_time_rules(spec)? {
        let window = rules.window(table)?;
        table.index_versions(window)?;
    }
    Ok(())
}

/// A target holding `rows` (in the target schema, columns matched by name),
/// for example a table read back from storage or a bulk load.
pub fn load_table(
    strategy: &dyn MergeStrategy,
    spec: &TableSpec,
    rows: RecordBatch,
) -> Result<Table> {
    let mut table = create_table(strategy, spec)?;
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
pub fn load_table_with_row_ids(
    strategy: &dyn MergeStrategy,
    spec: &TableSpec,
    rows: RecordBatch,
    row_ids: &[u64],
) -> Result<Table> {
    let mut table = create_table(strategy, spec)?;
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

/// Merge `batches` (in load order) into `table` as one merge.
///
/// Nothing is applied when any batch is malformed: the error names the
/// table, the row (counted across `batches`), the column and the value.
pub fn merge(
    strategy: &dyn MergeStrategy,
    spec: &TableSpec,
    table: &mut Table,
    batches: &[&RecordBatch],
    context: MergeContext,
) -> Result<MergeOutcome> {
    let target = table.schema().clone();
    check_target(strategy, spec, &target)?;
    if let Some(rules) = strategy.event_time_rules(spec)? {
        if spec.truncate_when().is_some() || spec.source() != ChangeSource::Changes {
            return Err(spec.invalid(
                "a history sequenced by event time takes neither truncates nor snapshots: \
                 truncate or diff the SCD-1 table and let the history follow its changes",
            ));
        }
        return merge_by_event_time(&rules, spec, table, batches, context);
    }
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
    // Independent reads, side by side on both cores.
    let (latest, winner_values) = rayon::join(
        || table.gather(&addrs),
        || take_rows(&changes.business, winners.iter().map(|w| w.row)),
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
    // The new rows, the removed rows (for the change set) and the key
    // states depend only on the plan: built side by side.
    let ((written, removed), key_states) = rayon::join(
        || {
            rayon::join(
                || assemble(&input, &winner_values, &ordered),
                || removed_rows(table, &winners, &latest, &plan.remove),
            )
        },
        || next_key_states(&changes, &winners, &states, &plan, &last_write),
    );
    let (written, removed) = (written?, removed?);
    let written = written
        .into_iter()
        .map(|rows| strategy.complete_rows(spec, rows))
        .collect::<Result<Vec<_>>>()?;
    let removed_ids: Vec<u64> = plan.remove.iter().map(|a| table.row_id(*a)).collect();
    let written_ids: Vec<u64> = ordered
        .iter()
        .map(|w| match w.identity {
            RowIdentity::SameAs(a) => table.row_id(a),
            RowIdentity::New => table.allocate_row_id(),
        })
        .collect();
    metrics.target_rows_written = written.iter().map(RecordBatch::num_rows).sum();
    metrics.target_rows_removed = removed.num_rows();
    let late_rows = take_rows(&changes.business, late.iter().map(|l| l.row))?;
    let late_rows = RecordBatch::try_new(spec.schema().clone(), late_rows.columns().to_vec())?;
    table.apply(&plan.remove, &written, &written_ids, key_states, Vec::new())?;
    if let Some(floor) = resets.floor {
        table.raise_sequence_floor(floor);
    }
    let change_set = ChangeSet::from_mutation(removed, removed_ids, written, written_ids);
    let applied_sequences = match spec.sequence() {
        Some(_) => Some(table.applied_sequences_of(winners.iter().map(|w| changes.key(w.row)))?),
        None => None,
    };
    let rejected = rejections(changes.rejected, &late, spec, changes.sequence_is_time);
    Ok(MergeOutcome {
        metrics,
        changes: change_set,
        late,
        late_rows,
        rejected,
        applied_sequences,
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

/// The rows `remove` names: taken from the already gathered latest rows
/// (the usual case: strategies remove winners' latest rows, in winner
/// order, found by one forward walk), else read from the table.
fn removed_rows(
    table: &Table,
    winners: &[Winner],
    latest: &RecordBatch,
    remove: &[RowAddr],
) -> Result<RecordBatch> {
    let latest_addrs: Vec<RowAddr> = winners.iter().filter_map(|w| w.latest).collect();
    let mut idx = Vec::with_capacity(remove.len());
    let mut cursor = 0;
    for a in remove {
        while cursor < latest_addrs.len() && latest_addrs[cursor] != *a {
            cursor += 1;
        }
        if cursor == latest_addrs.len() {
            return table.gather(remove);
        }
        idx.push(cursor as u32);
    }
    Ok(arrow::compute::take_record_batch(
        latest,
        &UInt32Array::from(idx),
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
fn next_key_states<'c>(
    changes: &'c Changes,
    winners: &[Winner],
    before: &[KeyState],
    plan: &Plan,
    last_write: &[Option<usize>],
) -> Vec<(crate::keys::KeyRef<'c>, KeyState, Option<usize>)> {
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
            (changes.key(w.row), state, last_write[i])
        })
        .collect()
}
