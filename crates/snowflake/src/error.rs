//! [`SnowflakeError`], the crate's one error type. No variant ever holds a secret.

use snowdrift_warehouse::ObjectKind;

/// Result with [`SnowflakeError`].
pub type Result<T, E = SnowflakeError> = std::result::Result<T, E>;

/// Everything that can go wrong configuring Snowflake or rendering SQL for it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnowflakeError {
    /// A required variable is not set.
    #[error("{name} is not set; {hint}")]
    MissingVariable {
        /// The variable.
        name: &'static str,
        /// What to set.
        hint: &'static str,
    },
    /// A variable holds something unusable (its value is not repeated: it may be secret).
    #[error("{name} is not valid: {reason}")]
    InvalidVariable {
        /// The variable.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// A name that cannot be a Snowflake identifier.
    #[error("`{name}` cannot name a {kind} in Snowflake: {reason}")]
    InvalidIdentifier {
        /// The kind of object.
        kind: ObjectKind,
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
    /// Something the embedded engine allows that Snowflake does not.
    #[error("{object}: Snowflake does not support {what}")]
    Unsupported {
        /// The object.
        object: String,
        /// What.
        what: String,
    },
    /// A merge definition that cannot be rendered.
    #[error("the merge of {task_source} into {target} is invalid: {reason}")]
    InvalidMerge {
        /// The stream it consumes.
        task_source: String,
        /// The table it writes.
        target: String,
        /// Why.
        reason: String,
    },
    /// The connection to Snowflake could not be made (the message never holds a secret).
    #[error("cannot connect to Snowflake account `{account}` as `{user}`: {message}")]
    Connect {
        /// The account.
        account: String,
        /// The user.
        user: String,
        /// What the connector or server said.
        message: String,
    },
    /// Snowflake rejected or failed a statement. `statement` is the statement as displayed
    /// (secrets shown as `***`), shortened.
    #[error("Snowflake failed `{statement}`: {message}")]
    Query {
        /// The statement, secrets redacted.
        statement: String,
        /// What Snowflake said.
        message: String,
    },
    /// A value Snowflake returned does not fit the column's type.
    #[error("reading {relation}: row {row}, column {column}: {reason} (value `{value}`)")]
    Decode {
        /// The table, stream or query.
        relation: String,
        /// Row number in the result (0-based).
        row: usize,
        /// The column.
        column: String,
        /// The value as returned.
        value: String,
        /// Why it does not fit.
        reason: String,
    },
    /// Something the deploy plan or an operation expected is missing.
    #[error("{object}: {reason}")]
    NotDeployed {
        /// The object.
        object: String,
        /// What is missing.
        reason: String,
    },
}
