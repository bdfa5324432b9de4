//! The rows a merge task writes to its rejected table: each rejected source row's own columns
//! (taken from the merge's input as it was read), its reason and detail, the stream and row
//! id it came from, the staged file and line when known, the task run and the time. Written
//! in the same commit as the merge and the stream's offset, so a rejected row is never lost
//! and never rejected twice.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    new_null_array,
};
use arrow::compute::{CastOptions, cast_with_options, interleave};
use snowdrift_scd::Rejection;

use crate::catalog::TableDef;
use crate::error::Result;
use crate::local::streams::MergeInput;
use crate::rejected::metadata_columns;

/// The run that rejects rows.
pub(crate) struct RejectingRun<'a> {
    pub(crate) stream: &'a str,
    pub(crate) task: &'a str,
    pub(crate) graph_run: u64,
    pub(crate) now_micros: i64,
}

/// The rows of `rejected` (rows of `input`) in the rejected table `def`'s schema.
pub(crate) fn rejected_rows(
    def: &TableDef,
    input: &MergeInput,
    rejected: &[Rejection],
    run: &RejectingRun<'_>,
) -> Result<RecordBatch> {
    let schema = def.schema();
    let source_columns = def.columns.len().saturating_sub(metadata_columns().len());
    // Every rejection names a row of the input; one that does not is left out rather than
    // written with another row's values.
    let (rejected, at): (Vec<&Rejection>, Vec<(usize, usize)>) = rejected
        .iter()
        .filter_map(|r| Some((r, input.locate(r.row)?)))
        .unzip();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(def.columns.len());
    for field in schema.fields().iter().take(source_columns) {
        columns.push(source_column(input, field, &at)?);
    }
    let n = rejected.len();
    let text = |f: &dyn Fn(&Rejection) -> Option<String>| -> ArrayRef {
        Arc::new(rejected.iter().map(|r| f(r)).collect::<StringArray>())
    };
    let origins: Vec<Option<(String, u64)>> =
        rejected.iter().map(|r| input.origin(r.row)).collect();
    columns.push(text(&|r| Some(r.reason.as_str().to_owned())));
    columns.push(text(&|r| Some(r.detail.clone())));
    columns.push(text(&|r| r.column.clone()));
    columns.push(Arc::new(StringArray::from(vec![run.stream; n])));
    columns.push(text(&|r| input.row_id(r.row)));
    columns.push(Arc::new(
        origins
            .iter()
            .map(|o| o.as_ref().map(|(file, _)| file.as_str()))
            .collect::<StringArray>(),
    ));
    columns.push(Arc::new(
        origins
            .iter()
            .map(|o| {
                o.as_ref()
                    .map(|(_, line)| i64::try_from(*line).unwrap_or(i64::MAX))
            })
            .collect::<Int64Array>(),
    ));
    columns.push(Arc::new(StringArray::from(vec![run.task; n])));
    let graph_run = i64::try_from(run.graph_run).unwrap_or(i64::MAX);
    columns.push(Arc::new(Int64Array::from(vec![graph_run; n])));
    columns.push(Arc::new(TimestampMicrosecondArray::from(vec![
        run.now_micros;
        n
    ])));
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// Column `field` of the rows at `at` (batch, row) of `input`, NULL where a batch lacks it or
/// a value does not convert.
fn source_column(
    input: &MergeInput,
    field: &arrow::datatypes::Field,
    at: &[(usize, usize)],
) -> Result<ArrayRef> {
    let lenient = CastOptions {
        safe: true,
        ..CastOptions::default()
    };
    let per_batch: Vec<ArrayRef> = input
        .batches
        .iter()
        .map(|batch| match batch.column_by_name(field.name()) {
            Some(c) => cast_with_options(c, field.data_type(), &lenient)
                .unwrap_or_else(|_| new_null_array(field.data_type(), batch.num_rows())),
            None => new_null_array(field.data_type(), batch.num_rows()),
        })
        .collect();
    if at.is_empty() || per_batch.is_empty() {
        return Ok(new_null_array(field.data_type(), at.len()));
    }
    let arrays: Vec<&dyn Array> = per_batch.iter().map(|a| a.as_ref()).collect();
    Ok(interleave(&arrays, at)?)
}
