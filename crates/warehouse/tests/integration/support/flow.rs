//! Fixtures of the whole-flow tests (`pipeline.rs`, `event_time.rs`): a warehouse with a
//! pipeline's objects, the wait for its pipe, the stage sink the faker's files go through, and
//! a comparison of sorted rows that shows what differs.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use snowdrift_faker::EntitySpec;
use snowdrift_stage::{RollPolicy, StageLocation, StageSink};
use snowdrift_warehouse::{CreateMode, LocalWarehouse, PipelineSpec, TaskRunState, Warehouse};

/// The generator's customer, whose columns the pipeline's tables hold.
static CUSTOMER: LazyLock<EntitySpec> = LazyLock::new(EntitySpec::customer);

/// The customer's business columns, as the generator names them.
pub static BUSINESS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| CUSTOMER.columns().iter().map(|c| c.name.as_str()).collect());

/// A warehouse at `root` (a checkpoint every `every` commits) holding `spec`'s objects.
pub async fn open_with(root: &std::path::Path, spec: &PipelineSpec, every: u64) -> LocalWarehouse {
    let warehouse = LocalWarehouse::builder(root.to_str().unwrap())
        .checkpoint_every(every)
        .open()
        .await
        .unwrap();
    for object in spec.objects() {
        warehouse
            .create(object, CreateMode::IfNotExists)
            .await
            .unwrap();
    }
    warehouse
}

/// Waits (30 s at most) until `files` files are in the raw table's load history.
pub async fn wait_for_files(warehouse: &LocalWarehouse, spec: &PipelineSpec, files: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let loaded = warehouse.copy_history(&spec.raw_table).await.unwrap();
        if loaded.len() >= files {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {files} files loaded",
            loaded.len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Stages `batch` as one file, waits until the pipe has loaded `files` files in all, and runs
/// the graph once (it must succeed).
pub async fn stage_and_merge(
    warehouse: &LocalWarehouse,
    sink: &StageSink,
    spec: &PipelineSpec,
    batch: &arrow::array::RecordBatch,
    files: usize,
) {
    sink.write(batch).await.unwrap();
    sink.flush().await.unwrap();
    wait_for_files(warehouse, spec, files).await;
    let run = warehouse.execute_task(&spec.current_task).await.unwrap();
    assert_eq!(run.state, TaskRunState::Succeeded, "{run:?}");
}

/// A sink writing one file per flush into the folder stage at `stage`.
pub fn sink(stage: &std::path::Path, schema: SchemaRef) -> StageSink {
    let location = StageLocation::parse(stage.to_str().unwrap()).unwrap();
    StageSink::builder(location, schema)
        .roll(RollPolicy {
            max_rows: usize::MAX,
            max_bytes: 64 << 20,
            max_age: Duration::from_secs(3600),
        })
        .writer_id(1)
        .build()
        .unwrap()
}

/// Panics with the first missing and unexpected rows when `got` is not `want`.
pub fn assert_same(what: &str, got: Vec<String>, want: Vec<String>) {
    if got != want {
        let missing: Vec<_> = want.iter().filter(|r| !got.contains(r)).take(5).collect();
        let extra: Vec<_> = got.iter().filter(|r| !want.contains(r)).take(5).collect();
        panic!(
            "{what}: {} rows, want {}; missing (first 5) {missing:?}; unexpected (first 5) {extra:?}",
            got.len(),
            want.len()
        );
    }
}
