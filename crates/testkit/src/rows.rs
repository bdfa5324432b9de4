//! Batches as text cells, the one way the test suites of snowdrift's crates compare a batch with
//! the rows they expect (in the spirit of DataFusion's `assert_batches_sorted_eq!`): every cell
//! cast to text by Arrow's own cast, NULL as `None`, so a failing assertion prints readable rows
//! and two batches compare equal exactly when they hold the same values.
//!
//! The product's own row rendering, used to verify a run against its ground truth, is
//! `snowdrift_warehouse::rows`; this module is for tests of crates below the warehouse.

use arrow::array::{Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;

/// Every cell of `batch` as text (NULL as `None`), row by row, in batch order.
///
/// Timestamps are rendered as Arrow renders them (`2024-01-01T00:00:00`); use
/// [`cells_with_timestamps_as_micros`] to see them as integers.
///
/// # Panics
///
/// On a column type Arrow cannot cast to text (a test fixture's mistake).
pub fn cells(batch: &RecordBatch) -> Vec<Vec<Option<String>>> {
    render(batch, false)
}

/// As [`cells`], with every timestamp as its integer count of units since the epoch.
///
/// # Panics
///
/// As [`cells`].
pub fn cells_with_timestamps_as_micros(batch: &RecordBatch) -> Vec<Vec<Option<String>>> {
    render(batch, true)
}

/// [`cells`], sorted.
///
/// # Panics
///
/// As [`cells`].
pub fn sorted_cells(batch: &RecordBatch) -> Vec<Vec<Option<String>>> {
    let mut rows = cells(batch);
    rows.sort();
    rows
}

fn render(batch: &RecordBatch, timestamps_as_integers: bool) -> Vec<Vec<Option<String>>> {
    let columns: Vec<StringArray> = batch
        .columns()
        .iter()
        .map(|column| {
            let column = match column.data_type() {
                DataType::Timestamp(..) if timestamps_as_integers => {
                    cast(column, &DataType::Int64).expect("a timestamp casts to Int64")
                }
                _ => column.clone(),
            };
            let text = cast(&column, &DataType::Utf8).expect("the column casts to text");
            text.as_any()
                .downcast_ref::<StringArray>()
                .expect("a cast to Utf8 gives a StringArray")
                .clone()
        })
        .collect();
    (0..batch.num_rows())
        .map(|row| {
            columns
                .iter()
                .map(|c| (!c.is_null(row)).then(|| c.value(row).to_owned()))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
    use std::sync::Arc;

    fn batch() -> RecordBatch {
        RecordBatch::try_from_iter([
            (
                "id",
                Arc::new(Int64Array::from(vec![2, 1])) as Arc<dyn Array>,
            ),
            (
                "name",
                Arc::new(StringArray::from(vec![None, Some("Ann")])) as _,
            ),
            (
                "at",
                Arc::new(TimestampMicrosecondArray::from(vec![1_000_000, 0])) as _,
            ),
        ])
        .unwrap()
    }

    #[test]
    fn cells_keep_order_and_show_null_as_none() {
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(
            cells(&batch()),
            vec![
                vec![s("2"), None, s("1970-01-01T00:00:01")],
                vec![s("1"), s("Ann"), s("1970-01-01T00:00:00")],
            ]
        );
        assert_eq!(
            cells_with_timestamps_as_micros(&batch())[0][2],
            s("1000000")
        );
        assert_eq!(sorted_cells(&batch())[0][0], s("1"));
    }
}
