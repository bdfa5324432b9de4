//! Every option of a change stream visibly changes the output in the intended
//! way: shares of inserts, updates, deletes, no-ops and restores; duplicate
//! keys; NULLs; late event times; classic mode; realistic updates.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use arrow::array::{Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
use common::{column, rows};
use snowdrift_faker::{
    ChangeBatch, ChangeMix, ChangeStream, ChangeStreamBuilder, EntitySpec, FakerError,
};

const NONE: ChangeMix = ChangeMix {
    insert: 0.0,
    update: 0.0,
    delete: 0.0,
    noop: 0.0,
    restore: 0.0,
};

fn builder() -> ChangeStreamBuilder {
    ChangeStream::builder(EntitySpec::customer())
        .seed(99)
        .batch_size(2_000)
        .initial_population(1_000)
        .duplicate_rate(0.0)
        .null_rate(0.0)
}

fn keys(batch: &RecordBatch) -> Vec<i64> {
    let a = batch
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    a.values().to_vec()
}

fn ops(b: &ChangeBatch) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for op in column(&b.batch, "op") {
        *out.entry(op.unwrap()).or_insert(0) += 1;
    }
    out
}

fn count(map: &HashMap<String, usize>, op: &str) -> usize {
    map.get(op).copied().unwrap_or(0)
}

/// The second batch of a stream whose first batch seeds 1,000 customers.
fn after_seeding(mix: ChangeMix) -> (ChangeStream, ChangeBatch) {
    let mut s = builder().batch_size(1_000).mix(mix).build().unwrap();
    let first = s.next_batch();
    assert_eq!(first.stats.inserts, 1_000);
    let second = s.next_batch();
    (s, second)
}

#[test]
fn insert_share_only_adds_new_keys() {
    let (s, b) = after_seeding(ChangeMix {
        insert: 1.0,
        ..NONE
    });
    assert_eq!(count(&ops(&b), "INSERT"), 1_000);
    assert!(keys(&b.batch).iter().all(|&k| k >= 1_000));
    assert_eq!(s.live_count(), 2_000);
}

#[test]
fn update_share_changes_existing_keys() {
    let (s, b) = after_seeding(ChangeMix {
        update: 1.0,
        ..NONE
    });
    assert_eq!(count(&ops(&b), "UPDATE"), 1_000);
    assert_eq!(b.stats.updates, 1_000);
    assert!(keys(&b.batch).iter().all(|&k| k < 1_000));
    assert_eq!(s.live_count(), 1_000);
}

#[test]
fn delete_share_removes_keys() {
    let (s, b) = after_seeding(ChangeMix {
        delete: 1.0,
        ..NONE
    });
    assert_eq!(count(&ops(&b), "DELETE"), 1_000);
    // With no duplicates every delete hits a different live key.
    assert_eq!(s.live_count(), 0);
}

#[test]
fn noop_share_restates_current_values() {
    let mut s = builder()
        .batch_size(1_000)
        .mix(ChangeMix { noop: 1.0, ..NONE })
        .build()
        .unwrap();
    s.next_batch();
    let state: HashMap<i64, Vec<Option<String>>> = rows(&s.intended_state())
        .into_iter()
        .map(|r| (r[0].as_ref().unwrap().parse().unwrap(), r))
        .collect();
    let b = s.next_batch();
    assert_eq!(b.stats.noops, 1_000);
    for row in rows(&b.batch) {
        let key: i64 = row[0].as_ref().unwrap().parse().unwrap();
        assert_eq!(
            &row[..8],
            state[&key].as_slice(),
            "key {key} was not re-stated exactly"
        );
    }
}

#[test]
fn restore_share_brings_deleted_keys_back() {
    // Half deletes, half restores: once keys are deleted, restores re-insert
    // those same keys; no key is ever new.
    let mut s3 = builder()
        .batch_size(500)
        .initial_population(500)
        .mix(ChangeMix {
            delete: 1.0,
            restore: 1.0,
            ..NONE
        })
        .build()
        .unwrap();
    s3.next_batch();
    let b = s3.next_batch();
    assert!(b.stats.restores > 50, "{:?}", b.stats);
    // Until the first delete of the batch, a restore falls back to an insert.
    assert!(b.stats.inserts < 20, "{:?}", b.stats);
    let inserted: Vec<i64> = keys(&b.batch)
        .into_iter()
        .zip(column(&b.batch, "op"))
        .filter(|(_, op)| op.as_deref() == Some("INSERT"))
        .map(|(k, _)| k)
        .collect();
    // A restore re-inserts a key that existed before (a seeded key, or a new
    // one that was inserted and deleted earlier in this batch).
    let mut seen = HashSet::new();
    let restored = inserted
        .iter()
        .filter(|&&k| !seen.insert(k) || k < 500)
        .count();
    assert_eq!(restored, b.stats.restores, "restores reuse deleted keys");
    assert_eq!(inserted.len() - restored, b.stats.inserts);
}

#[test]
fn default_mix_has_every_kind_of_change() {
    let mut s = builder().build().unwrap();
    s.next_batch();
    let b = s.next_batch();
    let st = b.stats;
    assert!(
        st.inserts > 0 && st.updates > 0 && st.deletes > 0 && st.noops > 0 && st.restores > 0,
        "{st:?}"
    );
    assert_eq!(st.rows, 2_000);
    let ops = ops(&b);
    assert_eq!(count(&ops, "DELETE"), st.deletes);
    assert_eq!(count(&ops, "INSERT"), st.inserts + st.restores);
}

fn duplicates_in(batch: &RecordBatch) -> usize {
    let mut seen = HashSet::new();
    keys(batch).into_iter().filter(|k| !seen.insert(*k)).count()
}

#[test]
fn duplicate_rate_repeats_keys_within_a_batch() {
    // Inserts only: every row is a new key unless the option repeats one.
    let run = |rate| {
        let mut s = builder()
            .initial_population(0)
            .batch_size(100_000)
            .mix(ChangeMix {
                insert: 1.0,
                ..NONE
            })
            .duplicate_rate(rate)
            .build()
            .unwrap();
        let b = s.next_batch();
        (duplicates_in(&b.batch), b.stats.duplicates)
    };
    let (none, stats_none) = run(0.0);
    let (some, stats_some) = run(0.25);
    assert_eq!((none, stats_none), (0, 0));
    assert_eq!(some, stats_some);
    assert!(
        (stats_some as f64 / 100_000.0 - 0.25).abs() < 0.02,
        "{stats_some}"
    );
}

fn null_count(batch: &RecordBatch) -> usize {
    batch.columns().iter().map(|c| c.null_count()).sum()
}

#[test]
fn null_rate_sets_and_clears_nulls_but_never_in_the_key() {
    let zero = builder().build().unwrap().next_batch();
    assert_eq!(null_count(&zero.batch), 0);
    let mut s = builder().null_rate(0.2).build().unwrap();
    let b = s.next_batch();
    assert_eq!(b.batch.column(0).null_count(), 0);
    let share = null_count(&b.batch) as f64 / (b.batch.num_rows() * 7) as f64;
    assert!(share > 0.1 && share < 0.3, "{share}");
}

fn event_times(batch: &RecordBatch) -> Vec<i64> {
    let col = batch.column_by_name("event_time").unwrap();
    col.as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .unwrap()
        .values()
        .to_vec()
}

#[test]
fn late_rate_moves_event_times_back() {
    let on_time = builder().build().unwrap().next_batch();
    let t = event_times(&on_time.batch);
    assert!(
        t.windows(2).all(|w| w[0] < w[1]),
        "without late_rate, times increase"
    );
    assert_eq!(on_time.stats.late, 0);

    let late = builder()
        .late_rate(0.1)
        .max_lateness(Duration::from_secs(5))
        .build()
        .unwrap()
        .next_batch();
    let t = event_times(&late.batch);
    let backwards = t.windows(2).filter(|w| w[1] < w[0]).count();
    assert!(backwards > 100, "{backwards}");
    assert!(late.stats.late > 100);
    // Never later than the on-time clock, never more than max_lateness early.
    let on = event_times(&on_time.batch);
    for (x, y) in t.iter().zip(&on) {
        assert!(x <= y && y - x <= 5_000_000);
    }
}

#[test]
fn classic_mode_restates_keys_zero_to_n_with_eight_columns() {
    let mut files = ChangeStream::builder(EntitySpec::customer())
        .seed(4)
        .classic(1_000)
        .build()
        .unwrap();
    let a = files.next_batch();
    let b = files.next_batch();
    assert_eq!(a.batch.schema(), EntitySpec::customer().schema());
    let expected: Vec<i64> = (0..1_000).collect();
    assert_eq!(keys(&a.batch), expected);
    assert_eq!(keys(&b.batch), expected);
    assert_eq!(null_count(&a.batch), 0);
    let (ra, rb) = (rows(&a.batch), rows(&b.batch));
    let fresh = ra
        .iter()
        .zip(&rb)
        .filter(|(x, y)| x[1] != y[1] && x[4] != y[4])
        .count();
    assert!(fresh > 950, "each file has fresh random values: {fresh}");
}

#[test]
fn updates_change_columns_that_belong_together() {
    let spec = EntitySpec::customer();
    let groups: Vec<HashSet<usize>> = spec
        .groups()
        .map(|(_, _, cols)| cols.iter().map(|c| spec.column_index(c).unwrap()).collect())
        .collect();
    let mut s = builder()
        .batch_size(5_000)
        .initial_population(5_000)
        .mix(ChangeMix {
            update: 1.0,
            ..NONE
        })
        .build()
        .unwrap();
    let mut last: HashMap<String, Vec<Option<String>>> = rows(&s.next_batch().batch)
        .into_iter()
        .map(|r| (r[0].clone().unwrap(), r))
        .collect();
    let (mut email_only, mut full_moves, mut moves) = (0, 0, 0);
    for row in rows(&s.next_batch().batch) {
        let before = last.insert(row[0].clone().unwrap(), row.clone()).unwrap();
        let changed: HashSet<usize> = (1..8).filter(|&c| before[c] != row[c]).collect();
        assert!(
            groups.iter().any(|g| changed.is_subset(g)),
            "an update changed {changed:?}, which is no update group"
        );
        if changed == HashSet::from([3]) {
            email_only += 1;
        }
        if changed.contains(&4) {
            moves += 1;
            full_moves += usize::from([5, 6].iter().all(|c| changed.contains(c)));
        }
    }
    assert!(email_only > 1_500, "{email_only}");
    assert!(moves > 1_000, "{moves}");
    // A move sometimes lands in the same city or state by chance, rarely.
    assert!(full_moves * 10 > moves * 8, "{full_moves} of {moves}");
}

#[test]
fn sequence_column_numbers_rows_across_batches_and_truth_ignores_it() {
    let mut stream = builder()
        .batch_size(500)
        .sequence_column(Some("seq"))
        .build()
        .unwrap();
    let names: Vec<String> = stream
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names[8..], ["op", "seq", "event_time"]);
    let mut truth = snowdrift_faker::GroundTruth::for_stream(&stream);
    let mut expected_next = 0;
    for b in stream.by_ref().take(3) {
        let seq = b.batch.column_by_name("seq").unwrap();
        let seq = seq.as_any().downcast_ref::<Int64Array>().unwrap();
        let want: Vec<i64> = (expected_next..expected_next + 500).collect();
        assert_eq!(seq.values().to_vec(), want);
        expected_next += 500;
        truth.merge(&[&b.batch]).unwrap();
    }
    assert_eq!(
        truth.expected_current().unwrap().num_rows(),
        stream.live_count()
    );
    let plain = builder().build().unwrap().schema();
    assert!(plain.column_with_name("seq").is_none());
    let err = builder().sequence_column(Some("")).build().unwrap_err();
    assert!(
        matches!(err, FakerError::InvalidOption { option: "sequence_column", ref value, .. } if value == "\"\""),
        "{err:?}"
    );
}
