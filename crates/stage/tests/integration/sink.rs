//! The sink suite: the same scenarios against the in-memory store, a local folder and S3 (an
//! S3-compatible server on 127.0.0.1 started by the test).

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use object_store::ObjectStore;
use snowdrift_stage::{
    Compression, CsvFormat, RollPolicy, StageLocation, StageSink, StagedFile, UploadTuning,
};
use support::{assert_same_rows, change_batches, expected_rows, read_stage, records};

/// Runs every scenario against one store.
async fn sink_suite(store: Arc<dyn ObjectStore>) {
    rolls_by_rows_and_announces_every_file(store.clone(), "suite/rows").await;
    gzip_files_round_trip(store.clone(), "suite/gzip").await;
    rolls_by_bytes_at_record_boundaries(store.clone(), "suite/bytes").await;
    closes_an_idle_file_on_time(store.clone(), "suite/age").await;
    large_files_go_up_in_parts(store.clone(), "suite/multipart").await;
    two_writers_share_a_prefix(store.clone(), "suite/shared").await;
}

fn location(store: &Arc<dyn ObjectStore>, prefix: &str) -> StageLocation {
    StageLocation::from_store(store.clone(), prefix)
}

async fn drain(mut receiver: tokio::sync::mpsc::UnboundedReceiver<StagedFile>) -> Vec<StagedFile> {
    let mut files = Vec::new();
    while let Ok(file) = receiver.try_recv() {
        files.push(file);
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// Data rows of all files in name order, each file's header checked and removed.
fn data_rows(
    objects: &[(object_store::path::Path, bytes::Bytes)],
    header: &[String],
) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for (path, body) in objects {
        let mut file = records(body);
        assert_eq!(&file.remove(0), header, "header of {path}");
        rows.extend(file);
    }
    rows
}

fn header_of(batch: &RecordBatch) -> Vec<String> {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

async fn rolls_by_rows_and_announces_every_file(store: Arc<dyn ObjectStore>, prefix: &str) {
    let batches = change_batches(1, 5, 2_500);
    let sink = StageSink::builder(location(&store, prefix), batches[0].schema())
        .roll(RollPolicy {
            max_rows: 1_000,
            ..RollPolicy::default()
        })
        .writer_id(1)
        .build()
        .unwrap();
    let staged = sink.subscribe();
    for batch in &batches {
        sink.write(batch).await.unwrap();
    }
    let metrics = sink.close().await.unwrap();
    assert_eq!(
        (metrics.files, metrics.rows, metrics.unsent),
        (13, 12_500, 0)
    );

    let objects = read_stage(&store, prefix).await;
    let announced = drain(staged).await;
    assert_eq!(objects.len(), 13, "one object per closed file, none twice");
    for ((path, body), note) in objects.iter().zip(&announced) {
        assert_eq!(path, &note.path);
        assert_eq!(body.len() as u64, note.size);
        assert!(note.rows == 1_000 || note.rows == 500, "{note:?}");
        let name = path.filename().unwrap();
        assert!(
            name.starts_with("customer_") && name.ends_with("-0001.csv"),
            "{name}"
        );
    }
    assert_same_rows(
        &data_rows(&objects, &header_of(&batches[0])),
        &expected_rows(&batches),
    );
}

async fn gzip_files_round_trip(store: Arc<dyn ObjectStore>, prefix: &str) {
    let batches = change_batches(2, 2, 3_000);
    let sink = StageSink::builder(location(&store, prefix), batches[0].schema())
        .format(CsvFormat::new().with_compression(Compression::gzip()))
        .roll(RollPolicy {
            max_rows: 4_000,
            ..RollPolicy::default()
        })
        .writer_id(2)
        .build()
        .unwrap();
    for batch in &batches {
        sink.write(batch).await.unwrap();
    }
    let metrics = sink.close().await.unwrap();
    assert_eq!(metrics.files, 2);
    assert!(
        metrics.bytes * 2 < metrics.csv_bytes,
        "gzip should at least halve CSV: {metrics:?}"
    );
    let objects = read_stage(&store, prefix).await;
    assert!(objects.iter().all(|(p, _)| p.as_ref().ends_with(".csv.gz")));
    assert_same_rows(
        &data_rows(&objects, &header_of(&batches[0])),
        &expected_rows(&batches),
    );
}

async fn rolls_by_bytes_at_record_boundaries(store: Arc<dyn ObjectStore>, prefix: &str) {
    let batches = change_batches(3, 1, 4_000);
    let max_bytes = 64 * 1024;
    let sink = StageSink::builder(location(&store, prefix), batches[0].schema())
        .roll(RollPolicy {
            max_bytes,
            max_rows: usize::MAX,
            ..RollPolicy::default()
        })
        .build()
        .unwrap();
    sink.write(&batches[0]).await.unwrap();
    sink.close().await.unwrap();
    let objects = read_stage(&store, prefix).await;
    assert!(objects.len() > 3);
    for (path, body) in &objects {
        assert!(body.len() <= max_bytes, "{path} has {} bytes", body.len());
        assert!(body.ends_with(b"\n"), "{path} ends mid-record");
    }
    assert_same_rows(
        &data_rows(&objects, &header_of(&batches[0])),
        &expected_rows(&batches),
    );
}

async fn closes_an_idle_file_on_time(store: Arc<dyn ObjectStore>, prefix: &str) {
    let batches = change_batches(4, 1, 10);
    let sink = StageSink::builder(location(&store, prefix), batches[0].schema())
        .roll(RollPolicy {
            max_age: Duration::from_millis(50),
            ..RollPolicy::default()
        })
        .build()
        .unwrap();
    let mut staged = sink.subscribe();
    sink.write(&batches[0]).await.unwrap();
    // No flush, no close: only the age limit can stage this file.
    let file = staged
        .recv()
        .await
        .expect("the idle file is staged by its age limit");
    assert_eq!(file.rows, 10);
    assert_eq!(read_stage(&store, prefix).await.len(), 1);
    sink.close().await.unwrap();
}

async fn large_files_go_up_in_parts(store: Arc<dyn ObjectStore>, prefix: &str) {
    let batches = change_batches(5, 1, 120_000);
    let tuning = UploadTuning {
        multipart_threshold: 6 << 20,
        part_size: 5 << 20,
        part_concurrency: 2,
    };
    let sink = StageSink::builder(location(&store, prefix), batches[0].schema())
        .roll(RollPolicy {
            max_rows: usize::MAX,
            max_bytes: 1 << 30,
            ..RollPolicy::default()
        })
        .upload_tuning(tuning)
        .build()
        .unwrap();
    sink.write(&batches[0]).await.unwrap();
    let metrics = sink.close().await.unwrap();
    assert_eq!(metrics.files, 1);
    assert!(
        metrics.bytes > 11 << 20,
        "the file should need three parts: {metrics:?}"
    );
    let objects = read_stage(&store, prefix).await;
    assert_eq!(objects.len(), 1);
    assert_same_rows(
        &data_rows(&objects, &header_of(&batches[0])),
        &expected_rows(&batches),
    );
}

async fn two_writers_share_a_prefix(store: Arc<dyn ObjectStore>, prefix: &str) {
    let batches = change_batches(6, 4, 500);
    let roll = RollPolicy {
        max_rows: 100,
        ..RollPolicy::default()
    };
    let one = StageSink::builder(location(&store, prefix), batches[0].schema())
        .roll(roll)
        .writer_id(11)
        .build()
        .unwrap();
    let two = StageSink::builder(location(&store, prefix), batches[0].schema())
        .roll(roll)
        .writer_id(12)
        .build()
        .unwrap();
    let (a, b) = tokio::join!(
        async {
            for batch in &batches[..2] {
                one.write(batch).await.unwrap();
            }
            one.close().await.unwrap()
        },
        async {
            for batch in &batches[2..] {
                two.write(batch).await.unwrap();
            }
            two.close().await.unwrap()
        }
    );
    assert_eq!(a.files + b.files, 20);
    let objects = read_stage(&store, prefix).await;
    assert_eq!(objects.len(), 20, "no name collided");
    // Each writer's own files sort in the order it wrote them.
    for (writer, written) in [("-0011.csv", &batches[..2]), ("-0012.csv", &batches[2..])] {
        let mine: Vec<_> = objects
            .iter()
            .filter(|(p, _)| p.as_ref().ends_with(writer))
            .cloned()
            .collect();
        assert_same_rows(
            &data_rows(&mine, &header_of(&batches[0])),
            &expected_rows(written),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_on_memory() {
    sink_suite(Arc::new(object_store::memory::InMemory::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_on_local_folder() {
    let dir = tempfile::tempdir().unwrap();
    let stage = StageLocation::parse(dir.path().to_str().unwrap()).unwrap();
    sink_suite(stage.store().clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_on_s3() {
    let server = support::s3::S3Server::start().await;
    sink_suite(server.store()).await;
}
