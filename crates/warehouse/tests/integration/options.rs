//! Pipeline options borrowed from Databricks AUTO CDC, end to end on the embedded engine:
//! `COLUMNS * EXCEPT (...)` (`PipelineSpec::kept_columns`) checked against the faker's ground
//! truth, `TRACK HISTORY ON` (`PipelineSpec::history_tracked`), and the definitions
//! `PipelineSpec::validate` refuses.

use std::time::Duration;

use snowdrift_faker::{ChangeStream, EntitySpec, GroundTruth};
use snowdrift_stage::{RollPolicy, StageLocation, StageSink};
use snowdrift_warehouse::conformance::sorted_rows;
use snowdrift_warehouse::{
    ChangePredicate, ColumnSelection, LocalWarehouse, ObjectDef, PipelineSpec, Schedule, TaskBody,
    TaskRunState, Warehouse, WarehouseError, WarehouseExt,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_columns_leave_the_excepted_columns_out_of_both_scd_tables() {
    let dir = tempfile::tempdir().unwrap();
    let stage = dir.path().join("stage");
    let spec = PipelineSpec {
        stage_url: stage.to_str().unwrap().to_owned(),
        operation_column: Some("op".into()),
        schedule: Schedule::Interval(Duration::from_secs(3600)),
        kept_columns: ColumnSelection::AllExcept(vec!["street".into(), "state".into()]),
        ..PipelineSpec::default()
    };
    let warehouse = LocalWarehouse::builder(dir.path().join("wh").to_str().unwrap())
        .open()
        .await
        .unwrap();
    warehouse.deploy(&spec).await.unwrap();
    let mut stream = ChangeStream::builder(EntitySpec::customer())
        .seed(3)
        .batch_size(300)
        .initial_population(200)
        .operation_column(Some("op"))
        .event_time_column(None)
        .build()
        .unwrap();
    let mut truth = GroundTruth::for_stream(&stream);
    let sink = StageSink::builder(
        StageLocation::parse(stage.to_str().unwrap()).unwrap(),
        stream.schema(),
    )
    .roll(RollPolicy {
        max_rows: usize::MAX,
        max_bytes: 64 << 20,
        max_age: Duration::from_secs(3600),
    })
    .build()
    .unwrap();
    warehouse.forward_notifications(&spec.stage, sink.subscribe());
    for files in 1..=4 {
        let batch = stream.next_batch().batch;
        sink.write(&batch).await.unwrap();
        sink.flush().await.unwrap();
        while warehouse.copy_history(&spec.raw_table).await.unwrap().len() < files {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let run = warehouse.execute_task(&spec.current_task).await.unwrap();
        assert_eq!(run.state, TaskRunState::Succeeded, "{run:?}");
        truth.merge(&[&batch]).unwrap();
    }
    sink.close().await.unwrap();
    let kept = [
        "customer_id",
        "first_name",
        "last_name",
        "email",
        "city",
        "country",
    ];
    let customer = warehouse.table(&spec.current_table).await.unwrap();
    let history = warehouse.table(&spec.history_table).await.unwrap();
    for table in [&customer, &history] {
        assert!(table.column_by_name("street").is_none());
        assert!(table.column_by_name("state").is_none());
    }
    let raw = warehouse.table(&spec.raw_table).await.unwrap();
    assert!(
        raw.column_by_name("street").is_some(),
        "raw keeps every column"
    );
    // A change to an excepted column alone changes nothing the tables keep: the truth, which
    // keeps every column, has a current row per live key with the same kept values.
    assert_eq!(
        sorted_rows(&customer, &kept),
        sorted_rows(&truth.expected_current().unwrap(), &kept)
    );
    let current: Vec<String> = sorted_rows(&history, &[&kept[..], &["is_current"]].concat())
        .into_iter()
        .filter_map(|r| r.strip_suffix("|true").map(str::to_owned))
        .collect();
    assert_eq!(current, sorted_rows(&customer, &kept));
}

fn history_merge(spec: &PipelineSpec) -> snowdrift_warehouse::MergeDef {
    spec.objects()
        .into_iter()
        .find_map(|o| match o {
            ObjectDef::Task(t) if t.name == spec.history_task => Some(t),
            _ => None,
        })
        .map(|t| {
            let TaskBody::Merge(merge) = t.body;
            merge
        })
        .unwrap()
}

#[test]
fn track_history_on_names_the_history_merges_tracked_columns() {
    assert_eq!(history_merge(&PipelineSpec::default()).tracked, None);
    let spec = PipelineSpec {
        kept_columns: ColumnSelection::AllExcept(vec!["street".into()]),
        history_tracked: ColumnSelection::AllExcept(vec!["first_name".into(), "email".into()]),
        ..PipelineSpec::default()
    };
    let merge = history_merge(&spec);
    let tracked = ["last_name", "city", "state", "country"].map(String::from);
    assert_eq!(merge.tracked.as_deref(), Some(&tracked[..]));
}

#[tokio::test]
async fn kept_columns_that_are_unknown_or_the_key_are_refused_at_deploy() {
    let street = || vec!["street".to_string()];
    for (kept, tracked) in [
        (
            ColumnSelection::Only(vec!["shoe_size".into()]),
            ColumnSelection::All,
        ),
        (
            ColumnSelection::AllExcept(vec!["customer_id".into()]),
            ColumnSelection::All,
        ),
        // A tracked column the history does not keep, or the key.
        (
            ColumnSelection::AllExcept(street()),
            ColumnSelection::Only(street()),
        ),
        (
            ColumnSelection::All,
            ColumnSelection::Only(vec!["customer_id".into()]),
        ),
    ] {
        let spec = PipelineSpec {
            kept_columns: kept,
            history_tracked: tracked,
            ..PipelineSpec::default()
        };
        let warehouse = LocalWarehouse::builder("memory://").open().await.unwrap();
        let err = warehouse.deploy(&spec).await.unwrap_err();
        assert!(
            matches!(err, WarehouseError::InvalidDefinition { .. }),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_delete_condition_on_an_unknown_column_or_beside_an_operation_column_is_refused() {
    let on = |column: &str| Some(ChangePredicate::equals(column, "D"));
    for (delete_when, operation_column) in
        [(on("kind"), None), (on("city"), Some("op".to_string()))]
    {
        let spec = PipelineSpec {
            delete_when,
            operation_column,
            ..PipelineSpec::default()
        };
        let warehouse = LocalWarehouse::builder("memory://").open().await.unwrap();
        let err = warehouse.deploy(&spec).await.unwrap_err();
        assert!(
            matches!(err, WarehouseError::InvalidDefinition { .. }),
            "{err}"
        );
    }
    let fine = PipelineSpec {
        delete_when: on("city"),
        ..PipelineSpec::default()
    };
    fine.validate().unwrap();
}
