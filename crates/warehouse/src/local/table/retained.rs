//! The changes of a table that streams on it have not consumed yet (what Snowflake keeps as
//! change tracking data): one [`Delta`] per version, in version order. Each delta's data file
//! is on storage from its commit on, so its rows in memory are only a cache: beyond the
//! warehouse's memory budget the oldest deltas drop their rows (they *spill*), and a stream
//! that reads them reads their files back. A task that is suspended for a day therefore costs
//! disk, not memory.

use std::collections::VecDeque;

use arrow::array::RecordBatch;
use snowdrift_scd::ChangeSet;

use crate::error::Result;
use crate::local::origin::RowOrigin;
use crate::local::storage::Storage;
use crate::local::table::Appended;

/// One version's change, kept while a stream still needs it.
#[derive(Debug, Clone)]
pub(crate) struct Delta {
    pub(crate) version: u64,
    /// When it was committed (µs since the epoch, the warehouse's clock).
    pub(crate) time_micros: i64,
    /// The data file holding it.
    pub(crate) file: String,
    /// Its change rows (the rows appended, for an append).
    pub(crate) len: usize,
    /// For a change that only appended rows, the row id of the first (streams that only need
    /// inserts read such rows without building a change set).
    pub(crate) first_row_id: Option<u64>,
    /// The staged file and line of each appended row, when a load appended them.
    pub(crate) origin: Option<RowOrigin>,
    /// The rows, unless spilled.
    rows: Option<DeltaRows>,
    /// Bytes of memory the rows take when in memory.
    bytes: usize,
}

/// A delta's rows.
#[derive(Debug, Clone)]
pub(crate) enum DeltaRows {
    /// Rows appended (in the table's schema) with row ids from `first_row_id` on.
    Appended {
        rows: RecordBatch,
        first_row_id: u64,
    },
    /// A change set.
    Changes(ChangeSet),
}

impl DeltaRows {
    fn memory_size(&self) -> usize {
        match self {
            DeltaRows::Appended { rows, .. } => rows.get_array_memory_size(),
            DeltaRows::Changes(changes) => changes.memory_size(),
        }
    }
}

impl Delta {
    /// The change of `version`, in memory.
    pub(crate) fn new(
        version: u64,
        time_micros: i64,
        file: String,
        rows: DeltaRows,
        origin: Option<RowOrigin>,
    ) -> Self {
        let (len, first_row_id) = match &rows {
            DeltaRows::Appended { rows, first_row_id } => (rows.num_rows(), Some(*first_row_id)),
            DeltaRows::Changes(changes) => (changes.len(), None),
        };
        Delta {
            version,
            time_micros,
            file,
            len,
            first_row_id,
            origin,
            bytes: rows.memory_size(),
            rows: Some(rows),
        }
    }

    /// Its rows, from memory or read back from its file.
    async fn view(&self, storage: &Storage) -> Result<DeltaView> {
        let rows = match &self.rows {
            Some(rows) => rows.clone(),
            None => {
                let batch = storage.read_batch(&self.file).await?;
                match self.first_row_id {
                    Some(first_row_id) => DeltaRows::Appended {
                        rows: batch,
                        first_row_id,
                    },
                    None => DeltaRows::Changes(ChangeSet::try_new(batch)?),
                }
            }
        };
        Ok(match rows {
            DeltaRows::Appended { rows, first_row_id } => DeltaView::Appended(Appended {
                rows,
                first_row_id,
                origin: self.origin.clone(),
            }),
            DeltaRows::Changes(changes) => DeltaView::Changes(changes),
        })
    }
}

/// One delta's rows, in memory for one read.
#[derive(Debug, Clone)]
pub(crate) enum DeltaView {
    /// Rows of a change that only appended rows.
    Appended(Appended),
    /// A change set.
    Changes(ChangeSet),
}

impl DeltaView {
    /// Its change set (all INSERTs for appended rows, assembled now).
    pub(crate) fn changes(&self) -> ChangeSet {
        match self {
            DeltaView::Changes(changes) => changes.clone(),
            DeltaView::Appended(appended) => appended.change_set(),
        }
    }

    /// Its rows, when the change only appended rows.
    pub(crate) fn appended(&self) -> Option<&Appended> {
        match self {
            DeltaView::Appended(appended) => Some(appended),
            DeltaView::Changes(_) => None,
        }
    }
}

/// The retained changes of one table.
#[derive(Debug, Clone, Default)]
pub(crate) struct Retained {
    deltas: VecDeque<Delta>,
    /// The oldest deltas, this many, have spilled (spilling goes oldest first).
    spilled: usize,
    /// Bytes of the rows of the deltas in memory.
    resident_bytes: usize,
}

impl Retained {
    pub(crate) fn push(&mut self, delta: Delta) {
        if delta.rows.is_some() {
            self.resident_bytes += delta.bytes;
        }
        self.deltas.push_back(delta);
        self.advance();
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Delta> {
        self.deltas.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.deltas.len()
    }

    pub(crate) fn front(&self) -> Option<&Delta> {
        self.deltas.front()
    }

    pub(crate) fn pop_front(&mut self) {
        if let Some(delta) = self.deltas.pop_front() {
            if delta.rows.is_some() {
                self.resident_bytes -= delta.bytes;
            }
            self.spilled = self.spilled.saturating_sub(1);
            self.advance();
        }
    }

    pub(crate) fn clear(&mut self) {
        *self = Retained::default();
    }

    /// Moves `spilled` past deltas without rows, so that it is the index of the oldest delta
    /// in memory (amortised constant time: it only moves forward between pops).
    fn advance(&mut self) {
        while self
            .deltas
            .get(self.spilled)
            .is_some_and(|d| d.rows.is_none())
        {
            self.spilled += 1;
        }
    }

    /// Bytes of the rows in memory.
    pub(crate) fn resident_bytes(&self) -> usize {
        self.resident_bytes
    }

    /// Deltas whose rows are in memory.
    pub(crate) fn resident(&self) -> usize {
        self.deltas.iter().filter(|d| d.rows.is_some()).count()
    }

    /// The version of the oldest delta whose rows are in memory.
    pub(crate) fn oldest_resident(&self) -> Option<u64> {
        self.deltas.get(self.spilled).map(|d| d.version)
    }

    /// Drops the rows of the oldest delta that has them from memory; returns the bytes freed.
    pub(crate) fn spill_oldest(&mut self) -> usize {
        let Some(delta) = self.deltas.get_mut(self.spilled) else {
            return 0;
        };
        let freed = if delta.rows.take().is_some() {
            delta.bytes
        } else {
            0
        };
        self.resident_bytes -= freed;
        self.advance();
        freed
    }

    /// The rows of every delta after version `after`, in version order (spilled ones read
    /// back from storage, one file at a time).
    pub(crate) async fn window(&self, storage: &Storage, after: u64) -> Result<Vec<DeltaView>> {
        let mut views = Vec::new();
        for delta in self.deltas.iter().filter(|d| d.version > after) {
            views.push(delta.view(storage).await?);
        }
        Ok(views)
    }
}

/// Spills the oldest deltas across `tables` (by version) until their rows in memory fit in
/// `budget` bytes.
pub(crate) fn fit_budget(mut tables: Vec<&mut Retained>, budget: usize) {
    let mut used: usize = tables.iter().map(|t| t.resident_bytes()).sum();
    while used > budget {
        let oldest = tables
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.oldest_resident().map(|v| (v, i)))
            .min();
        let Some((_, i)) = oldest else { break };
        used -= tables[i].spill_oldest();
    }
}
