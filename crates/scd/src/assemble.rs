//! Turning a strategy's plan into Arrow rows: writes ordered by where their
//! values come from, each business column copied from its sources range by
//! range (on all cores), and the system columns from their values.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanBuilder, Int64Builder, MutableArrayData, RecordBatch, UInt32Array,
    make_array,
};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, FieldRef};
use rayon::prelude::*;

use crate::Result;
use crate::strategy::{PlanInput, SystemValue, SystemValues, Values, Write};

/// Build the written rows in the target schema as one batch. Writes come
/// grouped by where their values come from (see [`order_writes`]), and within
/// a group mostly in row order, so each business column is copied as a few
/// contiguous ranges of its sources (one pass, no per-row `take`, no
/// concatenation afterwards); scattered rows fall back to `take`/`interleave`.
pub(crate) fn assemble(
    input: &PlanInput<'_>,
    winner_values: &RecordBatch,
    writes: &[&Write],
) -> Result<Vec<RecordBatch>> {
    if writes.is_empty() {
        return Ok(Vec::new());
    }
    let business = input.spec.schema().fields().len();
    let whole_rows = writes
        .iter()
        .all(|w| !matches!(w.values, Values::LatestWith(_)));
    // Where every column of a whole-row write comes from is the same: the
    // ranges are computed once for all columns.
    let shared = whole_rows.then(|| ranges(writes.iter().map(|w| source(input, w, 0))));
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(input.target.fields().len());
    let business_columns = (0..business)
        .into_par_iter()
        .map(|c| business_column(input, winner_values, writes, c, shared.as_deref()))
        .collect::<Result<Vec<_>>>()?;
    columns.extend(business_columns);
    columns.extend(system_columns(
        &input.target.fields()[business..],
        writes.iter().map(|w| &w.system),
    )?);
    Ok(vec![RecordBatch::try_new(input.target.clone(), columns)?])
}

/// Consecutive `(source, row)` pairs merged into `(source, start, end)`
/// ranges.
fn ranges(sources: impl Iterator<Item = (usize, usize)>) -> Vec<(usize, usize, usize)> {
    let mut out: Vec<(usize, usize, usize)> = Vec::new();
    for (s, r) in sources {
        match out.last_mut() {
            Some((ls, _, end)) if *ls == s && *end == r => *end += 1,
            _ => out.push((s, r, r + 1)),
        }
    }
    out
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

/// Business column `c` of the writes: copied range by range when the rows
/// come in long runs, else one `take` (one source) or an `interleave`.
fn business_column(
    input: &PlanInput<'_>,
    winner_values: &RecordBatch,
    writes: &[&Write],
    c: usize,
    shared: Option<&[(usize, usize, usize)]>,
) -> Result<ArrayRef> {
    let sources: [&dyn Array; 2] = [
        winner_values.column(c).as_ref(),
        input.latest.column(c).as_ref(),
    ];
    let own;
    let runs = match shared {
        Some(runs) => runs,
        None => {
            own = ranges(writes.iter().map(|w| source(input, w, c)));
            &own
        }
    };
    // Long runs: copy ranges. Short ones (scattered rows): a gather is faster.
    if runs.len() * 8 <= writes.len() {
        let data = [sources[0].to_data(), sources[1].to_data()];
        let mut out = MutableArrayData::new(vec![&data[0], &data[1]], false, writes.len());
        for &(s, start, end) in runs {
            out.try_extend(s, start, end)?;
        }
        return Ok(make_array(out.freeze()));
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

/// The system columns `fields` (those after the business columns) of rows with the system
/// values `rows`, built in one pass over the rows. A text system column holds a value
/// derived from the rest of its row (a version id): it is left empty here and filled by
/// [`crate::MergeStrategy::complete_rows`].
pub(crate) fn system_columns<'a>(
    fields: &[FieldRef],
    rows: impl Iterator<Item = &'a SystemValues>,
) -> Result<Vec<ArrayRef>> {
    enum Column {
        Text(usize),
        Bool(BooleanBuilder),
        Time(Int64Builder),
    }
    let mut columns: Vec<Column> = fields
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 => Column::Text(0),
            DataType::Boolean => Column::Bool(BooleanBuilder::new()),
            _ => Column::Time(Int64Builder::new()),
        })
        .collect();
    for values in rows {
        for (s, column) in columns.iter_mut().enumerate() {
            match (column, values.get(s)) {
                (Column::Text(n), _) => *n += 1,
                (Column::Bool(b), SystemValue::Bool(x)) => b.append_value(x),
                (Column::Bool(b), _) => b.append_null(),
                (Column::Time(b), SystemValue::Timestamp(x)) => b.append_value(x),
                (Column::Time(b), _) => b.append_null(),
            }
        }
    }
    columns
        .into_iter()
        .zip(fields)
        .map(|(column, field)| -> Result<ArrayRef> {
            Ok(match column {
                Column::Text(rows) => Arc::new(arrow::array::StringArray::from_iter_values(
                    std::iter::repeat_n("", rows),
                )),
                Column::Bool(mut b) => Arc::new(b.finish()),
                Column::Time(mut b) => {
                    cast(&(Arc::new(b.finish()) as ArrayRef), field.data_type())?
                }
            })
        })
        .collect()
}
