//! Restart: rebuilding the state from the newest checkpoint (see `checkpoint`) plus the log
//! entries after it, through the same [`State::apply`] live commits use. Rows retired to
//! segments stay there: only the latest rows of keyed tables come back into memory.

use std::collections::HashMap;

use std::sync::Arc;

use snowdrift_scd::ChangeSet;

use crate::catalog::{ObjectDef, ObjectKind};
use crate::error::{Result, WarehouseError};
use crate::local::checkpoint::Checkpoint;
use crate::local::load_history::LoadHistory;
use crate::local::origin::RowOrigin;
use crate::local::registry::StoreRegistry;
use crate::local::segment::Segment;
use crate::local::state::{Action, CommitEntry, State, key, push_run};
use crate::local::storage::Storage;
use crate::local::table::{
    Appended, Delta, LocalTable, Restoring, Retained, Rows, TableWrite, fit_budget, split_row_ids,
};

/// Rebuilds the state from storage: the newest checkpoint, then every later log entry in
/// order.
///
/// A checkpoint written meanwhile (they are written in the background) may remove log entries
/// this rebuild still needed: it then starts over from that checkpoint, so it never returns
/// a state missing a commit. Retained changes beyond `budget` bytes are left on storage.
pub(crate) async fn recover(
    storage: &Storage,
    stores: &Arc<StoreRegistry>,
    budget: usize,
) -> Result<State> {
    const ATTEMPTS: usize = 16;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let base = storage.versions("checkpoint").await?.last().copied();
        let rebuilt = recover_from(storage, stores, base, budget).await;
        let newest = storage.versions("checkpoint").await?.last().copied();
        if newest == base || attempt == ATTEMPTS {
            return rebuilt;
        }
    }
}

/// Rebuilds the state from the checkpoint at `base` (none: from the first commit) and the
/// log entries after it.
async fn recover_from(
    storage: &Storage,
    stores: &Arc<StoreRegistry>,
    base: Option<u64>,
    budget: usize,
) -> Result<State> {
    let mut state = State {
        stores: stores.clone(),
        memory_budget: budget,
        ..State::default()
    };
    let mut restoring: HashMap<String, Restoring> = HashMap::new();
    let mut deltas: HashMap<String, Retained> = HashMap::new();
    if let Some(version) = base {
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
        let segments = std::mem::take(&mut table.segments).to_vec();
        let mut restored =
            LocalTable::restore(table.def.clone(), table.version, Some(snapshot), segments)?;
        restored.released_through = table.released_through;
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
    state.fit_budget();
    Ok(state)
}

async fn load_checkpoint(
    storage: &Storage,
    state: &mut State,
    restoring: &mut HashMap<String, Restoring>,
    deltas: &mut HashMap<String, Retained>,
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
                Arc::make_mut(&mut t.segments).insert(0, segment);
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
        if let Some(t) = state.tables.get_mut(&table.name) {
            t.released_through = table.released_through;
        }
        deltas.entry(table.name.clone()).or_default();
        let mut origins = table.origins.into_iter();
        let mut times = table.delta_times.into_iter();
        for (version, file, appended_from) in table.deltas {
            let batch = storage.read_batch(&file).await?;
            let origin = origins.next().flatten();
            // Checkpoints from before commit times were kept: the checkpoint's own time.
            let time = times.next().unwrap_or(checkpoint.time_micros);
            let stored = stored_delta(version, time, file, batch, appended_from, origin)?;
            push_within(deltas, &table.name, stored, state.memory_budget);
        }
    }
    for stream in checkpoint.streams {
        if let Some(s) = state.streams.get_mut(&stream.name) {
            s.offset = stream.offset;
            s.initial_pending = stream.initial_pending;
        }
    }
    for (table, files) in checkpoint.load_files {
        state
            .loads
            .insert(table, LoadHistory::restore(storage, files).await?);
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
    deltas: &mut HashMap<String, Retained>,
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
                    entry.time_micros,
                    file.clone(),
                    batch,
                    *appended_from,
                    origin.clone(),
                )?;
                push_within(deltas, &name, delta, state.memory_budget);
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
    time_micros: i64,
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
        .into_delta(version, time_micros, file),
        None => {
            TableWrite::changes(ChangeSet::try_new(batch)?).into_delta(version, time_micros, file)
        }
    })
}

/// Adds a retained change read back to table `name`, spilling the oldest ones (of every
/// table) beyond `budget`: a restart holds no more of them in memory than the live engine.
fn push_within(deltas: &mut HashMap<String, Retained>, name: &str, delta: Delta, budget: usize) {
    deltas.entry(name.to_owned()).or_default().push(delta);
    fit_budget(deltas.values_mut().collect(), budget);
}
