//! Checkpoints and restart: writing the whole state at one version (for each table the list
//! of its segments and, for a keyed table, the latest rows of its keys as a Parquet file with
//! their row ids), and rebuilding the state from the newest checkpoint plus the log entries
//! after it. A checkpoint costs the live keys, never the rows ever loaded or the history.

use std::collections::{HashMap, HashSet, VecDeque};

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use snowdrift_scd::ChangeSet;

use crate::api::{FileLoad, TaskRun};
use crate::catalog::{ObjectDef, ObjectKind};
use crate::error::{Result, WarehouseError};
use crate::local::manifest::Manifest;
use crate::local::origin::RowOrigin;
use crate::local::segment::Segment;
use crate::local::state::{Action, CommitEntry, State, key, push_run};
use crate::local::storage::Storage;
use crate::local::stores::StoreRegistry;
use crate::local::table::{
    Appended, Delta, LocalTable, Restoring, Rows, TableWrite, split_row_ids, with_row_ids,
};

#[derive(Debug, Serialize, Deserialize)]
struct TableCheckpoint {
    name: String,
    /// The rows in memory with their row ids (a keyed table's latest rows; before segments, a
    /// table's every row).
    #[serde(default)]
    rows_file: Option<String>,
    /// The table's segment files, oldest first.
    #[serde(default)]
    segments: Vec<Segment>,
    version: u64,
    /// Retained changes: version, data file, first row id when the change appended rows.
    deltas: Vec<(u64, String, Option<u64>)>,
    /// The staged files and lines of the retained appended changes, in the order of `deltas`.
    #[serde(default)]
    origins: Vec<Option<RowOrigin>>,
    /// The applied sequence of every key of a keyed table (late detection after a restart).
    #[serde(default)]
    sequences_file: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StreamCheckpoint {
    name: String,
    offset: u64,
    initial_pending: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct TaskCheckpoint {
    name: String,
    resumed: bool,
    failures: u32,
    history: Vec<TaskRun>,
}

/// The whole state at one version.
#[derive(Debug, Serialize, Deserialize)]
struct Checkpoint {
    version: u64,
    time_micros: i64,
    objects: Vec<ObjectDef>,
    tables: Vec<TableCheckpoint>,
    streams: Vec<StreamCheckpoint>,
    loads: Vec<(String, FileLoad)>,
    tasks: Vec<TaskCheckpoint>,
    /// Pipes paused with `ALTER PIPE … SET PIPE_EXECUTION_PAUSED = TRUE`.
    #[serde(default)]
    paused_pipes: Vec<String>,
}

/// Writes a checkpoint of `state`, then removes the log entries, checkpoints and data files
/// it makes unnecessary. Costs the live keys of keyed tables; done every so many commits.
pub(crate) async fn checkpoint(storage: &Storage, state: &mut State) -> Result<()> {
    let version = state.version;
    let mut keep = HashSet::new();
    let mut tables = Vec::new();
    let mut manifests = Vec::new();
    for (name, table) in &mut state.tables {
        if let Some(retired) = table.take_retired()? {
            // Versions retired outside a merge (a table restored from an older layout).
            let file = format!("data/{name}/{version:020}-checkpoint-retired.parquet");
            let rows = with_row_ids(&retired.rows, retired.row_ids.clone())?;
            storage.write_batch(&file, &rows).await?;
            table.add_segment(Segment {
                file,
                rows: retired.row_ids.len() as u64,
                first_row_id: None,
            });
        }
        let rows_file = match table.memory_snapshot()? {
            Some(batch) => {
                let file = format!("data/{name}/{version:020}-snapshot.parquet");
                storage.write_batch(&file, &batch).await?;
                keep.insert(file.clone());
                Some(file)
            }
            None => None,
        };
        keep.extend(table.segments.iter().map(|s| s.file.clone()));
        let mut files: Vec<String> = table.segments.iter().map(|s| s.file.clone()).collect();
        files.extend(rows_file.clone());
        if files.is_empty() {
            // Other tools need a file to learn the columns of an empty table from.
            let file = format!("data/{name}/{version:020}-empty.parquet");
            storage
                .write_batch(&file, &arrow::array::RecordBatch::new_empty(table.schema()))
                .await?;
            keep.insert(file.clone());
            files.push(file);
        }
        let has_row_ids =
            rows_file.is_some() || table.segments.iter().any(|s| s.first_row_id.is_none());
        manifests.push(Manifest::new(
            name,
            version,
            table.num_rows() as u64,
            files,
            has_row_ids,
        ));
        let deltas: Vec<(u64, String, Option<u64>)> = table
            .deltas
            .iter()
            .map(|d| {
                (
                    d.version,
                    d.file.clone(),
                    d.appended.as_ref().map(|a| a.first_row_id),
                )
            })
            .collect();
        keep.extend(deltas.iter().map(|(_, f, _)| f.clone()));
        let origins = table
            .deltas
            .iter()
            .map(|d| d.appended.as_ref().and_then(|a| a.origin.clone()))
            .collect();
        let sequences_file = match table.sequences()? {
            Some(batch) => {
                let file = format!("data/{name}/{version:020}-sequences.arrow");
                storage.write_batch(&file, &batch).await?;
                keep.insert(file.clone());
                Some(file)
            }
            None => None,
        };
        tables.push(TableCheckpoint {
            name: name.clone(),
            rows_file,
            segments: table.segments.clone(),
            version: table.version,
            deltas,
            origins,
            sequences_file,
        });
    }
    let checkpoint = Checkpoint {
        version,
        time_micros: state.clock_micros,
        objects: state.objects(),
        tables,
        streams: state
            .streams
            .iter()
            .map(|(name, s)| StreamCheckpoint {
                name: name.clone(),
                offset: s.offset,
                initial_pending: s.initial_pending,
            })
            .collect(),
        loads: state
            .loads
            .iter()
            .flat_map(|(table, h)| h.entries.iter().map(move |l| (table.clone(), l.clone())))
            .collect(),
        tasks: state
            .tasks
            .iter()
            .map(|(name, t)| TaskCheckpoint {
                name: name.clone(),
                resumed: t.resumed,
                failures: t.failures,
                history: t.history.iter().cloned().collect(),
            })
            .collect(),
        paused_pipes: state
            .pipes
            .iter()
            .filter(|(_, p)| p.paused)
            .map(|(name, _)| name.clone())
            .collect(),
    };
    storage.write_checkpoint(version, &checkpoint).await?;
    state.commits_since_checkpoint = 0;
    for manifest in &manifests {
        manifest.write(storage).await?;
    }
    storage.prune_before(version).await?;
    storage.collect_garbage(&keep).await?;
    Ok(())
}

/// Rebuilds the state from storage: the newest checkpoint, then every later log entry in
/// order.
pub(crate) async fn recover(storage: &Storage, stores: &Arc<StoreRegistry>) -> Result<State> {
    let mut state = State {
        stores: stores.clone(),
        ..State::default()
    };
    let mut restoring: HashMap<String, Restoring> = HashMap::new();
    let mut deltas: HashMap<String, VecDeque<Delta>> = HashMap::new();
    let checkpoints = storage.versions("checkpoint").await?;
    if let Some(&version) = checkpoints.last() {
        let checkpoint: Checkpoint = storage
            .read_json(&storage.checkpoint_path(version), "read checkpoint")
            .await?;
        load_checkpoint(storage, &mut state, &mut restoring, &mut deltas, checkpoint).await?;
    }
    let mut next = state.version + 1;
    for version in storage.versions("log").await? {
        if version < next {
            continue;
        }
        if version != next {
            return Err(WarehouseError::Corrupt {
                path: storage.log_path(next).to_string(),
                reason: format!("the log jumps from version {} to {version}", next - 1),
            });
        }
        let entry: CommitEntry = storage
            .read_json(&storage.log_path(version), "read commit")
            .await?;
        replay(storage, &mut state, &mut restoring, &mut deltas, entry).await?;
        next += 1;
    }
    for (name, rows) in restoring {
        let Some(table) = state.tables.get_mut(&name) else {
            continue;
        };
        let sequences = rows.sequences.clone();
        let snapshot = rows.finish(&table.schema())?;
        let segments = std::mem::take(&mut table.segments);
        let mut restored =
            LocalTable::restore(table.def.clone(), table.version, Some(snapshot), segments)?;
        for batch in &sequences {
            restored.restore_sequences(batch)?;
        }
        *table = restored;
    }
    for (name, kept) in deltas {
        if let Some(table) = state.tables.get_mut(&name) {
            table.deltas = kept;
        }
    }
    state.prune_deltas();
    Ok(state)
}

async fn load_checkpoint(
    storage: &Storage,
    state: &mut State,
    restoring: &mut HashMap<String, Restoring>,
    deltas: &mut HashMap<String, VecDeque<Delta>>,
    checkpoint: Checkpoint,
) -> Result<()> {
    for object in &checkpoint.objects {
        state.apply(checkpoint.version, &Action::Create(object.clone()), None)?;
    }
    for table in checkpoint.tables {
        let Some(t) = state.tables.get_mut(&table.name) else {
            continue;
        };
        t.version = table.version;
        for segment in table.segments {
            t.add_segment(segment);
        }
        if t.def.key.is_empty() {
            if let Some(file) = table.rows_file {
                // A checkpoint from before segments: its snapshot file is the table's first
                // segment (it holds a row id column).
                let ids = split_row_ids(&storage.read_batch(&file).await?)?.1;
                t.rows = Rows::Append {
                    next_row_id: ids.iter().copied().max().unwrap_or(0),
                };
                let segment = Segment {
                    file,
                    rows: ids.len() as u64,
                    first_row_id: None,
                };
                t.segments.insert(0, segment);
            }
        } else {
            let snapshot = match &table.rows_file {
                Some(file) => Some(storage.read_batch(file).await?),
                None => None,
            };
            let mut rows = Restoring::from_snapshot(snapshot)?;
            if let Some(file) = &table.sequences_file {
                rows.sequences.push(storage.read_batch(file).await?);
            }
            restoring.insert(table.name.clone(), rows);
        }
        let mut kept = VecDeque::new();
        let mut origins = table.origins.into_iter();
        for (version, file, appended_from) in table.deltas {
            let batch = storage.read_batch(&file).await?;
            let origin = origins.next().flatten();
            kept.push_back(stored_delta(version, file, batch, appended_from, origin)?);
        }
        deltas.insert(table.name, kept);
    }
    for stream in checkpoint.streams {
        if let Some(s) = state.streams.get_mut(&stream.name) {
            s.offset = stream.offset;
            s.initial_pending = stream.initial_pending;
        }
    }
    for (table, load) in checkpoint.loads {
        state.apply(
            checkpoint.version,
            &Action::FileLoaded { table, load },
            None,
        )?;
    }
    for task in checkpoint.tasks {
        if let Some(t) = state.tasks.get_mut(&task.name) {
            t.resumed = task.resumed;
            t.failures = task.failures;
            for run in task.history {
                push_run(&mut t.history, run);
            }
        }
    }
    for pipe in checkpoint.paused_pipes {
        if let Some(p) = state.pipes.get_mut(&pipe) {
            p.paused = true;
        }
    }
    state.version = checkpoint.version;
    state.clock_micros = checkpoint.time_micros;
    Ok(())
}

async fn replay(
    storage: &Storage,
    state: &mut State,
    restoring: &mut HashMap<String, Restoring>,
    deltas: &mut HashMap<String, VecDeque<Delta>>,
    entry: CommitEntry,
) -> Result<()> {
    for action in &entry.actions {
        match action {
            Action::TableChange {
                table,
                file,
                appended_from,
                origin,
                sequences,
                retired,
                ..
            } => {
                let batch = storage.read_batch(file).await?;
                let name = key(table);
                state.apply(entry.version, action, None)?;
                if appended_from.is_none()
                    && let Some(rows) = restoring.get_mut(&name)
                {
                    rows.apply(&batch)?;
                    if let Some(segment) = retired {
                        rows.remove(&segment.row_ids(storage).await?);
                    }
                    if let Some(file) = sequences {
                        rows.sequences.push(storage.read_batch(file).await?);
                    }
                }
                let delta = stored_delta(
                    entry.version,
                    file.clone(),
                    batch,
                    *appended_from,
                    origin.clone(),
                )?;
                deltas.entry(name).or_default().push_back(delta);
            }
            Action::Create(ObjectDef::Table(def)) => {
                restoring.remove(&key(&def.name));
                if !def.key.is_empty() {
                    restoring.insert(key(&def.name), Restoring::default());
                }
                deltas.remove(&key(&def.name));
                state.apply(entry.version, action, None)?;
            }
            Action::Drop {
                kind: ObjectKind::Table,
                name,
            } => {
                restoring.remove(&key(name));
                deltas.remove(&key(name));
                state.apply(entry.version, action, None)?;
            }
            other => state.apply(entry.version, other, None)?,
        }
    }
    state.version = entry.version;
    state.clock_micros = state.clock_micros.max(entry.time_micros);
    Ok(())
}

/// A change read back from a data file.
fn stored_delta(
    version: u64,
    file: String,
    batch: arrow::array::RecordBatch,
    appended_from: Option<u64>,
    origin: Option<RowOrigin>,
) -> Result<Delta> {
    Ok(match appended_from {
        Some(first_row_id) => TableWrite::Appended(Appended {
            rows: batch,
            first_row_id,
            origin,
        })
        .into_delta(version, file),
        None => TableWrite::changes(ChangeSet::try_new(batch)?).into_delta(version, file),
    })
}
