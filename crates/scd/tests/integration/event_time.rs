//! History sequenced by event time, late changes re-stitched: each rule of
//! `docs/scd.md` ("History by event time") as a named case through the whole
//! merge engine, and a property test against a row-by-row reference model
//! with late arrivals, checking the invariants after every merge.

use crate::common;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, SchemaBuilder};
use common::{Row, schema};
use proptest::prelude::*;
use snowdrift_scd::MergeStrategy as _;
use snowdrift_scd::{
    ChangeFormat, IgnoreNullUpdates, LateChanges, MergeContext, MergeOutcome, OPEN_END_MICROS,
    OpenEnd, Scd2, Scd2Delete, ScdError, TIMESTAMP, Table, TableSpec, ValidityColumns,
    check_history, load_table_with_row_ids, merge, row_ids, version_id,
};

const OPEN: i64 = OPEN_END_MICROS;

/// The spec: an `op` column and the `seq` column as event time.
fn spec() -> TableSpec {
    spec_ignoring(IgnoreNullUpdates::Off)
}

/// The spec with `IGNORE NULL UPDATES` as given.
fn spec_ignoring(ignore: IgnoreNullUpdates) -> TableSpec {
    TableSpec::builder("customer", schema())
        .key(["id"])
        .format(ChangeFormat::OperationColumn("op".into()))
        .sequence("seq")
        .ignore_null_updates(ignore)
        .build()
        .unwrap()
}

/// A history by event time; with tombstones, they are flagged in `is_deleted`.
fn history(on_delete: Scd2Delete) -> Scd2 {
    let columns = ValidityColumns::default();
    Scd2 {
        columns: match on_delete {
            Scd2Delete::CloseWithTombstone => columns.with_tombstones("is_deleted"),
            _ => columns,
        },
        late: LateChanges::RESTITCH_ANY,
        on_delete,
        ..Scd2::default()
    }
}

/// Changes as (id, email, city, op, event time in µs).
fn changes(rows: &[Row<'_>]) -> RecordBatch {
    let batch = common::changes(rows);
    let seq = cast(batch.column(4), &TIMESTAMP).unwrap();
    let mut fields = SchemaBuilder::from(batch.schema().fields());
    *fields.field_mut(4) = Arc::new(Field::new("seq", TIMESTAMP, false));
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns[4] = seq;
    RecordBatch::try_new(Arc::new(fields.finish()), columns).unwrap()
}

fn apply(scd2: &Scd2, table: &mut Table, rows: &[Row<'_>]) -> MergeOutcome {
    apply_with(scd2, &spec(), table, rows)
}

fn apply_with(scd2: &Scd2, spec: &TableSpec, table: &mut Table, rows: &[Row<'_>]) -> MergeOutcome {
    merge(
        scd2,
        spec,
        table,
        &[&changes(rows)],
        MergeContext::at(1_000_000),
    )
    .unwrap()
}

/// One version as the tests compare it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct V {
    id: i64,
    start: i64,
    end: i64,
    email: Option<String>,
    city: Option<String>,
    tombstone: bool,
}

fn v(id: i64, start: i64, end: i64, email: &str) -> V {
    V {
        id,
        start,
        end,
        email: Some(email.into()),
        city: None,
        tombstone: false,
    }
}

fn tomb(id: i64, start: i64, end: i64, email: &str) -> V {
    V {
        tombstone: true,
        ..v(id, start, end, email)
    }
}

fn column<T: Array + Clone + 'static>(batch: &RecordBatch, name: &str, ty: &DataType) -> T {
    let c = cast(batch.column_by_name(name).unwrap(), ty).unwrap();
    c.as_any().downcast_ref::<T>().unwrap().clone()
}

/// Every version of `batch`, sorted by key and start.
fn versions_of(batch: &RecordBatch) -> Vec<V> {
    let id: Int64Array = column(batch, "id", &DataType::Int64);
    let start: Int64Array = column(batch, "start_time", &DataType::Int64);
    let end: Int64Array = column(batch, "end_time", &DataType::Int64);
    let email: StringArray = column(batch, "email", &DataType::Utf8);
    let city: StringArray = column(batch, "city", &DataType::Utf8);
    let deleted = batch
        .column_by_name("is_deleted")
        .map(|_| column::<BooleanArray>(batch, "is_deleted", &DataType::Boolean));
    let text = |a: &StringArray, r: usize| (!a.is_null(r)).then(|| a.value(r).to_string());
    let mut out: Vec<V> = (0..batch.num_rows())
        .map(|r| V {
            id: id.value(r),
            start: start.value(r),
            // A NULL end is the open end written as NULL (`OpenEnd::Null`).
            end: if end.is_null(r) { OPEN } else { end.value(r) },
            email: text(&email, r),
            city: text(&city, r),
            tombstone: deleted.as_ref().is_some_and(|d| d.value(r)),
        })
        .collect();
    out.sort();
    out
}

fn versions(table: &Table) -> Vec<V> {
    versions_of(&table.to_batch().unwrap())
}

fn assert_sound(table: &Table, allow_gaps: bool) {
    assert_sound_with(table, &ValidityColumns::default(), allow_gaps);
}

fn assert_sound_with(table: &Table, columns: &ValidityColumns, allow_gaps: bool) {
    let batch = table.to_batch().unwrap();
    let violations = check_history(&batch, &spec(), columns, allow_gaps).unwrap();
    assert!(violations.is_empty(), "{violations:?}");
    assert_written_as(&batch, columns);
}

/// The open ends are written as `columns` asks, and each version id is its
/// key's and start's.
fn assert_written_as(batch: &RecordBatch, columns: &ValidityColumns) {
    let end: Int64Array = column(batch, &columns.end, &DataType::Int64);
    let far = end.iter().filter(|e| *e == Some(OPEN)).count();
    match columns.open_end {
        OpenEnd::Null => assert_eq!(far, 0, "an open end written as 9999-12-31"),
        OpenEnd::FarFuture => assert_eq!(end.null_count(), 0, "an open end written as NULL"),
    }
    let Some(name) = &columns.scd_id else {
        return;
    };
    let ids: StringArray = column(batch, name, &DataType::Utf8);
    let key: Int64Array = column(batch, "id", &DataType::Int64);
    let start: Int64Array = column(batch, &columns.start, &DataType::Int64);
    for r in 0..batch.num_rows() {
        let want = version_id(&[&key.value(r).to_string()], start.value(r));
        assert_eq!(ids.value(r), want, "version id of row {r}");
    }
}

/// A table holding versions A [10, 30) and C [30, open) of key 1.
fn two_versions(scd2: &Scd2) -> Table {
    let mut t = scd2.create_table(&spec()).unwrap();
    apply(scd2, &mut t, &[(1, Some("a"), None, "INSERT", 10)]);
    apply(scd2, &mut t, &[(1, Some("c"), None, "UPDATE", 30)]);
    assert_eq!(versions(&t), [v(1, 10, 30, "a"), v(1, 30, OPEN, "c")]);
    t
}

#[test]
fn versions_take_their_validity_from_event_time() {
    let h = history(Scd2Delete::Close);
    let t = two_versions(&h);
    assert_sound(&t, true);
}

#[test]
fn a_late_change_splits_the_version_it_falls_in_and_leaves_later_versions() {
    let h = history(Scd2Delete::Close);
    let mut t = two_versions(&h);
    let m = apply(&h, &mut t, &[(1, Some("b"), None, "UPDATE", 20)]).metrics;
    assert_eq!(
        versions(&t),
        [v(1, 10, 20, "a"), v(1, 20, 30, "b"), v(1, 30, OPEN, "c")]
    );
    assert_eq!((m.restitched, m.late, m.updated), (1, 0, 1));
    assert_sound(&t, true);
}

#[test]
fn a_late_change_identical_to_its_predecessor_adds_nothing() {
    let h = history(Scd2Delete::Close);
    let mut t = two_versions(&h);
    let out = apply(&h, &mut t, &[(1, Some("a"), None, "UPDATE", 20)]);
    assert_eq!(versions(&t), [v(1, 10, 30, "a"), v(1, 30, OPEN, "c")]);
    assert_eq!((out.metrics.unchanged, out.changes.len()), (1, 0));
}

#[test]
fn a_late_change_before_the_first_version_becomes_the_first_version() {
    let h = history(Scd2Delete::Close);
    let mut t = two_versions(&h);
    apply(&h, &mut t, &[(1, Some("z"), None, "UPDATE", 5)]);
    assert_eq!(
        versions(&t),
        [v(1, 5, 10, "z"), v(1, 10, 30, "a"), v(1, 30, OPEN, "c")]
    );
}

#[test]
fn a_late_delete_ends_the_key_only_until_the_next_version() {
    let h = history(Scd2Delete::Close);
    let mut t = two_versions(&h);
    apply(&h, &mut t, &[(1, None, None, "DELETE", 20)]);
    assert_eq!(versions(&t), [v(1, 10, 20, "a"), v(1, 30, OPEN, "c")]);
    assert_sound(&t, true);
}

#[test]
fn a_late_delete_with_tombstones_fills_the_interval_until_the_next_version() {
    let h = history(Scd2Delete::CloseWithTombstone);
    let mut t = two_versions(&h);
    apply(&h, &mut t, &[(1, None, None, "DELETE", 20)]);
    assert_eq!(
        versions(&t),
        [v(1, 10, 20, "a"), tomb(1, 20, 30, "a"), v(1, 30, OPEN, "c")]
    );
    assert_sound(&t, false);
}

#[test]
fn a_late_delete_in_the_current_version_ends_it_only_until_the_keys_newest_change() {
    let h = history(Scd2Delete::Close);
    let mut t = h.create_table(&spec()).unwrap();
    // `a` at 10, re-stated unchanged at 40 (no new version, but the newest change).
    apply(&h, &mut t, &[(1, Some("a"), None, "UPSERT", 10)]);
    apply(&h, &mut t, &[(1, Some("a"), None, "UPSERT", 40)]);
    assert_eq!(versions(&t), [v(1, 10, OPEN, "a")]);
    apply(&h, &mut t, &[(1, None, None, "DELETE", 20)]);
    // The key exists from 40 on, as an SCD-1 table by the same event time says.
    assert_eq!(versions(&t), [v(1, 10, 20, "a"), v(1, 40, OPEN, "a")]);
    apply(&h, &mut t, &[(1, Some("b"), None, "UPSERT", 25)]);
    assert_eq!(
        versions(&t),
        [v(1, 10, 20, "a"), v(1, 25, 40, "b"), v(1, 40, OPEN, "a")]
    );
    assert_sound(&t, true);
}

#[test]
fn a_late_change_in_the_current_version_lasts_until_the_keys_newest_change() {
    let h = history(Scd2Delete::Close);
    let mut t = h.create_table(&spec()).unwrap();
    apply(
        &h,
        &mut t,
        &[
            (1, Some("a"), None, "UPSERT", 10),
            (1, Some("a"), None, "UPSERT", 40),
            (1, Some("b"), None, "UPSERT", 20),
        ],
    );
    assert_eq!(
        versions(&t),
        [v(1, 10, 20, "a"), v(1, 20, 40, "b"), v(1, 40, OPEN, "a")]
    );
    assert_sound(&t, false);
}

#[test]
fn a_late_change_between_two_deletes_lasts_until_the_later_one() {
    let h = history(Scd2Delete::Close);
    let mut t = two_versions(&h);
    apply(&h, &mut t, &[(1, None, None, "DELETE", 40)]);
    apply(&h, &mut t, &[(1, None, None, "DELETE", 50)]);
    // Arrives after the deletes, happened between them: the key is back at 45 and deleted
    // again at 50, its newest change (as an SCD-1 table by event time says: deleted).
    apply(&h, &mut t, &[(1, Some("d"), None, "UPDATE", 45)]);
    assert_eq!(
        versions(&t),
        [v(1, 10, 30, "a"), v(1, 30, 40, "c"), v(1, 45, 50, "d")]
    );
    // A change after the newest one opens the current version as usual.
    apply(&h, &mut t, &[(1, Some("e"), None, "UPDATE", 55)]);
    assert_eq!(versions(&t).last(), Some(&v(1, 55, OPEN, "e")));
}

#[test]
fn every_change_of_a_key_in_one_merge_becomes_a_version() {
    let h = history(Scd2Delete::Close);
    let mut t = h.create_table(&spec()).unwrap();
    apply(
        &h,
        &mut t,
        &[
            (1, Some("a"), None, "INSERT", 10),
            (1, Some("c"), None, "UPDATE", 30),
            (1, Some("b"), None, "UPDATE", 20),
        ],
    );
    assert_eq!(
        versions(&t),
        [v(1, 10, 20, "a"), v(1, 20, 30, "b"), v(1, 30, OPEN, "c")]
    );
}

#[test]
fn an_untracked_change_overwrites_the_version_it_falls_in() {
    let h = Scd2 {
        tracked: Some(vec!["email".into()]),
        ..history(Scd2Delete::Close)
    };
    let mut t = two_versions(&h);
    apply(&h, &mut t, &[(1, Some("a"), Some("Oslo"), "UPDATE", 20)]);
    let mut patched = v(1, 10, 30, "a");
    patched.city = Some("Oslo".into());
    assert_eq!(versions(&t), [patched, v(1, 30, OPEN, "c")]);
}

#[test]
fn ignore_null_updates_keep_the_values_of_the_version_a_late_change_falls_in() {
    let h = history(Scd2Delete::Close);
    let s = spec_ignoring(IgnoreNullUpdates::All);
    let mut t = h.create_table(&s).unwrap();
    apply_with(&h, &s, &mut t, &[(1, Some("a"), Some("x"), "INSERT", 10)]);
    // In order: the NULL city keeps `x` from the current version.
    apply_with(&h, &s, &mut t, &[(1, Some("c"), None, "UPDATE", 30)]);
    // Late, inside [10, 30): the NULL email keeps `a`, the version it falls in;
    // the later version keeps what it was filled with.
    let m = apply_with(&h, &s, &mut t, &[(1, None, Some("y"), "UPDATE", 20)]).metrics;
    let with_city = |v: V, city: &str| V {
        city: Some(city.into()),
        ..v
    };
    assert_eq!(
        versions(&t),
        [
            with_city(v(1, 10, 20, "a"), "x"),
            with_city(v(1, 20, 30, "a"), "y"),
            with_city(v(1, 30, OPEN, "c"), "x"),
        ]
    );
    assert_eq!((m.restitched, m.updated), (1, 1));
    assert_sound(&t, true);
}

#[test]
fn ignore_null_updates_keep_nothing_before_the_first_version_or_after_a_delete() {
    let h = history(Scd2Delete::CloseWithTombstone);
    let s = spec_ignoring(IgnoreNullUpdates::Columns(vec!["city".into()]));
    let mut t = h.create_table(&s).unwrap();
    apply_with(&h, &s, &mut t, &[(1, Some("a"), Some("x"), "INSERT", 10)]);
    apply_with(&h, &s, &mut t, &[(1, None, None, "DELETE", 20)]);
    // Before the first version and in the tombstone: no live value to keep.
    apply_with(&h, &s, &mut t, &[(1, Some("b"), None, "UPDATE", 5)]);
    apply_with(&h, &s, &mut t, &[(1, Some("c"), None, "UPDATE", 30)]);
    let mut deleted = tomb(1, 20, 30, "a");
    deleted.city = Some("x".into());
    let mut first = v(1, 10, 20, "a");
    first.city = Some("x".into());
    assert_eq!(
        versions(&t),
        [v(1, 5, 10, "b"), first, deleted, v(1, 30, OPEN, "c")]
    );
    assert_sound(&t, false);
}

#[test]
fn the_stream_sees_a_split_as_an_update_of_the_old_row_and_a_new_row() {
    let h = history(Scd2Delete::Close);
    let mut t = two_versions(&h);
    let before: Vec<u64> = t.to_batch_with_row_ids().unwrap().1.values().to_vec();
    let out = apply(&h, &mut t, &[(1, Some("b"), None, "UPDATE", 20)]);
    let changed = out.changes.batch().unwrap();
    // The old version's row (closed at 20 now) is removed and written back
    // with its row id; the late version is a new row.
    let actions: StringArray = column(changed, "METADATA$ACTION", &DataType::Utf8);
    let ids = row_ids(&out.changes).unwrap();
    let mut seen: Vec<(String, bool)> = (0..changed.num_rows())
        .map(|r| (actions.value(r).to_string(), before.contains(&ids[r])))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("DELETE".to_string(), true),
            ("INSERT".to_string(), false),
            ("INSERT".to_string(), true)
        ]
    );
}

#[test]
fn a_reloaded_history_places_late_changes_as_before() {
    let h = history(Scd2Delete::Close);
    let t = two_versions(&h);
    let (rows, ids) = t.to_batch_with_row_ids().unwrap();
    let ids = ids.values().to_vec();
    let mut reloaded = load_table_with_row_ids(&h, &spec(), rows, &ids).unwrap();
    apply(&h, &mut reloaded, &[(1, Some("b"), None, "UPDATE", 20)]);
    assert_eq!(
        versions(&reloaded),
        [v(1, 10, 20, "a"), v(1, 20, 30, "b"), v(1, 30, OPEN, "c")]
    );
}

#[test]
fn restitching_needs_a_sequence_and_deletes_that_are_not_ignored() {
    let h = history(Scd2Delete::Close);
    let no_sequence = TableSpec::builder("customer", schema())
        .key(["id"])
        .build()
        .unwrap();
    assert!(matches!(
        h.create_table(&no_sequence),
        Err(ScdError::InvalidSpec { .. })
    ));
    let ignoring = history(Scd2Delete::Ignore);
    assert!(matches!(
        ignoring.create_table(&spec()),
        Err(ScdError::InvalidSpec { .. })
    ));
}

#[test]
fn a_history_accepting_any_lateness_cannot_retire_closed_versions() {
    let h = history(Scd2Delete::Close);
    let mut t = h.create_table(&spec()).unwrap();
    t.retire_superseded(true);
    let err = merge(
        &h,
        &spec(),
        &mut t,
        &[&changes(&[(1, Some("a"), None, "INSERT", 10)])],
        MergeContext::at(0),
    )
    .unwrap_err();
    assert!(matches!(err, ScdError::InvalidSpec { .. }), "{err}");
}

fn within(micros: u64) -> Scd2 {
    Scd2 {
        late: LateChanges::restitch_within(std::time::Duration::from_micros(micros)),
        ..Scd2::default()
    }
}

#[test]
fn a_change_before_its_keys_horizon_is_rejected_as_late() {
    // Newest event time 30, lateness 15: the horizon is 15.
    let h = within(15);
    let mut t = two_versions(&h);
    let out = apply(&h, &mut t, &[(1, Some("x"), None, "UPDATE", 12)]);
    assert_eq!(out.metrics.late, 1);
    assert_eq!(out.late.len(), 1);
    assert_eq!(
        (out.late[0].sequence, out.late[0].applied_sequence),
        (12, 30)
    );
    assert_eq!(out.late_rows.num_rows(), 1);
    assert!(matches!(
        out.rejected.as_slice(),
        [r] if r.reason == snowdrift_scd::RejectReason::Late && r.row == 0
    ));
    assert_eq!(versions(&t), [v(1, 10, 30, "a"), v(1, 30, OPEN, "c")]);
    let out = apply(&h, &mut t, &[(1, Some("b"), None, "UPDATE", 15)]);
    assert_eq!((out.metrics.late, out.metrics.restitched), (0, 1));
    assert_eq!(
        versions(&t),
        [v(1, 10, 15, "a"), v(1, 15, 30, "b"), v(1, 30, OPEN, "c")]
    );
}

#[test]
fn a_deleted_keys_horizon_is_measured_from_its_delete() {
    let h = within(5);
    let mut t = two_versions(&h);
    apply(&h, &mut t, &[(1, None, None, "DELETE", 40)]);
    // Newest event time 40 (the delete), horizon 35: 33 is too late, 36 is not.
    let out = apply(&h, &mut t, &[(1, Some("x"), None, "UPDATE", 33)]);
    assert_eq!(out.metrics.late, 1);
    apply(&h, &mut t, &[(1, Some("d"), None, "UPDATE", 36)]);
    assert_eq!(
        versions(&t),
        [v(1, 10, 30, "a"), v(1, 30, 36, "c"), v(1, 36, 40, "d")]
    );
}

#[test]
fn versions_that_ended_before_the_horizon_leave_a_retiring_table() {
    let h = within(5);
    let mut t = h.create_table(&spec()).unwrap();
    t.retire_superseded(true);
    apply(&h, &mut t, &[(1, Some("a"), None, "INSERT", 10)]);
    apply(&h, &mut t, &[(1, Some("c"), None, "UPDATE", 30)]);
    // Horizon 25 lies in [10, 30): that version is still needed.
    assert!(t.take_retired().unwrap().is_none());
    apply(&h, &mut t, &[(1, Some("d"), None, "UPDATE", 40)]);
    // Horizon 35: [10, 30) is read by no acceptable change any more.
    let (gone, _) = t.take_retired().unwrap().unwrap();
    assert_eq!(versions_of(&gone), [v(1, 10, 30, "a")]);
    assert_eq!(versions(&t), [v(1, 30, 40, "c"), v(1, 40, OPEN, "d")]);
    // A late change inside the window is still put in its place; the part
    // of [30, 40) before it now ends at the horizon and leaves too.
    apply(&h, &mut t, &[(1, Some("b"), None, "UPDATE", 35)]);
    let (gone, _) = t.take_retired().unwrap().unwrap();
    assert_eq!(versions_of(&gone), [v(1, 30, 35, "c")]);
    assert_eq!(versions(&t), [v(1, 35, 40, "b"), v(1, 40, OPEN, "d")]);
}

#[test]
fn a_reloaded_retiring_history_keeps_only_its_window() {
    let h = within(5);
    let whole = {
        let mut t = h.create_table(&spec()).unwrap();
        apply(&h, &mut t, &[(1, Some("a"), None, "INSERT", 10)]);
        apply(&h, &mut t, &[(1, Some("c"), None, "UPDATE", 30)]);
        apply(&h, &mut t, &[(1, Some("d"), None, "UPDATE", 40)]);
        t
    };
    let (rows, ids) = whole.to_batch_with_row_ids().unwrap();
    let mut t = h.create_table(&spec()).unwrap();
    t.retire_superseded(true);
    snowdrift_scd::load_into(&h, &mut t, rows, ids.values()).unwrap();
    let (gone, _) = t.take_retired().unwrap().unwrap();
    assert_eq!(versions_of(&gone), [v(1, 10, 30, "a")]);
    apply(&h, &mut t, &[(1, Some("b"), None, "UPDATE", 36)]);
    assert_eq!(
        versions(&t),
        [v(1, 30, 36, "c"), v(1, 36, 40, "b"), v(1, 40, OPEN, "d")]
    );
}

#[test]
fn an_integer_sequence_is_refused_for_event_time() {
    let h = history(Scd2Delete::Close);
    let mut t = h.create_table(&spec()).unwrap();
    let integer = common::changes(&[(1, Some("a"), None, "INSERT", 10)]);
    let err = merge(&h, &spec(), &mut t, &[&integer], MergeContext::at(0)).unwrap_err();
    assert!(matches!(err, ScdError::InvalidSpec { .. }), "{err}");
}

/// The reference model, row by row: each key's history as one cell per
/// instant of `0..GRID`, naming the version valid then. A change at `t`
/// rewrites the run of cells from `t` that share `t`'s version (a new
/// version, or none for a delete); a version that reaches the grid's end is
/// the open one.
mod model {
    use super::*;

    pub(crate) const GRID: usize = 48;

    /// Values and tombstone flag of a version.
    type Content = ((Option<String>, Option<String>), bool);

    #[derive(Default)]
    pub(crate) struct Key {
        cells: Vec<Option<usize>>,
        contents: Vec<Content>,
        /// The time of the newest change accepted.
        newest: Option<i64>,
    }

    impl Key {
        pub(crate) fn new() -> Self {
            Self {
                cells: vec![None; GRID],
                contents: Vec::new(),
                newest: None,
            }
        }

        fn starts_at(&self, id: usize, t: usize) -> bool {
            t == 0 || self.cells[t - 1] != Some(id)
        }

        fn fill(&mut self, t: usize, content: Option<Content>) {
            let run = self.cells[t];
            let id = content.map(|c| {
                self.contents.push(c);
                self.contents.len() - 1
            });
            for x in t..GRID {
                if self.cells[x] != run {
                    break;
                }
                self.cells[x] = id;
            }
        }

        /// Whether a change at `at` is accepted with lateness bound `within`
        /// (measured from the newest change accepted).
        pub(crate) fn accepts(&self, at: i64, within: Option<i64>) -> bool {
            match (self.newest, within) {
                (Some(newest), Some(w)) => at >= newest - w,
                _ => true,
            }
        }

        /// Whether the cell at `t` belongs to the version that is current
        /// (the one holding the grid's last instant).
        fn in_current(&self, t: usize) -> bool {
            self.cells[t].is_some() && self.cells[t] == self.cells[GRID - 1]
        }

        /// Whether `row` would change the cells (under the rules before the
        /// current version is cut at the newest change).
        fn changes_current(&self, row: &Change, id: usize, tracked_email_only: bool) -> bool {
            let (values, tombstone) = &self.contents[id];
            match (row.delete, tombstone) {
                (_, true) => !row.delete,
                (true, false) => true,
                (false, false) => {
                    values.0 != row.email || (!tracked_email_only && values.1 != row.city)
                }
            }
        }

        /// One change; `city` is untracked when `tracked_email_only`. A change
        /// before the newest one that would change the current version first
        /// re-states the current version's content from the newest change on
        /// (a version of its own); untracked columns of the current version
        /// are never overwritten by such a change.
        pub(crate) fn apply(
            &mut self,
            row: &Change,
            tombstones: bool,
            tracked_email_only: bool,
            ignore_nulls: bool,
        ) {
            let t = row.at as usize;
            let row = &self.filled(row, ignore_nulls);
            let newest = self.newest;
            self.newest = self.newest.max(Some(row.at));
            if let Some(n) = newest.filter(|&n| row.at < n)
                && self.in_current(t)
            {
                let id = self.cells[t].unwrap_or_default();
                if !self.changes_current(row, id, tracked_email_only) {
                    return;
                }
                let content = self.contents[id].clone();
                self.fill(n as usize, Some(content));
            }
            let values = (row.email.clone(), row.city.clone());
            match (row.delete, self.cells[t]) {
                (true, Some(id)) if !self.contents[id].1 => {
                    let tomb = tombstones.then(|| (self.contents[id].0.clone(), true));
                    self.fill(t, tomb);
                }
                (true, _) => {}
                (false, Some(id)) if !self.contents[id].1 && self.contents[id].0.0 == values.0 => {
                    if tracked_email_only {
                        self.contents[id].0.1 = values.1;
                    } else if self.contents[id].0.1 != values.1 {
                        self.replace_or_split(id, t, values);
                    }
                }
                (false, Some(id)) => self.replace_or_split(id, t, values),
                (false, None) => {
                    let trailing = self.cells[t..].iter().all(Option::is_none);
                    self.fill(t, Some((values.clone(), false)));
                    // After the last version, before a newer delete: until it.
                    if let Some(n) = newest.filter(|&n| trailing && row.at < n) {
                        self.fill(n as usize, tombstones.then_some((values, true)));
                    }
                }
            }
        }

        /// `row` with its NULLs taken from the live version holding its
        /// time (`IGNORE NULL UPDATES` on every column).
        fn filled(&self, row: &Change, ignore_nulls: bool) -> Change {
            let mut row = row.clone();
            let held = self.cells[row.at as usize].map(|id| &self.contents[id]);
            if let Some(((email, city), false)) = held.filter(|_| ignore_nulls && !row.delete) {
                row.email = row.email.or_else(|| email.clone());
                row.city = row.city.or_else(|| city.clone());
            }
            row
        }

        fn replace_or_split(
            &mut self,
            id: usize,
            t: usize,
            values: (Option<String>, Option<String>),
        ) {
            if self.starts_at(id, t) {
                self.contents[id] = (values, false);
            } else {
                self.fill(t, Some((values, false)));
            }
        }

        /// The versions of key `id`.
        pub(crate) fn versions(&self, key: i64) -> Vec<V> {
            let mut out: Vec<V> = Vec::new();
            for x in 0..GRID {
                let Some(id) = self.cells[x] else { continue };
                if x > 0 && self.cells[x - 1] == Some(id) {
                    continue;
                }
                let end = (x..GRID).find(|&y| self.cells[y] != Some(id));
                let ((email, city), tombstone) = self.contents[id].clone();
                out.push(V {
                    id: key,
                    start: x as i64,
                    end: end.map_or(OPEN, |e| e as i64),
                    email,
                    city,
                    tombstone,
                });
            }
            out
        }
    }

    #[derive(Debug, Clone)]
    pub(crate) struct Change {
        pub(crate) key: i64,
        pub(crate) at: i64,
        pub(crate) delete: bool,
        pub(crate) email: Option<String>,
        pub(crate) city: Option<String>,
    }
}

use model::{Change, GRID};

/// A change's (email, city).
type Values = (Option<String>, Option<String>);

/// Changes of three keys at instants that rise with arrival, each arriving
/// up to `LATENESS` places late (shuffled within that bound), some at the
/// same instant, cut into merges of random sizes.
const LATENESS: usize = 6;

fn arrivals() -> impl Strategy<Value = (Vec<Change>, Vec<usize>)> {
    let change = (
        0i64..3,
        0u8..4,
        prop::option::of(0u8..3),
        prop::option::of(0u8..2),
        0usize..LATENESS,
    );
    (
        prop::collection::vec(change, 1..80),
        prop::collection::vec(1usize..8, 80),
    )
        .prop_map(|(raw, cuts)| {
            let n = raw.len();
            let mut placed: Vec<(usize, Change)> = raw
                .into_iter()
                .enumerate()
                .map(|(i, (key, kind, email, city, delay))| {
                    // Instants rising with i over the grid (its last instant
                    // left for the open end); past 46 changes some share one.
                    let at = (i * (GRID - 2) / n) as i64;
                    let change = Change {
                        key,
                        at,
                        delete: kind == 0,
                        email: email.map(|e| format!("e{e}")),
                        city: city.map(|c| format!("c{c}")),
                    };
                    (i + delay, change)
                })
                .collect();
            placed.sort_by_key(|(slot, _)| *slot);
            (placed.into_iter().map(|(_, c)| c).collect(), cuts)
        })
}

fn batch(rows: &[Change]) -> RecordBatch {
    let tuples: Vec<Row<'_>> = rows
        .iter()
        .map(|c| {
            let op = if c.delete { "DELETE" } else { "UPSERT" };
            (c.key, c.email.as_deref(), c.city.as_deref(), op, c.at)
        })
        .collect();
    changes(&tuples)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn history_matches_the_row_by_row_model_after_every_merge_with_late_arrivals(
        (arrived, cuts) in arrivals(),
        tombstones: bool,
        email_only: bool,
        bound in prop::option::of(0i64..8),
        retire: bool,
        dbt_ends: bool,
        ignore_nulls: bool,
    ) {
        let on_delete = if tombstones { Scd2Delete::CloseWithTombstone } else { Scd2Delete::Close };
        let late = match bound {
            Some(w) => LateChanges::restitch_within(std::time::Duration::from_micros(w as u64)),
            None => LateChanges::RESTITCH_ANY,
        };
        // dbt's spelling of the open end (NULL) and its version id, under the default names.
        let columns = ValidityColumns {
            open_end: if dbt_ends { OpenEnd::Null } else { OpenEnd::FarFuture },
            scd_id: dbt_ends.then(|| "scd_id".to_string()),
            deleted: tombstones.then(|| "is_deleted".to_string()),
            ..ValidityColumns::default()
        };
        let h = Scd2 {
            columns: columns.clone(),
            tracked: email_only.then(|| vec!["email".to_string()]),
            late,
            ..history(on_delete)
        };
        let retire = retire && bound.is_some();
        let spec = spec_ignoring(match ignore_nulls {
            true => IgnoreNullUpdates::All,
            false => IgnoreNullUpdates::Off,
        });
        let mut table = h.create_table(&spec).unwrap();
        table.retire_superseded(retire);
        let mut retired: Vec<V> = Vec::new();
        let mut model: Vec<model::Key> = (0..3).map(|_| model::Key::new()).collect();
        // Per key, the latest accepted change by (event time, arrival): what an SCD-1 table
        // by the same event time holds, and so what the current versions must say.
        let mut latest: Vec<Option<(i64, Option<Values>)>> = vec![None; 3];
        let (mut from, mut cut) = (0, cuts.iter().cycle());
        while from < arrived.len() {
            let to = (from + cut.next().copied().unwrap_or(1)).min(arrived.len());
            let rows = &arrived[from..to];
            let out = merge(&h, &spec, &mut table, &[&batch(rows)], MergeContext::at(0)).unwrap();
            let mut too_late = Vec::new();
            for (i, c) in rows.iter().enumerate() {
                let key = &mut model[c.key as usize];
                if key.accepts(c.at, bound) {
                    key.apply(c, tombstones, email_only, ignore_nulls);
                    let slot = &mut latest[c.key as usize];
                    if slot.as_ref().is_none_or(|(at, _)| c.at >= *at) {
                        // An SCD-1 table keeps a live row's values for NULLs.
                        let kept = slot.as_ref().and_then(|(_, v)| v.clone()).filter(|_| ignore_nulls);
                        let (email, city) = kept.unwrap_or_default();
                        let values = (!c.delete).then(|| {
                            (c.email.clone().or(email), c.city.clone().or(city))
                        });
                        *slot = Some((c.at, values));
                    }
                } else {
                    too_late.push(i);
                }
            }
            let late_rows: Vec<usize> = out.late.iter().map(|l| l.row).collect();
            prop_assert_eq!(late_rows, too_late, "late rows of {}..{}", from, to);
            if let Some((gone, _)) = table.take_retired().unwrap() {
                retired.extend(versions_of(&gone));
            }
            let mut whole = versions(&table);
            whole.extend(retired.iter().cloned());
            whole.sort();
            let expected: Vec<V> = (0..3).flat_map(|k| model[k as usize].versions(k)).collect();
            prop_assert_eq!(&whole, &expected, "after rows {}..{}", from, to);
            let current: Vec<(i64, Option<String>, Option<String>)> = whole
                .iter()
                .filter(|v| v.end == OPEN && !v.tombstone)
                .map(|v| (v.id, v.email.clone(), v.city.clone()))
                .collect();
            let want: Vec<(i64, Option<String>, Option<String>)> = (0..3)
                .filter_map(|k| {
                    let (email, city) = latest[k as usize].clone()?.1?;
                    Some((k, email, city))
                })
                .collect();
            prop_assert_eq!(current, want, "current versions after rows {}..{}", from, to);
            assert_sound_with(&table, &columns, !tombstones);
            from = to;
        }
    }
}
