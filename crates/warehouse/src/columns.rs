//! [`ColumnBuffer`]: one typed column being filled from CSV text, field by field, with the
//! conversions and messages of Snowflake's loader, and `pop` so a rejected record leaves nothing
//! behind.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{NaiveDate, NaiveDateTime};

type FieldResult = std::result::Result<(), String>;

/// A column being filled.
#[derive(Debug)]
pub(crate) enum ColumnBuffer {
    Int(Vec<i64>, Vec<bool>),
    Float(Vec<f64>, Vec<bool>),
    Bool(Vec<bool>, Vec<bool>),
    Date(Vec<i32>, Vec<bool>),
    Timestamp(Vec<i64>, Vec<bool>),
    Utf8 {
        data: Vec<u8>,
        offsets: Vec<i32>,
        valid: Vec<bool>,
    },
}

impl ColumnBuffer {
    /// A buffer sized for `rows` values and, for text, `bytes` bytes of them (sizing once
    /// spares the copies of a growing buffer).
    pub(crate) fn with_capacity(data_type: &DataType, rows: usize, bytes: usize) -> Self {
        match data_type {
            DataType::Int64 => {
                ColumnBuffer::Int(Vec::with_capacity(rows), Vec::with_capacity(rows))
            }
            DataType::Float64 => {
                ColumnBuffer::Float(Vec::with_capacity(rows), Vec::with_capacity(rows))
            }
            DataType::Boolean => {
                ColumnBuffer::Bool(Vec::with_capacity(rows), Vec::with_capacity(rows))
            }
            DataType::Date32 => {
                ColumnBuffer::Date(Vec::with_capacity(rows), Vec::with_capacity(rows))
            }
            DataType::Timestamp(TimeUnit::Microsecond, None) => {
                ColumnBuffer::Timestamp(Vec::with_capacity(rows), Vec::with_capacity(rows))
            }
            _ => {
                let mut offsets = Vec::with_capacity(rows + 1);
                offsets.push(0);
                ColumnBuffer::Utf8 {
                    data: Vec::with_capacity(bytes),
                    offsets,
                    valid: Vec::with_capacity(rows),
                }
            }
        }
    }

    pub(crate) fn push_null(&mut self) {
        match self {
            ColumnBuffer::Int(v, n) | ColumnBuffer::Timestamp(v, n) => {
                v.push(0);
                n.push(false);
            }
            ColumnBuffer::Float(v, n) => {
                v.push(0.0);
                n.push(false);
            }
            ColumnBuffer::Bool(v, n) => {
                v.push(false);
                n.push(false);
            }
            ColumnBuffer::Date(v, n) => {
                v.push(0);
                n.push(false);
            }
            ColumnBuffer::Utf8 {
                data,
                offsets,
                valid,
            } => {
                offsets.push(data.len() as i32);
                valid.push(false);
            }
        }
    }

    /// Appends a field parsed from text; `known_utf8` skips the UTF-8 check of a field cut
    /// from text already checked whole.
    pub(crate) fn push_field(&mut self, text: &[u8], known_utf8: bool) -> FieldResult {
        match self {
            ColumnBuffer::Int(v, n) => push(v, n, parse_int(text)?),
            ColumnBuffer::Float(v, n) => push(v, n, parse_float(text)?),
            ColumnBuffer::Bool(v, n) => push(v, n, parse_bool(text)?),
            ColumnBuffer::Date(v, n) => push(v, n, parse_date(text)?),
            ColumnBuffer::Timestamp(v, n) => push(v, n, parse_timestamp(text)?),
            ColumnBuffer::Utf8 {
                data,
                offsets,
                valid,
            } => {
                if !known_utf8 {
                    std::str::from_utf8(text).map_err(|e| {
                        format!(
                            "Invalid UTF-8 detected in the field (byte {} of it)",
                            e.valid_up_to() + 1
                        )
                    })?;
                }
                data.extend_from_slice(text);
                let end = i32::try_from(data.len()).map_err(|_| {
                    "the column holds more than 2 GiB of text in one file".to_string()
                })?;
                offsets.push(end);
                valid.push(true);
                Ok(())
            }
        }
    }

    /// Removes the last value (of a record that turned out bad).
    pub(crate) fn pop(&mut self) {
        match self {
            ColumnBuffer::Int(v, n) | ColumnBuffer::Timestamp(v, n) => {
                v.pop();
                n.pop();
            }
            ColumnBuffer::Float(v, n) => {
                v.pop();
                n.pop();
            }
            ColumnBuffer::Bool(v, n) => {
                v.pop();
                n.pop();
            }
            ColumnBuffer::Date(v, n) => {
                v.pop();
                n.pop();
            }
            ColumnBuffer::Utf8 {
                data,
                offsets,
                valid,
            } => {
                if offsets.len() > 1 {
                    offsets.pop();
                    valid.pop();
                    data.truncate(*offsets.last().expect("offsets start with 0") as usize);
                }
            }
        }
    }

    pub(crate) fn finish(self) -> ArrayRef {
        match self {
            ColumnBuffer::Int(v, n) => Arc::new(Int64Array::new(v.into(), nulls(n))),
            ColumnBuffer::Float(v, n) => Arc::new(Float64Array::new(v.into(), nulls(n))),
            ColumnBuffer::Bool(v, n) => Arc::new(BooleanArray::new(v.into(), nulls(n))),
            ColumnBuffer::Date(v, n) => Arc::new(Date32Array::new(v.into(), nulls(n))),
            ColumnBuffer::Timestamp(v, n) => {
                Arc::new(TimestampMicrosecondArray::new(v.into(), nulls(n)))
            }
            ColumnBuffer::Utf8 {
                data,
                offsets,
                valid,
            } => {
                // Every value was checked to be UTF-8 when pushed.
                let offsets = OffsetBuffer::new(offsets.into());
                Arc::new(StringArray::new(offsets, data.into(), nulls(valid)))
            }
        }
    }
}

fn push<T>(values: &mut Vec<T>, valid: &mut Vec<bool>, value: T) -> FieldResult {
    values.push(value);
    valid.push(true);
    Ok(())
}

fn nulls(valid: Vec<bool>) -> Option<NullBuffer> {
    if valid.iter().all(|v| *v) {
        None
    } else {
        Some(NullBuffer::from(valid))
    }
}

fn shown(text: &[u8]) -> String {
    let shown = String::from_utf8_lossy(text);
    if shown.chars().count() > 60 {
        format!("{}…", shown.chars().take(60).collect::<String>())
    } else {
        shown.into_owned()
    }
}

fn parse_int(text: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or_else(|| format!("Numeric value '{}' is not recognized", shown(text)))
}

fn parse_float(text: &[u8]) -> Result<f64, String> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
        .ok_or_else(|| format!("Numeric value '{}' is not recognized", shown(text)))
}

fn parse_bool(text: &[u8]) -> Result<bool, String> {
    let lower = text.to_ascii_lowercase();
    match lower.as_slice() {
        b"true" | b"t" | b"yes" | b"y" | b"on" | b"1" => Ok(true),
        b"false" | b"f" | b"no" | b"n" | b"off" | b"0" => Ok(false),
        _ => Err(format!("Boolean value '{}' is not recognized", shown(text))),
    }
}

const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

fn parse_date(text: &[u8]) -> Result<i32, String> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok())
        .map(|d| chrono::Datelike::num_days_from_ce(&d) - UNIX_EPOCH_DAYS_FROM_CE)
        .ok_or_else(|| format!("Date '{}' is not recognized", shown(text)))
}

fn parse_timestamp(text: &[u8]) -> Result<i64, String> {
    let fail = || format!("Timestamp '{}' is not recognized", shown(text));
    let t = std::str::from_utf8(text).map_err(|_| fail())?;
    let t = t.strip_suffix('Z').unwrap_or(t);
    for pattern in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(at) = NaiveDateTime::parse_from_str(t, pattern) {
            return Ok(at.and_utc().timestamp_micros());
        }
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .map(|d| {
            d.and_hms_opt(0, 0, 0)
                .expect("midnight exists")
                .and_utc()
                .timestamp_micros()
        })
        .map_err(|_| fail())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_and_their_messages() {
        assert_eq!(parse_int(b"-42"), Ok(-42));
        assert_eq!(
            parse_int(b"4x").unwrap_err(),
            "Numeric value '4x' is not recognized"
        );
        assert_eq!(parse_bool(b"TRUE"), Ok(true));
        assert!(parse_bool(b"maybe").is_err());
        assert_eq!(parse_date(b"1970-01-02"), Ok(1));
        assert_eq!(parse_timestamp(b"1970-01-01 00:00:01.5"), Ok(1_500_000));
        assert_eq!(parse_timestamp(b"1970-01-01T00:00:01Z"), Ok(1_000_000));
        assert!(parse_timestamp(b"yesterday").is_err());
    }

    #[test]
    fn pop_removes_exactly_the_last_value() {
        let mut column = ColumnBuffer::with_capacity(&DataType::Utf8, 0, 0);
        column.push_field(b"keep", false).unwrap();
        column.push_field(b"drop", true).unwrap();
        assert!(column.push_field(b"bad \xff", false).is_err());
        column.pop();
        column.push_null();
        let array = column.finish();
        let strings = arrow::array::AsArray::as_string::<i32>(&array);
        use arrow::array::Array as _;
        assert_eq!(strings.len(), 2);
        assert_eq!(strings.value(0), "keep");
        assert!(arrow::array::Array::is_null(strings, 1));
    }
}
