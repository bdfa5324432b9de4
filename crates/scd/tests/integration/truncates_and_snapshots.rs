//! `APPLY AS TRUNCATE WHEN` and snapshot sources: the two ways a merge
//! deletes keys no change row names. A golden case per rule, named after it,
//! and property tests against a row-by-row model.

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use common::{Row, Target, apply, changes, s, table_rows};
use proptest::prelude::*;
use snowdrift_scd::{
    AbsentKeys, ChangeFormat, ChangePredicate, ChangeSource, MergeContext, OnBadRow, RejectReason,
    Scd1, Scd2, ScdError, TableSpec, merge,
};

/// `op` column, `op = 'TRUNCATE'` truncates, optionally sequenced by `seq`.
fn truncating(sequence: bool) -> TableSpec {
    let b = TableSpec::builder("customer", common::schema())
        .key(["id"])
        .format(ChangeFormat::OperationColumn("op".into()))
        .truncate_when(ChangePredicate::equals("op", "TRUNCATE"))
        .on_bad_row(OnBadRow::Reject);
    if sequence { b.sequence("seq") } else { b }
        .build()
        .unwrap()
}

fn plain_scd1() -> Scd1 {
    Scd1 {
        updated_at: None,
        ..Scd1::default()
    }
}

#[test]
fn apply_as_truncate_when_deletes_every_key_then_applies_the_changes_after_it() {
    let (scd1, spec) = (plain_scd1(), truncating(false));
    let mut t = Target::new(&scd1, &spec);
    let seed: Vec<Row<'_>> = (1..=3)
        .map(|id| (id, s_("a"), s_("x"), "INSERT", 0))
        .collect();
    t.apply(&seed, 10);
    let out = t.apply(
        &[
            (4, s_("d"), None, "INSERT", 0), // before the truncate: superseded
            (0, None, None, "TRUNCATE", 0),
            (2, s_("b"), None, "UPDATE", 0),
            (5, s_("e"), None, "INSERT", 0),
        ],
        20,
    );
    assert_eq!(
        table_rows(&t),
        [[s("2"), s("b"), None], [s("5"), s("e"), None]]
    );
    let m = out.metrics;
    assert_eq!((m.truncates, m.implicit_deletes, m.deleted), (1, 2, 2));
    assert_eq!((m.superseded, m.updated, m.inserted), (1, 1, 1));
    assert!(out.rejected.is_empty());
    // A stream on the table sees the truncated keys deleted.
    assert_eq!(out.changes.batch().unwrap().num_rows(), 2 + 2 + 1);
}

#[test]
fn a_truncate_row_needs_no_key_and_is_neither_applied_nor_rejected() {
    let (scd1, spec) = (plain_scd1(), truncating(false));
    let mut t = Target::new(&scd1, &spec);
    t.apply(&[(1, s_("a"), None, "INSERT", 0)], 10);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("email", DataType::Utf8, true),
        Field::new("city", DataType::Utf8, true),
        Field::new("op", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![None, Some(2)])),
        Arc::new(StringArray::from(vec![None, Some("b")])),
        Arc::new(StringArray::from(vec![None::<&str>, None])),
        Arc::new(StringArray::from(vec!["TRUNCATE", "INSERT"])),
    ];
    let batch = RecordBatch::try_new(schema, columns).unwrap();
    let out = merge(&scd1, &spec, &mut t, &[&batch], MergeContext::at(20)).unwrap();
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    assert_eq!(table_rows(&t), [[s("2"), s("b"), None]]);
}

#[test]
fn a_truncate_with_a_null_sequence_is_rejected_and_truncates_nothing() {
    let (scd1, spec) = (plain_scd1(), truncating(true));
    let mut t = Target::new(&scd1, &spec);
    t.apply(&[(1, s_("a"), None, "INSERT", 5)], 10);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("email", DataType::Utf8, true),
        Field::new("city", DataType::Utf8, true),
        Field::new("op", DataType::Utf8, false),
        Field::new("seq", DataType::Int64, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![None::<i64>])),
        Arc::new(StringArray::from(vec![None::<&str>])),
        Arc::new(StringArray::from(vec![None::<&str>])),
        Arc::new(StringArray::from(vec!["TRUNCATE"])),
        Arc::new(Int64Array::from(vec![None::<i64>])),
    ];
    let batch = RecordBatch::try_new(schema, columns).unwrap();
    let out = merge(&scd1, &spec, &mut t, &[&batch], MergeContext::at(20)).unwrap();
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].reason, RejectReason::NullSequence);
    assert_eq!(out.metrics.truncates, 0);
    assert_eq!(table_rows(&t).len(), 1);
}

#[test]
fn with_a_sequence_a_truncate_keeps_keys_changed_after_it_and_later_older_changes_are_late() {
    let (scd1, spec) = (plain_scd1(), truncating(true));
    let mut t = Target::new(&scd1, &spec);
    let seed = [
        (1, s_("a"), None, "INSERT", 10),
        (2, s_("b"), None, "INSERT", 30),
    ];
    t.apply(&seed, 10);
    // The truncate happened at 20: key 2, changed at 30, stays.
    let out = t.apply(&[(0, None, None, "TRUNCATE", 20)], 20);
    assert_eq!(out.metrics.implicit_deletes, 1);
    assert_eq!(table_rows(&t), [[s("2"), s("b"), None]]);
    assert_eq!(t.sequence_floor(), Some(20));
    // Changes from before the truncate arrive later: late, for a key the table
    // held and for one it never saw; a change after it applies.
    let later = [
        (1, s_("a2"), None, "UPDATE", 18),
        (7, s_("g"), None, "INSERT", 15),
        (8, s_("h"), None, "INSERT", 25),
    ];
    let check = |t: &mut snowdrift_scd::Table| {
        let out = apply(&scd1, &spec, t, &later, 30);
        let late: Vec<(usize, i64)> = out
            .late
            .iter()
            .map(|l| (l.row, l.applied_sequence))
            .collect();
        assert_eq!(late, [(0, 20), (1, 20)]);
        assert_eq!(
            table_rows(t),
            [[s("2"), s("b"), None], [s("8"), s("h"), None]]
        );
    };
    // The floor is part of what a durable store keeps: a table restored from
    // its rows and applied sequences still knows it.
    let mut restored = snowdrift_scd::load_table(&scd1, &spec, t.to_batch().unwrap()).unwrap();
    restored
        .restore_applied_sequences(&t.applied_sequences().unwrap())
        .unwrap();
    assert_eq!(restored.sequence_floor(), Some(20));
    check(&mut t);
    check(&mut restored);
}

/// Business columns only, all upserts: one snapshot per batch.
fn snapshot_spec(absent: AbsentKeys) -> TableSpec {
    TableSpec::builder("customer", common::schema())
        .key(["id"])
        .source(ChangeSource::Snapshots(absent))
        .on_bad_row(OnBadRow::Reject)
        .build()
        .unwrap()
}

fn snapshot(rows: &[(i64, &str)]) -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
        Arc::new(StringArray::from(vec![None::<&str>; rows.len()])),
    ];
    RecordBatch::try_new(common::schema(), columns).unwrap()
}

#[test]
fn a_snapshot_updates_changed_keys_inserts_new_ones_and_deletes_absent_ones() {
    let (scd1, spec) = (plain_scd1(), snapshot_spec(AbsentKeys::Delete));
    let mut t = Target::new(&scd1, &spec);
    let first = snapshot(&[(1, "a"), (2, "b"), (3, "c")]);
    merge(&scd1, &spec, &mut t, &[&first], MergeContext::at(10)).unwrap();
    let second = snapshot(&[(1, "a"), (2, "B"), (4, "d")]);
    let out = merge(&scd1, &spec, &mut t, &[&second], MergeContext::at(20)).unwrap();
    let m = out.metrics;
    assert_eq!(
        (
            m.unchanged,
            m.updated,
            m.inserted,
            m.deleted,
            m.implicit_deletes
        ),
        (1, 1, 1, 1, 1)
    );
    assert_eq!(
        table_rows(&t),
        [
            [s("1"), s("a"), None],
            [s("2"), s("B"), None],
            [s("4"), s("d"), None]
        ]
    );
}

#[test]
fn absent_keys_keep_leaves_keys_a_snapshot_does_not_name() {
    let (scd1, spec) = (plain_scd1(), snapshot_spec(AbsentKeys::Keep));
    let mut t = Target::new(&scd1, &spec);
    let first = snapshot(&[(1, "a"), (2, "b")]);
    let second = snapshot(&[(2, "B")]);
    merge(&scd1, &spec, &mut t, &[&first], MergeContext::at(10)).unwrap();
    let out = merge(&scd1, &spec, &mut t, &[&second], MergeContext::at(20)).unwrap();
    assert_eq!(out.metrics.implicit_deletes, 0);
    assert_eq!(
        table_rows(&t),
        [[s("1"), s("a"), None], [s("2"), s("B"), None]]
    );
}

#[test]
fn only_the_last_snapshot_of_a_merge_decides() {
    let (scd1, spec) = (plain_scd1(), snapshot_spec(AbsentKeys::Delete));
    let mut t = Target::new(&scd1, &spec);
    let (a, b) = (
        snapshot(&[(1, "a"), (2, "b"), (3, "c")]),
        snapshot(&[(2, "b")]),
    );
    let out = merge(&scd1, &spec, &mut t, &[&a, &b], MergeContext::at(10)).unwrap();
    assert_eq!(table_rows(&t), [[s("2"), s("b"), None]]);
    assert_eq!((out.metrics.superseded, out.metrics.inserted), (3, 1));
}

#[test]
fn a_snapshot_row_whose_key_cannot_be_read_deletes_nothing() {
    let (scd1, spec) = (plain_scd1(), snapshot_spec(AbsentKeys::Delete));
    let mut t = Target::new(&scd1, &spec);
    let first = snapshot(&[(1, "a"), (2, "b")]);
    merge(&scd1, &spec, &mut t, &[&first], MergeContext::at(10)).unwrap();
    let nullable = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("email", DataType::Utf8, true),
        Field::new("city", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![Some(1), None])),
        Arc::new(StringArray::from(vec!["A", "?"])),
        Arc::new(StringArray::from(vec![None::<&str>, None])),
    ];
    let second = RecordBatch::try_new(nullable, columns).unwrap();
    let out = merge(&scd1, &spec, &mut t, &[&second], MergeContext::at(20)).unwrap();
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].reason, RejectReason::NullKey);
    assert_eq!(out.metrics.implicit_deletes, 0);
    assert_eq!(
        table_rows(&t),
        [[s("1"), s("A"), None], [s("2"), s("b"), None]]
    );
}

#[test]
fn a_key_whose_snapshot_row_is_rejected_is_kept_as_stored() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("email", DataType::Utf8, false),
    ]));
    let spec = TableSpec::builder("customer", schema.clone())
        .key(["id"])
        .source(ChangeSource::Snapshots(AbsentKeys::Delete))
        .on_bad_row(OnBadRow::Reject)
        .build()
        .unwrap();
    let scd1 = plain_scd1();
    let mut t = Target::new(&scd1, &spec);
    let rows = |emails: Vec<Option<&str>>| {
        let nullable = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("email", DataType::Utf8, true),
        ]));
        let ids = Int64Array::from_iter_values(1..=emails.len() as i64);
        RecordBatch::try_new(
            nullable,
            vec![Arc::new(ids), Arc::new(StringArray::from(emails))],
        )
        .unwrap()
    };
    let first = rows(vec![Some("a"), Some("b")]);
    merge(&scd1, &spec, &mut t, &[&first], MergeContext::at(10)).unwrap();
    let second = rows(vec![Some("a"), None]); // NULL in a NOT NULL column
    let out = merge(&scd1, &spec, &mut t, &[&second], MergeContext::at(20)).unwrap();
    assert_eq!(out.rejected[0].reason, RejectReason::BadValue);
    assert_eq!(out.metrics.implicit_deletes, 0);
    assert_eq!(t.num_rows(), 2);
}

#[test]
fn a_history_from_snapshots_closes_the_versions_of_absent_keys() {
    let (scd2, spec) = (Scd2::default(), snapshot_spec(AbsentKeys::Delete));
    let mut h = Target::new(&scd2, &spec);
    let first = snapshot(&[(1, "a"), (2, "b")]);
    merge(&scd2, &spec, &mut h, &[&first], MergeContext::at(10)).unwrap();
    let second = snapshot(&[(1, "A")]);
    merge(&scd2, &spec, &mut h, &[&second], MergeContext::at(20)).unwrap();
    // id, email, city, start, end, is_current
    let rows: Vec<Vec<Option<String>>> = table_rows(&h);
    let versions: Vec<(Option<String>, Option<String>, Option<String>)> = rows
        .iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[5].clone()))
        .collect();
    assert_eq!(
        versions,
        [
            (s("1"), s("a"), s("false")),
            (s("1"), s("A"), s("true")),
            (s("2"), s("b"), s("false")),
        ]
    );
}

#[test]
fn a_snapshot_source_takes_no_sequence_and_no_operations() {
    let base = || {
        TableSpec::builder("customer", common::schema())
            .key(["id"])
            .source(ChangeSource::Snapshots(AbsentKeys::Delete))
    };
    let specs = [
        base().sequence("id"),
        base().format(ChangeFormat::OperationColumn("op".into())),
        base().truncate_when(ChangePredicate::equals("email", "x")),
    ];
    for spec in specs {
        assert!(matches!(spec.build(), Err(ScdError::InvalidSpec { .. })));
    }
}

fn s_(v: &str) -> Option<&str> {
    Some(v)
}

/// One step of a change stream: upsert `(id, email)`, delete `id`, or truncate.
#[derive(Debug, Clone)]
enum Step {
    Upsert(i64, &'static str),
    Delete(i64),
    Truncate,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0i64..8, prop::sample::select(vec!["a", "b", "c"])).prop_map(|(k, v)| Step::Upsert(k, v)),
        2 => (0i64..8).prop_map(Step::Delete),
        1 => Just(Step::Truncate),
    ]
}

proptest! {
    /// Row by row, a truncate empties the model; merged in any grouping, the
    /// table equals the model after every merge.
    #[test]
    fn truncates_match_a_row_by_row_model(
        steps in prop::collection::vec(step(), 0..40),
        cuts in prop::collection::vec(1usize..6, 0..20),
    ) {
        let (scd1, spec) = (plain_scd1(), truncating(false));
        let mut t = Target::new(&scd1, &spec);
        let mut model: BTreeMap<i64, &str> = BTreeMap::new();
        let mut rest = &steps[..];
        let mut cuts = cuts.into_iter().chain(std::iter::repeat(3));
        while !rest.is_empty() {
            let n = cuts.next().unwrap().min(rest.len());
            let (now, later) = rest.split_at(n);
            rest = later;
            let rows: Vec<Row<'_>> = now.iter().map(|st| match st {
                Step::Upsert(k, v) => (*k, Some(*v), None, "UPSERT", 0),
                Step::Delete(k) => (*k, None, None, "DELETE", 0),
                Step::Truncate => (0, None, None, "TRUNCATE", 0),
            }).collect();
            for st in now {
                match st {
                    Step::Upsert(k, v) => { model.insert(*k, v); }
                    Step::Delete(k) => { model.remove(k); }
                    Step::Truncate => model.clear(),
                }
            }
            merge(&scd1, &spec, &mut t, &[&changes(&rows)], MergeContext::at(1)).unwrap();
            let want: Vec<Vec<Option<String>>> = model
                .iter()
                .map(|(k, v)| vec![s(&k.to_string()), s(v), None])
                .collect();
            prop_assert_eq!(table_rows(&t), want);
        }
    }

    /// Merges of any number of snapshots at a time leave the table equal to
    /// the last snapshot (`Delete`), or to every key ever named with its last
    /// value (`Keep`).
    #[test]
    fn snapshots_match_the_last_snapshot_or_everything_named(
        snaps in prop::collection::vec(
            prop::collection::btree_map(0i64..10, prop::sample::select(vec!["a", "b"]), 0..8),
            1..8,
        ),
        group in 1usize..4,
        keep in any::<bool>(),
    ) {
        let absent = if keep { AbsentKeys::Keep } else { AbsentKeys::Delete };
        let (scd1, spec) = (plain_scd1(), snapshot_spec(absent));
        let mut t = Target::new(&scd1, &spec);
        let mut model: BTreeMap<i64, &str> = BTreeMap::new();
        for chunk in snaps.chunks(group) {
            let batches: Vec<RecordBatch> = chunk
                .iter()
                .map(|m| snapshot(&m.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>()))
                .collect();
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            merge(&scd1, &spec, &mut t, &refs, MergeContext::at(1)).unwrap();
            for snap in chunk {
                if !keep {
                    model.clear();
                }
                model.extend(snap.iter().map(|(k, v)| (*k, *v)));
            }
            let want: Vec<Vec<Option<String>>> = model
                .iter()
                .map(|(k, v)| vec![s(&k.to_string()), s(v), None])
                .collect();
            prop_assert_eq!(table_rows(&t), want);
        }
    }
}
