//! Change streams: a population of entities that evolves batch by batch, and
//! the classic mode that re-states every customer in every file like the
//! original generator.
//!
//! Planning (which key, which change; `planner.rs`) is sequential; turning
//! the plan into values (`columns.rs`) is a pure function of `(seed, key,
//! versions)`. In parallel mode a batch of changes is planned in pieces, each
//! piece planned while the one before it is turned into values, with
//! identical output.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, SchemaBuilder, SchemaRef, TimeUnit};

use crate::columns::{Generator, finish};
use crate::options::{ChangeMix, ChangeOptions};
use crate::planner::{Plan, Planner};
use crate::{EntitySpec, FakerError, Locale, Result};

/// The operation a change row carries in the operation column: the one list
/// of operation words, defined by `snowdrift-scd` and read the same way by
/// every backend.
pub use snowdrift_scd::Operation;

/// What one batch contains, as the generator intended it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Rows in the batch.
    pub rows: usize,
    /// New entities.
    pub inserts: usize,
    /// Updates that change at least one column's version.
    pub updates: usize,
    /// Deletes.
    pub deletes: usize,
    /// Exact re-statements of current values.
    pub noops: usize,
    /// Deleted entities that came back.
    pub restores: usize,
    /// Rows whose key already appeared earlier in the same batch.
    pub duplicates: usize,
    /// Rows whose event time was moved back (out of order).
    pub late: usize,
}

/// One generated batch of changes.
#[derive(Debug, Clone)]
pub struct ChangeBatch {
    /// 0-based position of the batch in the stream.
    pub index: u64,
    /// The rows: the entity's columns, then the operation, sequence and
    /// event-time columns when enabled.
    pub batch: RecordBatch,
    /// What the batch contains.
    pub stats: BatchStats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Changes,
    Classic,
    Snapshots,
}

/// Configures a [`ChangeStream`].
#[derive(Debug, Clone)]
pub struct ChangeStreamBuilder {
    spec: Arc<EntitySpec>,
    locale: Locale,
    seed: u64,
    options: ChangeOptions,
    mode: Mode,
}

impl ChangeStreamBuilder {
    fn new(spec: EntitySpec) -> Self {
        Self {
            spec: Arc::new(spec),
            locale: Locale::En,
            seed: 0,
            options: ChangeOptions::default(),
            mode: Mode::Changes,
        }
    }

    /// The seed: the same seed and options give byte-identical output.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The locale of names and addresses (default English).
    pub fn locale(mut self, locale: Locale) -> Self {
        self.locale = locale;
        self
    }

    /// Rows per batch (default 10,000, the original's rows per file; at most
    /// 10,000,000).
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.options.batch_size = rows;
        self
    }

    /// Entities inserted before changes begin (default 10,000); the first
    /// batches hold only these inserts.
    pub fn initial_population(mut self, entities: usize) -> Self {
        self.options.initial_population = entities;
        self
    }

    /// Shares of inserts, updates, deletes, no-ops and restores.
    pub fn mix(mut self, mix: ChangeMix) -> Self {
        self.options.mix = mix;
        self
    }

    /// Probability that a row targets a key already changed earlier in the
    /// same batch (default 0.02).
    pub fn duplicate_rate(mut self, rate: f64) -> Self {
        self.options.duplicate_rate = rate;
        self
    }

    /// Probability that a generated or updated column is NULL (default 0.02).
    /// A later update of that column sets it from NULL to a value.
    pub fn null_rate(mut self, rate: f64) -> Self {
        self.options.null_rate = rate;
        self
    }

    /// Probability that a row's event time lags behind (default 0), by up to
    /// [`ChangeStreamBuilder::max_lateness`].
    pub fn late_rate(mut self, rate: f64) -> Self {
        self.options.late_rate = rate;
        self
    }

    /// How far back a late row's event time may be (default 60 s).
    pub fn max_lateness(mut self, lateness: Duration) -> Self {
        self.options.max_lateness = lateness;
        self
    }

    /// Event-time distance between consecutive rows (default 1 ms).
    pub fn event_interval(mut self, interval: Duration) -> Self {
        self.options.event_interval = interval;
        self
    }

    /// Event time of the first row, in microseconds since the Unix epoch
    /// (default 2024-01-01T00:00:00).
    pub fn start_time_micros(mut self, micros: i64) -> Self {
        self.options.start_time_micros = micros;
        self
    }

    /// Name of the operation column (default `op`), or `None` for no column.
    pub fn operation_column(mut self, name: Option<&str>) -> Self {
        self.options.operation_column = name.map(str::to_owned);
        self
    }

    /// Name of the event-time column (default `event_time`), or `None`.
    pub fn event_time_column(mut self, name: Option<&str>) -> Self {
        self.options.event_time_column = name.map(str::to_owned);
        self
    }

    /// Name of a sequence column (default `None`: no column): an `Int64`
    /// holding each row's 0-based position in the whole stream, so a
    /// pipeline that loads files in any order can still apply changes in the
    /// order they were generated (declare it as the sequence column).
    pub fn sequence_column(mut self, name: Option<&str>) -> Self {
        self.options.sequence_column = name.map(str::to_owned);
        self
    }

    /// Generate each batch's values on all cores (same output as sequential).
    pub fn parallel(mut self, on: bool) -> Self {
        self.options.parallel = on;
        self
    }

    /// Classic mode, the original generator: every batch is one file that
    /// re-states keys `0..rows_per_file` with fresh random values, and there
    /// is no operation or event-time column. Call the column setters after
    /// this one to add them back.
    pub fn classic(mut self, rows_per_file: usize) -> Self {
        self.mode = Mode::Classic;
        self.options.batch_size = rows_per_file;
        self.options.initial_population = rows_per_file;
        self.options.mix = ChangeMix::upserts_only();
        self.options.null_rate = 0.0;
        self.whole_rows()
    }

    /// Rows that each state an entity whole, in order: no duplicates, no late event times, no
    /// operation, event-time or sequence column (classic and snapshot files).
    fn whole_rows(mut self) -> Self {
        self.options.duplicate_rate = 0.0;
        self.options.late_rate = 0.0;
        self.options.operation_column = None;
        self.options.event_time_column = None;
        self.options.sequence_column = None;
        self
    }

    /// Snapshot mode: every batch is a full snapshot of the live entities after the batch's
    /// changes (inserts, updates and deletes as the mix says), ordered by key, with no
    /// operation, sequence or event-time column: the input of a snapshot source. A key a
    /// snapshot leaves out was deleted. [`crate::GroundTruth::for_stream`] reads such a stream
    /// as snapshots.
    pub fn snapshots(mut self) -> Self {
        self.mode = Mode::Snapshots;
        self.options.snapshots = true;
        self.whole_rows()
    }

    /// Validate the options and build the stream.
    ///
    /// # Errors
    ///
    /// [`FakerError::InvalidOption`] naming the first option out of range or at odds with
    /// another.
    pub fn build(self) -> Result<ChangeStream> {
        self.options.validate()?;
        if matches!(self.mode, Mode::Changes)
            && self.options.mix.update > 0.0
            && self.spec.resolved_groups().iter().all(|g| g.weight == 0)
        {
            return Err(FakerError::InvalidOption {
                option: "mix.update",
                value: self.options.mix.update.to_string(),
                reason: "the entity spec has no update group with weight > 0",
            });
        }
        let schema = change_schema(&self.spec, &self.options)?;
        Ok(ChangeStream {
            rows: Generator::new(self.spec.clone(), self.locale, self.seed),
            planner: Planner::new(self.spec.clone(), self.options.clone(), self.seed),
            options: self.options,
            mode: self.mode,
            schema,
            plan: Plan::default(),
            spec: self.spec,
        })
    }
}

fn change_schema(spec: &EntitySpec, options: &ChangeOptions) -> Result<SchemaRef> {
    let mut fields = SchemaBuilder::from(spec.schema().fields());
    if let Some(op) = &options.operation_column {
        fields.push(Field::new(op, DataType::Utf8, false));
    }
    if let Some(seq) = &options.sequence_column {
        fields.push(Field::new(seq, DataType::Int64, false));
    }
    if let Some(t) = &options.event_time_column {
        fields.push(Field::new(
            t,
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ));
    }
    let schema = fields.finish();
    let mut names = std::collections::HashSet::new();
    for f in schema.fields() {
        if !names.insert(f.name().as_str()) {
            return Err(FakerError::InvalidSpec {
                entity: spec.name().to_string(),
                problem: crate::error::SpecProblem::ClashesWithStreamColumn {
                    column: f.name().clone(),
                },
            });
        }
    }
    Ok(Arc::new(schema))
}

/// An endless, deterministic stream of change batches over an evolving
/// population. It is an [`Iterator`]; take as many batches as you need.
///
/// ```
/// use snowdrift_faker::{ChangeStream, EntitySpec};
///
/// let mut stream = ChangeStream::builder(EntitySpec::customer())
///     .seed(42)
///     .batch_size(1_000)
///     .initial_population(1_000)
///     .build()?;
/// let first = stream.next().unwrap();
/// assert_eq!(first.batch.num_rows(), 1_000);
/// assert_eq!(first.stats.inserts, 1_000);
/// let second = stream.next().unwrap();
/// assert!(second.stats.updates > 0);
/// # Ok::<(), snowdrift_faker::FakerError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ChangeStream {
    spec: Arc<EntitySpec>,
    rows: Generator,
    planner: Planner,
    options: ChangeOptions,
    mode: Mode,
    schema: SchemaRef,
    /// The last batch's plan, kept for its buffers.
    plan: Plan,
}

/// Pieces a batch is planned in while earlier pieces are turned into values
/// (parallel change streams).
const PIECES_PER_BATCH: usize = 8;
/// Smallest piece worth handing to another thread.
const MIN_PIECE_ROWS: usize = 2048;

impl ChangeStream {
    /// Configure a stream of changes to entities described by `spec`.
    pub fn builder(spec: EntitySpec) -> ChangeStreamBuilder {
        ChangeStreamBuilder::new(spec)
    }

    /// The entity spec.
    pub fn spec(&self) -> &EntitySpec {
        &self.spec
    }

    /// Schema of the batches: the entity's columns plus the enabled extras.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Name of the operation column, if enabled.
    pub fn operation_column(&self) -> Option<&str> {
        self.options.operation_column.as_deref()
    }

    /// Name of the sequence column, if enabled.
    pub fn sequence_column(&self) -> Option<&str> {
        self.options.sequence_column.as_deref()
    }

    /// Name of the event-time column, if enabled.
    pub fn event_time_column(&self) -> Option<&str> {
        self.options.event_time_column.as_deref()
    }

    /// Whether every batch is a full snapshot ([`ChangeStreamBuilder::snapshots`]).
    pub fn snapshots(&self) -> bool {
        self.mode == Mode::Snapshots
    }

    /// Number of entities that currently exist.
    pub fn live_count(&self) -> usize {
        self.planner.population.live_count()
    }

    /// Generate the next batch.
    pub fn next_batch(&mut self) -> ChangeBatch {
        let index = self.planner.next_batch;
        // The plan's buffers are reused from batch to batch: fresh memory
        // costs a page fault per 4 KiB.
        let mut plan = std::mem::take(&mut self.plan);
        plan.clear();
        let columns = match self.mode {
            Mode::Classic => {
                self.planner.plan_classic(&mut plan);
                let rows = self.rows.rows(&plan.keys, &plan.versions, true);
                self.rows.columns(&rows, self.options.parallel)
            }
            Mode::Changes if self.options.parallel => self.plan_and_generate(&mut plan),
            Mode::Snapshots => {
                let mut cursor = self.planner.begin_batch();
                self.planner.plan_rows(&mut cursor, usize::MAX, &mut plan);
                let snapshot = self.intended_state();
                let stats = plan.stats;
                self.plan = plan;
                return ChangeBatch {
                    index,
                    batch: snapshot,
                    stats,
                };
            }
            Mode::Changes => {
                let mut cursor = self.planner.begin_batch();
                self.planner.plan_rows(&mut cursor, usize::MAX, &mut plan);
                let rows = self.rows.rows(&plan.keys, &plan.versions, false);
                self.rows.columns(&rows, false)
            }
        };
        let batch = self.with_extra_columns(columns, &plan);
        let stats = plan.stats;
        self.plan = plan;
        ChangeBatch {
            index,
            batch,
            stats,
        }
    }

    /// A parallel batch of changes: each piece of the batch is planned while
    /// the piece before it is turned into values, which are appended straight
    /// to the batch's columns. `plan` receives what the extra columns and the
    /// statistics need. Same output as planning the whole batch first.
    fn plan_and_generate(&mut self, plan: &mut Plan) -> Vec<ArrayRef> {
        let batch = self.options.batch_size;
        let piece = (batch / PIECES_PER_BATCH).max(MIN_PIECE_ROWS);
        let (planner, generator) = (&mut self.planner, &self.rows);
        let mut cursor = planner.begin_batch();
        let mut out: Vec<Option<_>> = (0..self.spec.columns().len()).map(|_| None).collect();
        let mut current = Plan::default();
        planner.plan_rows(&mut cursor, piece, &mut current);
        loop {
            let mut next = Plan::default();
            let ((), planned) = rayon::join(
                || {
                    let rows = generator.rows(&current.keys, &current.versions, false);
                    generator.append_parallel(&rows, &mut out, batch);
                },
                || planner.plan_rows(&mut cursor, piece, &mut next),
            );
            plan.absorb(&current);
            if planned == 0 {
                break;
            }
            current = next;
        }
        finish(generator, out)
    }

    /// What the generator intends the current state to be: every live entity
    /// at its current values, ordered by key (the entity's schema, no extras).
    ///
    /// This is the generator's own bookkeeping; the ground truth of a pipeline
    /// is computed from the emitted rows by [`crate::GroundTruth`].
    pub fn intended_state(&self) -> RecordBatch {
        let population = &self.planner.population;
        let mut keys: Vec<i64> = (0..population.live_count())
            .map(|i| population.live_key(i))
            .collect();
        keys.sort_unstable();
        let versions: Vec<u32> = keys
            .iter()
            .flat_map(|&key| population.versions(key).iter().copied())
            .collect();
        let rows = self.rows.rows(&keys, &versions, false);
        let columns = self.rows.columns(&rows, self.options.parallel);
        RecordBatch::try_new(self.spec.schema(), columns).expect("columns follow the spec's schema")
    }

    /// The batch: the entity's `columns` plus the enabled operation, sequence
    /// and event-time columns of `plan`.
    fn with_extra_columns(&self, mut columns: Vec<ArrayRef>, plan: &Plan) -> RecordBatch {
        if self.options.operation_column.is_some() {
            let ops: StringArray = plan.ops.iter().map(|o| Some(o.as_str())).collect();
            columns.push(Arc::new(ops) as ArrayRef);
        }
        if self.options.sequence_column.is_some() {
            let first = plan.first_sequence as i64;
            let sequence: Int64Array = (first..first + plan.ops.len() as i64).collect();
            columns.push(Arc::new(sequence) as ArrayRef);
        }
        if self.options.event_time_column.is_some() {
            let times = TimestampMicrosecondArray::from(plan.event_times.clone());
            columns.push(Arc::new(times) as ArrayRef);
        }
        RecordBatch::try_new(self.schema.clone(), columns)
            .expect("columns follow the change schema")
    }
}

impl Iterator for ChangeStream {
    type Item = ChangeBatch;

    /// Always `Some`: the stream is endless.
    fn next(&mut self) -> Option<ChangeBatch> {
        Some(self.next_batch())
    }
}
