//! What one commit does to one table ([`TableWrite`]), and the change of one version kept in
//! memory while a stream on the table still needs it ([`Delta`]).

use arrow::array::RecordBatch;
use snowdrift_scd::ChangeSet;

use crate::error::Result;
use crate::local::origin::RowOrigin;

/// One version's change set, kept while a stream still needs it.
#[derive(Debug, Clone)]
pub(crate) struct Delta {
    pub(crate) version: u64,
    /// When it was committed (µs since the epoch, the warehouse's clock).
    pub(crate) time_micros: i64,
    pub(crate) changes: ChangeSet,
    /// The data file holding it.
    pub(crate) file: String,
    /// The rows, when the change only appended rows (streams that only need inserts read
    /// them without building a change set).
    pub(crate) appended: Option<Appended>,
}

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

    pub(crate) fn into_delta(self, version: u64, time_micros: i64, file: String) -> Delta {
        match self {
            TableWrite::Appended(a) => Delta {
                version,
                time_micros,
                changes: a.change_set(),
                file,
                appended: Some(a),
            },
            TableWrite::Changed { changes, .. } => Delta {
                version,
                time_micros,
                changes,
                file,
                appended: None,
            },
        }
    }
}
