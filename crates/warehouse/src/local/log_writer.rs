//! The second half of every commit: writing its data files and then its log entry, in
//! version order, off the state lock.
//!
//! A commit is decided under the state lock: it takes the next version, applies its change to
//! memory and hands a [`CommitJob`] to the log writer, a task of its own. The lock is then free
//! for the next merge or load while this one's files are encoded and written, so on two cores
//! the next commit is computed while the last one is written. What keeps that safe:
//!
//! - **Order.** One writer takes the jobs in version order; a log entry is written only after
//!   its own data files and after every earlier entry.
//! - **Failure.** When a job fails, every later job fails without writing anything (they were
//!   computed from the failed one), and [`Durability::failed`] says so until the state is
//!   rebuilt from storage.
//! - **Readers.** Nothing reaches readers before it is durable: the writer publishes a commit's
//!   snapshot only after its log entry landed, reads under the state lock wait for the commits
//!   in flight ([`Durability::wait_for`]), and so does a read of a data file whose commit is
//!   still being written (a merge reading rows that the last commit moved out of memory).
//!
//! A crash loses at most the commits in flight, none of them acknowledged: a caller learns its
//! commit is durable from [`PendingCommit::durable`], never earlier.

use std::sync::Arc;

use arrow::array::RecordBatch;
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::{Result, WarehouseError};
use crate::local::snapshot::{Published, Snapshot};
use crate::local::state::CommitEntry;
use crate::local::storage::{Codec, Storage};

/// How many commits may be decided but not yet durable. Two keep both cores busy (one being
/// written, one being computed); more would only hold more changes in memory.
const IN_FLIGHT: usize = 2;

/// A data file a commit writes before its log entry.
#[derive(Debug)]
pub(crate) struct FileWrite {
    pub(crate) name: String,
    pub(crate) batch: RecordBatch,
}

/// One commit decided under the state lock, to be made durable.
#[derive(Debug)]
pub(crate) struct CommitJob {
    pub(crate) files: Vec<FileWrite>,
    pub(crate) entry: CommitEntry,
    /// What readers see once the entry landed.
    pub(crate) snapshot: Snapshot,
}

/// Where the commits in flight are: the last version handed to the writer, the last one
/// written, and the first that failed (every later one fails with it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Progress {
    queued: u64,
    written: u64,
    handled: u64,
    failed: Option<u64>,
}

/// The progress of the log writer, shared by the commit path, readers and [`Storage`].
#[derive(Debug, Default)]
pub(crate) struct Durability(watch::Sender<Progress>);

impl Durability {
    /// Starts again at `version`, everything up to it durable and nothing in flight (after the
    /// state was read from storage).
    pub(crate) fn reset(&self, version: u64) {
        self.0.send_replace(Progress {
            queued: version,
            written: version,
            handled: version,
            failed: None,
        });
    }

    /// Whether a commit in flight failed since the last [`Durability::reset`].
    pub(crate) fn failed(&self) -> bool {
        self.0.borrow().failed.is_some()
    }

    /// Waits until commit `version` is durable; `false` when it or an earlier one in flight
    /// failed (it will never be durable). A version never handed to the writer (a file a
    /// compaction or checkpoint wrote itself) is there already.
    pub(crate) async fn wait_for(&self, version: u64) -> bool {
        let mut progress = self.0.subscribe();
        let Ok(p) = progress
            .wait_for(|p| version > p.queued || p.written >= version || p.failed.is_some())
            .await
        else {
            return false;
        };
        version > p.queued || p.written >= version
    }

    /// Waits until the writer has handled every commit handed to it (written or failed).
    pub(crate) async fn drained(&self) {
        let mut progress = self.0.subscribe();
        let _ = progress.wait_for(|p| p.handled == p.queued).await;
    }

    fn queued(&self, version: u64) {
        self.0.send_modify(|p| p.queued = version);
    }

    fn handled(&self, version: u64, ok: bool) {
        self.0.send_modify(|p| {
            p.handled = version;
            if ok {
                p.written = version;
            } else if p.failed.is_none() {
                p.failed = Some(version);
            }
        });
    }
}

/// The commit path's end of the writer: hands it jobs, at most [`IN_FLIGHT`] at a time.
#[derive(Debug)]
pub(crate) struct LogWriter {
    jobs: mpsc::Sender<(CommitJob, oneshot::Sender<Result<()>>)>,
    durability: Arc<Durability>,
}

/// A commit handed to the log writer.
#[must_use = "a commit is not durable until `durable` says so"]
#[derive(Debug)]
pub(crate) struct PendingCommit {
    pub(crate) version: u64,
    done: oneshot::Receiver<Result<()>>,
    root: String,
}

impl PendingCommit {
    /// Waits until the commit's log entry landed; returns its version.
    ///
    /// # Errors
    ///
    /// The storage error that stopped the commit or an earlier one in flight
    /// ([`WarehouseError::Rebuilding`] for a commit that was never written because an earlier
    /// one failed). Nothing of the commit is then in storage, and the next lock of the state
    /// rebuilds it from storage.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future loses nothing: the commit lands or fails all the same.
    pub(crate) async fn durable(self) -> Result<u64> {
        match self.done.await {
            Ok(Ok(())) => Ok(self.version),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(WarehouseError::Rebuilding { root: self.root }),
        }
    }
}

/// A slot in the writer's queue, taken before a commit changes anything it cannot undo.
pub(crate) struct Slot<'a> {
    permit: mpsc::Permit<'a, (CommitJob, oneshot::Sender<Result<()>>)>,
    durability: &'a Durability,
}

impl Slot<'_> {
    /// Hands `job` to the writer (never waits: the slot is held).
    pub(crate) fn send(self, job: CommitJob, root: &str) -> PendingCommit {
        let version = job.entry.version;
        let (done, receiver) = oneshot::channel();
        self.durability.queued(version);
        self.permit.send((job, done));
        PendingCommit {
            version,
            done: receiver,
            root: root.to_owned(),
        }
    }
}

impl LogWriter {
    /// A writer for `storage`, publishing to `published`, and the task to spawn that runs it
    /// (it ends when the `LogWriter` is dropped and every job it took is handled).
    pub(crate) fn new(
        storage: Storage,
        published: Arc<Published>,
    ) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let (jobs, queue) = mpsc::channel(IN_FLIGHT);
        let durability = storage.durability().clone();
        let writer = LogWriter {
            jobs,
            durability: durability.clone(),
        };
        (writer, run(storage, published, durability, queue))
    }

    /// Waits for room in the queue.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future takes no slot.
    pub(crate) async fn slot(&self, root: &str) -> Result<Slot<'_>> {
        let permit = self
            .jobs
            .reserve()
            .await
            .map_err(|_| WarehouseError::Rebuilding {
                root: root.to_owned(),
            })?;
        Ok(Slot {
            permit,
            durability: &self.durability,
        })
    }
}

async fn run(
    storage: Storage,
    published: Arc<Published>,
    durability: Arc<Durability>,
    mut queue: mpsc::Receiver<(CommitJob, oneshot::Sender<Result<()>>)>,
) {
    while let Some((job, done)) = queue.recv().await {
        let version = job.entry.version;
        let outcome = if durability.failed() {
            Err(WarehouseError::Rebuilding {
                root: storage.label().to_owned(),
            })
        } else {
            write(&storage, &job).await
        };
        match &outcome {
            Ok(()) => {
                published.set(job.snapshot);
                tracing::debug!(version, actions = job.entry.actions.len(), "committed");
            }
            Err(error) => tracing::warn!(version, %error, "a commit could not be written"),
        }
        durability.handled(version, outcome.is_ok());
        // The caller may have gone (a dropped future): the outcome stands all the same.
        let _ = done.send(outcome);
    }
}

/// Writes the job's data files, then its log entry.
async fn write(storage: &Storage, job: &CommitJob) -> Result<()> {
    for file in &job.files {
        storage
            .write_batch(&file.name, &file.batch, Codec::Fast)
            .await?;
    }
    storage.write_log_entry(job.entry.version, &job.entry).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CreateMode;
    use crate::Warehouse as _;
    use crate::catalog::{Column, ColumnType, ObjectDef, ObjectKind, TableDef};
    use crate::local::LocalWarehouse;
    use crate::local::state::Action;

    fn table(name: &str) -> ObjectDef {
        ObjectDef::Table(TableDef::new(
            name,
            vec![Column::new("id", ColumnType::Number)],
        ))
    }

    #[tokio::test]
    async fn a_data_file_of_a_commit_in_flight_is_read_once_the_commit_landed() {
        use futures::FutureExt as _;
        let storage = Storage::new(Arc::new(object_store::memory::InMemory::new()), "");
        let durability = storage.durability().clone();
        durability.reset(4);
        let batch = RecordBatch::try_from_iter([(
            "id",
            Arc::new(arrow::array::Int64Array::from(vec![1])) as arrow::array::ArrayRef,
        )])
        .unwrap();
        let landing = Storage::segment_name("t", 5, 0);
        let failing = Storage::segment_name("t", 6, 0);
        for name in [&landing, &failing] {
            storage
                .write_batch(name, &batch, Codec::Fast)
                .await
                .unwrap();
        }
        durability.queued(5);
        durability.queued(6);
        let read = storage.read_batch(&landing);
        tokio::pin!(read);
        assert!((&mut read).now_or_never().is_none(), "waits for commit 5");
        durability.handled(5, true);
        assert_eq!(read.await.unwrap().num_rows(), 1);
        durability.handled(6, false);
        assert!(matches!(
            storage.read_batch(&failing).await,
            Err(WarehouseError::Rebuilding { .. })
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_built_on_one_that_fails_is_never_written_and_the_state_is_rebuilt() {
        const ROOT: &str = "memory://pipelined";
        let storage: Arc<dyn object_store::ObjectStore> =
            Arc::new(object_store::memory::InMemory::new());
        let (store, plan) = snowdrift_testkit::faults::FaultStore::wrap(storage.clone(), 3);
        let warehouse = LocalWarehouse::builder(ROOT)
            .object_store(ROOT, store)
            .background(false)
            .open()
            .await
            .unwrap();
        let inner = &warehouse.inner;
        warehouse
            .create(table("base"), CreateMode::Create)
            .await
            .unwrap();
        let before = warehouse.version().await;
        plan.hold_commits();
        let mut state = inner.lock_to_commit().await;
        let first = inner
            .begin_commit(&mut state, vec![Action::Create(table("a"))], Vec::new())
            .await
            .unwrap();
        let second = inner
            .begin_commit(&mut state, vec![Action::Create(table("b"))], Vec::new())
            .await
            .unwrap();
        assert_eq!((first.version, second.version), (before + 1, before + 2));
        assert!(state.exists(ObjectKind::Table, "b"), "decided on the first");
        drop(state);
        while plan.waiting.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert_eq!(warehouse.version().await, before, "readers see neither yet");
        plan.fail_next_commits(1);
        plan.release_commits();
        assert!(matches!(
            first.durable().await,
            Err(WarehouseError::Storage { .. })
        ));
        assert!(matches!(
            second.durable().await,
            Err(WarehouseError::Rebuilding { .. })
        ));
        // The next lock rebuilds the state: neither table, in memory or in storage.
        let state = inner.lock().await;
        assert!(!state.exists(ObjectKind::Table, "a") && !state.exists(ObjectKind::Table, "b"));
        assert_eq!(state.version, before);
        drop(state);
        let reopened = LocalWarehouse::builder(ROOT)
            .object_store(ROOT, storage)
            .read_only(true)
            .open()
            .await
            .unwrap();
        assert_eq!(reopened.version().await, before);
        assert_eq!(reopened.objects().await, vec![table("base")]);
        // And commits go on from there.
        warehouse
            .create(table("c"), CreateMode::Create)
            .await
            .unwrap();
        assert_eq!(warehouse.version().await, before + 1);
    }

    #[tokio::test]
    async fn a_failed_commit_fails_every_later_one_and_readers_learn_it() {
        let durability = Durability::default();
        durability.reset(4);
        durability.queued(5);
        durability.queued(6);
        // A version never queued is there already; one queued waits.
        assert!(durability.wait_for(3).await);
        assert!(durability.wait_for(9).await);
        durability.handled(5, true);
        assert!(durability.wait_for(5).await);
        durability.handled(6, false);
        assert!(!durability.wait_for(6).await);
        assert!(durability.failed());
        durability.drained().await;
        durability.reset(5);
        assert!(!durability.failed());
        assert!(
            durability.wait_for(6).await,
            "nothing in flight after a reset"
        );
    }
}
