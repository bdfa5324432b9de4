//! One writing process per local warehouse folder: a writable open holds an exclusive lock on
//! the file `writer.lock` in the root folder for as long as the warehouse is open.
//!
//! Without it a second writable open of the same folder would run the same pipes and tasks
//! and race the first at every commit: neither corrupts the log (a commit that finds its
//! version taken fails with [`WarehouseError::ConcurrentWriter`]), but both keep failing. The
//! lock turns that into one clear error at open. It is an operating-system lock (`flock` on
//! Unix), so a process that dies, even by `kill -9`, releases it at once and a restart never
//! waits. Read-only opens take no lock. Object-store roots have no such lock; there the
//! conditional put of each commit is the guard.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::Duration;

use crate::error::{Result, WarehouseError};

/// The lock file's name in the root folder.
pub(crate) const LOCK_FILE: &str = "writer.lock";

/// How long an open waits for the lock before it reports the holder: long enough for a
/// warehouse of this process that was just dropped to finish stopping its background work.
const WAIT: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(20);

/// The held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub(crate) struct WriterLock {
    _file: File,
}

impl WriterLock {
    /// Takes the lock of the warehouse folder `folder` (whose root is named `root` in errors).
    ///
    /// # Errors
    ///
    /// [`WarehouseError::Locked`] when another open holds it after [`WAIT`];
    /// [`WarehouseError::Storage`] when the lock file cannot be opened or locked.
    pub(crate) async fn acquire(folder: &Path, root: &str) -> Result<WriterLock> {
        let path = folder.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| lock_error(&path, e))?;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(WriterLock { _file: file }),
                Err(TryLockError::WouldBlock) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(POLL).await;
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(WarehouseError::Locked { root: root.into() });
                }
                Err(TryLockError::Error(e)) => return Err(lock_error(&path, e)),
            }
        }
    }
}

fn lock_error(path: &Path, error: std::io::Error) -> WarehouseError {
    WarehouseError::storage(
        "lock the warehouse for writing",
        &path.display().to_string(),
        object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(error),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_lock_of_a_folder_waits_then_fails_and_a_released_one_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let first = WriterLock::acquire(dir.path(), "root").await.unwrap();
        let second = WriterLock::acquire(dir.path(), "root").await;
        assert!(
            matches!(&second, Err(WarehouseError::Locked { root }) if root == "root"),
            "{second:?}"
        );
        drop(first);
        WriterLock::acquire(dir.path(), "root").await.unwrap();
    }
}
