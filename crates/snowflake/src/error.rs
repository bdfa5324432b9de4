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
}
