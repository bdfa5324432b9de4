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
    #[error("invalid entity spec `{entity}`: {reason}")]
    InvalidSpec {
        /// The entity's name.
        entity: String,
        /// What is wrong, naming the column or group.
        reason: String,
    },
    /// A locale name that this crate does not know.
    #[error("unknown locale `{0}` (known: en, fr_FR, de_DE, it_IT, pt_BR, nl_NL)")]
    UnknownLocale(String),
    /// A batch handed to the ground-truth model does not have the shape it needs.
    #[error("batch does not fit the ground-truth model: {0}")]
    BatchShape(String),
    /// Building an Arrow array or batch failed.
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

/// Result alias for this crate.
pub type Result<T, E = FakerError> = std::result::Result<T, E>;
