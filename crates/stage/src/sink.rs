//! [`StageSink`]: record batches in, rolled CSV objects out. Producers encode on their own task,
//! files close on rows, bytes or age (a timer closes an idle file on time), closed files wait in a
//! bounded queue for a fixed number of uploaders — so a slow store slows producers down instead
//! of growing memory — and every staged object is announced to subscribers.

use std::sync::{Arc, Mutex as SyncMutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use object_store::PutPayload;
use object_store::path::Path;
use tokio::sync::{Mutex, Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;

use crate::encode::{CsvEncoder, EncodedRows};
use crate::error::{Result, StageError};
use crate::file::{OpenFile, RollPolicy};
use crate::format::CsvFormat;
use crate::location::StageLocation;
use crate::naming::{FileNamer, default_writer_id};
use crate::retry::RetryPolicy;
use crate::upload::{StagedFile, UploadTuning, upload};

/// A closed file that could not be staged; its bytes are kept so nothing is lost.
#[derive(Debug, Clone)]
pub struct UnsentFile {
    /// The object path it was meant for.
    pub path: Path,
    /// The complete object body.
    pub body: Bytes,
    /// Data records in it.
    pub rows: usize,
    /// Why the last attempt failed (shared: the same failure is also the sink's
    /// [`StageError::SinkFailed::first`] when this file failed first).
    pub error: Arc<StageError>,
}

/// Counters of a sink's work so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkMetrics {
    /// Objects staged.
    pub files: u64,
    /// Data records in them.
    pub rows: u64,
    /// Object bytes written (after compression).
    pub bytes: u64,
    /// CSV bytes before compression.
    pub csv_bytes: u64,
    /// Upload attempts that failed and were retried.
    pub retries: u64,
    /// Files not staged at the moment (see [`StageSink::unsent`]).
    pub unsent: u64,
}

/// Builds a [`StageSink`].
#[derive(Debug, Clone)]
pub struct StageSinkBuilder {
    location: StageLocation,
    schema: SchemaRef,
    entity: String,
    format: CsvFormat,
    roll: RollPolicy,
    writer_id: Option<u16>,
    retry: RetryPolicy,
    tuning: UploadTuning,
    queued_files: usize,
    concurrent_uploads: usize,
}

impl StageSinkBuilder {
    /// File names start with this entity name (default `customer`).
    pub fn entity(mut self, entity: impl Into<String>) -> Self {
        self.entity = entity.into();
        self
    }

    /// How files are written.
    pub fn format(mut self, format: CsvFormat) -> Self {
        self.format = format;
        self
    }

    /// When files roll.
    pub fn roll(mut self, roll: RollPolicy) -> Self {
        self.roll = roll;
        self
    }

    /// This writer's id in file names (0–9999). Give writers that share a prefix distinct ids;
    /// without one, an id is drawn from the process id and the clock.
    pub fn writer_id(mut self, id: u16) -> Self {
        self.writer_id = Some(id);
        self
    }

    /// Retries of failed uploads.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Single-put versus multipart thresholds.
    pub fn upload_tuning(mut self, tuning: UploadTuning) -> Self {
        self.tuning = tuning;
        self
    }

    /// Closed files that may wait for an uploader (default 4) and uploads running at once
    /// (default 4). Together with the open file they bound the sink's memory to about
    /// `(queued + concurrent + 1) × max_bytes`; when both are used up, `write` waits.
    pub fn buffering(mut self, queued_files: usize, concurrent_uploads: usize) -> Self {
        self.queued_files = queued_files;
        self.concurrent_uploads = concurrent_uploads;
        self
    }

    /// Starts the sink. Needs a Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`StageError::Config`] for options that do not fit together (a roll policy, a writer
    /// id or an entity name out of range), with the option named.
    pub fn build(self) -> Result<StageSink> {
        self.roll.validate().map_err(StageError::Config)?;
        if self.queued_files == 0 || self.concurrent_uploads == 0 {
            return Err(StageError::Config(
                "queued files and concurrent uploads must be at least 1".into(),
            ));
        }
        let encoder = CsvEncoder::new(self.schema.clone(), self.format.clone())?;
        let writer_id = self.writer_id.unwrap_or_else(default_writer_id);
        let namer = FileNamer::new(
            self.location.prefix(),
            &self.entity,
            writer_id,
            self.format.compression(),
        )
        .map_err(StageError::Config)?;
        let (queue, receiver) = mpsc::channel(self.queued_files);
        let shared = Arc::new(Shared {
            writer: Mutex::new(Writer {
                namer,
                current: None,
                queue: Some(queue),
            }),
            header: self
                .format
                .header()
                .then(|| Bytes::copy_from_slice(encoder.header())),
            encoder,
            roll: self.roll,
            opened: Notify::new(),
            outcome: SyncMutex::new(Outcome::default()),
        });
        let uploader = tokio::spawn(run_uploads(
            shared.clone(),
            receiver,
            self.location.store().clone(),
            Arc::new(Semaphore::new(self.concurrent_uploads)),
            self.tuning,
            self.retry,
        ));
        let ager = tokio::spawn(close_files_on_time(shared.clone()));
        Ok(StageSink {
            shared,
            store: self.location.store().clone(),
            tuning: self.tuning,
            retry: self.retry,
            uploader: Mutex::new(Some(uploader)),
            ager,
        })
    }
}

struct Shared {
    writer: Mutex<Writer>,
    encoder: CsvEncoder,
    header: Option<Bytes>,
    roll: RollPolicy,
    opened: Notify,
    outcome: SyncMutex<Outcome>,
}

struct Writer {
    namer: FileNamer,
    current: Option<OpenFile>,
    queue: Option<mpsc::Sender<ClosedFile>>,
}

#[derive(Default)]
struct Outcome {
    metrics: SinkMetrics,
    unsent: Vec<UnsentFile>,
    subscribers: Vec<mpsc::UnboundedSender<StagedFile>>,
}

struct ClosedFile {
    path: Path,
    body: PutPayload,
    rows: usize,
    csv_bytes: usize,
}

/// Writes record batches as rolled CSV objects into a stage. See the crate docs for an example.
pub struct StageSink {
    shared: Arc<Shared>,
    store: Arc<dyn object_store::ObjectStore>,
    tuning: UploadTuning,
    retry: RetryPolicy,
    uploader: Mutex<Option<JoinHandle<()>>>,
    ager: JoinHandle<()>,
}

impl std::fmt::Debug for StageSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageSink")
            .field("store", &self.store.to_string())
            .field("metrics", &self.metrics())
            .finish()
    }
}

impl StageSink {
    /// A builder for a sink writing batches of `schema` into `location`.
    pub fn builder(location: StageLocation, schema: SchemaRef) -> StageSinkBuilder {
        StageSinkBuilder {
            location,
            schema,
            entity: "customer".into(),
            format: CsvFormat::default(),
            roll: RollPolicy::default(),
            writer_id: None,
            retry: RetryPolicy::default(),
            tuning: UploadTuning::default(),
            queued_files: 4,
            concurrent_uploads: 4,
        }
    }

    /// Announcements of every object staged from now on (path, size, e_tag, last modified,
    /// rows) — the analogue of an S3 event notification. Unbounded: a notification is a few
    /// dozen bytes, and a slow subscriber must not lose any.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<StagedFile> {
        let (sender, receiver) = mpsc::unbounded_channel();
        lock(&self.shared.outcome).subscribers.push(sender);
        receiver
    }

    /// Encodes `batch` and appends it to the open file, closing files as the roll policy says.
    /// Waits while the upload queue is full.
    ///
    /// # Errors
    ///
    /// Without writing anything: [`StageError::SchemaMismatch`] (or another encoding error)
    /// for a batch the sink cannot encode, [`StageError::SinkFailed`] after an upload has
    /// failed for good (see [`StageSink::retry_unsent`]), [`StageError::Config`] after
    /// [`StageSink::close`]. [`StageError::Compress`] if a compressed file cannot take the
    /// rows.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future (in a `select!`, a timeout) never loses a row of an earlier write.
    /// A write dropped before it completes may have appended a prefix of `batch`'s rows, in
    /// order; they are staged with the file they went into. Write the batch again only if
    /// duplicates are acceptable downstream (a merge with a key keeps one row per key).
    pub async fn write(&self, batch: &RecordBatch) -> Result<()> {
        self.check_healthy()?;
        if batch.num_rows() == 0 {
            self.shared.encoder.encode(batch)?; // still reject a wrong schema
            return Ok(());
        }
        let encoded = self.shared.encoder.encode(batch)?;
        let mut writer = self.shared.writer.lock().await;
        if writer.queue.is_none() {
            return Err(StageError::Config("the sink is closed".into()));
        }
        append_records(&self.shared, &mut writer, encoded).await
    }

    /// Closes the open file now (if it has records) and queues it for upload.
    ///
    /// # Errors
    ///
    /// [`StageError::Compress`] if the file cannot be finished; [`StageError::Config`] after
    /// [`StageSink::close`] or when the uploader has stopped (the file is then kept in
    /// [`StageSink::unsent`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropped while waiting for room in the upload queue, the file stays open
    /// with its rows, and a later write, flush or close queues it.
    pub async fn flush(&self) -> Result<()> {
        let mut writer = self.shared.writer.lock().await;
        close_current(&self.shared, &mut writer).await
    }

    /// Flushes, waits for every upload to finish and stops the sink.
    ///
    /// # Errors
    ///
    /// [`StageError::SinkFailed`] if any file could not be staged; those files stay
    /// available from [`StageSink::unsent`] and [`StageSink::retry_unsent`].
    /// [`StageError::Compress`] if the open file cannot be finished.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropped before the open file is queued, it leaves the file open; dropped
    /// later, the queued uploads go on in the background and calling `close` again waits
    /// for them and reports their outcome.
    pub async fn close(&self) -> Result<SinkMetrics> {
        {
            let mut writer = self.shared.writer.lock().await;
            close_current(&self.shared, &mut writer).await?;
            writer.queue = None;
        }
        self.ager.abort();
        // The handle stays until the uploads are done: a close dropped while waiting here
        // leaves them running, and a later close waits for them again.
        let mut uploader = self.uploader.lock().await;
        if let Some(handle) = uploader.as_mut() {
            let _ = handle.await;
        }
        *uploader = None;
        drop(uploader);
        self.check_healthy()?;
        Ok(self.metrics())
    }

    /// Counters so far.
    pub fn metrics(&self) -> SinkMetrics {
        lock(&self.shared.outcome).metrics
    }

    /// Files that could not be staged, with their bodies.
    pub fn unsent(&self) -> Vec<UnsentFile> {
        lock(&self.shared.outcome).unsent.clone()
    }

    /// Tries the unsent files again (for example after the store came back); the sink is
    /// healthy again when all of them are staged.
    ///
    /// # Errors
    ///
    /// [`StageError::SinkFailed`] when some are still unsent, with their count and the first
    /// one's path and error (they stay listed in [`StageSink::unsent`] for the next try).
    ///
    /// # Cancel safety
    ///
    /// A file whose upload the dropped future had not finished is neither lost nor doubled:
    /// its object is written whole or not at all, and it is announced only once staged.
    pub async fn retry_unsent(&self) -> Result<SinkMetrics> {
        let unsent = {
            let mut outcome = lock(&self.shared.outcome);
            outcome.metrics.unsent -= outcome.unsent.len() as u64;
            std::mem::take(&mut outcome.unsent)
        };
        for file in unsent {
            let closed = ClosedFile {
                csv_bytes: 0,
                rows: file.rows,
                path: file.path,
                body: PutPayload::from_bytes(file.body),
            };
            upload_and_announce(&self.shared, &self.store, closed, self.tuning, self.retry).await;
        }
        self.check_healthy()?;
        Ok(self.metrics())
    }

    fn check_healthy(&self) -> Result<()> {
        let outcome = lock(&self.shared.outcome);
        match outcome.unsent.first() {
            None => Ok(()),
            Some(first) => Err(StageError::SinkFailed {
                unsent: outcome.unsent.len(),
                first: first.error.clone(),
            }),
        }
    }
}

impl Drop for StageSink {
    fn drop(&mut self) {
        self.ager.abort();
    }
}

/// Appends all records of `encoded`, rolling files. Each file it opens is announced to the
/// age keeper at once (before any wait, so a dropped write cannot skip it).
async fn append_records(shared: &Shared, writer: &mut Writer, encoded: EncodedRows) -> Result<()> {
    let mut next = 0;
    let rows = encoded.rows();
    let capacity = expected_file_bytes(&shared.roll, &encoded);
    let bytes = Bytes::from(encoded.bytes);
    let row_ends = encoded.row_ends;
    while next < rows {
        if writer.current.is_none() {
            writer.current = Some(OpenFile::new(
                shared.header.as_ref(),
                shared.encoder.format().compression(),
                capacity,
            ));
            shared.opened.notify_one();
        }
        let file = writer.current.as_mut().expect("a file was just opened");
        let base = if next == 0 { 0 } else { row_ends[next - 1] };
        let take = file.room(&shared.roll, &row_ends[next..], base);
        let end = if take == 0 {
            base
        } else {
            row_ends[next + take - 1]
        };
        file.append(bytes.slice(base..end), take)
            .map_err(|source| StageError::Compress {
                path: "(open file)".into(),
                source,
            })?;
        next += take;
        if take == 0 || file.is_full(&shared.roll) {
            close_current(shared, writer).await?;
        }
    }
    Ok(())
}

/// What a new file will probably hold, from the size of these records: reserving it up front
/// spares the copies of a growing buffer (the reservation is address space until written).
fn expected_file_bytes(roll: &RollPolicy, encoded: &EncodedRows) -> usize {
    let per_row = encoded.bytes.len().div_ceil(encoded.rows().max(1));
    let by_rows = per_row.saturating_mul(roll.max_rows);
    let expected = roll.max_bytes.min(by_rows);
    expected.saturating_add(expected / 8).saturating_add(4096)
}

/// Closes the open file, if it has records, and hands it to the uploaders (waiting for room).
async fn close_current(shared: &Shared, writer: &mut Writer) -> Result<()> {
    if writer.current.as_ref().is_none_or(|file| file.rows() == 0) {
        writer.current = None;
        return Ok(());
    }
    let queue = writer
        .queue
        .clone()
        .ok_or_else(|| StageError::Config("the sink is closed".into()))?;
    // Room in the queue first, the file taken after: a caller dropped while waiting here
    // leaves the open file, with every row appended to it, in place (cancel safety).
    let permit = queue.reserve_owned().await;
    let Some(file) = writer.current.take() else {
        return Ok(());
    };
    let path = writer.namer.name_now();
    let rows = file.rows();
    let csv_bytes = file.csv_bytes();
    let body = file.finish(path.as_ref())?;
    let closed = ClosedFile {
        path,
        body,
        rows,
        csv_bytes,
    };
    match permit {
        Ok(permit) => {
            permit.send(closed);
            Ok(())
        }
        Err(_) => {
            let mut outcome = lock(&shared.outcome);
            outcome.metrics.unsent += 1;
            outcome.unsent.push(UnsentFile {
                path: closed.path,
                body: Bytes::from(closed.body),
                rows: closed.rows,
                error: Arc::new(StageError::Config("the sink's uploader stopped".into())),
            });
            Err(StageError::Config("the sink's uploader stopped".into()))
        }
    }
}

/// Closes each open file when it reaches its age limit, whether or not records keep coming.
async fn close_files_on_time(shared: Arc<Shared>) {
    loop {
        let deadline = {
            let writer = shared.writer.lock().await;
            writer
                .current
                .as_ref()
                .filter(|f| f.rows() > 0)
                .map(|f| f.deadline(&shared.roll))
        };
        match deadline {
            None => shared.opened.notified().await,
            Some(deadline) => {
                tokio::select! {
                    () = tokio::time::sleep_until(deadline.into()) => {
                        let mut writer = shared.writer.lock().await;
                        let due = writer.current.as_ref().is_some_and(|f| f.deadline(&shared.roll) <= std::time::Instant::now());
                        if due && close_current(&shared, &mut writer).await.is_err() {
                            return;
                        }
                    }
                    () = shared.opened.notified() => {}
                }
            }
        }
    }
}

async fn run_uploads(
    shared: Arc<Shared>,
    mut receiver: mpsc::Receiver<ClosedFile>,
    store: Arc<dyn object_store::ObjectStore>,
    slots: Arc<Semaphore>,
    tuning: UploadTuning,
    retry: RetryPolicy,
) {
    let mut running = tokio::task::JoinSet::new();
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        let Some(file) = receiver.recv().await else {
            break;
        };
        let (shared, store) = (shared.clone(), store.clone());
        running.spawn(async move {
            let _permit: OwnedSemaphorePermit = permit;
            upload_and_announce(&shared, &store, file, tuning, retry).await;
        });
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

async fn upload_and_announce(
    shared: &Shared,
    store: &Arc<dyn object_store::ObjectStore>,
    file: ClosedFile,
    tuning: UploadTuning,
    retry: RetryPolicy,
) {
    match upload(store, &file.path, &file.body, file.rows, tuning, retry).await {
        Ok((staged, retries)) => {
            tracing::info!(
                path = %staged.path,
                rows = staged.rows,
                bytes = staged.size,
                retries,
                "file staged"
            );
            let mut outcome = lock(&shared.outcome);
            outcome.metrics.files += 1;
            outcome.metrics.rows += staged.rows as u64;
            outcome.metrics.bytes += staged.size;
            outcome.metrics.csv_bytes += file.csv_bytes as u64;
            outcome.metrics.retries += u64::from(retries);
            outcome
                .subscribers
                .retain(|s| s.send(staged.clone()).is_ok());
        }
        Err(error) => {
            tracing::warn!(path = %file.path, rows = file.rows, %error, "file not staged; kept as unsent");
            let mut outcome = lock(&shared.outcome);
            outcome.metrics.unsent += 1;
            if let StageError::Upload { attempts, .. } = &error {
                outcome.metrics.retries += u64::from(attempts.saturating_sub(1));
            }
            outcome.unsent.push(UnsentFile {
                path: file.path,
                body: Bytes::from(file.body),
                rows: file.rows,
                error: Arc::new(error),
            });
        }
    }
}

fn lock<T>(mutex: &SyncMutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
