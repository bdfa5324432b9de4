//! Streaming reads of a table ([`crate::LocalWarehouse::scan`]): the last committed version,
//! one segment file at a time, with a projection (read from the Parquet files column by
//! column) and an optional filter on the key. Memory holds one segment's rows at a time,
//! never the whole table.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{Schema, SchemaRef};
use arrow::row::{OwnedRow, RowConverter, SortField};
use futures::stream::{self, BoxStream, StreamExt as _};

use crate::catalog::{ObjectKind, TableDef};
use crate::error::{Result, WarehouseError};
use crate::local::segment::TableRead;
use crate::local::storage::Storage;

/// What a [`crate::LocalWarehouse::scan`] reads: which columns (default: all, in the table's
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

    /// Only rows whose key is one of the rows of `keys` (a batch with the table's key columns,
    /// by name; other columns are ignored). Needs a table with a key.
    pub fn keys(mut self, keys: RecordBatch) -> Self {
        self.keys = Some(keys);
        self
    }
}

/// The checked parts of a scan of one table.
struct Plan {
    /// Indices of the output columns in the table's schema.
    projection: Vec<usize>,
    output: SchemaRef,
    filter: Option<KeyFilter>,
}

/// Rows whose key is in a set.
struct KeyFilter {
    /// Indices of the key columns in the table's schema.
    columns: Vec<usize>,
    converter: RowConverter,
    wanted: HashSet<OwnedRow>,
}

impl KeyFilter {
    fn new(def: &TableDef, schema: &SchemaRef, keys: &RecordBatch) -> Result<Self> {
        let invalid =
            |reason: String| WarehouseError::invalid(ObjectKind::Table, &def.name, reason);
        if def.key.is_empty() {
            return Err(invalid("a key filter needs a table with a key".into()));
        }
        let mut columns = Vec::new();
        let mut fields = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for name in &def.key {
            let index = schema.index_of(name)?;
            let field = schema.field(index);
            let given = keys
                .column_by_name(name)
                .ok_or_else(|| invalid(format!("the keys have no column `{name}`")))?;
            arrays.push(cast(given, field.data_type())?);
            fields.push(SortField::new(field.data_type().clone()));
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

impl Plan {
    fn new(def: &TableDef, schema: &SchemaRef, scan: &Scan) -> Result<Self> {
        let projection = match &scan.columns {
            None => (0..schema.fields().len()).collect(),
            Some(names) => names
                .iter()
                .map(|name| {
                    schema.index_of(name).map_err(|_| {
                        WarehouseError::invalid(
                            ObjectKind::Table,
                            &def.name,
                            format!("the table has no column `{name}`"),
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()?,
        };
        let output = Arc::new(schema.project(&projection)?);
        let filter = match &scan.keys {
            Some(keys) => Some(KeyFilter::new(def, schema, keys)?),
            None => None,
        };
        Ok(Plan {
            projection,
            output,
            filter,
        })
    }

    /// The columns a part must be read with: the projection plus the key columns to filter.
    fn read_columns(&self) -> Vec<usize> {
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
    fn finish(&self, batch: RecordBatch) -> Result<RecordBatch> {
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

/// A stream of the rows of `read` (one committed version of table `def`), part by part.
pub(crate) fn scan(
    storage: Storage,
    def: &TableDef,
    read: TableRead,
    scan: &Scan,
) -> Result<BoxStream<'static, Result<RecordBatch>>> {
    let plan = Arc::new(Plan::new(def, &read.schema, scan)?);
    let schema = read.schema.clone();
    let wanted: Vec<String> = plan
        .read_columns()
        .iter()
        .map(|&i| schema.field(i).name().clone())
        .collect();
    let segments = (*read.segments).clone();
    let from_files = {
        let plan = plan.clone();
        stream::iter(segments).then(move |segment| {
            let (storage, plan, schema, wanted) = (
                storage.clone(),
                plan.clone(),
                schema.clone(),
                wanted.clone(),
            );
            async move {
                let batch = segment.read_columns(&storage, &schema, &wanted).await?;
                plan.finish(batch)
            }
        })
    };
    let memory = read.memory.map(move |rows| {
        let (batch, _) = rows.to_batch_with_row_ids()?;
        plan.finish(batch)
    });
    Ok(from_files
        .chain(stream::iter(memory))
        .filter(|part| std::future::ready(part.as_ref().map_or(true, |b| b.num_rows() > 0)))
        .boxed())
}

/// A batch in `schema` with only `present` columns holding data (the others all NULL), for a
/// part read with a projection.
pub(crate) fn widen(batch: &RecordBatch, schema: &SchemaRef, file: &str) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(column) if column.data_type() == field.data_type() => Ok(column.clone()),
            Some(column) => Err(WarehouseError::Corrupt {
                path: file.to_owned(),
                reason: format!(
                    "column `{}` is {}, the table's is {}",
                    field.name(),
                    column.data_type(),
                    field.data_type()
                ),
            }),
            None => Ok(arrow::array::new_null_array(
                field.data_type(),
                batch.num_rows(),
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    let relaxed = Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ));
    let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        relaxed, columns, &options,
    )?)
}
