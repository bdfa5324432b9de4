//! Tables on storage: rows of a table without a key and superseded versions of an SCD-2 table
//! are in Parquet segment files; a checkpoint writes a manifest per table that names the files
//! holding its rows, which any Parquet reader can read without snowdrift.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::compute::concat_batches;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use snowdrift_warehouse::conformance::sorted_rows;
use snowdrift_warehouse::{
    Column, ColumnType, CreateMode, Dml, LocalWarehouse, MergeDef, ObjectDef, StreamDef, TableDef,
    TableLayout, TaskBody, TaskDef, Warehouse, WarehouseExt,
};

async fn warehouse(root: &std::path::Path) -> LocalWarehouse {
    let warehouse = LocalWarehouse::builder(root.to_str().unwrap())
        .background(false)
        .checkpoint_every(1_000_000)
        .open()
        .await
        .unwrap();
    let columns = crate::support::id_email();
    let objects = [
        ObjectDef::Table(TableDef::new("raw", columns.clone())),
        ObjectDef::Table(
            TableDef::new("history", columns)
                .with_key(["id"])
                .with_layout(TableLayout::scd2()),
        ),
        ObjectDef::Stream(StreamDef {
            name: "raw_stream".into(),
            table: "raw".into(),
            append_only: true,
            show_initial_rows: false,
        }),
        ObjectDef::Task(TaskDef::new(
            "merge_raw",
            TaskBody::Merge(MergeDef::new("raw_stream", "history")),
        )),
    ];
    for object in objects {
        warehouse
            .create(object, CreateMode::IfNotExists)
            .await
            .unwrap();
    }
    warehouse
}

fn rows(ids: &[i64], email: &str) -> RecordBatch {
    let emails: Vec<String> = ids.iter().map(|i| format!("{email}{i}@x")).collect();
    RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(ids.to_vec())) as _),
        ("email", Arc::new(StringArray::from(emails)) as _),
    ])
    .unwrap()
}

/// Loads three rounds of changes to the same keys and merges each.
async fn load_rounds(warehouse: &LocalWarehouse) {
    for round in ["a", "b", "c"] {
        let ids: Vec<i64> = (0..50).collect();
        warehouse
            .dml("raw", Dml::Insert(vec![rows(&ids, round)]))
            .await
            .unwrap();
        warehouse.execute_task("merge_raw").await.unwrap();
    }
}

/// The rows the manifest of `table` names, read with the parquet crate alone.
fn read_manifest(root: &std::path::Path, table: &str) -> RecordBatch {
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join("tables").join(format!("{table}.json"))).unwrap(),
    )
    .unwrap();
    let drop_column = manifest["row_id_column"].as_str().unwrap();
    let mut parts = Vec::new();
    let mut schema = None;
    for file in manifest["files"].as_array().unwrap() {
        let bytes = bytes::Bytes::from(std::fs::read(root.join(file.as_str().unwrap())).unwrap());
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
        let keep: Vec<usize> = (0..builder.schema().fields().len())
            .filter(|&i| builder.schema().field(i).name() != drop_column)
            .collect();
        schema = Some(Arc::new(builder.schema().project(&keep).unwrap()));
        for batch in builder.build().unwrap() {
            parts.push(batch.unwrap().project(&keep).unwrap());
        }
    }
    let rows: usize = parts.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(manifest["rows"].as_u64().unwrap() as usize, rows);
    concat_batches(&schema.unwrap(), &parts).unwrap()
}

#[tokio::test]
async fn appended_rows_and_closed_versions_live_in_segments() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = warehouse(dir.path()).await;
    load_rounds(&warehouse).await;
    let raw = warehouse.table_storage("raw").await.unwrap();
    assert_eq!((raw.rows, raw.rows_in_memory), (150, 0));
    assert_eq!(raw.segments, 3, "one segment per load");
    let history = warehouse.table_storage("history").await.unwrap();
    assert_eq!(history.rows, 150, "three versions of 50 keys");
    assert_eq!(history.rows_in_memory, 50, "the latest version of each key");
    assert_eq!(history.rows_in_segments, 100);
    let versions = warehouse.table("history").await.unwrap();
    let current = versions
        .column_by_name("is_current")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::BooleanArray>()
        .unwrap()
        .true_count();
    assert_eq!(current, 50);
}

#[tokio::test]
async fn a_restart_reads_segments_back_and_keeps_only_the_latest_rows_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let warehouse = warehouse(dir.path()).await;
        load_rounds(&warehouse).await;
        let history = warehouse.table("history").await.unwrap();
        // Dropped without a checkpoint: the restart replays the whole log.
        sorted_rows(&history, &["id", "email", "is_current"])
    };
    let warehouse = warehouse(dir.path()).await;
    let history = warehouse.table("history").await.unwrap();
    assert_eq!(
        sorted_rows(&history, &["id", "email", "is_current"]),
        before
    );
    let storage = warehouse.table_storage("history").await.unwrap();
    assert_eq!(
        (storage.rows_in_memory, storage.rows_in_segments),
        (50, 100)
    );
    // One more round after the restart, then a checkpoint and another restart.
    warehouse
        .dml("raw", Dml::Insert(vec![rows(&[0, 1], "d")]))
        .await
        .unwrap();
    warehouse.execute_task("merge_raw").await.unwrap();
    warehouse.close().await.unwrap();
    let warehouse = self::warehouse(dir.path()).await;
    let storage = warehouse.table_storage("history").await.unwrap();
    assert_eq!((storage.rows, storage.rows_in_memory), (152, 50));
}

#[tokio::test]
async fn a_checkpoint_writes_manifests_that_parquet_readers_follow() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = warehouse(dir.path()).await;
    load_rounds(&warehouse).await;
    warehouse.checkpoint().await.unwrap();
    for table in ["raw", "history"] {
        let ours = warehouse.table(table).await.unwrap();
        let theirs = read_manifest(dir.path(), table);
        let schema = ours.schema();
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(theirs.schema().fields(), ours.schema().fields(), "{table}");
        assert_eq!(
            sorted_rows(&theirs, &columns),
            sorted_rows(&ours, &columns),
            "{table}"
        );
        let view = std::fs::read_to_string(
            dir.path()
                .join("tables")
                .join(format!("{table}.duckdb.sql")),
        )
        .unwrap();
        assert!(view.contains("read_parquet(["), "{view}");
    }
    // An empty table still has a file to read its columns from.
    warehouse
        .create(
            ObjectDef::Table(TableDef::new(
                "empty",
                vec![Column::new("id", ColumnType::Number)],
            )),
            CreateMode::Create,
        )
        .await
        .unwrap();
    warehouse.checkpoint().await.unwrap();
    assert_eq!(read_manifest(dir.path(), "empty").num_rows(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_see_the_last_commit_without_waiting_for_a_merge_in_progress() {
    use snowdrift_testkit::faults::FaultStore;
    const ROOT: &str = "memory://snapshots";
    let (store, plan) = FaultStore::wrap(Arc::new(object_store::memory::InMemory::new()), 1);
    let warehouse = Arc::new(
        LocalWarehouse::builder(ROOT)
            .object_store(ROOT, store)
            .background(false)
            .open()
            .await
            .unwrap(),
    );
    let columns = crate::support::id_email();
    warehouse
        .create(
            ObjectDef::Table(TableDef::new("raw", columns)),
            CreateMode::Create,
        )
        .await
        .unwrap();
    warehouse
        .dml("raw", Dml::Insert(vec![rows(&[1, 2, 3], "a")]))
        .await
        .unwrap();
    // The next commit writes its data files, then waits before its log entry, holding the
    // state lock all the while.
    plan.hold_commits();
    let writer = {
        let warehouse = warehouse.clone();
        tokio::spawn(async move {
            warehouse
                .dml("raw", Dml::Insert(vec![rows(&[4, 5], "b")]))
                .await
                .unwrap()
        })
    };
    while plan.waiting.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    // Answered from the published version while the commit is held (a read that waited for
    // the state lock would wait for ever: the bound only turns that into a failure).
    let reads = async {
        assert_eq!(warehouse.row_count("raw").await.unwrap(), 3);
        assert_eq!(warehouse.table("raw").await.unwrap().num_rows(), 3);
        assert_eq!(warehouse.table_storage("raw").await.unwrap().segments, 1);
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), reads)
        .await
        .expect("reads waited for the held commit");
    plan.release_commits();
    writer.await.unwrap();
    assert_eq!(warehouse.row_count("raw").await.unwrap(), 5);
    assert_eq!(warehouse.table("raw").await.unwrap().num_rows(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_caller_gives_up_while_it_is_written_lands_whole_in_memory_and_storage() {
    use snowdrift_testkit::faults::FaultStore;
    const ROOT: &str = "memory://dropped";
    let inner: Arc<dyn object_store::ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let (store, plan) = FaultStore::wrap(inner.clone(), 2);
    let warehouse = LocalWarehouse::builder(ROOT)
        .object_store(ROOT, store)
        .background(false)
        .open()
        .await
        .unwrap();
    let columns = crate::support::id_email();
    for def in [
        TableDef::new("raw", columns.clone()),
        TableDef::new("current", columns).with_key(["id"]),
    ] {
        warehouse
            .create(ObjectDef::Table(def), CreateMode::Create)
            .await
            .unwrap();
    }
    for table in ["raw", "current"] {
        warehouse
            .dml(table, Dml::Insert(vec![rows(&[1, 2, 3], "a")]))
            .await
            .unwrap();
        // The change is made in memory and handed to the log writer, whose log entry waits:
        // the caller gives up there (a timeout, a `select!`) and the future is dropped. The
        // commit is decided, so it lands all the same, and the next one builds on it.
        plan.hold_commits();
        let dropped = tokio::time::timeout(
            std::time::Duration::from_millis(300),
            warehouse.dml(table, Dml::Insert(vec![rows(&[4, 5], "b")])),
        )
        .await;
        assert!(
            dropped.is_err(),
            "the held commit should outlast the timeout"
        );
        plan.release_commits();
        warehouse
            .dml(table, Dml::Insert(vec![rows(&[6], "c")]))
            .await
            .unwrap();
        let live = sorted_rows(&warehouse.table(table).await.unwrap(), &[]);
        assert_eq!(live.len(), 6, "{table}: {live:?}");
        // What storage holds is what the warehouse showed.
        let reopened = LocalWarehouse::builder(ROOT)
            .object_store(ROOT, inner.clone())
            .background(false)
            .read_only(true)
            .open()
            .await
            .unwrap();
        assert_eq!(
            sorted_rows(&reopened.table(table).await.unwrap(), &[]),
            live,
            "{table}"
        );
    }
}

#[tokio::test]
async fn a_scan_streams_segments_with_a_projection_and_a_key_filter() {
    use futures::TryStreamExt as _;
    use snowdrift_warehouse::{Scan, WarehouseError};
    let dir = tempfile::tempdir().unwrap();
    let warehouse = warehouse(dir.path()).await;
    load_rounds(&warehouse).await;
    let keys = RecordBatch::try_from_iter(vec![(
        "id",
        Arc::new(Int64Array::from(vec![1, 2, 999])) as _,
    )])
    .unwrap();
    let parts: Vec<RecordBatch> = warehouse
        .scan(
            "history",
            Scan::new().columns(["email", "is_current"]).keys(keys),
        )
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(
        parts.len() > 1,
        "one part per segment and one for the rows in memory"
    );
    let all = concat_batches(&parts[0].schema(), &parts).unwrap();
    let schema = all.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["email", "is_current"]);
    let mut emails = sorted_rows(&all, &["email", "is_current"]);
    emails.sort();
    assert_eq!(
        emails.len(),
        6,
        "three versions of keys 1 and 2: {emails:?}"
    );
    assert!(emails.iter().filter(|r| r.contains("true")).count() == 2);
    // Every row of the raw table, part by part.
    let raw: Vec<RecordBatch> = warehouse
        .scan("raw", Scan::new())
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(raw.iter().map(RecordBatch::num_rows).sum::<usize>(), 150);
    assert_eq!(raw.len(), 3);
    // A table without a key is filtered on the columns of the keys too; columns must exist.
    let keys =
        RecordBatch::try_from_iter(vec![("id", Arc::new(Int64Array::from(vec![1])) as _)]).unwrap();
    let ones: Vec<RecordBatch> = warehouse
        .scan("raw", Scan::new().keys(keys))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ones.iter().map(RecordBatch::num_rows).sum::<usize>(), 3);
    let unknown =
        RecordBatch::try_from_iter(vec![("nope", Arc::new(Int64Array::from(vec![1])) as _)])
            .unwrap();
    assert!(matches!(
        warehouse.scan("raw", Scan::new().keys(unknown)).await.err(),
        Some(WarehouseError::InvalidDefinition { .. })
    ));
    assert!(matches!(
        warehouse
            .scan("raw", Scan::new().columns(["nope"]))
            .await
            .err(),
        Some(WarehouseError::InvalidDefinition { .. })
    ));
}

/// Waits until `table` has at most `segments` segments (compaction runs in the background).
async fn wait_for_segments(warehouse: &LocalWarehouse, table: &str, segments: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let storage = warehouse.table_storage(table).await.unwrap();
        if storage.segments <= segments {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{table} not compacted: {storage:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_segments_are_compacted_in_the_background_and_keep_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = warehouse(dir.path()).await;
    for round in 0..20 {
        let ids: Vec<i64> = (0..50).collect();
        warehouse
            .dml("raw", Dml::Insert(vec![rows(&ids, &format!("r{round}-"))]))
            .await
            .unwrap();
        warehouse.execute_task("merge_raw").await.unwrap();
    }
    // 20 loads of 50 rows: two runs of eight merged into segments of 400 rows, four left.
    wait_for_segments(&warehouse, "raw", 6).await;
    // 19 retired versions segments of 50 rows: two runs merged, three left.
    wait_for_segments(&warehouse, "history", 5).await;
    let columns = ["id", "email"];
    let raw = sorted_rows(&warehouse.table("raw").await.unwrap(), &columns);
    assert_eq!(raw.len(), 1000);
    let history_columns = ["id", "email", "is_current"];
    let history = sorted_rows(&warehouse.table("history").await.unwrap(), &history_columns);
    assert_eq!(history.len(), 1000);
    let storage = warehouse.table_storage("history").await.unwrap();
    assert_eq!(
        (storage.rows_in_memory, storage.rows_in_segments),
        (50, 950)
    );
    // The stream on raw still reads by row id after compaction.
    warehouse
        .dml("raw", Dml::Insert(vec![rows(&[7], "late-")]))
        .await
        .unwrap();
    assert_eq!(warehouse.stream("raw_stream").await.unwrap().num_rows(), 1);
    drop(warehouse);
    // A restart replays the compactions; a checkpoint lists the compacted files.
    let warehouse = self::warehouse(dir.path()).await;
    let mut again = sorted_rows(&warehouse.table("raw").await.unwrap(), &columns);
    again.retain(|r| !r.contains("late-"));
    assert_eq!(again, raw);
    assert_eq!(
        sorted_rows(&warehouse.table("history").await.unwrap(), &history_columns),
        history
    );
    warehouse.checkpoint().await.unwrap();
    assert_eq!(read_manifest(dir.path(), "raw").num_rows(), 1001);
}

/// Every row of a file written by an export, read with the parquet crate alone.
fn read_parquet_file(path: &std::path::Path) -> RecordBatch {
    let bytes = bytes::Bytes::from(std::fs::read(path).unwrap());
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
    let schema = builder.schema().clone();
    let parts: Vec<RecordBatch> = builder.build().unwrap().map(Result::unwrap).collect();
    concat_batches(&schema, &parts).unwrap()
}

#[tokio::test]
async fn an_export_writes_one_plain_file_of_the_segments_and_the_rows_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = warehouse(dir.path()).await;
    load_rounds(&warehouse).await;
    let storage = warehouse.table_storage("history").await.unwrap();
    assert!(storage.rows_in_segments > 0 && storage.rows_in_memory > 0);
    for table in ["raw", "history"] {
        let ours = warehouse.table(table).await.unwrap();
        let schema = ours.schema();
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let parquet = dir.path().join(format!("{table}.parquet"));
        let written = warehouse.export_parquet(table, &parquet).await.unwrap();
        assert_eq!(written, ours.num_rows(), "{table}");
        let theirs = read_parquet_file(&parquet);
        assert_eq!(
            theirs.schema().fields(),
            schema.fields(),
            "{table}: no row id column"
        );
        assert_eq!(sorted_rows(&theirs, &columns), sorted_rows(&ours, &columns));
        let ipc = dir.path().join(format!("{table}.arrow"));
        assert_eq!(
            warehouse.export_ipc(table, &ipc).await.unwrap(),
            ours.num_rows()
        );
        let reader =
            arrow::ipc::reader::FileReader::try_new(std::fs::File::open(&ipc).unwrap(), None)
                .unwrap();
        let parts: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
        let theirs = concat_batches(&schema, &parts).unwrap();
        assert_eq!(sorted_rows(&theirs, &columns), sorted_rows(&ours, &columns));
    }
}

#[tokio::test]
async fn an_export_that_cannot_be_written_says_where_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = warehouse(dir.path()).await;
    load_rounds(&warehouse).await;
    let path = dir.path().join("missing-folder").join("raw.parquet");
    let error = warehouse.export_parquet("raw", &path).await.unwrap_err();
    assert!(
        matches!(&error, snowdrift_warehouse::WarehouseError::Export { path: p, .. } if p.ends_with("raw.parquet")),
        "{error}"
    );
    assert!(!path.exists());
    let error = warehouse
        .export_parquet("no_such_table", &dir.path().join("x.parquet"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, snowdrift_warehouse::WarehouseError::NotFound { .. }),
        "{error}"
    );
}

/// Creates stage `landing` on folder `stage` with the staged CSV format.
async fn create_stage(warehouse: &LocalWarehouse, stage: &std::path::Path) {
    std::fs::create_dir_all(stage).unwrap();
    let objects = crate::support::csv_stage(stage.to_str().unwrap());
    for object in objects {
        warehouse
            .create(object, CreateMode::IfNotExists)
            .await
            .unwrap();
    }
}

fn write_staged(stage: &std::path::Path, name: &str, ids: std::ops::Range<i64>) {
    let mut body = String::from("id,email\n");
    for id in ids {
        body.push_str(&format!("{id},{id}@x\n"));
    }
    std::fs::write(stage.join(name), body).unwrap();
}

#[tokio::test]
async fn the_load_history_moves_to_storage_at_a_checkpoint_and_loads_stay_exactly_once() {
    use snowdrift_warehouse::{CopyOptions, LoadStatus};
    let dir = tempfile::tempdir().unwrap();
    let stage = dir.path().join("stage");
    let root = dir.path().join("wh");
    let copy = || CopyOptions::default();
    let history = {
        let warehouse = warehouse(&root).await;
        create_stage(&warehouse, &stage).await;
        write_staged(&stage, "a.csv", 0..3);
        write_staged(&stage, "b.csv", 3..5);
        let loads = warehouse.copy_into("raw", "landing", copy()).await.unwrap();
        assert_eq!(loads.len(), 2);
        warehouse.checkpoint().await.unwrap();
        write_staged(&stage, "c.csv", 5..6);
        warehouse.copy_into("raw", "landing", copy()).await.unwrap();
        let history = warehouse.copy_history("raw").await.unwrap();
        let files: Vec<&str> = history.iter().map(|l| l.file.as_str()).collect();
        assert_eq!(
            files.len(),
            3,
            "{files:?}: two loads from storage, one in memory"
        );
        history
    };
    let in_files = std::fs::read_dir(root.join("data/raw"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with("-loads.parquet")
        })
        .count();
    assert_eq!(
        in_files, 1,
        "the loads before the checkpoint are in one file"
    );
    let warehouse = warehouse(&root).await;
    assert_eq!(warehouse.copy_history("raw").await.unwrap(), history);
    // The index rebuilt from the history file still knows every loaded file.
    let again = warehouse.copy_into("raw", "landing", copy()).await.unwrap();
    assert!(
        again.iter().all(|l| l.status == LoadStatus::LoadSkipped),
        "{again:?}"
    );
    assert_eq!(warehouse.row_count("raw").await.unwrap(), 6);
    // A file rewritten with other contents is a new file.
    write_staged(&stage, "a.csv", 10..14);
    let rewritten = warehouse.copy_into("raw", "landing", copy()).await.unwrap();
    let a = rewritten
        .iter()
        .find(|l| l.file.ends_with("a.csv"))
        .unwrap();
    assert_eq!((a.status, a.rows_loaded), (LoadStatus::Loaded, 4));
    assert!(a.note.is_some());
    // A second checkpoint and restart: both files, all four loads, in order.
    warehouse.close().await.unwrap();
    let warehouse = self::warehouse(&root).await;
    let after = warehouse.copy_history("raw").await.unwrap();
    assert_eq!(after.len(), 4);
    assert_eq!(after[..3], history[..]);
}

#[tokio::test]
async fn changes_beyond_the_memory_budget_wait_on_storage_and_merge_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let open = |budget: usize| {
        let root = dir.path().to_str().unwrap().to_owned();
        async move {
            LocalWarehouse::builder(root)
                .background(false)
                .memory_budget(budget)
                .open()
                .await
                .unwrap()
        }
    };
    let one_load = rows(&[0], "a").get_array_memory_size();
    {
        let warehouse = warehouse(dir.path()).await;
        drop(warehouse);
    }
    let warehouse = open(3 * one_load).await;
    // Twenty loads while the merge does not run: the stream on raw retains them all.
    for load in 0..20 {
        warehouse
            .dml("raw", Dml::Insert(vec![rows(&[load], "a")]))
            .await
            .unwrap();
    }
    let raw = warehouse.table_storage("raw").await.unwrap();
    assert_eq!(raw.retained_changes, 20);
    assert!(
        raw.retained_changes_in_memory <= 3,
        "only the newest fit the budget: {raw:?}"
    );
    // A restart reads no more of them into memory than the budget holds.
    drop(warehouse);
    let warehouse = open(3 * one_load).await;
    let raw = warehouse.table_storage("raw").await.unwrap();
    assert_eq!(raw.retained_changes, 20);
    // Rows decoded from their files take buffers of other sizes than the rows loaded.
    assert!(raw.retained_changes_in_memory <= 5, "{raw:?}");
    // The merge reads the spilled ones back: every key arrives.
    warehouse.execute_task("merge_raw").await.unwrap();
    let history = warehouse.table_storage("history").await.unwrap();
    assert_eq!(history.rows, 20);
    let raw = warehouse.table_storage("raw").await.unwrap();
    assert_eq!(raw.retained_changes, 0, "consumed, so released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_begun_before_a_compaction_and_a_checkpoint_still_reads_its_version() {
    use futures::TryStreamExt as _;
    let dir = tempfile::tempdir().unwrap();
    let warehouse = warehouse(dir.path()).await;
    let ids: Vec<i64> = (0..50).collect();
    let load = |round: usize| {
        let batch = rows(&ids, &format!("r{round}-"));
        let warehouse = &warehouse;
        async move {
            warehouse
                .dml("raw", Dml::Insert(vec![batch]))
                .await
                .unwrap();
        }
    };
    // Seven segments: no run of eight to compact yet.
    for round in 0..7 {
        load(round).await;
    }
    let scan = warehouse
        .scan("raw", snowdrift_warehouse::Scan::new())
        .await
        .unwrap();
    load(7).await;
    wait_for_segments(&warehouse, "raw", 1).await;
    // The compacted segments are unreferenced now, kept for the retention period.
    warehouse.checkpoint().await.unwrap();
    let parts: Vec<RecordBatch> = scan.try_collect().await.unwrap();
    let read: usize = parts.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(read, 350, "the seven segments of its version");
    assert_eq!(warehouse.row_count("raw").await.unwrap(), 400);
}
