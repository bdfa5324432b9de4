//! Checkpoints: the whole state at one version, so a restart replays only the log entries
//! after it. For each table a checkpoint records the list of its segments and, for a keyed
//! table, the latest rows of its keys (a Parquet file with their row ids): it costs the live
//! keys, never the rows ever loaded or the history.
//!
//! A checkpoint is taken in two steps so that commits do not wait for it: [`capture`] copies
//! what it needs from the state under the state lock (the rows in memory are Arrow arrays, so
//! the copy is cheap), then [`CheckpointPlan::write`] writes the files, the checkpoint entry and
//! the table manifests and removes what the checkpoint makes unnecessary, with no lock held.
//! Commits go on meanwhile: the clean-up only touches files of versions up to the checkpoint's.

use tokio::sync::Mutex;

use arrow::array::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::catalog::ObjectDef;
use crate::error::Result;
use crate::local::garbage::{Collection, Unreferenced};
use crate::local::load_history::LoadFile;
use crate::local::manifest::Manifest;
use crate::local::origin::RowOrigin;
use crate::local::segment::Segment;
use crate::local::state::State;
use crate::local::storage::{Codec, Storage};
use crate::local::table::with_row_ids;
use crate::{FileLoad, TaskRun};

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TableCheckpoint {
    pub(crate) name: String,
    /// The rows in memory with their row ids (a keyed table's latest rows; before segments, a
    /// table's every row).
    #[serde(default)]
    pub(crate) rows_file: Option<String>,
    /// The table's segment files, oldest first.
    #[serde(default)]
    pub(crate) segments: Vec<Segment>,
    pub(crate) version: u64,
    /// Retained changes: version, data file, first row id when the change appended rows.
    pub(crate) deltas: Vec<(u64, String, Option<u64>)>,
    /// The staged files and lines of the retained appended changes, in the order of `deltas`.
    #[serde(default)]
    pub(crate) origins: Vec<Option<RowOrigin>>,
    /// The applied sequence of every key of a keyed table (late detection after a restart).
    #[serde(default)]
    pub(crate) sequences_file: Option<String>,
    /// The commit time of each retained change, in the order of `deltas`.
    #[serde(default)]
    pub(crate) delta_times: Vec<i64>,
    /// Changes up to this version were released unconsumed after the retention period.
    #[serde(default)]
    pub(crate) released_through: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StreamCheckpoint {
    pub(crate) name: String,
    pub(crate) offset: u64,
    pub(crate) initial_pending: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TaskCheckpoint {
    pub(crate) name: String,
    pub(crate) resumed: bool,
    pub(crate) failures: u32,
    pub(crate) history: Vec<TaskRun>,
}

/// The whole state at one version.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Checkpoint {
    pub(crate) version: u64,
    pub(crate) time_micros: i64,
    pub(crate) objects: Vec<ObjectDef>,
    pub(crate) tables: Vec<TableCheckpoint>,
    pub(crate) streams: Vec<StreamCheckpoint>,
    /// Loads of checkpoints written before load history files (read, never written).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) loads: Vec<(String, FileLoad)>,
    /// The files of each table's load history, oldest first.
    #[serde(default)]
    pub(crate) load_files: Vec<(String, Vec<LoadFile>)>,
    pub(crate) tasks: Vec<TaskCheckpoint>,
    /// Pipes paused with `ALTER PIPE … SET PIPE_EXECUTION_PAUSED = TRUE`.
    #[serde(default)]
    pub(crate) paused_pipes: Vec<String>,
}

/// What a checkpoint writes, captured from the state at one version.
#[derive(Debug)]
pub(crate) struct CheckpointPlan {
    version: u64,
    checkpoint: Checkpoint,
    /// Files to write first: name and rows.
    files: Vec<(String, RecordBatch)>,
    manifests: Vec<Manifest>,
    /// Data files the checkpoint refers to (everything else up to its version may go, after
    /// its table's retention period).
    collection: Collection,
}

/// Captures a checkpoint of `state` at its version. Versions a table retired outside a merge
/// (a table restored from an older layout) are written to a segment first, so the state
/// never refers to a file that is not there.
pub(crate) async fn capture(storage: &Storage, state: &mut State) -> Result<CheckpointPlan> {
    let version = state.version;
    let mut plan = CheckpointPlan {
        version,
        checkpoint: Checkpoint::default(),
        files: Vec::new(),
        manifests: Vec::new(),
        collection: Collection {
            up_to: version,
            now_micros: state.clock_micros,
            default_retention: micros_of(crate::catalog::DEFAULT_RETENTION_DAYS),
            ..Collection::default()
        },
    };
    for (name, table) in &mut state.tables {
        if let Some(retired) = table.take_retired()? {
            let file = format!("data/{name}/{version:020}-checkpoint-retired.parquet");
            let rows = with_row_ids(&retired.rows, retired.row_ids.clone())?;
            storage.write_batch(&file, &rows, Codec::Fast).await?;
            table.add_segment(Segment {
                file,
                rows: retired.row_ids.len() as u64,
                first_row_id: None,
            });
        }
    }
    for (name, table) in &state.tables {
        let retention = i64::try_from(table.def.retention().as_micros()).unwrap_or(i64::MAX);
        plan.collection.retention.insert(name.clone(), retention);
        let rows_file = table.memory_snapshot()?.map(|batch| {
            let file = format!("data/{name}/{version:020}-snapshot.parquet");
            plan.files.push((file.clone(), batch));
            file
        });
        let mut files: Vec<String> = table.segments.iter().map(|s| s.file.clone()).collect();
        files.extend(rows_file.clone());
        if files.is_empty() {
            // Other tools need a file to learn the columns of an empty table from.
            let file = format!("data/{name}/{version:020}-empty.parquet");
            plan.files
                .push((file.clone(), RecordBatch::new_empty(table.schema())));
            files.push(file);
        }
        let has_row_ids =
            rows_file.is_some() || table.segments.iter().any(|s| s.first_row_id.is_none());
        plan.collection.keep.extend(files.iter().cloned());
        plan.manifests.push(Manifest::new(
            name,
            version,
            table.num_rows() as u64,
            files,
            has_row_ids,
        ));
        let deltas: Vec<(u64, String, Option<u64>)> = table
            .deltas
            .iter()
            .map(|d| (d.version, d.file.clone(), d.first_row_id))
            .collect();
        plan.collection
            .keep
            .extend(deltas.iter().map(|(_, f, _)| f.clone()));
        let origins = table.deltas.iter().map(|d| d.origin.clone()).collect();
        let sequences_file = table.sequences()?.map(|batch| {
            let file = format!("data/{name}/{version:020}-sequences.arrow");
            plan.files.push((file.clone(), batch));
            plan.collection.keep.insert(file.clone());
            file
        });
        plan.checkpoint.tables.push(TableCheckpoint {
            name: name.clone(),
            rows_file,
            segments: table.segments.to_vec(),
            version: table.version,
            deltas,
            origins,
            sequences_file,
            delta_times: table.deltas.iter().map(|d| d.time_micros).collect(),
            released_through: table.released_through,
        });
    }
    plan.collection
        .keep
        .extend(state.pending_files.iter().cloned());
    plan.checkpoint.version = version;
    plan.checkpoint.time_micros = state.clock_micros;
    plan.checkpoint.objects = state.objects();
    plan.checkpoint.streams = state
        .streams
        .iter()
        .map(|(name, s)| StreamCheckpoint {
            name: name.clone(),
            offset: s.offset,
            initial_pending: s.initial_pending,
        })
        .collect();
    for (table, history) in &mut state.loads {
        // Written now, not by the background writer: readers of the copy history read it
        // from the moment it leaves memory.
        let file = format!("data/{table}/{version:020}-loads.parquet");
        history.flush(storage, file).await?;
        plan.collection
            .keep
            .extend(history.files().iter().map(|f| f.file.clone()));
        plan.checkpoint
            .load_files
            .push((table.clone(), history.files().to_vec()));
    }
    plan.checkpoint.tasks = state
        .tasks
        .iter()
        .map(|(name, t)| TaskCheckpoint {
            name: name.clone(),
            resumed: t.resumed,
            failures: t.failures,
            history: t.history.iter().cloned().collect(),
        })
        .collect();
    plan.checkpoint.paused_pipes = state
        .pipes
        .iter()
        .filter(|(_, p)| p.paused)
        .map(|(name, _)| name.clone())
        .collect();
    state.commits_since_checkpoint = 0;
    Ok(plan)
}

impl CheckpointPlan {
    /// The version it checkpoints.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// Waits until its version is durable (it may have been captured while the log writer
    /// was still writing it), writes its files, then the checkpoint entry (the checkpoint
    /// exists from then on), then the manifests; then removes the log entries and older checkpoints, and the data files
    /// of versions up to its own that it does not refer to once their table's retention
    /// period has passed (see `garbage`).
    ///
    /// # Errors
    ///
    /// [`crate::WarehouseError::Rebuilding`] when its version never became durable (nothing
    /// is written then); the storage error of a file that could not be written.
    ///
    /// # Cancel safety
    ///
    /// Cancelling it leaves at worst files nothing refers to, removed by a later checkpoint.
    pub(crate) async fn write(
        self,
        storage: &Storage,
        garbage: &Mutex<Unreferenced>,
    ) -> Result<()> {
        if !storage.durability().wait_for(self.version).await {
            return Err(crate::WarehouseError::Rebuilding {
                root: storage.label().to_owned(),
            });
        }
        for (name, batch) in &self.files {
            storage.write_batch(name, batch, Codec::Compact).await?;
        }
        storage
            .write_checkpoint(self.version, &self.checkpoint)
            .await?;
        for manifest in &self.manifests {
            manifest.write(storage).await?;
        }
        storage.prune_before(self.version).await?;
        let deleted = garbage
            .lock()
            .await
            .collect(storage, &self.collection)
            .await?;
        tracing::info!(
            version = self.version,
            deleted_files = deleted,
            "checkpoint written"
        );
        Ok(())
    }
}

fn micros_of(days: u32) -> i64 {
    i64::from(days) * 86_400 * 1_000_000
}
