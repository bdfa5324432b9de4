//! What a scan of a table reads ([`Scan`]: columns and keys) and how one batch of the table's
//! rows is cut down to it ([`ScanPlan`]). Every backend applies the same plan: the embedded
//! engine to each segment it streams, the provided [`crate::Warehouse::scan`] to the one batch
//! `query` returns.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::SchemaRef;
use arrow::row::{OwnedRow, RowConverter, SortField};

use crate::catalog::ObjectKind;
use crate::error::{Result, WarehouseError};

/// What a [`crate::Warehouse::scan`] reads: which columns (default: all, in the table's
/// order) and which keys (default: every row).
///
/// ```
/// use std::sync::Arc;
/// use arrow::array::{Int64Array, RecordBatch};
/// use snowdrift_warehouse::Scan;
/// let keys = RecordBatch::try_from_iter(vec![("customer_id", Arc::new(Int64Array::from(vec![7, 9])) as _)])?;
/// let scan = Scan::new().columns(["customer_id", "email"]).keys(keys);
/// # Ok::<(), arrow::error::ArrowError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Scan {
    columns: Option<Vec<String>>,
    keys: Option<RecordBatch>,
}

impl Scan {
    /// Every column of every row.
    pub fn new() -> Self {
        Scan::default()
    }

    /// Only these columns, in this order.
    pub fn columns<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.columns = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    /// Only rows whose values in the columns of `keys` (by name; typically the table's key)
    /// equal one of the rows of `keys`. Values are cast to the table's column types first.
    pub fn keys(mut self, keys: RecordBatch) -> Self {
        self.keys = Some(keys);
        self
    }
}

/// A [`Scan`] checked against one table's schema.
pub(crate) struct ScanPlan {
    /// Indices of the output columns in the table's schema.
    projection: Vec<usize>,
    output: SchemaRef,
    filter: Option<KeyFilter>,
}

/// Rows whose values in some columns are in a set.
struct KeyFilter {
    /// Indices of the matched columns in the table's schema.
    columns: Vec<usize>,
    converter: RowConverter,
    wanted: HashSet<OwnedRow>,
}

fn invalid(table: &str, reason: String) -> WarehouseError {
    WarehouseError::invalid(ObjectKind::Table, table, reason)
}

fn index_of(table: &str, schema: &SchemaRef, name: &str) -> Result<usize> {
    schema
        .index_of(name)
        .map_err(|_| invalid(table, format!("the table has no column `{name}`")))
}

impl KeyFilter {
    fn new(table: &str, schema: &SchemaRef, keys: &RecordBatch) -> Result<Self> {
        if keys.num_columns() == 0 {
            return Err(invalid(table, "the keys of a scan need a column".into()));
        }
        let mut columns = Vec::new();
        let mut fields = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for (field, given) in keys.schema().fields().iter().zip(keys.columns()) {
            let index = index_of(table, schema, field.name())?;
            let wanted_type = schema.field(index).data_type();
            arrays.push(cast(given, wanted_type)?);
            fields.push(SortField::new(wanted_type.clone()));
            columns.push(index);
        }
        let converter = RowConverter::new(fields)?;
        let rows = converter.convert_columns(&arrays)?;
        let wanted = rows.iter().map(|r| r.owned()).collect();
        Ok(KeyFilter {
            columns,
            converter,
            wanted,
        })
    }

    /// `batch` (in the table's schema) without the rows whose key is not wanted.
    fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter()
            .map(|&i| batch.column(i).clone())
            .collect();
        let rows = self.converter.convert_columns(&arrays)?;
        let keep: BooleanArray = rows
            .iter()
            .map(|r| Some(self.wanted.contains(&r.owned())))
            .collect();
        Ok(filter_record_batch(batch, &keep)?)
    }
}

impl ScanPlan {
    /// `scan` of table `table`, whose rows have `schema`.
    ///
    /// # Errors
    ///
    /// [`WarehouseError::InvalidDefinition`] for a column the table does not have.
    pub(crate) fn new(table: &str, schema: &SchemaRef, scan: &Scan) -> Result<Self> {
        let projection = match &scan.columns {
            None => (0..schema.fields().len()).collect(),
            Some(names) => names
                .iter()
                .map(|name| index_of(table, schema, name))
                .collect::<Result<Vec<_>>>()?,
        };
        let output = Arc::new(schema.project(&projection)?);
        let filter = match &scan.keys {
            Some(keys) => Some(KeyFilter::new(table, schema, keys)?),
            None => None,
        };
        Ok(ScanPlan {
            projection,
            output,
            filter,
        })
    }

    /// The columns a part must be read with: the projection plus the columns to filter on.
    pub(crate) fn read_columns(&self) -> Vec<usize> {
        let mut columns = self.projection.clone();
        if let Some(filter) = &self.filter {
            for c in &filter.columns {
                if !columns.contains(c) {
                    columns.push(*c);
                }
            }
        }
        columns.sort_unstable();
        columns
    }

    /// One part in the table's schema (only `read_columns` need hold data), filtered and
    /// projected.
    pub(crate) fn finish(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let batch = match &self.filter {
            Some(filter) => filter.apply(&batch)?,
            None => batch,
        };
        Ok(RecordBatch::try_new(
            self.output.clone(),
            self.projection
                .iter()
                .map(|&i| batch.column(i).clone())
                .collect(),
        )?)
    }
}
