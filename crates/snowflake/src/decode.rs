//! Result rows of the connector (`DynamicRow`s of `CellValue`s) as Arrow arrays of the
//! column types the warehouse uses. A value that does not fit is an error naming the row,
//! the column and the value.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use snowflake_connector_rs::{CellValue, ColumnType as SnowflakeType, DynamicRow};

use crate::error::{Result, SnowflakeError};

/// The Arrow schema for a result: `NUMBER` with scale 0 → Int64, `FLOAT` → Float64,
/// `BOOLEAN`, `DATE` → Date32, timestamps → µs timestamps, everything else (text, decimals
/// with a scale, semi-structured values) → Utf8, exact as Snowflake printed it.
pub(crate) fn arrow_schema(result: &snowflake_connector_rs::Schema) -> SchemaRef {
    let fields = result
        .columns()
        .iter()
        .map(|c| {
            let data_type = match c.ty() {
                SnowflakeType::Fixed { .. } if c.ty().scale().unwrap_or(0) == 0 => DataType::Int64,
                SnowflakeType::Real => DataType::Float64,
                SnowflakeType::Boolean => DataType::Boolean,
                SnowflakeType::Date => DataType::Date32,
                SnowflakeType::TimestampNtz { .. }
                | SnowflakeType::TimestampLtz { .. }
                | SnowflakeType::TimestampTz { .. } => {
                    DataType::Timestamp(TimeUnit::Microsecond, None)
                }
                _ => DataType::Utf8,
            };
            Field::new(column_name(c.name()), data_type, true)
        })
        .collect::<Vec<_>>();
    Arc::new(Schema::new(fields))
}

/// `CUSTOMER_ID` → `customer_id`; `METADATA$ACTION` and quoted mixed-case names unchanged.
fn column_name(name: &str) -> String {
    let unquoted_upper = name
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if unquoted_upper && !name.starts_with("METADATA$") {
        name.to_ascii_lowercase()
    } else {
        name.to_owned()
    }
}

/// Rows into a batch of `schema`, column `i` of the batch from value `i` of each row.
pub(crate) fn rows_to_batch(
    rows: &[DynamicRow],
    schema: SchemaRef,
    relation: &str,
) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| {
            column(rows, i, field.data_type()).map_err(|(row, value, reason)| {
                SnowflakeError::Decode {
                    relation: relation.to_owned(),
                    row,
                    column: field.name().clone(),
                    value,
                    reason,
                }
            })
        })
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new(schema, columns).map_err(|e| SnowflakeError::Decode {
        relation: relation.to_owned(),
        row: 0,
        column: String::new(),
        value: String::new(),
        reason: e.to_string(),
    })
}

type CellError = (usize, String, String);

fn column(rows: &[DynamicRow], index: usize, data_type: &DataType) -> Result<ArrayRef, CellError> {
    let cells = rows.iter().enumerate().map(|(r, row)| {
        row.value_at(index)
            .map_err(|e| (r, String::new(), e.to_string()))
            .map(|v| (r, v))
    });
    let bad = |r: usize, v: &CellValue, want: &str| (r, format!("{v:?}"), format!("not {want}"));
    Ok(match data_type {
        DataType::Int64 => {
            let mut b = Int64Builder::with_capacity(rows.len());
            for cell in cells {
                let (r, v) = cell?;
                b.append_option(match v {
                    CellValue::Null => None,
                    CellValue::Integer(i) => {
                        Some(i64::try_from(*i).map_err(|_| bad(r, v, "a 64-bit integer"))?)
                    }
                    CellValue::Decimal(d) => {
                        Some(d.raw().parse().map_err(|_| bad(r, v, "an integer"))?)
                    }
                    CellValue::String(s) => Some(s.parse().map_err(|_| bad(r, v, "an integer"))?),
                    _ => return Err(bad(r, v, "a number")),
                });
            }
            Arc::new(b.finish())
        }
        DataType::Float64 => {
            let mut b = Float64Builder::with_capacity(rows.len());
            for cell in cells {
                let (r, v) = cell?;
                b.append_option(match v {
                    CellValue::Null => None,
                    CellValue::Float(f) => Some(*f),
                    CellValue::Integer(i) => Some(*i as f64),
                    CellValue::Decimal(d) => {
                        Some(d.raw().parse().map_err(|_| bad(r, v, "a number"))?)
                    }
                    _ => return Err(bad(r, v, "a number")),
                });
            }
            Arc::new(b.finish())
        }
        DataType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(rows.len());
            for cell in cells {
                let (r, v) = cell?;
                b.append_option(match v {
                    CellValue::Null => None,
                    CellValue::Boolean(x) => Some(*x),
                    CellValue::Integer(i) => Some(*i != 0),
                    _ => return Err(bad(r, v, "a boolean")),
                });
            }
            Arc::new(b.finish())
        }
        DataType::Date32 => {
            let mut b = Date32Builder::with_capacity(rows.len());
            let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
            for cell in cells {
                let (r, v) = cell?;
                b.append_option(match v {
                    CellValue::Null => None,
                    CellValue::Date(d) => Some((*d - epoch).num_days() as i32),
                    _ => return Err(bad(r, v, "a date")),
                });
            }
            Arc::new(b.finish())
        }
        DataType::Timestamp(TimeUnit::Microsecond, None) => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(rows.len());
            for cell in cells {
                let (r, v) = cell?;
                b.append_option(match v {
                    CellValue::Null => None,
                    CellValue::TimestampNtz(t) => Some(t.and_utc().timestamp_micros()),
                    CellValue::TimestampLtz(t) => Some(t.timestamp_micros()),
                    CellValue::TimestampTz(t) => Some(t.timestamp_micros()),
                    _ => return Err(bad(r, v, "a timestamp")),
                });
            }
            Arc::new(b.finish())
        }
        _ => {
            let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 16);
            for cell in cells {
                let (_, v) = cell?;
                match v {
                    CellValue::Null => b.append_null(),
                    CellValue::String(s) => b.append_value(s),
                    CellValue::Boolean(x) => b.append_value(if *x { "TRUE" } else { "FALSE" }),
                    CellValue::Integer(i) => b.append_value(i.to_string()),
                    CellValue::Decimal(d) => b.append_value(d.raw()),
                    CellValue::Float(f) => b.append_value(f.to_string()),
                    other => b.append_value(format!("{other:?}")),
                }
            }
            Arc::new(b.finish())
        }
    })
}
