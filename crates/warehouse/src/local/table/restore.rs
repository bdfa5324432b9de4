//! Rebuilding a keyed table's rows from a checkpoint and the log entries after it, by row id,
//! and the row id column of checkpoint and segment files.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, UInt64Array};
use arrow::compute::{concat_batches, filter_record_batch};
use arrow::datatypes::{DataType, Field, SchemaBuilder, SchemaRef};

use crate::error::{Result, WarehouseError};

/// Name of the row id column in checkpoint and segment files.
pub(crate) const ROW_ID_COLUMN: &str = "__snowdrift_row_id";

/// A table's rows being rebuilt from a checkpoint and log entries.
#[derive(Debug, Default)]
pub(crate) struct Restoring {
    batches: Vec<RecordBatch>,
    live: HashMap<u64, (usize, usize)>,
    /// Applied sequences read back, oldest first.
    pub(crate) sequences: Vec<RecordBatch>,
}

impl Restoring {
    pub(crate) fn from_snapshot(snapshot: Option<RecordBatch>) -> Result<Self> {
        let mut restoring = Restoring::default();
        if let Some(batch) = snapshot {
            let (batch, ids) = split_row_ids(&batch)?;
            for (row, id) in ids.into_iter().enumerate() {
                restoring.live.insert(id, (0, row));
            }
            restoring.batches.push(batch);
        }
        Ok(restoring)
    }

    /// A change set read back from the log: DELETE rows leave, INSERT rows arrive with their
    /// row ids.
    pub(crate) fn apply(&mut self, changes: &RecordBatch) -> Result<()> {
        let action = string_column(changes, snowdrift_scd::ACTION)?;
        let ids = string_column(changes, snowdrift_scd::ROW_ID)?;
        let parse = |i: usize| u64::from_str_radix(ids.value(i), 16).unwrap_or(u64::MAX);
        for i in 0..changes.num_rows() {
            if action.value(i) == "DELETE" {
                self.live.remove(&parse(i));
            }
        }
        let inserts: Vec<usize> = (0..changes.num_rows())
            .filter(|&i| action.value(i) == "INSERT")
            .collect();
        if inserts.is_empty() {
            return Ok(());
        }
        let index = self.batches.len();
        let mask: arrow::array::BooleanArray = (0..changes.num_rows())
            .map(|i| Some(action.value(i) == "INSERT"))
            .collect();
        let table_columns =
            changes
                .num_columns()
                .checked_sub(3)
                .ok_or_else(|| WarehouseError::Corrupt {
                    path: "(change set)".into(),
                    reason: format!(
                        "{} columns, fewer than the three metadata columns",
                        changes.num_columns()
                    ),
                })?;
        let projected = changes.project(&(0..table_columns).collect::<Vec<_>>())?;
        self.batches.push(filter_record_batch(&projected, &mask)?);
        for (row, i) in inserts.into_iter().enumerate() {
            self.live.insert(parse(i), (index, row));
        }
        Ok(())
    }

    /// Rows that left memory for a segment (retired versions): not live here any more.
    pub(crate) fn remove(&mut self, row_ids: &[u64]) {
        for id in row_ids {
            self.live.remove(id);
        }
    }

    /// The live rows with a row id column.
    pub(crate) fn finish(self, schema: &SchemaRef) -> Result<RecordBatch> {
        let mut by_batch: Vec<Vec<(usize, u64)>> = vec![Vec::new(); self.batches.len()];
        for (id, (batch, row)) in &self.live {
            by_batch[*batch].push((*row, *id));
        }
        let mut parts = Vec::new();
        let mut ids = Vec::new();
        for (batch, mut rows) in self.batches.iter().zip(by_batch) {
            rows.sort_unstable();
            let take =
                arrow::array::UInt32Array::from_iter_values(rows.iter().map(|(r, _)| *r as u32));
            let columns = batch
                .columns()
                .iter()
                .map(|c| arrow::compute::take(c, &take, None))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            parts.push(RecordBatch::try_new(schema.clone(), columns)?);
            ids.extend(rows.iter().map(|(_, id)| *id));
        }
        with_row_ids(&concat_batches(schema, &parts)?, ids)
    }
}

fn string_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| WarehouseError::Corrupt {
            path: "(change set)".into(),
            reason: format!("no text column `{name}`"),
        })
}

/// `batch` with the row ids as a last column (the checkpoint form of a table); the inverse of
/// [`split_row_ids`].
pub(crate) fn with_row_ids(batch: &RecordBatch, ids: Vec<u64>) -> Result<RecordBatch> {
    let mut fields = SchemaBuilder::from(batch.schema().fields());
    fields.push(Field::new(ROW_ID_COLUMN, DataType::UInt64, false));
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(UInt64Array::from(ids)));
    Ok(RecordBatch::try_new(Arc::new(fields.finish()), columns)?)
}

/// Splits the row id column off a checkpoint batch.
pub(crate) fn split_row_ids(batch: &RecordBatch) -> Result<(RecordBatch, Vec<u64>)> {
    let index = batch
        .schema()
        .index_of(ROW_ID_COLUMN)
        .map_err(|_| WarehouseError::Corrupt {
            path: "(table snapshot)".into(),
            reason: format!("no `{ROW_ID_COLUMN}` column"),
        })?;
    let ids = batch
        .column(index)
        .as_any()
        .downcast_ref::<UInt64Array>()
        .ok_or_else(|| WarehouseError::Corrupt {
            path: "(table snapshot)".into(),
            reason: format!("`{ROW_ID_COLUMN}` is not UInt64"),
        })?
        .values()
        .to_vec();
    let keep: Vec<usize> = (0..batch.num_columns()).filter(|&i| i != index).collect();
    Ok((batch.project(&keep)?, ids))
}

/// The column of `batch` (read from the file `file`) named as `field`, if it has one; one of
/// another type means the file is not the table's. The one check of a stored column against
/// its table, for whole reads ([`conform`]) and projected ones (`scan::widen`).
pub(crate) fn stored_column(
    batch: &RecordBatch,
    field: &Field,
    file: &str,
) -> Result<Option<ArrayRef>> {
    let Some(column) = batch.column_by_name(field.name()) else {
        return Ok(None);
    };
    if column.data_type() != field.data_type() {
        return Err(WarehouseError::Corrupt {
            path: file.to_owned(),
            reason: format!(
                "column `{}` is {}, the table's is {}",
                field.name(),
                column.data_type(),
                field.data_type()
            ),
        });
    }
    Ok(Some(column.clone()))
}

/// `batch`'s columns in `schema`, by name (a file read back from storage). A column the
/// file lacks, or of another type, means the file is not the table's.
pub(crate) fn conform(batch: &RecordBatch, schema: &SchemaRef, file: &str) -> Result<RecordBatch> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch.clone());
    }
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            stored_column(batch, field, file)?.ok_or_else(|| WarehouseError::Corrupt {
                path: file.to_owned(),
                reason: format!("no column `{}`", field.name()),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &options,
    )?)
}
