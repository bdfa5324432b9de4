//! Differential test: the engine against the faker's ground truth on
//! generated change streams (duplicates, NULLs, deletes, comebacks, late
//! events), ordered by event time. Both must end with the same SCD-1 table
//! and the same SCD-2 history, and reject the same late changes.

use crate::common;

use arrow::array::RecordBatch;
use common::text_rows;
use proptest::prelude::*;
use snowdrift_faker::{ChangeStream, EntitySpec, GroundTruth, VersionOrder};
use snowdrift_scd::MergeStrategy as _;
use snowdrift_scd::{ChangeFormat, MergeContext, Scd1, Scd2, TableSpec, merge};

fn without(batch: &RecordBatch, drop: &[&str]) -> RecordBatch {
    let keep: Vec<usize> = (0..batch.num_columns())
        .filter(|&i| !drop.contains(&batch.schema().field(i).name().as_str()))
        .collect();
    batch.project(&keep).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn engine_agrees_with_the_faker_ground_truth(
        seed in any::<u64>(),
        size in 20usize..300,
        late in 0.0..0.3,
        batches in 1usize..6,
    ) {
        let mut stream = ChangeStream::builder(EntitySpec::customer())
            .seed(seed)
            .batch_size(size)
            .initial_population(size / 2)
            .duplicate_rate(0.1)
            .null_rate(0.1)
            .late_rate(late)
            .build()
            .unwrap();
        let mut truth = GroundTruth::for_stream(&stream).with_order(VersionOrder::EventTime).unwrap();
        let spec = TableSpec::builder("customer", EntitySpec::customer().schema())
            .key(["customer_id"])
            .format(ChangeFormat::OperationColumn("op".into()))
            .sequence("event_time")
            .build()
            .unwrap();
        let (scd1, scd2) = (Scd1::default(), Scd2::default());
        let mut customer = scd1.create_table(&spec).unwrap();
        let mut history = scd2.create_table(&spec).unwrap();
        for (i, b) in stream.by_ref().take(batches).enumerate() {
            let expected = truth.merge(&[&b.batch]).unwrap();
            let now = MergeContext::at(i as i64);
            let m1 = merge(&scd1, &spec, &mut customer, &[&b.batch], now).unwrap().metrics;
            let m2 = merge(&scd2, &spec, &mut history, &[&b.batch], now).unwrap().metrics;
            prop_assert_eq!((m1.late, m2.late), (expected.late, expected.late));
            prop_assert_eq!(m2.superseded, expected.superseded);
        }
        prop_assert_eq!(
            text_rows(&without(&customer.to_batch().unwrap(), &["update_timestamp"])),
            text_rows(&truth.expected_current().unwrap())
        );
        let expected = without(&truth.expected_history().unwrap(), &["version"]);
        let ours = history.to_batch().unwrap();
        let order: Vec<usize> = expected
            .schema()
            .fields()
            .iter()
            .map(|f| ours.schema().index_of(f.name()).unwrap())
            .collect();
        prop_assert_eq!(text_rows(&ours.project(&order).unwrap()), text_rows(&expected));
    }
}
