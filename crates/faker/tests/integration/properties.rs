//! Property tests: on random streams and random groupings of batches into
//! merges, the ground truth agrees with a plain row-by-row reference model,
//! with the generator's own intended state, and its history keeps the SCD-2
//! invariants.

use crate::common;

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use common::{column, rows};
use proptest::prelude::*;
use snowdrift_faker::{ChangeMix, ChangeStream, EntitySpec, GroundTruth, VersionOrder};

type Values = Vec<Option<String>>;

/// The reference: apply every row on its own, in load order. A merge group's
/// net effect per key is the difference between the state before and after.
#[derive(Default)]
struct RowByRow {
    current: BTreeMap<String, Values>,
    versions: BTreeMap<String, usize>,
}

impl RowByRow {
    fn merge(&mut self, batches: &[RecordBatch]) {
        let before = self.current.clone();
        for b in batches {
            for row in rows(b) {
                let key = row[0].clone().unwrap();
                if row[8].as_deref() == Some("DELETE") {
                    self.current.remove(&key);
                } else {
                    self.current.insert(key, row[..8].to_vec());
                }
            }
        }
        for (key, now) in &self.current {
            if before.get(key) != Some(now) {
                *self.versions.entry(key.clone()).or_default() += 1;
            }
        }
    }
}

fn as_map(current: &RecordBatch) -> BTreeMap<String, Values> {
    rows(current)
        .into_iter()
        .map(|r| (r[0].clone().unwrap(), r))
        .collect()
}

/// SCD-2 invariants: per key, versions numbered 1..n, at most one current
/// row and only the last; with event times, start < end and each version
/// starts no earlier than the previous one ended.
fn check_history(h: &RecordBatch, timed: bool) {
    let (keys, version, current) = (
        column(h, "customer_id"),
        column(h, "version"),
        column(h, "is_current"),
    );
    let (start, end) = (column(h, "start_time"), column(h, "end_time"));
    for i in 0..h.num_rows() {
        let first = i == 0 || keys[i - 1] != keys[i];
        let last = i + 1 == h.num_rows() || keys[i + 1] != keys[i];
        let n: usize = version[i].as_deref().unwrap().parse().unwrap();
        if first {
            assert_eq!(n, 1);
        } else {
            let prev: usize = version[i - 1].as_deref().unwrap().parse().unwrap();
            assert_eq!(n, prev + 1);
        }
        if current[i].as_deref() == Some("true") {
            assert!(last, "only the last version of a key may be current");
        }
        if timed {
            assert!(
                start[i] < end[i],
                "row {i}: start {:?} end {:?}",
                start[i],
                end[i]
            );
            if !first {
                assert!(end[i - 1] <= start[i], "row {i} overlaps its predecessor");
            }
        }
    }
}

fn mix() -> impl Strategy<Value = ChangeMix> {
    (0.0..1.0, 0.0..1.0, 0.0..0.5, 0.0..0.5, 0.0..0.3).prop_map(
        |(insert, update, delete, noop, restore)| ChangeMix {
            insert: insert + 0.01,
            update,
            delete,
            noop,
            restore,
        },
    )
}

fn stream(seed: u64, size: usize, mix: ChangeMix, dup: f64, nulls: f64, late: f64) -> ChangeStream {
    ChangeStream::builder(EntitySpec::customer())
        .seed(seed)
        .batch_size(size)
        .initial_population(size / 2)
        .mix(mix)
        .duplicate_rate(dup)
        .null_rate(nulls)
        .late_rate(late)
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn ground_truth_matches_row_by_row_replay(
        seed in any::<u64>(),
        size in 1usize..120,
        mix in mix(),
        dup in 0.0..0.5,
        nulls in 0.0..0.5,
        groups in prop::collection::vec(1usize..4, 1..6),
    ) {
        let mut s = stream(seed, size, mix, dup, nulls, 0.0);
        let mut truth = GroundTruth::for_stream(&s);
        let mut reference = RowByRow::default();
        for g in groups {
            let batches: Vec<RecordBatch> = s.by_ref().take(g).map(|b| b.batch).collect();
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            let summary = truth.merge(&refs).unwrap();
            prop_assert_eq!(summary.rows, batches.iter().map(RecordBatch::num_rows).sum::<usize>());
            reference.merge(&batches);
            prop_assert_eq!(as_map(&truth.expected_current().unwrap()), reference.current.clone());
        }
        for (key, n) in &reference.versions {
            prop_assert_eq!(truth.version_count(key.parse().unwrap()), *n, "key {}", key);
        }
        check_history(&truth.expected_history().unwrap(), false);
    }

    #[test]
    fn ground_truth_matches_the_generators_intent(
        seed in any::<u64>(),
        size in 1usize..150,
        mix in mix(),
        dup in 0.0..0.5,
        batches in 1usize..6,
    ) {
        let mut s = stream(seed, size, mix, dup, 0.1, 0.0);
        let mut truth = GroundTruth::for_stream(&s);
        for b in s.by_ref().take(batches) {
            truth.merge(&[&b.batch]).unwrap();
        }
        prop_assert_eq!(truth.expected_current().unwrap(), s.intended_state());
    }

    #[test]
    fn event_time_order_equals_arrival_without_late_rows_and_keeps_invariants_with_them(
        seed in any::<u64>(),
        size in 1usize..120,
        mix in mix(),
        late in 0.0..0.5,
        batches in 1usize..6,
    ) {
        let on_time: Vec<RecordBatch> = stream(seed, size, mix, 0.2, 0.1, 0.0)
            .take(batches).map(|b| b.batch).collect();
        let s = stream(seed, size, mix, 0.2, 0.1, 0.0);
        let mut by_arrival = GroundTruth::for_stream(&s);
        let mut by_event = GroundTruth::for_stream(&s).with_order(VersionOrder::EventTime).unwrap();
        for b in &on_time {
            by_arrival.merge(&[b]).unwrap();
            by_event.merge(&[b]).unwrap();
        }
        prop_assert!(by_event.late_rows().is_empty());
        prop_assert_eq!(by_arrival.expected_current().unwrap(), by_event.expected_current().unwrap());
        check_history(&by_event.expected_history().unwrap(), true);

        let mut late_stream = stream(seed, size, mix, 0.2, 0.1, late);
        let mut truth = GroundTruth::for_stream(&late_stream).with_order(VersionOrder::EventTime).unwrap();
        let mut rejected = 0;
        for b in late_stream.by_ref().take(batches) {
            rejected += truth.merge(&[&b.batch]).unwrap().late;
        }
        prop_assert_eq!(rejected, truth.late_rows().len());
        check_history(&truth.expected_history().unwrap(), true);
    }
}
