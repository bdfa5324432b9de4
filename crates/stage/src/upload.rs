//! Writing one finished file to the store: a single atomic put for small files, a multipart
//! upload (invisible until completed, aborted on failure) for large ones, each retried as a
//! whole under a [`RetryPolicy`]. The object's name is fixed before the first attempt, so a retry
//! after a lost response rewrites the same object and never makes a second one.

use std::sync::Arc;
use std::time::SystemTime;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use crate::error::StageError;
use crate::retry::{RetryPolicy, is_transient};

/// A file that was staged: what a store's event notification carries, plus the row count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedFile {
    /// Object path in the store.
    pub path: Path,
    /// Object size in bytes.
    pub size: u64,
    /// The store's entity tag, when it has one.
    pub e_tag: Option<String>,
    /// When the store says the object was last modified.
    pub last_modified: SystemTime,
    /// Data records in the file (the header not counted).
    pub rows: usize,
}

/// Size thresholds for choosing between a single put and a multipart upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadTuning {
    /// Files of at least this many bytes go up in parts.
    pub multipart_threshold: usize,
    /// Part size (S3 requires at least 5 MiB for all but the last part).
    pub part_size: usize,
    /// Parts in flight at once within one upload.
    pub part_concurrency: usize,
}

impl Default for UploadTuning {
    fn default() -> Self {
        UploadTuning {
            multipart_threshold: 16 << 20,
            part_size: 8 << 20,
            part_concurrency: 4,
        }
    }
}

/// Uploads `body` to `path` and returns the staged object's metadata, plus the number of
/// retries it took.
pub(crate) async fn upload(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    body: &PutPayload,
    rows: usize,
    tuning: UploadTuning,
    policy: RetryPolicy,
) -> Result<(StagedFile, u32), StageError> {
    let mut attempt = 1;
    loop {
        match put_once(store, path, body, tuning).await {
            Ok(e_tag) => {
                let staged = describe(store, path, body.content_length(), e_tag, rows).await;
                return Ok((staged, attempt - 1));
            }
            Err(source) if attempt < policy.max_attempts.max(1) && is_transient(&source) => {
                tokio::time::sleep(policy.backoff(attempt, path_salt(path, attempt))).await;
                attempt += 1;
            }
            Err(source) => {
                return Err(StageError::Upload {
                    path: path.to_string(),
                    attempts: attempt,
                    source,
                });
            }
        }
    }
}

async fn put_once(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    body: &PutPayload,
    tuning: UploadTuning,
) -> object_store::Result<Option<String>> {
    if body.content_length() < tuning.multipart_threshold {
        let result = store.put(path, body.clone()).await?;
        return Ok(result.e_tag);
    }
    let upload = store.put_multipart(path).await?;
    let part_size = tuning.part_size.max(1);
    let mut writer = WriteMultipart::new_with_chunk_size(upload, part_size);
    for chunk in body {
        for start in (0..chunk.len()).step_by(part_size) {
            if let Err(e) = writer
                .wait_for_capacity(tuning.part_concurrency.max(1))
                .await
            {
                let _ = writer.abort().await;
                return Err(e);
            }
            writer.put(chunk.slice(start..(start + part_size).min(chunk.len())));
        }
    }
    writer.finish().await.map(|result| result.e_tag)
}

async fn describe(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    size: usize,
    e_tag: Option<String>,
    rows: usize,
) -> StagedFile {
    match store.head(path).await {
        Ok(meta) => StagedFile {
            path: meta.location,
            size: meta.size,
            e_tag: meta.e_tag.or(e_tag),
            last_modified: meta.last_modified.into(),
            rows,
        },
        Err(_) => StagedFile {
            path: path.clone(),
            size: size as u64,
            e_tag,
            last_modified: SystemTime::now(),
            rows,
        },
    }
}

fn path_salt(path: &Path, attempt: u32) -> u64 {
    path.as_ref()
        .bytes()
        .fold(u64::from(attempt), |h, b| h.rotate_left(5) ^ u64::from(b))
}
