//! Reproducible data sets for benchmarks and peer comparisons: a target of
//! `keys` customers and a batch of changes against it, from the faker's
//! classic mode, so every tool measured gets the same rows; and a change
//! stream over a population that stops growing, for long runs.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Int64Array, RecordBatch, TimestampMicrosecondArray, UInt32Array,
};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::{DataType, Field, SchemaBuilder};
use arrow::error::ArrowError;

use crate::faker::{ChangeMix, ChangeStream, EntitySpec, FakerError, FakerRng};
use crate::scd::OPEN_END_MICROS;

/// 2024-01-01T00:00:00, when the target's rows were written (µs).
pub const LOADED_AT: i64 = 1_704_067_200_000_000;
/// 2024-01-02T00:00:00, when the changes are merged (µs).
pub const MERGED_AT: i64 = 1_704_153_600_000_000;

/// A customer change stream in batches of `rows` whose population stops growing: the first
/// `population` changes insert it, then only updates (80 %) and no-ops (20 %), with the `op`
/// and `seq` columns of the default pipeline and no late events — what the soak and the
/// reads-under-load benchmarks stage.
///
/// # Errors
///
/// [`FakerError`] when `rows` is zero.
pub fn steady_population(
    seed: u64,
    rows: usize,
    population: usize,
) -> Result<ChangeStream, FakerError> {
    ChangeStream::builder(EntitySpec::customer())
        .seed(seed)
        .batch_size(rows)
        .initial_population(population)
        .mix(ChangeMix {
            insert: 0.0,
            update: 0.8,
            delete: 0.0,
            noop: 0.2,
            restore: 0.0,
        })
        .operation_column(Some("op"))
        .sequence_column(Some("seq"))
        .event_time_column(None)
        .late_rate(0.0)
        .parallel(true)
        .build()
}

/// Writes `batch` to `path` as CSV with a header, for a peer to read.
///
/// # Errors
///
/// [`ArrowError`] when the file cannot be created or written.
pub fn write_csv(path: &std::path::Path, batch: &RecordBatch) -> Result<(), ArrowError> {
    let file = std::fs::File::create(path)?;
    let mut writer = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(file);
    writer.write(batch)
}

/// A target table's rows and a batch of changes against it.
#[derive(Debug, Clone)]
pub struct ScdWorkload {
    /// Customers `0..keys`, the eight `customer_raw` columns.
    pub target: RecordBatch,
    /// The changes: updates of distinct existing customers with fresh values,
    /// then new customers with keys from `keys` on.
    pub changes: RecordBatch,
}

impl ScdWorkload {
    /// `changes` rows against `keys` customers, of which `new_share` are new
    /// customers; the same `seed` gives the same rows.
    ///
    /// # Errors
    ///
    /// [`FakerError`] when the faker refuses the sizes (for example zero keys); an Arrow failure
    /// while picking the changed rows comes back as [`FakerError::Arrow`].
    pub fn generate(
        keys: usize,
        changes: usize,
        new_share: f64,
        seed: u64,
    ) -> Result<Self, FakerError> {
        let mut files = ChangeStream::builder(EntitySpec::customer())
            .seed(seed)
            .classic(keys)
            .parallel(true)
            .build()?;
        let target = files.next_batch().batch;
        let fresh = files.next_batch().batch;
        let new = ((changes as f64) * new_share).round() as usize;
        let updates = changes.saturating_sub(new).min(keys);
        let picked = distinct_indices(keys, updates, seed);
        let updated = take_record_batch(&fresh, &UInt32Array::from(picked))?;
        let new_rows = with_keys(&fresh.slice(0, new.min(keys)), keys as i64)?;
        let changes = concat_batches(&target.schema(), [&updated, &new_rows])?;
        Ok(Self { target, changes })
    }

    /// The target as an SCD-1 table: every row stamped [`LOADED_AT`].
    ///
    /// # Errors
    ///
    /// An [`ArrowError`] if the stamped column cannot be appended (it always can for a target
    /// built by [`ScdWorkload::generate`]).
    pub fn scd1_target(&self) -> Result<RecordBatch, ArrowError> {
        let n = self.target.num_rows();
        let stamp: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![LOADED_AT; n]));
        append(
            &self.target,
            vec![(Field::new("update_timestamp", timestamp(), true), stamp)],
        )
    }

    /// The target as an SCD-2 history: one current version per customer,
    /// valid from [`LOADED_AT`].
    ///
    /// # Errors
    ///
    /// An [`ArrowError`] if the validity columns cannot be appended (they always can for a target
    /// built by [`ScdWorkload::generate`]).
    pub fn scd2_target(&self) -> Result<RecordBatch, ArrowError> {
        with_validity(&self.target, LOADED_AT, OPEN_END_MICROS)
    }
}

/// `rows` as versions of a history, each valid over `[start, end)`.
fn with_validity(rows: &RecordBatch, start: i64, end: i64) -> Result<RecordBatch, ArrowError> {
    let n = rows.num_rows();
    append(
        rows,
        vec![
            (
                Field::new("start_time", timestamp(), false),
                Arc::new(TimestampMicrosecondArray::from(vec![start; n])) as ArrayRef,
            ),
            (
                Field::new("end_time", timestamp(), false),
                Arc::new(TimestampMicrosecondArray::from(vec![end; n])),
            ),
            (
                Field::new("is_current", DataType::Boolean, false),
                Arc::new(BooleanArray::from(vec![end == OPEN_END_MICROS; n])),
            ),
        ],
    )
}

/// 2024-01-01T12:00:00: the event time of late changes in [`ScdWorkload::event_time`] (µs).
pub const LATE_AT: i64 = LOADED_AT + 43_200_000_000;
/// 2024-01-03T00:00:00: the event time of in-order changes in [`ScdWorkload::event_time`] (µs).
pub const EVENT_AT: i64 = MERGED_AT + 86_400_000_000;

/// A history sequenced by event time and changes against it, late ones included: see
/// [`ScdWorkload::event_time`].
#[derive(Debug, Clone)]
pub struct EventTimeWorkload {
    /// Two versions per customer: `[LOADED_AT, MERGED_AT)` and `[MERGED_AT, open)`.
    pub history: RecordBatch,
    /// The workload's changes with an `event_time` column: the first `late_share` of the
    /// updates at [`LATE_AT`] (inside each customer's first version), the rest at
    /// [`EVENT_AT`].
    pub changes: RecordBatch,
    /// How many changes are late.
    pub late: usize,
}

impl ScdWorkload {
    /// The target as a history of two versions per customer, and the changes dated by an
    /// `event_time` column, `late_share` of the updates late (they split each customer's
    /// first version); the input of the event-time merge benchmark.
    ///
    /// # Errors
    ///
    /// [`ArrowError`] if the batches cannot be built.
    pub fn event_time(&self, late_share: f64) -> Result<EventTimeWorkload, ArrowError> {
        let n = self.target.num_rows();
        let first = with_validity(&self.target, LOADED_AT, MERGED_AT)?;
        let second = with_validity(&self.target, MERGED_AT, OPEN_END_MICROS)?;
        let history = concat_batches(&first.schema(), [&first, &second])?;
        let rows = self.changes.num_rows();
        // Updates come first, then new customers (keys from `n` on).
        let keys = self.changes.column(0).as_any().downcast_ref::<Int64Array>();
        let existing = keys.map_or(rows, |k| {
            (0..rows).find(|&r| k.value(r) >= n as i64).unwrap_or(rows)
        });
        let late = ((existing as f64) * late_share).round() as usize;
        let times: Vec<i64> = (0..rows)
            .map(|r| if r < late { LATE_AT } else { EVENT_AT })
            .collect();
        let changes = append(
            &self.changes,
            vec![(
                Field::new("event_time", timestamp(), false),
                Arc::new(TimestampMicrosecondArray::from(times)) as ArrayRef,
            )],
        )?;
        Ok(EventTimeWorkload {
            history,
            changes,
            late,
        })
    }
}

fn timestamp() -> DataType {
    crate::scd::TIMESTAMP
}

/// `count` distinct indices in `0..n`, in random order (a partial shuffle).
fn distinct_indices(n: usize, count: usize, seed: u64) -> Vec<u32> {
    let mut rng = FakerRng::from_seed(seed ^ 0x5eed);
    let mut all: Vec<u32> = (0..n as u32).collect();
    for i in 0..count.min(n) {
        let j = i + rng.index(n - i);
        all.swap(i, j);
    }
    all.truncate(count.min(n));
    all
}

/// `rows` with keys renumbered from `first`.
fn with_keys(rows: &RecordBatch, first: i64) -> Result<RecordBatch, ArrowError> {
    let mut cols = rows.columns().to_vec();
    cols[0] = Arc::new(Int64Array::from_iter_values(
        first..first + rows.num_rows() as i64,
    ));
    RecordBatch::try_new(rows.schema(), cols)
}

fn append(batch: &RecordBatch, extra: Vec<(Field, ArrayRef)>) -> Result<RecordBatch, ArrowError> {
    let mut fields = SchemaBuilder::from(batch.schema().fields());
    let mut cols = batch.columns().to_vec();
    for (f, c) in extra {
        fields.push(f);
        cols.push(c);
    }
    RecordBatch::try_new(Arc::new(fields.finish()), cols)
}
