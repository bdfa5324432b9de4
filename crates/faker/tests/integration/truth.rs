//! Hand-checked cases of the ground truth: each rule of the merge model
//! (`docs/faker.md`, "Ground truth") on a batch small enough to verify by eye.

use crate::common;

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, SchemaBuilder, TimeUnit};
use common::{column, rows};
use snowdrift_faker::{
    ChangeStream, EntitySpec, FakerError, GroundTruth, MergeSummary, OPEN_END_MICROS, VersionOrder,
};

/// One change row: key, e-mail (the only column that varies), operation,
/// event time in seconds.
type Change<'a> = (i64, Option<&'a str>, &'a str, i64);

fn batch(changes: &[Change<'_>]) -> RecordBatch {
    let spec = EntitySpec::customer();
    let mut fields = SchemaBuilder::from(spec.schema().fields());
    fields.push(Field::new("op", DataType::Utf8, false));
    fields.push(Field::new(
        "event_time",
        DataType::Timestamp(TimeUnit::Microsecond, None),
        false,
    ));
    let constant = |v: &str| -> ArrayRef { Arc::new(StringArray::from(vec![v; changes.len()])) };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(changes.iter().map(|c| c.0))),
        constant("Ann"),
        constant("Lee"),
        Arc::new(StringArray::from_iter(changes.iter().map(|c| c.1))),
        constant("1 Main St"),
        constant("Springfield"),
        constant("Ohio"),
        constant("United States"),
        Arc::new(StringArray::from_iter_values(changes.iter().map(|c| c.2))),
        Arc::new(TimestampMicrosecondArray::from_iter_values(
            changes.iter().map(|c| c.3 * 1_000_000),
        )),
    ];
    RecordBatch::try_new(Arc::new(fields.finish()), columns).unwrap()
}

fn truth(order: VersionOrder) -> GroundTruth {
    GroundTruth::new(EntitySpec::customer(), Some("op"), Some("event_time"))
        .with_order(order)
        .unwrap()
}

fn emails(b: &RecordBatch) -> Vec<Option<String>> {
    column(b, "email")
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

#[test]
fn duplicate_keys_in_one_batch_last_row_wins() {
    let mut t = truth(VersionOrder::Arrival);
    let summary = t
        .merge(&[&batch(&[
            (1, Some("a@x"), "INSERT", 1),
            (1, Some("b@x"), "UPDATE", 2),
            (1, Some("c@x"), "UPDATE", 3),
        ])])
        .unwrap();
    assert_eq!(
        summary,
        MergeSummary {
            rows: 3,
            superseded: 2,
            inserted: 1,
            ..MergeSummary::default()
        }
    );
    assert_eq!(emails(&t.expected_current().unwrap()), [s("c@x")]);
    // One merge collapses intermediate versions: history has one version.
    assert_eq!(t.version_count(1), 1);
}

#[test]
fn separate_merges_keep_every_version() {
    let mut t = truth(VersionOrder::Arrival);
    for (i, e) in ["a@x", "b@x", "c@x"].into_iter().enumerate() {
        let op = if i == 0 { "INSERT" } else { "UPDATE" };
        t.merge(&[&batch(&[(1, Some(e), op, i as i64)])]).unwrap();
    }
    let h = t.expected_history().unwrap();
    assert_eq!(emails(&h), [s("a@x"), s("b@x"), s("c@x")]);
    assert_eq!(column(&h, "version"), [s("1"), s("2"), s("3")]);
    assert_eq!(
        column(&h, "is_current"),
        [s("false"), s("false"), s("true")]
    );
    // Under arrival order the pipeline's clock stamps versions: NULL here.
    assert_eq!(column(&h, "start_time"), [None, None, None]);
}

#[test]
fn comparison_is_null_safe() {
    let mut t = truth(VersionOrder::Arrival);
    t.merge(&[&batch(&[(1, None, "INSERT", 1)])]).unwrap();
    // NULL → NULL is no change.
    let same = t.merge(&[&batch(&[(1, None, "UPDATE", 2)])]).unwrap();
    assert_eq!(same.unchanged, 1);
    // NULL → value and value → NULL are changes.
    assert_eq!(
        t.merge(&[&batch(&[(1, Some("a@x"), "UPDATE", 3)])])
            .unwrap()
            .updated,
        1
    );
    assert_eq!(
        t.merge(&[&batch(&[(1, None, "UPDATE", 4)])])
            .unwrap()
            .updated,
        1
    );
    assert_eq!(
        emails(&t.expected_history().unwrap()),
        [None, s("a@x"), None]
    );
}

#[test]
fn exact_restatement_adds_no_version() {
    let mut t = truth(VersionOrder::Arrival);
    t.merge(&[&batch(&[(1, Some("a@x"), "INSERT", 1)])])
        .unwrap();
    let again = t
        .merge(&[&batch(&[(1, Some("a@x"), "UPDATE", 2)])])
        .unwrap();
    assert_eq!(again.unchanged, 1);
    assert_eq!(t.version_count(1), 1);
}

#[test]
fn delete_closes_history_and_a_comeback_opens_a_new_version() {
    let mut t = truth(VersionOrder::EventTime);
    t.merge(&[&batch(&[
        (1, Some("a@x"), "INSERT", 10),
        (2, Some("z@x"), "INSERT", 10),
    ])])
    .unwrap();
    let del = t
        .merge(&[&batch(&[(1, Some("a@x"), "DELETE", 20)])])
        .unwrap();
    assert_eq!(del.deleted, 1);
    let current = t.expected_current().unwrap();
    assert_eq!(column(&current, "customer_id"), [s("2")]);
    // Logical delete: the version stays, closed at the delete's time.
    let h = t.expected_history().unwrap();
    assert_eq!(rows(&h).len(), 2);
    assert_eq!(column(&h, "is_current")[0], s("false"));

    t.merge(&[&batch(&[(1, Some("a@x"), "INSERT", 30)])])
        .unwrap();
    let h = t.expected_history().unwrap();
    let key1: Vec<_> = rows(&h).into_iter().filter(|r| r[0] == s("1")).collect();
    assert_eq!(
        key1.len(),
        2,
        "same values, but a new version after the gap"
    );
    let (ts, te) = (
        |r: &Vec<Option<String>>| r[10].clone(),
        |r: &Vec<Option<String>>| r[11].clone(),
    );
    assert_eq!(ts(&key1[0]).unwrap(), "1970-01-01T00:00:10");
    assert_eq!(te(&key1[0]).unwrap(), "1970-01-01T00:00:20");
    assert_eq!(ts(&key1[1]).unwrap(), "1970-01-01T00:00:30");
    assert!(te(&key1[1]).unwrap().starts_with("9999-12-31"));
    assert_eq!(
        column(&h, "is_current")
            .iter()
            .filter(|c| c.as_deref() == Some("true"))
            .count(),
        2
    );
}

#[test]
fn delete_of_an_absent_key_changes_nothing() {
    let mut t = truth(VersionOrder::Arrival);
    let summary = t
        .merge(&[&batch(&[(7, Some("a@x"), "DELETE", 1)])])
        .unwrap();
    assert_eq!(summary.unchanged, 1);
    assert_eq!(t.expected_history().unwrap().num_rows(), 0);
}

#[test]
fn event_time_order_picks_the_newest_and_breaks_ties_by_load_order() {
    let mut t = truth(VersionOrder::EventTime);
    // Arrives last but is older: loses within the merge.
    t.merge(&[&batch(&[
        (1, Some("new@x"), "INSERT", 5),
        (1, Some("old@x"), "INSERT", 4),
    ])])
    .unwrap();
    assert_eq!(emails(&t.expected_current().unwrap()), [s("new@x")]);
    // Same event time: the later-loaded row wins.
    t.merge(&[&batch(&[
        (1, Some("p@x"), "UPDATE", 9),
        (1, Some("q@x"), "UPDATE", 9),
    ])])
    .unwrap();
    assert_eq!(emails(&t.expected_current().unwrap()), [s("q@x")]);
}

#[test]
fn late_change_is_rejected_to_the_dead_letter_list() {
    let mut t = truth(VersionOrder::EventTime);
    t.merge(&[&batch(&[(1, Some("a@x"), "INSERT", 100)])])
        .unwrap();
    let late = t
        .merge(&[&batch(&[(1, Some("late@x"), "UPDATE", 50)])])
        .unwrap();
    assert_eq!(late.late, 1);
    assert_eq!(emails(&t.expected_current().unwrap()), [s("a@x")]);
    let rejected = t.late_rows();
    assert_eq!(rejected.len(), 1);
    assert_eq!(
        (
            rejected[0].key,
            rejected[0].event_time,
            rejected[0].applied_event_time
        ),
        (1, 50_000_000, 100_000_000)
    );
    assert_eq!(rejected[0].load_sequence, 1);
    let h = t.expected_history().unwrap();
    assert_eq!(
        column(&h, "end_time")[0]
            .as_deref()
            .map(|e| e.starts_with("9999-12-31")),
        Some(true)
    );
    assert_eq!(OPEN_END_MICROS, 253_402_214_400_000_000);
}

#[test]
fn several_batches_in_one_merge_behave_as_one_batch() {
    let (b1, b2) = (
        batch(&[(1, Some("a@x"), "INSERT", 1), (2, Some("b@x"), "INSERT", 1)]),
        batch(&[(1, Some("c@x"), "UPDATE", 2), (2, Some("b@x"), "DELETE", 2)]),
    );
    let mut t = truth(VersionOrder::Arrival);
    let summary = t.merge(&[&b1, &b2]).unwrap();
    assert_eq!(
        (
            summary.inserted,
            summary.superseded,
            summary.deleted,
            summary.unchanged
        ),
        (1, 2, 0, 1)
    );
    assert_eq!(emails(&t.expected_current().unwrap()), [s("c@x")]);
}

#[test]
fn malformed_batches_are_rejected_with_context_and_change_nothing() {
    let mut t = truth(VersionOrder::Arrival);
    t.merge(&[&batch(&[(1, Some("a@x"), "INSERT", 1)])])
        .unwrap();
    let good = batch(&[(2, Some("b@x"), "INSERT", 1)]);
    let bad_op = batch(&[(3, Some("c@x"), "INSERT", 1), (3, Some("d@x"), "UPSURT", 1)]);
    let err = t.merge(&[&good, &bad_op]).unwrap_err();
    assert!(
        matches!(&err, FakerError::BatchShape { row: Some(1), column, problem }
            if column == "op" && problem.contains("UPSURT")),
        "{err}"
    );
    let missing = bad_op.project(&[0, 1, 2, 4, 5, 6, 7, 8, 9]).unwrap();
    let err = t.merge(&[&missing]).unwrap_err();
    assert!(
        matches!(&err, FakerError::BatchShape { row: None, column, .. } if column == "email"),
        "{err}"
    );
    // Neither failed merge applied anything, not even the good batch.
    assert_eq!(
        column(&t.expected_current().unwrap(), "customer_id"),
        [s("1")]
    );
    let later = t.merge(&[&good]).unwrap();
    assert_eq!(later.inserted, 1);
}

#[test]
fn event_time_order_needs_an_event_time_column() {
    let err = GroundTruth::new(EntitySpec::customer(), Some("op"), None)
        .with_order(VersionOrder::EventTime)
        .unwrap_err();
    assert!(
        matches!(
            err,
            FakerError::InvalidOption {
                option: "order",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn out_of_order_files_under_sequence_order_end_where_in_order_ones_do_and_list_the_late_rows() {
    use snowdrift_faker::{ChangeStream, OutOfOrder};
    let build = || {
        ChangeStream::builder(EntitySpec::customer())
            .seed(11)
            .batch_size(300)
            .initial_population(200)
            .operation_column(Some("op"))
            .sequence_column(Some("seq"))
            .event_time_column(None)
            .late_rate(0.0)
            .build()
            .unwrap()
    };
    let mut stream = build();
    let batches: Vec<RecordBatch> = (0..12).map(|_| stream.next_batch().batch).collect();
    let ordered = |truth: GroundTruth| truth.with_order(VersionOrder::Sequence).unwrap();
    let mut in_order = ordered(GroundTruth::for_stream(&stream));
    for b in &batches {
        in_order.merge(&[b]).unwrap();
    }
    let mut arrival = OutOfOrder::new(5, 0.4, 2).unwrap();
    let mut shuffled: Vec<&RecordBatch> = batches.iter().flat_map(|b| arrival.push(b)).collect();
    shuffled.extend(arrival.finish());
    let mut late = ordered(GroundTruth::for_stream(&stream));
    for b in &shuffled {
        late.merge(&[b]).unwrap();
    }
    assert!(!late.late_rows().is_empty(), "no change arrived late");
    assert!(in_order.late_rows().is_empty());
    assert_eq!(
        late.expected_current().unwrap(),
        in_order.expected_current().unwrap()
    );
    // Without a sequence column the order cannot be chosen.
    let plain = GroundTruth::new(EntitySpec::customer(), Some("op"), None);
    assert!(plain.with_order(VersionOrder::Sequence).is_err());
}

#[test]
fn a_snapshot_stream_restates_the_live_entities_and_its_truth_deletes_the_rest() {
    let mut stream = ChangeStream::builder(EntitySpec::customer())
        .seed(5)
        .batch_size(200)
        .initial_population(300)
        .snapshots()
        .build()
        .unwrap();
    assert!(stream.snapshots() && stream.operation_column().is_none());
    let mut truth = GroundTruth::for_stream(&stream);
    let mut deleted = 0;
    for _ in 0..4 {
        let batch = stream.next_batch();
        deleted += batch.stats.deletes;
        assert_eq!(batch.batch.num_rows(), stream.live_count());
        truth.merge(&[&batch.batch]).unwrap();
        assert_eq!(truth.expected_current().unwrap(), stream.intended_state());
    }
    assert!(
        deleted > 0,
        "the mix deletes customers: snapshots leave them out"
    );
    // Two snapshots in one merge: the last decides.
    let (a, b) = (stream.next_batch().batch, stream.next_batch().batch);
    let summary = truth.merge(&[&a, &b]).unwrap();
    assert_eq!(summary.superseded, a.num_rows());
    assert_eq!(truth.expected_current().unwrap(), stream.intended_state());
}
