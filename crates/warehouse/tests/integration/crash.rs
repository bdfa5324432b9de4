//! Crash safety: a worker process runs the pipeline (stage a file, the pipe loads it, the task
//! graph merges it) while this test kills it with SIGKILL at random moments, many times, and
//! restarts it. When the worker finally finishes, `customer` and `customer_history` must equal
//! the faker's ground truth exactly, and every file must have been loaded exactly once. The
//! pipeline is the default `PipelineSpec` as deployed (its root `WHEN` kept), with an operation
//! and a sequence column, and files arrive out of generation order: the late changes in
//! `customer_rejected` must equal the ground truth's too.
//!
//! The same again with the history sequenced by event time (late changes re-stitched within a
//! bound, the later ones rejected to `customer_history_rejected`): the history's versions and
//! their validity must equal the ground truth's re-stitched history.
//!
//! The worker is the ignored test `crash_worker` of this file, re-run as a child process.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use object_store::ObjectStoreExt as _;
use object_store::path::Path;
use snowdrift_faker::{ChangeStream, EntitySpec, GroundTruth, OutOfOrder, VersionOrder};
use snowdrift_stage::{CsvEncoder, CsvFormat, StageLocation};
use snowdrift_warehouse::conformance::sorted_rows;
use snowdrift_warehouse::{
    CreateMode, EventTime, LateChanges, LocalWarehouse, ObjectDef, PipelineSpec, TaskAction,
    TaskRunState, Warehouse, WarehouseExt,
};

const FILES: usize = 40;
const ROWS: usize = 400;
const KILLS: usize = 30;

/// How long a change may be late and still be re-stitched, by event time.
const WITHIN: Duration = Duration::from_millis(300);

/// What the pipeline sequences versions by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A sequence column; late changes rejected to `customer_rejected`.
    Sequence,
    /// Event time; late changes re-stitched, those beyond [`WITHIN`] rejected.
    EventTime,
}

impl Mode {
    fn from_env() -> Mode {
        match std::env::var("CRASH_MODE").as_deref() {
            Ok("event_time") => Mode::EventTime,
            _ => Mode::Sequence,
        }
    }

    fn env(self) -> &'static str {
        match self {
            Mode::Sequence => "sequence",
            Mode::EventTime => "event_time",
        }
    }
}

fn changes(mode: Mode) -> ChangeStream {
    let builder = ChangeStream::builder(EntitySpec::customer())
        .seed(5)
        .batch_size(ROWS)
        .initial_population(200)
        .operation_column(Some("op"));
    match mode {
        Mode::Sequence => builder
            .sequence_column(Some("seq"))
            .event_time_column(None)
            .late_rate(0.0),
        Mode::EventTime => builder
            .sequence_column(None)
            .event_time_column(Some("event_time"))
            .late_rate(0.1)
            .max_lateness(Duration::from_secs(1)),
    }
    .build()
    .unwrap()
}

/// The staged batches in arrival order: generation order with a share of files held back two
/// places (out-of-order arrival, so that late changes really happen), the same in every process.
fn arrivals(mode: Mode) -> Vec<RecordBatch> {
    let mut stream = changes(mode);
    let mut arrival = OutOfOrder::new(9, 0.3, 2).unwrap();
    let mut out: Vec<RecordBatch> = (0..FILES)
        .flat_map(|_| arrival.push(stream.next_batch().batch))
        .collect();
    out.extend(arrival.finish());
    out
}

fn spec(stage: &str, mode: Mode) -> PipelineSpec {
    let base = PipelineSpec {
        stage_url: stage.to_owned(),
        operation_column: Some("op".into()),
        ..PipelineSpec::default()
    };
    match mode {
        Mode::Sequence => PipelineSpec {
            sequence_column: Some("seq".into()),
            ..base
        },
        Mode::EventTime => PipelineSpec {
            event_time: Some(EventTime {
                late: LateChanges::restitch_within(WITHIN),
                ..EventTime::default()
            }),
            ..base
        },
    }
}

/// The spec's objects as deployed, with the root task run on demand only (its `WHEN` kept: it
/// watches both streams, so a run after a crash finishes a history merge the crash
/// interrupted).
fn objects(spec: &PipelineSpec) -> Vec<ObjectDef> {
    spec.objects()
        .into_iter()
        .map(|object| match object {
            ObjectDef::Task(mut task) if task.name == spec.current_task => {
                task.schedule = None;
                ObjectDef::Task(task)
            }
            other => other,
        })
        .collect()
}

async fn open(root: &str, spec: &PipelineSpec) -> LocalWarehouse {
    let warehouse = LocalWarehouse::builder(root)
        .checkpoint_every(4)
        .list_interval(Duration::from_millis(50))
        .open()
        .await
        .unwrap();
    for object in objects(spec) {
        warehouse
            .create(object, CreateMode::IfNotExists)
            .await
            .unwrap();
    }
    warehouse
        .alter_task(&spec.history_task, TaskAction::Resume)
        .await
        .unwrap();
    warehouse
}

async fn merge_now(warehouse: &LocalWarehouse, spec: &PipelineSpec) {
    let run = warehouse.execute_task(&spec.current_task).await.unwrap();
    assert_eq!(run.state, TaskRunState::Succeeded, "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the worker process of kill_and_restart_many_times"]
async fn crash_worker() {
    let (Ok(root), Ok(stage)) = (std::env::var("CRASH_ROOT"), std::env::var("CRASH_STAGE")) else {
        return;
    };
    let mode = Mode::from_env();
    let spec = spec(&stage, mode);
    let warehouse = open(&root, &spec).await;
    let location = StageLocation::parse(&stage).unwrap();
    let encoder = CsvEncoder::new(changes(mode).schema(), CsvFormat::new()).unwrap();
    for (file, batch) in arrivals(mode).into_iter().enumerate() {
        let name = format!("customer_{file:04}.csv");
        let loaded =
            |history: Vec<snowdrift_warehouse::FileLoad>| history.iter().any(|l| l.file == name);
        if !loaded(warehouse.copy_history(&spec.raw_table).await.unwrap()) {
            // Staged before a crash? Puts are atomic: an object that exists is complete.
            if location
                .store()
                .head(&Path::from(name.as_str()))
                .await
                .is_err()
            {
                let mut body = encoder.header().to_vec();
                body.extend(encoder.encode(&batch).unwrap().bytes);
                location
                    .store()
                    .put(&Path::from(name.as_str()), body.into())
                    .await
                    .unwrap();
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            while !loaded(warehouse.copy_history(&spec.raw_table).await.unwrap()) {
                assert!(Instant::now() < deadline, "{name} was not loaded");
                warehouse.refresh_pipe(&spec.pipe).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        // Merge this file, or finish a merge a crash interrupted (the history half of a graph
        // run whose SCD-1 half had committed).
        if warehouse.pipeline_has_data(&spec).await.unwrap() {
            merge_now(&warehouse, &spec).await;
        }
    }
    println!("WORKER DONE");
}

/// The late rows of the rejected table as `key|sequence|late`: the sequence column's value, or
/// the event time in µs since the epoch.
async fn late_rows(warehouse: &LocalWarehouse, mode: Mode) -> Vec<String> {
    use arrow::array::{Array, AsArray};
    use arrow::compute::cast;
    use arrow::datatypes::{DataType, Int64Type};
    let (table, column) = match mode {
        Mode::Sequence => ("customer_rejected", "seq"),
        Mode::EventTime => ("customer_history_rejected", "event_time"),
    };
    let rejected = warehouse.table(table).await.unwrap();
    let as_int =
        |name: &str| cast(rejected.column_by_name(name).unwrap(), &DataType::Int64).unwrap();
    let (keys, order) = (as_int("customer_id"), as_int(column));
    let (keys, order) = (
        keys.as_primitive::<Int64Type>(),
        order.as_primitive::<Int64Type>(),
    );
    let reasons = rejected.column_by_name("reject_reason").unwrap();
    let reasons = reasons.as_string::<i32>();
    let mut late: Vec<String> = (0..rejected.num_rows())
        .filter(|&r| reasons.is_valid(r) && reasons.value(r) == "late")
        .map(|r| format!("{}|{}|late", keys.value(r), order.value(r)))
        .collect();
    late.sort();
    late
}

/// A small deterministic generator for kill delays.
fn delays(seed: u64) -> impl Iterator<Item = Duration> {
    let mut state = seed;
    std::iter::repeat_with(move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        Duration::from_millis(5 + (state >> 33) % 80)
    })
}

#[test]
fn kill_and_restart_many_times() {
    kill_and_restart(Mode::Sequence);
}

#[test]
fn kill_and_restart_many_times_with_a_history_by_event_time() {
    kill_and_restart(Mode::EventTime);
}

fn kill_and_restart(mode: Mode) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("warehouse").to_str().unwrap().to_owned();
    let stage = dir.path().join("stage").to_str().unwrap().to_owned();
    let worker = || {
        Command::new(std::env::current_exe().unwrap())
            .args([
                "crash::crash_worker",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("CRASH_ROOT", &root)
            .env("CRASH_STAGE", &stage)
            .env("CRASH_MODE", mode.env())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut kills = 0;
    for delay in delays(17).take(KILLS) {
        let mut child = worker();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_some() {
            break; // finished before this kill
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
    }
    let output = worker().wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("WORKER DONE"),
        "the last worker failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        kills >= 5,
        "only {kills} kills landed before the worker finished"
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let spec = spec(&stage, mode);
        let warehouse = LocalWarehouse::builder(root.as_str()).background(false).open().await.unwrap();
        // One merge per file in arrival order, as the worker ran them; versions ordered by
        // the sequence column, older changes than the applied ones rejected as late (or by
        // event time, late changes put in their place).
        let order = match mode {
            Mode::Sequence => VersionOrder::Sequence,
            Mode::EventTime => VersionOrder::Restitch { within: Some(WITHIN) },
        };
        let mut truth = GroundTruth::for_stream(&changes(mode)).with_order(order).unwrap();
        for batch in arrivals(mode) {
            truth.merge(&[&batch]).unwrap();
        }
        assert!(!truth.late_rows().is_empty(), "no change arrived late");
        let loads = warehouse.copy_history(&spec.raw_table).await.unwrap();
        let mut files: Vec<&str> = loads.iter().map(|l| l.file.as_str()).collect();
        files.sort_unstable();
        files.dedup();
        assert_eq!((loads.len(), files.len()), (FILES, FILES), "every file loaded exactly once");
        assert_eq!(warehouse.table(&spec.raw_table).await.unwrap().num_rows(), FILES * ROWS);
        let business: Vec<&str> = spec.columns.iter().map(|c| c.name.as_str()).collect();
        let customer = warehouse.table(&spec.current_table).await.unwrap();
        assert!(
            sorted_rows(&customer, &business) == sorted_rows(&truth.expected_current().unwrap(), &business),
            "customer differs from the ground truth after {kills} kills"
        );
        let mut with_flag = business.clone();
        with_flag.push("is_current");
        if mode == Mode::EventTime {
            // By event time the validity is the truth's too.
            with_flag.extend(["start_time", "end_time"]);
        }
        let history = warehouse.table(&spec.history_table).await.unwrap();
        let (got, want) = (
            sorted_rows(&history, &with_flag),
            sorted_rows(&truth.expected_history().unwrap(), &with_flag),
        );
        let missing: Vec<_> = want.iter().filter(|r| !got.contains(r)).take(5).collect();
        let extra: Vec<_> = got.iter().filter(|r| !want.contains(r)).take(5).collect();
        assert!(
            got == want,
            "customer_history differs from the ground truth after {kills} kills: {} rows, want {}; missing {missing:?}; unexpected {extra:?}",
            got.len(),
            want.len()
        );
        let late = late_rows(&warehouse, mode).await;
        let mut want: Vec<String> = truth
            .late_rows()
            .iter()
            .map(|l| format!("{}|{}|late", l.key, l.event_time))
            .collect();
        want.sort();
        assert_eq!(late, want, "late rows differ from the ground truth after {kills} kills");
    });
    println!("{kills} kills, ground truth matched");
}
