//! The crate's one error type.

/// Everything that can go wrong while configuring or running a generator.
///
/// Generation itself cannot fail once a [`crate::EntitySpec`] and the options
/// are validated; every variant names the offending option or column.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FakerError {
    /// An option is outside its allowed range.
    #[error("invalid option `{option}` = {value}: {reason}")]
    InvalidOption {
        /// The option's name, as spelled by its setter.
        option: &'static str,
        /// The rejected value, printed.
        value: String,
        /// What the allowed values are.
        reason: &'static str,
    },
    /// The entity spec is not usable (empty, duplicate names, bad references).
    #[error("invalid entity spec `{entity}`: {problem}")]
    InvalidSpec {
        /// The entity's name.
        entity: String,
        /// What is wrong, naming the column or group.
        problem: SpecProblem,
    },
    /// A locale name that this crate does not know.
    #[error("unknown locale `{0}` (known: en, fr_FR, de_DE, it_IT, pt_BR, nl_NL)")]
    UnknownLocale(String),
    /// A batch handed to the ground-truth model does not have the shape it needs.
    #[error(
        "batch does not fit the ground-truth model: {}column `{column}`: {problem}",
        at_row(*.row)
    )]
    BatchShape {
        /// The 0-based row at fault, when one row is (not a whole column).
        row: Option<usize>,
        /// The column at fault.
        column: String,
        /// What is wrong, with the value.
        problem: String,
    },
    /// Building an Arrow array or batch failed.
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

/// What makes an [`crate::EntitySpec`] unusable ([`FakerError::InvalidSpec`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecProblem {
    /// The spec has no columns.
    #[error("no columns")]
    NoColumns,
    /// A column name is empty or used twice.
    #[error("empty or duplicate column name `{column}`")]
    ColumnName {
        /// The name.
        column: String,
    },
    /// Not exactly one column is `ColumnKind::Key`.
    #[error("exactly one column must be ColumnKind::Key, found {found}")]
    KeyCount {
        /// How many are.
        found: usize,
    },
    /// A derived column (an e-mail) names a column that is not an earlier one.
    #[error("column `{column}` is derived from `{source_column}`, which must be an earlier column")]
    DerivedFrom {
        /// The derived column.
        column: String,
        /// The column it names.
        source_column: String,
    },
    /// An `Integer` column whose minimum is above its maximum.
    #[error("column `{column}`: Integer min {min} > max {max}")]
    IntegerRange {
        /// The column.
        column: String,
        /// Its minimum.
        min: i64,
        /// Its maximum.
        max: i64,
    },
    /// A `Choice` column with no values.
    #[error("column `{column}`: Choice has no values")]
    NoChoices {
        /// The column.
        column: String,
    },
    /// A change group name used twice.
    #[error("duplicate group `{group}`")]
    DuplicateGroup {
        /// The name.
        group: String,
    },
    /// A change group with no columns.
    #[error("group `{group}` has no columns")]
    EmptyGroup {
        /// The group.
        group: String,
    },
    /// A change group names a column the spec does not have.
    #[error("group `{group}` names unknown column `{column}`")]
    UnknownColumn {
        /// The group.
        group: String,
        /// The name it gives.
        column: String,
    },
    /// A change group names the key column.
    #[error("group `{group}` may not change the key column `{column}`")]
    ChangesKey {
        /// The group.
        group: String,
        /// The key column.
        column: String,
    },
    /// A column of the spec has the name of a column the change stream adds (`op`, the
    /// sequence or event-time column).
    #[error("column `{column}` clashes with an extra column of the change stream")]
    ClashesWithStreamColumn {
        /// The column.
        column: String,
    },
}

/// Result alias for this crate.
pub type Result<T, E = FakerError> = std::result::Result<T, E>;

/// `row N, ` for a row, nothing for a whole column.
fn at_row(row: Option<usize>) -> String {
    row.map(|r| format!("row {r}, ")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_shape_error_names_the_row_when_one_row_is_at_fault() {
        let row = FakerError::BatchShape {
            row: Some(3),
            column: "op".into(),
            problem: "unknown operation `UPSURT`".into(),
        };
        assert_eq!(
            row.to_string(),
            "batch does not fit the ground-truth model: row 3, column `op`: unknown operation `UPSURT`"
        );
        let column = FakerError::BatchShape {
            row: None,
            column: "email".into(),
            problem: "missing".into(),
        };
        assert_eq!(
            column.to_string(),
            "batch does not fit the ground-truth model: column `email`: missing"
        );
    }
}
