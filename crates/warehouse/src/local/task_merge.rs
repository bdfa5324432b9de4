//! The merge of one task run, decided with the state lock released.
//!
//! Under the lock a run reads its stream's rows and takes a shared handle on the target's
//! rows (no copy). It then decides the merge with no lock held (`snowdrift_scd::prepare_merge`:
//! the reads, comparisons, plan and new rows, most of a merge's work), so loads, commits and
//! other tables' merges go on meanwhile. Finally it takes the lock again and applies the
//! decision, in time proportional to the change, but only if nothing changed the target, the
//! stream, the catalog or the whole state (a rebuild from storage) in between. Otherwise it
//! reads and decides again under the lock. This is optimistic concurrency, the way pipe loads
//! check the catalog epoch before they commit. (A history by event time decides as it
//! applies, under the lock.)
//!
//! Readers never wait either way: they read the published snapshot. A merge that fails to
//! decide leaves nothing to undo, since deciding changes nothing.

use arrow::array::RecordBatch;
use snowdrift_scd::{
    AbsentKeys, ChangeFormat, ChangeSet, ChangeSource, MergeOutcome, PreparedMerge,
};

use crate::TaskRun;
use crate::catalog::{MergeDef, OnLateRow, TableDef};
use crate::error::{Result, WarehouseError};
use crate::local::Inner;
use crate::local::reject::{self, RejectingRun};
use crate::local::state::State;
use crate::local::streams;
use crate::local::table::{MergeRequest, Rows, TableWrite};

/// What a merge run did.
pub(crate) struct MergeDone {
    /// The target's change set, applied sequences and retired versions.
    write: TableWrite,
    /// The rows for the rejected table, already appended to it in memory.
    rejected: Option<(String, TableWrite)>,
    consumed: u64,
    written: u64,
    late: u64,
    rejected_rows: u64,
    /// The stream's offset before the run.
    offset: u64,
    /// The staged files of the consumed rows, in load order.
    files: Vec<String>,
}

impl MergeDone {
    /// Records the run's counts, window (up to `source_version`) and files in `run`; returns
    /// the writes to commit: `target`'s and the rejected table's.
    pub(crate) fn record(
        self,
        run: &mut TaskRun,
        target: &str,
        source_version: u64,
    ) -> Vec<(String, TableWrite)> {
        (run.rows_consumed, run.rows_written, run.late_rows) =
            (self.consumed, self.written, self.late);
        run.rejected_rows = self.rejected_rows;
        run.window = Some((self.offset, source_version));
        run.source_files = self.files;
        let mut writes = vec![(target.to_owned(), self.write)];
        writes.extend(self.rejected);
        writes
    }
}

/// What a merge is decided on, read under the lock: the stream's rows, the target's rows
/// (shared), and what must not change before the decision is applied.
pub(crate) struct MergeBasis {
    /// The version the stream is read at (its offset after the run).
    pub(crate) source_version: u64,
    input: streams::MergeInput,
    /// The stream's offset before the run.
    offset: u64,
    /// The stream's name as defined, and whether it shows appended rows only.
    stream: String,
    append_only: bool,
    target: TableDef,
    /// The target's rows, shared with the state until the decision is applied.
    rows: Option<Rows>,
    now_micros: i64,
    seen: Seen,
}

/// What a merge decided off the lock relies on.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    catalog_epoch: u64,
    rebuilds: u64,
    target_version: u64,
    /// Whether the target held retired rows (a checkpoint takes them without a new version).
    target_retired: bool,
    offset: u64,
}

impl Seen {
    fn of(state: &State, merge: &MergeDef) -> Result<Self> {
        let target = state.table(&merge.target)?;
        Ok(Seen {
            catalog_epoch: state.catalog_epoch,
            rebuilds: state.rebuilds,
            target_version: target.version,
            target_retired: target.has_retired(),
            offset: state.stream(&merge.source)?.offset,
        })
    }
}

impl MergeBasis {
    /// Reads the stream of `merge` and takes a handle on its target's rows.
    ///
    /// # Errors
    ///
    /// The stream or the target does not exist, or the stream's spilled changes cannot be
    /// read back.
    pub(crate) async fn read(inner: &Inner, state: &mut State, merge: &MergeDef) -> Result<Self> {
        let source_version = state.version;
        let stream = state.stream(&merge.source)?;
        let (offset, name, append_only) = (
            stream.offset,
            stream.def.name.clone(),
            stream.def.append_only,
        );
        let initial = streams::initial_rows(&inner.storage, state, stream).await?;
        let input = streams::read_for_merge(&inner.storage, state, stream, initial).await?;
        let target = state
            .table(&merge.target)
            .map_err(|_| WarehouseError::TaskFailed {
                task: merge.source.clone(),
                reason: format!("target table `{}` does not exist", merge.target),
            })?;
        let (target, rows) = (target.def.clone(), target.rows.clone());
        Ok(MergeBasis {
            source_version,
            input,
            offset,
            stream: name,
            append_only,
            target,
            rows: Some(rows),
            now_micros: state.tick(),
            seen: Seen::of(state, merge)?,
        })
    }

    /// Whether the result of merging this basis may still be installed in `state`.
    pub(crate) fn current(&self, state: &State, merge: &MergeDef) -> bool {
        Seen::of(state, merge).is_ok_and(|seen| seen == self.seen)
    }

    /// Decides the merge of the stream's rows into the target's (no lock needed).
    ///
    /// # Errors
    ///
    /// The SCD engine's error for changes the target cannot take.
    pub(crate) fn prepare(&self, merge: &MergeDef) -> Result<Option<PreparedMerge>> {
        if self.input.num_rows() == 0 {
            return Ok(None);
        }
        let Some(rows) = &self.rows else {
            return Ok(None);
        };
        let format = if self.append_only {
            merge.change_format()
        } else {
            ChangeFormat::Stream
        };
        let (change_source, snapshots) = snapshots_of(merge, &self.input);
        let batches: Vec<&RecordBatch> = match &snapshots {
            Some(snapshots) => snapshots.iter().collect(),
            None => self.input.batches.iter().collect(),
        };
        let request = MergeRequest {
            merge,
            format,
            change_source,
            changes: &batches,
            now_micros: self.now_micros,
        };
        rows.prepare_merge(&self.target, &request).map(Some)
    }

    /// Applies the decision to the target's rows in `state` (in place: this basis lets go of
    /// its handle first). Call it only while [`MergeBasis::current`].
    ///
    /// # Errors
    ///
    /// The SCD engine's error (a history by event time decides here); the rows are
    /// unchanged then.
    pub(crate) fn apply(
        &mut self,
        state: &mut State,
        merge: &MergeDef,
        prepared: Option<PreparedMerge>,
    ) -> Result<Option<MergeOutcome>> {
        self.rows = None;
        let Some(prepared) = prepared else {
            return Ok(None);
        };
        let target = state.table_mut(&merge.target)?;
        let mut outcome = target.rows.apply(&target.def, prepared)?;
        if merge.on_late_row == OnLateRow::Skip {
            outcome
                .rejected
                .retain(|r| r.reason != snowdrift_scd::RejectReason::Late);
        }
        Ok(Some(outcome))
    }

    /// Appends the rejected rows of an applied merge to the rejected table and takes the
    /// target's retired rows; returns what the run commits.
    ///
    /// # Errors
    ///
    /// The rejected table does not exist or cannot take the rows.
    pub(crate) fn finish(
        self,
        state: &mut State,
        merge: &MergeDef,
        run: &TaskRun,
        outcome: Option<MergeOutcome>,
    ) -> Result<MergeDone> {
        let consumed = self.input.num_rows() as u64;
        let Some(outcome) = outcome else {
            return Ok(MergeDone {
                write: TableWrite::changes(ChangeSet::empty(&self.target.schema())),
                rejected: None,
                consumed,
                written: 0,
                late: 0,
                rejected_rows: 0,
                offset: self.offset,
                files: Vec::new(),
            });
        };
        let rejected = if outcome.rejected.is_empty() {
            None
        } else {
            let name = merge.rejected_table();
            let table = state.table_mut(&name)?;
            let by = RejectingRun {
                stream: &self.stream,
                task: &run.task,
                graph_run: run.graph_run,
                now_micros: self.now_micros,
            };
            let rows = reject::rejected_rows(&table.def, &self.input, &outcome.rejected, &by)?;
            Some((name, table.append(rows, None)?))
        };
        let (written, late, rejected_rows) = (
            outcome.metrics.target_rows_written as u64,
            outcome.metrics.late as u64,
            outcome.rejected.len() as u64,
        );
        let write = state.table_mut(&merge.target)?.changed(outcome)?;
        Ok(MergeDone {
            written,
            late,
            rejected_rows,
            write,
            rejected,
            consumed,
            offset: self.offset,
            files: self.input.files(),
        })
    }
}

/// How a merge reads its input: as changes, or (a snapshot source) one snapshot per staged
/// file. A last snapshot the load skipped records of is not the whole entity, so it deletes
/// nothing this time: its missing customers may be the skipped rows.
fn snapshots_of(
    merge: &MergeDef,
    input: &streams::MergeInput,
) -> (ChangeSource, Option<Vec<RecordBatch>>) {
    let ChangeSource::Snapshots(absent) = merge.change_source else {
        return (ChangeSource::Changes, None);
    };
    let (snapshots, whole) = input.snapshots();
    if !whole && absent == AbsentKeys::Delete {
        tracing::warn!(
            source = %merge.source,
            target = %merge.target,
            "the last snapshot was loaded with bad records skipped: customers it leaves out are kept this time"
        );
        return (ChangeSource::Snapshots(AbsentKeys::Keep), Some(snapshots));
    }
    (merge.change_source, Some(snapshots))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};

    use super::*;
    use crate::catalog::{Column, ColumnType, ObjectDef, StreamDef, TableLayout};
    use crate::local::LocalWarehouse;
    use crate::{CreateMode, Dml, Warehouse as _};

    fn rows(ids: &[i64]) -> RecordBatch {
        let names = StringArray::from_iter_values(ids.iter().map(|i| format!("c{i}")));
        let ids = Int64Array::from(ids.to_vec());
        RecordBatch::try_from_iter([("id", Arc::new(ids) as ArrayRef), ("name", Arc::new(names))])
            .unwrap()
    }

    /// A raw table with rows 1 and 2, a keyed target and an append-only stream on raw.
    async fn warehouse() -> LocalWarehouse {
        let w = LocalWarehouse::builder("memory://")
            .background(false)
            .open()
            .await
            .unwrap();
        let raw = TableDef::new(
            "raw",
            vec![
                Column::new("id", ColumnType::Number).not_null(),
                Column::new("name", ColumnType::Varchar),
            ],
        );
        let mut target = raw
            .clone()
            .with_key(["id"])
            .with_layout(TableLayout::scd1());
        target.name = "target".into();
        let stream = StreamDef {
            name: "raw_s".into(),
            table: raw.name.clone(),
            append_only: true,
            show_initial_rows: false,
        };
        let objects = [
            ObjectDef::Table(raw),
            ObjectDef::Table(target),
            ObjectDef::Stream(stream),
        ];
        for object in objects {
            w.create(object, CreateMode::OrReplace).await.unwrap();
        }
        w.dml("raw", Dml::Insert(vec![rows(&[1, 2])]))
            .await
            .unwrap();
        w
    }

    async fn basis(w: &LocalWarehouse, merge: &MergeDef) -> MergeBasis {
        let mut state = w.inner.lock_to_commit().await;
        MergeBasis::read(&w.inner, &mut state, merge).await.unwrap()
    }

    async fn current(w: &LocalWarehouse, basis: &MergeBasis, merge: &MergeDef) -> bool {
        basis.current(&*w.inner.lock_to_commit().await, merge)
    }

    #[tokio::test]
    async fn a_merge_decided_off_the_lock_stays_current_while_only_its_source_grows() {
        let w = warehouse().await;
        let merge = MergeDef::new("raw_s", "target");
        let basis = basis(&w, &merge).await;
        w.dml("raw", Dml::Insert(vec![rows(&[3])])).await.unwrap();
        assert!(current(&w, &basis, &merge).await);
        let prepared = basis.prepare(&merge).unwrap();
        assert_eq!(prepared.map(|p| p.metrics().target_rows_written), Some(2));
        // The target itself is untouched until the decision is applied.
        assert_eq!(w.row_count("target").await.unwrap(), 0);
    }

    /// Where the target's keyed rows live.
    fn target_rows(state: &State) -> *const snowdrift_scd::Table {
        match &state.table("target").unwrap().rows {
            Rows::Keyed(table) => Arc::as_ptr(table),
            Rows::Append { .. } => std::ptr::null(),
        }
    }

    #[tokio::test]
    async fn a_decided_merge_is_applied_to_the_targets_rows_in_place_with_no_copy() {
        let w = warehouse().await;
        let merge = MergeDef::new("raw_s", "target");
        let mut basis = basis(&w, &merge).await;
        let before = target_rows(&*w.inner.lock_to_commit().await);
        assert!(!before.is_null());
        let prepared = basis.prepare(&merge).unwrap();
        let mut state = w.inner.lock_to_commit().await;
        let outcome = basis.apply(&mut state, &merge, prepared).unwrap();
        assert_eq!(outcome.map(|o| o.metrics.target_rows_written), Some(2));
        assert_eq!(target_rows(&state), before);
        assert_eq!(state.table("target").unwrap().num_rows(), 2);
    }

    #[tokio::test]
    async fn a_change_to_the_target_meanwhile_makes_the_merge_decide_again() {
        let w = warehouse().await;
        let merge = MergeDef::new("raw_s", "target");
        let basis = basis(&w, &merge).await;
        w.dml("target", Dml::Insert(vec![rows(&[9])]))
            .await
            .unwrap();
        assert!(!current(&w, &basis, &merge).await);
    }

    #[tokio::test]
    async fn another_run_consuming_the_stream_meanwhile_makes_the_merge_decide_again() {
        let w = warehouse().await;
        let merge = MergeDef::new("raw_s", "target");
        let mut first = basis(&w, &merge).await;
        let second = basis(&w, &merge).await;
        let prepared = first.prepare(&merge).unwrap();
        let mut state = w.inner.lock_to_commit().await;
        let outcome = first.apply(&mut state, &merge, prepared).unwrap();
        let run = TaskRun::begun(
            "t",
            1,
            std::time::SystemTime::now(),
            std::time::SystemTime::now(),
            1,
        );
        let mut run = run;
        let version = first.source_version;
        let done = first.finish(&mut state, &merge, &run, outcome).unwrap();
        let writes = done.record(&mut run, "target", version);
        assert_eq!((run.rows_consumed, run.rows_written), (2, 2));
        let actions = vec![crate::local::state::Action::StreamOffset {
            stream: "raw_s".into(),
            version,
        }];
        w.inner.commit(&mut state, actions, writes).await.unwrap();
        assert!(!second.current(&state, &merge));
    }

    #[tokio::test]
    async fn a_dropped_target_makes_the_merge_decide_again() {
        let w = warehouse().await;
        let merge = MergeDef::new("raw_s", "target");
        let basis = basis(&w, &merge).await;
        w.drop_object(crate::catalog::ObjectKind::Table, "target", false)
            .await
            .unwrap();
        assert!(!current(&w, &basis, &merge).await);
    }
}
