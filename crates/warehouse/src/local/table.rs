//! A table of the embedded engine in memory: its rows (keyed tables in the SCD engine's
//! indexed [`snowdrift_scd::Table`], tables without a key as appended batches), every row with a
//! stable row id, and the change sets of recent versions that streams on it have not consumed.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, UInt64Array, new_null_array};
use arrow::compute::{concat_batches, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use snowdrift_scd::{
    ChangeFormat, ChangeSet, MergeContext, MergeOutcome, MergeStrategy, Scd1, Scd1Delete, Scd2,
    Scd2Delete, TableSpec, ValidityColumns,
};

use crate::catalog::{
    MergeDef, ObjectKind, Scd1OnDelete, Scd2OnDelete, TableDef, TableLayout, Validity,
};
use crate::error::{Result, WarehouseError};
use crate::local::origin::RowOrigin;

/// Name of the row id column in checkpoint files.
pub(crate) const ROW_ID_COLUMN: &str = "__snowdrift_row_id";
const DML_OP: &str = "__snowdrift_op";

/// One version's change set, kept while a stream still needs it.
#[derive(Debug, Clone)]
pub(crate) struct Delta {
    pub(crate) version: u64,
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

/// What one commit does to one table: appended rows (stored as they are) or a change set.
#[derive(Debug, Clone)]
pub(crate) enum TableWrite {
    Appended(Appended),
    /// A change set, and the applied sequences of the keys a merge with a sequence decided on
    /// (kept durable beside it so late changes stay late after a restart).
    Changed(ChangeSet, Option<RecordBatch>),
}

impl TableWrite {
    pub(crate) fn len(&self) -> usize {
        match self {
            TableWrite::Appended(a) => a.rows.num_rows(),
            TableWrite::Changed(c, _) => c.len(),
        }
    }

    /// The batch written to the data file.
    pub(crate) fn data(&self) -> Result<&RecordBatch> {
        match self {
            TableWrite::Appended(a) => Ok(&a.rows),
            TableWrite::Changed(c, _) => Ok(c.batch()?),
        }
    }

    pub(crate) fn appended_from(&self) -> Option<u64> {
        match self {
            TableWrite::Appended(a) => Some(a.first_row_id),
            TableWrite::Changed(..) => None,
        }
    }

    /// The applied sequences to keep beside the change, if any.
    pub(crate) fn sequences(&self) -> Option<&RecordBatch> {
        match self {
            TableWrite::Changed(_, sequences) => sequences.as_ref(),
            TableWrite::Appended(_) => None,
        }
    }

    /// Where appended rows were loaded from, if known.
    pub(crate) fn origin(&self) -> Option<&RowOrigin> {
        match self {
            TableWrite::Appended(a) => a.origin.as_ref(),
            TableWrite::Changed(..) => None,
        }
    }

    pub(crate) fn into_delta(self, version: u64, file: String) -> Delta {
        match self {
            TableWrite::Appended(a) => Delta {
                version,
                changes: a.change_set(),
                file,
                appended: Some(a),
            },
            TableWrite::Changed(changes, _) => Delta {
                version,
                changes,
                file,
                appended: None,
            },
        }
    }
}

#[derive(Debug)]
pub(crate) enum Rows {
    Keyed(snowdrift_scd::Table),
    Append {
        batches: Vec<RecordBatch>,
        ids: Vec<u64>,
        next_row_id: u64,
    },
}

#[derive(Debug)]
pub(crate) struct LocalTable {
    pub(crate) def: TableDef,
    pub(crate) rows: Rows,
    pub(crate) deltas: VecDeque<Delta>,
    /// The last version that changed the table (its creation, at least).
    pub(crate) version: u64,
}

impl LocalTable {
    pub(crate) fn create(def: TableDef, version: u64) -> Result<Self> {
        Self::restore(def, version, None)
    }

    /// A table holding `rows` (with a row id column) or nothing.
    pub(crate) fn restore(def: TableDef, version: u64, rows: Option<RecordBatch>) -> Result<Self> {
        let rows = if def.key.is_empty() {
            let (batches, ids) = match rows {
                Some(batch) => {
                    let (batch, ids) = split_row_ids(&batch)?;
                    (vec![batch], ids)
                }
                None => (Vec::new(), Vec::new()),
            };
            let next_row_id = ids.iter().copied().max().unwrap_or(0);
            Rows::Append {
                batches,
                ids,
                next_row_id,
            }
        } else {
            let strategy = default_strategy(&def);
            let spec = table_spec(&def, ChangeFormat::Upserts, None, None)?;
            let table = match rows {
                Some(batch) => {
                    let (batch, ids) = split_row_ids(&batch)?;
                    snowdrift_scd::load_table_with_row_ids(strategy.as_ref(), &spec, batch, &ids)?
                }
                None => snowdrift_scd::create_table(strategy.as_ref(), &spec)?,
            };
            Rows::Keyed(table)
        };
        Ok(LocalTable {
            def,
            rows,
            deltas: VecDeque::new(),
            version,
        })
    }

    pub(crate) fn schema(&self) -> SchemaRef {
        self.def.schema()
    }

    pub(crate) fn num_rows(&self) -> usize {
        match &self.rows {
            Rows::Keyed(t) => t.num_rows(),
            Rows::Append { ids, .. } => ids.len(),
        }
    }

    /// Every row.
    pub(crate) fn read(&self) -> Result<RecordBatch> {
        Ok(self.read_with_row_ids()?.0)
    }

    pub(crate) fn read_with_row_ids(&self) -> Result<(RecordBatch, Vec<u64>)> {
        match &self.rows {
            Rows::Keyed(t) => {
                let (batch, ids) = t.to_batch_with_row_ids()?;
                Ok((batch, ids.values().to_vec()))
            }
            Rows::Append { batches, ids, .. } => {
                Ok((concat_batches(&self.schema(), batches)?, ids.clone()))
            }
        }
    }

    /// Every row with its row id as a column, for a checkpoint.
    pub(crate) fn snapshot(&self) -> Result<RecordBatch> {
        let (batch, ids) = self.read_with_row_ids()?;
        with_row_ids(&batch, ids)
    }

    /// Appends rows to a table without a key; `origin` says where they were loaded from.
    pub(crate) fn append(
        &mut self,
        batch: RecordBatch,
        origin: Option<RowOrigin>,
    ) -> Result<TableWrite> {
        let Rows::Append {
            batches,
            ids,
            next_row_id,
        } = &mut self.rows
        else {
            return Err(WarehouseError::unsupported(
                ObjectKind::Table,
                &self.def.name,
                "rows of a table with a key are inserted through a merge",
            ));
        };
        let first_row_id = *next_row_id + 1;
        *next_row_id += batch.num_rows() as u64;
        ids.extend(first_row_id..=*next_row_id);
        batches.push(batch.clone());
        Ok(TableWrite::Appended(Appended {
            rows: batch,
            first_row_id,
            origin,
        }))
    }

    /// Merges `changes` into a keyed table with the strategy `merge` asks for.
    pub(crate) fn merge(
        &mut self,
        merge: &MergeDef,
        format: ChangeFormat,
        changes: &[&RecordBatch],
        now_micros: i64,
    ) -> Result<MergeOutcome> {
        let def = self.def.clone();
        let Rows::Keyed(table) = &mut self.rows else {
            return Err(WarehouseError::unsupported(
                ObjectKind::Table,
                &def.name,
                "a merge needs a target with a key",
            ));
        };
        let strategy = merge_strategy(&def, merge)?;
        let spec = table_spec(&def, format, merge.sequence.clone(), merge.compared.clone())?
            .with_on_bad_row(merge.on_bad_row);
        Ok(snowdrift_scd::merge(
            strategy.as_ref(),
            &spec,
            table,
            changes,
            MergeContext::at(now_micros),
        )?)
    }

    /// INSERT or UPDATE on a keyed table: an upsert merge with the table's own strategy.
    pub(crate) fn upsert(&mut self, rows: &RecordBatch, now_micros: i64) -> Result<MergeOutcome> {
        let merge = dml_merge(&self.def.name);
        self.merge(&merge, ChangeFormat::Upserts, &[rows], now_micros)
    }

    /// DELETE of the keys in `keys` (a batch holding at least the key columns).
    pub(crate) fn delete_keys(
        &mut self,
        keys: &RecordBatch,
        now_micros: i64,
    ) -> Result<MergeOutcome> {
        let business = self.def.business_schema();
        let mut fields: Vec<Field> = business
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        fields.push(Field::new(DML_OP, DataType::Utf8, false));
        let n = keys.num_rows();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.len());
        for field in business.fields() {
            let column = if self.def.key.contains(field.name()) {
                let column = keys.column_by_name(field.name()).ok_or_else(|| {
                    WarehouseError::invalid(
                        ObjectKind::Table,
                        &self.def.name,
                        format!("the rows to delete have no key column `{}`", field.name()),
                    )
                })?;
                arrow::compute::cast(column, field.data_type())?
            } else {
                new_null_array(field.data_type(), n)
            };
            columns.push(column);
        }
        columns.push(Arc::new(StringArray::from(vec!["DELETE"; n])));
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        let merge = dml_merge(&self.def.name);
        self.merge(
            &merge,
            ChangeFormat::OperationColumn(DML_OP.into()),
            &[&batch],
            now_micros,
        )
    }

    /// Restores the applied sequences of keys (a checkpoint's or a merge's, read back).
    pub(crate) fn restore_sequences(&mut self, sequences: &RecordBatch) -> Result<()> {
        match &mut self.rows {
            Rows::Keyed(table) => Ok(table.restore_applied_sequences(sequences)?),
            Rows::Append { .. } => Ok(()),
        }
    }

    /// The applied sequence of every key, for a checkpoint (`None` for a table without a key
    /// or without sequences).
    pub(crate) fn sequences(&self) -> Result<Option<RecordBatch>> {
        match &self.rows {
            Rows::Keyed(table) => {
                let batch = table.applied_sequences()?;
                Ok((batch.num_rows() > 0).then_some(batch))
            }
            Rows::Append { .. } => Ok(None),
        }
    }

    /// Keeps only the deltas newer than `offset`.
    pub(crate) fn prune_deltas(&mut self, oldest_needed_after: Option<u64>) {
        match oldest_needed_after {
            None => self.deltas.clear(),
            Some(offset) => {
                while self.deltas.front().is_some_and(|d| d.version <= offset) {
                    self.deltas.pop_front();
                }
            }
        }
    }
}

/// The merge behind a DML statement: a bad row fails the statement (nothing to reject to).
fn dml_merge(table: &str) -> MergeDef {
    MergeDef {
        on_bad_row: snowdrift_scd::OnBadRow::Fail,
        ..MergeDef::new("", table)
    }
}

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

    /// Rows appended with consecutive row ids from `first_row_id`.
    pub(crate) fn append(&mut self, rows: RecordBatch, first_row_id: u64) {
        let index = self.batches.len();
        for row in 0..rows.num_rows() {
            self.live.insert(first_row_id + row as u64, (index, row));
        }
        self.batches.push(rows);
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
fn with_row_ids(batch: &RecordBatch, ids: Vec<u64>) -> Result<RecordBatch> {
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(ROW_ID_COLUMN, DataType::UInt64, false));
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(UInt64Array::from(ids)));
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Splits the row id column off a checkpoint batch.
fn split_row_ids(batch: &RecordBatch) -> Result<(RecordBatch, Vec<u64>)> {
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

fn validity_columns(validity: &Validity) -> ValidityColumns {
    ValidityColumns {
        start: validity.start.clone(),
        end: validity.end.clone(),
        current: validity.current.clone(),
        deleted: validity
            .deleted
            .clone()
            .unwrap_or_else(|| ValidityColumns::default().deleted),
    }
}

fn default_strategy(def: &TableDef) -> Arc<dyn MergeStrategy> {
    match &def.layout {
        TableLayout::Plain => Arc::new(Scd1 {
            updated_at: None,
            on_delete: Scd1Delete::Remove,
        }),
        TableLayout::Scd1 { updated_at } => Arc::new(Scd1 {
            updated_at: updated_at.clone(),
            on_delete: Scd1Delete::Remove,
        }),
        TableLayout::Scd2 { validity } => Arc::new(Scd2 {
            columns: validity_columns(validity),
            tracked: None,
            on_delete: if validity.deleted.is_some() {
                Scd2Delete::CloseWithTombstone
            } else {
                Scd2Delete::Close
            },
        }),
    }
}

fn merge_strategy(def: &TableDef, merge: &MergeDef) -> Result<Arc<dyn MergeStrategy>> {
    Ok(match &def.layout {
        TableLayout::Plain | TableLayout::Scd1 { .. } => {
            let updated_at = match &def.layout {
                TableLayout::Scd1 { updated_at } => updated_at.clone(),
                _ => None,
            };
            Arc::new(Scd1 {
                updated_at,
                on_delete: match merge.scd1_on_delete {
                    Scd1OnDelete::Remove => Scd1Delete::Remove,
                    Scd1OnDelete::Ignore => Scd1Delete::Ignore,
                },
            })
        }
        TableLayout::Scd2 { validity } => {
            let on_delete = match merge.scd2_on_delete {
                Scd2OnDelete::Ignore => Scd2Delete::Ignore,
                Scd2OnDelete::Close => Scd2Delete::Close,
                Scd2OnDelete::CloseWithTombstone if validity.deleted.is_some() => {
                    Scd2Delete::CloseWithTombstone
                }
                Scd2OnDelete::CloseWithTombstone => {
                    return Err(WarehouseError::invalid(
                        ObjectKind::Task,
                        &def.name,
                        "tombstones need a `deleted` validity column on the target",
                    ));
                }
            };
            Arc::new(Scd2 {
                columns: validity_columns(validity),
                tracked: merge.tracked.clone(),
                on_delete,
            })
        }
    })
}

fn table_spec(
    def: &TableDef,
    format: ChangeFormat,
    sequence: Option<String>,
    compared: Option<Vec<String>>,
) -> Result<TableSpec> {
    let mut builder = TableSpec::builder(def.name.clone(), def.business_schema())
        .key(def.key.clone())
        .format(format);
    if let Some(sequence) = sequence {
        builder = builder.sequence(sequence);
    }
    if let Some(compared) = compared {
        builder = builder.compared(compared);
    }
    Ok(builder.build()?)
}
