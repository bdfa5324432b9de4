//! Snowflake functions DataFusion does not have: `TIMESTAMPDIFF(part, a, b)` and its alias
//! `DATEDIFF`, which count the `part` boundaries crossed from `a` to `b` (Snowflake's rule:
//! `datediff(second, '00:00:00.9', '00:00:01.1')` is 1, `datediff(year, '2025-12-31',
//! '2026-01-01')` is 1). The date part arrives as a string (see `rewrite`).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use chrono::{DateTime, Datelike};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::scalar::ScalarValue;

/// The date parts `TIMESTAMPDIFF` counts.
const PARTS: &str =
    "microsecond, millisecond, second, minute, hour, day, week, month, quarter, year";

/// `TIMESTAMPDIFF` / `DATEDIFF`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct TimestampDiff {
    signature: Signature,
    aliases: Vec<String>,
}

impl TimestampDiff {
    pub(crate) fn udf() -> ScalarUDF {
        ScalarUDF::from(TimestampDiff {
            signature: Signature::user_defined(Volatility::Immutable),
            aliases: vec!["datediff".to_owned()],
        })
    }
}

impl ScalarUDFImpl for TimestampDiff {
    fn name(&self) -> &str {
        "timestampdiff"
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 3 {
            return Err(DataFusionError::Plan(
                "timestampdiff takes three arguments: a date part, a start and an end".into(),
            ));
        }
        let time = DataType::Timestamp(TimeUnit::Microsecond, None);
        Ok(vec![DataType::Utf8, time.clone(), time])
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let part = match &args.args[0] {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(part))) => part.to_lowercase(),
            _ => {
                return Err(DataFusionError::Plan(format!(
                    "timestampdiff: the date part must be a constant ({PARTS})"
                )));
            }
        };
        let count = counter(&part)?;
        let start = args.args[1].to_array(args.number_rows)?;
        let end = args.args[2].to_array(args.number_rows)?;
        let (start, end) = (
            start.as_primitive::<TimestampMicrosecondType>(),
            end.as_primitive::<TimestampMicrosecondType>(),
        );
        let out: Int64Array = start
            .iter()
            .zip(end.iter())
            .map(|pair| match pair {
                (Some(a), Some(b)) => count(a, b),
                _ => None,
            })
            .collect();
        let out: ArrayRef = Arc::new(out);
        Ok(if out.len() == 1 && args.number_rows == 1 {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
        } else {
            ColumnarValue::Array(out)
        })
    }
}

type Counter = fn(i64, i64) -> Option<i64>;

/// How boundaries of `part` between two times in µs are counted.
fn counter(part: &str) -> Result<Counter> {
    Ok(match part {
        "microsecond" | "microseconds" | "us" => |a, b| b.checked_sub(a),
        "millisecond" | "milliseconds" | "ms" => {
            |a, b| Some(b.div_euclid(1_000) - a.div_euclid(1_000))
        }
        "second" | "seconds" | "s" => {
            |a, b| Some(b.div_euclid(1_000_000) - a.div_euclid(1_000_000))
        }
        "minute" | "minutes" | "m" => {
            |a, b| Some(b.div_euclid(60_000_000) - a.div_euclid(60_000_000))
        }
        "hour" | "hours" | "h" => {
            |a, b| Some(b.div_euclid(3_600_000_000) - a.div_euclid(3_600_000_000))
        }
        "day" | "days" | "d" => {
            |a, b| Some(b.div_euclid(86_400_000_000) - a.div_euclid(86_400_000_000))
        }
        // Weeks start on Monday (Snowflake's default WEEK_START); 1970-01-01 was a Thursday.
        "week" | "weeks" | "w" => |a, b| {
            let week = |t: i64| (t.div_euclid(86_400_000_000) + 3).div_euclid(7);
            Some(week(b) - week(a))
        },
        "month" | "months" | "mon" => |a, b| Some(months(b)? - months(a)?),
        "quarter" | "quarters" | "q" => {
            |a, b| Some(months(b)?.div_euclid(3) - months(a)?.div_euclid(3))
        }
        "year" | "years" | "y" => {
            |a, b| Some(months(b)?.div_euclid(12) - months(a)?.div_euclid(12))
        }
        other => {
            return Err(DataFusionError::Plan(format!(
                "timestampdiff: unknown date part `{other}` (supported: {PARTS})"
            )));
        }
    })
}

/// Months since year 0 of a time in µs since the epoch.
fn months(micros: i64) -> Option<i64> {
    let t = DateTime::from_timestamp_micros(micros)?;
    Some(i64::from(t.year()) * 12 + i64::from(t.month0()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000;

    #[test]
    fn boundaries_are_counted_not_durations() {
        let second = counter("second").unwrap();
        assert_eq!(second(900_000, 1_100_000), Some(1));
        assert_eq!(second(0, 999_999), Some(0));
        assert_eq!(second(5 * SECOND, 2 * SECOND), Some(-3));
        // 2025-12-31T23:59:59 → 2026-01-01T00:00:00
        let (a, b) = (1_767_225_599 * SECOND, 1_767_225_600 * SECOND);
        assert_eq!(counter("year").unwrap()(a, b), Some(1));
        assert_eq!(counter("month").unwrap()(a, b), Some(1));
        assert_eq!(counter("quarter").unwrap()(a, b), Some(1));
        assert_eq!(counter("day").unwrap()(a, b), Some(1));
    }

    #[test]
    fn weeks_start_on_monday() {
        let day = 86_400 * SECOND;
        // 1970-01-04 was a Sunday, 1970-01-05 a Monday.
        let week = counter("week").unwrap();
        assert_eq!(week(3 * day, 4 * day), Some(1));
        assert_eq!(week(4 * day, 10 * day), Some(0));
    }

    #[test]
    fn an_unknown_part_is_an_error_naming_the_supported_ones() {
        assert!(counter("fortnight").is_err());
    }
}
