//! [`Schedule`]: when a root task runs — an interval (Snowflake's `'<n> SECONDS|MINUTES|HOURS'`,
//! here down to milliseconds) or `USING CRON <expression> <time zone>`.

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::ObjectKind;
use crate::error::{Result, WarehouseError};

/// When a root task runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Schedule {
    /// Every interval, counted from when the task was resumed.
    Interval(Duration),
    /// At the times a five-field cron expression matches in a time zone.
    Cron {
        /// Minute, hour, day of month, month, day of week.
        expression: String,
        /// An IANA time zone name (`UTC`, `Europe/Oslo`).
        timezone: String,
    },
}

impl Schedule {
    /// Parses Snowflake's schedule text: `1 minute`, `10 SECONDS`, `250 milliseconds`,
    /// `2 hours`, or `USING CRON 0 9 * * MON-FRI Europe/Oslo`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use snowdrift_warehouse::Schedule;
    /// assert_eq!(Schedule::parse("1 minute")?, Schedule::Interval(Duration::from_secs(60)));
    /// assert_eq!(Schedule::parse("100 MILLISECONDS")?, Schedule::Interval(Duration::from_millis(100)));
    /// let cron = Schedule::parse("USING CRON 0 9 * * * UTC")?;
    /// assert!(matches!(cron, Schedule::Cron { .. }));
    /// # Ok::<(), snowdrift_warehouse::WarehouseError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`WarehouseError::InvalidDefinition`] for the task, saying what is wrong: not `<n> <unit>`
    /// or `USING CRON`, an unknown unit, a zero or unreadable interval, a cron expression that does
    /// not parse, or an unknown time zone.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |reason: String| WarehouseError::invalid(ObjectKind::Task, text, reason);
        let trimmed = text.trim();
        if let Some(rest) = strip_prefix_ignore_case(trimmed, "USING CRON ") {
            let mut words: Vec<&str> = rest.split_whitespace().collect();
            if words.len() != 6 {
                return Err(invalid(
                    "USING CRON takes five cron fields and a time zone".into(),
                ));
            }
            let timezone = words.pop().expect("six words").to_owned();
            let schedule = Schedule::Cron {
                expression: words.join(" "),
                timezone,
            };
            schedule.validate()?;
            return Ok(schedule);
        }
        let mut words = trimmed.split_whitespace();
        let (Some(count), Some(unit), None) = (words.next(), words.next(), words.next()) else {
            return Err(invalid(
                "expected `<n> <unit>` or `USING CRON <expression> <time zone>`".into(),
            ));
        };
        let count: u64 = count
            .parse()
            .map_err(|_| invalid(format!("`{count}` is not a whole number")))?;
        let unit = unit.to_ascii_lowercase();
        let per = match unit.trim_end_matches('s') {
            "millisecond" => Duration::from_millis(1),
            "second" => Duration::from_secs(1),
            "minute" => Duration::from_secs(60),
            "hour" => Duration::from_secs(3600),
            _ => return Err(invalid(format!("unknown unit `{unit}`"))),
        };
        let interval =
            per * u32::try_from(count).map_err(|_| invalid("interval too long".into()))?;
        let schedule = Schedule::Interval(interval);
        schedule.validate()?;
        Ok(schedule)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let invalid =
            |reason: String| WarehouseError::invalid(ObjectKind::Task, &self.to_string(), reason);
        match self {
            Schedule::Interval(d) if d.is_zero() => {
                Err(invalid("an interval must be above zero".into()))
            }
            Schedule::Interval(_) => Ok(()),
            Schedule::Cron {
                expression,
                timezone,
            } => {
                croner::Cron::from_str(expression)
                    .map_err(|e| invalid(format!("cron expression: {e}")))?;
                timezone
                    .parse::<chrono_tz::Tz>()
                    .map_err(|_| invalid(format!("unknown time zone `{timezone}`")))?;
                Ok(())
            }
        }
    }

    /// The first time strictly after `after` at which the task runs, given it was resumed at
    /// `anchor` (intervals count from it).
    pub fn next_after(&self, anchor: SystemTime, after: SystemTime) -> Option<SystemTime> {
        match self {
            Schedule::Interval(interval) => {
                let since = after.duration_since(anchor).unwrap_or_default();
                let periods = since.as_nanos() / interval.as_nanos().max(1) + 1;
                let offset = interval.as_nanos().saturating_mul(periods);
                Some(anchor + Duration::from_nanos(u64::try_from(offset).ok()?))
            }
            Schedule::Cron {
                expression,
                timezone,
            } => {
                let cron = croner::Cron::from_str(expression).ok()?;
                let zone: chrono_tz::Tz = timezone.parse().ok()?;
                let after: DateTime<Utc> = after.into();
                let next = cron
                    .find_next_occurrence(&after.with_timezone(&zone), false)
                    .ok()?;
                Some(next.with_timezone(&Utc).into())
            }
        }
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Schedule::Interval(d) if d.subsec_nanos() == 0 && d.as_secs() % 60 == 0 => {
                write!(f, "{} MINUTE", d.as_secs() / 60)
            }
            Schedule::Interval(d) if d.as_secs() == 1 && d.subsec_nanos() == 0 => {
                f.write_str("1 SECOND")
            }
            Schedule::Interval(d) if d.subsec_nanos() == 0 => write!(f, "{} SECONDS", d.as_secs()),
            Schedule::Interval(d) => write!(f, "{} MILLISECONDS", d.as_millis()),
            Schedule::Cron {
                expression,
                timezone,
            } => write!(f, "USING CRON {expression} {timezone}"),
        }
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_count_from_the_anchor() {
        let anchor = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let every = Schedule::Interval(Duration::from_millis(100));
        let next = every.next_after(anchor, anchor + Duration::from_millis(250));
        assert_eq!(next, Some(anchor + Duration::from_millis(300)));
        assert_eq!(
            every.next_after(anchor, anchor),
            Some(anchor + Duration::from_millis(100))
        );
    }

    #[test]
    fn cron_in_a_time_zone() {
        let schedule = Schedule::parse("USING CRON 0 9 * * * Europe/Oslo").unwrap();
        // 2026-01-15 12:00 UTC → next 09:00 Oslo (UTC+1 in winter) is 2026-01-16 08:00 UTC.
        let after = SystemTime::UNIX_EPOCH + Duration::from_secs(1_768_478_400);
        let next = schedule.next_after(after, after).unwrap();
        let next: DateTime<Utc> = next.into();
        assert_eq!(next.to_rfc3339(), "2026-01-16T08:00:00+00:00");
    }

    #[test]
    fn bad_schedules_say_why() {
        for (text, expect) in [
            ("0 seconds", "above zero"),
            ("5 fortnights", "unknown unit"),
            ("USING CRON 0 9 * * * Mars/Olympus", "time zone"),
            ("USING CRON 0 99 * * * UTC", "cron expression"),
            ("soon", "expected"),
        ] {
            let error = Schedule::parse(text).unwrap_err().to_string();
            assert!(error.contains(expect), "{text}: {error}");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "1 MINUTE",
            "10 SECONDS",
            "250 MILLISECONDS",
            "USING CRON 0 9 * * * UTC",
        ] {
            assert_eq!(Schedule::parse(text).unwrap().to_string(), text);
        }
    }
}
