//! Bad rows and late rows: under `OnBadRow::Reject` a merge applies the good
//! rows and reports every other one with its reason, row and column; under
//! `OnBadRow::Fail` the first bad row fails the merge and nothing changes.
//! Applied sequences read back into a fresh table keep late changes late.

use crate::common;

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use common::{Target, apply, s, schema, table_rows};
use snowdrift_scd::{
    APPLIED_SEQUENCE, ChangeFormat, MergeContext, OnBadRow, RejectReason, Scd1, ScdError,
    TableSpec, merge,
};

fn spec(on_bad_row: OnBadRow) -> TableSpec {
    TableSpec::builder("customer", schema())
        .key(["id"])
        .format(ChangeFormat::OperationColumn("op".into()))
        .sequence("seq")
        .on_bad_row(on_bad_row)
        .build()
        .unwrap()
}

/// One raw change: a text id (so one can be bad), e-mail, operation, sequence.
type Raw<'a> = (Option<&'a str>, &'a str, Option<&'a str>, Option<i64>);

/// Rows with text ids, nullable ops and sequences.
fn raw(rows: &[Raw<'_>]) -> RecordBatch {
    let fields = vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("email", DataType::Utf8, true),
        Field::new("city", DataType::Utf8, true),
        Field::new("op", DataType::Utf8, true),
        Field::new("seq", DataType::Int64, true),
    ];
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.0))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
        Arc::new(StringArray::from(vec![None::<&str>; rows.len()])),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.2))),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.3))),
    ];
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

fn poison() -> RecordBatch {
    raw(&[
        (Some("1"), "good-before@x", Some("INSERT"), Some(1)),
        (Some("2"), "bad-op@x", Some("FOO"), Some(2)),
        (None, "null-key@x", Some("INSERT"), Some(3)),
        (Some("4"), "null-seq@x", Some("INSERT"), None),
        (Some("four"), "bad-id@x", Some("INSERT"), Some(5)),
        (Some("6"), "null-op@x", None, Some(6)),
        (Some("7"), "good-after@x", Some(" update "), Some(7)),
    ])
}

#[test]
fn reject_applies_the_good_rows_and_reports_each_bad_one_with_its_reason() {
    let (scd1, spec) = (Scd1::default(), spec(OnBadRow::Reject));
    let mut t = Target::new(&scd1, &spec);
    let out = merge(&scd1, &spec, &mut t, &[&poison()], MergeContext::at(10)).unwrap();
    let found: Vec<(usize, RejectReason, Option<&str>)> = out
        .rejected
        .iter()
        .map(|r| (r.row, r.reason, r.column.as_deref()))
        .collect();
    assert_eq!(
        found,
        [
            (1, RejectReason::BadOperation, Some("op")),
            (2, RejectReason::NullKey, Some("id")),
            (3, RejectReason::NullSequence, Some("seq")),
            (4, RejectReason::BadValue, Some("id")),
            (5, RejectReason::BadOperation, Some("op")),
        ]
    );
    assert!(out.rejected[0].detail.contains("FOO"));
    assert!(out.rejected[3].detail.contains("four"));
    assert_eq!((out.metrics.bad, out.metrics.inserted), (5, 2));
    let emails: Vec<Option<String>> = table_rows(&t).iter().map(|r| r[1].clone()).collect();
    assert_eq!(emails, [s("good-before@x"), s("good-after@x")]);
}

#[test]
fn fail_stops_at_the_first_bad_row_and_changes_nothing() {
    let (scd1, spec) = (Scd1::default(), spec(OnBadRow::Fail));
    let mut t = Target::new(&scd1, &spec);
    let error = merge(&scd1, &spec, &mut t, &[&poison()], MergeContext::at(10)).unwrap_err();
    match error {
        ScdError::BadRow {
            row,
            reason,
            column,
            ..
        } => assert_eq!(
            (row, reason, column.as_str()),
            (1, RejectReason::BadOperation, "op")
        ),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(t.num_rows(), 0);
}

#[test]
fn late_rows_are_rejections_too_with_the_sequence_column() {
    let (scd1, spec) = (Scd1::default(), spec(OnBadRow::Reject));
    let mut t = Target::new(&scd1, &spec);
    t.apply(&[(1, Some("new@x"), None, "INSERT", 200)], 1);
    let out = t.apply(&[(1, Some("old@x"), None, "UPDATE", 100)], 2);
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].reason, RejectReason::Late);
    assert_eq!(out.rejected[0].column.as_deref(), Some("seq"));
    assert_eq!(out.late_rows.num_rows(), 1);
    assert_eq!(table_rows(&t)[0][1], s("new@x"));
}

#[test]
fn applied_sequences_restored_into_a_fresh_table_keep_late_changes_late() {
    let (scd1, spec) = (Scd1::default(), spec(OnBadRow::Reject));
    let mut t = Target::new(&scd1, &spec);
    let first = t.apply(
        &[
            (1, Some("a@x"), None, "INSERT", 200),
            (2, Some("b@x"), None, "INSERT", 50),
            (2, None, None, "DELETE", 300),
        ],
        1,
    );
    let of_merge = first.applied_sequences.expect("a sequence is declared");
    assert_eq!(of_merge.num_rows(), 2);
    let saved = t.applied_sequences().unwrap();
    assert_eq!(saved.schema().field(1).name(), APPLIED_SEQUENCE);
    let rows = t.to_batch().unwrap();

    // A restart: the rows come back without their sequences, then the saved
    // sequences are restored (the deleted key 2 included).
    let mut restored = snowdrift_scd::load_table(&scd1, &spec, rows).unwrap();
    restored.restore_applied_sequences(&saved).unwrap();
    let late = apply(
        &scd1,
        &spec,
        &mut restored,
        &[
            (1, Some("older@x"), None, "UPDATE", 100),
            (2, Some("resurrected@x"), None, "INSERT", 250),
        ],
        2,
    );
    let reasons: Vec<_> = late.rejected.iter().map(|r| r.reason).collect();
    assert_eq!(reasons, [RejectReason::Late, RejectReason::Late]);
    assert_eq!(table_rows(&restored).len(), 1);
    assert_eq!(table_rows(&restored)[0][1], s("a@x"));
}

#[test]
fn restoring_sequences_with_a_null_key_is_an_error_not_a_panic() {
    let (scd1, spec) = (Scd1::default(), spec(OnBadRow::Reject));
    let mut t = Target::new(&scd1, &spec);
    let bad = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new(APPLIED_SEQUENCE, DataType::Int64, false),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![None, Some(2)])),
            Arc::new(Int64Array::from(vec![1, 2])),
        ],
    )
    .unwrap();
    assert!(matches!(
        t.restore_applied_sequences(&bad),
        Err(ScdError::TargetShape { .. })
    ));
}
