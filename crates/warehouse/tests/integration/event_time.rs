//! The pipeline with history sequenced by event time (`PipelineSpec::event_time`), on the
//! embedded engine, checked against the faker's row-by-row ground truth
//! (`VersionOrder::Restitch`): staged CSV files with an `event_time` column and a share of late
//! rows, loaded by the pipe, merged by both tasks. Late rows within the bound are put in their
//! place in `customer_history`; those beyond it are rejected once, to
//! `customer_history_rejected`; the SCD-1 table keeps the latest change by event time. With
//! restarts (from a checkpoint and from the log alone) nothing is lost or repeated, and memory
//! holds the versions within the lateness bound, not the whole history.

use crate::support;

use std::time::Duration;

use snowdrift_faker::{ChangeStream, EntitySpec, GroundTruth, VersionOrder};
use snowdrift_warehouse::conformance::sorted_rows;
use snowdrift_warehouse::{
    EventTime, LateChanges, LocalWarehouse, OpenEnd, PipelineSpec, Schedule, TableLayout,
    TaskAction, TaskRunState, ValidityColumns, Warehouse, WarehouseExt,
};
use support::flow::{BUSINESS, assert_same, open_with, sink, stage_and_merge};

const BATCH: usize = 400;

/// Late rows lag by up to 2 s of event time; the history accepts 1 s: some are put in their
/// place, some rejected.
const MAX_LATENESS: Duration = Duration::from_secs(2);
const WITHIN: Duration = Duration::from_secs(1);

fn changes(seed: u64) -> ChangeStream {
    ChangeStream::builder(EntitySpec::customer())
        .seed(seed)
        .batch_size(BATCH)
        .initial_population(300)
        .operation_column(Some("op"))
        .event_time_column(Some("event_time"))
        .late_rate(0.15)
        .max_lateness(MAX_LATENESS)
        .build()
        .unwrap()
}

fn spec(stage: &std::path::Path, late: LateChanges) -> PipelineSpec {
    PipelineSpec {
        stage_url: stage.to_str().unwrap().to_owned(),
        operation_column: Some("op".into()),
        schedule: Schedule::Interval(Duration::from_secs(3600)),
        event_time: Some(EventTime {
            late,
            ..EventTime::default()
        }),
        ..PipelineSpec::default()
    }
}

/// A warehouse with `spec`'s objects, its history task resumed.
async fn open(root: &std::path::Path, spec: &PipelineSpec, every: u64) -> LocalWarehouse {
    let warehouse = open_with(root, spec, every).await;
    warehouse
        .alter_task(&spec.history_task, TaskAction::Resume)
        .await
        .unwrap();
    warehouse
}

/// What a run of the pipeline ended with.
struct Ended {
    warehouse: LocalWarehouse,
    spec: PipelineSpec,
    truth: GroundTruth,
    late_counted: u64,
    /// Rows the faker made late (some within the bound, some beyond).
    late_generated: usize,
    _dir: tempfile::TempDir,
}

/// One file per batch, one graph run per file; a restart after step `restart_after`; a
/// checkpoint every `checkpoint_every` commits.
async fn run(
    late: LateChanges,
    batches: usize,
    restart_after: Option<usize>,
    checkpoint_every: u64,
) -> Ended {
    run_with(
        late,
        ValidityColumns::default(),
        batches,
        restart_after,
        checkpoint_every,
    )
    .await
}

/// [`run`] with the history's validity columns written as `validity` says.
async fn run_with(
    late: LateChanges,
    validity: ValidityColumns,
    batches: usize,
    restart_after: Option<usize>,
    checkpoint_every: u64,
) -> Ended {
    let dir = tempfile::tempdir().unwrap();
    let (root, stage) = (dir.path().join("warehouse"), dir.path().join("stage"));
    let spec = PipelineSpec {
        history_validity: validity,
        ..spec(&stage, late)
    };
    let mut warehouse = open(&root, &spec, checkpoint_every).await;
    let mut stream = changes(11);
    let order = match late {
        LateChanges::Restitch { within } => VersionOrder::Restitch { within },
        LateChanges::Reject => VersionOrder::EventTime,
    };
    let mut truth = GroundTruth::for_stream(&stream).with_order(order).unwrap();
    let sink = sink(&stage, stream.schema());
    warehouse.forward_notifications(&spec.stage, sink.subscribe());
    let (mut late_counted, mut late_generated) = (0, 0);
    for step in 0..batches {
        let change = stream.next_batch();
        late_generated += change.stats.late;
        stage_and_merge(&warehouse, &sink, &spec, &change.batch, step + 1).await;
        truth.merge(&[&change.batch]).unwrap();
        if restart_after == Some(step) {
            drop(warehouse);
            warehouse = open(&root, &spec, checkpoint_every).await;
            warehouse.forward_notifications(&spec.stage, sink.subscribe());
        }
    }
    sink.close().await.unwrap();
    for run in warehouse.task_history(&spec.history_task).await.unwrap() {
        assert_eq!(run.state, TaskRunState::Succeeded, "{run:?}");
        late_counted += run.late_rows;
    }
    assert!(!warehouse.pipeline_has_data(&spec).await.unwrap());
    Ended {
        warehouse,
        spec,
        truth,
        late_counted,
        late_generated,
        _dir: dir,
    }
}

fn history_columns() -> Vec<&'static str> {
    let mut columns = BUSINESS.to_vec();
    columns.extend(["start_time", "end_time", "is_current"]);
    columns
}

async fn assert_matches_truth(ended: &Ended) {
    let Ended {
        warehouse,
        spec,
        truth,
        ..
    } = ended;
    let customer = warehouse.table(&spec.current_table).await.unwrap();
    assert_same(
        "customer",
        sorted_rows(&customer, &BUSINESS),
        sorted_rows(&truth.expected_current().unwrap(), &BUSINESS),
    );
    let history = warehouse.table(&spec.history_table).await.unwrap();
    let validity = spec.history_validity.clone();
    assert_same(
        "customer_history",
        sorted_rows(
            &open_ends_as_9999(&history, &validity.end),
            &history_columns(),
        ),
        sorted_rows(&truth.expected_history().unwrap(), &history_columns()),
    );
    let table = snowdrift_scd::TableSpec::builder("customer_history", spec.business_schema())
        .key(["customer_id"])
        .build()
        .unwrap();
    let violations = snowdrift_scd::check_history(&history, &table, &validity, true).unwrap();
    assert!(violations.is_empty(), "{violations:?}");
    if let Some(id) = &validity.scd_id {
        assert_version_ids(&history, id);
    }
}

/// Each version's id is the hash of its key and start.
fn assert_version_ids(history: &arrow::array::RecordBatch, id: &str) {
    use arrow::array::{Array, Int64Array, StringArray};
    use arrow::datatypes::DataType;
    let int = |name: &str| {
        let c = arrow::compute::cast(history.column_by_name(name).unwrap(), &DataType::Int64);
        c.unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .clone()
    };
    let (keys, starts) = (int("customer_id"), int("start_time"));
    let ids = history.column_by_name(id).unwrap();
    let ids = ids.as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(ids.null_count(), 0);
    for row in 0..history.num_rows() {
        let key = keys.value(row).to_string();
        let want = snowdrift_scd::version_id(&[&key], starts.value(row));
        assert_eq!(ids.value(row), want, "version id of row {row}");
    }
}

/// `history` with an open end written as NULL shown as 9999-12-31, as the truth writes it.
fn open_ends_as_9999(history: &arrow::array::RecordBatch, end: &str) -> arrow::array::RecordBatch {
    use arrow::array::{Array, ArrayRef, TimestampMicrosecondArray};
    let index = history.schema().index_of(end).unwrap();
    let ends = history
        .column(index)
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .unwrap();
    let filled: TimestampMicrosecondArray = ends
        .iter()
        .map(|e| Some(e.unwrap_or(snowdrift_scd::OPEN_END_MICROS)))
        .collect();
    let mut columns: Vec<ArrayRef> = history.columns().to_vec();
    columns[index] = std::sync::Arc::new(filled);
    let fields: Vec<arrow::datatypes::Field> = history
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(fields));
    arrow::array::RecordBatch::try_new(schema, columns).unwrap()
}

/// Every late row beyond the bound is in the history's rejected table, once, with the key and
/// event time the truth rejected; the SCD-1 task rejects none (it skips them, counted).
async fn assert_rejected_once(ended: &Ended) {
    let Ended {
        warehouse,
        spec,
        truth,
        late_counted,
        ..
    } = ended;
    let [current_rejected, history_rejected] = spec.rejected_tables();
    let rejected = warehouse.table(&history_rejected.name).await.unwrap();
    let mut got = sorted_rows(
        &rejected,
        &[
            "customer_id",
            "event_time",
            snowdrift_warehouse::rejected::REASON,
        ],
    );
    let mut want: Vec<String> = truth
        .late_rows()
        .iter()
        .map(|l| {
            let at = chrono_free_timestamp(l.event_time);
            format!("{}|{at}|late", l.key)
        })
        .collect();
    got.sort();
    want.sort();
    assert_same("customer_history_rejected", got, want);
    assert_eq!(*late_counted, truth.late_rows().len() as u64);
    let current_rejected = warehouse.table(&current_rejected.name).await.unwrap();
    assert_eq!(
        current_rejected.num_rows(),
        0,
        "the SCD-1 task skips late rows"
    );
}

/// A µs timestamp as `sorted_rows` renders it.
fn chrono_free_timestamp(micros: i64) -> String {
    let one = arrow::array::TimestampMicrosecondArray::from(vec![micros]);
    let batch = arrow::array::RecordBatch::try_from_iter([(
        "t",
        std::sync::Arc::new(one) as arrow::array::ArrayRef,
    )])
    .unwrap();
    sorted_rows(&batch, &["t"]).remove(0)
}

/// Memory holds each key's versions within the bound; older ones are in segment files.
async fn assert_window_in_memory(ended: &Ended) {
    let storage = ended
        .warehouse
        .table_storage(&ended.spec.history_table)
        .await
        .unwrap();
    let history = ended
        .warehouse
        .table(&ended.spec.history_table)
        .await
        .unwrap();
    let keys: std::collections::HashSet<String> = sorted_rows(&history, &["customer_id"])
        .into_iter()
        .collect();
    assert_eq!(storage.rows, history.num_rows() as u64);
    assert!(storage.rows_in_memory >= keys.len() as u64, "{storage:?}");
    assert!(storage.rows_in_segments > 0, "{storage:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_rows_within_the_bound_are_put_in_their_place_and_the_rest_rejected_once() {
    let ended = run(LateChanges::restitch_within(WITHIN), 8, None, 3).await;
    let beyond = ended.truth.late_rows().len();
    assert!(beyond > 0, "the run has rows beyond the bound");
    assert!(ended.late_generated > 2 * beyond, "and more within it");
    assert_matches_truth(&ended).await;
    assert_rejected_once(&ended).await;
    assert_window_in_memory(&ended).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_from_a_checkpoint_keeps_the_event_time_history() {
    let ended = run(LateChanges::restitch_within(WITHIN), 8, Some(4), 3).await;
    assert_matches_truth(&ended).await;
    assert_rejected_once(&ended).await;
    assert_window_in_memory(&ended).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_with_a_null_open_end_and_version_ids_survives_restarts() {
    // dbt's spelling of the open end and its version id, under the original's names.
    let validity = ValidityColumns {
        open_end: OpenEnd::Null,
        scd_id: Some("scd_id".into()),
        ..ValidityColumns::default()
    };
    for (restart_after, checkpoint_every) in [(4, 3), (3, 1000)] {
        let ended = run_with(
            LateChanges::restitch_within(WITHIN),
            validity.clone(),
            7,
            Some(restart_after),
            checkpoint_every,
        )
        .await;
        let history = ended
            .warehouse
            .table(&ended.spec.history_table)
            .await
            .unwrap();
        let ends = history.column_by_name("end_time").unwrap();
        assert!(ends.null_count() > 0, "open ends are NULL");
        assert_matches_truth(&ended).await;
        assert_rejected_once(&ended).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_from_the_log_alone_keeps_the_event_time_history() {
    let ended = run(LateChanges::restitch_within(WITHIN), 7, Some(3), 1000).await;
    assert_matches_truth(&ended).await;
    assert_rejected_once(&ended).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_accepting_any_lateness_rejects_nothing_and_keeps_every_version_in_memory() {
    let ended = run(LateChanges::RESTITCH_ANY, 6, Some(2), 3).await;
    assert!(ended.truth.late_rows().is_empty());
    assert_matches_truth(&ended).await;
    assert_rejected_once(&ended).await;
    let storage = ended
        .warehouse
        .table_storage(&ended.spec.history_table)
        .await
        .unwrap();
    assert_eq!(storage.rows_in_segments, 0, "{storage:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_by_event_time_that_rejects_late_rows_matches_the_event_time_order() {
    let ended = run(LateChanges::Reject, 6, None, 3).await;
    assert!(!ended.truth.late_rows().is_empty());
    assert_matches_truth(&ended).await;
    assert_rejected_once(&ended).await;
}

#[test]
fn the_history_of_an_event_time_pipeline_reads_the_raw_rows() {
    let spec = spec(std::path::Path::new("/tmp/x"), LateChanges::RESTITCH_ANY);
    let history = spec
        .objects()
        .into_iter()
        .find_map(|o| match o {
            snowdrift_warehouse::ObjectDef::Table(t) if t.name == spec.history_table => Some(t),
            _ => None,
        })
        .unwrap();
    assert!(history.layout.restitches());
    assert!(matches!(history.layout, TableLayout::Scd2 { .. }));
    assert_eq!(spec.history_source(), "customer_raw_history_stream");
    assert_eq!(
        spec.streams(),
        ["customer_raw_stream", "customer_raw_history_stream"]
    );
}

#[tokio::test]
async fn a_history_by_event_time_that_ignores_deletes_is_refused_at_deploy() {
    let dir = tempfile::tempdir().unwrap();
    let bad = PipelineSpec {
        history_on_delete: snowdrift_warehouse::Scd2Delete::Ignore,
        ..spec(dir.path(), LateChanges::RESTITCH_ANY)
    };
    let warehouse = LocalWarehouse::builder("memory://").open().await.unwrap();
    let err = warehouse.deploy(&bad).await.unwrap_err();
    assert!(
        matches!(
            err,
            snowdrift_warehouse::WarehouseError::InvalidDefinition { .. }
        ),
        "{err}"
    );
    // Nothing was created.
    let raw = warehouse.table(&bad.raw_table).await.unwrap_err();
    assert!(
        matches!(raw, snowdrift_warehouse::WarehouseError::NotFound { .. }),
        "{raw}"
    );
}

/// One raw row of customer 1: (email, city, op, event time in s); other columns fixed.
type RawRow<'a> = (Option<&'a str>, Option<&'a str>, &'a str, i64);

/// `rows` as a batch of the faker's raw schema (values cast from text).
fn raw_batch(
    schema: &arrow::datatypes::SchemaRef,
    rows: &[RawRow<'_>],
) -> arrow::array::RecordBatch {
    use arrow::array::{ArrayRef, StringArray};
    let text = |name: &str, row: &RawRow<'_>| -> Option<String> {
        match name {
            "customer_id" => Some("1".into()),
            "email" => row.0.map(str::to_owned),
            "city" => row.1.map(str::to_owned),
            "op" => Some(row.2.to_owned()),
            "event_time" => Some(chrono_free_timestamp(row.3 * 1_000_000)),
            other => Some(format!("{other}-1")),
        }
    };
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| {
            let values = StringArray::from_iter(rows.iter().map(|r| text(f.name(), r)));
            arrow::compute::cast(&values, f.data_type()).unwrap()
        })
        .collect();
    arrow::array::RecordBatch::try_new(schema.clone(), columns).unwrap()
}

#[tokio::test]
async fn ignore_null_updates_keep_the_values_of_the_version_a_late_row_falls_in() {
    let dir = tempfile::tempdir().unwrap();
    let (root, stage) = (dir.path().join("warehouse"), dir.path().join("stage"));
    let spec = PipelineSpec {
        ignore_null_updates: snowdrift_warehouse::IgnoreNullUpdates::All,
        ..spec(&stage, LateChanges::RESTITCH_ANY)
    };
    let warehouse = open(&root, &spec, 2).await;
    let schema = changes(1).schema();
    let sink = sink(&stage, schema.clone());
    warehouse.forward_notifications(&spec.stage, sink.subscribe());
    let files: [&[RawRow<'_>]; 3] = [
        &[(Some("a"), Some("X"), "INSERT", 10)],
        // In order: the NULL city keeps X.
        &[(Some("c"), None, "UPDATE", 30)],
        // Late, inside [10, 30): the NULL email keeps `a`, the version it falls in.
        &[(None, Some("Y"), "UPDATE", 20)],
    ];
    for (n, rows) in files.iter().enumerate() {
        stage_and_merge(&warehouse, &sink, &spec, &raw_batch(&schema, rows), n + 1).await;
    }
    sink.close().await.unwrap();
    let customer = warehouse.table(&spec.current_table).await.unwrap();
    assert_eq!(sorted_rows(&customer, &["email", "city"]), ["c|X"]);
    let history = warehouse.table(&spec.history_table).await.unwrap();
    let t = |s: i64| chrono_free_timestamp(s * 1_000_000);
    let open_end = "9999-12-31T00:00:00".to_string();
    let expected: Vec<String> = [
        ("a", "X", t(10), t(20)),
        ("a", "Y", t(20), t(30)),
        ("c", "X", t(30), open_end),
    ]
    .iter()
    .map(|(e, c, s, end)| format!("{e}|{c}|{s}|{end}"))
    .collect();
    assert_eq!(
        sorted_rows(&history, &["email", "city", "start_time", "end_time"]),
        expected
    );
}
