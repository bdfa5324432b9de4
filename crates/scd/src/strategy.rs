//! What an SCD type implements, and what it is given: the [`MergeStrategy`]
//! trait, the [`PlanInput`] the engine hands it (the winning change of each
//! key and the key's current row) and the [`Plan`] it answers with (rows to
//! remove, rows to [`Write`]). This is the module for authors of a new SCD
//! type; users of the types that ship (`Scd0`, `Scd1`, `Scd2`) need only the
//! crate root. The engine that runs a strategy is in `merge`.

use std::fmt::Debug;

use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, SchemaRef};

use crate::event_history::EventTimeRules;
use crate::operation::ChangeOp;
use crate::table::RowAddr;
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
    pub(crate) differs: Vec<BooleanArray>,
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
    ///
    /// # Errors
    ///
    /// [`ScdError::TargetShape`] when the target has no column `column`, and [`ScdError::Arrow`]
    /// when it is not a timestamp or integer column.
    pub fn latest_times(&self, column: &str) -> Result<Int64Array> {
        times(self.latest_column(column)?)
    }

    /// A boolean column of the latest rows.
    ///
    /// # Errors
    ///
    /// [`ScdError::TargetShape`] when the target has no column `column`, and [`ScdError::Arrow`]
    /// when it does not cast to boolean.
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
/// engine ([`crate::merge`]) does everything else. A new type is a new
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

    /// An empty target table for `spec` (with the version index a history
    /// sequenced by event time needs).
    ///
    /// # Errors
    ///
    /// [`ScdError::InvalidSpec`] when `spec` does not suit the strategy.
    fn create_table(&self, spec: &TableSpec) -> Result<crate::Table> {
        let mut table =
            crate::Table::new(spec.name(), self.target_schema(spec)?, spec.key().to_vec())?;
        if let Some(rules) = self.event_time_rules(spec)? {
            let window = rules.window(&table)?;
            table.index_versions(window)?;
        }
        Ok(table)
    }

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
