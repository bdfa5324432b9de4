//! Turning a strategy's plan into Arrow rows: writes ordered by where their
//! values come from, then each run of one source built with one `take` per
//! column (on all cores), and the system columns from their values.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanBuilder, Int64Builder, RecordBatch, UInt32Array, new_null_array,
};
use arrow::compute::{cast, take};
use arrow::datatypes::DataType;
use rayon::prelude::*;

use crate::Result;
use crate::merge::{PlanInput, SystemValue, Values, Write};

/// Build the written rows in the target schema: one batch per run of writes
/// with the same kind of source (see [`order_writes`]), so that each column
/// of a run is a single `take` and nothing is copied twice.
pub(crate) fn assemble(
    input: &PlanInput<'_>,
    winner_values: &RecordBatch,
    writes: &[Write],
) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < writes.len() {
        let kind = write_kind(&writes[start]);
        let end = writes[start..]
            .iter()
            .position(|w| write_kind(w) != kind)
            .map_or(writes.len(), |n| start + n);
        out.push(assemble_run(input, winner_values, &writes[start..end])?);
        start = end;
    }
    Ok(out)
}

fn assemble_run(
    input: &PlanInput<'_>,
    winner_values: &RecordBatch,
    writes: &[Write],
) -> Result<RecordBatch> {
    let business = input.spec.schema().fields().len();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(input.target.fields().len());
    let business_columns = (0..business)
        .into_par_iter()
        .map(|c| business_column(input, winner_values, writes, c))
        .collect::<Result<Vec<_>>>()?;
    columns.extend(business_columns);
    for (s, field) in input.target.fields().iter().enumerate().skip(business) {
        let values = writes.iter().map(|w| w.system.get(s - business));
        columns.push(system_column(field.data_type(), values)?);
    }
    Ok(RecordBatch::try_new(input.target.clone(), columns)?)
}

fn write_kind(w: &Write) -> u8 {
    match w.values {
        Values::Latest => 0,
        Values::Change => 1,
        Values::LatestWith(_) => 2,
    }
}

/// Where column `c` of a write comes from: 0 = the change, 1 = the latest row.
fn source(input: &PlanInput<'_>, w: &Write, c: usize) -> (usize, usize) {
    let from_change = match &w.values {
        Values::Change => true,
        Values::Latest => false,
        Values::LatestWith(cols) => cols.contains(&c),
    };
    match (from_change, input.latest_row[w.winner]) {
        (false, Some(r)) => (1, r),
        _ => (0, w.winner),
    }
}

/// Business column `c` of a run of writes: one `take` when every row comes
/// from one source, else an interleave.
fn business_column(
    input: &PlanInput<'_>,
    winner_values: &RecordBatch,
    writes: &[Write],
    c: usize,
) -> Result<ArrayRef> {
    let sources: [&dyn Array; 2] = [
        winner_values.column(c).as_ref(),
        input.latest.column(c).as_ref(),
    ];
    let idx: Vec<(usize, usize)> = writes.iter().map(|w| source(input, w, c)).collect();
    if idx.is_empty() {
        return Ok(new_null_array(input.target.field(c).data_type(), 0));
    }
    let first = idx[0].0;
    if idx.iter().all(|&(s, _)| s == first) {
        let rows = UInt32Array::from_iter_values(idx.iter().map(|&(_, r)| r as u32));
        return Ok(take(sources[first], &rows, None)?);
    }
    Ok(arrow::compute::interleave(&sources, &idx)?)
}

/// Order writes by where their values come from (the latest row, the
/// change, a mix), keeping their relative order otherwise; returns, per
/// winner, the new position of its last write (which becomes the key's
/// latest row).
pub(crate) fn order_writes(writes: &mut Vec<Write>, winners: usize) -> Vec<Option<usize>> {
    let mut last: Vec<Option<usize>> = vec![None; winners];
    for (i, w) in writes.iter().enumerate() {
        last[w.winner] = Some(i);
    }
    let mut order: Vec<usize> = (0..writes.len()).collect();
    order.sort_by_key(|&i| write_kind(&writes[i]));
    let mut position = vec![0; writes.len()];
    for (new, &old) in order.iter().enumerate() {
        position[old] = new;
    }
    let mut taken: Vec<Option<Write>> = std::mem::take(writes).into_iter().map(Some).collect();
    *writes = order
        .iter()
        .map(|&i| taken[i].take().expect("each write once"))
        .collect();
    last.into_iter().map(|l| l.map(|i| position[i])).collect()
}

fn system_column(ty: &DataType, values: impl Iterator<Item = SystemValue>) -> Result<ArrayRef> {
    if ty == &DataType::Boolean {
        let mut b = BooleanBuilder::new();
        for v in values {
            match v {
                SystemValue::Bool(x) => b.append_value(x),
                _ => b.append_null(),
            }
        }
        return Ok(Arc::new(b.finish()));
    }
    let mut b = Int64Builder::new();
    for v in values {
        match v {
            SystemValue::Timestamp(x) => b.append_value(x),
            _ => b.append_null(),
        }
    }
    Ok(cast(&(Arc::new(b.finish()) as ArrayRef), ty)?)
}
