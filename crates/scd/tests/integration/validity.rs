//! The validity columns as dbt snapshots and Databricks AUTO CDC write them:
//! their names, the open end written as NULL, dbt's version id and
//! `hard_deletes: new_record` tombstones, each rule a named case.

use crate::common;

use arrow::array::{Array, BooleanArray, Int64Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use common::{Target, spec};
use snowdrift_scd::MergeStrategy as _;
use snowdrift_scd::{
    OPEN_END_MICROS, OpenEnd, Scd2, Scd2Delete, ValidityColumns, check_history, version_id,
};

fn ints(batch: &RecordBatch, name: &str) -> Int64Array {
    let c = cast(batch.column_by_name(name).unwrap(), &DataType::Int64).unwrap();
    c.as_any().downcast_ref::<Int64Array>().unwrap().clone()
}

fn texts(batch: &RecordBatch, name: &str) -> StringArray {
    let c = batch.column_by_name(name).unwrap();
    c.as_any().downcast_ref::<StringArray>().unwrap().clone()
}

fn flags(batch: &RecordBatch, name: &str) -> BooleanArray {
    let c = batch.column_by_name(name).unwrap();
    c.as_any().downcast_ref::<BooleanArray>().unwrap().clone()
}

/// A dbt-named history of key 1: inserted at 10, updated at 20, deleted at
/// 30, with `on_delete`.
fn dbt_history(on_delete: Scd2Delete, open_end: OpenEnd) -> RecordBatch {
    let scd2 = Scd2 {
        columns: ValidityColumns {
            open_end,
            deleted: (on_delete == Scd2Delete::CloseWithTombstone)
                .then(|| "dbt_is_deleted".to_string()),
            ..ValidityColumns::dbt()
        },
        on_delete,
        ..Scd2::default()
    };
    let spec = spec(false);
    let mut t = Target::new(&scd2, &spec);
    t.apply(&[(1, Some("a"), None, "INSERT", 0)], 10);
    t.apply(&[(1, Some("b"), None, "UPDATE", 0)], 20);
    t.apply(&[(1, None, None, "DELETE", 0)], 30);
    t.apply(&[(2, Some("z"), None, "INSERT", 0)], 40);
    let batch = t.to_batch().unwrap();
    let violations = check_history(&batch, &spec, &scd2.columns, on_delete == Scd2Delete::Close);
    assert_eq!(violations.unwrap(), []);
    let order = arrow::compute::lexsort_to_indices(
        &[
            arrow::compute::SortColumn {
                values: batch.column_by_name("id").unwrap().clone(),
                options: None,
            },
            arrow::compute::SortColumn {
                values: batch.column_by_name("dbt_valid_from").unwrap().clone(),
                options: None,
            },
        ],
        None,
    )
    .unwrap();
    arrow::compute::take_record_batch(&batch, &order).unwrap()
}

#[test]
fn an_open_end_written_as_null_marks_the_current_versions_only() {
    let h = dbt_history(Scd2Delete::Close, OpenEnd::Null);
    let ends = ints(&h, "dbt_valid_to");
    let from = ints(&h, "dbt_valid_from");
    // Key 1: [10, 20), [20, 30) (closed by the delete); key 2: [40, NULL).
    assert_eq!(from.values(), &[10, 20, 40]);
    assert_eq!(ends.iter().collect::<Vec<_>>(), [Some(20), Some(30), None]);
    assert_eq!(
        flags(&h, "dbt_is_current").iter().collect::<Vec<_>>(),
        [Some(false), Some(false), Some(true)]
    );
    assert!(
        h.schema()
            .field_with_name("dbt_valid_to")
            .unwrap()
            .is_nullable()
    );
}

#[test]
fn an_open_end_written_as_9999_12_31_is_dbt_valid_to_current() {
    let h = dbt_history(Scd2Delete::Close, OpenEnd::FarFuture);
    let ends = ints(&h, "dbt_valid_to");
    assert_eq!(ends.values(), &[20, 30, OPEN_END_MICROS]);
    assert!(
        !h.schema()
            .field_with_name("dbt_valid_to")
            .unwrap()
            .is_nullable()
    );
}

#[test]
fn a_version_id_is_the_hash_of_key_and_start_and_stays_when_the_version_closes() {
    let h = dbt_history(Scd2Delete::Close, OpenEnd::Null);
    let ids = texts(&h, "dbt_scd_id");
    let want = [
        version_id(&["1"], 10),
        version_id(&["1"], 20),
        version_id(&["2"], 40),
    ];
    assert_eq!(
        ids.iter().collect::<Vec<_>>(),
        want.iter().map(|w| Some(w.as_str())).collect::<Vec<_>>()
    );
    assert_eq!(ids.null_count(), 0);
}

#[test]
fn hard_deletes_new_record_leaves_a_dbt_is_deleted_tombstone_that_is_current() {
    let h = dbt_history(Scd2Delete::CloseWithTombstone, OpenEnd::Null);
    // Key 1: [10, 20) a, [20, 30) b, then the tombstone [30, NULL) with b's values.
    assert_eq!(ints(&h, "dbt_valid_from").values(), &[10, 20, 30, 40]);
    assert_eq!(
        ints(&h, "dbt_valid_to").iter().collect::<Vec<_>>(),
        [Some(20), Some(30), None, None]
    );
    assert_eq!(
        flags(&h, "dbt_is_deleted").iter().collect::<Vec<_>>(),
        [Some(false), Some(false), Some(true), Some(false)]
    );
    assert_eq!(texts(&h, "email").value(2), "b");
    assert_eq!(texts(&h, "dbt_scd_id").value(2), version_id(&["1"], 30));
}

#[test]
fn a_key_back_after_a_delete_reopens_after_a_null_open_end() {
    let scd2 = Scd2 {
        columns: ValidityColumns::auto_cdc(),
        ..Scd2::default()
    };
    let spec = spec(false);
    let mut t = Target::new(&scd2, &spec);
    t.apply(&[(1, Some("a"), None, "INSERT", 0)], 10);
    t.apply(&[(1, None, None, "DELETE", 0)], 20);
    t.apply(&[(1, Some("a"), None, "INSERT", 0)], 30);
    t.apply(&[(1, Some("a"), None, "UPDATE", 0)], 40);
    let h = t.to_batch().unwrap();
    let mut rows: Vec<(i64, Option<i64>)> = ints(&h, "__START_AT")
        .values()
        .iter()
        .copied()
        .zip(ints(&h, "__END_AT").iter())
        .collect();
    rows.sort();
    // The re-statement at 40 changes nothing: the NULL end reads as open.
    assert_eq!(rows, [(10, Some(20)), (30, None)]);
    assert_eq!(check_history(&h, &spec, &scd2.columns, true).unwrap(), []);
}

#[test]
fn tombstones_without_a_deleted_column_are_refused_and_the_column_is_written_false_without_them() {
    let refused = Scd2 {
        on_delete: Scd2Delete::CloseWithTombstone,
        ..Scd2::default()
    }
    .create_table(&spec(false));
    assert!(
        matches!(refused, Err(snowdrift_scd::ScdError::InvalidSpec { .. })),
        "{refused:?}"
    );
    // A history that has the column but closes deletes writes it FALSE and leaves a gap.
    let closed = Scd2 {
        columns: ValidityColumns::dbt().with_tombstones("dbt_is_deleted"),
        on_delete: Scd2Delete::Close,
        ..Scd2::default()
    };
    let spec = spec(false);
    let mut t = Target::new(&closed, &spec);
    for (now, op) in [(10, "INSERT"), (20, "DELETE"), (30, "INSERT")] {
        t.apply(&[(1, Some("a@x"), None, op, 0)], now);
    }
    let h = t.to_batch().unwrap();
    assert_eq!(h.num_rows(), 2);
    assert_eq!(
        flags(&h, "dbt_is_deleted").iter().collect::<Vec<_>>(),
        [Some(false), Some(false)]
    );
}
