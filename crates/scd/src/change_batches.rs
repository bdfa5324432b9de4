//! Reading change batches: columns found by name and cast to the table's
//! types, operations parsed, sequences read, keys encoded, and one winner
//! chosen per key. A row that cannot be applied (unknown operation, NULL key
//! or sequence, a value that does not fit its column) is set aside as a
//! [`Rejection`] with its row, column and value; under [`OnBadRow::Fail`]
//! the first one fails the merge instead.

use arrow::array::{
    Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::compute::{CastOptions, cast_with_options, concat_batches};
use arrow::datatypes::DataType;
use hashbrown::HashMap;

use crate::changeset::{ACTION, IS_UPDATE};
use crate::keys::{KeyRef, Keys, display_value};
use crate::operation::{ChangeOp, Operation};
use crate::reject::{OnBadRow, RejectReason, Rejection};
use crate::spec::{ChangeFormat, TIMESTAMP};
use crate::table::Table;
use crate::{Result, ScdError, TableSpec};

/// The rows of one merge, read and validated.
#[derive(Debug)]
pub(crate) struct Changes {
    /// Business columns of every row, in the table's types.
    pub(crate) business: RecordBatch,
    /// Per row: the operation, or `None` for the skipped half of an update
    /// and for rejected rows.
    pub(crate) ops: Vec<Option<ChangeOp>>,
    /// Per row: the sequence value (integers as is, timestamps in µs).
    pub(crate) sequence: Option<Vec<i64>>,
    /// Whether the sequence is a timestamp (then it can date versions).
    pub(crate) sequence_is_time: bool,
    /// Rows that cannot be applied, in row order.
    pub(crate) rejected: Vec<Rejection>,
    /// Whether the rows come from a stream (a DELETE then ranks below an
    /// INSERT of the same key, whatever their order).
    pub(crate) from_stream: bool,
    pub(crate) keys: Keys,
    /// Rows that truncate the table (`APPLY AS TRUNCATE WHEN`), in row order;
    /// their `ops` are `None`.
    pub(crate) truncates: Vec<usize>,
    /// The first row of each input batch (of each snapshot, for a snapshot
    /// source).
    pub(crate) batch_starts: Vec<usize>,
}

/// Rejections found while reading one batch, by row (a row keeps its first).
#[derive(Default)]
struct Found {
    rejected: std::collections::BTreeMap<usize, Rejection>,
}

impl Found {
    /// Takes the rejections of `other` for rows that have none here (a row
    /// keeps its first reason).
    fn absorb(&mut self, other: Found) {
        for (row, rejection) in other.rejected {
            self.rejected.entry(row).or_insert(rejection);
        }
    }

    /// A truncate row is judged by its sequence alone: it names no key and
    /// carries no values, so only `sequence` (its rejection, if any) counts.
    fn judge_truncate(&mut self, row: usize, sequence: &mut Found) {
        self.rejected.remove(&row);
        if let Some(rejection) = sequence.rejected.remove(&row) {
            self.rejected.insert(row, rejection);
        }
    }

    fn reject(
        &mut self,
        row: usize,
        reason: RejectReason,
        column: &str,
        detail: impl FnOnce() -> String,
    ) {
        self.rejected.entry(row).or_insert_with(|| Rejection {
            row,
            reason,
            column: Some(column.to_string()),
            detail: detail(),
        });
    }
}

impl Changes {
    pub(crate) fn read(spec: &TableSpec, table: &Table, batches: &[&RecordBatch]) -> Result<Self> {
        let mut parts = Vec::with_capacity(batches.len());
        let mut ops = Vec::new();
        let mut sequence = spec.sequence().map(|_| Vec::new());
        let mut sequence_is_time = false;
        let mut found = Found::default();
        let schema = nullable(spec.schema());
        let mut offset = 0;
        let mut truncates = Vec::new();
        let mut batch_starts = Vec::with_capacity(batches.len());
        for batch in batches {
            batch_starts.push(offset);
            let business = business_columns(spec, batch, offset, &mut found)?;
            read_ops(spec, batch, offset, &mut ops, &mut found)?;
            let mut sequence_found = Found::default();
            if let (Some(name), Some(out)) = (spec.sequence(), sequence.as_mut()) {
                sequence_is_time =
                    read_sequence(spec, name, batch, offset, out, &mut sequence_found)?;
            }
            if let Some(condition) = spec.truncate_when() {
                let marked = condition.evaluate(spec.name(), batch)?;
                for row in (0..marked.len()).filter(|&r| marked[r]) {
                    found.judge_truncate(offset + row, &mut sequence_found);
                    truncates.push(offset + row);
                }
            }
            found.absorb(sequence_found);
            parts.push(RecordBatch::try_new(schema.clone(), business)?);
            offset += batch.num_rows();
        }
        truncates.retain(|row| !found.rejected.contains_key(row));
        let rejected: Vec<Rejection> = found.rejected.into_values().collect();
        if spec.on_bad_row() == OnBadRow::Fail
            && let Some(first) = rejected.first()
        {
            return Err(ScdError::BadRow {
                table: spec.name().to_string(),
                row: first.row,
                reason: first.reason,
                column: first.column.clone().unwrap_or_default(),
                detail: first.detail.clone(),
            });
        }
        for row in rejected
            .iter()
            .map(|r| r.row)
            .chain(truncates.iter().copied())
        {
            ops[row] = None;
        }
        let business = concat_batches(&schema, &parts)?;
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
            rejected,
            from_stream: spec.format() == &ChangeFormat::Stream,
            keys,
            truncates,
            batch_starts,
        })
    }

    /// Appends `rows` (business columns in the table's types) as deletes at
    /// `sequence`: the implicit deletes of a truncate or a snapshot. The
    /// keys are encoded again, so this costs the whole change set; it runs
    /// only in merges that truncate or read a snapshot.
    pub(crate) fn append_deletes(
        &mut self,
        table: &Table,
        spec: &TableSpec,
        rows: &RecordBatch,
        sequence: i64,
    ) -> Result<()> {
        let schema = self.business.schema();
        let columns = schema
            .fields()
            .iter()
            .map(|f| {
                let column =
                    rows.column_by_name(f.name())
                        .ok_or_else(|| ScdError::MissingColumn {
                            table: spec.name().to_string(),
                            column: f.name().clone(),
                        })?;
                cast_to(spec, f.name(), column, f.data_type())
            })
            .collect::<Result<Vec<_>>>()?;
        let deletes = RecordBatch::try_new(schema.clone(), columns)?;
        self.business = concat_batches(&schema, [&self.business, &deletes])?;
        self.ops.extend(std::iter::repeat_n(
            Some(ChangeOp::Delete),
            deletes.num_rows(),
        ));
        if let Some(s) = self.sequence.as_mut() {
            s.extend(std::iter::repeat_n(sequence, deletes.num_rows()));
        }
        let key_columns: Vec<ArrayRef> = spec
            .key()
            .iter()
            .map(|&i| self.business.column(i).clone())
            .collect();
        self.keys = table.encode_keys(&key_columns)?;
        Ok(())
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

    /// The order of a key's rows: sequence, then (stream input) a DELETE
    /// before an INSERT, then row number.
    pub(crate) fn rank(&self, row: usize) -> (i64, u8, usize) {
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

/// `col` as `to`, strictly: a value that does not convert is an error, never a NULL.
pub(crate) fn cast_to(
    spec: &TableSpec,
    name: &str,
    col: &ArrayRef,
    to: &DataType,
) -> Result<ArrayRef> {
    cast_checked(spec, name, col, to, false)
}

/// `col` as `to`; with `safe`, a value that does not convert becomes NULL
/// (the caller rejects its row). A column of a type that cannot be
/// converted at all is a schema error for the whole merge either way.
fn cast_checked(
    spec: &TableSpec,
    name: &str,
    col: &ArrayRef,
    to: &DataType,
    safe: bool,
) -> Result<ArrayRef> {
    if col.data_type() == to {
        return Ok(col.clone());
    }
    let options = CastOptions {
        safe,
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

/// `schema` with every field nullable: the rows as read, rejected ones
/// included (a rejected row may hold a NULL where the table allows none).
fn nullable(schema: &arrow::datatypes::SchemaRef) -> arrow::datatypes::SchemaRef {
    let fields: Vec<arrow::datatypes::Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    std::sync::Arc::new(arrow::datatypes::Schema::new(fields))
}

/// The business columns of `batch` in the table's types. A value that does
/// not convert becomes NULL and its row a `bad_value` rejection; a NULL key a
/// `null_key` one, a NULL in another NOT NULL column a `bad_value` one.
fn business_columns(
    spec: &TableSpec,
    batch: &RecordBatch,
    offset: usize,
    found: &mut Found,
) -> Result<Vec<ArrayRef>> {
    let mut out = Vec::with_capacity(spec.schema().fields().len());
    for (i, field) in spec.schema().fields().iter().enumerate() {
        let name = field.name();
        let original = column(spec, batch, name)?;
        let col = cast_lenient(spec, name, original, field.data_type())?;
        if col.null_count() > original.null_count() {
            for row in (0..col.len()).filter(|&r| col.is_null(r) && original.is_valid(r)) {
                found.reject(offset + row, RejectReason::BadValue, name, || {
                    format!(
                        "{} cannot be read as {}",
                        display_value(original.as_ref(), row),
                        field.data_type()
                    )
                });
            }
        }
        let is_key = spec.key().contains(&i);
        if (is_key || !field.is_nullable()) && original.null_count() > 0 {
            let reason = if is_key {
                RejectReason::NullKey
            } else {
                RejectReason::BadValue
            };
            for row in (0..original.len()).filter(|&r| original.is_null(r)) {
                found.reject(offset + row, reason, name, || {
                    if is_key {
                        "a key may not be NULL".into()
                    } else {
                        "NULL in a NOT NULL column".into()
                    }
                });
            }
        }
        out.push(col);
    }
    Ok(out)
}

/// `col` as `to`, values that do not convert as NULL (see [`cast_checked`]).
fn cast_lenient(spec: &TableSpec, name: &str, col: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    cast_checked(spec, name, col, to, true)
}

fn read_ops(
    spec: &TableSpec,
    batch: &RecordBatch,
    offset: usize,
    out: &mut Vec<Option<ChangeOp>>,
    found: &mut Found,
) -> Result<()> {
    match spec.format() {
        ChangeFormat::Upserts => out.extend(std::iter::repeat_n(
            Some(ChangeOp::Upsert),
            batch.num_rows(),
        )),
        ChangeFormat::DeleteWhen(predicate) => {
            let deletes = predicate.evaluate(spec.name(), batch)?;
            out.extend(deletes.into_iter().map(|delete| {
                Some(match delete {
                    true => ChangeOp::Delete,
                    false => ChangeOp::Upsert,
                })
            }));
        }
        ChangeFormat::OperationColumn(name) => {
            let col = cast_to(spec, name, column(spec, batch, name)?, &DataType::Utf8)?;
            let ops = col
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("cast to Utf8");
            for row in 0..ops.len() {
                let op = (!ops.is_null(row))
                    .then(|| Operation::parse(ops.value(row)))
                    .flatten();
                if op.is_none() {
                    found.reject(offset + row, RejectReason::BadOperation, name, || {
                        format!(
                            "not an operation ({}): {}",
                            Operation::accepted(),
                            display_value(ops, row)
                        )
                    });
                }
                out.push(op.map(Operation::change_op));
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
                        found.reject(offset + row, RejectReason::BadOperation, ACTION, || {
                            format!(
                                "a stream action must be INSERT or DELETE: {}",
                                display_value(action, row)
                            )
                        });
                        None
                    }
                };
                out.push(op);
            }
        }
    }
    Ok(())
}

/// Append the sequence values of `batch` (0 for a NULL, whose row is
/// rejected); returns whether they are times.
fn read_sequence(
    spec: &TableSpec,
    name: &str,
    batch: &RecordBatch,
    offset: usize,
    out: &mut Vec<i64>,
    found: &mut Found,
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
        let v = cast_lenient(spec, name, col, &DataType::Int64)?;
        let v = v
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("cast to Int64");
        for row in (0..v.len()).filter(|&r| v.is_null(r) && col.is_valid(r)) {
            found.reject(offset + row, RejectReason::BadValue, name, || {
                format!(
                    "{} does not fit a 64-bit sequence",
                    display_value(col.as_ref(), row)
                )
            });
        }
        v.iter().collect()
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
        if v.is_none() && col.is_null(row) {
            found.reject(offset + row, RejectReason::NullSequence, name, || {
                "a sequence may not be NULL".into()
            });
        }
        out.push(v.unwrap_or(0));
    }
    Ok(is_time)
}
