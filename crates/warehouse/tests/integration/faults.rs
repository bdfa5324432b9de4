//! A running pipeline on storage that fails: the warehouse root and the stage both sit on a
//! fault-injecting store that fails a seeded share of puts, gets, heads and lists with
//! transient errors. Commits fail and are rebuilt, reads fail and back off, runs fail and are
//! retried by the schedule; one staged file can never be read at all. When the faults stop,
//! `customer` and the current rows of `customer_history` equal the ground truth of the files
//! that could be read, every file is loaded exactly once or reported failed, only changes of
//! files loaded after later ones are rejected (as late), and nothing panicked.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _};
use snowdrift_faker::{ChangeStream, EntitySpec, GroundTruth, VersionOrder};
use snowdrift_stage::{CsvEncoder, CsvFormat};
use snowdrift_testkit::faults::FaultStore;
use snowdrift_warehouse::conformance::sorted_rows;
use snowdrift_warehouse::{
    LoadStatus, LocalWarehouse, PipeRetry, PipelineSpec, Schedule, Warehouse, WarehouseExt,
};

const ROOT: &str = "memory://faults-root";
const STAGE: &str = "memory://faults-stage";
const FILES: usize = 16;
/// The file whose every read fails.
const UNREADABLE: usize = 5;

fn changes() -> ChangeStream {
    ChangeStream::builder(EntitySpec::customer())
        .seed(21)
        .batch_size(300)
        .initial_population(200)
        .operation_column(Some("op"))
        .sequence_column(Some("seq"))
        .event_time_column(None)
        .late_rate(0.0)
        .build()
        .unwrap()
}

/// Puts `body` at `name`, retrying the store's injected failures.
async fn put_retrying(store: &Arc<dyn ObjectStore>, name: &str, body: Vec<u8>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while store
        .put(&Path::from(name), body.clone().into())
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "{name} could not be staged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_on_failing_storage_converges_on_the_ground_truth() {
    let (root, root_faults) = FaultStore::wrap(Arc::new(InMemory::new()), 101);
    let (stage, stage_faults) = FaultStore::wrap(Arc::new(InMemory::new()), 202);
    let spec = PipelineSpec {
        stage_url: STAGE.into(),
        operation_column: Some("op".into()),
        sequence_column: Some("seq".into()),
        schedule: Schedule::Interval(Duration::from_millis(30)),
        ..PipelineSpec::default()
    };
    let retry = PipeRetry {
        initial: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        max_attempts: 50,
    };
    let w = LocalWarehouse::builder(ROOT)
        .object_store(ROOT, root.clone())
        .object_store(STAGE, stage.clone())
        .list_interval(Duration::from_millis(30))
        .checkpoint_every(5)
        .pipe_retry(retry)
        .open()
        .await
        .unwrap();
    w.deploy(&spec).await.unwrap();
    root_faults.transient_per_mille.store(50, Ordering::SeqCst);
    stage_faults.transient_per_mille.store(50, Ordering::SeqCst);

    let mut stream = changes();
    let encoder = CsvEncoder::new(stream.schema(), CsvFormat::new()).unwrap();
    let mut truth = GroundTruth::for_stream(&stream)
        .with_order(VersionOrder::Sequence)
        .unwrap();
    let unreadable = format!("customer_{UNREADABLE:04}.csv");
    stage_faults.fail_gets_of(&unreadable, u64::MAX);
    for file in 0..FILES {
        let batch = stream.next_batch().batch;
        if file != UNREADABLE {
            truth.merge(&[&batch]).unwrap();
        }
        let mut body = encoder.header().to_vec();
        body.extend(encoder.encode(&batch).unwrap().bytes);
        put_retrying(&stage, &format!("customer_{file:04}.csv"), body).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the faults act on the running pipeline a little longer, then stop them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let injected =
        root_faults.injected.load(Ordering::SeqCst) + stage_faults.injected.load(Ordering::SeqCst);
    root_faults.heal();
    stage_faults.heal();
    stage_faults.fail_gets_of(&unreadable, u64::MAX); // permanent: it stays unreadable
    assert!(injected > 10, "only {injected} faults were injected");

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let loaded = w.copy_history(&spec.raw_table).await.unwrap().len();
        let idle = !w.pipeline_has_data(&spec).await.unwrap();
        if loaded >= FILES && idle {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{loaded} of {FILES} files loaded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let loads = w.copy_history(&spec.raw_table).await.unwrap();
    let mut files: Vec<&str> = loads.iter().map(|l| l.file.as_str()).collect();
    files.sort_unstable();
    files.dedup();
    assert_eq!((loads.len(), files.len()), (FILES, FILES), "each file once");
    for load in &loads {
        let want = if load.file == unreadable {
            LoadStatus::LoadFailed
        } else {
            LoadStatus::Loaded
        };
        assert_eq!(load.status, want, "{load:?}");
    }

    let business: Vec<&str> = spec.columns.iter().map(|c| c.name.as_str()).collect();
    let expected = sorted_rows(&truth.expected_current().unwrap(), &business);
    let customer = w.table(&spec.current_table).await.unwrap();
    assert!(
        sorted_rows(&customer, &business) == expected,
        "customer differs"
    );
    let mut with_flag = business.clone();
    with_flag.push("is_current");
    let current: Vec<String> =
        sorted_rows(&w.table(&spec.history_table).await.unwrap(), &with_flag)
            .into_iter()
            .filter_map(|r| r.strip_suffix("|true").map(str::to_owned))
            .collect();
    assert!(current == expected, "current history rows differ");
    // A file that failed to read backs off while later ones load (a pipe guarantees no
    // order, as Snowpipe): its changes older than ones already applied are late, and only
    // those may be rejected.
    let mut later_loaded = std::collections::HashSet::new();
    for (i, load) in loads.iter().enumerate() {
        if loads[..i].iter().any(|before| before.file > load.file) {
            later_loaded.insert(load.file.clone());
        }
    }
    let rejected = w.table("customer_rejected").await.unwrap();
    for row in sorted_rows(&rejected, &["reject_reason", "staged_file"]) {
        let (reason, file) = row.split_once('|').unwrap();
        assert_eq!(reason, "late", "{row}");
        assert!(later_loaded.contains(file), "{row}: {file} loaded in order");
    }

    // And what is in memory is what is durable: a fresh open sees the same tables.
    drop(w);
    let reopened = LocalWarehouse::builder(ROOT)
        .object_store(ROOT, root)
        .object_store(STAGE, stage)
        .background(false)
        .open()
        .await
        .unwrap();
    let customer = reopened.table(&spec.current_table).await.unwrap();
    assert!(
        sorted_rows(&customer, &business) == expected,
        "customer differs after reopening"
    );
}
