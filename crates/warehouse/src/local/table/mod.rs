//! A table of the embedded engine: its segments on storage (see `segment`), the latest row of
//! each key of a keyed table in memory (the SCD engine's indexed [`snowdrift_scd::Table`]), a
//! stable row id for every row, and the change sets of recent versions that streams on it have
//! not consumed. Nothing here grows with rows ever loaded or with history: appended rows and
//! superseded versions are in segment files.

mod restore;
mod retained;
mod strategy;
mod write;

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, new_null_array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use snowdrift_scd::{ChangeFormat, ChangeSource, MergeContext, MergeOutcome, PreparedMerge};

use crate::catalog::{MergeDef, ObjectKind, TableDef};
use crate::error::{Result, WarehouseError};
use crate::local::origin::RowOrigin;
use crate::local::segment::{Segment, TableRead};
pub(crate) use restore::{
    ROW_ID_COLUMN, Restoring, conform, split_row_ids, stored_column, with_row_ids,
};
pub(crate) use retained::{Delta, DeltaView, Retained, fit_budget};
use strategy::{default_strategy, dml_merge, merge_spec, merge_strategy, restore_spec, retires};
pub(crate) use write::{Appended, Retired, TableWrite};

const DML_OP: &str = "__snowdrift_op";

/// Where the rows of a table are kept besides its segments.
#[derive(Debug, Clone)]
pub(crate) enum Rows {
    /// The latest row of each key, indexed (superseded versions are retired to segments).
    /// Shared with a task run that decides a merge on it with the state lock released (see
    /// `task_merge`); changed in place once that run let go of it (`Arc::make_mut`).
    Keyed(Arc<snowdrift_scd::Table>),
    /// Only segments; the last row id given out.
    Append { next_row_id: u64 },
}

#[derive(Debug)]
pub(crate) struct LocalTable {
    pub(crate) def: TableDef,
    pub(crate) rows: Rows,
    /// The segment files of its rows, oldest first.
    /// Shared with the published snapshot readers use (copied when a commit adds one).
    pub(crate) segments: Arc<Vec<Segment>>,
    /// Changes streams on it have not consumed.
    pub(crate) deltas: Retained,
    /// Changes up to this version were released after the retention period before every
    /// stream on the table consumed them: a stream with an older offset is stale.
    pub(crate) released_through: u64,
    /// The last version that changed the table (its creation, at least).
    pub(crate) version: u64,
}

/// A merge into a keyed table's rows: its definition, how its rows read (`format`, and as
/// changes or snapshots: `change_source`, one batch per snapshot), the rows, and its clock.
pub(crate) struct MergeRequest<'a> {
    pub(crate) merge: &'a MergeDef,
    pub(crate) format: ChangeFormat,
    pub(crate) change_source: ChangeSource,
    pub(crate) changes: &'a [&'a RecordBatch],
    pub(crate) now_micros: i64,
}

impl Rows {
    /// Merges into the rows of a keyed table defined by `def`, with the strategy the merge
    /// asks for: [`Rows::prepare_merge`], then the prepared merge applied.
    pub(crate) fn merge(
        &mut self,
        def: &TableDef,
        request: &MergeRequest<'_>,
    ) -> Result<MergeOutcome> {
        let prepared = self.prepare_merge(def, request)?;
        self.apply(def, prepared)
    }

    /// Decides that merge without changing the rows (no lock is needed on them: they are
    /// shared, and only read).
    pub(crate) fn prepare_merge(
        &self,
        def: &TableDef,
        request: &MergeRequest<'_>,
    ) -> Result<PreparedMerge> {
        let table = self.keyed(def)?;
        let strategy = merge_strategy(def, request.merge)?;
        let spec = merge_spec(
            def,
            request.merge,
            request.format.clone(),
            request.change_source,
        )?;
        Ok(snowdrift_scd::prepare_merge(
            strategy.as_ref(),
            &spec,
            table,
            request.changes,
            MergeContext::at(request.now_micros),
        )?)
    }

    /// Writes a merge prepared on these rows, unchanged since.
    pub(crate) fn apply(
        &mut self,
        def: &TableDef,
        prepared: PreparedMerge,
    ) -> Result<MergeOutcome> {
        match self {
            Rows::Keyed(table) => Ok(prepared.apply(Arc::make_mut(table))?),
            Rows::Append { .. } => Err(not_keyed(def)),
        }
    }

    fn keyed(&self, def: &TableDef) -> Result<&snowdrift_scd::Table> {
        match self {
            Rows::Keyed(table) => Ok(table),
            Rows::Append { .. } => Err(not_keyed(def)),
        }
    }
}

fn not_keyed(def: &TableDef) -> WarehouseError {
    WarehouseError::unsupported(
        ObjectKind::Table,
        &def.name,
        "a merge needs a target with a key",
    )
}

impl LocalTable {
    pub(crate) fn create(def: TableDef, version: u64) -> Result<Self> {
        Self::restore(def, version, None, Vec::new())
    }

    /// A table with `segments` and, for a keyed table, `memory` (rows with a row id column)
    /// as the latest rows of its keys. Rows of `memory` that are not their key's latest are
    /// retired and handed to the next commit or checkpoint of the table.
    pub(crate) fn restore(
        def: TableDef,
        version: u64,
        memory: Option<RecordBatch>,
        segments: Vec<Segment>,
    ) -> Result<Self> {
        let rows = if def.key.is_empty() {
            let next_row_id = segments
                .iter()
                .filter_map(Segment::last_row_id)
                .max()
                .unwrap_or(0);
            Rows::Append { next_row_id }
        } else {
            let strategy = default_strategy(&def);
            let spec = restore_spec(&def)?;
            let mut table = strategy.create_table(&spec)?;
            table.retire_superseded(retires(&def));
            if let Some(batch) = memory {
                let (batch, ids) = split_row_ids(&batch)?;
                snowdrift_scd::load_into(strategy.as_ref(), &mut table, batch, &ids)?;
            }
            Rows::Keyed(Arc::new(table))
        };
        Ok(LocalTable {
            def,
            rows,
            segments: Arc::new(segments),
            deltas: Retained::default(),
            released_through: 0,
            version,
        })
    }

    pub(crate) fn schema(&self) -> SchemaRef {
        self.def.schema()
    }

    pub(crate) fn num_rows(&self) -> usize {
        let in_memory = match &self.rows {
            Rows::Keyed(t) => t.num_rows(),
            Rows::Append { .. } => 0,
        };
        let in_segments: u64 = self.segments.iter().map(|s| s.rows).sum();
        in_memory + in_segments as usize
    }

    /// What a read of every row at this version needs (read it with [`TableRead::rows`]
    /// after releasing the state lock): shared pointers, no copy of the rows.
    pub(crate) fn read_plan(&self) -> TableRead {
        TableRead {
            schema: self.schema(),
            memory: match &self.rows {
                Rows::Keyed(t) => Some(t.snapshot()),
                Rows::Append { .. } => None,
            },
            segments: self.segments.clone(),
        }
    }

    /// Where its rows are kept.
    pub(crate) fn storage(&self) -> crate::local::TableStorage {
        let rows_in_segments: u64 = self.segments.iter().map(|s| s.rows).sum();
        let rows = self.num_rows() as u64;
        crate::local::TableStorage {
            rows,
            rows_in_memory: rows - rows_in_segments,
            segments: self.segments.len() as u64,
            rows_in_segments,
            retained_changes: self.deltas.len() as u64,
            retained_changes_in_memory: self.deltas.resident() as u64,
        }
    }

    /// The rows in memory and their row ids (a keyed table's latest rows).
    fn memory_rows(&self) -> Result<Option<(RecordBatch, Vec<u64>)>> {
        match &self.rows {
            Rows::Keyed(t) => {
                let (batch, ids) = t.to_batch_with_row_ids()?;
                Ok(Some((batch, ids.values().to_vec())))
            }
            Rows::Append { .. } => Ok(None),
        }
    }

    /// The rows in memory with their row id as a column, for a checkpoint (`None` for a table
    /// without a key: all its rows are in segments).
    pub(crate) fn memory_snapshot(&self) -> Result<Option<RecordBatch>> {
        match self.memory_rows()? {
            Some((batch, ids)) => Ok(Some(with_row_ids(&batch, ids)?)),
            None => Ok(None),
        }
    }

    /// Replaces the adjacent segments named `removed` by `added` (a compaction). Does nothing
    /// when they are not there as such.
    pub(crate) fn replace_segments(&mut self, removed: &[String], added: Segment) {
        let Some(first) = removed.first() else {
            return;
        };
        let Some(at) = self.segments.iter().position(|s| &s.file == first) else {
            return;
        };
        let end = at + removed.len();
        let matches = self.segments.len() >= end
            && self.segments[at..end]
                .iter()
                .zip(removed)
                .all(|(s, f)| &s.file == f);
        if matches {
            Arc::make_mut(&mut self.segments).splice(at..end, [added]);
        }
    }

    /// Records a segment a commit wrote.
    pub(crate) fn add_segment(&mut self, segment: Segment) {
        if let (Rows::Append { next_row_id }, Some(last)) = (&mut self.rows, segment.last_row_id())
        {
            *next_row_id = (*next_row_id).max(last);
        }
        Arc::make_mut(&mut self.segments).push(segment);
    }

    /// Appends rows to a table without a key; `origin` says where they were loaded from.
    pub(crate) fn append(
        &mut self,
        batch: RecordBatch,
        origin: Option<RowOrigin>,
    ) -> Result<TableWrite> {
        let Rows::Append { next_row_id } = &mut self.rows else {
            return Err(WarehouseError::unsupported(
                ObjectKind::Table,
                &self.def.name,
                "rows of a table with a key are inserted through a merge",
            ));
        };
        let first_row_id = *next_row_id + 1;
        *next_row_id += batch.num_rows() as u64;
        Ok(TableWrite::Appended(Appended {
            rows: batch,
            first_row_id,
            origin,
        }))
    }

    /// What a merge's outcome writes: its change set, the applied sequences, and the versions
    /// it retired from memory.
    pub(crate) fn changed(&mut self, outcome: MergeOutcome) -> Result<TableWrite> {
        Ok(TableWrite::Changed {
            changes: outcome.changes,
            sequences: outcome.applied_sequences,
            retired: self.take_retired()?,
        })
    }

    /// Whether it holds retired rows that no segment holds yet (a table restored from a
    /// checkpoint of the layout before segments).
    pub(crate) fn has_retired(&self) -> bool {
        matches!(&self.rows, Rows::Keyed(t) if t.has_retired())
    }

    /// The rows retired from memory that no segment holds yet.
    pub(crate) fn take_retired(&mut self) -> Result<Option<Retired>> {
        match &mut self.rows {
            // Unchanged rows are left shared (a run deciding a merge on them may hold them).
            Rows::Keyed(table) if table.has_retired() => Ok(Arc::make_mut(table)
                .take_retired()?
                .map(|(rows, row_ids)| Retired { rows, row_ids })),
            Rows::Keyed(_) | Rows::Append { .. } => Ok(None),
        }
    }

    /// INSERT or UPDATE on a keyed table: an upsert merge with the table's own strategy.
    pub(crate) fn upsert(&mut self, rows: &RecordBatch, now_micros: i64) -> Result<MergeOutcome> {
        let merge = dml_merge(&self.def.name);
        let request = MergeRequest {
            merge: &merge,
            format: ChangeFormat::Upserts,
            change_source: ChangeSource::Changes,
            changes: &[rows],
            now_micros,
        };
        self.rows.merge(&self.def, &request)
    }

    /// DELETE of the keys in `keys` (a batch holding at least the key columns).
    pub(crate) fn delete_keys(
        &mut self,
        keys: &RecordBatch,
        now_micros: i64,
    ) -> Result<MergeOutcome> {
        let business = self.def.business_schema();
        let mut fields: Vec<Field> = business
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        fields.push(Field::new(DML_OP, DataType::Utf8, false));
        let n = keys.num_rows();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.len());
        for field in business.fields() {
            let column = if self.def.key.contains(field.name()) {
                let column = keys.column_by_name(field.name()).ok_or_else(|| {
                    WarehouseError::invalid(
                        ObjectKind::Table,
                        &self.def.name,
                        format!("the rows to delete have no key column `{}`", field.name()),
                    )
                })?;
                arrow::compute::cast(column, field.data_type())?
            } else {
                new_null_array(field.data_type(), n)
            };
            columns.push(column);
        }
        columns.push(Arc::new(StringArray::from(vec!["DELETE"; n])));
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        let merge = dml_merge(&self.def.name);
        let request = MergeRequest {
            merge: &merge,
            format: ChangeFormat::OperationColumn(DML_OP.into()),
            change_source: ChangeSource::Changes,
            changes: &[&batch],
            now_micros,
        };
        self.rows.merge(&self.def, &request)
    }

    /// Restores the applied sequences of keys (a checkpoint's or a merge's, read back).
    pub(crate) fn restore_sequences(&mut self, sequences: &RecordBatch) -> Result<()> {
        match &mut self.rows {
            Rows::Keyed(table) => Ok(Arc::make_mut(table).restore_applied_sequences(sequences)?),
            Rows::Append { .. } => Ok(()),
        }
    }

    /// The applied sequence of every key, for a checkpoint (`None` for a table without a key
    /// or without sequences).
    pub(crate) fn sequences(&self) -> Result<Option<RecordBatch>> {
        match &self.rows {
            Rows::Keyed(table) => {
                let batch = table.applied_sequences()?;
                // A truncate's sequence floor is kept even when no key has a sequence.
                let floor = table.sequence_floor().is_some();
                Ok((batch.num_rows() > 0 || floor).then_some(batch))
            }
            Rows::Append { .. } => Ok(None),
        }
    }

    /// Releases the changes every stream on the table has consumed (all of them without
    /// streams: `oldest_needed_after` is `None`), and those older than the retention period at
    /// `now_micros` (the time of the latest commit) even if a stream still needs them: that
    /// stream is stale from then on.
    pub(crate) fn prune_deltas(&mut self, oldest_needed_after: Option<u64>, now_micros: i64) {
        let Some(offset) = oldest_needed_after else {
            self.deltas.clear();
            return;
        };
        let retention = i64::try_from(self.def.stream_retention().as_micros()).unwrap_or(i64::MAX);
        while let Some(d) = self.deltas.front() {
            let consumed = d.version <= offset;
            let expired = now_micros.saturating_sub(d.time_micros) > retention;
            if !consumed && !expired {
                break;
            }
            if !consumed {
                self.released_through = self.released_through.max(d.version);
            }
            self.deltas.pop_front();
        }
    }

    /// Whether a stream at `offset` can no longer be read, and then the oldest version whose
    /// changes are retained.
    pub(crate) fn stale_for(&self, offset: u64) -> Option<u64> {
        (offset < self.released_through).then_some(self.released_through + 1)
    }
}
