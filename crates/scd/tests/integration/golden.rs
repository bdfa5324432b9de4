//! Golden cases: every merge rule on a table small enough to check by eye,
//! and the failures users of SCD tools report most, each a named test.

use crate::common;

use common::{Target, apply, changes, s, spec, table_rows};
use snowdrift_scd::MergeStrategy as _;
use snowdrift_scd::{
    KeyOutcome, MergeContext, OPEN_END_MICROS, RejectReason, Rule, Scd0, Scd1, Scd1Delete, Scd2,
    Scd2Delete, ScdError, ValidityColumns, check_history, merge,
};

const OPEN: &str = "253402214400000000";

fn history_ok(table: &snowdrift_scd::Table, allow_gaps: bool) {
    let v = check_history(
        &table.to_batch().unwrap(),
        &spec(false),
        &ValidityColumns::default(),
        allow_gaps,
    )
    .unwrap();
    assert!(v.is_empty(), "{v:?}");
}

#[test]
fn scd1_inserts_updates_and_ignores_exact_restatements() {
    let (scd1, spec) = (Scd1::default(), spec(false));
    let mut t = Target::new(&scd1, &spec);
    let m = t
        .apply(&[(1, Some("a@x"), Some("Oslo"), "INSERT", 0)], 10)
        .metrics;
    assert_eq!(m.inserted, 1);
    let m = t
        .apply(&[(1, Some("a@x"), Some("Oslo"), "UPDATE", 0)], 20)
        .metrics;
    assert_eq!((m.unchanged, m.target_rows_written), (1, 0));
    let m = t
        .apply(&[(1, Some("b@x"), Some("Oslo"), "UPDATE", 0)], 30)
        .metrics;
    assert_eq!(m.updated, 1);
    assert_eq!(table_rows(&t), [[s("1"), s("b@x"), s("Oslo"), s("30")]]);
}

#[test]
fn duplicate_keys_in_one_batch_pick_the_latest_row_deterministically() {
    let (scd1, spec) = (Scd1::default(), spec(false));
    let mut t = Target::new(&scd1, &spec);
    let rows = [
        (1, Some("first@x"), None, "INSERT", 0),
        (1, Some("second@x"), None, "UPDATE", 0),
        (1, Some("third@x"), None, "UPDATE", 0),
    ];
    let m = t.apply(&rows, 1).metrics;
    assert_eq!((m.inserted, m.superseded), (1, 2));
    assert_eq!(table_rows(&t)[0][1], s("third@x"));
}

#[test]
fn with_a_sequence_the_highest_sequence_wins_and_ties_go_to_the_later_row() {
    let (scd1, spec) = (Scd1::default(), spec(true));
    let mut t = Target::new(&scd1, &spec);
    let rows = [
        (1, Some("newest@x"), None, "INSERT", 9),
        (1, Some("older@x"), None, "UPDATE", 5),
        (2, Some("tie-first@x"), None, "INSERT", 7),
        (2, Some("tie-later@x"), None, "INSERT", 7),
    ];
    t.apply(&rows, 1);
    let rows = table_rows(&t);
    assert_eq!(
        (rows[0][1].clone(), rows[1][1].clone()),
        (s("newest@x"), s("tie-later@x"))
    );
}

#[test]
fn a_change_to_or_from_null_is_a_change() {
    let (scd1, scd2, spec) = (Scd1::default(), Scd2::default(), spec(false));
    let mut t1 = Target::new(&scd1, &spec);
    let mut t2 = Target::new(&scd2, &spec);
    for (now, email) in [(1, Some("a@x")), (2, None), (3, None), (4, Some("a@x"))] {
        let op = if now == 1 { "INSERT" } else { "UPDATE" };
        let r = [(1, email, None, op, 0)];
        let m1 = t1.apply(&r, now).metrics;
        let m2 = t2.apply(&r, now).metrics;
        let expect = if now == 3 {
            KeyOutcome::Unchanged
        } else if now == 1 {
            KeyOutcome::Inserted
        } else {
            KeyOutcome::Updated
        };
        let got = |m: snowdrift_scd::MergeMetrics| match (m.inserted, m.updated, m.unchanged) {
            (1, 0, 0) => KeyOutcome::Inserted,
            (0, 1, 0) => KeyOutcome::Updated,
            _ => KeyOutcome::Unchanged,
        };
        assert_eq!((got(m1), got(m2)), (expect, expect), "at {now}");
    }
    let emails: Vec<_> = table_rows(&t2).into_iter().map(|r| r[1].clone()).collect();
    assert_eq!(emails, [s("a@x"), None, s("a@x")]);
    history_ok(&t2, false);
}

#[test]
fn delete_removes_the_scd1_row_and_closes_the_scd2_version() {
    let (scd1, scd2, spec) = (Scd1::default(), Scd2::default(), spec(false));
    let mut t1 = Target::new(&scd1, &spec);
    let mut t2 = Target::new(&scd2, &spec);
    for (now, op) in [(10, "INSERT"), (20, "DELETE")] {
        let r = [(1, Some("a@x"), None, op, 0)];
        t1.apply(&r, now);
        t2.apply(&r, now);
    }
    assert_eq!(t1.num_rows(), 0);
    // Logical delete: the version stays, closed at the delete's time.
    assert_eq!(
        table_rows(&t2),
        [[s("1"), s("a@x"), None, s("10"), s("20"), s("false")]]
    );
    history_ok(&t2, true);
}

#[test]
fn a_deleted_key_that_comes_back_opens_a_new_version_never_a_second_current_row() {
    let (scd2, spec) = (Scd2::default(), spec(false));
    let mut t = Target::new(&scd2, &spec);
    for (now, op) in [
        (10, "INSERT"),
        (20, "DELETE"),
        (30, "INSERT"),
        (40, "INSERT"),
    ] {
        t.apply(&[(1, Some("a@x"), None, op, 0)], now);
    }
    let rows = table_rows(&t);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1][3..], [s("30"), s(OPEN), s("true")]);
    history_ok(&t, true);
}

#[test]
fn many_merges_never_leave_duplicate_current_rows() {
    let (scd2, spec) = (Scd2::default(), spec(false));
    let mut t = Target::new(&scd2, &spec);
    for now in 1..50 {
        let email = format!("v{}@x", now % 7);
        let rows: Vec<_> = (0..20)
            .map(|k| {
                (
                    k,
                    Some(email.as_str()),
                    None,
                    if (k + now) % 11 == 0 {
                        "DELETE"
                    } else {
                        "UPDATE"
                    },
                    0,
                )
            })
            .collect();
        t.apply(&rows, now * 10);
        history_ok(&t, true);
    }
}

#[test]
fn a_late_change_is_rejected_to_the_dead_letter_output() {
    let (scd1, scd2, spec) = (Scd1::default(), Scd2::default(), spec(true));
    let mut t1 = Target::new(&scd1, &spec);
    let mut t2 = Target::new(&scd2, &spec);
    t1.apply(&[(1, Some("new@x"), None, "INSERT", 100)], 1);
    t2.apply(&[(1, Some("new@x"), None, "INSERT", 100)], 1);
    let pairs: [(&dyn snowdrift_scd::MergeStrategy, &mut snowdrift_scd::Table); 2] =
        [(&scd1, &mut t1), (&scd2, &mut t2)];
    for (strategy, t) in pairs {
        let out = apply(
            strategy,
            &spec,
            t,
            &[
                (1, Some("old@x"), None, "UPDATE", 50),
                (2, Some("b@x"), None, "INSERT", 60),
            ],
            2,
        );
        assert_eq!(out.metrics.late, 1);
        assert_eq!(out.metrics.inserted, 1);
        assert_eq!(
            (
                out.late[0].row,
                out.late[0].sequence,
                out.late[0].applied_sequence
            ),
            (0, 50, 100)
        );
        assert_eq!(
            common::text_rows(&out.late_rows),
            [[s("1"), s("old@x"), None]]
        );
    }
    assert_eq!(table_rows(&t1)[0][1], s("new@x"));
}

#[test]
fn a_late_change_after_a_delete_does_not_resurrect_the_key() {
    let (scd1, spec) = (Scd1::default(), spec(true));
    let mut t = Target::new(&scd1, &spec);
    t.apply(&[(1, Some("a@x"), None, "INSERT", 10)], 1);
    t.apply(&[(1, Some("a@x"), None, "DELETE", 30)], 2);
    let out = t.apply(&[(1, Some("b@x"), None, "UPDATE", 20)], 3);
    assert_eq!(out.metrics.late, 1);
    assert_eq!(t.num_rows(), 0);
}

#[test]
fn validity_intervals_are_half_open_and_meet_exactly() {
    let (scd2, spec) = (Scd2::default(), spec(false));
    let mut t = Target::new(&scd2, &spec);
    for (now, email) in [(100, "a@x"), (200, "b@x"), (300, "c@x")] {
        t.apply(&[(1, Some(email), None, "UPDATE", 0)], now);
    }
    let rows = table_rows(&t);
    // [100, 200) [200, 300) [300, open): each end is the next start.
    let spans: Vec<_> = rows.iter().map(|r| (r[3].clone(), r[4].clone())).collect();
    assert_eq!(
        spans,
        [
            (s("100"), s("200")),
            (s("200"), s("300")),
            (s("300"), s(OPEN))
        ]
    );
    history_ok(&t, false);
}

#[test]
fn versions_with_tied_timestamps_are_ordered_strictly() {
    let (scd2, spec) = (Scd2::default(), spec(false));
    let mut t = Target::new(&scd2, &spec);
    // Three merges on the same clock tick (the original's defect 5).
    for email in ["a@x", "b@x", "c@x"] {
        t.apply(&[(1, Some(email), None, "UPDATE", 0)], 500);
    }
    let rows = table_rows(&t);
    let starts: Vec<_> = rows.iter().map(|r| r[3].clone()).collect();
    assert_eq!(starts, [s("500"), s("501"), s("502")]);
    history_ok(&t, false);
}

#[test]
fn untracked_columns_are_overwritten_in_place() {
    let scd2 = Scd2 {
        tracked: Some(vec!["email".into()]),
        ..Scd2::default()
    };
    let spec = spec(false);
    let mut t = Target::new(&scd2, &spec);
    t.apply(&[(1, Some("a@x"), Some("Oslo"), "INSERT", 0)], 10);
    let out = t.apply(&[(1, Some("a@x"), Some("Bergen"), "UPDATE", 0)], 20);
    assert_eq!(out.metrics.updated, 1);
    assert_eq!(
        table_rows(&t),
        [[s("1"), s("a@x"), s("Bergen"), s("10"), s(OPEN), s("true")]]
    );
    t.apply(&[(1, Some("b@x"), Some("Bergen"), "UPDATE", 0)], 30);
    assert_eq!(t.num_rows(), 2);
    let bad = Scd2 {
        tracked: Some(vec!["id".into()]),
        ..Scd2::default()
    };
    assert!(
        bad.create_table(&spec)
            .unwrap_err()
            .to_string()
            .contains("not a compared column")
    );
}

#[test]
fn hard_delete_policies() {
    let spec = spec(false);
    let run = |on_delete| {
        let tombstones = on_delete == Scd2Delete::CloseWithTombstone;
        let columns = ValidityColumns::default();
        let scd2 = Scd2 {
            columns: if tombstones {
                columns.with_tombstones("is_deleted")
            } else {
                columns
            },
            on_delete,
            ..Scd2::default()
        };
        let mut t = Target::new(&scd2, &spec);
        for (now, op) in [(10, "INSERT"), (20, "DELETE"), (30, "INSERT")] {
            t.apply(&[(1, Some("a@x"), None, op, 0)], now);
        }
        table_rows(&t)
    };
    // Ignore: the delete changes nothing, the comeback re-states the same values.
    assert_eq!(
        run(Scd2Delete::Ignore),
        [[s("1"), s("a@x"), None, s("10"), s(OPEN), s("true")]]
    );
    // Close: a gap between 20 and 30.
    let closed = run(Scd2Delete::Close);
    assert_eq!(
        closed
            .iter()
            .map(|r| (r[3].clone(), r[4].clone()))
            .collect::<Vec<_>>(),
        [(s("10"), s("20")), (s("30"), s(OPEN))]
    );
    // Tombstone: no gap; the tombstone is [20, 30) with is_deleted.
    let tomb = run(Scd2Delete::CloseWithTombstone);
    assert_eq!(
        tomb.iter()
            .map(|r| (r[3].clone(), r[4].clone(), r[6].clone()))
            .collect::<Vec<_>>(),
        [
            (s("10"), s("20"), s("false")),
            (s("20"), s("30"), s("true")),
            (s("30"), s(OPEN), s("false"))
        ]
    );
}

#[test]
fn scd1_delete_can_be_ignored() {
    let scd1 = Scd1 {
        on_delete: Scd1Delete::Ignore,
        ..Scd1::default()
    };
    let spec = spec(false);
    let mut t = Target::new(&scd1, &spec);
    t.apply(&[(1, Some("a@x"), None, "INSERT", 0)], 1);
    let m = t.apply(&[(1, Some("a@x"), None, "DELETE", 0)], 2).metrics;
    assert_eq!((m.ignored, t.num_rows()), (1, 1));
}

#[test]
fn scd0_keeps_the_first_values() {
    let spec = spec(false);
    let mut t = Target::new(&Scd0, &spec);
    t.apply(&[(1, Some("a@x"), None, "INSERT", 0)], 1);
    let m = t
        .apply(
            &[
                (1, Some("b@x"), None, "UPDATE", 0),
                (1, None, None, "DELETE", 0),
            ],
            2,
        )
        .metrics;
    assert_eq!(m.ignored, 1);
    assert_eq!(table_rows(&t), [[s("1"), s("a@x"), None]]);
}

#[test]
fn merge_metrics_count_target_rows() {
    let (scd2, spec) = (Scd2::default(), spec(false));
    let mut t = Target::new(&scd2, &spec);
    t.apply(
        &[
            (1, Some("a@x"), None, "INSERT", 0),
            (2, Some("b@x"), None, "INSERT", 0),
        ],
        1,
    );
    let m = t
        .apply(
            &[
                (1, Some("c@x"), None, "UPDATE", 0),
                (2, None, None, "DELETE", 0),
            ],
            2,
        )
        .metrics;
    // Update: close + new version; delete: close. Two old rows replaced.
    assert_eq!(
        (
            m.updated,
            m.deleted,
            m.target_rows_written,
            m.target_rows_removed
        ),
        (1, 1, 3, 2)
    );
    assert_eq!(OPEN_END_MICROS.to_string(), OPEN);
}

#[test]
fn the_checker_finds_every_kind_of_broken_history() {
    use std::sync::Arc;

    use arrow::array::{
        BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    };
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("email", DataType::Utf8, true),
        Field::new("city", DataType::Utf8, true),
        Field::new("start_time", ts.clone(), false),
        Field::new("end_time", ts, false),
        Field::new("is_current", DataType::Boolean, false),
    ]));
    let rows: [(i64, i64, i64, bool); 8] = [
        (1, 0, OPEN_END_MICROS, true), // key 1: two current rows
        (1, 5, OPEN_END_MICROS, true),
        (2, 9, 3, false),  // key 2: ends before it starts
        (3, 0, 10, true),  // key 3: current but closed
        (4, 0, 10, false), // key 4: overlap
        (4, 5, 20, false),
        (5, 0, 10, false), // key 5: a gap
        (5, 15, OPEN_END_MICROS, true),
    ];
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from(vec![Some("x"); 8])),
            Arc::new(StringArray::from(vec![None::<&str>; 8])),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                rows.iter().map(|r| r.1),
            )),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                rows.iter().map(|r| r.2),
            )),
            Arc::new(BooleanArray::from(
                rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap();
    let found = |allow_gaps| -> Vec<(String, Rule)> {
        check_history(
            &batch,
            &spec(false),
            &ValidityColumns::default(),
            allow_gaps,
        )
        .unwrap()
        .into_iter()
        .map(|v| (v.key, v.rule))
        .collect()
    };
    let with_gaps = found(true);
    for expected in [
        ("1".to_string(), Rule::OneCurrent),
        ("1".to_string(), Rule::NoOverlap),
        ("2".to_string(), Rule::EndAfterStart),
        ("3".to_string(), Rule::CurrentIffOpen),
        ("4".to_string(), Rule::NoOverlap),
    ] {
        assert!(
            with_gaps.contains(&expected),
            "{expected:?} not in {with_gaps:?}"
        );
    }
    assert!(!with_gaps.iter().any(|(k, _)| k == "5"));
    assert!(found(false).contains(&("5".to_string(), Rule::Contiguous)));
}

#[test]
fn bad_input_is_refused_with_row_column_and_value_and_changes_nothing() {
    let (scd1, spec) = (Scd1::default(), spec(false));
    let mut t = Target::new(&scd1, &spec);
    t.apply(&[(1, Some("a@x"), None, "INSERT", 0)], 1);
    let before = table_rows(&t);
    let good = changes(&[(2, Some("b@x"), None, "INSERT", 0)]);
    let bad_op = changes(&[(3, None, None, "INSERT", 0), (4, None, None, "UPSURT", 0)]);
    let err = merge(&scd1, &spec, &mut t, &[&good, &bad_op], MergeContext::at(2)).unwrap_err();
    assert!(
        matches!(&err, ScdError::BadRow { table, row: 2, reason: RejectReason::BadOperation, column, detail }
            if table == "customer" && column == "op" && detail.contains("UPSURT")),
        "{err}"
    );
    let missing = good.project(&[0, 1, 3, 4]).unwrap();
    let err = merge(&scd1, &spec, &mut t, &[&missing], MergeContext::at(2)).unwrap_err();
    assert!(
        matches!(&err, ScdError::MissingColumn { table, column } if table == "customer" && column == "city"),
        "{err}"
    );
    let null_key = {
        let b = changes(&[(5, None, None, "INSERT", 0)]);
        let mut cols = b.columns().to_vec();
        cols[0] = std::sync::Arc::new(arrow::array::Int64Array::from(vec![None::<i64>]));
        let fields: Vec<_> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        arrow::array::RecordBatch::try_new(
            std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
            cols,
        )
        .unwrap()
    };
    let err = merge(
        &scd1,
        &spec,
        &mut t,
        &[&good, &null_key],
        MergeContext::at(2),
    )
    .unwrap_err();
    assert!(
        matches!(&err, ScdError::BadRow { row: 1, reason: RejectReason::NullKey, column, .. } if column == "id"),
        "{err}"
    );
    let text_id = {
        let b = changes(&[(5, None, None, "INSERT", 0)]);
        let mut cols = b.columns().to_vec();
        cols[0] = std::sync::Arc::new(arrow::array::StringArray::from(vec!["five"]));
        let mut fields = arrow::datatypes::SchemaBuilder::from(b.schema().fields());
        *fields.field_mut(0) = std::sync::Arc::new(arrow::datatypes::Field::new(
            "id",
            arrow::datatypes::DataType::Utf8,
            false,
        ));
        arrow::array::RecordBatch::try_new(std::sync::Arc::new(fields.finish()), cols).unwrap()
    };
    let err = merge(&scd1, &spec, &mut t, &[&text_id], MergeContext::at(2)).unwrap_err();
    assert!(
        matches!(&err, ScdError::BadRow { row: 0, reason: RejectReason::BadValue, column, detail, .. }
            if column == "id" && detail.contains("five")),
        "{err}"
    );
    assert_eq!(table_rows(&t), before, "failed merges applied nothing");
}
