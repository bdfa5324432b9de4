//! [`StageLocation`]: where staged files go, from one URL — a local folder (the default), an
//! in-memory store for tests, or S3 through `object_store`'s own builder. Like object_store's
//! `parse_url` / `parse_url_opts`, [`StageLocation::parse`] reads nothing but the URL and
//! [`StageLocation::parse_opts`] takes the store's options from the caller (the `AWS_*`
//! environment when the caller passes [`aws_environment`]). Credentials never come from the URL
//! and never appear in errors.

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

/// The `AWS_*` variables of this process's environment, as options for
/// [`StageLocation::parse_opts`]: the one place the crate reads the environment, and only
/// when its caller asks.
pub fn aws_environment() -> impl Iterator<Item = (String, String)> {
    std::env::vars().filter(|(key, _)| key.starts_with("AWS_"))
}

impl StageLocation {
    /// Parses a stage location, reading nothing but `url`:
    ///
    /// - a path or `file:///path` — a local folder (created if missing); the prefix is empty;
    /// - `memory://` or `memory:///prefix` — a fresh in-memory store;
    /// - `s3://bucket/prefix` — S3 (feature `s3`, on by default) with object_store's defaults:
    ///   no keys (instance or web-identity credentials, if the machine has them), the default
    ///   region. Use [`StageLocation::parse_opts`] to give keys, a region or an endpoint.
    ///
    /// ```
    /// use snowdrift_stage::StageLocation;
    /// let stage = StageLocation::parse("memory:///landing/customer")?;
    /// assert_eq!(stage.prefix(), "landing/customer");
    /// # Ok::<(), snowdrift_stage::StageError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`StageError::Location`] for an unknown scheme, credentials in the URL or an S3 URL the
    /// store refuses; [`StageError::Io`] or [`StageError::Store`] when a local folder cannot be
    /// created or opened.
    pub fn parse(url: &str) -> Result<Self> {
        Self::parse_opts(url, std::iter::empty::<(&str, &str)>())
    }

    /// Parses a stage location as [`StageLocation::parse`] does, configuring an S3 store with
    /// `options`: the names of object_store's `AmazonS3ConfigKey` in any case
    /// (`aws_access_key_id`, `AWS_SECRET_ACCESS_KEY`, `aws_region`, `aws_endpoint` for
    /// S3-compatible servers, `aws_allow_http`, ...); names that are none are ignored, and other
    /// schemes take no options. The URL's bucket wins over any bucket option.
    ///
    /// `StageLocation::parse_opts(url, aws_environment())` configures S3 from the `AWS_*`
    /// environment, as `AmazonS3Builder::from_env` and the AWS tools do:
    ///
    /// ```
    /// use snowdrift_stage::{StageLocation, aws_environment};
    /// let stage = StageLocation::parse_opts("s3://my-bucket/landing", aws_environment())?;
    /// assert_eq!(stage.prefix(), "landing");
    /// let stage = StageLocation::parse_opts(
    ///     "s3://my-bucket/landing",
    ///     [("aws_region", "eu-west-1"), ("aws_endpoint", "http://127.0.0.1:9000")],
    /// )?;
    /// assert_eq!(stage.to_string(), "s3://my-bucket/landing");
    /// # Ok::<(), snowdrift_stage::StageError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`StageLocation::parse`], and [`StageError::Location`] for an option value the store
    /// refuses.
    pub fn parse_opts<I, K, V>(url: &str, options: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
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
                    "credentials are not accepted in the URL; give them as options (aws_access_key_id, aws_secret_access_key) or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY and pass aws_environment()".into(),
                ));
            }
            return Self::s3(url, rest, options, display.clone()).map_err(fail);
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
    ///
    /// # Errors
    ///
    /// [`StageError::Store`] (with the folder) when it cannot be created or opened.
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
    fn s3<I, K, V>(url: &str, rest: &str, options: I, display: String) -> Result<Self, String>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
        let prefix = rest
            .split_once('/')
            .map(|(_, p)| p.trim_matches('/'))
            .unwrap_or("");
        let builder = options
            .into_iter()
            .fold(AmazonS3Builder::new(), |builder, (key, value)| {
                match key
                    .as_ref()
                    .to_ascii_lowercase()
                    .parse::<AmazonS3ConfigKey>()
                {
                    Ok(key) => builder.with_config(key, value),
                    Err(_) => builder,
                }
            });
        // The URL last: its bucket wins over an option's.
        let store = builder.with_url(url).build().map_err(|e| e.to_string())?;
        Ok(StageLocation {
            store: Arc::new(store),
            prefix: prefix.to_owned(),
            display,
        })
    }

    #[cfg(not(feature = "s3"))]
    fn s3<I>(_url: &str, _rest: &str, _options: I, _display: String) -> Result<Self, String> {
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
        let err = StageLocation::parse("s3://AKIAXXX:sup3rsecret@bucket/p").unwrap_err();
        assert!(
            matches!(&err, StageError::Location { url, .. } if url == "s3://***@bucket/p"),
            "{err:?}"
        );
        // Secrets are checked in the rendered text, which is what reaches logs.
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains("sup3rsecret") && !shown.contains("AKIAXXX"),
            "{shown}"
        );
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
