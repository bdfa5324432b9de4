//! What one commit does to one table ([`TableWrite`]).

use arrow::array::RecordBatch;
use snowdrift_scd::ChangeSet;

use crate::error::Result;
use crate::local::origin::RowOrigin;
use crate::local::table::retained::{Delta, DeltaRows};

/// Rows appended with consecutive row ids.
#[derive(Debug, Clone)]
pub(crate) struct Appended {
    pub(crate) rows: RecordBatch,
    pub(crate) first_row_id: u64,
    /// The staged file and line of each row, when a load appended them.
    pub(crate) origin: Option<RowOrigin>,
}

impl Appended {
    /// The change set (all INSERTs), assembled only if read.
    pub(crate) fn change_set(&self) -> ChangeSet {
        let ids: Vec<u64> = (0..self.rows.num_rows() as u64)
            .map(|i| self.first_row_id + i)
            .collect();
        let empty = RecordBatch::new_empty(self.rows.schema());
        ChangeSet::from_mutation(empty, Vec::new(), vec![self.rows.clone()], ids)
    }
}

/// Versions a merge moved out of memory: they go to a segment file in the same commit.
#[derive(Debug, Clone)]
pub(crate) struct Retired {
    pub(crate) rows: RecordBatch,
    pub(crate) row_ids: Vec<u64>,
}

/// What one commit does to one table: appended rows (stored as they are, as a segment) or a
/// change set.
#[derive(Debug, Clone)]
pub(crate) enum TableWrite {
    Appended(Appended),
    Changed {
        changes: ChangeSet,
        /// The applied sequences of the keys a merge with a sequence decided on (kept durable
        /// beside the change so late changes stay late after a restart).
        sequences: Option<RecordBatch>,
        /// Versions that left memory, written to a segment of their own.
        retired: Option<Retired>,
    },
}

impl TableWrite {
    /// A change set without sequences or retired rows.
    pub(crate) fn changes(changes: ChangeSet) -> Self {
        TableWrite::Changed {
            changes,
            sequences: None,
            retired: None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            TableWrite::Appended(a) => a.rows.num_rows(),
            TableWrite::Changed { changes, .. } => changes.len(),
        }
    }

    /// Whether the commit has nothing to write for the table.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0 && self.sequences().is_none() && self.retired().is_none()
    }

    /// The batch written to the data file.
    pub(crate) fn data(&self) -> Result<&RecordBatch> {
        match self {
            TableWrite::Appended(a) => Ok(&a.rows),
            TableWrite::Changed { changes, .. } => Ok(changes.batch()?),
        }
    }

    pub(crate) fn appended_from(&self) -> Option<u64> {
        match self {
            TableWrite::Appended(a) => Some(a.first_row_id),
            TableWrite::Changed { .. } => None,
        }
    }

    /// The applied sequences to keep beside the change, if any.
    pub(crate) fn sequences(&self) -> Option<&RecordBatch> {
        match self {
            TableWrite::Changed { sequences, .. } => {
                sequences.as_ref().filter(|s| s.num_rows() > 0)
            }
            TableWrite::Appended(_) => None,
        }
    }

    /// The versions to write to a segment, if any.
    pub(crate) fn retired(&self) -> Option<&Retired> {
        match self {
            TableWrite::Changed { retired, .. } => {
                retired.as_ref().filter(|r| !r.row_ids.is_empty())
            }
            TableWrite::Appended(_) => None,
        }
    }

    /// Where appended rows were loaded from, if known.
    pub(crate) fn origin(&self) -> Option<&RowOrigin> {
        match self {
            TableWrite::Appended(a) => a.origin.as_ref(),
            TableWrite::Changed { .. } => None,
        }
    }

    /// The change as a retained [`Delta`] of `version`, with its rows in memory.
    pub(crate) fn into_delta(self, version: u64, time_micros: i64, file: String) -> Delta {
        match self {
            TableWrite::Appended(a) => Delta::new(
                version,
                time_micros,
                file,
                DeltaRows::Appended {
                    rows: a.rows,
                    first_row_id: a.first_row_id,
                },
                a.origin,
            ),
            TableWrite::Changed { changes, .. } => Delta::new(
                version,
                time_micros,
                file,
                DeltaRows::Changes(changes),
                None,
            ),
        }
    }
}
