//! Rejected change rows: what a merge does with a row it cannot apply
//! ([`OnBadRow`]), why a row was rejected ([`RejectReason`]) and the record
//! of one rejection ([`Rejection`]). The reasons and the words of a late
//! rejection ([`late_detail`]) are written once here; the embedded engine
//! stores them in rejected tables and the Snowflake renderer produces the
//! same words.

/// What a merge does with a change row it cannot apply: an unknown
/// operation, a NULL key or sequence, or a value that does not fit its
/// column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum OnBadRow {
    /// Fail the whole merge at the first bad row (nothing is applied).
    #[default]
    Fail,
    /// Apply the good rows and report the bad ones in
    /// [`crate::MergeOutcome::rejected`].
    Reject,
}

/// Why a change row was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum RejectReason {
    /// Older than the change already applied to its key.
    Late,
    /// The operation column holds no known operation word.
    BadOperation,
    /// A key column is NULL.
    NullKey,
    /// The sequence column is NULL.
    NullSequence,
    /// A value cannot be read as its column's type.
    BadValue,
}

impl RejectReason {
    /// Every reason.
    pub const ALL: [RejectReason; 5] = [
        RejectReason::Late,
        RejectReason::BadOperation,
        RejectReason::NullKey,
        RejectReason::NullSequence,
        RejectReason::BadValue,
    ];

    /// The word stored in a rejected table's reason column.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Late => "late",
            RejectReason::BadOperation => "bad_operation",
            RejectReason::NullKey => "null_key",
            RejectReason::NullSequence => "null_sequence",
            RejectReason::BadValue => "bad_value",
        }
    }

    /// The reason stored as `word`.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == word)
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One change row a merge did not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Row of the change in the merge's input (counted across all batches).
    pub row: usize,
    /// Why.
    pub reason: RejectReason,
    /// The column at fault, if one is.
    pub column: Option<String>,
    /// What is wrong, with the value: for example `not an operation (…): FOO`.
    pub detail: String,
}

/// The detail of a late rejection: `sequence <s> is older than the applied
/// sequence <a>`. A timestamp sequence (`is_time`, µs since the epoch) is
/// written as a time, `YYYY-MM-DD HH:MM:SS.ffffff`, always six digits.
///
/// ```
/// use snowdrift_scd::late_detail;
/// assert_eq!(late_detail(7, 9, false), "sequence 7 is older than the applied sequence 9");
/// assert_eq!(
///     late_detail(1_500_000, 86_400_000_000, true),
///     "sequence 1970-01-01 00:00:01.500000 is older than the applied sequence 1970-01-02 00:00:00.000000"
/// );
/// ```
pub fn late_detail(sequence: i64, applied: i64, is_time: bool) -> String {
    let text = |value: i64| match chrono::DateTime::from_timestamp_micros(value) {
        Some(time) if is_time => time.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        _ => value.to_string(),
    };
    format!(
        "sequence {} is older than the applied sequence {}",
        text(sequence),
        text(applied)
    )
}
