//! Ground truth: the SCD-1 table and SCD-2 history that a correct pipeline
//! must end with, computed by replaying change rows through a plain reference
//! model of snowdrift's merge rules (the original pipeline's, with its defects fixed:
//! `docs/concepts.md`).
//!
//! Rules, per merge (one call of [`GroundTruth::merge`]):
//! - rows are numbered in load order (batch order, then row order);
//! - per key, one winner: the latest by load order ([`VersionOrder::Arrival`])
//!   or by `(event time, load order)` ([`VersionOrder::EventTime`]);
//! - comparison is null-safe: NULL equals NULL, NULL differs from any value;
//! - a winner equal to the current values changes nothing (no new version);
//! - a DELETE closes the current version (a logical delete) and adds none;
//!   an insert after a delete opens a new version;
//! - with event-time order, a winner older than the key's latest applied
//!   change is *late*: it changes nothing and is listed by
//!   [`GroundTruth::late_rows`] (the dead-letter output).
//!
//! Under [`VersionOrder::Restitch`] there are no winners: every row is put in
//! its place among its key's versions by event time (see `restitch.rs`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Int64Array, Int64Builder, RecordBatch, StringArray,
    StringBuilder, TimestampMicrosecondArray, UInt32Array,
};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, SchemaBuilder, SchemaRef, TimeUnit};

use crate::restitch::Restitched;
use crate::{ChangeStream, EntitySpec, FakerError, Operation, Result};

/// 9999-12-31T00:00:00, the original's "open" end time, in microseconds: the SCD engine's
/// constant, so that the ground truth and the merges write the same end.
pub use snowdrift_scd::OPEN_END_MICROS;

/// How versions of one key are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionOrder {
    /// Load order: batch order, then row order (the default).
    #[default]
    Arrival,
    /// The event-time column, ties broken by load order; older changes that
    /// arrive after newer ones are rejected as late.
    EventTime,
    /// The stream's sequence column (each row's position in generation
    /// order), ties broken by load order; a change older than the key's
    /// applied one is rejected as late, as a pipeline with a declared
    /// sequence column does. Versions carry no times (as with `Arrival`).
    Sequence,
    /// A history sequenced by the event-time column with late changes put
    /// in their place, one row at a time in load order (snowdrift-scd's
    /// `LateChanges::Restitch`): a change before its key's newest event time
    /// minus `within` is rejected as late; `None` accepts any lateness. The
    /// expected SCD-1 table holds each key's latest change by event time.
    Restitch {
        /// How late a change may be.
        within: Option<std::time::Duration>,
    },
}

/// A single scalar of a row, compared null-safely (`Null == Null`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Scalar {
    Null,
    Int(i64),
    Str(Box<str>),
}

pub(crate) type Row = Arc<[Scalar]>;

#[derive(Debug, Clone)]
pub(crate) struct Version {
    pub(crate) row: Row,
    pub(crate) start: Option<i64>,
    pub(crate) end: Option<i64>,
    pub(crate) current: bool,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct KeyState {
    pub(crate) versions: Vec<Version>,
    pub(crate) live: bool,
    pub(crate) last_event_time: Option<i64>,
}

/// A change rejected because a newer change of its key was already applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateRow {
    /// The key.
    pub key: i64,
    /// The rejected row's event time (µs since the epoch), or its sequence
    /// under [`VersionOrder::Sequence`].
    pub event_time: i64,
    /// Event time (or sequence) of the newer change already applied.
    pub applied_event_time: i64,
    /// 0-based load sequence number of the rejected row.
    pub load_sequence: u64,
}

/// What one merge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeSummary {
    /// Rows read.
    pub rows: usize,
    /// Rows that lost to a later row of the same key in the same merge.
    pub superseded: usize,
    /// Keys that began to exist (new or restored).
    pub inserted: usize,
    /// Keys whose values changed.
    pub updated: usize,
    /// Keys deleted.
    pub deleted: usize,
    /// Winners equal to the current state (or deletes of absent keys).
    pub unchanged: usize,
    /// Winners rejected as late.
    pub late: usize,
}

struct Candidate {
    key: i64,
    op: Operation,
    time: Option<i64>,
    seq: u64,
    row: Row,
}

/// The reference model; feed it change rows, read the expected tables.
///
/// ```
/// use snowdrift_faker::{ChangeStream, EntitySpec, GroundTruth};
///
/// let mut stream = ChangeStream::builder(EntitySpec::customer())
///     .seed(1).batch_size(500).initial_population(500).build()?;
/// let mut truth = GroundTruth::for_stream(&stream);
/// for batch in stream.by_ref().take(4) {
///     truth.merge(&[&batch.batch])?; // each batch merged on its own
/// }
/// let customer = truth.expected_current()?;
/// let history = truth.expected_history()?;
/// assert_eq!(customer.num_rows(), stream.live_count());
/// assert!(history.num_rows() >= customer.num_rows());
/// # Ok::<(), snowdrift_faker::FakerError>(())
/// ```
#[derive(Debug, Clone)]
pub struct GroundTruth {
    spec: Arc<EntitySpec>,
    operation_column: Option<String>,
    event_time_column: Option<String>,
    sequence_column: Option<String>,
    order: VersionOrder,
    keys: BTreeMap<i64, KeyState>,
    late: Vec<LateRow>,
    next_seq: u64,
    /// Whether every batch is a full snapshot (keys it leaves out are deleted).
    snapshots: bool,
}

impl GroundTruth {
    /// A model for rows of `spec`, with the given optional operation and
    /// event-time column names (rows without an operation are upserts).
    pub fn new(
        spec: EntitySpec,
        operation_column: Option<&str>,
        event_time_column: Option<&str>,
    ) -> Self {
        Self {
            spec: Arc::new(spec),
            operation_column: operation_column.map(str::to_owned),
            event_time_column: event_time_column.map(str::to_owned),
            sequence_column: None,
            order: VersionOrder::Arrival,
            keys: BTreeMap::new(),
            late: Vec::new(),
            next_seq: 0,
            snapshots: false,
        }
    }

    /// Read every batch as a full snapshot of the entity, as a snapshot source does: per
    /// merge the last batch decides, and live keys it leaves out are deleted (set by
    /// [`GroundTruth::for_stream`] for a [`ChangeStreamBuilder::snapshots`] stream).
    ///
    /// [`ChangeStreamBuilder::snapshots`]: crate::ChangeStreamBuilder::snapshots
    pub fn with_snapshots(mut self) -> Self {
        self.snapshots = true;
        self
    }

    /// A model matching a stream's spec and columns.
    pub fn for_stream(stream: &ChangeStream) -> Self {
        let mut truth = Self::new(
            stream.spec().clone(),
            stream.operation_column(),
            stream.event_time_column(),
        );
        truth.sequence_column = stream.sequence_column().map(str::to_owned);
        truth.snapshots = stream.snapshots();
        truth
    }

    /// Choose the version order (default [`VersionOrder::Arrival`]).
    ///
    /// # Errors
    ///
    /// [`FakerError::InvalidOption`] when the stream lacks the column the order needs (a
    /// sequence or an event time).
    pub fn with_order(mut self, order: VersionOrder) -> Result<Self> {
        let by_event_time = matches!(
            order,
            VersionOrder::EventTime | VersionOrder::Restitch { .. }
        );
        if by_event_time && self.event_time_column.is_none() {
            return Err(FakerError::InvalidOption {
                option: "order",
                value: format!("{order:?}"),
                reason: "event-time order needs an event-time column",
            });
        }
        if let VersionOrder::Restitch { within: Some(w) } = order
            && i64::try_from(w.as_micros()).is_err()
        {
            return Err(FakerError::InvalidOption {
                option: "order",
                value: format!("{order:?}"),
                reason: "the lateness bound is too large to be a time in µs",
            });
        }
        if order == VersionOrder::Sequence && self.sequence_column.is_none() {
            return Err(FakerError::InvalidOption {
                option: "order",
                value: "Sequence".into(),
                reason: "sequence order needs a stream with a sequence column",
            });
        }
        self.order = order;
        Ok(self)
    }

    /// Merge the rows of `batches` as ONE merge (as a task run that finds all
    /// of them in raw would). Nothing is applied if any batch is malformed.
    ///
    /// # Errors
    ///
    /// [`FakerError::BatchShape`] when a batch lacks a column of the entity or holds one of
    /// another type.
    pub fn merge(&mut self, batches: &[&RecordBatch]) -> Result<MergeSummary> {
        let mut candidates = Vec::new();
        let mut seq = self.next_seq;
        for batch in batches {
            self.read_batch(batch, &mut seq, &mut candidates)?;
        }
        self.next_seq = seq;
        let mut summary = MergeSummary {
            rows: candidates.len(),
            ..MergeSummary::default()
        };
        if self.snapshots {
            let last = batches.last().map_or(0, |b| b.num_rows());
            summary.superseded = candidates.len() - last;
            candidates.drain(..candidates.len() - last);
            self.add_absent_deletes(&mut candidates);
        }
        if let VersionOrder::Restitch { within } = self.order {
            let within = within.map(|w| i64::try_from(w.as_micros()).unwrap_or(i64::MAX));
            for c in candidates {
                self.restitch(c, within, &mut summary);
            }
            return Ok(summary);
        }
        let mut winners: HashMap<i64, Candidate> = HashMap::new();
        for c in candidates {
            match winners.get(&c.key) {
                Some(w) if self.rank(w) > self.rank(&c) => summary.superseded += 1,
                Some(_) => {
                    summary.superseded += 1;
                    winners.insert(c.key, c);
                }
                None => {
                    winners.insert(c.key, c);
                }
            }
        }
        let mut winners: Vec<Candidate> = winners.into_values().collect();
        winners.sort_unstable_by_key(|c| c.key);
        for w in winners {
            self.apply(w, &mut summary);
        }
        Ok(summary)
    }

    /// A delete for every live key no candidate names: what a full snapshot says of them.
    fn add_absent_deletes(&self, candidates: &mut Vec<Candidate>) {
        let named: std::collections::HashSet<i64> = candidates.iter().map(|c| c.key).collect();
        let seq = self.next_seq;
        for (&key, state) in &self.keys {
            if state.live && !named.contains(&key) {
                let row = state
                    .versions
                    .last()
                    .expect("a live key has a version")
                    .row
                    .clone();
                candidates.push(Candidate {
                    key,
                    op: Operation::Delete,
                    time: None,
                    seq,
                    row,
                });
            }
        }
    }

    fn rank(&self, c: &Candidate) -> (i64, u64) {
        match self.order {
            VersionOrder::Arrival => (0, c.seq),
            _ => (c.time.unwrap_or(i64::MIN), c.seq),
        }
    }

    /// Puts one change in its place among its key's versions.
    fn restitch(&mut self, c: Candidate, within: Option<i64>, summary: &mut MergeSummary) {
        let state = self.keys.entry(c.key).or_default();
        let t = c.time.unwrap_or(i64::MIN);
        let row = (c.op != Operation::Delete).then_some(c.row);
        match crate::restitch::apply(state, row, t, within) {
            Restitched::Late { newest } => {
                self.late.push(LateRow {
                    key: c.key,
                    event_time: t,
                    applied_event_time: newest,
                    load_sequence: c.seq,
                });
                summary.late += 1;
            }
            Restitched::Inserted => summary.inserted += 1,
            Restitched::Updated => summary.updated += 1,
            Restitched::Deleted => summary.deleted += 1,
            Restitched::Unchanged => summary.unchanged += 1,
        }
    }

    fn apply(&mut self, w: Candidate, summary: &mut MergeSummary) {
        let event_order = self.order == VersionOrder::EventTime;
        let state = self.keys.entry(w.key).or_default();
        if self.order != VersionOrder::Arrival {
            let t = w.time.unwrap_or(i64::MIN);
            if let Some(applied) = state.last_event_time.filter(|&a| t < a) {
                self.late.push(LateRow {
                    key: w.key,
                    event_time: t,
                    applied_event_time: applied,
                    load_sequence: w.seq,
                });
                summary.late += 1;
                return;
            }
            state.last_event_time = Some(t);
        }
        let time = if event_order { w.time } else { None };
        match w.op {
            Operation::Delete if state.live => {
                close(state, time);
                state.live = false;
                summary.deleted += 1;
            }
            Operation::Delete => summary.unchanged += 1,
            _ if state.live => {
                let last = state.versions.last().expect("a live key has a version");
                if last.row == w.row {
                    summary.unchanged += 1;
                } else {
                    close(state, time);
                    open(state, w.row, time);
                    summary.updated += 1;
                }
            }
            _ => {
                open(state, w.row, time);
                state.live = true;
                summary.inserted += 1;
            }
        }
    }

    fn read_batch(
        &self,
        batch: &RecordBatch,
        seq: &mut u64,
        out: &mut Vec<Candidate>,
    ) -> Result<()> {
        let columns = self.attribute_columns(batch)?;
        let key_name = self.spec.key_name();
        let keys = typed_column(batch, key_name, &DataType::Int64)?;
        let keys = keys
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("cast to Int64");
        let ops = match &self.operation_column {
            Some(name) => Some(typed_column(batch, name, &DataType::Utf8)?),
            None => None,
        };
        let ops = ops.as_ref().map(|a| {
            a.as_any()
                .downcast_ref::<StringArray>()
                .expect("cast to Utf8")
        });
        // The order of versions: event times (µs), or sequences under Sequence order.
        let times: Option<Int64Array> = match (&self.order, &self.sequence_column) {
            (VersionOrder::Sequence, Some(name)) => Some(
                typed_column(batch, name, &DataType::Int64)?
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .expect("cast to Int64")
                    .clone(),
            ),
            _ => match &self.event_time_column {
                Some(name) => {
                    let t = typed_column(
                        batch,
                        name,
                        &DataType::Timestamp(TimeUnit::Microsecond, None),
                    )?;
                    let t = t
                        .as_any()
                        .downcast_ref::<TimestampMicrosecondArray>()
                        .expect("cast to µs");
                    Some(t.iter().collect())
                }
                None => None,
            },
        };
        let times = times.as_ref();
        for i in 0..batch.num_rows() {
            if keys.is_null(i) {
                return Err(shape(Some(i), key_name, "the key is NULL".into()));
            }
            let op_column = || self.operation_column.as_deref().unwrap_or_default();
            let op = match ops {
                Some(ops) if ops.is_null(i) => {
                    return Err(shape(Some(i), op_column(), "the operation is NULL".into()));
                }
                Some(ops) => Operation::parse(ops.value(i)).ok_or_else(|| {
                    let problem = format!("unknown operation `{}`", ops.value(i));
                    shape(Some(i), op_column(), problem)
                })?,
                None => Operation::Update,
            };
            let time = times.and_then(|t| (!t.is_null(i)).then(|| t.value(i)));
            if self.order != VersionOrder::Arrival && time.is_none() {
                let column = match (&self.order, &self.sequence_column) {
                    (VersionOrder::Sequence, Some(name)) => name,
                    _ => self.event_time_column.as_deref().unwrap_or_default(),
                };
                return Err(shape(Some(i), column, "the version's time is NULL".into()));
            }
            let row: Row = columns.iter().map(|c| scalar(c, i)).collect();
            out.push(Candidate {
                key: keys.value(i),
                op,
                time,
                seq: *seq,
                row,
            });
            *seq += 1;
        }
        Ok(())
    }

    fn attribute_columns(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        let key = self.spec.key_index();
        self.spec
            .columns()
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != key)
            .map(|(_, c)| typed_column(batch, &c.name, &c.kind.data_type()))
            .collect()
    }

    /// The expected SCD-1 table: every live key at its current values,
    /// ordered by key, in the entity's schema.
    ///
    /// # Errors
    ///
    /// [`FakerError::Arrow`] if the batch cannot be assembled (not expected: the columns are
    /// built for the entity's schema).
    pub fn expected_current(&self) -> Result<RecordBatch> {
        let rows = self
            .keys
            .iter()
            .filter(|(_, s)| s.live)
            .map(|(k, s)| (*k, &s.versions.last().expect("live key has a version").row));
        let columns = self.entity_columns(rows)?;
        Ok(RecordBatch::try_new(self.spec.schema(), columns)?)
    }

    /// The expected SCD-2 history, ordered by key then version: the entity's
    /// columns, then `version` (1-based per key), `is_current`, and
    /// `start_time` / `end_time` — event times under
    /// [`VersionOrder::EventTime`] (open end = 9999-12-31), NULL under
    /// arrival order, where the pipeline's clock assigns them.
    ///
    /// # Errors
    ///
    /// As [`GroundTruth::expected_current`].
    pub fn expected_history(&self) -> Result<RecordBatch> {
        let mut versions = Vec::new();
        let mut is_current = Vec::new();
        let mut starts = Vec::new();
        let mut ends = Vec::new();
        let rows = self
            .keys
            .iter()
            .flat_map(|(k, s)| s.versions.iter().map(move |v| (*k, v)));
        let mut entity_rows = Vec::new();
        let mut last_key = None;
        let mut n = 0u32;
        for (k, v) in rows {
            n = if last_key == Some(k) { n + 1 } else { 1 };
            last_key = Some(k);
            versions.push(n);
            is_current.push(v.current);
            starts.push(v.start);
            ends.push(if v.current && v.start.is_some() {
                Some(OPEN_END_MICROS)
            } else {
                v.end
            });
            entity_rows.push((k, &v.row));
        }
        let mut columns = self.entity_columns(entity_rows.into_iter())?;
        columns.push(Arc::new(UInt32Array::from(versions)));
        columns.push(Arc::new(BooleanArray::from(is_current)));
        columns.push(Arc::new(TimestampMicrosecondArray::from(starts)));
        columns.push(Arc::new(TimestampMicrosecondArray::from(ends)));
        Ok(RecordBatch::try_new(self.history_schema(), columns)?)
    }

    /// Schema of [`GroundTruth::expected_history`].
    pub fn history_schema(&self) -> SchemaRef {
        let mut fields = SchemaBuilder::from(self.spec.schema().fields());
        let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
        fields.push(Field::new("version", DataType::UInt32, false));
        fields.push(Field::new("is_current", DataType::Boolean, false));
        fields.push(Field::new("start_time", ts.clone(), true));
        fields.push(Field::new("end_time", ts, true));
        Arc::new(fields.finish())
    }

    /// Changes rejected as late (event-time order only), in rejection order.
    pub fn late_rows(&self) -> &[LateRow] {
        &self.late
    }

    /// Number of versions of `key` (0 if never seen).
    pub fn version_count(&self, key: i64) -> usize {
        self.keys.get(&key).map_or(0, |s| s.versions.len())
    }

    fn entity_columns<'a>(
        &self,
        rows: impl Iterator<Item = (i64, &'a Row)>,
    ) -> Result<Vec<ArrayRef>> {
        let key = self.spec.key_index();
        let rows: Vec<(i64, &Row)> = rows.collect();
        let mut out = Vec::with_capacity(self.spec.columns().len());
        let mut attr = 0;
        for (i, c) in self.spec.columns().iter().enumerate() {
            if i == key {
                out.push(
                    Arc::new(Int64Array::from_iter_values(rows.iter().map(|(k, _)| *k)))
                        as ArrayRef,
                );
                continue;
            }
            out.push(build_column(
                &c.kind.data_type(),
                rows.iter().map(|(_, r)| &r[attr]),
            ));
            attr += 1;
        }
        Ok(out)
    }
}

/// Close the current version at `time`, or 1 µs after its start when
/// `time` is not after it: versions are strictly ordered, never an empty or
/// inverted interval (the rule of snowdrift-scd).
fn close(state: &mut KeyState, time: Option<i64>) {
    if let Some(v) = state.versions.last_mut() {
        v.current = false;
        v.end = match (time, v.start) {
            (Some(t), Some(start)) => Some(t.max(start + 1)),
            _ => time,
        };
    }
}

/// Open a version at `time`, but no earlier than the previous version ended.
fn open(state: &mut KeyState, row: Row, time: Option<i64>) {
    let previous_end = state.versions.last().and_then(|v| v.end);
    let start = match (time, previous_end) {
        (Some(t), Some(end)) => Some(t.max(end)),
        _ => time,
    };
    state.versions.push(Version {
        row,
        start,
        end: None,
        current: true,
    });
}

fn shape(row: Option<usize>, column: &str, problem: String) -> FakerError {
    FakerError::BatchShape {
        row,
        column: column.to_string(),
        problem,
    }
}

/// The column `name` of `batch`, cast to `ty` when its type differs.
fn typed_column(batch: &RecordBatch, name: &str, ty: &DataType) -> Result<ArrayRef> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| shape(None, name, "missing".into()))?;
    if col.data_type() == ty {
        return Ok(col.clone());
    }
    // Strict: a value that does not convert is an error, never a NULL.
    let strict = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    cast_with_options(col, ty, &strict)
        .map_err(|e| shape(None, name, format!("cannot be read as {ty}: {e}")))
}

fn scalar(col: &ArrayRef, i: usize) -> Scalar {
    if col.is_null(i) {
        return Scalar::Null;
    }
    if let Some(a) = col.as_any().downcast_ref::<Int64Array>() {
        return Scalar::Int(a.value(i));
    }
    let a = col
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("attribute columns are Int64 or Utf8");
    Scalar::Str(a.value(i).into())
}

fn build_column<'a>(ty: &DataType, values: impl Iterator<Item = &'a Scalar>) -> ArrayRef {
    if ty == &DataType::Int64 {
        let mut b = Int64Builder::new();
        for v in values {
            match v {
                Scalar::Int(x) => b.append_value(*x),
                _ => b.append_null(),
            }
        }
        return Arc::new(b.finish());
    }
    let mut b = StringBuilder::new();
    for v in values {
        match v {
            Scalar::Str(s) => b.append_value(s),
            _ => b.append_null(),
        }
    }
    Arc::new(b.finish())
}
