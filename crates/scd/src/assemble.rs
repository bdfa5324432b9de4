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
    writes: &[&Write],
) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < writes.len() {
        let kind = write_kind(writes[start]);
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
    writes: &[&Write],
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
/// from one source (always, for runs of whole-row writes), else an
/// interleave.
fn business_column(
    input: &PlanInput<'_>,
    winner_values: &RecordBatch,
    writes: &[&Write],
    c: usize,
) -> Result<ArrayRef> {
    let sources: [&dyn Array; 2] = [
        winner_values.column(c).as_ref(),
        input.latest.column(c).as_ref(),
    ];
    let Some(first) = writes.first() else {
        return Ok(new_null_array(input.target.field(c).data_type(), 0));
    };
    let single_source = match first.values {
        Values::Change => Some(0),
        Values::Latest if writes.iter().all(|w| input.latest_row[w.winner].is_some()) => Some(1),
        _ => None,
    };
    if let Some(from) = single_source {
        let rows = UInt32Array::from_iter_values(writes.iter().map(|w| {
            let row = if from == 0 {
                w.winner
            } else {
                input.latest_row[w.winner].expect("checked above")
            };
            row as u32
        }));
        return Ok(take(sources[from], &rows, None)?);
    }
    let idx: Vec<(usize, usize)> = writes.iter().map(|w| source(input, w, c)).collect();
    let first = idx[0].0;
    if idx.iter().all(|&(s, _)| s == first) {
        let rows = UInt32Array::from_iter_values(idx.iter().map(|&(_, r)| r as u32));
        return Ok(take(sources[first], &rows, None)?);
    }
    Ok(arrow::compute::interleave(&sources, &idx)?)
}

/// The writes ordered by where their values come from (the latest row, the
/// change, a mix), keeping their relative order otherwise — as references,
/// nothing is moved — and, per winner, the position in that order of its
/// last write (which becomes the key's latest row).
pub(crate) fn order_writes(writes: &[Write], winners: usize) -> (Vec<&Write>, Vec<Option<usize>>) {
    let mut counts = [0usize; 3];
    for w in writes {
        counts[usize::from(write_kind(w))] += 1;
    }
    let mut next = [0, counts[0], counts[0] + counts[1]];
    let mut ordered: Vec<Option<&Write>> = vec![None; writes.len()];
    let mut last: Vec<Option<usize>> = vec![None; winners];
    for w in writes {
        let kind = usize::from(write_kind(w));
        let position = next[kind];
        next[kind] += 1;
        ordered[position] = Some(w);
        last[w.winner] = Some(position);
    }
    let ordered = ordered
        .into_iter()
        .map(|w| w.expect("every position filled once"))
        .collect();
    (ordered, last)
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
