//! The crate's one error type.

use arrow::datatypes::DataType;

/// Everything that can go wrong while describing a table or merging changes.
///
/// Every variant names what it is about: the table, the column, the row of
/// the change batch (0-based, counted across all batches of one merge) and
/// the offending value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScdError {
    /// The table spec is not usable.
    #[error("invalid spec for table `{table}`: {reason}")]
    InvalidSpec {
        /// The table's name.
        table: String,
        /// What is wrong.
        reason: String,
    },
    /// A change batch lacks a column the spec needs.
    #[error("table `{table}`: the changes have no column `{column}`")]
    MissingColumn {
        /// The table's name.
        table: String,
        /// The missing column.
        column: String,
    },
    /// A change column cannot be read as the type the table needs.
    #[error(
        "table `{table}`: column `{column}` of type {found} cannot be read as {expected}: {reason}"
    )]
    ColumnType {
        /// The table's name.
        table: String,
        /// The column.
        column: String,
        /// The type the table needs.
        expected: DataType,
        /// The type found in the changes.
        found: DataType,
        /// Why the conversion failed.
        reason: String,
    },
    /// A change row cannot be applied and the spec says
    /// [`crate::OnBadRow::Fail`]: the first such row.
    #[error("table `{table}`: change row {row}, column `{column}`: {reason}: {detail}")]
    BadRow {
        /// The table's name.
        table: String,
        /// 0-based row across the merge's input batches.
        row: usize,
        /// Why the row cannot be applied.
        reason: crate::RejectReason,
        /// The column at fault.
        column: String,
        /// What is wrong, with the value.
        detail: String,
    },
    /// A table handed to the engine does not have the schema it should.
    #[error("table `{table}`: {reason}")]
    TargetShape {
        /// The table's name.
        table: String,
        /// What does not fit.
        reason: String,
    },
    /// A prepared merge was applied to another table than the one it was decided on, or to
    /// the table after it changed ([`crate::PreparedMerge::apply`]); prepare it again.
    #[error("table `{table}` is not the table, or not in the state, the merge was prepared on")]
    StalePreparedMerge {
        /// The table's name.
        table: String,
    },
    /// An Arrow kernel failed.
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

/// Result alias for this crate.
pub type Result<T, E = ScdError> = std::result::Result<T, E>;
