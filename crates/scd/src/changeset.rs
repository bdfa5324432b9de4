//! Change sets in the shape of a Snowflake standard stream, and the net
//! change between two versions of a table.
//!
//! A change set is the table's columns plus `METADATA$ACTION` (`INSERT` or
//! `DELETE`), `METADATA$ISUPDATE` and `METADATA$ROW_ID`. An update of a row
//! is a DELETE of its old values and an INSERT of its new ones, both with
//! `ISUPDATE = TRUE` and the same row id.

use std::sync::{Arc, OnceLock};

use arrow::array::{
    Array, ArrayRef, BooleanArray, RecordBatch, StringArray, StringBuilder, new_null_array,
};
use arrow::compute::kernels::cmp::distinct;
use arrow::compute::{concat_batches, interleave};
use arrow::datatypes::{DataType, Field, Schema, SchemaBuilder, SchemaRef};
use hashbrown::HashMap;

use crate::{Result, ScdError};

/// Name of the action column: `INSERT` or `DELETE`.
pub const ACTION: &str = "METADATA$ACTION";
/// Name of the column that says whether a row is half of an update.
pub const IS_UPDATE: &str = "METADATA$ISUPDATE";
/// Name of the column holding the changed row's stable identity.
pub const ROW_ID: &str = "METADATA$ROW_ID";

/// Rows of a table that changed, as a standard stream on it would show them.
///
/// A merge builds its change set lazily: the rows are assembled the first
/// time [`ChangeSet::batch`] is called, so a merge whose changes nobody reads
/// does not pay for them. Clones share the rows.
#[derive(Debug, Clone)]
pub struct ChangeSet {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    mutation: Option<Mutation>,
    batch: OnceLock<RecordBatch>,
    len: usize,
}

/// The rows a merge removed and wrote, with their row ids.
#[derive(Debug)]
struct Mutation {
    removed: RecordBatch,
    removed_ids: Vec<u64>,
    written: Vec<RecordBatch>,
    written_ids: Vec<u64>,
}

impl PartialEq for ChangeSet {
    fn eq(&self, other: &Self) -> bool {
        match (self.batch(), other.batch()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

impl ChangeSet {
    /// The schema of change sets of a table with `table_schema`.
    pub fn schema_for(table_schema: &Schema) -> SchemaRef {
        let mut fields = SchemaBuilder::from(table_schema.fields());
        fields.push(Field::new(ACTION, DataType::Utf8, false));
        fields.push(Field::new(IS_UPDATE, DataType::Boolean, false));
        fields.push(Field::new(ROW_ID, DataType::Utf8, false));
        Arc::new(fields.finish())
    }

    /// An empty change set of a table with `table_schema`.
    pub fn empty(table_schema: &Schema) -> Self {
        Self::ready(RecordBatch::new_empty(Self::schema_for(table_schema)))
    }

    fn ready(batch: RecordBatch) -> Self {
        Self {
            inner: Arc::new(Inner {
                mutation: None,
                len: batch.num_rows(),
                batch: OnceLock::from(batch),
            }),
        }
    }

    /// Wrap a batch that has the change-set columns (for example one read
    /// back from storage).
    ///
    /// # Errors
    ///
    /// [`ScdError::TargetShape`] when `action`, `is_update` or `row_id` is missing, of another
    /// type, or holds a NULL.
    pub fn try_new(batch: RecordBatch) -> Result<Self> {
        for (name, ty) in [
            (ACTION, DataType::Utf8),
            (IS_UPDATE, DataType::Boolean),
            (ROW_ID, DataType::Utf8),
        ] {
            match batch.column_by_name(name) {
                Some(c) if c.data_type() == &ty && c.null_count() == 0 => {}
                _ => {
                    return Err(ScdError::TargetShape {
                        table: "change set".into(),
                        reason: format!("column `{name}` must be a non-null {ty}"),
                    });
                }
            }
        }
        Ok(Self::ready(batch))
    }

    /// The rows: the table's columns and the three metadata columns,
    /// DELETE rows first. Assembled on the first call.
    ///
    /// # Errors
    ///
    /// [`ScdError::Arrow`] when the rows do not fit one batch (more than
    /// 2 GiB of text in one column); nothing is cached then.
    pub fn batch(&self) -> Result<&RecordBatch> {
        if let Some(batch) = self.inner.batch.get() {
            return Ok(batch);
        }
        let mutation = self
            .inner
            .mutation
            .as_ref()
            .ok_or_else(|| ScdError::TargetShape {
                table: "change set".into(),
                reason: "a change set has either rows or a mutation".into(),
            })?;
        let built = mutation.assemble()?;
        Ok(self.inner.batch.get_or_init(|| built))
    }

    /// Number of change rows.
    pub fn len(&self) -> usize {
        self.inner.len
    }

    /// Bytes of memory its rows take (an estimate: buffers shared with the table that made
    /// it are counted too).
    pub fn memory_size(&self) -> usize {
        let built = self
            .inner
            .batch
            .get()
            .map_or(0, RecordBatch::get_array_memory_size);
        let mutation = self.inner.mutation.as_ref().map_or(0, |m| {
            m.removed.get_array_memory_size()
                + m.written
                    .iter()
                    .map(RecordBatch::get_array_memory_size)
                    .sum::<usize>()
                + 8 * (m.removed_ids.len() + m.written_ids.len())
        });
        built + mutation
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.inner.len == 0
    }

    /// Build from the old images of removed rows and the written rows, each
    /// with its row id: an id in both is an update pair. `removed` and every
    /// batch of `written` have the table's schema. The rows are assembled
    /// when first read.
    pub fn from_mutation(
        removed: RecordBatch,
        removed_ids: Vec<u64>,
        written: Vec<RecordBatch>,
        written_ids: Vec<u64>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                len: removed.num_rows() + written_ids.len(),
                batch: OnceLock::new(),
                mutation: Some(Mutation {
                    removed,
                    removed_ids,
                    written,
                    written_ids,
                }),
            }),
        }
    }
}

impl Mutation {
    fn assemble(&self) -> Result<RecordBatch> {
        let written_set: hashbrown::HashSet<u64> = self.written_ids.iter().copied().collect();
        let rewritten: hashbrown::HashSet<u64> = self
            .removed_ids
            .iter()
            .copied()
            .filter(|id| written_set.contains(id))
            .collect();
        let schema = ChangeSet::schema_for(&self.removed.schema());
        let part = |rows: &RecordBatch, ids: &[u64], action: &str| -> Result<RecordBatch> {
            let mut cols: Vec<ArrayRef> = rows.columns().to_vec();
            cols.push(Arc::new(StringArray::from(vec![action; ids.len()])));
            cols.push(Arc::new(BooleanArray::from(
                ids.iter()
                    .map(|id| rewritten.contains(id))
                    .collect::<Vec<_>>(),
            )));
            cols.push(Arc::new(row_id_column(ids)));
            Ok(RecordBatch::try_new(schema.clone(), cols)?)
        };
        let deletes = part(&self.removed, &self.removed_ids, "DELETE")?;
        let written = concat_batches(&self.removed.schema(), &self.written)?;
        let inserts = part(&written, &self.written_ids, "INSERT")?;
        Ok(concat_batches(&schema, [&deletes, &inserts])?)
    }
}

/// Row ids as `METADATA$ROW_ID` shows them: 16 lower-case hex digits.
fn row_id_column(ids: &[u64]) -> StringArray {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b = StringBuilder::with_capacity(ids.len(), ids.len() * 16);
    let mut text = [0u8; 16];
    for id in ids {
        for (i, c) in text.iter_mut().enumerate() {
            *c = HEX[((id >> (60 - 4 * i)) & 0xf) as usize];
        }
        b.append_value(std::str::from_utf8(&text).expect("hex digits are ASCII"));
    }
    b.finish()
}

/// The net change over a window of consecutive change sets, as a standard
/// stream whose offset sits before the first of them would return it.
///
/// Per row id: a row that did not exist before the window and exists after
/// it is one INSERT with its latest values; one that existed and is gone is
/// one DELETE of the values it had; one that exists before and after with
/// different values is one update pair (oldest → newest); inserted then
/// deleted, or changed and changed back, shows nothing.
///
/// ```
/// # use std::sync::Arc;
/// # use arrow::array::{Int64Array, RecordBatch, StringArray};
/// # use arrow::datatypes::{DataType, Field, Schema};
/// use snowdrift_scd::{ChangeSet, MergeContext, MergeStrategy as _, Scd1, TableSpec, merge, net_changes};
///
/// # let schema = Arc::new(Schema::new(vec![
/// #     Field::new("id", DataType::Int64, false),
/// #     Field::new("email", DataType::Utf8, true),
/// # ]));
/// # let rows = |ids: Vec<i64>, emails: Vec<&str>| RecordBatch::try_new(schema.clone(), vec![
/// #     Arc::new(Int64Array::from(ids)), Arc::new(StringArray::from(emails))]).unwrap();
/// let spec = TableSpec::builder("customer", schema.clone()).key(["id"]).build()?;
/// let scd1 = Scd1::default();
/// let mut table = scd1.create_table(&spec)?;
/// let a = merge(&scd1, &spec, &mut table, &[&rows(vec![1], vec!["a@x"])], MergeContext::at(1))?;
/// let b = merge(&scd1, &spec, &mut table, &[&rows(vec![1], vec!["b@x"])], MergeContext::at(2))?;
/// let c = merge(&scd1, &spec, &mut table, &[&rows(vec![1], vec!["c@x"])], MergeContext::at(3))?;
/// // Inserted, then updated twice inside the window: one INSERT, latest values.
/// let net = net_changes(&[a.changes, b.changes.clone(), c.changes.clone()])?;
/// assert_eq!(net.len(), 1);
/// // Updated twice: one update pair, oldest to newest.
/// assert_eq!(net_changes(&[b.changes, c.changes])?.len(), 2);
/// # Ok::<(), snowdrift_scd::ScdError>(())
/// ```
///
/// # Errors
///
/// [`ScdError::TargetShape`] for an empty window or change sets of different schemas, and
/// [`ScdError::Arrow`] when the net rows do not fit one batch.
pub fn net_changes(window: &[ChangeSet]) -> Result<ChangeSet> {
    let Some(first) = window.first() else {
        return Err(ScdError::TargetShape {
            table: "change set".into(),
            reason: "the window holds no change set; pass at least one".into(),
        });
    };
    let schema = first.batch()?.schema();
    let width = schema.fields().len().saturating_sub(3);
    let mut order: Vec<String> = Vec::new();
    // Per row id: the image before the window (if it existed) and after it.
    let mut images: HashMap<String, (Option<Loc>, Option<Loc>)> = HashMap::new();
    for (set, cs) in window.iter().enumerate() {
        let b = cs.batch()?;
        if b.schema().fields() != schema.fields() {
            return Err(ScdError::TargetShape {
                table: "change set".into(),
                reason: format!("change set {set} has another schema than the first"),
            });
        }
        let action = string_column(b, ACTION);
        let ids = string_column(b, ROW_ID);
        // Within one set, DELETE rows describe the state before it.
        for pass in ["DELETE", "INSERT"] {
            for row in (0..b.num_rows()).filter(|&r| action.value(r) == pass) {
                let id = ids.value(row);
                let entry = images.entry_ref(id).or_insert_with(|| {
                    order.push(id.to_string());
                    let before = (pass == "DELETE").then_some((set, row));
                    (before, before)
                });
                entry.1 = (pass == "INSERT").then_some((set, row));
            }
        }
    }
    let mut before_rows = Vec::new();
    let mut after_rows = Vec::new();
    let mut pair_ids = Vec::new();
    for id in &order {
        let (before, after) = images[id.as_str()];
        match (before, after) {
            (None, None) => {}
            (Some(b), None) => before_rows.push((b, false)),
            (None, Some(a)) => after_rows.push((a, false)),
            (Some(b), Some(a)) => pair_ids.push((b, a)),
        }
    }
    let batches: Vec<&RecordBatch> = window.iter().map(ChangeSet::batch).collect::<Result<_>>()?;
    let pairs = drop_unchanged(&batches, width, &pair_ids)?;
    for (b, a) in pairs {
        before_rows.push((b, true));
        after_rows.push((a, true));
    }
    let deletes = assemble(&batches, &schema, width, &before_rows, "DELETE")?;
    let inserts = assemble(&batches, &schema, width, &after_rows, "INSERT")?;
    Ok(ChangeSet::ready(concat_batches(
        &schema,
        [&deletes, &inserts],
    )?))
}

fn string_column<'a>(b: &'a RecordBatch, name: &str) -> &'a StringArray {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .expect("validated by ChangeSet::try_new")
}

type Loc = (usize, usize);

/// Keep only the pairs whose before and after images differ (null-safely).
fn drop_unchanged(
    batches: &[&RecordBatch],
    width: usize,
    pairs: &[(Loc, Loc)],
) -> Result<Vec<(Loc, Loc)>> {
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    let before: Vec<Loc> = pairs.iter().map(|p| p.0).collect();
    let after: Vec<Loc> = pairs.iter().map(|p| p.1).collect();
    let mut differs = vec![false; pairs.len()];
    for c in 0..width {
        let arrays: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
        let d = distinct(
            &interleave(&arrays, &before)?,
            &interleave(&arrays, &after)?,
        )?;
        for (i, flag) in differs.iter_mut().enumerate() {
            *flag |= d.value(i);
        }
    }
    Ok(pairs
        .iter()
        .zip(differs)
        .filter(|(_, d)| *d)
        .map(|(p, _)| *p)
        .collect())
}

fn assemble(
    batches: &[&RecordBatch],
    schema: &SchemaRef,
    width: usize,
    rows: &[(Loc, bool)],
    action: &str,
) -> Result<RecordBatch> {
    let locs: Vec<Loc> = rows.iter().map(|r| r.0).collect();
    let mut cols = Vec::with_capacity(width + 3);
    for c in 0..width {
        let arrays: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
        cols.push(if locs.is_empty() {
            new_null_array(schema.field(c).data_type(), 0)
        } else {
            interleave(&arrays, &locs)?
        });
    }
    cols.push(Arc::new(StringArray::from(vec![action; rows.len()])) as ArrayRef);
    cols.push(Arc::new(BooleanArray::from(
        rows.iter().map(|r| r.1).collect::<Vec<_>>(),
    )));
    let id_arrays: Vec<&dyn Array> = batches
        .iter()
        .map(|b| b.column(width + 2).as_ref())
        .collect();
    cols.push(if locs.is_empty() {
        new_null_array(&DataType::Utf8, 0)
    } else {
        interleave(&id_arrays, &locs)?
    });
    Ok(RecordBatch::try_new(schema.clone(), cols)?)
}

/// The row ids of a change set's rows, as numbers.
///
/// # Errors
///
/// As [`ChangeSet::batch`].
pub fn row_ids(changes: &ChangeSet) -> Result<Vec<u64>> {
    let ids = string_column(changes.batch()?, ROW_ID);
    Ok((0..ids.len())
        .map(|i| u64::from_str_radix(ids.value(i), 16).unwrap_or(u64::MAX))
        .collect())
}
