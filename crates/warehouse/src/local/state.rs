//! The embedded engine's state in memory — catalog, tables, stream offsets, load history,
//! task state — and the log actions that change it. Live operations and a restart's replay go
//! through the same [`State::apply`], so what a restart rebuilds is what was running.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use snowdrift_stage::StageLocation;

use crate::catalog::{
    FileFormatDef, MergeDef, ObjectDef, ObjectKind, PipeDef, StageDef, StreamDef, TaskDef,
};
use crate::error::{Result, WarehouseError};
use crate::local::load_history::LoadHistory;
use crate::local::origin::RowOrigin;
use crate::local::segment::Segment;
use crate::local::table::{Delta, LocalTable};
use crate::{FileLoad, TaskRun};

/// Task runs kept per task in memory (and in checkpoints).
pub(crate) const TASK_HISTORY: usize = 1000;

/// One change to the state, as written in the commit log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Action {
    Create(ObjectDef),
    Drop {
        kind: ObjectKind,
        name: String,
    },
    /// A change of `table`: a change set in the data file `file`, or, with `appended_from`,
    /// rows appended with row ids from that one on, which `file` keeps as a segment of the
    /// table (with `origin`, the staged file and line of each); `sequences` names a data file
    /// of the applied sequences of the keys a merge decided on.
    TableChange {
        table: String,
        file: String,
        rows: u64,
        #[serde(default)]
        appended_from: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        origin: Option<RowOrigin>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sequences: Option<String>,
        /// The segment of the versions the change moved out of memory.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retired: Option<Segment>,
    },
    StreamOffset {
        stream: String,
        version: u64,
    },
    FileLoaded {
        table: String,
        load: FileLoad,
    },
    TaskState {
        task: String,
        resumed: bool,
        failures: u32,
    },
    TaskRun(TaskRun),
    /// A compaction: the adjacent segments `removed` of `table` are replaced by `added`,
    /// which holds the same rows.
    Compact {
        table: String,
        removed: Vec<String>,
        added: Segment,
    },
    /// `ALTER PIPE … SET PIPE_EXECUTION_PAUSED = TRUE | FALSE`.
    PipePaused {
        pipe: String,
        paused: bool,
    },
}

/// One entry of the commit log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CommitEntry {
    pub(crate) version: u64,
    pub(crate) time_micros: i64,
    pub(crate) actions: Vec<Action>,
}

#[derive(Debug)]
pub(crate) struct LocalStage {
    pub(crate) def: StageDef,
    pub(crate) location: StageLocation,
}

#[derive(Debug, Clone)]
pub(crate) struct StreamState {
    pub(crate) def: StreamDef,
    pub(crate) offset: u64,
    pub(crate) initial_pending: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct TaskState {
    pub(crate) def: TaskDef,
    pub(crate) resumed: bool,
    pub(crate) failures: u32,
    pub(crate) history: VecDeque<TaskRun>,
}

/// A file the pipe knows about but has not loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingFile {
    pub(crate) size: u64,
    pub(crate) e_tag: Option<String>,
    pub(crate) noticed: SystemTime,
    /// Failed attempts to read it so far.
    pub(crate) attempts: u32,
    /// Not tried again before this (backoff after a failed attempt).
    pub(crate) retry_at: Option<std::time::Instant>,
    /// Why the last attempt failed.
    pub(crate) last_error: Option<String>,
}

impl PendingFile {
    pub(crate) fn new(size: u64, e_tag: Option<String>) -> Self {
        PendingFile {
            size,
            e_tag,
            noticed: SystemTime::now(),
            attempts: 0,
            retry_at: None,
            last_error: None,
        }
    }

    /// Whether it may be tried at `now`.
    pub(crate) fn ready(&self, now: std::time::Instant) -> bool {
        self.retry_at.is_none_or(|at| at <= now)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct PipeState {
    pub(crate) def: PipeDef,
    pub(crate) paused: bool,
    pub(crate) pending: BTreeMap<String, PendingFile>,
    pub(crate) last_ingested: Option<(SystemTime, String)>,
    pub(crate) error: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) version: u64,
    pub(crate) clock_micros: i64,
    /// Where merges read the time.
    pub(crate) clock: crate::local::clock::Clock,
    /// Limits on staged files.
    pub(crate) limits: crate::load::LoadLimits,
    /// Bytes of memory retained changes may take (see `table::retained`).
    pub(crate) memory_budget: usize,
    /// Memory may hold a change that is not durable (a failed commit whose rebuild from
    /// storage failed too): rebuilt before the next use.
    pub(crate) stale: bool,
    /// Objects in creation order (kind, lower-case name).
    pub(crate) order: Vec<(ObjectKind, String)>,
    pub(crate) tables: HashMap<String, LocalTable>,
    pub(crate) formats: HashMap<String, FileFormatDef>,
    pub(crate) stages: HashMap<String, LocalStage>,
    pub(crate) pipes: HashMap<String, PipeState>,
    pub(crate) streams: HashMap<String, StreamState>,
    pub(crate) tasks: HashMap<String, TaskState>,
    pub(crate) loads: HashMap<String, LoadHistory>,
    pub(crate) commits_since_checkpoint: u64,
    /// Files being written outside a commit (a compaction's output): a checkpoint keeps them.
    pub(crate) pending_files: std::collections::HashSet<String>,
    /// Changes with every create or drop (cached plans made under another epoch are stale).
    pub(crate) catalog_epoch: u64,
    /// How many times this state was rebuilt from storage (a version number may be given
    /// again after a failed commit: work decided on an earlier rebuild is stale).
    pub(crate) rebuilds: u64,
    /// Stores given by URL prefix.
    pub(crate) stores: std::sync::Arc<crate::local::registry::StoreRegistry>,
}

pub(crate) fn key(name: &str) -> String {
    name.to_ascii_lowercase()
}

impl State {
    /// A strictly increasing clock for merges and commits, in µs since the epoch.
    pub(crate) fn tick(&mut self) -> i64 {
        let now = self.clock.now_micros();
        self.clock_micros = now.max(self.clock_micros + 1);
        self.clock_micros
    }

    pub(crate) fn exists(&self, kind: ObjectKind, name: &str) -> bool {
        let k = key(name);
        match kind {
            ObjectKind::Table => self.tables.contains_key(&k),
            ObjectKind::Stage => self.stages.contains_key(&k),
            ObjectKind::FileFormat => self.formats.contains_key(&k),
            ObjectKind::Pipe => self.pipes.contains_key(&k),
            ObjectKind::Stream => self.streams.contains_key(&k),
            ObjectKind::Task => self.tasks.contains_key(&k),
        }
    }

    pub(crate) fn table(&self, name: &str) -> Result<&LocalTable> {
        self.tables
            .get(&key(name))
            .ok_or_else(|| WarehouseError::not_found(ObjectKind::Table, name))
    }

    pub(crate) fn table_mut(&mut self, name: &str) -> Result<&mut LocalTable> {
        self.tables
            .get_mut(&key(name))
            .ok_or_else(|| WarehouseError::not_found(ObjectKind::Table, name))
    }

    pub(crate) fn stream(&self, name: &str) -> Result<&StreamState> {
        self.streams
            .get(&key(name))
            .ok_or_else(|| WarehouseError::not_found(ObjectKind::Stream, name))
    }

    pub(crate) fn stage(&self, name: &str) -> Result<&LocalStage> {
        self.stages
            .get(&key(name))
            .ok_or_else(|| WarehouseError::not_found(ObjectKind::Stage, name))
    }

    pub(crate) fn format(&self, name: &str) -> Result<&FileFormatDef> {
        self.formats
            .get(&key(name))
            .ok_or_else(|| WarehouseError::not_found(ObjectKind::FileFormat, name))
    }

    pub(crate) fn task(&self, name: &str) -> Result<&TaskState> {
        self.tasks
            .get(&key(name))
            .ok_or_else(|| WarehouseError::not_found(ObjectKind::Task, name))
    }

    pub(crate) fn task_mut(&mut self, name: &str) -> Result<&mut TaskState> {
        self.tasks
            .get_mut(&key(name))
            .ok_or_else(|| WarehouseError::not_found(ObjectKind::Task, name))
    }

    pub(crate) fn pipe_mut(&mut self, name: &str) -> Result<&mut PipeState> {
        self.pipes
            .get_mut(&key(name))
            .ok_or_else(|| WarehouseError::not_found(ObjectKind::Pipe, name))
    }

    /// Checks a definition against the catalog (references exist, names are valid).
    pub(crate) fn check(&self, object: &ObjectDef) -> Result<()> {
        crate::catalog::validate_identifier(object.kind(), object.name())?;
        let missing = |kind: ObjectKind, name: &str| -> Result<()> {
            if self.exists(kind, name) {
                Ok(())
            } else {
                Err(WarehouseError::invalid(
                    object.kind(),
                    object.name(),
                    format!("{kind} `{name}` does not exist"),
                ))
            }
        };
        match object {
            ObjectDef::Table(def) => def.validate(),
            ObjectDef::FileFormat(_) => Ok(()),
            ObjectDef::Stage(def) => {
                if let Some(format) = &def.file_format {
                    missing(ObjectKind::FileFormat, format)?;
                }
                self.stores.resolve(&def.url)?;
                Ok(())
            }
            ObjectDef::Pipe(def) => {
                missing(ObjectKind::Stage, &def.stage)?;
                missing(ObjectKind::Table, &def.table)?;
                if let Some(format) = &def.file_format {
                    missing(ObjectKind::FileFormat, format)?;
                }
                if def.on_error == crate::catalog::OnError::AbortStatement {
                    return Err(WarehouseError::invalid(
                        ObjectKind::Pipe,
                        &def.name,
                        "pipes may not use ON_ERROR = ABORT_STATEMENT",
                    ));
                }
                Ok(())
            }
            ObjectDef::Stream(def) => missing(ObjectKind::Table, &def.table),
            ObjectDef::Task(def) => self.check_task(def),
        }
    }

    fn check_task(&self, def: &TaskDef) -> Result<()> {
        let invalid = |reason: String| WarehouseError::invalid(ObjectKind::Task, &def.name, reason);
        if let Some(schedule) = &def.schedule {
            schedule.validate()?;
            if !def.after.is_empty() {
                return Err(invalid(
                    "a task has a schedule or predecessors, not both".into(),
                ));
            }
        } else if def.after.is_empty() {
            // A task without schedule and predecessors runs only on EXECUTE TASK.
        }
        if def.auto_retry_attempts > 30 {
            return Err(invalid(format!(
                "auto_retry_attempts is {}; Snowflake allows 0 to 30",
                def.auto_retry_attempts
            )));
        }
        if def.timeout.is_zero() {
            return Err(invalid("the timeout must be longer than zero".into()));
        }
        if def.auto_retry_attempts > 0 && !def.after.is_empty() {
            return Err(invalid(
                "auto_retry_attempts is read from the root task of a graph; set it there".into(),
            ));
        }
        for pred in &def.after {
            if !self.tasks.contains_key(&key(pred)) {
                return Err(invalid(format!("predecessor task `{pred}` does not exist")));
            }
            if key(pred) == key(&def.name) || crate::local::tasks::reaches(self, &def.name, pred) {
                return Err(invalid(format!(
                    "running after `{pred}` would make a cycle of tasks"
                )));
            }
        }
        if let Some(crate::catalog::TaskCondition::StreamHasData(streams)) = &def.when {
            for stream in streams {
                if !self.streams.contains_key(&key(stream)) {
                    return Err(invalid(format!("stream `{stream}` in WHEN does not exist")));
                }
            }
        }
        let crate::catalog::TaskBody::Merge(merge) = &def.body;
        let stream = self
            .streams
            .get(&key(&merge.source))
            .ok_or_else(|| invalid(format!("source stream `{}` does not exist", merge.source)))?;
        let target = self
            .table(&merge.target)
            .map_err(|_| invalid(format!("target table `{}` does not exist", merge.target)))?;
        if target.def.key.is_empty() {
            return Err(invalid(format!("target `{}` has no key", merge.target)));
        }
        if key(&stream.def.table) == key(&merge.target) {
            return Err(invalid(
                "a merge cannot consume a stream on its own target".into(),
            ));
        }
        self.check_rejected_table(merge, &stream.def.table)
            .map_err(invalid)
    }

    /// An existing rejected table must have the columns rejected rows of `merge` need.
    fn check_rejected_table(
        &self,
        merge: &MergeDef,
        source: &str,
    ) -> std::result::Result<(), String> {
        let name = merge.rejected_table();
        let (Ok(existing), Ok(source)) = (self.table(&name), self.table(source)) else {
            return Ok(());
        };
        let wanted = crate::rejected::table_def(&name, &source.def);
        if existing.def.columns == wanted.columns && existing.def.key.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "table `{name}` exists but is not a rejected table for stream `{}` (drop it, or name another with `rejected_table`)",
                merge.source
            ))
        }
    }

    /// Applies one logged action. `change` is the change set of a `TableChange` when the
    /// table was already changed in memory (a live commit); on replay it is `None` and the
    /// caller rebuilds the table's rows.
    pub(crate) fn apply(
        &mut self,
        version: u64,
        action: &Action,
        change: Option<Delta>,
    ) -> Result<()> {
        match action {
            Action::Create(object) => self.apply_create(version, object)?,
            Action::Drop { kind, name } => self.apply_drop(*kind, name),
            Action::TableChange {
                table,
                file,
                rows,
                appended_from,
                retired,
                ..
            } => {
                if let Ok(t) = self.table_mut(table) {
                    t.version = version;
                    if let Some(first) = appended_from {
                        t.add_segment(Segment {
                            file: file.clone(),
                            rows: *rows,
                            first_row_id: Some(*first),
                        });
                    }
                    if let Some(segment) = retired {
                        t.add_segment(segment.clone());
                    }
                    if let Some(delta) = change {
                        t.deltas.push(delta);
                    }
                }
            }
            Action::StreamOffset {
                stream,
                version: offset,
            } => {
                if let Some(s) = self.streams.get_mut(&key(stream)) {
                    s.offset = *offset;
                    s.initial_pending = false;
                }
            }
            Action::FileLoaded { table, load } => {
                self.loads
                    .entry(key(table))
                    .or_default()
                    .record(load.clone());
            }
            Action::TaskState {
                task,
                resumed,
                failures,
            } => {
                if let Ok(t) = self.task_mut(task) {
                    t.resumed = *resumed;
                    t.failures = *failures;
                }
            }
            Action::TaskRun(run) => {
                if let Ok(t) = self.task_mut(&run.task) {
                    push_run(&mut t.history, run.clone());
                }
            }
            Action::PipePaused { pipe, paused } => {
                if let Ok(p) = self.pipe_mut(pipe) {
                    p.paused = *paused;
                }
            }
            Action::Compact {
                table,
                removed,
                added,
            } => {
                if let Ok(t) = self.table_mut(table) {
                    t.replace_segments(removed, added.clone());
                }
            }
        }
        Ok(())
    }

    fn apply_create(&mut self, version: u64, object: &ObjectDef) -> Result<()> {
        self.catalog_epoch += 1;
        let name = key(object.name());
        if self.exists(object.kind(), object.name()) {
            self.apply_drop(object.kind(), object.name());
        }
        match object {
            ObjectDef::Table(def) => {
                self.tables
                    .insert(name.clone(), LocalTable::create(def.clone(), version)?);
            }
            ObjectDef::FileFormat(def) => {
                self.formats.insert(name.clone(), def.clone());
            }
            ObjectDef::Stage(def) => {
                let location = self.stores.resolve(&def.url)?;
                self.stages.insert(
                    name.clone(),
                    LocalStage {
                        def: def.clone(),
                        location,
                    },
                );
            }
            ObjectDef::Pipe(def) => {
                self.pipes.insert(
                    name.clone(),
                    PipeState {
                        def: def.clone(),
                        paused: false,
                        pending: BTreeMap::new(),
                        last_ingested: None,
                        error: None,
                    },
                );
            }
            ObjectDef::Stream(def) => {
                self.streams.insert(
                    name.clone(),
                    StreamState {
                        def: def.clone(),
                        offset: version,
                        initial_pending: def.show_initial_rows,
                    },
                );
            }
            ObjectDef::Task(def) => {
                self.tasks.insert(
                    name.clone(),
                    TaskState {
                        def: def.clone(),
                        resumed: false,
                        failures: 0,
                        history: VecDeque::new(),
                    },
                );
            }
        }
        self.order.push((object.kind(), name));
        Ok(())
    }

    fn apply_drop(&mut self, kind: ObjectKind, name: &str) {
        self.catalog_epoch += 1;
        let k = key(name);
        match kind {
            ObjectKind::Table => {
                self.tables.remove(&k);
            }
            ObjectKind::Stage => {
                self.stages.remove(&k);
            }
            ObjectKind::FileFormat => {
                self.formats.remove(&k);
            }
            ObjectKind::Pipe => {
                self.pipes.remove(&k);
            }
            ObjectKind::Stream => {
                self.streams.remove(&k);
            }
            ObjectKind::Task => {
                self.tasks.remove(&k);
            }
        }
        self.order.retain(|(kd, n)| !(*kd == kind && *n == k));
    }

    /// The oldest offset among streams on `table` that can still be read (deltas at or before
    /// it are not needed; a stale stream needs none).
    pub(crate) fn oldest_offset_on(&self, table: &str) -> Option<u64> {
        let released = self
            .tables
            .get(&key(table))
            .map_or(0, |t| t.released_through);
        self.streams
            .values()
            .filter(|s| key(&s.def.table) == key(table))
            .filter(|s| s.initial_pending || s.offset >= released)
            .map(|s| s.offset)
            .min()
    }

    pub(crate) fn prune_deltas(&mut self) {
        let offsets: HashMap<String, Option<u64>> = self
            .tables
            .keys()
            .map(|t| (t.clone(), self.oldest_offset_on(t)))
            .collect();
        let now = self.clock_micros;
        for (name, table) in &mut self.tables {
            table.prune_deltas(offsets.get(name).copied().flatten(), now);
        }
    }

    /// Spills retained changes, oldest first, until they fit in the memory budget.
    pub(crate) fn fit_budget(&mut self) {
        let tables = self.tables.values_mut().map(|t| &mut t.deltas).collect();
        crate::local::table::fit_budget(tables, self.memory_budget);
    }

    /// The definitions in creation order.
    pub(crate) fn objects(&self) -> Vec<ObjectDef> {
        self.order
            .iter()
            .filter_map(|(kind, name)| self.definition(*kind, name))
            .collect()
    }

    pub(crate) fn definition(&self, kind: ObjectKind, name: &str) -> Option<ObjectDef> {
        let k = key(name);
        Some(match kind {
            ObjectKind::Table => ObjectDef::Table(self.tables.get(&k)?.def.clone()),
            ObjectKind::Stage => ObjectDef::Stage(self.stages.get(&k)?.def.clone()),
            ObjectKind::FileFormat => ObjectDef::FileFormat(self.formats.get(&k)?.clone()),
            ObjectKind::Pipe => ObjectDef::Pipe(self.pipes.get(&k)?.def.clone()),
            ObjectKind::Stream => ObjectDef::Stream(self.streams.get(&k)?.def.clone()),
            ObjectKind::Task => ObjectDef::Task(self.tasks.get(&k)?.def.clone()),
        })
    }
}

pub(crate) fn push_run(history: &mut VecDeque<TaskRun>, run: TaskRun) {
    history.push_back(run);
    while history.len() > TASK_HISTORY {
        history.pop_front();
    }
}

pub(crate) fn micros(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}
