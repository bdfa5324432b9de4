//! Helpers shared by the scd integration tests: a small customer table and
//! change batches written as tuples.
#![allow(unreachable_pub)]

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaBuilder, SchemaRef};
use snowdrift_scd::{
    ChangeFormat, MergeContext, MergeOutcome, MergeStrategy, Table, TableSpec, merge,
};

/// Business columns: id, email, city.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("email", DataType::Utf8, true),
        Field::new("city", DataType::Utf8, true),
    ]))
}

/// The spec with an `op` column and, optionally, the `seq` sequence.
pub fn spec(sequence: bool) -> TableSpec {
    let b = TableSpec::builder("customer", schema())
        .key(["id"])
        .format(ChangeFormat::OperationColumn("op".into()));
    if sequence { b.sequence("seq") } else { b }
        .build()
        .unwrap()
}

/// One change: id, email, city, op, seq.
pub type Row<'a> = (i64, Option<&'a str>, Option<&'a str>, &'a str, i64);

pub fn changes(rows: &[Row<'_>]) -> RecordBatch {
    let mut fields = SchemaBuilder::from(schema().fields());
    fields.push(Field::new("op", DataType::Utf8, false));
    fields.push(Field::new("seq", DataType::Int64, false));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.2))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.3))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.4))),
    ];
    RecordBatch::try_new(Arc::new(fields.finish()), columns).unwrap()
}

/// Merge `rows` at time `now`.
pub fn apply(
    strategy: &dyn MergeStrategy,
    spec: &TableSpec,
    table: &mut Table,
    rows: &[Row<'_>],
    now: i64,
) -> MergeOutcome {
    merge(
        strategy,
        spec,
        table,
        &[&changes(rows)],
        MergeContext::at(now),
    )
    .unwrap()
}

/// A target table with the strategy and spec that merge into it, so that a test's steps read
/// as `t.apply(rows, now)`. It derefs to the [`Table`].
pub struct Target<'a> {
    strategy: &'a dyn MergeStrategy,
    spec: &'a TableSpec,
    table: Table,
}

impl<'a> Target<'a> {
    /// An empty table of `strategy` for `spec`.
    pub fn new(strategy: &'a dyn MergeStrategy, spec: &'a TableSpec) -> Self {
        let table = strategy.create_table(spec).unwrap();
        Target {
            strategy,
            spec,
            table,
        }
    }

    /// Merge `rows` at time `now` (see [`apply`]).
    pub fn apply(&mut self, rows: &[Row<'_>], now: i64) -> MergeOutcome {
        apply(self.strategy, self.spec, &mut self.table, rows, now)
    }
}

impl std::ops::Deref for Target<'_> {
    type Target = Table;
    fn deref(&self) -> &Table {
        &self.table
    }
}

impl std::ops::DerefMut for Target<'_> {
    fn deref_mut(&mut self) -> &mut Table {
        &mut self.table
    }
}

/// Every cell as text (NULL as `None`, timestamps as µs), rows sorted by id and then by the
/// first system column (update or start time).
pub fn text_rows(batch: &RecordBatch) -> Vec<Vec<Option<String>>> {
    let mut rows = snowdrift_testkit::rows::cells_with_timestamps_as_micros(batch);
    rows.sort_by(|a, b| {
        // By id, then by the first system column (update or start time).
        let key = |r: &Vec<Option<String>>| {
            let num = |c: usize| -> i64 {
                r.get(c)
                    .and_then(|v| v.as_deref())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(i64::MIN)
            };
            (num(0), num(3), r.clone())
        };
        key(a).cmp(&key(b))
    });
    rows
}

/// The table's rows as text, sorted.
pub fn table_rows(table: &Table) -> Vec<Vec<Option<String>>> {
    text_rows(&table.to_batch().unwrap())
}

pub fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}
