//! The options of Databricks AUTO CDC and dbt snapshots as `snowdrift-scd`
//! spells them: a golden case per rule, named after it, and a property test
//! against a plain model where the rule applies to every merge.

use crate::common;

use std::collections::BTreeMap;

use common::{Row, Target, apply, changes, s, table_rows};
use proptest::prelude::*;
use snowdrift_scd::MergeStrategy as _;
use snowdrift_scd::{
    ChangeFormat, ChangePredicate, IgnoreNullUpdates, MergeContext, Scd1, Scd2, ScdError,
    TableSpec, TableSpecBuilder, merge,
};

/// The common schema keyed by `id`, read with `format` (no sequence).
fn builder(format: ChangeFormat) -> TableSpecBuilder {
    TableSpec::builder("customer", common::schema())
        .key(["id"])
        .format(format)
}

/// The common spec (`op` column, no sequence) with `ignore`.
fn spec_ignoring(ignore: IgnoreNullUpdates) -> TableSpec {
    builder(ChangeFormat::OperationColumn("op".into()))
        .ignore_null_updates(ignore)
        .build()
        .unwrap()
}

#[test]
fn ignore_null_updates_keeps_the_stored_value_of_a_null_in_an_update() {
    let (scd1, spec) = (Scd1::default(), spec_ignoring(IgnoreNullUpdates::All));
    let mut t = Target::new(&scd1, &spec);
    t.apply(&[(1, Some("a@x"), Some("Oslo"), "INSERT", 0)], 10);
    // Only the city changed: the email is sent as NULL and kept.
    let out = t.apply(&[(1, None, Some("Rome"), "UPDATE", 0)], 20);
    assert_eq!(out.metrics.updated, 1);
    assert_eq!(table_rows(&t), [[s("1"), s("a@x"), s("Rome"), s("20")]]);
    // All NULL: nothing changes.
    let out = t.apply(&[(1, None, None, "UPDATE", 0)], 30);
    assert_eq!(out.metrics.unchanged, 1);
    assert_eq!(table_rows(&t), [[s("1"), s("a@x"), s("Rome"), s("20")]]);
}

#[test]
fn ignore_null_updates_on_listed_columns_only() {
    let only_email = spec_ignoring(IgnoreNullUpdates::Columns(vec!["email".into()]));
    let but_email = spec_ignoring(IgnoreNullUpdates::AllExcept(vec!["email".into()]));
    for (spec, want) in [
        (only_email, [s("1"), s("a@x"), None]),
        (but_email, [s("1"), None, s("Oslo")]),
    ] {
        let scd1 = Scd1 {
            updated_at: None,
            ..Scd1::default()
        };
        let mut t = Target::new(&scd1, &spec);
        t.apply(&[(1, Some("a@x"), Some("Oslo"), "INSERT", 0)], 10);
        t.apply(&[(1, None, None, "UPDATE", 0)], 20);
        assert_eq!(table_rows(&t), [want]);
    }
}

#[test]
fn ignore_null_updates_leaves_the_nulls_of_a_new_or_deleted_key() {
    let (scd1, spec) = (Scd1::default(), spec_ignoring(IgnoreNullUpdates::All));
    let mut t = Target::new(&scd1, &spec);
    t.apply(&[(1, Some("a@x"), Some("Oslo"), "INSERT", 0)], 10);
    t.apply(&[(1, None, None, "DELETE", 0)], 20);
    // Back after its delete: there is no value to keep.
    t.apply(&[(1, None, Some("Rome"), "INSERT", 0)], 30);
    t.apply(&[(2, None, Some("Oslo"), "INSERT", 0)], 30);
    assert_eq!(
        table_rows(&t),
        [
            [s("1"), None, s("Rome"), s("30")],
            [s("2"), None, s("Oslo"), s("30")]
        ]
    );
}

#[test]
fn ignore_null_updates_opens_a_version_with_the_kept_values() {
    let (scd2, spec) = (Scd2::default(), spec_ignoring(IgnoreNullUpdates::All));
    let mut t = Target::new(&scd2, &spec);
    t.apply(&[(1, Some("a@x"), Some("Oslo"), "INSERT", 0)], 10);
    t.apply(&[(1, None, Some("Rome"), "UPDATE", 0)], 20);
    // A NULL-only update is no change: no version.
    t.apply(&[(1, None, None, "UPDATE", 0)], 30);
    let rows = table_rows(&t);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1][..3], [s("1"), s("a@x"), s("Rome")]);
}

#[test]
fn ignore_null_updates_refuses_a_key_column() {
    let key = TableSpec::builder("customer", common::schema())
        .key(["id"])
        .ignore_null_updates(IgnoreNullUpdates::Columns(vec!["id".into()]))
        .build();
    assert!(matches!(key, Err(ScdError::InvalidSpec { .. })), "{key:?}");
}

/// The common spec read with `format`.
fn spec_with(format: ChangeFormat) -> TableSpec {
    builder(format).build().unwrap()
}

/// `APPLY AS DELETE WHEN op = 'D'`.
fn delete_when_d() -> ChangeFormat {
    ChangeFormat::DeleteWhen(ChangePredicate::equals("op", "D"))
}

#[test]
fn apply_as_delete_when_deletes_the_rows_it_holds_for_and_upserts_the_others() {
    let spec = spec_with(delete_when_d());
    let (scd1, scd2) = (Scd1::default(), Scd2::default());
    let mut t1 = Target::new(&scd1, &spec);
    let mut t2 = Target::new(&scd2, &spec);
    for (now, rows) in [
        (
            10,
            vec![
                (1, Some("a@x"), None, "U", 0),
                (2, Some("b@x"), None, "anything", 0),
            ],
        ),
        (20, vec![(1, None, None, "D", 0)]),
    ] {
        t1.apply(&rows, now);
        t2.apply(&rows, now);
    }
    assert_eq!(table_rows(&t1), [[s("2"), s("b@x"), None, s("10")]]);
    // The history closes key 1's version at the delete.
    let history = table_rows(&t2);
    assert_eq!(history.len(), 2);
    assert_eq!(history[0][..5], [s("1"), s("a@x"), None, s("10"), s("20")]);
}

#[test]
fn apply_as_delete_when_names_a_missing_column() {
    let spec = spec_with(ChangeFormat::DeleteWhen(ChangePredicate::equals(
        "kind", "D",
    )));
    let scd1 = Scd1::default();
    let mut t = Target::new(&scd1, &spec);
    let rows = changes(&[(1, Some("a@x"), None, "U", 0)]);
    let err = merge(&scd1, &spec, &mut t, &[&rows], MergeContext::at(0)).unwrap_err();
    assert!(matches!(err, ScdError::MissingColumn { .. }), "{err}");
}

/// (email, city) of a live key.
type Values = (Option<String>, Option<String>);

/// The SCD-1 table the model expects: per merge the last row of each key
/// wins; an upsert of a live key keeps the stored value of each NULL.
fn model(merges: &[Vec<Row<'_>>]) -> BTreeMap<i64, Values> {
    let mut table: BTreeMap<i64, Values> = BTreeMap::new();
    for rows in merges {
        let mut winners: BTreeMap<i64, Row<'_>> = BTreeMap::new();
        for &row in rows {
            winners.insert(row.0, row);
        }
        for (key, (_, email, city, op, _)) in winners {
            if op == "DELETE" {
                table.remove(&key);
                continue;
            }
            let (email, city) = (email.map(str::to_owned), city.map(str::to_owned));
            let kept = match table.get(&key) {
                Some((e, c)) => (email.or(e.clone()), city.or(c.clone())),
                None => (email, city),
            };
            table.insert(key, kept);
        }
    }
    table
}

const EMAILS: [Option<&str>; 3] = [None, Some("a@x"), Some("b@x")];
const CITIES: [Option<&str>; 3] = [None, Some("Oslo"), Some("Rome")];

proptest! {
    #[test]
    fn ignore_null_updates_matches_the_model_after_every_merge(
        merges in prop::collection::vec(
            prop::collection::vec((0i64..4, 0usize..3, 0usize..3, 0u8..4), 1..6),
            1..8,
        ),
    ) {
        let merges: Vec<Vec<Row<'static>>> = merges
            .into_iter()
            .map(|rows| {
                rows.into_iter()
                    .map(|(k, e, c, op)| {
                        let op = if op == 0 { "DELETE" } else { "UPSERT" };
                        (k, EMAILS[e], CITIES[c], op, 0)
                    })
                    .collect()
            })
            .collect();
        let spec = spec_ignoring(IgnoreNullUpdates::All);
        let scd1 = Scd1 { updated_at: None, ..Scd1::default() };
        let mut t = Target::new(&scd1, &spec);
        for (i, rows) in merges.iter().enumerate() {
            t.apply(rows, 10 * i as i64);
            let want: Vec<[Option<String>; 3]> = model(&merges[..=i])
                .into_iter()
                .map(|(k, (e, c))| [Some(k.to_string()), e, c])
                .collect();
            prop_assert_eq!(table_rows(&t), want, "after merge {}", i);
        }
    }
}

proptest! {
    #[test]
    fn apply_as_delete_when_is_the_operation_column_it_describes(
        merges in prop::collection::vec(
            prop::collection::vec((0i64..4, 0usize..3, 0usize..3, 0usize..3), 1..6),
            1..8,
        ),
    ) {
        // The same rows read two ways: `op = 'D'` as the delete condition, and the operation
        // column the condition describes (D → DELETE, anything else → UPSERT).
        const OPS: [&str; 3] = ["D", "U", "x"];
        let by_predicate = spec_with(delete_when_d());
        let by_column = spec_with(ChangeFormat::OperationColumn("op".into()));
        let scd2 = Scd2::default();
        let mut a = scd2.create_table(&by_predicate).unwrap();
        let mut b = scd2.create_table(&by_column).unwrap();
        for (i, rows) in merges.iter().enumerate() {
            let raw: Vec<Row<'_>> = rows
                .iter()
                .map(|&(k, e, c, op)| (k, EMAILS[e], CITIES[c], OPS[op], 0))
                .collect();
            let words: Vec<Row<'_>> = raw
                .iter()
                .map(|&(k, e, c, op, q)| (k, e, c, if op == "D" { "DELETE" } else { "UPSERT" }, q))
                .collect();
            apply(&scd2, &by_predicate, &mut a, &raw, 10 * i as i64);
            apply(&scd2, &by_column, &mut b, &words, 10 * i as i64);
            prop_assert_eq!(table_rows(&a), table_rows(&b), "after merge {}", i);
        }
    }
}
