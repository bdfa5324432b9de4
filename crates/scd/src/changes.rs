//! Reading change batches: columns found by name and cast to the table's
//! types, operations parsed, sequences read, keys encoded, and one winner
//! chosen per key — every problem reported with its row, column and value.

use arrow::array::{
    Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::compute::{CastOptions, cast_with_options, concat_batches};
use arrow::datatypes::DataType;
use hashbrown::HashMap;

use crate::changeset::{ACTION, IS_UPDATE};
use crate::keys::{KeyRef, Keys, display_value};
use crate::spec::{ChangeFormat, TIMESTAMP};
use crate::table::Table;
use crate::{Result, ScdError, TableSpec};

/// What a change row asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    /// Insert the key, or update it if it exists.
    Upsert,
    /// Delete the key.
    Delete,
}

/// The rows of one merge, read and validated.
#[derive(Debug)]
pub(crate) struct Changes {
    /// Business columns of every row, in the table's types.
    pub(crate) business: RecordBatch,
    /// Per row: the operation, or `None` for the skipped half of an update.
    pub(crate) ops: Vec<Option<ChangeOp>>,
    /// Per row: the sequence value (integers as is, timestamps in µs).
    pub(crate) sequence: Option<Vec<i64>>,
    /// Whether the sequence is a timestamp (then it can date versions).
    pub(crate) sequence_is_time: bool,
    /// Whether the rows come from a stream (a DELETE then ranks below an
    /// INSERT of the same key, whatever their order).
    from_stream: bool,
    pub(crate) keys: Keys,
}

impl Changes {
    pub(crate) fn read(spec: &TableSpec, table: &Table, batches: &[&RecordBatch]) -> Result<Self> {
        let mut parts = Vec::with_capacity(batches.len());
        let mut ops = Vec::new();
        let mut sequence = spec.sequence().map(|_| Vec::new());
        let mut sequence_is_time = false;
        let mut offset = 0;
        for batch in batches {
            let business = business_columns(spec, batch, offset)?;
            read_ops(spec, batch, offset, &mut ops)?;
            if let (Some(name), Some(out)) = (spec.sequence(), sequence.as_mut()) {
                sequence_is_time = read_sequence(spec, name, batch, offset, out)?;
            }
            parts.push(RecordBatch::try_new(spec.schema().clone(), business)?);
            offset += batch.num_rows();
        }
        let business = concat_batches(spec.schema(), &parts)?;
        let key_columns: Vec<ArrayRef> = spec
            .key()
            .iter()
            .map(|&i| business.column(i).clone())
            .collect();
        let keys = table.encode_keys(&key_columns)?;
        Ok(Self {
            business,
            ops,
            sequence,
            sequence_is_time,
            from_stream: spec.format() == &ChangeFormat::Stream,
            keys,
        })
    }

    pub(crate) fn key(&self, row: usize) -> KeyRef<'_> {
        self.keys.get(row)
    }

    /// One winner per key: the greatest `(sequence, operation rank, row)`.
    /// The operation rank matters only for stream rows, where a DELETE ranks
    /// below an INSERT of the same key (the stream's net change says the key
    /// exists at the end); elsewhere the later row wins.
    /// Returned in ascending row order; also the count of losing rows.
    pub(crate) fn winners(&self) -> (Vec<usize>, usize) {
        let mut best: HashMap<KeyRef<'_>, usize> = HashMap::with_capacity(self.ops.len());
        let mut considered = 0;
        for row in 0..self.ops.len() {
            if self.ops[row].is_none() {
                continue;
            }
            considered += 1;
            let key = self.key(row);
            match best.get_mut(&key) {
                Some(w) if self.rank(row) >= self.rank(*w) => *w = row,
                Some(_) => {}
                None => {
                    best.insert(key, row);
                }
            }
        }
        let mut winners: Vec<usize> = best.into_values().collect();
        winners.sort_unstable();
        let superseded = considered - winners.len();
        (winners, superseded)
    }

    fn rank(&self, row: usize) -> (i64, u8, usize) {
        let seq = self.sequence.as_ref().map_or(0, |s| s[row]);
        let op = u8::from(self.from_stream && self.ops[row] == Some(ChangeOp::Upsert));
        (seq, op, row)
    }
}

fn column<'a>(spec: &TableSpec, batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| ScdError::MissingColumn {
            table: spec.name().to_string(),
            column: name.to_string(),
        })
}

pub(crate) fn cast_to(
    spec: &TableSpec,
    name: &str,
    col: &ArrayRef,
    to: &DataType,
) -> Result<ArrayRef> {
    if col.data_type() == to {
        return Ok(col.clone());
    }
    // Strict: a value that does not convert is an error, never a NULL.
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    cast_with_options(col, to, &options).map_err(|e| ScdError::ColumnType {
        table: spec.name().to_string(),
        column: name.to_string(),
        expected: to.clone(),
        found: col.data_type().clone(),
        reason: e.to_string(),
    })
}

fn bad_value(
    spec: &TableSpec,
    row: usize,
    column: &str,
    value: String,
    reason: &'static str,
) -> ScdError {
    ScdError::BadValue {
        table: spec.name().to_string(),
        row,
        column: column.to_string(),
        value,
        reason,
    }
}

fn business_columns(spec: &TableSpec, batch: &RecordBatch, offset: usize) -> Result<Vec<ArrayRef>> {
    let mut out = Vec::with_capacity(spec.schema().fields().len());
    for (i, field) in spec.schema().fields().iter().enumerate() {
        let col = cast_to(
            spec,
            field.name(),
            column(spec, batch, field.name())?,
            field.data_type(),
        )?;
        if spec.key().contains(&i) && col.null_count() > 0 {
            let row = (0..col.len()).find(|&r| col.is_null(r)).unwrap_or(0);
            return Err(bad_value(
                spec,
                offset + row,
                field.name(),
                "NULL".into(),
                "a key may not be NULL",
            ));
        }
        out.push(col);
    }
    Ok(out)
}

fn read_ops(
    spec: &TableSpec,
    batch: &RecordBatch,
    offset: usize,
    out: &mut Vec<Option<ChangeOp>>,
) -> Result<()> {
    match spec.format() {
        ChangeFormat::Upserts => out.extend(std::iter::repeat_n(
            Some(ChangeOp::Upsert),
            batch.num_rows(),
        )),
        ChangeFormat::OperationColumn(name) => {
            let col = cast_to(spec, name, column(spec, batch, name)?, &DataType::Utf8)?;
            let ops = col
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("cast to Utf8");
            for row in 0..ops.len() {
                let op = (!ops.is_null(row))
                    .then(|| parse_op(ops.value(row)))
                    .flatten();
                let op = op.ok_or_else(|| {
                    bad_value(
                        spec,
                        offset + row,
                        name,
                        display_value(ops, row),
                        "not an operation (INSERT, UPDATE, UPSERT, MERGE, DELETE, I, U, D)",
                    )
                })?;
                out.push(Some(op));
            }
        }
        ChangeFormat::Stream => {
            let action = cast_to(spec, ACTION, column(spec, batch, ACTION)?, &DataType::Utf8)?;
            let action = action
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("cast to Utf8");
            let update = cast_to(
                spec,
                IS_UPDATE,
                column(spec, batch, IS_UPDATE)?,
                &DataType::Boolean,
            )?;
            let update = update
                .as_any()
                .downcast_ref::<BooleanArray>()
                .expect("cast to Boolean");
            for row in 0..action.len() {
                let is_update = update.is_valid(row) && update.value(row);
                let op = match (action.is_valid(row).then(|| action.value(row)), is_update) {
                    (Some("INSERT"), _) => Some(ChangeOp::Upsert),
                    (Some("DELETE"), false) => Some(ChangeOp::Delete),
                    (Some("DELETE"), true) => None,
                    _ => {
                        return Err(bad_value(
                            spec,
                            offset + row,
                            ACTION,
                            display_value(action, row),
                            "a stream action must be INSERT or DELETE",
                        ));
                    }
                };
                out.push(op);
            }
        }
    }
    Ok(())
}

/// Parse an operation (case-insensitive).
pub(crate) fn parse_op(s: &str) -> Option<ChangeOp> {
    match s.trim().to_ascii_uppercase().as_str() {
        "INSERT" | "I" | "UPDATE" | "U" | "UPSERT" | "MERGE" | "C" | "CREATE" => {
            Some(ChangeOp::Upsert)
        }
        "DELETE" | "D" => Some(ChangeOp::Delete),
        _ => None,
    }
}

/// Append the sequence values of `batch`; returns whether they are times.
fn read_sequence(
    spec: &TableSpec,
    name: &str,
    batch: &RecordBatch,
    offset: usize,
    out: &mut Vec<i64>,
) -> Result<bool> {
    let col = column(spec, batch, name)?;
    let is_time = matches!(
        col.data_type(),
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
    );
    let values: Vec<Option<i64>> = if is_time {
        let t = cast_to(spec, name, col, &TIMESTAMP)?;
        let t = t
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .expect("cast to µs");
        t.iter().collect()
    } else if col.data_type().is_integer() {
        let v = cast_to(spec, name, col, &DataType::Int64)?;
        v.as_any()
            .downcast_ref::<Int64Array>()
            .expect("cast to Int64")
            .iter()
            .collect()
    } else {
        return Err(ScdError::ColumnType {
            table: spec.name().to_string(),
            column: name.to_string(),
            expected: DataType::Int64,
            found: col.data_type().clone(),
            reason: "a sequence must be an integer, a timestamp or a date".into(),
        });
    };
    for (row, v) in values.into_iter().enumerate() {
        out.push(v.ok_or_else(|| {
            bad_value(
                spec,
                offset + row,
                name,
                "NULL".into(),
                "a sequence may not be NULL",
            )
        })?);
    }
    Ok(is_time)
}
