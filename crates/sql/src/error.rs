//! The one error type of SQL statements: what failed (parsing, planning, the warehouse) with
//! the statement's own words, so that a shell can print it as it is.

use datafusion::error::DataFusionError;
use snowdrift_warehouse::WarehouseError;

/// A statement that could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// The text is not SQL (with the line and column the parser stopped at).
    #[error("SQL syntax error: {message}")]
    Parse {
        /// The parser's message.
        message: String,
    },
    /// Valid SQL that this engine does not run; `supported` says what it does run.
    #[error("not supported: {what}. {supported}")]
    Unsupported {
        /// What was asked.
        what: String,
        /// What is supported instead.
        supported: String,
    },
    /// A function was called with arguments it does not take.
    #[error("{function}: {reason}")]
    InvalidArgument {
        /// The function.
        function: String,
        /// What is wrong.
        reason: String,
    },
    /// A value does not fit the column it is written to.
    #[error("column `{column}` of `{table}`: {reason}")]
    Column {
        /// The table written to.
        table: String,
        /// The column.
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// Planning or running a query failed (unknown column, type mismatch, …).
    #[error("{0}")]
    Query(#[from] DataFusionError),
    /// The warehouse refused or failed the operation.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    /// Building a result failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

impl SqlError {
    pub(crate) fn unsupported(what: impl Into<String>, supported: impl Into<String>) -> Self {
        SqlError::Unsupported {
            what: what.into(),
            supported: supported.into(),
        }
    }
}

/// Results of this crate.
pub type Result<T, E = SqlError> = std::result::Result<T, E>;
