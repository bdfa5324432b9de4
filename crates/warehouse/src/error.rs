//! [`WarehouseError`], the one error type of the crate: what went wrong and where (object,
//! file, line, column, version).

use crate::catalog::ObjectKind;

/// Result with [`WarehouseError`].
pub type Result<T, E = WarehouseError> = std::result::Result<T, E>;

/// Everything that can go wrong in a warehouse.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WarehouseError {
    /// A stream's offset is older than the changes its table still retains: changes it has not
    /// consumed were released after the table's retention period, so it cannot be read (as on
    /// Snowflake, recreate it; `CREATE OR REPLACE STREAM` starts it at the current version).
    #[error(
        "stream `{stream}` is stale: its offset {offset} is before version {available_from}, the oldest change table `{table}` still retains (retention period exceeded); recreate the stream"
    )]
    StaleStream {
        /// The stream.
        stream: String,
        /// Its table.
        table: String,
        /// The stream's offset (the version it has consumed up to).
        offset: u64,
        /// The oldest version whose changes are still retained.
        available_from: u64,
    },
    /// The named object does not exist.
    #[error("{kind} `{name}` does not exist")]
    NotFound {
        /// What was looked for.
        kind: ObjectKind,
        /// Its name.
        name: String,
    },
    /// An object of that name exists already (and the create was not `OR REPLACE`).
    #[error("{kind} `{name}` already exists")]
    AlreadyExists {
        /// What exists.
        kind: ObjectKind,
        /// Its name.
        name: String,
    },
    /// A definition is not valid (bad name, unknown column, a cycle of tasks, ...).
    #[error("invalid definition of {kind} `{name}`: {reason}")]
    InvalidDefinition {
        /// The kind of object.
        kind: ObjectKind,
        /// Its name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// An object is used in a way it does not support (an insert into a stream, a DELETE on
    /// a table without a key, ...).
    #[error("{kind} `{name}` cannot do this: {reason}")]
    Unsupported {
        /// The kind of object.
        kind: ObjectKind,
        /// Its name.
        name: String,
        /// What it cannot do.
        reason: String,
    },
    /// `COPY INTO` with `ON_ERROR = ABORT_STATEMENT` met a bad record: nothing was loaded.
    #[error("COPY INTO `{table}` aborted, nothing loaded: {first_error}")]
    CopyAborted {
        /// The target table.
        table: String,
        /// The first error (file, line, column, message).
        first_error: Box<crate::load::LoadError>,
    },
    /// A task run failed.
    #[error("task `{task}` failed: {reason}")]
    TaskFailed {
        /// The task.
        task: String,
        /// Why.
        reason: String,
    },
    /// Another backend (for example Snowflake) failed; its own error is the source.
    #[error("{backend}: {source}")]
    Backend {
        /// The backend's name (`"snowflake"`).
        backend: &'static str,
        /// Its error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A merge was refused by the SCD engine.
    #[error(transparent)]
    Scd(#[from] snowdrift_scd::ScdError),
    /// A stage location or upload problem.
    #[error(transparent)]
    Stage(#[from] snowdrift_stage::StageError),
    /// An Arrow operation failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// The warehouse's storage failed.
    #[error("storage operation `{operation}` on `{path}` failed: {source}")]
    Storage {
        /// What was being done.
        operation: &'static str,
        /// The object path.
        path: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// The warehouse's storage holds something this version cannot read.
    #[error("warehouse storage is damaged at `{path}`: {reason}")]
    Corrupt {
        /// The object path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Another process committed to the same warehouse root.
    #[error(
        "commit {version} was written by another process: one warehouse root must be opened by one process at a time"
    )]
    ConcurrentWriter {
        /// The version both tried to write.
        version: u64,
    },
    /// Writing an export failed.
    #[error("cannot write the export `{path}`: {source}")]
    Export {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The warehouse was opened read-only ([`crate::LocalWarehouseBuilder::read_only`]) and
    /// was asked to change something.
    #[error("the warehouse at `{root}` is open read-only: {operation} is not allowed")]
    ReadOnly {
        /// Its root.
        root: String,
        /// What was asked.
        operation: String,
    },
    /// A root opened read-only holds no warehouse (no commit log and no checkpoint).
    #[error("`{root}` is not a warehouse: it has no commit log or checkpoint")]
    NotAWarehouse {
        /// The root.
        root: String,
    },
    /// Another open of this process or another one holds the local warehouse folder for
    /// writing (one writer per folder). Open it read-only to look at it meanwhile.
    #[error(
        "the warehouse at `{root}` is open for writing elsewhere (another process or another open holds `writer.lock`); close that one, or open this one read-only"
    )]
    Locked {
        /// The root.
        root: String,
    },
    /// A commit was refused because the state in memory could not be trusted: an earlier
    /// commit failed and rebuilding the state from storage failed too, so memory may have
    /// held changes that never committed. Nothing was committed; the state has been rebuilt
    /// (or is rebuilt by the next operation) and the operation can be tried again.
    #[error(
        "nothing was committed: the warehouse at `{root}` had to rebuild its state from storage after an earlier failure; try again"
    )]
    Rebuilding {
        /// The warehouse root.
        root: String,
    },
}

impl WarehouseError {
    pub(crate) fn not_found(kind: ObjectKind, name: &str) -> Self {
        WarehouseError::NotFound {
            kind,
            name: name.to_owned(),
        }
    }

    pub(crate) fn invalid(kind: ObjectKind, name: &str, reason: impl Into<String>) -> Self {
        WarehouseError::InvalidDefinition {
            kind,
            name: name.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn unsupported(kind: ObjectKind, name: &str, reason: impl Into<String>) -> Self {
        WarehouseError::Unsupported {
            kind,
            name: name.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn storage(
        operation: &'static str,
        path: &str,
        source: object_store::Error,
    ) -> Self {
        WarehouseError::Storage {
            operation,
            path: path.to_owned(),
            source,
        }
    }
}
