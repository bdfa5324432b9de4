//! Rows as text, for comparing results across backends and with expected tables: every value rendered the same way,
//! rows sorted, so two tables compare equal exactly when they hold the same rows.

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};

/// The rows of `batch`, restricted to `columns` (all when empty), one string per row with
/// values separated by `|` and NULL shown as `NULL`, in table order.
pub fn rows_of(batch: &RecordBatch, columns: &[&str]) -> Vec<String> {
    let options = FormatOptions::default().with_null("NULL");
    let indices: Vec<usize> = if columns.is_empty() {
        (0..batch.num_columns()).collect()
    } else {
        columns
            .iter()
            .filter_map(|c| batch.schema().index_of(c).ok())
            .collect()
    };
    let formatters: Vec<ArrayFormatter<'_>> = indices
        .iter()
        .filter_map(|&i| ArrayFormatter::try_new(batch.column(i).as_ref(), &options).ok())
        .collect();
    (0..batch.num_rows())
        .map(|row| {
            formatters
                .iter()
                .map(|f| f.value(row).to_string())
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

/// [`rows_of`], sorted.
pub fn sorted_rows(batch: &RecordBatch, columns: &[&str]) -> Vec<String> {
    let mut rows = rows_of(batch, columns);
    rows.sort();
    rows
}
