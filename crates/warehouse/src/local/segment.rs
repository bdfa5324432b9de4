//! Segments: the immutable Parquet files that hold a table's rows on the warehouse's object
//! store, so that memory holds only what is bounded by the live keys of keyed tables.
//!
//! Two kinds of rows live in segments, both written once and never changed:
//! - the rows of a table without a key (a raw table): each load's rows are one segment, the
//!   same file its commit writes, with consecutive row ids;
//! - the versions an SCD-2 table no longer needs in memory (closed versions that are not
//!   their key's latest row), with a row id column.
//!
//! A table is its segments plus, for a keyed table, the latest row of each key in memory. A
//! read takes the list of segments under the state lock (a [`TableRead`]) and reads the files
//! without it.

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::local::storage::Storage;
use crate::local::table::{conform, split_row_ids};

/// One segment file of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Segment {
    /// The file, relative to the warehouse root.
    pub(crate) file: String,
    /// Rows in it.
    pub(crate) rows: u64,
    /// The row id of its first row when its rows have consecutive row ids (appended rows);
    /// otherwise the file holds a row id column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) first_row_id: Option<u64>,
}

impl Segment {
    /// Its rows in the table's `schema` and their row ids.
    ///
    /// # Errors
    ///
    /// Storage errors, and [`crate::WarehouseError::Corrupt`] when the file does not hold the
    /// table's columns.
    pub(crate) async fn read(
        &self,
        storage: &Storage,
        schema: &SchemaRef,
    ) -> Result<(RecordBatch, Vec<u64>)> {
        let batch = storage.read_batch(&self.file).await?;
        let (batch, ids) = match self.first_row_id {
            Some(first) => {
                let ids = (first..first + batch.num_rows() as u64).collect();
                (batch, ids)
            }
            None => split_row_ids(&batch)?,
        };
        Ok((conform(&batch, schema, &self.file)?, ids))
    }

    /// Only the columns named `columns` of its rows, in the table's `schema` (other columns
    /// NULL): what a scan with a projection reads.
    pub(crate) async fn read_columns(
        &self,
        storage: &Storage,
        schema: &SchemaRef,
        columns: &[String],
    ) -> Result<RecordBatch> {
        let batch = storage.read_columns(&self.file, columns).await?;
        crate::local::scan::widen(&batch, schema, &self.file)
    }

    /// The row ids of its rows (for a restart, which must not bring them back into memory).
    pub(crate) async fn row_ids(&self, storage: &Storage) -> Result<Vec<u64>> {
        match self.first_row_id {
            Some(first) => Ok((first..first + self.rows).collect()),
            None => Ok(split_row_ids(&storage.read_batch(&self.file).await?)?.1),
        }
    }

    /// The highest row id in it, when its ids are consecutive.
    pub(crate) fn last_row_id(&self) -> Option<u64> {
        self.first_row_id
            .map(|first| first + self.rows.saturating_sub(1))
    }
}

/// What a read of a table needs, taken under the state lock and read without it: the rows in
/// memory and the list of segments at one committed version.
#[derive(Debug, Clone)]
pub(crate) struct TableRead {
    pub(crate) schema: SchemaRef,
    /// The latest rows of a keyed table, as they were at that version.
    pub(crate) memory: Option<snowdrift_scd::TableSnapshot>,
    pub(crate) segments: std::sync::Arc<Vec<Segment>>,
}

impl TableRead {
    /// Every row and its row id: the segments in order, then the rows in memory.
    pub(crate) async fn rows_with_ids(self, storage: &Storage) -> Result<(RecordBatch, Vec<u64>)> {
        let mut parts = Vec::with_capacity(self.segments.len() + 1);
        let mut ids = Vec::new();
        for segment in self.segments.iter() {
            let (batch, segment_ids) = segment.read(storage, &self.schema).await?;
            parts.push(batch);
            ids.extend(segment_ids);
        }
        if let Some(memory) = &self.memory {
            let (batch, memory_ids) = memory.to_batch_with_row_ids()?;
            parts.push(batch);
            ids.extend(memory_ids.values().iter().copied());
        }
        Ok((concat_batches(&self.schema, &parts)?, ids))
    }

    /// Every row.
    pub(crate) async fn rows(self, storage: &Storage) -> Result<RecordBatch> {
        Ok(self.rows_with_ids(storage).await?.0)
    }
}
