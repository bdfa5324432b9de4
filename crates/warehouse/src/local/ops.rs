//! The [`Warehouse`] trait on [`LocalWarehouse`]: each operation checks its input, changes the
//! state in memory, and commits.

use std::time::SystemTime;

use arrow::array::RecordBatch;
use arrow::compute::{CastOptions, cast_with_options, concat_batches};
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;

use crate::catalog::{CreateMode, ObjectDef, ObjectKind};
use crate::error::{Result, WarehouseError};
use crate::local::load_history::LoadHistory;
use crate::local::state::{Action, key};
use crate::local::table::Rows;
use crate::local::{LocalWarehouse, copy, pipe, streams, tasks};
use crate::scan::Scan;
use crate::{
    Capabilities, CopyOptions, Dml, DmlCount, FileLoad, PipeAction, PipeExecutionState, PipeStatus,
    Relation, TaskAction, TaskRun, Warehouse,
};

#[async_trait]
impl Warehouse for LocalWarehouse {
    fn backend(&self) -> &'static str {
        "local"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn create(&self, object: ObjectDef, mode: CreateMode) -> Result<()> {
        let inner = &self.inner;
        let mut state = inner.lock().await;
        if state.exists(object.kind(), object.name()) {
            match mode {
                CreateMode::Create => {
                    return Err(WarehouseError::AlreadyExists {
                        kind: object.kind(),
                        name: object.name().to_owned(),
                    });
                }
                CreateMode::IfNotExists => return Ok(()),
                CreateMode::OrReplace => {}
            }
        }
        state.check(&object)?;
        // A new auto-ingest pipe loads what the stage already holds, as a refresh would; one
        // without auto-ingest waits for ALTER PIPE … REFRESH.
        let queue_stage = matches!(&object, ObjectDef::Pipe(p) if p.auto_ingest);
        let name = object.name().to_owned();
        let mut actions = Vec::new();
        if let ObjectDef::Task(task) = &object {
            // A merge task comes with its rejected table, created with it when missing.
            let crate::catalog::TaskBody::Merge(merge) = &task.body;
            if let Some(def) = tasks::missing_rejected_table(&state, merge)? {
                let table = ObjectDef::Table(def);
                state.check(&table)?;
                actions.push(Action::Create(table));
            }
        }
        actions.push(Action::Create(object));
        inner.commit(&mut state, actions, Vec::new()).await?;
        drop(state);
        if queue_stage {
            pipe::queue_unloaded(inner, &name).await?;
        }
        inner.wake_tasks.notify_one();
        Ok(())
    }

    async fn drop_object(&self, kind: ObjectKind, name: &str, if_exists: bool) -> Result<()> {
        let mut state = self.inner.lock().await;
        if !state.exists(kind, name) {
            return if if_exists {
                Ok(())
            } else {
                Err(WarehouseError::not_found(kind, name))
            };
        }
        let action = Action::Drop {
            kind,
            name: name.to_owned(),
        };
        self.inner
            .commit(&mut state, vec![action], Vec::new())
            .await?;
        Ok(())
    }

    async fn dml(&self, table: &str, change: Dml) -> Result<DmlCount> {
        let mut state = self.inner.lock().await;
        let now = state.tick();
        let target = state.table_mut(table)?;
        let schema = target.def.business_schema();
        let keyed = matches!(target.rows, Rows::Keyed(_));
        let (changes, count) = match change {
            Dml::Update(_) | Dml::Delete(_) if !keyed => {
                return Err(WarehouseError::unsupported(
                    ObjectKind::Table,
                    table,
                    "a table without a key takes inserts only (updates and deletes find rows by key)",
                ));
            }
            Dml::Insert(batches) if !keyed => {
                let rows = conform(table, &schema, &batches)?;
                let n = rows.num_rows() as u64;
                let changes = target.append(rows, None)?;
                (
                    changes,
                    DmlCount {
                        inserted: n,
                        ..DmlCount::default()
                    },
                )
            }
            Dml::Insert(batches) | Dml::Update(batches) => {
                let rows = conform(table, &schema, &batches)?;
                let outcome = target.upsert(&rows, now)?;
                let m = outcome.metrics;
                let count = DmlCount {
                    inserted: m.inserted as u64,
                    updated: m.updated as u64,
                    deleted: 0,
                };
                (target.changed(outcome)?, count)
            }
            Dml::Delete(keys) => {
                let outcome = target.delete_keys(&keys, now)?;
                let count = DmlCount {
                    deleted: outcome.metrics.deleted as u64,
                    ..DmlCount::default()
                };
                (target.changed(outcome)?, count)
            }
        };
        let name = target.def.name.clone();
        self.inner
            .commit(&mut state, Vec::new(), vec![(name, changes)])
            .await?;
        Ok(count)
    }

    async fn copy_into(
        &self,
        table: &str,
        stage: &str,
        options: CopyOptions,
    ) -> Result<Vec<FileLoad>> {
        copy::copy_into(&self.inner, table, stage, options).await
    }

    /// Streams one segment file at a time (memory holds one part, never the whole table),
    /// at the last committed version, read without the state lock: merges go on meanwhile
    /// and do not show in it.
    async fn scan(
        &self,
        table: &str,
        scan: Scan,
    ) -> Result<futures::stream::BoxStream<'static, Result<RecordBatch>>> {
        self.scan_table(table, &scan)
    }

    async fn query(&self, relation: Relation) -> Result<RecordBatch> {
        match relation {
            Relation::Table(name) => {
                // The last committed version, read without the state lock: a merge in
                // progress neither delays the read nor shows in it.
                let plan = self.inner.published.current().table(&name)?.read.clone();
                plan.rows(&self.inner.storage).await
            }
            Relation::Stream(name) => {
                let state = self.inner.lock().await;
                let stream = state.stream(&name)?;
                let initial = streams::initial_rows(&self.inner.storage, &state, stream).await?;
                let changes = streams::read(&self.inner.storage, &state, stream, initial).await?;
                Ok(changes.batch()?.clone())
            }
        }
    }

    async fn stream_has_data(&self, stream: &str) -> Result<bool> {
        let state = self.inner.lock().await;
        streams::has_data(&state, state.stream(stream)?)
    }

    async fn copy_history(&self, table: &str) -> Result<Vec<FileLoad>> {
        let read = {
            let state = self.inner.lock().await;
            state.table(table)?;
            state.loads.get(&key(table)).map(LoadHistory::read)
        };
        match read {
            // Read without the lock: older loads are in files on storage.
            Some(read) => read.loads(&self.inner.storage).await,
            None => Ok(Vec::new()),
        }
    }

    async fn pipe_status(&self, pipe: &str) -> Result<PipeStatus> {
        let (mut status, table) = {
            let mut state = self.inner.lock().await;
            let p = state.pipe_mut(pipe)?;
            let oldest = p
                .pending
                .iter()
                .min_by_key(|(path, f)| (f.noticed, (*path).clone()))
                .map(|(path, _)| path.clone());
            let status = PipeStatus {
                execution_state: if p.paused {
                    PipeExecutionState::Paused
                } else if p.error.is_some() {
                    PipeExecutionState::StalledStageAccess
                } else {
                    PipeExecutionState::Running
                },
                pending_file_count: p.pending.len() as u64,
                oldest_pending_file_path: oldest,
                last_ingested_timestamp: p.last_ingested.as_ref().map(|(t, _)| *t),
                last_ingested_file_path: p.last_ingested.as_ref().map(|(_, f)| f.clone()),
                error: p.error.clone().or_else(|| retrying_file(&p.pending)),
            };
            (status, p.def.table.clone())
        };
        if status.last_ingested_file_path.is_none() {
            // Since this process opened the warehouse nothing was ingested: the last file the
            // load history of the pipe's table holds (its pipe is what loads it).
            let loads = self.copy_history(&table).await?;
            if let Some(last) = loads
                .iter()
                .rev()
                .find(|l| l.rows_loaded > 0 || l.status == crate::LoadStatus::Loaded)
            {
                status.last_ingested_timestamp = Some(last.load_time);
                status.last_ingested_file_path = Some(last.file.clone());
            }
        }
        Ok(status)
    }

    async fn refresh_pipe(&self, pipe: &str) -> Result<u64> {
        pipe::queue_unloaded(&self.inner, pipe).await
    }

    async fn alter_pipe(&self, pipe: &str, action: PipeAction) -> Result<()> {
        let mut state = self.inner.lock().await;
        let p = state.pipe_mut(pipe)?;
        let paused = action == PipeAction::Pause;
        if p.paused == paused {
            return Ok(());
        }
        let action = Action::PipePaused {
            pipe: p.def.name.clone(),
            paused,
        };
        self.inner
            .commit(&mut state, vec![action], Vec::new())
            .await?;
        drop(state);
        self.inner.wake_pipes.notify_one();
        Ok(())
    }

    async fn alter_task(&self, task: &str, action: TaskAction) -> Result<()> {
        let mut state = self.inner.lock().await;
        let t = state.task(task)?;
        let resumed = action == TaskAction::Resume;
        let failures = if resumed { 0 } else { t.failures };
        if t.resumed == resumed && t.failures == failures {
            return Ok(());
        }
        let name = t.def.name.clone();
        let action = Action::TaskState {
            task: name,
            resumed,
            failures,
        };
        self.inner
            .commit(&mut state, vec![action], Vec::new())
            .await?;
        drop(state);
        self.inner.wake_tasks.notify_one();
        Ok(())
    }

    async fn execute_task(&self, task: &str) -> Result<TaskRun> {
        tasks::check_executable(&*self.inner.lock().await, task)?;
        let runs = tasks::run_graph(&self.inner, task, SystemTime::now()).await?;
        // The root's last attempt: the run that decided whether the graph went on.
        runs.into_iter()
            .rfind(|r| tasks::same_name(&r.task, task))
            .ok_or_else(|| WarehouseError::not_found(ObjectKind::Task, task))
    }

    async fn task_history(&self, task: &str) -> Result<Vec<TaskRun>> {
        let state = self.inner.lock().await;
        Ok(state.task(task)?.history.iter().cloned().collect())
    }
}

/// The pending file that failed most often, as a status error: which file, how often, why.
fn retrying_file(
    pending: &std::collections::BTreeMap<String, crate::local::state::PendingFile>,
) -> Option<String> {
    let (path, file) = pending
        .iter()
        .filter(|(_, f)| f.attempts > 0)
        .max_by_key(|(_, f)| f.attempts)?;
    Some(format!(
        "{path}: attempt {} failed, retrying with backoff: {}",
        file.attempts,
        file.last_error.as_deref().unwrap_or("unknown error")
    ))
}

/// The rows of `batches` in `schema`, columns matched by name and cast strictly.
fn conform(table: &str, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<RecordBatch> {
    let strict = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let mut parts = Vec::with_capacity(batches.len());
    for batch in batches {
        let columns = schema
            .fields()
            .iter()
            .map(|field| {
                let column = batch.column_by_name(field.name()).ok_or_else(|| {
                    WarehouseError::invalid(
                        ObjectKind::Table,
                        table,
                        format!("the rows have no column `{}`", field.name()),
                    )
                })?;
                cast_with_options(column, field.data_type(), &strict).map_err(|e| {
                    WarehouseError::invalid(
                        ObjectKind::Table,
                        table,
                        format!(
                            "column `{}` cannot be read as {}: {e}",
                            field.name(),
                            field.data_type()
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        parts.push(RecordBatch::try_new(schema.clone(), columns).map_err(|e| {
            WarehouseError::invalid(
                ObjectKind::Table,
                table,
                format!("the rows do not fit the table: {e}"),
            )
        })?);
    }
    Ok(concat_batches(schema, &parts)?)
}
