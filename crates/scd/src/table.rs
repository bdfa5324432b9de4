//! An in-memory target table with a key index, so that a merge touches only
//! the rows of the keys it changes.
//!
//! Rows live in append-only segments (Arrow batches) with a deletion vector
//! each; an update removes the old row and appends the new one. Small
//! trailing segments are merged and mostly-deleted segments rewritten as the
//! table goes, so the work per merge stays proportional to the change
//! (amortised), never to the table.

use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, UInt32Array, UInt64Array};
use arrow::compute::{CastOptions, cast_with_options, concat_batches, filter_record_batch, take};
use arrow::datatypes::{DataType, SchemaRef};
use std::sync::Arc;

use rayon::prelude::*;

use crate::keys::{KeyEncoder, KeyMap, KeyRef, Keys};
pub use crate::segment::TableSnapshot;
use crate::segment::{Segment, rows_of};
use crate::versions::{Slot, VersionIndex, VersionTail, WindowColumns, horizon, newest_time};
use crate::{Result, ScdError};

/// The sequence column of [`Table::applied_sequences`] and
/// [`crate::MergeOutcome::applied_sequences`].
pub const APPLIED_SEQUENCE: &str = "__applied_sequence";

/// The schema metadata key of [`Table::applied_sequences`] holding the
/// table's sequence floor ([`Table::sequence_floor`]), when it has one.
pub const SEQUENCE_FLOOR: &str = "snowdrift.sequence_floor";

/// Where a row lives in a [`Table`]: its segment and its row in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RowAddr {
    segment: u32,
    row: u32,
}

/// The rows `idx` of `batch`, one column per core.
pub(crate) fn take_batch(batch: &RecordBatch, idx: &UInt32Array) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .par_iter()
        .map(|c| take(c.as_ref(), idx, None))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

/// What the table knows about one key.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KeyState {
    /// The key's most recent row (SCD-2: the newest version, even if closed).
    pub(crate) latest: Option<RowAddr>,
    /// Whether the key currently exists.
    pub(crate) live: bool,
    /// Sequence of the last change applied to the key (deletes included).
    pub(crate) sequence: Option<i64>,
}

/// Segments of one size tier merged at once (see `Table::compact`).
const TIER_FANOUT: usize = 8;

/// Segments past which the trailing ones are merged whatever their tiers.
const MAX_SEGMENTS: usize = 48;

/// The size tier of a segment storing `rows` rows: `log8(rows)`.
fn tier_of(rows: usize) -> u32 {
    rows.max(1).ilog2() / TIER_FANOUT.ilog2()
}

/// How many trailing segments, of the size tiers `tiers` (oldest first), the
/// next compaction step merges into one, if any.
///
/// A trailing segment at least two tiers above the segments before it (the
/// result of a tier merge, or a large load) absorbs all of them at once.
/// Absorbing them one at a time would copy the large segment once per small
/// one: with a dozen small segments before a segment of half a million rows
/// that was a dozen copies, two seconds inside one merge.
fn trailing_merge(tiers: &[u32]) -> Option<usize> {
    let n = tiers.len();
    let last = *tiers.last()?;
    let below = tiers[..n - 1]
        .iter()
        .rev()
        .take_while(|&&t| t + 2 <= last)
        .count();
    if below > 0 {
        Some(below + 1)
    } else if n >= TIER_FANOUT
        && (tiers[n - TIER_FANOUT..].iter().all(|&t| t == last) || n > MAX_SEGMENTS)
    {
        Some(TIER_FANOUT)
    } else {
        None
    }
}

/// A merge target: rows in the table's schema, indexed by key, each with a
/// stable row id (the `METADATA$ROW_ID` a stream reports; an update keeps it).
///
/// Create one with a strategy ([`crate::MergeStrategy::create_table`]) and change it with
/// [`crate::MergeStrategy`]s through [`crate::merge`].
#[derive(Debug, Clone)]
pub struct Table {
    name: String,
    schema: SchemaRef,
    key: Vec<usize>,
    encoder: KeyEncoder,
    segments: Vec<Arc<Segment>>,
    pub(crate) keys: KeyMap<KeyState>,
    next_row_id: u64,
    live_rows: usize,
    /// Whether rows that stop being their key's latest row leave the table
    /// (see [`Table::retire_superseded`]).
    retire: bool,
    /// Rows retired since the last [`Table::take_retired`], with row ids.
    retired: Vec<(RecordBatch, Vec<u64>)>,
    /// Every version of each key, for histories sequenced by event time.
    versions: Option<VersionIndex>,
    /// The sequence of the last truncate: no later change may precede it.
    sequence_floor: Option<i64>,
    /// Which table this is and how often its rows or keys changed: a prepared merge applies
    /// only to the table, in the state, it was decided on (a clone shares both, and is equal).
    stamp: Stamp,
}

/// A table's identity (unique per created table, shared by its clones) and the count of its
/// changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    identity: u64,
    changes: u64,
}

impl Stamp {
    fn new() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Stamp {
            identity: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            changes: 0,
        }
    }
}

impl Table {
    /// The table's identity and change count (see [`crate::PreparedMerge`]).
    pub(crate) fn stamp(&self) -> Stamp {
        self.stamp
    }

    /// Counts a change of rows, keys or options.
    fn changed(&mut self) {
        self.stamp.changes += 1;
    }

    /// An empty table with `schema`, keyed by the columns at `key`.
    pub(crate) fn new(name: &str, schema: SchemaRef, key: Vec<usize>) -> Result<Self> {
        let types: Vec<DataType> = key
            .iter()
            .map(|&i| schema.field(i).data_type().clone())
            .collect();
        Ok(Self {
            name: name.to_string(),
            encoder: KeyEncoder::new(&types)?,
            keys: KeyMap::new(types == [DataType::Int64]),
            schema,
            key,
            segments: Vec::new(),
            next_row_id: 0,
            live_rows: 0,
            retire: false,
            retired: Vec::new(),
            versions: None,
            sequence_floor: None,
            stamp: Stamp::new(),
        })
    }

    /// Indexes every row of each key by its start (a history sequenced by
    /// event time; see [`crate::EventTimeRules`]).
    pub(crate) fn index_versions(&mut self, columns: WindowColumns) -> Result<()> {
        self.changed();
        let mut index = VersionIndex::new(matches!(self.keys, KeyMap::Int(_)), columns);
        for (segment, s) in self.segments.iter().enumerate() {
            let keys = self.encode_keys(&self.key_columns(&s.batch)?)?;
            let starts = crate::strategy::times(s.batch.column(columns.start))?;
            for row in (0..s.batch.num_rows()).filter(|&r| !s.deleted[r]) {
                let addr = RowAddr {
                    segment: segment as u32,
                    row: row as u32,
                };
                index.push(keys.get(row), starts.value(row), addr);
            }
        }
        index.sort();
        self.versions = Some(index);
        Ok(())
    }

    /// Retires, for each `(key, horizon)`, the versions before the one
    /// holding the horizon: no change the key still accepts reads them (see
    /// [`crate::LateChanges::Restitch`]). Nothing when the table does not
    /// retire rows.
    pub(crate) fn retire_before(&mut self, horizons: &[(KeyRef<'_>, i64)]) -> Result<()> {
        self.changed();
        let Some(index) = self.versions.as_mut().filter(|_| self.retire) else {
            return Ok(());
        };
        let mut gone = Vec::new();
        for &(key, horizon) in horizons {
            let n = index.before_horizon(key, horizon);
            gone.extend(index.drain_front(key, n));
        }
        self.retire_rows(&gone)
    }

    /// The versions of every key that lie before its horizon (after a load).
    fn outside_window(&self) -> Result<Vec<RowAddr>> {
        let Some(index) = self.versions.as_ref().filter(|_| self.retire) else {
            return Ok(Vec::new());
        };
        let columns = index.columns();
        if columns.within.is_none() {
            return Ok(Vec::new());
        }
        let read = |c: usize, times: fn(&arrow::array::ArrayRef) -> Result<Int64Array>| {
            self.segments
                .iter()
                .map(|s| times(s.batch.column(c)))
                .collect::<Result<Vec<Int64Array>>>()
        };
        let starts = read(columns.start, crate::strategy::times)?;
        let ends = read(columns.end, crate::validity::end_times)?;
        let mut gone = Vec::new();
        for list in index.iter() {
            let Some(&(_, newest)) = list.last() else {
                continue;
            };
            let (s, r) = (newest.segment as usize, newest.row as usize);
            let newest = newest_time(starts[s].value(r), ends[s].value(r));
            let Some(h) = horizon(newest, columns.within) else {
                continue;
            };
            let n = list
                .partition_point(|&(start, _)| start <= h)
                .saturating_sub(1);
            gone.extend(list[..n].iter().map(|&(_, a)| a));
        }
        Ok(gone)
    }

    /// Whether rows that stop being their key's latest leave the table.
    pub(crate) fn retires(&self) -> bool {
        self.retire
    }

    /// The index of column `name`.
    pub(crate) fn column_index(&self, name: &str) -> Result<usize> {
        self.schema
            .index_of(name)
            .map_err(|_| ScdError::TargetShape {
                table: self.name.clone(),
                reason: format!("the table has no column `{name}`"),
            })
    }

    /// The version index, if the table keeps one.
    pub(crate) fn versions(&self) -> Option<&VersionIndex> {
        self.versions.as_ref()
    }

    /// Whether rows that stop being the latest row of their key leave the
    /// table (default false). An SCD-2 table's closed versions are such
    /// rows: no merge reads or changes them again, so a store that keeps
    /// them elsewhere (the embedded warehouse writes them to segment files)
    /// can keep only the latest row of each key in memory, bounded by the
    /// keys rather than by history. Retired rows are handed over by
    /// [`Table::take_retired`]; [`Table::num_rows`] and
    /// [`Table::to_batch`] no longer count or return them. Tables whose
    /// merges replace every row they touch (SCD-1) never retire a row.
    pub fn retire_superseded(&mut self, retire: bool) {
        self.changed();
        self.retire = retire;
    }

    /// The rows retired since the last call and their row ids, in the
    /// table's schema, or `None` when there are none. The caller owns them
    /// from then on: they are in no segment of the table any more.
    ///
    /// # Errors
    ///
    /// [`ScdError::Arrow`] if the retired parts cannot be concatenated.
    pub fn take_retired(&mut self) -> Result<Option<(RecordBatch, Vec<u64>)>> {
        let parts = std::mem::take(&mut self.retired);
        match parts.len() {
            0 => Ok(None),
            1 => Ok(parts.into_iter().next()),
            _ => {
                let batches: Vec<&RecordBatch> = parts.iter().map(|(b, _)| b).collect();
                let batch = concat_batches(&self.schema, batches)?;
                let ids = parts.into_iter().flat_map(|(_, ids)| ids).collect();
                Ok(Some((batch, ids)))
            }
        }
    }

    /// Whether rows were retired since the last [`Table::take_retired`].
    pub fn has_retired(&self) -> bool {
        !self.retired.is_empty()
    }

    /// Whether the rows at `addrs` are still in the table.
    fn is_live(&self, addr: RowAddr) -> bool {
        self.segments
            .get(addr.segment as usize)
            .is_some_and(|s| !s.deleted[addr.row as usize])
    }

    /// Moves the rows at `addrs` (live, each once) out of the table into
    /// [`Table::take_retired`]'s hands.
    fn retire_rows(&mut self, addrs: &[RowAddr]) -> Result<()> {
        if addrs.is_empty() {
            return Ok(());
        }
        let batch = self.gather(addrs)?;
        let ids = addrs.iter().map(|a| self.row_id(*a)).collect();
        for a in addrs {
            let s = Arc::make_mut(&mut self.segments[a.segment as usize]);
            s.deleted[a.row as usize] = true;
            s.deleted_count += 1;
        }
        self.live_rows -= addrs.len();
        self.retired.push((batch, ids));
        Ok(())
    }

    /// The rows of segment `segment` that are not their key's latest row.
    fn superseded_in(&self, segment: u32, keys: &Keys) -> Vec<RowAddr> {
        let s = &self.segments[segment as usize];
        (0..s.batch.num_rows() as u32)
            .map(|row| RowAddr { segment, row })
            .filter(|a| {
                !s.deleted[a.row as usize]
                    && self
                        .keys
                        .get(keys.get(a.row as usize))
                        .and_then(|k| k.latest)
                        != Some(*a)
            })
            .collect()
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The table's schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Rows in the table.
    pub fn num_rows(&self) -> usize {
        self.live_rows
    }

    /// Keys that currently exist.
    pub fn live_keys(&self) -> usize {
        self.keys.values().filter(|s| s.live).count()
    }

    /// Keys the table has ever seen (deleted ones included: their last
    /// sequence is kept to recognise late changes).
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Every row, in storage order (not sorted).
    ///
    /// # Errors
    ///
    /// [`ScdError::Arrow`] when the rows do not fit one batch (more than 2 GiB of text in one
    /// column).
    pub fn to_batch(&self) -> Result<RecordBatch> {
        Ok(self.to_batch_with_row_ids()?.0)
    }

    /// Every row and its row id, in storage order.
    ///
    /// # Errors
    ///
    /// As [`Table::to_batch`].
    pub fn to_batch_with_row_ids(&self) -> Result<(RecordBatch, UInt64Array)> {
        rows_of(&self.schema, &self.segments, self.live_rows)
    }

    /// The table's rows as they are now, for reading while the table goes on
    /// changing: a few shared pointers, taken in microseconds. Later merges
    /// copy what they change instead of changing what the snapshot sees.
    pub fn snapshot(&self) -> TableSnapshot {
        TableSnapshot {
            schema: self.schema.clone(),
            segments: self.segments.clone(),
            rows: self.live_rows,
        }
    }

    /// The sequence of the last change applied to every key that has one
    /// (deleted keys included), as the key columns (named as in the table)
    /// and an `Int64` column [`APPLIED_SEQUENCE`]: what a durable store
    /// keeps so that late changes stay late after a restart (see
    /// [`Table::restore_applied_sequences`]).
    ///
    /// # Errors
    ///
    /// [`ScdError::Arrow`] when the keys do not fit one batch.
    pub fn applied_sequences(&self) -> Result<RecordBatch> {
        let (keys, sequences): (Vec<KeyRef<'_>>, Vec<i64>) = self
            .keys
            .iter()
            .filter_map(|(k, s)| Some((k, s.sequence?)))
            .unzip();
        self.sequence_batch(keys.into_iter(), sequences)
    }

    /// Like [`Table::applied_sequences`], for the keys of `changes` only
    /// (for example the winners of one merge), each key once.
    pub(crate) fn applied_sequences_of<'k>(
        &self,
        keys: impl Iterator<Item = KeyRef<'k>>,
    ) -> Result<RecordBatch> {
        let mut seen = hashbrown::HashSet::new();
        let (keys, sequences): (Vec<KeyRef<'k>>, Vec<i64>) = keys
            .filter(|k| seen.insert(*k))
            .filter_map(|k| Some((k, self.keys.get(k)?.sequence?)))
            .unzip();
        self.sequence_batch(keys.into_iter(), sequences)
    }

    fn sequence_batch<'k>(
        &self,
        keys: impl Iterator<Item = KeyRef<'k>>,
        sequences: Vec<i64>,
    ) -> Result<RecordBatch> {
        let mut columns = self.encoder.decode(keys)?;
        let mut fields: Vec<arrow::datatypes::Field> = self
            .key
            .iter()
            .map(|&i| self.schema.field(i).clone().with_nullable(false))
            .collect();
        fields.push(arrow::datatypes::Field::new(
            APPLIED_SEQUENCE,
            DataType::Int64,
            false,
        ));
        columns.push(std::sync::Arc::new(arrow::array::Int64Array::from(
            sequences,
        )));
        let mut schema = arrow::datatypes::Schema::new(fields);
        if let Some(floor) = self.sequence_floor {
            schema = schema.with_metadata([(SEQUENCE_FLOOR.to_string(), floor.to_string())].into());
        }
        Ok(RecordBatch::try_new(std::sync::Arc::new(schema), columns)?)
    }

    /// With a sequence, the sequence of the table's last truncate
    /// (`APPLY AS TRUNCATE WHEN`): a later change at an older sequence is
    /// late for every key, including keys the table never held.
    pub fn sequence_floor(&self) -> Option<i64> {
        self.sequence_floor
    }

    pub(crate) fn raise_sequence_floor(&mut self, floor: i64) {
        self.changed();
        self.sequence_floor = self.sequence_floor.max(Some(floor));
    }

    /// Sets the applied sequence of the keys in `batch` (the key columns by
    /// name and an `Int64` column [`APPLIED_SEQUENCE`], as
    /// [`Table::applied_sequences`] writes it), keeping the greater one where
    /// the table already has a sequence for a key. Keys without a row are
    /// remembered as deleted keys.
    ///
    /// # Errors
    ///
    /// [`ScdError::TargetShape`] when a column is missing, of the wrong type
    /// or NULL.
    pub fn restore_applied_sequences(&mut self, batch: &RecordBatch) -> Result<()> {
        self.changed();
        if let Some(text) = batch.schema().metadata().get(SEQUENCE_FLOOR) {
            let floor = text.parse::<i64>().map_err(|_| ScdError::TargetShape {
                table: self.name.clone(),
                reason: format!("the sequence floor `{text}` is not a 64-bit integer"),
            })?;
            self.raise_sequence_floor(floor);
        }
        let sequence_column = APPLIED_SEQUENCE;
        let batch = &self.conform_keys(batch)?;
        let sequences = batch
            .column_by_name(sequence_column)
            .and_then(|c| c.as_any().downcast_ref::<arrow::array::Int64Array>())
            .filter(|c| c.null_count() == 0)
            .ok_or_else(|| ScdError::TargetShape {
                table: self.name.clone(),
                reason: format!("no non-null Int64 column `{sequence_column}` of sequences"),
            })?
            .clone();
        let key_columns: Vec<ArrayRef> =
            self.key.iter().map(|&i| batch.column(i).clone()).collect();
        let keys = self.encode_keys(&key_columns)?;
        for row in 0..batch.num_rows() {
            let key = keys.get(row);
            let sequence = sequences.value(row);
            match self.keys.get_mut(key) {
                Some(state) => state.sequence = state.sequence.max(Some(sequence)),
                None => self.keys.insert(
                    key,
                    KeyState {
                        latest: None,
                        live: false,
                        sequence: Some(sequence),
                    },
                ),
            }
        }
        Ok(())
    }

    /// `batch`'s key columns in this table's key types at the key positions
    /// of a batch in the table's schema (other columns NULL), plus its other
    /// columns after them.
    fn conform_keys(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let mut fields = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (i, field) in self.schema.fields().iter().enumerate() {
            let column = if self.key.contains(&i) {
                let c =
                    batch
                        .column_by_name(field.name())
                        .ok_or_else(|| ScdError::TargetShape {
                            table: self.name.clone(),
                            reason: format!("the sequences have no key column `{}`", field.name()),
                        })?;
                let strict = CastOptions {
                    safe: false,
                    ..CastOptions::default()
                };
                let c = cast_with_options(c, field.data_type(), &strict)?;
                if c.null_count() > 0 {
                    return Err(ScdError::TargetShape {
                        table: self.name.clone(),
                        reason: format!("key column `{}` holds NULLs", field.name()),
                    });
                }
                c
            } else {
                arrow::array::new_null_array(field.data_type(), batch.num_rows())
            };
            fields.push(field.as_ref().clone().with_nullable(true));
            columns.push(column);
        }
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            if self.schema.index_of(field.name()).is_err() {
                fields.push(field.as_ref().clone());
                columns.push(column.clone());
            }
        }
        let options =
            arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        Ok(RecordBatch::try_new_with_options(
            std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
            columns,
            &options,
        )?)
    }

    /// The keys of `columns` (the key columns of a batch in this table's
    /// key types).
    pub(crate) fn encode_keys(&self, columns: &[ArrayRef]) -> Result<Keys> {
        self.encoder.encode(columns)
    }

    pub(crate) fn key_state(&self, key: KeyRef<'_>) -> KeyState {
        self.keys.get(key).copied().unwrap_or_default()
    }

    pub(crate) fn row_id(&self, addr: RowAddr) -> u64 {
        self.segments[addr.segment as usize].row_ids[addr.row as usize]
    }

    /// The rows at `addrs`, in that order: one `take` per segment touched
    /// (much faster than interleaving row by row), then one reordering
    /// `take` when more than one segment is involved.
    pub(crate) fn gather(&self, addrs: &[RowAddr]) -> Result<RecordBatch> {
        let mut per_segment: Vec<Vec<u32>> = vec![Vec::new(); self.segments.len()];
        let mut slot: Vec<(u32, u32)> = Vec::with_capacity(addrs.len());
        for a in addrs {
            let rows = &mut per_segment[a.segment as usize];
            slot.push((a.segment, rows.len() as u32));
            rows.push(a.row);
        }
        let mut parts = Vec::new();
        let mut first_of = vec![0u32; self.segments.len()];
        let mut taken = 0u32;
        for (i, rows) in per_segment.into_iter().enumerate() {
            if rows.is_empty() {
                continue;
            }
            first_of[i] = taken;
            taken += rows.len() as u32;
            let idx = UInt32Array::from(rows);
            parts.push(take_batch(&self.segments[i].batch, &idx)?);
        }
        match parts.len() {
            0 => Ok(RecordBatch::new_empty(self.schema.clone())),
            1 => Ok(parts.pop().expect("one part")),
            _ => {
                let all = concat_batches(&self.schema, &parts)?;
                let order = UInt32Array::from_iter_values(
                    slot.iter().map(|&(seg, n)| first_of[seg as usize] + n),
                );
                take_batch(&all, &order)
            }
        }
    }

    /// A fresh row id.
    pub(crate) fn allocate_row_id(&mut self) -> u64 {
        self.next_row_id += 1;
        self.next_row_id
    }

    /// Remove the rows at `removed`, append `inserted` (with their row ids),
    /// and record the new key states. Each state may name the row of
    /// `inserted` that becomes the key's latest row. `versions` gives, for
    /// keys of a table with a version index, their versions from a position
    /// on (those before it stay).
    pub(crate) fn apply(
        &mut self,
        removed: &[RowAddr],
        inserted: &[RecordBatch],
        row_ids: &[u64],
        states: Vec<(KeyRef<'_>, KeyState, Option<usize>)>,
        versions: Vec<VersionTail<'_>>,
    ) -> Result<()> {
        self.changed();
        if let Some(bad) = inserted
            .iter()
            .find(|b| b.schema().fields() != self.schema.fields())
        {
            return Err(ScdError::TargetShape {
                table: self.name.clone(),
                reason: format!(
                    "rows to insert have schema {:?}, the table has {:?}",
                    bad.schema(),
                    self.schema
                ),
            });
        }
        for a in removed {
            let s = Arc::make_mut(&mut self.segments[a.segment as usize]);
            if !s.deleted[a.row as usize] {
                s.deleted[a.row as usize] = true;
                s.deleted_count += 1;
                self.live_rows -= 1;
            }
        }
        // A key's previous latest row that is still here and is no longer
        // its latest (an SCD-2 version closed earlier, superseded now).
        // (A history sequenced by event time retires by its lateness window
        // instead: `Table::retire_before`.)
        let winner_retire = self.retire && self.versions.is_none();
        // One segment per merge: the trailing-segment policy would merge the
        // parts right away anyway, and re-pointing moved keys costs more than
        // concatenating here.
        let segment = self.segments.len() as u32;
        let batch = match inserted {
            [] => RecordBatch::new_empty(self.schema.clone()),
            [one] => one.clone(),
            many => concat_batches(&self.schema, many)?,
        };
        let n = batch.num_rows();
        if n > 0 {
            self.live_rows += n;
            self.segments.push(Arc::new(Segment {
                deleted: vec![false; n],
                deleted_count: 0,
                row_ids: row_ids.into(),
                batch,
            }));
        }
        if let Some(index) = &mut self.versions {
            for (key, from, tail) in versions {
                let resolved = tail.into_iter().map(|(start, slot)| match slot {
                    Slot::Stored(addr) => (start, addr),
                    Slot::Written(row) => (
                        start,
                        RowAddr {
                            segment,
                            row: row as u32,
                        },
                    ),
                });
                index.splice(key, from, resolved);
            }
        }
        let mut latest_rows = Vec::new();
        // Found as each key's state is replaced: one look-up per key (each key has one state).
        let mut superseded = Vec::new();
        for (key, mut state, latest_row) in states {
            if let Some(row) = latest_row {
                state.latest = Some(RowAddr {
                    segment,
                    row: row as u32,
                });
                latest_rows.push(row);
            }
            let previous = self.keys.replace(key, state);
            if winner_retire
                && latest_row.is_some()
                && let Some(a) = previous.and_then(|s| s.latest)
                && self.is_live(a)
            {
                superseded.push(a);
            }
        }
        if winner_retire {
            let mut gone = superseded;
            if n > 0 {
                // Written rows that are not their key's latest: closed versions.
                let mut is_latest = vec![false; n];
                for row in latest_rows {
                    is_latest[row] = true;
                }
                gone.extend((0..n).filter(|&row| !is_latest[row]).map(|row| RowAddr {
                    segment,
                    row: row as u32,
                }));
            }
            self.retire_rows(&gone)?;
        }
        self.compact()
    }

    /// Load existing rows (a restart, or a bulk load): every row gets a new
    /// row id; `newer(batch, a, b)` says whether row `a` is a later row of
    /// its key than row `b`, and `live_of` whether a key's latest row means
    /// the key exists.
    pub(crate) fn load(
        &mut self,
        batch: RecordBatch,
        given_row_ids: Option<&[u64]>,
        live_of: impl Fn(&RecordBatch, usize) -> bool,
        newer: impl Fn(&RecordBatch, usize, usize) -> bool,
    ) -> Result<()> {
        self.changed();
        if let Some(ids) = given_row_ids
            && ids.len() != batch.num_rows()
        {
            return Err(ScdError::TargetShape {
                table: self.name.clone(),
                reason: format!("{} row ids for {} rows", ids.len(), batch.num_rows()),
            });
        }
        let batch = self.conform(batch)?;
        let keys = self.encode_keys(&self.key_columns(&batch)?)?;
        let segment = self.segments.len() as u32;
        self.keys.reserve(batch.num_rows());
        for row in 0..batch.num_rows() {
            let key = keys.get(row);
            let prev = self.keys.get(key).and_then(|s| s.latest);
            let replace = match prev {
                Some(p) if p.segment == segment => newer(&batch, row, p.row as usize),
                _ => true,
            };
            if replace {
                let state = KeyState {
                    latest: Some(RowAddr {
                        segment,
                        row: row as u32,
                    }),
                    live: live_of(&batch, row),
                    sequence: None,
                };
                self.keys.insert(key, state);
            }
        }
        let n = batch.num_rows();
        let row_ids = match given_row_ids {
            Some(ids) => {
                let highest = ids.iter().copied().max().unwrap_or(0);
                self.next_row_id = self.next_row_id.max(highest);
                ids.to_vec()
            }
            None => (0..n).map(|_| self.allocate_row_id()).collect(),
        };
        self.live_rows += n;
        self.segments.push(Arc::new(Segment {
            batch,
            row_ids: row_ids.into(),
            deleted: vec![false; n],
            deleted_count: 0,
        }));
        let window = self.versions.as_ref().map(VersionIndex::columns);
        if self.retire && window.is_none() {
            let gone = self.superseded_in(segment, &keys);
            self.retire_rows(&gone)?;
        }
        self.compact()?;
        // Loaded rows are versions too: the index is rebuilt with them, and
        // versions outside the lateness window retire.
        if let Some(columns) = window {
            self.index_versions(columns)?;
            let gone = self.outside_window()?;
            if !gone.is_empty() {
                self.retire_rows(&gone)?;
                self.compact()?;
                self.index_versions(columns)?;
            }
        }
        Ok(())
    }

    /// `batch` cast to this table's schema, by column name.
    fn conform(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let columns = self
            .schema
            .fields()
            .iter()
            .map(|f| {
                let c = batch
                    .column_by_name(f.name())
                    .ok_or_else(|| ScdError::TargetShape {
                        table: self.name.clone(),
                        reason: format!("rows to load have no column `{}`", f.name()),
                    })?;
                let strict = CastOptions {
                    safe: false,
                    ..CastOptions::default()
                };
                cast_with_options(c, f.data_type(), &strict).map_err(|e| ScdError::TargetShape {
                    table: self.name.clone(),
                    reason: format!(
                        "column `{}` cannot be read as {}: {e}",
                        f.name(),
                        f.data_type()
                    ),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }

    fn key_columns(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        let cols: Vec<ArrayRef> = self.key.iter().map(|&i| batch.column(i).clone()).collect();
        if let Some(c) = cols.iter().position(|c| c.null_count() > 0) {
            return Err(ScdError::TargetShape {
                table: self.name.clone(),
                reason: format!(
                    "key column `{}` holds NULLs",
                    self.schema.field(self.key[c]).name()
                ),
            });
        }
        Ok(cols)
    }

    /// Keep segments few and mostly live, with size tiers. A segment's tier
    /// is `log8` of its stored rows (deleted ones included, so a segment that
    /// loses rows to updates keeps its tier until it is rewritten):
    /// - once [`TIER_FANOUT`] trailing segments share a tier they are merged
    ///   into one, so a row is rewritten about `log8(table / merge)` times;
    /// - a trailing segment two tiers above its predecessors absorbs them, and
    ///   past [`MAX_SEGMENTS`] the trailing [`TIER_FANOUT`] are merged, so the
    ///   number of segments stays bounded (see [`trailing_merge`]);
    /// - a segment more than two-thirds deleted is rewritten in place, so
    ///   stored rows stay within three times the live ones.
    fn compact(&mut self) -> Result<()> {
        loop {
            let n = self.segments.len();
            if n >= 1 && self.segments[n - 1].live_rows() == 0 {
                self.segments.pop();
                continue;
            }
            let tiers: Vec<u32> = self
                .segments
                .iter()
                .map(|s| tier_of(s.batch.num_rows()))
                .collect();
            let Some(merge) = trailing_merge(&tiers) else {
                break;
            };
            let parts = self.segments.split_off(n - merge);
            self.push_rewritten(&parts)?;
        }
        let sparse: Vec<usize> = (0..self.segments.len())
            .filter(|&i| {
                let s = &self.segments[i];
                s.deleted_count > 0 && s.deleted_count * 3 > s.batch.num_rows() * 2
            })
            .collect();
        for i in sparse {
            self.rewrite_in_place(i)?;
        }
        Ok(())
    }

    /// Append one segment holding the live rows of `parts`, re-pointing the
    /// key index at the moved rows.
    fn push_rewritten(&mut self, parts: &[Arc<Segment>]) -> Result<()> {
        let index = self.segments.len() as u32;
        let old_first = index;
        let (batch, row_ids, moves) = Self::live_of(&self.schema, parts, old_first)?;
        self.repoint(&batch, &moves, index)?;
        let n = batch.num_rows();
        self.segments.push(Arc::new(Segment {
            batch,
            row_ids: row_ids.into(),
            deleted: vec![false; n],
            deleted_count: 0,
        }));
        Ok(())
    }

    fn rewrite_in_place(&mut self, i: usize) -> Result<()> {
        let part = self.segments[i].clone();
        let (batch, row_ids, moves) = Self::live_of(&self.schema, &[part], i as u32)?;
        self.repoint(&batch, &moves, i as u32)?;
        let n = batch.num_rows();
        self.segments[i] = Arc::new(Segment {
            batch,
            row_ids: row_ids.into(),
            deleted: vec![false; n],
            deleted_count: 0,
        });
        Ok(())
    }

    /// The live rows of `parts` (segments numbered from `first`), their row
    /// ids, and for each kept row its old address.
    fn live_of(
        schema: &SchemaRef,
        parts: &[Arc<Segment>],
        first: u32,
    ) -> Result<(RecordBatch, Vec<u64>, Vec<RowAddr>)> {
        let mut batches = Vec::with_capacity(parts.len());
        let mut ids = Vec::new();
        let mut moves = Vec::new();
        for (p, s) in parts.iter().enumerate() {
            batches.push(filter_record_batch(&s.batch, &s.live_mask())?);
            for (row, (&id, &d)) in s.row_ids.iter().zip(&s.deleted).enumerate() {
                if !d {
                    ids.push(id);
                    moves.push(RowAddr {
                        segment: first + p as u32,
                        row: row as u32,
                    });
                }
            }
        }
        Ok((concat_batches(schema, &batches)?, ids, moves))
    }

    /// Point keys whose latest row moved (from `moves[i]` to row `i` of the
    /// new segment `index`) at the new place.
    fn repoint(&mut self, batch: &RecordBatch, moves: &[RowAddr], index: u32) -> Result<()> {
        let keys = self.encode_keys(&self.key_columns(batch)?)?;
        for (row, old) in moves.iter().enumerate() {
            let key = keys.get(row);
            let new = RowAddr {
                segment: index,
                row: row as u32,
            };
            if let Some(versions) = &mut self.versions {
                versions.moved(key, *old, new);
            }
            if let Some(state) = self.keys.get_mut(key)
                && state.latest == Some(*old)
            {
                state.latest = Some(RowAddr {
                    segment: index,
                    row: row as u32,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::customers;
    use crate::{MergeContext, MergeStrategy, Scd1, Scd2, merge};

    #[test]
    fn tiers_keep_segments_few_under_many_small_merges() {
        let (mut stream, spec) = customers(5, 300, 3_000);
        let (scd1, scd2) = (Scd1::default(), Scd2::default());
        let mut tables = vec![
            scd1.create_table(&spec).unwrap(),
            scd2.create_table(&spec).unwrap(),
        ];
        let strategies: [&dyn MergeStrategy; 2] = [&scd1, &scd2];
        for (i, b) in stream.by_ref().take(200).enumerate() {
            for (s, t) in strategies.iter().zip(&mut tables) {
                merge(*s, &spec, t, &[&b.batch], MergeContext::at(i as i64)).unwrap();
                assert!(
                    t.segments.len() <= MAX_SEGMENTS,
                    "{} segments",
                    t.segments.len()
                );
                let stored: usize = t.segments.iter().map(|s| s.batch.num_rows()).sum();
                assert!(stored <= 3 * t.num_rows() + 3 * 300, "{stored} rows stored");
            }
        }
        let history = &tables[1];
        assert!(history.num_rows() > 30_000 && history.segments.len() < 24);
    }

    /// Every row id of `table` plus the retired ones, sorted, with the rows.
    fn all_rows(table: &Table, retired: &[(RecordBatch, Vec<u64>)]) -> Vec<(u64, String)> {
        let (batch, ids) = table.to_batch_with_row_ids().unwrap();
        let mut parts = vec![(batch, ids.values().to_vec())];
        parts.extend(retired.iter().cloned());
        let mut rows = Vec::new();
        for (batch, ids) in parts {
            let formatted = arrow::util::pretty::pretty_format_batches(&[batch]).unwrap();
            let lines: Vec<String> = formatted
                .to_string()
                .lines()
                .skip(3)
                .filter(|l| !l.starts_with('+'))
                .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>().join("|"))
                .collect();
            rows.extend(ids.into_iter().zip(lines));
        }
        rows.sort();
        rows
    }

    #[test]
    fn retired_versions_plus_the_table_are_the_whole_history() {
        let (mut stream, spec) = customers(9, 200, 1_000);
        for scd2 in [
            Scd2::default(),
            Scd2 {
                columns: crate::ValidityColumns::default().with_tombstones("is_deleted"),
                on_delete: crate::Scd2Delete::CloseWithTombstone,
                ..Scd2::default()
            },
        ] {
            let mut whole = scd2.create_table(&spec).unwrap();
            let mut lean = scd2.create_table(&spec).unwrap();
            lean.retire_superseded(true);
            let mut retired = Vec::new();
            for (i, b) in stream.by_ref().take(40).enumerate() {
                let at = MergeContext::at(i as i64 * 1_000);
                let a = merge(&scd2, &spec, &mut whole, &[&b.batch], at).unwrap();
                let b = merge(&scd2, &spec, &mut lean, &[&b.batch], at).unwrap();
                assert_eq!(a.changes.batch().unwrap(), b.changes.batch().unwrap());
                retired.extend(lean.take_retired().unwrap());
                assert!(lean.num_rows() <= lean.key_count());
            }
            assert!(!retired.is_empty());
            let (w, l) = (all_rows(&whole, &[]), all_rows(&lean, &retired));
            assert_eq!(w.len(), l.len());
            if let Some((a, b)) = w.iter().zip(&l).find(|(a, b)| a != b) {
                panic!("first difference:\n{a:?}\n{b:?}");
            }
            // A table loaded from the whole history retires all but the latest rows.
            let (batch, ids) = whole.to_batch_with_row_ids().unwrap();
            let mut reloaded = scd2.create_table(&spec).unwrap();
            reloaded.retire_superseded(true);
            reloaded
                .load(
                    batch,
                    Some(ids.values()),
                    |b, r| scd2.live(b, r),
                    |b, x, y| scd2.newer(b, x, y),
                )
                .unwrap();
            let gone: Vec<_> = reloaded.take_retired().unwrap().into_iter().collect();
            assert_eq!(reloaded.num_rows(), lean.num_rows());
            assert!(all_rows(&whole, &[]) == all_rows(&reloaded, &gone));
        }
    }

    #[test]
    fn a_large_trailing_segment_absorbs_every_smaller_predecessor_in_one_rewrite() {
        // A tier merge has just produced the tier-6 segment at the end.
        let tiers = [5, 4, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 3, 6];
        assert_eq!(trailing_merge(&tiers), Some(13));
        // The tier-5 segment is only one tier below the result: left alone.
        assert_eq!(trailing_merge(&[5, 6]), None);
        assert_eq!(trailing_merge(&[3, 6]), Some(2));
    }

    #[test]
    fn trailing_segments_of_one_tier_merge_and_too_many_segments_merge_anyway() {
        assert_eq!(trailing_merge(&[]), None);
        assert_eq!(trailing_merge(&[4]), None);
        assert_eq!(
            trailing_merge(&[5, 4, 4, 4, 4, 4, 4, 4, 4]),
            Some(TIER_FANOUT)
        );
        assert_eq!(trailing_merge(&[5, 4, 4, 4, 4, 4, 4, 3, 4]), None);
        let many = [4, 5].repeat(MAX_SEGMENTS / 2 + 1);
        assert_eq!(trailing_merge(&many), Some(TIER_FANOUT));
    }

    #[test]
    fn tier_is_log8_of_stored_rows() {
        assert_eq!(
            [0, 1, 7, 8, 63, 64, 511, 512].map(tier_of),
            [0, 0, 0, 1, 1, 2, 2, 3]
        );
    }
}
