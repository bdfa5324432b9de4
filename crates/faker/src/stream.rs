//! Change streams: a population of entities that evolves batch by batch, and
//! the classic mode that re-states every customer in every file like the
//! original generator.
//!
//! Planning (which key, which change) is sequential and cheap; turning the
//! plan into values is a pure function of `(seed, key, versions)` and runs in
//! parallel when asked, with identical output.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::columns::Generator;
use crate::options::{ChangeMix, ChangeOptions};
use crate::population::Population;
use crate::{EntitySpec, FakerError, FakerRng, Locale, Result};

/// The operation a change row carries in the operation column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// A new entity, or a deleted one coming back.
    Insert,
    /// New values (or an exact re-statement) of an existing entity.
    Update,
    /// The entity is removed; the row carries its last values.
    Delete,
}

impl Operation {
    /// The text written to the operation column: `INSERT`, `UPDATE`, `DELETE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Insert => "INSERT",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }

    /// Parse the operation column's text (case-insensitive; `I`/`U`/`D`,
    /// `UPSERT` and `MERGE` are accepted too).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "INSERT" | "I" | "C" | "CREATE" => Some(Operation::Insert),
            "UPDATE" | "U" | "UPSERT" | "MERGE" => Some(Operation::Update),
            "DELETE" | "D" => Some(Operation::Delete),
            _ => None,
        }
    }
}

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

#[derive(Debug, Clone)]
enum Mode {
    Changes,
    Classic,
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
        self.options.duplicate_rate = 0.0;
        self.options.late_rate = 0.0;
        self.options.operation_column = None;
        self.options.event_time_column = None;
        self.options.sequence_column = None;
        self
    }

    /// Validate the options and build the stream.
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
        let group_weights = self
            .spec
            .resolved_groups()
            .iter()
            .map(|g| g.weight)
            .collect();
        Ok(ChangeStream {
            rows: Generator::new(self.spec.clone(), self.locale, self.seed),
            population: Population::new(self.spec.columns().len()),
            planner: FakerRng::from_seed(self.seed ^ 0x706c_616e),
            cumulative: self.options.mix.cumulative(),
            group_weights,
            options: self.options,
            mode: self.mode,
            schema,
            next_batch: 0,
            next_event: 0,
            plan: Plan::default(),
            spec: self.spec,
        })
    }
}

fn change_schema(spec: &EntitySpec, options: &ChangeOptions) -> Result<SchemaRef> {
    let mut fields: Vec<Field> = spec
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
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
    let mut names = std::collections::HashSet::new();
    for f in &fields {
        if !names.insert(f.name().as_str()) {
            return Err(FakerError::InvalidSpec {
                entity: spec.name().to_string(),
                reason: format!(
                    "column `{}` clashes with an extra column of the change stream",
                    f.name()
                ),
            });
        }
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// Rows planned for one batch, before values are generated.
#[derive(Debug, Default, Clone)]
struct Plan {
    keys: Vec<i64>,
    ops: Vec<Operation>,
    /// One version per column per row, or one set shared by every row.
    versions: Vec<u32>,
    shared_versions: bool,
    /// Position of the plan's first row in the whole stream.
    first_sequence: u64,
    event_times: Vec<i64>,
    stats: BatchStats,
}

impl Plan {
    fn clear(&mut self) {
        self.keys.clear();
        self.ops.clear();
        self.versions.clear();
        self.shared_versions = false;
        self.event_times.clear();
        self.stats = BatchStats::default();
    }
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
    population: Population,
    planner: FakerRng,
    cumulative: [f64; 5],
    group_weights: Vec<u32>,
    options: ChangeOptions,
    mode: Mode,
    schema: SchemaRef,
    next_batch: u64,
    next_event: u64,
    /// The last batch's plan, kept for its buffers.
    plan: Plan,
}

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

    /// Number of entities that currently exist.
    pub fn live_count(&self) -> usize {
        self.population.live_count()
    }

    /// Generate the next batch.
    pub fn next_batch(&mut self) -> ChangeBatch {
        // The plan's buffers are reused from batch to batch: fresh memory
        // costs a page fault per 4 KiB.
        let mut plan = std::mem::take(&mut self.plan);
        plan.clear();
        plan.first_sequence = self.next_event;
        match self.mode {
            Mode::Changes => self.plan_changes(&mut plan),
            Mode::Classic => self.plan_classic(&mut plan),
        }
        let index = self.next_batch;
        self.next_batch += 1;
        let batch = self.materialize(&plan);
        let stats = plan.stats;
        self.plan = plan;
        ChangeBatch {
            index,
            batch,
            stats,
        }
    }

    /// What the generator intends the current state to be: every live entity
    /// at its current values, ordered by key (the entity's schema, no extras).
    ///
    /// This is the generator's own bookkeeping; the ground truth of a pipeline
    /// is computed from the emitted rows by [`crate::GroundTruth`].
    pub fn intended_state(&self) -> RecordBatch {
        let mut keys: Vec<i64> = (0..self.population.live_count())
            .map(|i| self.population.live_key(i))
            .collect();
        keys.sort_unstable();
        let versions: Vec<u32> = keys
            .iter()
            .flat_map(|&key| self.population.versions(key).iter().copied())
            .collect();
        let rows = self.rows.rows(&keys, &versions, false);
        let columns = self.rows.columns(&rows, self.options.parallel);
        RecordBatch::try_new(self.spec.schema(), columns).expect("columns follow the spec's schema")
    }

    fn next_event_time(&mut self, stats: &mut BatchStats) -> i64 {
        let interval = self.options.event_interval.as_micros().max(1) as i64;
        let mut t = self.options.start_time_micros + self.next_event as i64 * interval;
        self.next_event += 1;
        if self.planner.chance(self.options.late_rate) {
            let max = self.options.max_lateness.as_micros().max(1) as i64;
            t -= self.planner.between(1, max);
            stats.late += 1;
        }
        t
    }

    fn push(&mut self, plan: &mut Plan, key: i64, op: Operation) {
        plan.keys.push(key);
        plan.ops.push(op);
        plan.versions
            .extend_from_slice(self.population.versions(key));
        let t = self.next_event_time(&mut plan.stats);
        plan.event_times.push(t);
        plan.stats.rows += 1;
    }

    /// Classic mode: file `f` re-states keys `0..rows` with every column at
    /// version `f`, so the plan is filled in bulk.
    fn plan_classic(&mut self, plan: &mut Plan) {
        let rows = self.options.batch_size;
        let width = self.spec.columns().len();
        let first_file = self.population.key_count() == 0;
        let op = if first_file {
            for _ in 0..rows {
                self.population.create(|_| false);
            }
            Operation::Insert
        } else {
            self.population.bump_all(self.spec.key_index());
            Operation::Update
        };
        let version = self
            .population
            .versions(0)
            .iter()
            .copied()
            .max()
            .unwrap_or(0);
        plan.keys.extend(0..rows as i64);
        plan.ops.resize(rows, op);
        plan.versions.resize(width, version);
        plan.shared_versions = true;
        plan.stats = BatchStats {
            rows,
            inserts: if first_file { rows } else { 0 },
            updates: if first_file { 0 } else { rows },
            ..BatchStats::default()
        };
        for _ in 0..rows {
            let t = self.next_event_time(&mut plan.stats);
            plan.event_times.push(t);
        }
    }

    fn plan_changes(&mut self, plan: &mut Plan) {
        let mut touched: Vec<i64> = Vec::new();
        // Marks wrap after 2^31 batches; 0 is never a batch's mark.
        let stamp = (self.next_batch % ((1 << 31) - 1)) as u32 + 1;
        for _ in 0..self.options.batch_size {
            let (key, op) = if self.population.key_count() < self.options.initial_population {
                self.insert(&mut plan.stats)
            } else if !touched.is_empty() && self.planner.chance(self.options.duplicate_rate) {
                let key = *self.planner.pick(&touched);
                plan.stats.duplicates += 1;
                self.change_again(key, &mut plan.stats)
            } else {
                self.random_change(&mut plan.stats)
            };
            if self.population.mark(key, stamp) {
                touched.push(key);
            }
            self.push(plan, key, op);
        }
    }

    fn insert(&mut self, stats: &mut BatchStats) -> (i64, Operation) {
        let null_rate = self.options.null_rate;
        let key_col = self.spec.key_index();
        let planner = &mut self.planner;
        let key = self
            .population
            .create(|c| c != key_col && planner.chance(null_rate));
        stats.inserts += 1;
        (key, Operation::Insert)
    }

    /// A change to a key already changed in this batch: the duplicate-key case.
    fn change_again(&mut self, key: i64, stats: &mut BatchStats) -> (i64, Operation) {
        if !self.population.is_live(key) {
            self.population.restore(key);
            stats.restores += 1;
            return (key, Operation::Insert);
        }
        let mix = &self.options.mix;
        if mix.delete > 0.0
            && self
                .planner
                .chance(mix.delete / (mix.delete + mix.update + mix.noop))
        {
            self.population.delete(key);
            stats.deletes += 1;
            return (key, Operation::Delete);
        }
        self.update(key, stats)
    }

    fn random_change(&mut self, stats: &mut BatchStats) -> (i64, Operation) {
        let u = self.planner.unit();
        let choice = self.cumulative.iter().position(|&c| u < c).unwrap_or(0);
        let live = self.population.live_count();
        match choice {
            1..=3 if live == 0 => self.insert(stats),
            1 => {
                let key = self.population.random_live(&mut self.planner);
                self.update(key, stats)
            }
            2 => {
                let key = self.population.random_live(&mut self.planner);
                self.population.delete(key);
                stats.deletes += 1;
                (key, Operation::Delete)
            }
            3 => {
                let key = self.population.random_live(&mut self.planner);
                stats.noops += 1;
                (key, Operation::Update)
            }
            4 if self.population.deleted_count() > 0 => {
                let n = self.population.deleted_count();
                let key = self.population.deleted_key(self.planner.index(n));
                self.population.restore(key);
                stats.restores += 1;
                (key, Operation::Insert)
            }
            _ => self.insert(stats),
        }
    }

    fn update(&mut self, key: i64, stats: &mut BatchStats) -> (i64, Operation) {
        let total: u64 = self.group_weights.iter().map(|&w| u64::from(w)).sum();
        if total == 0 {
            stats.noops += 1;
            return (key, Operation::Update);
        }
        let mut r = self.planner.index(total as usize) as u64;
        let group = self
            .group_weights
            .iter()
            .position(|&w| {
                if r < u64::from(w) {
                    true
                } else {
                    r -= u64::from(w);
                    false
                }
            })
            .unwrap_or(0);
        let columns = &self.spec.resolved_groups()[group].columns;
        let null_rate = self.options.null_rate;
        let planner = &mut self.planner;
        self.population
            .bump(key, columns, || planner.chance(null_rate));
        stats.updates += 1;
        (key, Operation::Update)
    }

    fn materialize(&self, plan: &Plan) -> RecordBatch {
        let rows = self
            .rows
            .rows(&plan.keys, &plan.versions, plan.shared_versions);
        let mut columns = self.rows.columns(&rows, self.options.parallel);
        if self.options.operation_column.is_some() {
            let ops: StringArray = plan.ops.iter().map(|o| Some(o.as_str())).collect();
            columns.push(Arc::new(ops) as ArrayRef);
        }
        if self.options.sequence_column.is_some() {
            let first = plan.first_sequence as i64;
            let sequence: Int64Array = (first..first + plan.keys.len() as i64).collect();
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
