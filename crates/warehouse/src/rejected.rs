//! Rejected tables: where a merge task puts the change rows it does not apply (late rows, and
//! bad rows under [`crate::OnBadRow::Reject`]). Every backend creates the same table with the
//! same columns, so a user finds, fixes and re-applies rejected rows the same way everywhere
//! (`docs/operations.md`).
//!
//! A rejected table holds the source row's own columns (every column of the stream's table,
//! all nullable), then the columns named by the constants below.

use crate::catalog::{Column, ColumnType, TableDef};

/// Why the row was rejected: `late`, `bad_operation`, `null_key`, `null_sequence`,
/// `bad_value` ([`snowdrift_scd::RejectReason::as_str`]).
pub const REASON: &str = "reject_reason";
/// What is wrong, with the value.
pub const DETAIL: &str = "reject_detail";
/// The column at fault, when one is.
pub const COLUMN: &str = "reject_column";
/// The stream the row was read from.
pub const SOURCE_STREAM: &str = "source_stream";
/// The row's `METADATA$ROW_ID` in that stream.
pub const SOURCE_ROW_ID: &str = "source_row_id";
/// The staged file the row was loaded from, when known.
pub const STAGED_FILE: &str = "staged_file";
/// The row's line in that file, when known.
pub const STAGED_LINE: &str = "staged_line";
/// The task whose run rejected the row.
pub const TASK: &str = "task_name";
/// The graph run (see [`crate::TaskRun::graph_run`]) that rejected it.
pub const TASK_RUN: &str = "task_run";
/// When it was rejected (the merge's time, UTC).
pub const REJECTED_AT: &str = "rejected_at";

/// The rejected table of a merge into `target` when none is named: `<target>_rejected`.
pub fn default_name(target: &str) -> String {
    format!("{target}_rejected")
}

/// The columns a rejected table adds after the source row's columns.
pub fn metadata_columns() -> Vec<Column> {
    let text = |name: &str| Column::new(name, ColumnType::Varchar);
    vec![
        text(REASON).not_null(),
        text(DETAIL),
        text(COLUMN),
        text(SOURCE_STREAM).not_null(),
        text(SOURCE_ROW_ID),
        text(STAGED_FILE),
        Column::new(STAGED_LINE, ColumnType::Number),
        text(TASK),
        Column::new(TASK_RUN, ColumnType::Number),
        Column::new(REJECTED_AT, ColumnType::TimestampNtz).not_null(),
    ]
}

/// The rejected table `name` for merges reading streams on `source`: every column of
/// `source` (business and system, all nullable: a rejected row may hold a NULL key), then
/// [`metadata_columns`]. A plain table without a key.
///
/// ```
/// use snowdrift_warehouse::{PipelineSpec, TableDef, rejected};
/// let spec = PipelineSpec::default();
/// let raw = TableDef::new(spec.raw_table.clone(), spec.raw_columns());
/// let def = rejected::table_def("customer_rejected", &raw);
/// assert_eq!(def.columns[0].name, "customer_id");
/// assert!(def.columns[0].nullable);
/// assert!(def.columns.iter().any(|c| c.name == rejected::REASON));
/// ```
pub fn table_def(name: &str, source: &TableDef) -> TableDef {
    let mut columns: Vec<Column> = source
        .columns
        .iter()
        .chain(&source.system_columns())
        .map(|c| Column {
            nullable: true,
            ..c.clone()
        })
        .collect();
    columns.extend(metadata_columns());
    TableDef::new(name, columns)
}
