//! [`LocalWarehouse`], the embedded engine: Snowflake's tables, stages, pipes, streams and tasks
//! on one machine, durable under a root URL on object_store. Every change is one commit (see
//! `storage`); pipes and the task scheduler run as Tokio tasks beside the caller.

mod backoff;
mod checkpoint;
mod clock;
mod compaction;
mod copy;
mod csv_read;
mod export;
mod garbage;
mod load_history;
mod log_writer;
mod manifest;
mod ops;
mod origin;
mod pipe;
mod recover;
mod registry;
mod reject;
mod scan;
mod segment;
mod snapshot;
mod state;
mod storage;
mod streams;
mod table;
mod task_merge;
mod tasks;
mod writer_lock;

use std::sync::Arc;
use std::time::Duration;

use snowdrift_stage::StagedFile;
use tokio::sync::{Mutex, MutexGuard, Notify, mpsc, watch};
use tokio::task::JoinHandle;

use crate::error::Result;
use crate::scan::Scan;
pub use backoff::PipeRetry;
pub use clock::Clock;
use state::{Action, CommitEntry, State, key};
use storage::Storage;
use table::TableWrite;

/// Options of a [`LocalWarehouse`].
#[derive(Debug, Clone)]
pub struct LocalWarehouseBuilder {
    root: String,
    checkpoint_every: u64,
    list_interval: Duration,
    background: bool,
    stores: registry::StoreRegistry,
    clock: Clock,
    pipe_retry: PipeRetry,
    limits: crate::load::LoadLimits,
    memory_budget: usize,
    read_only: bool,
}

/// The default [`LocalWarehouseBuilder::memory_budget`]: 512 MiB.
pub const DEFAULT_MEMORY_BUDGET: usize = 512 << 20;

impl LocalWarehouseBuilder {
    /// Uses `store` for every stage or root URL under `url_prefix` (for example
    /// `s3://my-bucket` with an `AmazonS3` built with custom credentials or client options);
    /// other URLs are parsed as usual.
    pub fn object_store(
        mut self,
        url_prefix: &str,
        store: Arc<dyn object_store::ObjectStore>,
    ) -> Self {
        self.stores.register(url_prefix, store);
        self
    }

    /// Options for the stores of stage and root URLs no [`Self::object_store`] covers, as
    /// `snowdrift_stage::StageLocation::parse_opts` takes them: for `s3://` URLs the names of
    /// object_store's `AmazonS3ConfigKey` in any case (`aws_access_key_id`, `aws_region`,
    /// `aws_endpoint`, ...), others ignored. Default: none — the warehouse never reads the
    /// environment itself; `.store_options(snowdrift_stage::aws_environment())` configures S3
    /// from `AWS_*` as the AWS tools do. Values never appear in `Debug` output or errors.
    pub fn store_options<I, K, V>(mut self, options: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let options = options
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self.stores.set_options(options);
        self
    }

    /// Write a checkpoint every `n` commits (default 1,000); a restart replays at most that
    /// many log entries.
    pub fn checkpoint_every(mut self, n: u64) -> Self {
        self.checkpoint_every = n.max(1);
        self
    }

    /// How often pipes list their stage for files no notification announced (default 10 s).
    pub fn list_interval(mut self, interval: Duration) -> Self {
        self.list_interval = interval;
        self
    }

    /// Whether pipes and scheduled tasks run on their own (default true). Without, nothing
    /// happens until `refresh_pipe`, `copy_into` or `execute_task` is called — handy in tests.
    pub fn background(mut self, background: bool) -> Self {
        self.background = background;
        self
    }

    /// How pipes retry a staged file they cannot read (default [`PipeRetry::default`]: 100 ms
    /// doubling up to a minute, 10 attempts, then the file is recorded as `Load failed`).
    pub fn pipe_retry(mut self, retry: PipeRetry) -> Self {
        self.pipe_retry = PipeRetry {
            max_attempts: retry.max_attempts.max(1),
            ..retry
        };
        self
    }

    /// Limits on staged files (default [`crate::LoadLimits::default`]): past one, a file or a
    /// record gets a load error, under the load's `ON_ERROR`.
    pub fn load_limits(mut self, limits: crate::load::LoadLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Bytes of memory for data that is on storage anyway (default
    /// [`DEFAULT_MEMORY_BUDGET`]): the retained changes of tables that streams have not
    /// consumed yet. Beyond it the oldest changes leave memory and a stream that reads them
    /// reads their files back, so a suspended task costs disk, not memory. The latest rows of
    /// keyed tables (bounded by their live keys) are not counted.
    pub fn memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = bytes;
        self
    }

    /// Opens an existing warehouse only to read it (default false): no pipes, tasks,
    /// compaction or checkpoints run, and anything that would commit fails with
    /// [`crate::WarehouseError::ReadOnly`]. Another process may keep running the warehouse
    /// meanwhile; a read-only open sees its commits up to the moment it opened. Opening a
    /// root with no warehouse fails with [`crate::WarehouseError::NotAWarehouse`] instead of
    /// creating one.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Where merges read the time (default: the system clock). Stamps never go backwards.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Opens (or creates) the warehouse and restores its state. Needs a Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`crate::WarehouseError::NotAWarehouse`] for a read-only open of a root that holds
    /// none; [`crate::WarehouseError::Locked`] when another process has the local folder open
    /// for writing; [`crate::WarehouseError::Storage`] when the root cannot be reached or read,
    /// and [`crate::WarehouseError::Corrupt`] when what it holds cannot be decoded (the path is
    /// in the error; nothing is changed).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it returns leaves storage as it was, apart from a retired
    /// segment an older layout is given (a complete file nothing refers to yet).
    pub async fn open(self) -> Result<LocalWarehouse> {
        if self.read_only && local_folder(&self.root).is_some_and(|f| !f.exists()) {
            // Resolving a local root creates its folder: a read-only open must not.
            return Err(crate::WarehouseError::NotAWarehouse { root: self.root });
        }
        let stores = Arc::new(self.stores);
        let location = stores.resolve(&self.root)?;
        let storage = Storage::new(location.store().clone(), location.prefix())
            .with_public_base(public_base(&self.root, &location))
            .with_label(location.to_string());
        if self.read_only && !storage.holds_warehouse().await? {
            return Err(crate::WarehouseError::NotAWarehouse {
                root: location.to_string(),
            });
        }
        let writer_lock = match local_folder(&self.root) {
            Some(folder) if !self.read_only => {
                Some(writer_lock::WriterLock::acquire(folder, &location.to_string()).await?)
            }
            _ => None,
        };
        let mut state = recover::recover(&storage, &stores, self.memory_budget).await?;
        state.clock = self.clock;
        state.limits = self.limits;
        storage.durability().reset(state.version);
        let (shutdown, _) = watch::channel(false);
        let (checkpoints, pending_checkpoints) = mpsc::channel(1);
        let published = Arc::new(snapshot::Published::default());
        // Not a background task to stop: it ends once the warehouse is gone and every commit
        // handed to it is written.
        let (log, log_writer) = log_writer::LogWriter::new(storage.clone(), published.clone());
        tokio::spawn(log_writer);
        let inner = Arc::new(Inner {
            storage,
            root: location.to_string(),
            state: Mutex::new(state),
            stores,
            checkpoint_every: self.checkpoint_every,
            list_interval: self.list_interval,
            pipe_retry: self.pipe_retry,
            wake_pipes: Arc::new(Notify::new()),
            wake_tasks: Arc::new(Notify::new()),
            wake_compaction: Arc::new(Notify::new()),
            shutdown,
            background: std::sync::Mutex::new(Vec::new()),
            checkpoints,
            log,
            published,
            garbage: Arc::default(),
            read_only: self.read_only,
            next_runs: std::sync::Mutex::default(),
            _writer_lock: writer_lock,
        });
        if self.read_only {
            inner.published.publish(&*inner.state.lock().await);
            return Ok(LocalWarehouse { inner });
        }
        {
            let mut state = inner.state.lock().await;
            if state.tables.values().any(|t| t.has_retired()) {
                // Versions a layout without segments kept in memory go to a segment now.
                checkpoint::capture(&inner.storage, &mut state)
                    .await?
                    .write(&inner.storage, &inner.garbage)
                    .await?;
            }
            inner.published.publish(&state);
        }
        let writer = tokio::spawn(write_checkpoints(
            inner.storage.clone(),
            inner.garbage.clone(),
            pending_checkpoints,
        ));
        inner.background_tasks().push(writer);
        let compactor = tokio::spawn(compaction::run_compactor(
            Arc::downgrade(&inner),
            inner.wake_compaction.clone(),
        ));
        inner.background_tasks().push(compactor);
        if self.background {
            let pipes = tokio::spawn(pipe::run_pipes(Arc::downgrade(&inner)));
            let tasks = tokio::spawn(tasks::run_scheduler(Arc::downgrade(&inner)));
            inner.background_tasks().extend([pipes, tasks]);
        }
        inner.wake_pipes.notify_one();
        Ok(LocalWarehouse { inner })
    }
}

/// The embedded warehouse. See the crate documentation for an example.
///
/// One process opens a root for writing at a time: a second writable open of a local folder
/// fails with [`crate::WarehouseError::Locked`], and on an object store a second writer's
/// commit fails with [`crate::WarehouseError::ConcurrentWriter`] (stores with conditional
/// puts). Read-only opens are not limited. Dropping it stops its
/// pipes and scheduler; [`LocalWarehouse::close`] also writes a checkpoint.
pub struct LocalWarehouse {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LocalWarehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalWarehouse")
            .field("root", &self.inner.root)
            .finish()
    }
}

/// Where the rows of a table of a [`LocalWarehouse`] are kept
/// ([`LocalWarehouse::table_storage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TableStorage {
    /// Rows in the table.
    pub rows: u64,
    /// Rows held in memory: the latest row of each key of a keyed table; none for a table
    /// without a key.
    pub rows_in_memory: u64,
    /// Immutable segment files holding the other rows.
    pub segments: u64,
    /// Rows in those segments.
    pub rows_in_segments: u64,
    /// Versions of the table whose changes are kept in memory for streams on it that have
    /// not consumed them.
    pub retained_changes: u64,
    /// Of those, the versions whose rows are in memory; the others were spilled to stay
    /// within the memory budget ([`LocalWarehouseBuilder::memory_budget`]) and are read back
    /// from storage when a stream reads them.
    pub retained_changes_in_memory: u64,
}

/// The folder of a root on the local disk (a path or a `file://` URL).
fn local_folder(root: &str) -> Option<&std::path::Path> {
    let folder = root.strip_prefix("file://").unwrap_or(root);
    (!folder.contains("://")).then(|| std::path::Path::new(folder))
}

/// Whether a task runs on its schedule ([`LocalWarehouse::task_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskState {
    /// Resumed (`started`): it runs on its schedule or after its predecessors.
    pub resumed: bool,
    /// Runs that failed in a row (a task suspends itself after
    /// `suspend_task_after_num_failures` of them).
    pub consecutive_failures: u32,
    /// When a resumed root task runs next (Snowflake's `SCHEDULED` row of its task history):
    /// the scheduler's time while this warehouse runs its tasks, else the next time its
    /// schedule gives after its last scheduled run. `None` for suspended and child tasks.
    pub next_run: Option<std::time::SystemTime>,
}

/// The root's full location as DuckDB reaches it: an absolute folder for a local root, the
/// URL (without credentials) for an object store, none in memory.
fn public_base(root: &str, location: &snowdrift_stage::StageLocation) -> Option<String> {
    if root.starts_with("memory:") {
        return None;
    }
    match local_folder(root) {
        None => Some(location.to_string().trim_end_matches('/').to_owned()),
        Some(folder) => std::fs::canonicalize(folder)
            .ok()
            .and_then(|p| p.to_str().map(str::to_owned)),
    }
}

/// Tries of one rebuild of the state from storage after a failed commit.
const RELOAD_ATTEMPTS: u32 = 4;

/// Where a warehouse lives when no root is given: `./snowdrift-data`.
pub const DEFAULT_ROOT: &str = "./snowdrift-data";

impl LocalWarehouse {
    /// A builder for the warehouse at `root`: a folder path, `file:///…`, `memory://` or
    /// `s3://bucket/prefix` (configured by [`LocalWarehouseBuilder::store_options`] or a store
    /// given with [`LocalWarehouseBuilder::object_store`]).
    pub fn builder(root: impl Into<String>) -> LocalWarehouseBuilder {
        LocalWarehouseBuilder {
            root: root.into(),
            checkpoint_every: 1000,
            list_interval: Duration::from_secs(10),
            background: true,
            stores: registry::StoreRegistry::default(),
            clock: Clock::system(),
            pipe_retry: PipeRetry::default(),
            limits: crate::load::LoadLimits::default(),
            memory_budget: DEFAULT_MEMORY_BUDGET,
            read_only: false,
        }
    }

    /// Opens the warehouse at `root` with the default options.
    ///
    /// # Errors
    ///
    /// As [`LocalWarehouseBuilder::open`].
    pub async fn open(root: impl Into<String>) -> Result<Self> {
        Self::builder(root).open().await
    }

    /// A warehouse in memory (nothing survives dropping it).
    ///
    /// # Errors
    ///
    /// None in practice: an empty in-memory store always opens (the `Result` is
    /// [`LocalWarehouseBuilder::open`]'s).
    pub async fn in_memory() -> Result<Self> {
        Self::open("memory://").await
    }

    /// Where the warehouse lives.
    pub fn root(&self) -> &str {
        &self.inner.root
    }

    /// Tells the pipes on stage `stage` that `file` is complete (the analogue of an S3 event
    /// notification). Files the stage sink announces can be forwarded with
    /// [`LocalWarehouse::forward_notifications`].
    ///
    /// # Errors
    ///
    /// [`crate::WarehouseError::NotFound`] for an unknown stage. A file no pipe wants (another
    /// pattern, already loaded) is no error.
    pub async fn notify_file(&self, stage: &str, file: &StagedFile) -> Result<()> {
        pipe::notify(&self.inner, stage, file).await
    }

    /// Forwards every announcement of `receiver` (for example `StageSink::subscribe()`) to
    /// the pipes on `stage`, until the sender closes or the warehouse is dropped.
    pub fn forward_notifications(
        &self,
        stage: &str,
        mut receiver: mpsc::UnboundedReceiver<StagedFile>,
    ) {
        let weak = Arc::downgrade(&self.inner);
        let stage = stage.to_owned();
        let handle = tokio::spawn(async move {
            while let Some(file) = receiver.recv().await {
                let Some(inner) = weak.upgrade() else { break };
                if let Err(error) = pipe::notify(&inner, &stage, &file).await {
                    // A stage dropped meanwhile: the listing fallback has nothing to find either.
                    tracing::debug!(%stage, file = %file.path, %error, "a file announcement found no pipe");
                }
            }
        });
        self.inner.background_tasks().push(handle);
    }

    /// Writes a checkpoint now, so the next open replays nothing, and the table manifests
    /// (`tables/<name>.json`, `tables/<name>.duckdb.sql`) at this version. Commits go on
    /// while its files are written.
    ///
    /// # Errors
    ///
    /// [`crate::WarehouseError::ReadOnly`] when opened read-only;
    /// [`crate::WarehouseError::Rebuilding`] when a commit in flight failed (nothing is
    /// written); [`crate::WarehouseError::Storage`] when a file cannot be written. Commits are
    /// durable either way: a checkpoint only shortens the next open.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves at worst files nothing refers to, removed by a later
    /// checkpoint.
    pub async fn checkpoint(&self) -> Result<()> {
        self.inner.writable("a checkpoint")?;
        let plan = {
            let mut state = self.inner.lock().await;
            checkpoint::capture(&self.inner.storage, &mut state).await?
        };
        plan.write(&self.inner.storage, &self.inner.garbage).await
    }

    /// Stops pipes and tasks and writes a checkpoint (none when opened read-only).
    ///
    /// # Errors
    ///
    /// As [`LocalWarehouse::checkpoint`]; the warehouse is closed either way.
    pub async fn close(self) -> Result<()> {
        self.inner.stop_background();
        if self.inner.read_only {
            return Ok(());
        }
        self.checkpoint().await
    }

    /// Whether `task` is resumed (`SHOW TASKS`' `state`: started or suspended) and how many
    /// of its runs failed in a row.
    ///
    /// # Errors
    ///
    /// [`crate::WarehouseError::NotFound`] for an unknown task.
    pub async fn task_state(&self, task: &str) -> Result<TaskState> {
        let state = self.inner.lock().await;
        let t = state.task(task)?;
        let now = std::time::SystemTime::now();
        let next_run = match (&t.def.schedule, t.resumed) {
            (Some(schedule), true) => {
                let running = self.inner.next_runs().get(&state::key(task)).copied();
                running.or_else(|| {
                    let anchor = t.history.back().map_or(now, |run| run.scheduled_time);
                    schedule.next_after(anchor, now)
                })
            }
            _ => None,
        };
        Ok(TaskState {
            resumed: t.resumed,
            consecutive_failures: t.failures,
            next_run,
        })
    }

    /// Every object, in creation order (`SHOW TABLES`, `SHOW PIPES` and the like).
    pub async fn objects(&self) -> Vec<crate::catalog::ObjectDef> {
        self.inner.lock().await.objects()
    }

    /// Writes the rows of `table` at the last committed version as an Arrow IPC file at
    /// `path` (a local file), which Polars (`pl.read_ipc`), pandas/pyarrow and DuckDB's
    /// `arrow` extension open. Returns the number of rows written.
    ///
    /// The table is read one segment at a time (memory holds one part, never the whole
    /// table); merges go on meanwhile and do not show in it.
    ///
    /// # Errors
    ///
    /// [`crate::WarehouseError::NotFound`] for an unknown table,
    /// [`crate::WarehouseError::Export`] when the file cannot be written (a partial file is
    /// removed), storage errors when a segment cannot be read.
    pub async fn export_ipc(&self, table: &str, path: &std::path::Path) -> Result<usize> {
        self.export(table, export::ExportFormat::Ipc, path).await
    }

    /// Writes the rows of `table` at the last committed version as one plain Parquet file at
    /// `path` (Snappy, with dictionaries and statistics), whatever the table's segments and
    /// rows in memory: the compacted copy to hand to DuckDB, Polars or Spark. Returns the
    /// number of rows written.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use arrow::array::{Int64Array, RecordBatch};
    /// use snowdrift_warehouse::{Column, ColumnType, CreateMode, Dml, LocalWarehouse, ObjectDef, TableDef, Warehouse};
    /// let dir = tempfile::tempdir()?;
    /// let w = LocalWarehouse::open(dir.path().join("wh").to_str().unwrap()).await?;
    /// let table = TableDef::new("t", vec![Column::new("id", ColumnType::Number)]);
    /// w.create(ObjectDef::Table(table), CreateMode::Create).await?;
    /// let rows = RecordBatch::try_from_iter(vec![("id", Arc::new(Int64Array::from(vec![1, 2])) as _)])?;
    /// w.dml("t", Dml::Insert(vec![rows])).await?;
    /// let rows = w.export_parquet("t", &dir.path().join("t.parquet")).await?;
    /// assert_eq!(rows, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As [`LocalWarehouse::export_ipc`].
    pub async fn export_parquet(&self, table: &str, path: &std::path::Path) -> Result<usize> {
        self.export(table, export::ExportFormat::Parquet, path)
            .await
    }

    async fn export(
        &self,
        table: &str,
        format: export::ExportFormat,
        path: &std::path::Path,
    ) -> Result<usize> {
        let snapshot = self.inner.published.current();
        let published = snapshot.table(table)?;
        let schema = published.read.schema.clone();
        let parts = scan::scan(
            self.inner.storage.clone(),
            &published.def,
            published.read.clone(),
            &Scan::new(),
        )?;
        export::export(format, &schema, parts, path).await
    }

    /// The stream of [`crate::Warehouse::scan`] on this engine.
    fn scan_table(
        &self,
        table: &str,
        scan: &Scan,
    ) -> Result<futures::stream::BoxStream<'static, Result<arrow::array::RecordBatch>>> {
        let snapshot = self.inner.published.current();
        let published = snapshot.table(table)?;
        scan::scan(
            self.inner.storage.clone(),
            &published.def,
            published.read.clone(),
            scan,
        )
    }

    /// Where the rows of `table` are kept: how many are in memory (the latest row of each key
    /// of a keyed table) and how many in segment files on storage.
    ///
    /// # Errors
    ///
    /// [`crate::WarehouseError::NotFound`] for an unknown table.
    pub async fn table_storage(&self, table: &str) -> Result<TableStorage> {
        Ok(self.inner.published.current().table(table)?.storage)
    }

    /// Bytes the files of `table` take on storage: its segments, the snapshots of its latest
    /// rows, the change sets kept for streams and the files kept for the retention period
    /// (Snowflake's `BYTES` plus its Time Travel and Fail-safe bytes, roughly).
    ///
    /// # Errors
    ///
    /// [`crate::WarehouseError::NotFound`] for an unknown table; storage errors when the
    /// files cannot be listed.
    pub async fn table_bytes(&self, table: &str) -> Result<u64> {
        self.inner.published.current().table(table)?;
        self.inner.storage.table_bytes(&key(table)).await
    }

    /// The number of rows in `table`, without reading them.
    ///
    /// # Errors
    ///
    /// [`crate::WarehouseError::NotFound`] for an unknown table.
    pub async fn row_count(&self, table: &str) -> Result<usize> {
        Ok(self.inner.published.current().table(table)?.storage.rows as usize)
    }

    /// The committed version (the number of commits so far).
    pub async fn version(&self) -> u64 {
        self.inner.published.current().version
    }
}

impl Drop for LocalWarehouse {
    fn drop(&mut self) {
        self.inner.stop_background();
    }
}

pub(crate) struct Inner {
    storage: Storage,
    stores: Arc<registry::StoreRegistry>,
    root: String,
    state: Mutex<State>,
    checkpoint_every: u64,
    list_interval: Duration,
    pipe_retry: PipeRetry,
    wake_pipes: Arc<Notify>,
    wake_tasks: Arc<Notify>,
    /// Wakes the compactor after commits.
    wake_compaction: Arc<Notify>,
    shutdown: watch::Sender<bool>,
    background: std::sync::Mutex<Vec<JoinHandle<()>>>,
    /// Checkpoints captured after commits, written by a background task.
    checkpoints: mpsc::Sender<checkpoint::CheckpointPlan>,
    /// Writes each commit's files and log entry, in order, off the state lock.
    log: log_writer::LogWriter,
    /// The last durable version of the tables, for readers.
    published: Arc<snapshot::Published>,
    /// Data files no checkpoint refers to, waiting for their retention period.
    garbage: Arc<Mutex<garbage::Unreferenced>>,
    /// Opened with [`LocalWarehouseBuilder::read_only`]: every commit is refused.
    read_only: bool,
    /// The local folder's writer lock, held while the warehouse is open (none when read-only
    /// or on an object store).
    _writer_lock: Option<writer_lock::WriterLock>,
    /// When the scheduler runs each resumed root task next (by task key), while it runs.
    next_runs: std::sync::Mutex<std::collections::HashMap<String, std::time::SystemTime>>,
}

/// Writes the checkpoints commits capture, one at a time, off the commit path. A failed one
/// only lengthens the next restart; the next due commit captures another.
async fn write_checkpoints(
    storage: Storage,
    garbage: Arc<Mutex<garbage::Unreferenced>>,
    mut plans: mpsc::Receiver<checkpoint::CheckpointPlan>,
) {
    while let Some(plan) = plans.recv().await {
        let version = plan.version();
        if let Err(error) = plan.write(&storage, &garbage).await {
            tracing::warn!(version, %error, "checkpoint failed; another is taken after more commits");
        }
    }
}

impl Inner {
    /// The scheduler's next run of each resumed root task.
    pub(crate) fn next_runs(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, std::time::SystemTime>> {
        self.next_runs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn background_tasks(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.background
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn stop_background(&self) {
        let _ = self.shutdown.send(true);
        for handle in self.background_tasks().drain(..) {
            handle.abort();
        }
        self.next_runs().clear();
    }

    /// The state with every commit in it durable, rebuilt from storage first when a commit
    /// failed (so no reader or writer ever sees a change that is not durable).
    async fn lock(&self) -> MutexGuard<'_, State> {
        let mut state = self.lock_to_commit().await;
        if !self.storage.durability().wait_for(state.version).await {
            self.reload(&mut state).await;
        }
        state
    }

    /// The state to decide the next commit on, which may build on commits still being written
    /// (the hot paths: merges and loads). Rebuilt from storage first when a commit failed.
    async fn lock_to_commit(&self) -> MutexGuard<'_, State> {
        let mut state = self.state.lock().await;
        if state.stale || self.storage.durability().failed() {
            self.reload(&mut state).await;
        }
        state
    }

    /// Fails with [`crate::WarehouseError::ReadOnly`] when the warehouse is open read-only.
    fn writable(&self, operation: &str) -> Result<()> {
        if self.read_only {
            return Err(crate::WarehouseError::ReadOnly {
                root: self.root.clone(),
                operation: operation.to_owned(),
            });
        }
        Ok(())
    }

    /// Commits `actions` plus the change sets of tables already changed in memory, as one
    /// log entry, and waits until it is durable. On any failure the state is rebuilt from
    /// storage (so memory never shows a change that is not durable) and the error returned.
    async fn commit(
        &self,
        state: &mut State,
        actions: Vec<Action>,
        changes: Vec<(String, TableWrite)>,
    ) -> Result<u64> {
        let pending = self.begin_commit(state, actions, changes).await?;
        match pending.durable().await {
            Ok(version) => Ok(version),
            Err(error) => {
                self.reload(state).await;
                Err(error)
            }
        }
    }

    /// Decides a commit of `actions` plus the change sets of tables already changed in
    /// memory: gives it the next version, applies it to memory and hands its files and log
    /// entry to the log writer. The caller may release the lock and then wait for
    /// [`log_writer::PendingCommit::durable`]; later commits may build on this one meanwhile.
    /// On a failure before the hand-over the state is rebuilt from storage and the error
    /// returned.
    async fn begin_commit(
        &self,
        state: &mut State,
        actions: Vec<Action>,
        changes: Vec<(String, TableWrite)>,
    ) -> Result<log_writer::PendingCommit> {
        if let Err(error) = self.writable("a commit") {
            // A merge or load may have changed memory already: drop it.
            self.reload(state).await;
            return Err(error);
        }
        if state.stale || self.storage.durability().failed() {
            // An earlier commit failed or could not be rebuilt from storage: memory may hold
            // its changes, and anything computed from it (this commit's changes, a checkpoint
            // of it) must never reach storage.
            self.reload(state).await;
            return Err(crate::WarehouseError::Rebuilding {
                root: self.root.clone(),
            });
        }
        // Until the commit is handed over, memory holds a change the writer may never get: a
        // caller that drops this future meanwhile (a `select!`, a timeout) leaves the state
        // marked stale, so the next lock rebuilds it from storage (cancel safety).
        state.stale = true;
        let outcome = self.hand_over(state, actions, changes).await;
        state.stale = false;
        match outcome {
            Ok(pending) => Ok(pending),
            Err(error) => {
                self.reload(state).await;
                Err(error)
            }
        }
    }

    /// Rebuilds `state` from storage (dropping any change in memory that is not durable),
    /// keeping its clock and limits. When storage cannot be read even after a few tries, the
    /// state is marked stale and rebuilt by the next [`Inner::lock`].
    async fn reload(&self, state: &mut State) {
        // Storage is read once every commit in flight landed or failed.
        self.storage.durability().drained().await;
        for attempt in 0..RELOAD_ATTEMPTS {
            match recover::recover(&self.storage, &self.stores, state.memory_budget).await {
                Ok(mut restored) => {
                    self.storage.durability().reset(restored.version);
                    restored.clock = state.clock.clone();
                    restored.limits = state.limits;
                    restored.clock_micros = restored.clock_micros.max(state.clock_micros);
                    restored.rebuilds = state.rebuilds + 1;
                    *state = restored;
                    self.published.publish(state);
                    return;
                }
                Err(error) => {
                    tracing::warn!(attempt, %error, "rebuilding the state from storage failed");
                    tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
                }
            }
        }
        state.stale = true;
    }

    /// The files of one table's change in commit `version` (the log writer writes them; no
    /// lock on storage is needed: nothing refers to them until the log entry lands), its log
    /// action and its retained delta.
    fn plan_change(
        version: u64,
        time_micros: i64,
        n: usize,
        table: &str,
        change: TableWrite,
    ) -> Result<(Action, table::Delta, Vec<log_writer::FileWrite>)> {
        let name = key(table);
        let file = match change.appended_from() {
            // Appended rows are a segment of the table as they are: Parquet.
            Some(_) => Storage::segment_name(&name, version, n),
            None => Storage::data_name(&name, version, n),
        };
        let mut files = vec![log_writer::FileWrite {
            name: file.clone(),
            batch: change.data()?.clone(),
        }];
        let sequences = change.sequences().map(|batch| {
            let name = Storage::sequences_name(&name, version, n);
            files.push(log_writer::FileWrite {
                name: name.clone(),
                batch: batch.clone(),
            });
            name
        });
        let retired = match change.retired() {
            Some(retired) => {
                let segment = Storage::retired_name(&name, version, n);
                files.push(log_writer::FileWrite {
                    name: segment.clone(),
                    batch: table::with_row_ids(&retired.rows, retired.row_ids.clone())?,
                });
                Some(segment::Segment {
                    file: segment,
                    rows: retired.row_ids.len() as u64,
                    first_row_id: None,
                })
            }
            None => None,
        };
        let action = Action::TableChange {
            table: table.to_owned(),
            file: file.clone(),
            rows: change.len() as u64,
            appended_from: change.appended_from(),
            origin: change.origin().cloned(),
            sequences,
            retired,
        };
        Ok((action, change.into_delta(version, time_micros, file), files))
    }

    /// Captures a checkpoint of `state` for the background writer, unless it is still
    /// writing the previous one (then the next commit tries again). The commit is durable
    /// either way: a checkpoint only shortens the next restart, so its failure is not the
    /// commit's.
    async fn start_checkpoint(&self, state: &mut State) {
        let Ok(permit) = self.checkpoints.try_reserve() else {
            return;
        };
        match checkpoint::capture(&self.storage, state).await {
            Ok(plan) => permit.send(plan),
            Err(error) => {
                tracing::warn!(version = state.version, %error, "capturing a checkpoint failed");
            }
        }
    }

    /// Takes a slot in the log writer's queue, then gives the commit the next version, applies
    /// it to memory and hands it over.
    async fn hand_over(
        &self,
        state: &mut State,
        actions: Vec<Action>,
        changes: Vec<(String, TableWrite)>,
    ) -> Result<log_writer::PendingCommit> {
        let slot = self.log.slot(&self.root).await?;
        let version = state.version + 1;
        let time_micros = state.tick();
        let mut all = Vec::with_capacity(actions.len() + changes.len());
        let mut deltas = Vec::with_capacity(changes.len());
        let mut files = Vec::new();
        for (n, (table, change)) in changes.into_iter().enumerate() {
            if change.is_empty() {
                continue;
            }
            let (action, delta, written) =
                Self::plan_change(version, time_micros, n, &table, change)?;
            all.push(action);
            deltas.push(delta);
            files.extend(written);
        }
        all.extend(actions);
        // A task run ends when its commit is decided; it is acknowledged once durable.
        let decided = std::time::SystemTime::now();
        for action in &mut all {
            if let Action::TaskRun(run) = action
                && run.completed.is_none()
            {
                run.completed = Some(decided);
            }
        }
        let entry = CommitEntry {
            version,
            time_micros,
            actions: all,
        };
        state.version = version;
        let mut deltas = deltas.into_iter();
        for action in &entry.actions {
            let delta = match action {
                Action::TableChange { .. } => deltas.next(),
                _ => None,
            };
            state.apply(version, action, delta)?;
        }
        state.prune_deltas();
        state.fit_budget();
        let snapshot = snapshot::Snapshot::of(state);
        let pending = slot.send(
            log_writer::CommitJob {
                files,
                entry,
                snapshot,
            },
            &self.root,
        );
        self.wake_compaction.notify_one();
        state.commits_since_checkpoint += 1;
        if state.commits_since_checkpoint >= self.checkpoint_every {
            self.start_checkpoint(state).await;
        }
        Ok(pending)
    }
}
