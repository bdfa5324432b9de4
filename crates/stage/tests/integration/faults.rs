//! Faults: transient and permanent store errors, a multipart upload failing in the middle, an
//! unwritable destination, a store that holds writes back, and an S3 server that goes away and
//! comes back. None may leave a partial object, a duplicate object, or a lost file.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use object_store::memory::InMemory;
use snowdrift_stage::{
    RetryPolicy, RollPolicy, StageError, StageLocation, StageSink, UploadTuning,
};
use snowdrift_testkit::faults::{FaultPlan, FaultStore};
use support::{assert_same_rows, change_batches, expected_rows, read_stage, records};

fn quick_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: attempts,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
    }
}

fn staged_rows(objects: &[(object_store::path::Path, bytes::Bytes)]) -> Vec<Vec<String>> {
    objects
        .iter()
        .flat_map(|(_, body)| records(body).into_iter().skip(1))
        .collect()
}

/// An in-memory store whose uploads each wait for a permit of the gate (none at first).
fn gated_store() -> (
    Arc<tokio::sync::Semaphore>,
    Arc<dyn object_store::ObjectStore>,
    Arc<FaultPlan>,
) {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let (store, faults) = FaultStore::wrap(Arc::new(InMemory::new()), 1);
    faults.gate_puts(Some(gate.clone()));
    (gate, store, faults)
}

/// A sink for `batches` at `p` in `store` that rolls a file every 100 rows (or `max_age`),
/// with `buffering` (files in flight, files queued).
fn sink_of_100_row_files(
    store: &Arc<dyn object_store::ObjectStore>,
    batches: &[arrow::array::RecordBatch],
    max_age: Option<Duration>,
    buffering: (usize, usize),
) -> StageSink {
    let mut roll = RollPolicy {
        max_rows: 100,
        ..RollPolicy::default()
    };
    roll.max_age = max_age.unwrap_or(roll.max_age);
    StageSink::builder(
        StageLocation::from_store(store.clone(), "p"),
        batches[0].schema(),
    )
    .roll(roll)
    .buffering(buffering.0, buffering.1)
    .build()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_put_failures_are_retried_without_duplicates() {
    let (store, faults) = FaultStore::wrap(Arc::new(InMemory::new()), 1);
    faults.failing_puts.store(3, Ordering::SeqCst);
    let batches = change_batches(10, 3, 1_000);
    let sink = StageSink::builder(
        StageLocation::from_store(store.clone(), "p"),
        batches[0].schema(),
    )
    .roll(RollPolicy {
        max_rows: 500,
        ..RollPolicy::default()
    })
    .retry(quick_retry(5))
    .build()
    .unwrap();
    for batch in &batches {
        sink.write(batch).await.unwrap();
    }
    let metrics = sink.close().await.unwrap();
    assert_eq!((metrics.files, metrics.retries, metrics.unsent), (6, 3, 0));
    assert_eq!(
        faults.puts.load(Ordering::SeqCst),
        6,
        "each file reached the store once"
    );
    let objects = read_stage(&store, "p").await;
    assert_eq!(objects.len(), 6);
    assert_same_rows(&staged_rows(&objects), &expected_rows(&batches));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_upload_failing_mid_way_is_aborted_and_redone_whole() {
    let (store, faults) = FaultStore::wrap(Arc::new(InMemory::new()), 1);
    faults.failing_parts.store(1, Ordering::SeqCst);
    let batches = change_batches(11, 1, 60_000);
    let sink = StageSink::builder(
        StageLocation::from_store(store.clone(), "p"),
        batches[0].schema(),
    )
    .roll(RollPolicy {
        max_rows: usize::MAX,
        max_bytes: 1 << 30,
        ..RollPolicy::default()
    })
    .upload_tuning(UploadTuning {
        multipart_threshold: 1 << 20,
        part_size: 1 << 20,
        part_concurrency: 2,
    })
    .retry(quick_retry(3))
    .build()
    .unwrap();
    sink.write(&batches[0]).await.unwrap();
    let metrics = sink.close().await.unwrap();
    assert_eq!((metrics.files, metrics.retries), (1, 1));
    let objects = read_stage(&store, "p").await;
    assert_eq!(objects.len(), 1, "one object, not a partial one beside it");
    assert_same_rows(&staged_rows(&objects), &expected_rows(&batches));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_destination_fails_fast_keeps_the_data_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("landing"),
        b"a file where the stage folder should be",
    )
    .unwrap();
    let stage = StageLocation::parse(dir.path().to_str().unwrap()).unwrap();
    let stage = StageLocation::from_store(stage.store().clone(), "landing");
    let batches = change_batches(12, 1, 100);
    let sink = StageSink::builder(stage.clone(), batches[0].schema())
        .retry(quick_retry(8))
        .build()
        .unwrap();
    sink.write(&batches[0]).await.unwrap();
    let error = sink.close().await.unwrap_err();
    let StageError::SinkFailed { unsent, first } = &error else {
        panic!("unexpected error {error:?}")
    };
    assert_eq!(*unsent, 1);
    assert!(
        matches!(&**first, StageError::Upload { path, attempts: 1, .. } if path.starts_with("landing/customer_")),
        "{first}"
    );
    assert!(Arc::ptr_eq(first, &sink.unsent()[0].error));
    let kept = sink.unsent();
    assert_eq!(kept[0].rows, 100);
    assert_same_rows(&records(&kept[0].body)[1..], &expected_rows(&batches));
    assert!(
        sink.write(&batches[0]).await.is_err(),
        "a failed sink refuses new data"
    );

    std::fs::remove_file(dir.path().join("landing")).unwrap();
    let metrics = sink.retry_unsent().await.unwrap();
    assert_eq!((metrics.files, metrics.unsent), (1, 0));
    assert_eq!(read_stage(stage.store(), "landing").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_store_holds_producers_back_instead_of_buffering() {
    let (gate, store, faults) = gated_store();
    let batches = change_batches(13, 20, 100);
    let sink = Arc::new(sink_of_100_row_files(&store, &batches, None, (1, 1)));
    let written = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let producer = {
        let (sink, written, batches) = (sink.clone(), written.clone(), batches.clone());
        tokio::spawn(async move {
            for batch in &batches {
                sink.write(batch).await.unwrap();
                written.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    // Wait until the one upload slot is taken; then the producer can get at most one file
    // into the queue and one more into its open file before it must wait.
    while faults.in_flight.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
    let before_release = written.load(Ordering::SeqCst);
    assert!(
        before_release <= 3,
        "producer ran ahead of a stalled store: {before_release} batches"
    );
    assert!(!producer.is_finished());

    gate.add_permits(1_000);
    producer.await.unwrap();
    let metrics = sink.close().await.unwrap();
    assert_eq!(metrics.files, 20);
    assert_eq!(faults.max_in_flight.load(Ordering::SeqCst), 1);
    assert_same_rows(
        &staged_rows(&read_stage(&store, "p").await),
        &expected_rows(&batches),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_dropped_while_the_queue_is_full_loses_no_rows_of_earlier_writes() {
    let (gate, store, _faults) = gated_store();
    // Two writes fill a file: the second write of each pair queues it.
    let batches = change_batches(15, 8, 50);
    let sink = sink_of_100_row_files(&store, &batches, Some(Duration::from_secs(3600)), (1, 1));
    // The first file is uploading (held), the second waits in the queue, so the third
    // file's write waits for room: it is dropped there, as a `select!` or a timeout drops it.
    let mut completed = 0;
    for batch in &batches {
        match tokio::time::timeout(Duration::from_millis(300), sink.write(batch)).await {
            Ok(result) => {
                result.unwrap();
                completed += 1;
            }
            Err(_) => break,
        }
    }
    assert_eq!(
        completed, 5,
        "the sixth write should wait for room in the queue"
    );
    gate.add_permits(1_000);
    sink.close().await.unwrap();
    // Every row of the completed writes is staged; the dropped write's rows were appended
    // before it waited, so they are staged too.
    assert_same_rows(
        &staged_rows(&read_stage(&store, "p").await),
        &expected_rows(&batches[..completed + 1]),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_dropped_while_uploads_wait_can_be_called_again_and_waits_for_them() {
    let (gate, store, _faults) = gated_store();
    let batches = change_batches(16, 2, 100);
    let sink = sink_of_100_row_files(&store, &batches, None, (2, 1));
    for batch in &batches {
        sink.write(batch).await.unwrap();
    }
    let dropped = tokio::time::timeout(Duration::from_millis(300), sink.close()).await;
    assert!(dropped.is_err(), "close should wait for the held uploads");
    // The uploads go on only once the second close is waiting: it must wait for them.
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        gate.add_permits(1_000);
    });
    let metrics = sink.close().await.unwrap();
    release.await.unwrap();
    assert_eq!(metrics.files, 2);
    assert_same_rows(
        &staged_rows(&read_stage(&store, "p").await),
        &expected_rows(&batches),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_another_schema_is_refused_and_the_sink_goes_on() {
    let batches = change_batches(14, 1, 10);
    let store: Arc<dyn object_store::ObjectStore> = Arc::new(InMemory::new());
    let sink = StageSink::builder(
        StageLocation::from_store(store.clone(), "p"),
        batches[0].schema(),
    )
    .build()
    .unwrap();
    let narrower = batches[0].project(&[0, 1]).unwrap();
    let error = sink.write(&narrower).await.unwrap_err();
    assert!(
        matches!(&error, StageError::SchemaMismatch { .. }),
        "{error}"
    );
    sink.write(&batches[0]).await.unwrap();
    assert_eq!(sink.close().await.unwrap().rows, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_server_that_goes_away_and_comes_back_loses_nothing() {
    let mut server = support::s3::S3Server::start().await;
    let store = server.store();
    let batches = change_batches(15, 6, 500);
    let sink = Arc::new(
        StageSink::builder(
            StageLocation::from_store(store.clone(), "outage"),
            batches[0].schema(),
        )
        .roll(RollPolicy {
            max_rows: 250,
            ..RollPolicy::default()
        })
        .retry(RetryPolicy {
            max_attempts: 40,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(250),
        })
        .build()
        .unwrap(),
    );
    sink.write(&batches[0]).await.unwrap();
    sink.flush().await.unwrap();
    server.stop().await;
    let producer = {
        let (sink, batches) = (sink.clone(), batches.clone());
        tokio::spawn(async move {
            for batch in &batches[1..] {
                sink.write(batch).await.unwrap();
            }
            sink.close().await
        })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    server.restart().await;
    let metrics = producer.await.unwrap().unwrap();
    assert_eq!((metrics.files, metrics.unsent), (12, 0));
    assert!(
        metrics.retries > 0,
        "the outage should have cost retries: {metrics:?}"
    );
    let objects = read_stage(&store, "outage").await;
    assert_eq!(objects.len(), 12);
    assert_same_rows(&staged_rows(&objects), &expected_rows(&batches));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_show_in_debug_output_or_errors() {
    let mut server = support::s3::S3Server::start().await;
    let store = server.store();
    server.stop().await;
    let batches = change_batches(16, 1, 5);
    let sink = StageSink::builder(StageLocation::from_store(store, "p"), batches[0].schema())
        .retry(quick_retry(2))
        .build()
        .unwrap();
    sink.write(&batches[0]).await.unwrap();
    let error = sink.close().await.unwrap_err();
    for text in [
        format!("{sink:?}"),
        error.to_string(),
        format!("{error:?}"),
        format!("{:?}", sink.unsent()),
    ] {
        assert!(
            !text.contains(support::s3::SECRET_KEY),
            "secret leaked: {text}"
        );
    }
}
