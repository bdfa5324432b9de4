//! [`StageLocation`]: where staged files go, from one URL — a local folder (the default), an
//! in-memory store for tests, or S3 configured from the standard `AWS_*` environment through
//! `object_store`'s own builder. Credentials never come from the URL and never appear in errors.

use std::fmt;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;

use crate::error::{Result, StageError};

/// A store plus the prefix inside it where files are staged.
#[derive(Clone)]
pub struct StageLocation {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    display: String,
}

impl fmt::Debug for StageLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StageLocation")
            .field("url", &self.display)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for StageLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl StageLocation {
    /// Parses a stage location:
    ///
    /// - a path or `file:///path` — a local folder (created if missing); the prefix is empty;
    /// - `memory://` or `memory:///prefix` — a fresh in-memory store;
    /// - `s3://bucket/prefix` — S3 (feature `s3`, on by default), configured by
    ///   `AmazonS3Builder::from_env()`: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    ///   `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT` (for S3-compatible servers),
    ///   `AWS_ALLOW_HTTP`, ...
    ///
    /// ```
    /// use snowdrift_stage::StageLocation;
    /// let stage = StageLocation::parse("memory:///landing/customer")?;
    /// assert_eq!(stage.prefix(), "landing/customer");
    /// # Ok::<(), snowdrift_stage::StageError>(())
    /// ```
    pub fn parse(url: &str) -> Result<Self> {
        let display = redact_user_info(url);
        let fail = |reason: String| StageError::Location {
            url: display.clone(),
            reason,
        };
        if let Some(rest) = url.strip_prefix("memory://") {
            return Ok(StageLocation {
                store: Arc::new(InMemory::new()),
                prefix: rest.trim_matches('/').to_owned(),
                display,
            });
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            if rest
                .split('/')
                .next()
                .is_some_and(|authority| authority.contains('@'))
            {
                return Err(fail(
                    "credentials are not accepted in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
                ));
            }
            return Self::s3(url, rest, display.clone()).map_err(fail);
        }
        let path = url.strip_prefix("file://").unwrap_or(url);
        if path.contains("://") {
            return Err(fail(
                "unknown scheme; use a path, file://, memory:// or s3://".into(),
            ));
        }
        Self::local(std::path::Path::new(path), display)
    }

    /// A local folder, created if missing.
    pub fn local(folder: &std::path::Path, display: String) -> Result<Self> {
        std::fs::create_dir_all(folder).map_err(|e| StageError::io("create folder", folder, e))?;
        let store =
            LocalFileSystem::new_with_prefix(folder).map_err(|source| StageError::Store {
                operation: "open folder",
                path: folder.display().to_string(),
                source,
            })?;
        Ok(StageLocation {
            store: Arc::new(store),
            prefix: String::new(),
            display,
        })
    }

    /// Any store and a prefix inside it.
    pub fn from_store(store: Arc<dyn ObjectStore>, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into().trim_matches('/').to_owned();
        let display = format!("{store}/{prefix}");
        StageLocation {
            store,
            prefix,
            display,
        }
    }

    #[cfg(feature = "s3")]
    fn s3(url: &str, rest: &str, display: String) -> Result<Self, String> {
        let prefix = rest
            .split_once('/')
            .map(|(_, p)| p.trim_matches('/'))
            .unwrap_or("");
        let store = object_store::aws::AmazonS3Builder::from_env()
            .with_url(url)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(StageLocation {
            store: Arc::new(store),
            prefix: prefix.to_owned(),
            display,
        })
    }

    #[cfg(not(feature = "s3"))]
    fn s3(_url: &str, _rest: &str, _display: String) -> Result<Self, String> {
        Err("this build has no S3 support; enable the `s3` feature of snowdrift-stage".into())
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The prefix inside the store, without leading or trailing `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

/// `scheme://user:secret@host/...` → `scheme://***@host/...`.
pub(crate) fn redact_user_info(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_url_are_refused_and_never_echoed() {
        let err = StageLocation::parse("s3://AKIAXXX:sup3rsecret@bucket/p")
            .unwrap_err()
            .to_string();
        assert!(
            !err.contains("sup3rsecret") && !err.contains("AKIAXXX"),
            "{err}"
        );
        assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
    }

    #[test]
    fn memory_and_local_locations() {
        let memory = StageLocation::parse("memory://").unwrap();
        assert_eq!(memory.prefix(), "");
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("a/b");
        let local = StageLocation::parse(folder.to_str().unwrap()).unwrap();
        assert!(folder.is_dir());
        assert_eq!(local.prefix(), "");
        assert!(StageLocation::parse("gopher://x").is_err());
    }
}
