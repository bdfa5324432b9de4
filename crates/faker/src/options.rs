//! Options of a change stream: shares of each kind of change, data-quality
//! rates, event-time behaviour, extra columns. Validated in one place.

use std::time::Duration;

use crate::{FakerError, Result};

/// What share of a change batch's rows is each kind of change.
///
/// The five shares are relative weights (they need not sum to 1). Changes that
/// need an existing customer (update, delete, no-op) fall back to an insert
/// while nobody exists yet; a restore falls back to an insert while nobody has
/// been deleted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChangeMix {
    /// New customers.
    pub insert: f64,
    /// Real changes to an existing customer (one update group, see
    /// [`crate::EntitySpecBuilder::group`]).
    pub update: f64,
    /// Deletes of an existing customer (needs the operation column).
    pub delete: f64,
    /// Exact re-statements of an existing customer's current values.
    pub noop: f64,
    /// A deleted customer coming back with the values it had.
    pub restore: f64,
}

impl Default for ChangeMix {
    fn default() -> Self {
        Self {
            insert: 0.20,
            update: 0.55,
            delete: 0.05,
            noop: 0.19,
            restore: 0.01,
        }
    }
}

impl ChangeMix {
    /// Only inserts and updates (no operation column needed).
    pub fn upserts_only() -> Self {
        Self {
            insert: 0.25,
            update: 0.60,
            delete: 0.0,
            noop: 0.15,
            restore: 0.0,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let shares = [
            ("mix.insert", self.insert),
            ("mix.update", self.update),
            ("mix.delete", self.delete),
            ("mix.noop", self.noop),
            ("mix.restore", self.restore),
        ];
        for (option, v) in shares {
            if !v.is_finite() || v < 0.0 {
                return Err(FakerError::InvalidOption {
                    option,
                    value: v.to_string(),
                    reason: "a share must be finite and >= 0",
                });
            }
        }
        if shares.iter().map(|(_, v)| v).sum::<f64>() <= 0.0 {
            return Err(FakerError::InvalidOption {
                option: "mix",
                value: format!("{self:?}"),
                reason: "at least one share must be > 0",
            });
        }
        Ok(())
    }

    /// Cumulative thresholds for sampling, in the order insert, update,
    /// delete, noop, restore.
    pub(crate) fn cumulative(&self) -> [f64; 5] {
        let total = self.insert + self.update + self.delete + self.noop + self.restore;
        let mut acc = 0.0;
        [
            self.insert,
            self.update,
            self.delete,
            self.noop,
            self.restore,
        ]
        .map(|v| {
            acc += v / total;
            acc
        })
    }
}

/// Full options of a change stream; set through [`crate::ChangeStreamBuilder`].
#[derive(Debug, Clone)]
pub(crate) struct ChangeOptions {
    pub(crate) batch_size: usize,
    pub(crate) initial_population: usize,
    pub(crate) mix: ChangeMix,
    pub(crate) duplicate_rate: f64,
    pub(crate) null_rate: f64,
    pub(crate) late_rate: f64,
    pub(crate) max_lateness: Duration,
    pub(crate) event_interval: Duration,
    pub(crate) start_time_micros: i64,
    pub(crate) operation_column: Option<String>,
    pub(crate) event_time_column: Option<String>,
    pub(crate) sequence_column: Option<String>,
    /// Every batch a full snapshot: a delete is a key left out, no operation column needed.
    pub(crate) snapshots: bool,
    pub(crate) parallel: bool,
}

/// Largest batch: keeps every string column far below Arrow's 2 GiB limit.
pub(crate) const MAX_BATCH_ROWS: usize = 10_000_000;

/// 2024-01-01T00:00:00 in microseconds since the Unix epoch.
pub(crate) const DEFAULT_START_MICROS: i64 = 1_704_067_200_000_000;

impl Default for ChangeOptions {
    fn default() -> Self {
        Self {
            batch_size: 10_000,
            initial_population: 10_000,
            mix: ChangeMix::default(),
            duplicate_rate: 0.02,
            null_rate: 0.02,
            late_rate: 0.0,
            max_lateness: Duration::from_secs(60),
            event_interval: Duration::from_millis(1),
            start_time_micros: DEFAULT_START_MICROS,
            operation_column: Some("op".into()),
            event_time_column: Some("event_time".into()),
            sequence_column: None,
            snapshots: false,
            parallel: false,
        }
    }
}

impl ChangeOptions {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.batch_size == 0 || self.batch_size > MAX_BATCH_ROWS {
            return Err(invalid(
                "batch_size",
                &self.batch_size.to_string(),
                "must be within 1..=10,000,000 rows (Arrow string columns hold at most 2 GiB)",
            ));
        }
        self.mix.validate()?;
        for (option, v) in [
            ("duplicate_rate", self.duplicate_rate),
            ("null_rate", self.null_rate),
            ("late_rate", self.late_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(invalid(option, &v.to_string(), "must be within 0..=1"));
            }
        }
        let deletes = self.mix.delete > 0.0 || self.mix.restore > 0.0;
        if self.operation_column.is_none() && !self.snapshots && deletes {
            return Err(invalid(
                "operation_column",
                "None",
                "deletes and restores need an operation column; set mix.delete and mix.restore to 0 or keep the column",
            ));
        }
        if self.event_time_column.is_none() && self.late_rate > 0.0 {
            return Err(invalid(
                "event_time_column",
                "None",
                "late events need an event-time column; set late_rate to 0 or keep the column",
            ));
        }
        if self.late_rate > 0.0 && self.max_lateness.is_zero() {
            return Err(invalid(
                "max_lateness",
                "0s",
                "must be > 0 when late_rate > 0",
            ));
        }
        if self.event_interval.is_zero() {
            return Err(invalid(
                "event_interval",
                "0s",
                "must be > 0 so event times are strictly increasing",
            ));
        }
        for (option, name) in [
            ("operation_column", &self.operation_column),
            ("event_time_column", &self.event_time_column),
            ("sequence_column", &self.sequence_column),
        ] {
            if name.as_deref() == Some("") {
                return Err(invalid(option, "\"\"", "a column name may not be empty"));
            }
        }
        Ok(())
    }
}

fn invalid(option: &'static str, value: &str, reason: &'static str) -> FakerError {
    FakerError::InvalidOption {
        option,
        value: value.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        ChangeOptions::default().validate().unwrap();
        let c = ChangeMix::default().cumulative();
        assert!((c[4] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn bad_values_name_the_option() {
        let cases: Vec<(ChangeOptions, &str)> = vec![
            (
                ChangeOptions {
                    mix: ChangeMix {
                        update: -1.0,
                        ..ChangeMix::default()
                    },
                    ..ChangeOptions::default()
                },
                "mix.update",
            ),
            (
                ChangeOptions {
                    null_rate: 1.5,
                    ..ChangeOptions::default()
                },
                "null_rate",
            ),
            (
                ChangeOptions {
                    operation_column: None,
                    ..ChangeOptions::default()
                },
                "operation_column",
            ),
            (
                ChangeOptions {
                    event_time_column: None,
                    late_rate: 0.1,
                    ..ChangeOptions::default()
                },
                "event_time_column",
            ),
            (
                ChangeOptions {
                    batch_size: 0,
                    ..ChangeOptions::default()
                },
                "batch_size",
            ),
            (
                ChangeOptions {
                    mix: ChangeMix {
                        insert: 0.0,
                        update: 0.0,
                        delete: 0.0,
                        noop: 0.0,
                        restore: 0.0,
                    },
                    ..ChangeOptions::default()
                },
                "mix",
            ),
        ];
        for (options, name) in cases {
            let err = options.validate().unwrap_err();
            assert!(
                matches!(&err, FakerError::InvalidOption { option, .. } if *option == name),
                "{err} should name {name}"
            );
        }
    }
}
