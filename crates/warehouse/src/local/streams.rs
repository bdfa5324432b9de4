//! Reading a stream: the net change of its table since the stream's offset (standard), the
//! rows inserted since it (append-only), or the table's rows as inserts (a first read with
//! `SHOW_INITIAL_ROWS`). Reading never moves the offset; a consuming merge moves it in the
//! same commit as its writes.

use arrow::array::StringArray;
use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::compute::kernels::cmp::eq;
use arrow::compute::{and, concat_batches, filter_record_batch, not};
use snowdrift_scd::{ACTION, ChangeSet, IS_UPDATE, ROW_ID, net_changes};

use crate::error::Result;
use crate::error::WarehouseError;
use crate::local::origin::RowOrigin;
use crate::local::state::{State, StreamState};
use crate::local::storage::Storage;
use crate::local::table::{Appended, DeltaView, LocalTable};

/// A table's rows and their row ids, read for a stream's first read with
/// `SHOW_INITIAL_ROWS` (from its segments too, so read ahead, asynchronously).
pub(crate) type InitialRows = (RecordBatch, Vec<u64>);

/// The rows a first read of `stream` shows as inserts, when it is one.
pub(crate) async fn initial_rows(
    storage: &Storage,
    state: &State,
    stream: &StreamState,
) -> Result<Option<InitialRows>> {
    if !stream.initial_pending {
        return Ok(None);
    }
    let plan = state.table(&stream.def.table)?.read_plan();
    Ok(Some(plan.rows_with_ids(storage).await?))
}

/// The stream's table, unless the stream is stale (changes it has not consumed were
/// released after the table's retention period).
fn table_of<'s>(state: &'s State, stream: &StreamState) -> Result<&'s LocalTable> {
    let table = state.table(&stream.def.table)?;
    match table.stale_for(stream.offset) {
        Some(available_from) if !stream.initial_pending => Err(WarehouseError::StaleStream {
            stream: stream.def.name.clone(),
            table: table.def.name.clone(),
            offset: stream.offset,
            available_from,
        }),
        _ => Ok(table),
    }
}

/// The stream's change rows now; `initial` is what [`initial_rows`] read for it. Changes
/// spilled beyond the memory budget are read back from `storage`.
pub(crate) async fn read(
    storage: &Storage,
    state: &State,
    stream: &StreamState,
    initial: Option<InitialRows>,
) -> Result<ChangeSet> {
    let table = table_of(state, stream)?;
    if stream.initial_pending {
        let (rows, ids) = initial.ok_or_else(|| crate::WarehouseError::Corrupt {
            path: stream.def.name.clone(),
            reason: "the stream's initial rows were not read".into(),
        })?;
        let empty = RecordBatch::new_empty(rows.schema());
        return Ok(ChangeSet::from_mutation(empty, Vec::new(), vec![rows], ids));
    }
    let window: Vec<ChangeSet> = table
        .deltas
        .window(storage, stream.offset)
        .await?
        .iter()
        .map(DeltaView::changes)
        .collect();
    if window.is_empty() {
        return Ok(ChangeSet::empty(&table.schema()));
    }
    if stream.def.append_only {
        return inserts_only(&window);
    }
    if let [single] = window.as_slice() {
        // One commit's change set is already net: each row id appears at most once as a
        // DELETE (its image before) and once as an INSERT (its image after).
        return Ok(single.clone());
    }
    Ok(net_changes(&window)?)
}

/// The rows a merge consumes, with where each batch's rows came from (for rejected rows).
pub(crate) struct MergeInput {
    pub(crate) batches: Vec<RecordBatch>,
    sources: Vec<BatchSource>,
}

/// Where the rows of one batch of a [`MergeInput`] came from.
enum BatchSource {
    /// Rows appended with row ids from `first_row_id` on, loaded from `origin` when known.
    Appended {
        first_row_id: u64,
        origin: Option<RowOrigin>,
    },
    /// Change rows, each with its `METADATA$ROW_ID`.
    ChangeRows,
}

impl BatchSource {
    fn origin(&self) -> Option<&RowOrigin> {
        match self {
            BatchSource::Appended { origin, .. } => origin.as_ref(),
            BatchSource::ChangeRows => None,
        }
    }
}

impl MergeInput {
    /// Source rows in all batches.
    pub(crate) fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// The batch and the row in it of row `row` counted across all batches.
    pub(crate) fn locate(&self, row: usize) -> Option<(usize, usize)> {
        let mut left = row;
        for (i, batch) in self.batches.iter().enumerate() {
            if left < batch.num_rows() {
                return Some((i, left));
            }
            left -= batch.num_rows();
        }
        None
    }

    /// The stream's `METADATA$ROW_ID` of row `row`.
    pub(crate) fn row_id(&self, row: usize) -> Option<String> {
        let (batch, at) = self.locate(row)?;
        match &self.sources[batch] {
            BatchSource::Appended { first_row_id, .. } => {
                Some(format!("{:016x}", first_row_id + at as u64))
            }
            BatchSource::ChangeRows => self.batches[batch]
                .column_by_name(ROW_ID)?
                .as_string_opt::<i32>()
                .filter(|ids| ids.is_valid(at))
                .map(|ids| ids.value(at).to_owned()),
        }
    }

    /// The staged files the rows were loaded from, in load order, each once.
    pub(crate) fn files(&self) -> Vec<String> {
        let mut files: Vec<String> = Vec::new();
        for source in &self.sources {
            if let BatchSource::Appended {
                origin: Some(origin),
                ..
            } = source
            {
                for file in origin.files() {
                    if !files.iter().any(|f| f == file) {
                        files.push(file.to_owned());
                    }
                }
            }
        }
        files
    }

    /// The rows as snapshots, one batch per staged file (per appended batch where the files
    /// are not known), in load order; and whether the last is whole (the load skipped none
    /// of its records). Slices: no copy.
    pub(crate) fn snapshots(&self) -> (Vec<RecordBatch>, bool) {
        let mut snapshots = Vec::new();
        let mut whole = true;
        for (batch, source) in self.batches.iter().zip(&self.sources) {
            let Some(origin) = source.origin() else {
                snapshots.push(batch.clone());
                whole = true;
                continue;
            };
            let mut at = 0;
            for (rows, skipped) in origin.file_rows() {
                let rows = (rows as usize).min(batch.num_rows() - at);
                snapshots.push(batch.slice(at, rows));
                at += rows;
                whole = !skipped;
            }
            if at < batch.num_rows() {
                // Rows the origin does not describe (never written so): one more snapshot.
                snapshots.push(batch.slice(at, batch.num_rows() - at));
                whole = true;
            }
        }
        (snapshots, whole)
    }

    /// The staged file and line row `row` was loaded from, when known.
    pub(crate) fn origin(&self, row: usize) -> Option<(String, u64)> {
        let (batch, at) = self.locate(row)?;
        match &self.sources[batch] {
            BatchSource::Appended {
                origin: Some(origin),
                ..
            } => origin
                .locate(at as u64)
                .map(|(file, line)| (file.to_owned(), line)),
            _ => None,
        }
    }
}

/// The rows a merge consumes: for an append-only stream whose window only appended rows, the
/// rows themselves (no metadata columns to build); otherwise the change rows.
pub(crate) async fn read_for_merge(
    storage: &Storage,
    state: &State,
    stream: &StreamState,
    initial: Option<InitialRows>,
) -> Result<MergeInput> {
    if stream.def.append_only && !stream.initial_pending {
        let table = table_of(state, stream)?;
        let all_appended = table
            .deltas
            .iter()
            .filter(|d| d.version > stream.offset)
            .all(|d| d.first_row_id.is_some());
        if all_appended {
            let views = table.deltas.window(storage, stream.offset).await?;
            let window: Vec<&Appended> = views.iter().filter_map(DeltaView::appended).collect();
            // Handed to the merge as they are: it reads its columns from each without a copy.
            return Ok(MergeInput {
                batches: window.iter().map(|a| a.rows.clone()).collect(),
                sources: window
                    .iter()
                    .map(|a| BatchSource::Appended {
                        first_row_id: a.first_row_id,
                        origin: a.origin.clone(),
                    })
                    .collect(),
            });
        }
    }
    Ok(MergeInput {
        batches: vec![
            read(storage, state, stream, initial)
                .await?
                .batch()?
                .clone(),
        ],
        sources: vec![BatchSource::ChangeRows],
    })
}

/// Whether the stream has changes after its offset (may be true when they net to nothing).
pub(crate) fn has_data(state: &State, stream: &StreamState) -> Result<bool> {
    let table = table_of(state, stream)?;
    Ok(stream.initial_pending && table.num_rows() > 0
        || table
            .deltas
            .iter()
            .any(|d| d.version > stream.offset && d.len > 0))
}

fn inserts_only(window: &[ChangeSet]) -> Result<ChangeSet> {
    let schema = window[0].batch()?.schema();
    let parts = window
        .iter()
        .map(|c| {
            let batch = c.batch()?;
            // Change sets always carry both columns (ChangeSet::try_new checks them).
            let (Some(action), Some(update)) = (
                batch.column_by_name(ACTION),
                batch
                    .column_by_name(IS_UPDATE)
                    .and_then(|c| c.as_boolean_opt()),
            ) else {
                return Err(crate::WarehouseError::Corrupt {
                    path: "(change set)".into(),
                    reason: "no action or update column".into(),
                });
            };
            let insert = eq(action, &StringArray::new_scalar("INSERT"))?;
            let keep: BooleanArray = and(&insert, &not(update)?)?;
            Ok(filter_record_batch(batch, &keep)?)
        })
        .collect::<Result<Vec<_>>>()?;
    let batch = concat_batches(&schema, &parts)?;
    debug_assert_eq!(batch.column(0).len(), batch.num_rows());
    Ok(ChangeSet::try_new(batch)?)
}
