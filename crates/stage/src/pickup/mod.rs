//! [`FolderPickup`]: NiFi's ListFile → FetchFile → PutS3Object. Watches a local folder for
//! files matching a pattern and uploads each complete file exactly once: a file is taken only
//! when it has kept its size and modification time since the previous scan and is older than a
//! minimum age; what was uploaded is journaled durably, so a restart neither uploads a file again
//! nor misses one; a file that changes while it is read is abandoned before its object becomes
//! visible and taken again once stable.

mod journal;

use std::collections::HashMap;
use std::path::{Path as LocalPath, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt as _;
use tokio::sync::mpsc;

use crate::error::{Result, StageError};
use crate::location::StageLocation;
use crate::retry::{RetryPolicy, is_transient};
use crate::upload::{StagedFile, UploadTuning, upload};
use journal::{FileVersion, Journal, Progress};

/// What happens to a local file once it is uploaded and journaled.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AfterUpload {
    /// Leave it (the journal remembers it was uploaded).
    #[default]
    Keep,
    /// Delete it.
    Delete,
    /// Move it into this folder.
    MoveTo(PathBuf),
}

/// When a file counts as completely written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stability {
    /// The file's modification time must be at least this old.
    pub min_age: Duration,
}

impl Default for Stability {
    /// One second. A file must also show the same size and modification time in two
    /// consecutive scans.
    fn default() -> Self {
        Stability {
            min_age: Duration::from_secs(1),
        }
    }
}

/// What one scan did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct PickupReport {
    /// Files uploaded in this scan (or found uploaded by an interrupted run and confirmed).
    pub uploaded: Vec<StagedFile>,
    /// Matching files not yet stable; they are looked at again next scan.
    pub waiting: Vec<PathBuf>,
    /// Matching files already uploaded earlier.
    pub already_uploaded: usize,
    /// Files that failed this scan, with why; they are tried again next scan.
    pub failed: Vec<(PathBuf, StageError)>,
}

/// Builds a [`FolderPickup`].
#[derive(Debug, Clone)]
pub struct FolderPickupBuilder {
    folder: PathBuf,
    destination: StageLocation,
    pattern: String,
    journal: Option<PathBuf>,
    after: AfterUpload,
    stability: Stability,
    retry: RetryPolicy,
    tuning: UploadTuning,
}

impl FolderPickupBuilder {
    /// Only names matching this pattern (`*`, `?`) are taken. Default `*.csv*`. Names starting
    /// with `.` are never taken.
    pub fn pattern(mut self, pattern: impl Into<String>) -> Self {
        self.pattern = pattern.into();
        self
    }

    /// Where the journal lives. Default: `.snowdrift-pickup.journal` inside the folder.
    pub fn journal(mut self, path: impl Into<PathBuf>) -> Self {
        self.journal = Some(path.into());
        self
    }

    /// What to do with a file after upload.
    pub fn after_upload(mut self, after: AfterUpload) -> Self {
        self.after = after;
        self
    }

    /// The completeness rule.
    pub fn stability(mut self, stability: Stability) -> Self {
        self.stability = stability;
        self
    }

    /// Retries of failed uploads within a scan.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Single-put versus multipart thresholds.
    pub fn upload_tuning(mut self, tuning: UploadTuning) -> Self {
        self.tuning = tuning;
        self
    }

    /// Opens the journal and returns the pickup, ready to scan.
    ///
    /// # Errors
    ///
    /// [`StageError::Config`] for options that do not fit together; [`StageError::Io`] (with
    /// the path) when the folder cannot be created or its journal cannot be opened.
    pub fn build(self) -> Result<FolderPickup> {
        if !self.folder.is_dir() {
            return Err(StageError::Config(format!(
                "`{}` is not a folder",
                self.folder.display()
            )));
        }
        if let AfterUpload::MoveTo(target) = &self.after {
            std::fs::create_dir_all(target)
                .map_err(|e| StageError::io("create folder", target, e))?;
        }
        let journal_path = self
            .journal
            .unwrap_or_else(|| self.folder.join(".snowdrift-pickup.journal"));
        let folder = self.folder.clone();
        let journal = Journal::open(&journal_path, |version| folder.join(&version.name).exists())?;
        Ok(FolderPickup {
            folder: self.folder,
            destination: self.destination,
            pattern: self.pattern,
            after: self.after,
            stability: self.stability,
            retry: self.retry,
            tuning: self.tuning,
            journal,
            last_seen: HashMap::new(),
            subscribers: Vec::new(),
        })
    }
}

/// Uploads the files of a local folder into a stage, exactly once. Call [`FolderPickup::scan`]
/// on a schedule, or [`FolderPickup::run_until`].
#[derive(Debug)]
pub struct FolderPickup {
    folder: PathBuf,
    destination: StageLocation,
    pattern: String,
    after: AfterUpload,
    stability: Stability,
    retry: RetryPolicy,
    tuning: UploadTuning,
    journal: Journal,
    last_seen: HashMap<String, FileVersion>,
    subscribers: Vec<mpsc::UnboundedSender<StagedFile>>,
}

impl FolderPickup {
    /// A builder picking up `folder` into `destination`.
    pub fn builder(folder: impl Into<PathBuf>, destination: StageLocation) -> FolderPickupBuilder {
        FolderPickupBuilder {
            folder: folder.into(),
            destination,
            pattern: "*.csv*".into(),
            journal: None,
            after: AfterUpload::Keep,
            stability: Stability::default(),
            retry: RetryPolicy::default(),
            tuning: UploadTuning::default(),
        }
    }

    /// Announcements of every object this pickup stages.
    pub fn subscribe(&mut self) -> mpsc::UnboundedReceiver<StagedFile> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.subscribers.push(sender);
        receiver
    }

    /// Looks at the folder once and uploads every stable, not yet uploaded file. Problems with
    /// single files are reported in [`PickupReport::failed`]; only a journal that cannot be
    /// written fails the scan.
    ///
    /// # Errors
    ///
    /// [`StageError::Io`] when the folder cannot be listed or the journal cannot be written
    /// (nothing after the failing file is taken that scan).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the journal names each file's object before its upload begins, so a scan
    /// dropped mid-upload (or a process killed there) resumes that file on the next scan
    /// under the same object name: it is staged once, never twice and never half.
    pub async fn scan(&mut self) -> Result<PickupReport> {
        let mut report = PickupReport::default();
        let mut seen = HashMap::new();
        for (path, name) in self.candidates()? {
            let version = match version_of(&path, &name) {
                Ok(Some(version)) => version,
                Ok(None) => continue,
                Err(error) => {
                    report.failed.push((path, error));
                    continue;
                }
            };
            seen.insert(name.clone(), version.clone());
            match self.journal.progress(&version).cloned() {
                Some(Progress::Done { .. }) => {
                    report.already_uploaded += 1;
                    if let Err(error) = self.dispose(&path, &name) {
                        report.failed.push((path, error));
                    }
                }
                Some(Progress::Begun { object }) => {
                    self.resume(&path, &version, &object, &mut report).await?
                }
                None if self.is_stable(&version) => self.take(&path, &version, &mut report).await?,
                None => report.waiting.push(path),
            }
        }
        self.last_seen = seen;
        Ok(report)
    }

    /// Scans every `interval` until `shutdown` completes; returns how many files were uploaded.
    /// Per-file failures are retried on the next scan.
    ///
    /// # Errors
    ///
    /// The first error of a [`FolderPickup::scan`]; the files it had uploaded stay uploaded.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`FolderPickup::scan`] is; `shutdown` is only polled between scans, so
    /// prefer it to dropping the future when the count matters.
    pub async fn run_until(
        &mut self,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<usize> {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut uploaded = 0;
        loop {
            uploaded += self.scan().await?.uploaded.len();
            tokio::select! {
                () = &mut shutdown => return Ok(uploaded),
                () = tokio::time::sleep(interval) => {}
            }
        }
    }

    fn candidates(&self) -> Result<Vec<(PathBuf, String)>> {
        let entries = std::fs::read_dir(&self.folder)
            .map_err(|e| StageError::io("list folder", &self.folder, e))?;
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StageError::io("list folder", &self.folder, e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !name.starts_with('.') && crate::glob::matches(&self.pattern, &name) {
                found.push((entry.path(), name));
            }
        }
        found.sort();
        Ok(found)
    }

    fn is_stable(&self, version: &FileVersion) -> bool {
        let unchanged = self.last_seen.get(&version.name) == Some(version);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        unchanged && now - version.modified_nanos >= self.stability.min_age.as_nanos() as i128
    }

    fn object_for(&self, name: &str) -> Path {
        match self.destination.prefix() {
            "" => Path::from(name),
            prefix => Path::from(prefix).join(name),
        }
    }

    async fn take(
        &mut self,
        path: &LocalPath,
        version: &FileVersion,
        report: &mut PickupReport,
    ) -> Result<()> {
        let object = self.object_for(&version.name);
        self.journal.record(
            version,
            Progress::Begun {
                object: object.to_string(),
            },
        )?;
        self.upload_and_finish(path, version, object, report).await
    }

    /// A run stopped between starting and journaling an upload: the object is either complete
    /// (puts are atomic) or absent, so check the store before uploading again.
    async fn resume(
        &mut self,
        path: &LocalPath,
        version: &FileVersion,
        object: &str,
        report: &mut PickupReport,
    ) -> Result<()> {
        let object = Path::from(object);
        match self.destination.store().head(&object).await {
            Ok(meta) if meta.size == version.size => {
                let staged = StagedFile {
                    path: meta.location,
                    size: meta.size,
                    e_tag: meta.e_tag,
                    last_modified: meta.last_modified.into(),
                    rows: 0,
                };
                self.finish(path, version, staged, report)
            }
            _ => self.upload_and_finish(path, version, object, report).await,
        }
    }

    async fn upload_and_finish(
        &mut self,
        path: &LocalPath,
        version: &FileVersion,
        object: Path,
        report: &mut PickupReport,
    ) -> Result<()> {
        match self.upload_file(path, version, &object).await {
            Ok(staged) => self.finish(path, version, staged, report),
            Err(error) => {
                report.failed.push((path.to_owned(), error));
                Ok(())
            }
        }
    }

    fn finish(
        &mut self,
        path: &LocalPath,
        version: &FileVersion,
        staged: StagedFile,
        report: &mut PickupReport,
    ) -> Result<()> {
        self.journal.record(
            version,
            Progress::Done {
                object: staged.path.to_string(),
            },
        )?;
        self.subscribers.retain(|s| s.send(staged.clone()).is_ok());
        report.uploaded.push(staged);
        if let Err(error) = self.dispose(path, &version.name) {
            report.failed.push((path.to_owned(), error));
        }
        Ok(())
    }

    fn dispose(&self, path: &LocalPath, name: &str) -> Result<()> {
        match &self.after {
            AfterUpload::Keep => Ok(()),
            AfterUpload::Delete => {
                std::fs::remove_file(path).map_err(|e| StageError::io("delete", path, e))
            }
            AfterUpload::MoveTo(folder) => std::fs::rename(path, folder.join(name))
                .map_err(|e| StageError::io("move", path, e)),
        }
    }

    async fn upload_file(
        &self,
        path: &LocalPath,
        version: &FileVersion,
        object: &Path,
    ) -> Result<StagedFile> {
        let store = self.destination.store();
        if version.size < self.tuning.multipart_threshold as u64 {
            let body = PutPayload::from(
                tokio::fs::read(path)
                    .await
                    .map_err(|e| StageError::io("read", path, e))?,
            );
            ensure_unchanged(path, version, body.content_length() as u64)?;
            let (staged, _) = upload(store, object, &body, 0, self.tuning, self.retry).await?;
            return Ok(staged);
        }
        let mut attempt = 1;
        loop {
            match stream_once(store, path, version, object, self.tuning).await {
                Ok(()) => break,
                Err(StreamError::Store(source))
                    if attempt < self.retry.max_attempts && is_transient(&source) =>
                {
                    tokio::time::sleep(self.retry.backoff(attempt, version.size)).await;
                    attempt += 1;
                }
                Err(StreamError::Store(source)) => {
                    return Err(StageError::Upload {
                        path: object.to_string(),
                        attempts: attempt,
                        source,
                    });
                }
                Err(StreamError::Local(error)) => return Err(error),
            }
        }
        let meta = store
            .head(object)
            .await
            .map_err(|source| StageError::Store {
                operation: "head",
                path: object.to_string(),
                source,
            })?;
        Ok(StagedFile {
            path: meta.location,
            size: meta.size,
            e_tag: meta.e_tag,
            last_modified: meta.last_modified.into(),
            rows: 0,
        })
    }
}

enum StreamError {
    Store(object_store::Error),
    Local(StageError),
}

/// Streams a large file up in parts; the upload is aborted (nothing becomes visible) if the
/// file changes while being read.
async fn stream_once(
    store: &Arc<dyn ObjectStore>,
    path: &LocalPath,
    version: &FileVersion,
    object: &Path,
    tuning: UploadTuning,
) -> Result<(), StreamError> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| StreamError::Local(StageError::io("open", path, e)))?;
    let upload = store
        .put_multipart(object)
        .await
        .map_err(StreamError::Store)?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, tuning.part_size);
    let mut buffer = vec![0u8; tuning.part_size.max(1)];
    let mut read_total = 0u64;
    loop {
        let read = match file.read(&mut buffer).await {
            Ok(read) => read,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(StreamError::Local(StageError::io("read", path, e)));
            }
        };
        if read == 0 {
            break;
        }
        read_total += read as u64;
        if let Err(e) = writer
            .wait_for_capacity(tuning.part_concurrency.max(1))
            .await
        {
            let _ = writer.abort().await;
            return Err(StreamError::Store(e));
        }
        writer.write(&buffer[..read]);
    }
    if let Err(error) = ensure_unchanged(path, version, read_total) {
        let _ = writer.abort().await;
        return Err(StreamError::Local(error));
    }
    writer
        .finish()
        .await
        .map(|_| ())
        .map_err(StreamError::Store)
}

fn version_of(path: &LocalPath, name: &str) -> Result<Option<FileVersion>> {
    let meta = std::fs::metadata(path).map_err(|e| StageError::io("stat", path, e))?;
    if !meta.is_file() {
        return Ok(None);
    }
    let modified = meta
        .modified()
        .map_err(|e| StageError::io("stat", path, e))?;
    let modified_nanos = match modified.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    };
    Ok(Some(FileVersion {
        name: name.to_owned(),
        size: meta.len(),
        modified_nanos,
    }))
}

fn ensure_unchanged(path: &LocalPath, before: &FileVersion, bytes_read: u64) -> Result<()> {
    let after = version_of(path, &before.name)?;
    let describe = |v: &FileVersion| format!("{} bytes, mtime {} ns", v.size, v.modified_nanos);
    match after {
        Some(after) if after == *before && bytes_read == before.size => Ok(()),
        Some(after) => Err(StageError::FileChanged {
            path: path.to_owned(),
            before: describe(before),
            after: format!("{} ({} bytes read)", describe(&after), bytes_read),
        }),
        None => Err(StageError::FileChanged {
            path: path.to_owned(),
            before: describe(before),
            after: "not a file".into(),
        }),
    }
}
