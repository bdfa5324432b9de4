//! Change sets as a standard stream shows them, net changes over a window,
//! the SCD-1 → stream → SCD-2 chain of the original flow, composite keys,
//! and reloading a table.

use crate::common;

use std::sync::Arc;

use arrow::array::{Array, BooleanArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaBuilder};
use common::{Target, apply, s, spec, table_rows, text_rows};
use snowdrift_faker::{ChangeStream, EntitySpec};
use snowdrift_scd::MergeStrategy as _;
use snowdrift_scd::{
    ACTION, ChangeFormat, ChangeSet, IS_UPDATE, MergeContext, OPEN_END_MICROS, ROW_ID, Scd1, Scd2,
    TableSpec, ValidityColumns, check_history, load_table, merge, net_changes, row_ids,
};

fn actions(c: &ChangeSet) -> Vec<(String, bool)> {
    let b = c.batch().unwrap();
    let a = b
        .column_by_name(ACTION)
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let u = b
        .column_by_name(IS_UPDATE)
        .unwrap()
        .as_any()
        .downcast_ref::<BooleanArray>()
        .unwrap();
    (0..b.num_rows())
        .map(|i| (a.value(i).to_string(), u.value(i)))
        .collect()
}

#[test]
fn change_sets_have_the_shape_of_a_standard_stream() {
    let (scd1, spec) = (Scd1::default(), spec(false));
    let mut t = Target::new(&scd1, &spec);
    let ins = t.apply(&[(1, Some("a@x"), None, "INSERT", 0)], 1).changes;
    assert_eq!(actions(&ins), [("INSERT".into(), false)]);
    let names: Vec<_> = ins
        .batch()
        .unwrap()
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        [
            "id",
            "email",
            "city",
            "update_timestamp",
            ACTION,
            IS_UPDATE,
            ROW_ID
        ]
    );

    let upd = t.apply(&[(1, Some("b@x"), None, "UPDATE", 0)], 2).changes;
    assert_eq!(
        actions(&upd),
        [("DELETE".into(), true), ("INSERT".into(), true)]
    );
    // An update keeps the row's identity.
    assert_eq!(row_ids(&upd).unwrap(), [row_ids(&ins).unwrap()[0]; 2]);
    assert_eq!(
        text_rows(upd.batch().unwrap())[0][1],
        s("a@x"),
        "the DELETE half has the old values"
    );

    let del = t.apply(&[(1, None, None, "DELETE", 0)], 3).changes;
    assert_eq!(actions(&del), [("DELETE".into(), false)]);
    let none = t.apply(&[(1, None, None, "DELETE", 0)], 4).changes;
    assert!(none.is_empty());
}

#[test]
fn net_changes_follow_snowflake_stream_rules() {
    let (scd1, spec) = (Scd1::default(), spec(false));
    let mut t = Target::new(&scd1, &spec);
    let mut sets = Vec::new();
    let steps = [
        (1, Some("a@x"), "INSERT"), // key 1 inserted...
        (1, Some("b@x"), "UPDATE"), // ...then updated: one INSERT with b
        (2, Some("x@x"), "INSERT"), // key 2 inserted...
        (2, None, "DELETE"),        // ...then deleted: nothing
    ];
    for (now, (k, e, op)) in steps.into_iter().enumerate() {
        sets.push(t.apply(&[(k, e, None, op, 0)], now as i64).changes);
    }
    let net = net_changes(&sets).unwrap();
    assert_eq!(actions(&net), [("INSERT".into(), false)]);
    assert_eq!(text_rows(net.batch().unwrap())[0][1], s("b@x"));

    // Several updates of an existing row: one pair, oldest → newest.
    let later: Vec<_> = ["c@x", "d@x", "e@x"]
        .iter()
        .enumerate()
        .map(|(i, e)| {
            t.apply(&[(1, Some(*e), None, "UPDATE", 0)], 10 + i as i64)
                .changes
        })
        .collect();
    let net = net_changes(&later).unwrap();
    assert_eq!(
        actions(&net),
        [("DELETE".into(), true), ("INSERT".into(), true)]
    );
    let rows = text_rows(net.batch().unwrap());
    let emails: Vec<_> = rows.iter().map(|r| r[1].clone()).collect();
    assert!(emails.contains(&s("b@x")) && emails.contains(&s("e@x")));

    // Changed and changed back: nothing (on a table without an update
    // timestamp, which would otherwise differ).
    let plain = Scd1 {
        updated_at: None,
        ..Scd1::default()
    };
    let mut t = Target::new(&plain, &spec);
    t.apply(&[(1, Some("e@x"), None, "INSERT", 0)], 20);
    let back: Vec<_> = ["f@x", "e@x"]
        .iter()
        .map(|e| t.apply(&[(1, Some(*e), None, "UPDATE", 0)], 21).changes)
        .collect();
    assert!(net_changes(&back).unwrap().is_empty());
    assert!(
        net_changes(&[])
            .unwrap_err()
            .to_string()
            .contains("at least one")
    );
}

/// The original flow: raw → SCD-1 `customer` → stream → SCD-2 `customer_history`.
struct Flow {
    raw_spec: TableSpec,
    history_spec: TableSpec,
    scd1: Scd1,
    scd2: Scd2,
    customer: snowdrift_scd::Table,
    history: snowdrift_scd::Table,
}

impl Flow {
    fn new(op_column: bool) -> Self {
        let schema = EntitySpec::customer().schema();
        let b = TableSpec::builder("customer", schema.clone()).key(["customer_id"]);
        let raw_spec = if op_column {
            b.format(ChangeFormat::OperationColumn("op".into()))
        } else {
            b
        }
        .build()
        .unwrap();
        let history_spec = TableSpec::builder("customer_history", schema)
            .key(["customer_id"])
            .format(ChangeFormat::Stream)
            .sequence("update_timestamp")
            .build()
            .unwrap();
        let (scd1, scd2) = (Scd1::default(), Scd2::default());
        Self {
            customer: scd1.create_table(&raw_spec).unwrap(),
            history: scd2.create_table(&history_spec).unwrap(),
            raw_spec,
            history_spec,
            scd1,
            scd2,
        }
    }

    fn run(&mut self, raw: &RecordBatch, now: i64) {
        let out = merge(
            &self.scd1,
            &self.raw_spec,
            &mut self.customer,
            &[raw],
            MergeContext::at(now),
        )
        .unwrap();
        merge(
            &self.scd2,
            &self.history_spec,
            &mut self.history,
            &[out.changes.batch().unwrap()],
            MergeContext::at(now + 1),
        )
        .unwrap();
        let v = check_history(
            &self.history.to_batch().unwrap(),
            &self.history_spec,
            &ValidityColumns::default(),
            true,
        )
        .unwrap();
        assert!(v.is_empty(), "{v:?}");
    }
}

#[test]
fn the_original_scenario_insert_223136_update_72_delete_73() {
    let mut flow = Flow::new(true);
    let mut files = ChangeStream::builder(EntitySpec::customer())
        .seed(1)
        .classic(10_000)
        .build()
        .unwrap();
    let first = files.next_batch().batch;
    let with_op = |b: &RecordBatch, ops: Vec<&str>| {
        let mut fields = SchemaBuilder::from(b.schema().fields());
        fields.push(Field::new("op", DataType::Utf8, false));
        let mut cols = b.columns().to_vec();
        cols.push(Arc::new(StringArray::from(ops)));
        RecordBatch::try_new(Arc::new(fields.finish()), cols).unwrap()
    };
    flow.run(&with_op(&first, vec!["INSERT"; 10_000]), 1_000);
    assert_eq!(
        (flow.customer.num_rows(), flow.history.num_rows()),
        (10_000, 10_000)
    );

    // The demo: a new customer 223136, customer 72 changes, customer 73 leaves.
    let mut edit = first.slice(72, 2);
    let mut cols = edit.columns().to_vec();
    cols[3] = Arc::new(StringArray::from(vec![
        Some("new.address@example.com"),
        None,
    ]));
    edit = RecordBatch::try_new(edit.schema(), cols).unwrap();
    let new = first.slice(0, 1);
    let mut cols = new.columns().to_vec();
    cols[0] = Arc::new(Int64Array::from(vec![223_136]));
    let new = RecordBatch::try_new(new.schema(), cols).unwrap();
    let demo = arrow::compute::concat_batches(&first.schema(), [&new, &edit]).unwrap();
    flow.run(&with_op(&demo, vec!["INSERT", "UPDATE", "DELETE"]), 2_000);

    assert_eq!(flow.customer.num_rows(), 10_000);
    let h = table_rows(&flow.history);
    let of = |k: &str| {
        h.iter()
            .filter(|r| r[0].as_deref() == Some(k))
            .cloned()
            .collect::<Vec<_>>()
    };
    let open = OPEN_END_MICROS.to_string();
    // 223136: one current version, starting at the SCD-1 update time.
    assert_eq!(of("223136").len(), 1);
    assert_eq!(
        of("223136")[0][8..],
        [s("2000"), Some(open.clone()), s("true")]
    );
    // 72: the old version closed exactly where the new one starts.
    let v72 = of("72");
    assert_eq!(v72.len(), 2);
    assert_eq!(
        (v72[0][9].clone(), v72[0][10].clone()),
        (s("2000"), s("false"))
    );
    assert_eq!(
        (v72[1][3].clone(), v72[1][8].clone()),
        (s("new.address@example.com"), s("2000"))
    );
    // 73: logically deleted — closed at the merge's clock, no current row.
    let v73 = of("73");
    assert_eq!(v73.len(), 1);
    assert_eq!(
        (v73[0][9].clone(), v73[0][10].clone()),
        (s("2001"), s("false"))
    );
    let current = h
        .iter()
        .filter(|r| r[10].as_deref() == Some("true"))
        .count();
    assert_eq!(current, 10_000);
}

#[test]
fn classic_files_flow_through_both_tables() {
    // The original generator: each file re-states customers 0..n.
    let mut flow = Flow::new(false);
    let mut files = ChangeStream::builder(EntitySpec::customer())
        .seed(2)
        .classic(500)
        .build()
        .unwrap();
    for (i, file) in files.by_ref().take(4).enumerate() {
        flow.run(&file.batch, (i as i64 + 1) * 1_000);
    }
    assert_eq!(flow.customer.num_rows(), 500);
    // Every file changes (nearly) every customer: about 4 versions each.
    assert!(
        flow.history.num_rows() > 1_900,
        "{}",
        flow.history.num_rows()
    );
    assert_eq!(flow.history.live_keys(), 500);
}

#[test]
fn composite_keys_identify_rows_by_every_part() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("region", DataType::Utf8, false),
        Field::new("id", DataType::Int64, false),
        Field::new("email", DataType::Utf8, true),
    ]));
    let spec = TableSpec::builder("customer", schema.clone())
        .key(["region", "id"])
        .build()
        .unwrap();
    let scd2 = Scd2::default();
    let mut t = Target::new(&scd2, &spec);
    let batch = |rows: Vec<(&str, i64, &str)>| {
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
            ],
        )
        .unwrap()
    };
    merge(
        &scd2,
        &spec,
        &mut t,
        &[&batch(vec![("eu", 1, "a"), ("us", 1, "b")])],
        MergeContext::at(1),
    )
    .unwrap();
    let m = merge(
        &scd2,
        &spec,
        &mut t,
        &[&batch(vec![("eu", 1, "a2"), ("us", 1, "b")])],
        MergeContext::at(2),
    )
    .unwrap()
    .metrics;
    assert_eq!((m.updated, m.unchanged), (1, 1));
    assert_eq!(t.num_rows(), 3);
    let v = check_history(
        &t.to_batch().unwrap(),
        &spec,
        &ValidityColumns::default(),
        false,
    )
    .unwrap();
    assert!(v.is_empty(), "{v:?}");
}

#[test]
fn a_reloaded_table_merges_like_the_original() {
    let (scd2, spec) = (Scd2::default(), spec(false));
    let mut t = Target::new(&scd2, &spec);
    for (now, e, op) in [
        (10, "a@x", "INSERT"),
        (20, "b@x", "UPDATE"),
        (30, "b@x", "DELETE"),
    ] {
        t.apply(
            &[(1, Some(e), None, op, 0), (2, Some(e), None, "UPDATE", 0)],
            now,
        );
    }
    let mut reloaded = load_table(&scd2, &spec, t.to_batch().unwrap()).unwrap();
    assert_eq!(table_rows(&reloaded), table_rows(&t));
    assert_eq!(reloaded.live_keys(), t.live_keys());
    for table in [&mut t, &mut reloaded] {
        apply(
            &scd2,
            &spec,
            table,
            &[
                (1, Some("c@x"), None, "INSERT", 0),
                (2, Some("c@x"), None, "UPDATE", 0),
            ],
            40,
        );
    }
    assert_eq!(table_rows(&reloaded), table_rows(&t));
    let ids = reloaded.to_batch_with_row_ids().unwrap().1;
    assert_eq!(ids.null_count(), 0);
}
