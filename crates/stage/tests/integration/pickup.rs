//! Folder pickup: complete files are uploaded exactly once — across restarts, interrupted runs,
//! unreadable files and files that change while being read — into memory and into S3.

use crate::support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt};
use snowdrift_stage::{
    AfterUpload, FolderPickup, RetryPolicy, Stability, StageError, StageLocation, UploadTuning,
};
use snowdrift_testkit::faults::FaultStore;
use support::read_stage;

fn no_wait() -> Stability {
    Stability {
        min_age: Duration::ZERO,
    }
}

fn write(folder: &Path, name: &str, text: &str) {
    std::fs::write(folder.join(name), text).unwrap();
}

fn pickup(folder: &Path, store: &Arc<dyn ObjectStore>) -> FolderPickup {
    FolderPickup::builder(folder, StageLocation::from_store(store.clone(), "in"))
        .stability(no_wait())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_file_is_taken_once_it_stops_changing() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let mut pickup = pickup(dir.path(), &store);
    write(dir.path(), "a.csv", "id\n1\n");
    let first = pickup.scan().await.unwrap();
    assert_eq!(
        (first.uploaded.len(), first.waiting.len()),
        (0, 1),
        "first sight: not yet known stable"
    );

    write(dir.path(), "a.csv", "id\n1\n2\n"); // still being written
    let second = pickup.scan().await.unwrap();
    assert_eq!((second.uploaded.len(), second.waiting.len()), (0, 1));

    let third = pickup.scan().await.unwrap();
    assert_eq!(third.uploaded.len(), 1);
    assert_eq!(third.uploaded[0].path.as_ref(), "in/a.csv");
    assert_eq!(third.uploaded[0].size, 7);
    let objects = read_stage(&store, "in").await;
    assert_eq!(&objects[0].1[..], b"id\n1\n2\n");

    let fourth = pickup.scan().await.unwrap();
    assert_eq!((fourth.uploaded.len(), fourth.already_uploaded), (0, 1));
}

#[tokio::test]
async fn min_age_holds_back_fresh_files_and_patterns_filter_names() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let mut pickup =
        FolderPickup::builder(dir.path(), StageLocation::from_store(store.clone(), "in"))
            .pattern("customer_*.csv")
            .stability(Stability {
                min_age: Duration::from_secs(3600),
            })
            .build()
            .unwrap();
    write(dir.path(), "customer_1.csv", "x\n");
    write(dir.path(), "customer_1.csv.tmp", "x\n");
    write(dir.path(), ".customer_2.csv", "x\n");
    for _ in 0..3 {
        let report = pickup.scan().await.unwrap();
        assert_eq!(report.uploaded.len(), 0);
        assert_eq!(report.waiting.len(), 1, "only customer_1.csv matches");
    }
}

#[tokio::test]
async fn a_restart_neither_uploads_again_nor_misses_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let (store, faults) = FaultStore::wrap(Arc::new(InMemory::new()), 1);
    for i in 0..5 {
        write(dir.path(), &format!("f{i}.csv"), &format!("id\n{i}\n"));
    }
    {
        let mut first_run = pickup(dir.path(), &store);
        first_run.scan().await.unwrap();
        assert_eq!(first_run.scan().await.unwrap().uploaded.len(), 5);
    }
    write(dir.path(), "f5.csv", "id\n5\n"); // arrives while nothing runs
    let mut second_run = pickup(dir.path(), &store);
    second_run.scan().await.unwrap();
    let report = second_run.scan().await.unwrap();
    assert_eq!(
        report
            .uploaded
            .iter()
            .map(|f| f.path.to_string())
            .collect::<Vec<_>>(),
        ["in/f5.csv"]
    );
    assert_eq!(report.already_uploaded, 5);
    assert_eq!(
        faults.puts.load(Ordering::SeqCst),
        6,
        "every file exactly once"
    );
}

#[tokio::test]
async fn an_upload_interrupted_before_it_was_journaled_is_confirmed_not_repeated() {
    let dir = tempfile::tempdir().unwrap();
    let (store, faults) = FaultStore::wrap(Arc::new(InMemory::new()), 1);
    write(dir.path(), "done.csv", "id\n1\n");
    write(dir.path(), "lost.csv", "id\n2\n");
    let meta = |name: &str| {
        let m = std::fs::metadata(dir.path().join(name)).unwrap();
        let nanos = m
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("{}\t{nanos}", m.len())
    };
    // A run crashed after starting both uploads; only the first one reached the store.
    store
        .put(
            &"in/done.csv".into(),
            bytes::Bytes::from_static(b"id\n1\n").into(),
        )
        .await
        .unwrap();
    std::fs::write(
        dir.path().join(".snowdrift-pickup.journal"),
        format!(
            "begun\tdone.csv\t{}\tin/done.csv\nbegun\tlost.csv\t{}\tin/lost.csv\n",
            meta("done.csv"),
            meta("lost.csv")
        ),
    )
    .unwrap();
    let puts_before = faults.puts.load(Ordering::SeqCst);
    let mut restarted = pickup(dir.path(), &store);
    let report = restarted.scan().await.unwrap();
    let mut uploaded: Vec<_> = report.uploaded.iter().map(|f| f.path.to_string()).collect();
    uploaded.sort();
    assert_eq!(uploaded, ["in/done.csv", "in/lost.csv"]);
    assert_eq!(
        faults.puts.load(Ordering::SeqCst) - puts_before,
        1,
        "only the lost file is uploaded"
    );
}

#[tokio::test]
async fn an_unreadable_file_is_reported_and_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    std::os::unix::fs::symlink(dir.path().join("nowhere"), dir.path().join("broken.csv")).unwrap();
    write(dir.path(), "good.csv", "id\n1\n");
    let mut pickup = pickup(dir.path(), &store);
    pickup.scan().await.unwrap();
    let report = pickup.scan().await.unwrap();
    assert_eq!(report.uploaded.len(), 1);
    assert_eq!(report.failed.len(), 1);
    let (path, error) = &report.failed[0];
    assert!(path.ends_with("broken.csv"));
    assert!(
        matches!(error, StageError::Io { operation: "stat", path, .. } if path.ends_with("broken.csv")),
        "{error}"
    );
    // Still reported on every scan until fixed, then taken.
    std::fs::write(dir.path().join("nowhere"), "id\n3\n").unwrap();
    pickup.scan().await.unwrap();
    let fixed = pickup.scan().await.unwrap();
    assert_eq!(fixed.uploaded.len(), 1);
    assert!(fixed.failed.is_empty());
}

#[tokio::test]
async fn a_file_that_changes_while_being_uploaded_is_abandoned_then_taken_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (store, faults) = FaultStore::wrap(Arc::new(InMemory::new()), 1);
    let big: String = (0..200_000).map(|i| format!("{i},some text\n")).collect();
    write(dir.path(), "big.csv", &big);
    *faults.grow_on_part.lock().unwrap() = Some(dir.path().join("big.csv"));
    let mut pickup =
        FolderPickup::builder(dir.path(), StageLocation::from_store(store.clone(), "in"))
            .stability(no_wait())
            .upload_tuning(UploadTuning {
                multipart_threshold: 1 << 20,
                part_size: 1 << 20,
                part_concurrency: 2,
            })
            .build()
            .unwrap();
    pickup.scan().await.unwrap();
    let report = pickup.scan().await.unwrap();
    assert_eq!(report.uploaded.len(), 0);
    assert!(
        matches!(report.failed[0].1, StageError::FileChanged { .. }),
        "{:?}",
        report.failed
    );
    assert!(
        read_stage(&store, "in").await.is_empty(),
        "no partial object is visible"
    );

    pickup.scan().await.unwrap(); // the new size is seen once
    let report = pickup.scan().await.unwrap();
    assert_eq!(report.uploaded.len(), 1);
    let objects = read_stage(&store, "in").await;
    assert_eq!(objects[0].1.len(), big.len() + "one more line\n".len());
}

#[tokio::test]
async fn files_can_be_deleted_or_moved_after_upload() {
    let dir = tempfile::tempdir().unwrap();
    let done = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    write(dir.path(), "a.csv", "id\n1\n");
    let mut mover =
        FolderPickup::builder(dir.path(), StageLocation::from_store(store.clone(), "in"))
            .stability(no_wait())
            .after_upload(AfterUpload::MoveTo(done.path().to_owned()))
            .build()
            .unwrap();
    mover.scan().await.unwrap();
    assert_eq!(mover.scan().await.unwrap().uploaded.len(), 1);
    assert!(!dir.path().join("a.csv").exists() && done.path().join("a.csv").exists());

    write(dir.path(), "b.csv", "id\n2\n");
    let mut deleter =
        FolderPickup::builder(dir.path(), StageLocation::from_store(store.clone(), "in"))
            .stability(no_wait())
            .after_upload(AfterUpload::Delete)
            .build()
            .unwrap();
    deleter.scan().await.unwrap();
    assert_eq!(deleter.scan().await.unwrap().uploaded.len(), 1);
    assert!(!dir.path().join("b.csv").exists());
    assert_eq!(read_stage(&store, "in").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn picks_up_into_s3_and_rides_out_an_outage() {
    let mut server = support::s3::S3Server::start().await;
    let store = server.store();
    let dir = tempfile::tempdir().unwrap();
    let mut pickup =
        FolderPickup::builder(dir.path(), StageLocation::from_store(store.clone(), "nifi"))
            .stability(no_wait())
            .retry(RetryPolicy {
                max_attempts: 2,
                initial_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(20),
            })
            .build()
            .unwrap();
    let mut announced = pickup.subscribe();
    write(dir.path(), "a.csv", "id\n1\n");
    pickup.scan().await.unwrap();
    assert_eq!(pickup.scan().await.unwrap().uploaded.len(), 1);

    server.stop().await;
    write(dir.path(), "b.csv", "id\n2\n");
    pickup.scan().await.unwrap();
    let during = pickup.scan().await.unwrap();
    assert_eq!(
        (during.uploaded.len(), during.failed.len()),
        (0, 1),
        "the outage is reported, not hidden"
    );
    server.restart().await;
    let after = pickup.scan().await.unwrap();
    assert_eq!(after.uploaded.len(), 1);

    let objects = read_stage(&store, "nifi").await;
    assert_eq!(
        objects
            .iter()
            .map(|(p, _)| p.to_string())
            .collect::<Vec<_>>(),
        ["nifi/a.csv", "nifi/b.csv"]
    );
    let mut notes = Vec::new();
    while let Ok(note) = announced.try_recv() {
        notes.push(note.path.to_string());
    }
    assert_eq!(notes, ["nifi/a.csv", "nifi/b.csv"]);
}
