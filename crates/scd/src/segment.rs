//! The segments of a [`crate::Table`] (append-only Arrow batches with a deletion vector each,
//! shared and copied on write) and [`TableSnapshot`], a table's rows at one moment, readable
//! while the table goes on changing.

use std::sync::Arc;

use arrow::array::{BooleanArray, RecordBatch, UInt64Array};
use arrow::compute::{concat_batches, filter_record_batch};
use arrow::datatypes::SchemaRef;

use crate::Result;

/// Segments are shared with [`TableSnapshot`]s (`Arc`) and copied on write:
/// a merge that marks rows of a segment a snapshot still holds copies only
/// its deletion vector (the rows and row ids are immutable, shared).
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub(crate) batch: RecordBatch,
    pub(crate) row_ids: Arc<[u64]>,
    pub(crate) deleted: Vec<bool>,
    pub(crate) deleted_count: usize,
}

impl Segment {
    pub(crate) fn live_rows(&self) -> usize {
        self.batch.num_rows() - self.deleted_count
    }

    pub(crate) fn live_mask(&self) -> BooleanArray {
        self.deleted.iter().map(|d| Some(!d)).collect()
    }
}

/// A table's rows at one moment ([`crate::Table::snapshot`]), readable while the
/// table changes.
#[derive(Debug, Clone)]
pub struct TableSnapshot {
    pub(crate) schema: SchemaRef,
    pub(crate) segments: Vec<Arc<Segment>>,
    pub(crate) rows: usize,
}

impl TableSnapshot {
    /// Rows in it.
    pub fn num_rows(&self) -> usize {
        self.rows
    }

    /// Every row and its row id, in storage order.
    ///
    /// # Errors
    ///
    /// [`crate::ScdError::Arrow`] if the rows cannot be filtered or concatenated.
    pub fn to_batch_with_row_ids(&self) -> Result<(RecordBatch, UInt64Array)> {
        rows_of(&self.schema, &self.segments, self.rows)
    }
}

/// The live rows of `segments` and their row ids.
pub(crate) fn rows_of(
    schema: &SchemaRef,
    segments: &[Arc<Segment>],
    rows: usize,
) -> Result<(RecordBatch, UInt64Array)> {
    let mut parts = Vec::with_capacity(segments.len());
    let mut ids = Vec::with_capacity(rows);
    for s in segments {
        parts.push(filter_record_batch(&s.batch, &s.live_mask())?);
        ids.extend(
            s.row_ids
                .iter()
                .zip(&s.deleted)
                .filter(|(_, d)| !**d)
                .map(|(id, _)| *id),
        );
    }
    Ok((concat_batches(schema, &parts)?, UInt64Array::from(ids)))
}
