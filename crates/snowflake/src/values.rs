//! Arrow rows as SQL: `INSERT … VALUES` statements whose values are escaped literals (strings
//! through [`crate::sql::literal`], numbers and booleans printed, timestamps as
//! `TIMESTAMP_NTZ` literals), in chunks so no statement grows without bound.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Date32Type, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType,
};

use crate::error::{Result, SnowflakeError};
use crate::merge::timestamp_literal;
use crate::sql::{ident, literal};
use snowdrift_warehouse::ObjectKind;

/// Rows per `INSERT` statement.
pub const ROWS_PER_INSERT: usize = 1_000;

/// `INSERT INTO <table> (<batch's columns>) VALUES …` for every row of `batch`, in chunks of
/// [`ROWS_PER_INSERT`]. `table` is an already qualified, quoted name.
///
/// ```
/// use std::sync::Arc;
/// use arrow::array::{Int64Array, RecordBatch, StringArray};
/// use arrow::datatypes::{DataType, Field, Schema};
/// use snowdrift_snowflake::values::insert_statements;
///
/// let schema = Arc::new(Schema::new(vec![
///     Field::new("id", DataType::Int64, false),
///     Field::new("name", DataType::Utf8, true),
/// ]));
/// let batch = RecordBatch::try_new(schema, vec![
///     Arc::new(Int64Array::from(vec![1, 2])),
///     Arc::new(StringArray::from(vec![Some("O'Brien"), None])),
/// ])?;
/// let sql = insert_statements("\"T\"", &batch)?;
/// assert_eq!(sql, vec!["INSERT INTO \"T\" (\"ID\", \"NAME\") VALUES (1, 'O''Brien'), (2, NULL)"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`SnowflakeError::InvalidIdentifier`] for a column name Snowflake cannot hold, and
/// [`SnowflakeError::Unsupported`] for a column type with no literal here.
pub fn insert_statements(table: &str, batch: &RecordBatch) -> Result<Vec<String>> {
    let schema = batch.schema();
    let columns = schema
        .fields()
        .iter()
        .map(|f| ident(ObjectKind::Table, f.name()))
        .collect::<Result<Vec<_>>>()?;
    let mut statements = Vec::new();
    let mut start = 0;
    while start < batch.num_rows() {
        let len = ROWS_PER_INSERT.min(batch.num_rows() - start);
        let rows = (start..start + len)
            .map(|row| {
                let values = batch
                    .columns()
                    .iter()
                    .zip(schema.fields())
                    .map(|(column, field)| value(column.as_ref(), row, field.name()))
                    .collect::<Result<Vec<_>>>()?;
                Ok(format!("({})", values.join(", ")))
            })
            .collect::<Result<Vec<_>>>()?;
        statements.push(format!(
            "INSERT INTO {table} ({}) VALUES {}",
            columns.join(", "),
            rows.join(", ")
        ));
        start += len;
    }
    Ok(statements)
}

/// One value as a SQL literal.
pub(crate) fn value(column: &dyn Array, row: usize, name: &str) -> Result<String> {
    if column.is_null(row) {
        return Ok("NULL".into());
    }
    Ok(match column.data_type() {
        DataType::Int64 => column.as_primitive::<Int64Type>().value(row).to_string(),
        DataType::Float64 => {
            let v = column.as_primitive::<Float64Type>().value(row);
            if v.is_finite() {
                format!("{v:?}")
            } else {
                format!("{}::FLOAT", literal(&v.to_string()))
            }
        }
        DataType::Boolean => if column.as_boolean().value(row) {
            "TRUE"
        } else {
            "FALSE"
        }
        .into(),
        DataType::Utf8 => literal(column.as_string::<i32>().value(row)),
        DataType::Date32 => {
            let days = column.as_primitive::<Date32Type>().value(row);
            format!("DATEADD(DAY, {days}, '1970-01-01'::DATE)")
        }
        DataType::Timestamp(TimeUnit::Microsecond, None) => {
            timestamp_literal(column.as_primitive::<TimestampMicrosecondType>().value(row))
        }
        other => {
            return Err(SnowflakeError::Unsupported {
                object: format!("column {name}"),
                what: format!("values of Arrow type {other} in an INSERT"),
            });
        }
    })
}
