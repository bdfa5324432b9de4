//! Streaming reads of a table of the embedded engine (its [`crate::Warehouse::scan`]): the
//! last committed version, one segment file at a time, with a projection (read from the
//! Parquet files column by column) and an optional filter on the key (see [`crate::scan`]).
//! Memory holds one segment's rows at a time, never the whole table.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use futures::stream::{self, BoxStream, StreamExt as _};

use crate::catalog::TableDef;
use crate::error::Result;
use crate::local::segment::TableRead;
use crate::local::storage::Storage;
use crate::scan::{Scan, ScanPlan};

/// A stream of the rows of `read` (one committed version of table `def`), part by part.
pub(crate) fn scan(
    storage: Storage,
    def: &TableDef,
    read: TableRead,
    scan: &Scan,
) -> Result<BoxStream<'static, Result<RecordBatch>>> {
    let plan = Arc::new(ScanPlan::new(&def.name, &read.schema, scan)?);
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
        .map(|field| {
            let column = crate::local::table::stored_column(batch, field, file)?;
            Ok(column.unwrap_or_else(|| {
                arrow::array::new_null_array(field.data_type(), batch.num_rows())
            }))
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
