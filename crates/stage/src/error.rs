//! The crate's one error type, [`StageError`]: every variant names the object, file, row or
//! column it is about, and none ever carries a credential.

use std::path::PathBuf;

use arrow::datatypes::DataType;

/// Everything that can go wrong while encoding, staging or picking up files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StageError {
    /// A builder was given options that cannot work together.
    #[error("invalid stage configuration: {0}")]
    Config(String),

    /// A stage location could not be parsed or opened. The URL is shown with any user-info
    /// (credentials) removed.
    #[error("invalid stage location `{url}`: {reason}")]
    Location {
        /// The location as given, with credentials redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A column type the CSV encoder does not know how to write.
    #[error("column `{column}` has type {data_type}, which the CSV encoder cannot write")]
    UnsupportedType {
        /// Column name.
        column: String,
        /// Its Arrow type.
        data_type: DataType,
    },

    /// A batch whose schema differs from the schema the sink was built for.
    #[error("batch does not match the sink's schema: {reason}")]
    SchemaMismatch {
        /// Which column differs and how.
        reason: String,
    },

    /// The CSV writer failed on a row.
    #[error("CSV encoding failed at row {row}: {source}")]
    Csv {
        /// Row index within the batch.
        row: usize,
        /// The csv crate's error.
        source: csv::Error,
    },

    /// Compressing a file failed.
    #[error("compressing `{path}` failed: {source}")]
    Compress {
        /// Object path of the file being written.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },

    /// An object could not be written, after every retry the policy allows.
    #[error("uploading `{path}` failed after {attempts} attempt(s): {source}")]
    Upload {
        /// Object path.
        path: String,
        /// Attempts made, including the first.
        attempts: u32,
        /// The last error from the store.
        source: object_store::Error,
    },

    /// The sink stopped after an upload failed for good. The files it could not stage are listed
    /// (and returned by [`crate::StageSink::close`]), so nothing is lost silently.
    #[error("the sink stopped: {unsent} file(s) could not be staged; first failure: {first}")]
    SinkFailed {
        /// How many closed files were not staged.
        unsent: usize,
        /// The first failure (an upload error names the file it was for).
        first: std::sync::Arc<StageError>,
    },

    /// A store operation other than an upload failed (list, head, delete, ...).
    #[error("store operation `{operation}` on `{path}` failed: {source}")]
    Store {
        /// What was attempted.
        operation: &'static str,
        /// Object path.
        path: String,
        /// The store's error.
        source: object_store::Error,
    },

    /// A local file or folder could not be read or written.
    #[error("`{path}`: {operation} failed: {source}")]
    Io {
        /// What was attempted (read, stat, rename, ...).
        operation: &'static str,
        /// The local path.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// A watched file changed while it was being uploaded; the upload was abandoned before it
    /// became visible and the file will be taken once it is stable.
    #[error("`{path}` changed while it was being uploaded ({before} -> {after}); upload abandoned")]
    FileChanged {
        /// The local path.
        path: PathBuf,
        /// Size and modification time before reading.
        before: String,
        /// Size and modification time after reading.
        after: String,
    },

    /// The folder-pickup journal is damaged.
    #[error("pickup journal `{path}` line {line}: {reason}")]
    Journal {
        /// Journal file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What could not be understood.
        reason: String,
    },
}

/// Result alias for this crate.
pub type Result<T, E = StageError> = std::result::Result<T, E>;

impl StageError {
    pub(crate) fn io(
        operation: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        StageError::Io {
            operation,
            path: path.into(),
            source,
        }
    }
}
