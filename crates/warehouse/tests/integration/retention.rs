//! Retention: changes a stream has not consumed are released once they are older than the
//! longer of their table's `DATA_RETENTION_TIME_IN_DAYS` and `MAX_DATA_EXTENSION_TIME_IN_DAYS`
//! (measured between commits on the warehouse's clock); a stream that needed them is stale,
//! says so in errors, stays stale after a restart, and never silently skips rows. Recreating
//! it starts it at the current version. Files nothing refers to are deleted after the
//! retention period.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use arrow::array::{Int64Array, RecordBatch};
use snowdrift_warehouse::{
    Clock, Column, ColumnType, CreateMode, Dml, LocalWarehouse, MergeDef, ObjectDef, Relation,
    StreamDef, TableDef, TableLayout, TaskBody, TaskDef, Warehouse, WarehouseError, WarehouseExt,
};

const DAY: i64 = 86_400_000_000;

fn rows(ids: &[i64]) -> RecordBatch {
    RecordBatch::try_from_iter(vec![("id", Arc::new(Int64Array::from(ids.to_vec())) as _)]).unwrap()
}

fn stream(name: &str) -> ObjectDef {
    ObjectDef::Stream(StreamDef {
        name: name.into(),
        table: "raw".into(),
        append_only: true,
        show_initial_rows: false,
    })
}

async fn open(root: &std::path::Path, now: &Arc<AtomicI64>) -> LocalWarehouse {
    let now = now.clone();
    LocalWarehouse::builder(root.to_str().unwrap())
        .background(false)
        .clock(Clock::from_fn(move || now.load(Ordering::SeqCst)))
        .open()
        .await
        .unwrap()
}

fn assert_stale(result: snowdrift_warehouse::Result<impl std::fmt::Debug>) {
    match result {
        Err(WarehouseError::StaleStream {
            stream,
            table,
            offset,
            available_from,
        }) => {
            assert_eq!((stream.as_str(), table.as_str()), ("idle", "raw"));
            assert!(offset < available_from);
        }
        other => panic!("expected a stale stream, got {other:?}"),
    }
}

#[tokio::test]
async fn a_stream_behind_the_retention_period_is_stale_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(1_700_000_000_000_000));
    let w = open(dir.path(), &now).await;
    let columns = vec![Column::new("id", ColumnType::Number).not_null()];
    let objects = [
        ObjectDef::Table(
            TableDef::new("raw", columns.clone())
                .with_retention_days(1)
                .with_max_data_extension_days(0),
        ),
        ObjectDef::Table(
            TableDef::new("target", columns)
                .with_key(["id"])
                .with_layout(TableLayout::scd1()),
        ),
        stream("busy"),
        stream("idle"),
        ObjectDef::Task(TaskDef::new(
            "merge",
            TaskBody::Merge(MergeDef::new("busy", "target")),
        )),
    ];
    for object in objects {
        w.create(object, CreateMode::Create).await.unwrap();
    }
    w.dml("raw", Dml::Insert(vec![rows(&[1, 2])]))
        .await
        .unwrap();
    w.execute_task("merge").await.unwrap();
    // Within the retention period the idle stream still has its rows.
    now.fetch_add(DAY / 2, Ordering::SeqCst);
    w.dml("raw", Dml::Insert(vec![rows(&[3])])).await.unwrap();
    w.execute_task("merge").await.unwrap();
    assert_eq!(w.stream("idle").await.unwrap().num_rows(), 3);
    // Two days on, a commit releases the changes older than a day: the idle stream needed them.
    now.fetch_add(2 * DAY, Ordering::SeqCst);
    w.dml("raw", Dml::Insert(vec![rows(&[4])])).await.unwrap();
    w.execute_task("merge").await.unwrap();
    assert_stale(w.query(Relation::Stream("idle".into())).await);
    assert_stale(w.stream_has_data("idle").await);
    // The consuming stream and the table are whole.
    assert_eq!(w.table("target").await.unwrap().num_rows(), 4);
    assert_eq!(w.table("raw").await.unwrap().num_rows(), 4);
    assert_eq!(w.table_storage("raw").await.unwrap().retained_changes, 0);
    drop(w);
    // Still stale after a restart, by log replay and by checkpoint.
    let w = open(dir.path(), &now).await;
    assert_stale(w.stream_has_data("idle").await);
    w.checkpoint().await.unwrap();
    drop(w);
    let w = open(dir.path(), &now).await;
    assert_stale(w.stream_has_data("idle").await);
    // Recreated, it starts at the current version.
    w.create(stream("idle"), CreateMode::OrReplace)
        .await
        .unwrap();
    assert!(!w.stream_has_data("idle").await.unwrap());
    w.dml("raw", Dml::Insert(vec![rows(&[5])])).await.unwrap();
    assert_eq!(w.stream("idle").await.unwrap().num_rows(), 1);
}

#[tokio::test]
async fn unconsumed_changes_are_kept_for_the_max_data_extension_period() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(1_700_000_000_000_000));
    let w = open(dir.path(), &now).await;
    let columns = vec![Column::new("id", ColumnType::Number).not_null()];
    // Retention 0 as with Time Travel off: the stream is still kept from going stale for
    // the default 14 days.
    let raw = TableDef::new("raw", columns).with_retention_days(0);
    assert_eq!(raw.stream_retention().as_secs(), 14 * 86_400);
    w.create(ObjectDef::Table(raw), CreateMode::Create)
        .await
        .unwrap();
    w.create(stream("idle"), CreateMode::Create).await.unwrap();
    w.dml("raw", Dml::Insert(vec![rows(&[1])])).await.unwrap();
    now.fetch_add(13 * DAY, Ordering::SeqCst);
    w.dml("raw", Dml::Insert(vec![rows(&[2])])).await.unwrap();
    assert_eq!(w.stream("idle").await.unwrap().num_rows(), 2);
    now.fetch_add(2 * DAY, Ordering::SeqCst);
    w.dml("raw", Dml::Insert(vec![rows(&[3])])).await.unwrap();
    assert_stale(w.stream_has_data("idle").await);
}

#[tokio::test]
async fn retention_is_validated_and_kept_in_the_definition() {
    let w = LocalWarehouse::builder("memory://")
        .background(false)
        .open()
        .await
        .unwrap();
    let columns = vec![Column::new("id", ColumnType::Number)];
    let too_long = TableDef::new("t", columns.clone()).with_retention_days(91);
    assert!(matches!(
        w.create(ObjectDef::Table(too_long), CreateMode::Create)
            .await,
        Err(WarehouseError::InvalidDefinition { .. })
    ));
    let too_long = TableDef::new("t", columns.clone()).with_max_data_extension_days(91);
    assert!(matches!(
        w.create(ObjectDef::Table(too_long), CreateMode::Create)
            .await,
        Err(WarehouseError::InvalidDefinition { .. })
    ));
    let def = TableDef::new("t", columns).with_retention_days(0);
    assert_eq!(def.retention(), std::time::Duration::ZERO);
    w.create(ObjectDef::Table(def.clone()), CreateMode::Create)
        .await
        .unwrap();
}

/// The change-set files under `data/<table>` (a keyed table's changes, which no checkpoint
/// refers to once every stream consumed them).
fn change_files(root: &std::path::Path, table: &str) -> usize {
    std::fs::read_dir(root.join("data").join(table))
        .map(|entries| {
            entries
                .filter(|e| {
                    let name = e.as_ref().unwrap().file_name();
                    let name = name.to_string_lossy();
                    name.ends_with(".arrow") && !name.contains("sequences")
                })
                .count()
        })
        .unwrap_or(0)
}

async fn keyed_table(w: &LocalWarehouse, name: &str, retention_days: u32) {
    let columns = vec![Column::new("id", ColumnType::Number).not_null()];
    let def = TableDef::new(name, columns)
        .with_key(["id"])
        .with_retention_days(retention_days);
    w.create(ObjectDef::Table(def), CreateMode::Create)
        .await
        .unwrap();
    w.dml(name, Dml::Insert(vec![rows(&[1, 2])])).await.unwrap();
}

#[tokio::test]
async fn files_nothing_refers_to_are_deleted_only_after_their_tables_retention_period() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(1_700_000_000_000_000));
    let w = open(dir.path(), &now).await;
    keyed_table(&w, "kept", 1).await;
    keyed_table(&w, "brief", 0).await;
    assert_eq!(change_files(dir.path(), "kept"), 1);
    // The checkpoint holds the rows: the change files are unreferenced from now on.
    w.checkpoint().await.unwrap();
    assert_eq!(change_files(dir.path(), "brief"), 0, "retention 0: at once");
    assert_eq!(change_files(dir.path(), "kept"), 1, "kept for a day");
    now.fetch_add(DAY / 2, Ordering::SeqCst);
    w.dml("kept", Dml::Insert(vec![rows(&[3])])).await.unwrap();
    w.checkpoint().await.unwrap();
    assert_eq!(
        change_files(dir.path(), "kept"),
        2,
        "half a day later both are kept"
    );
    // (Commits at one frozen instant are stamped a microsecond apart.)
    now.fetch_add(DAY / 2 + 1_000, Ordering::SeqCst);
    w.dml("brief", Dml::Insert(vec![rows(&[3])])).await.unwrap();
    w.checkpoint().await.unwrap();
    assert_eq!(
        change_files(dir.path(), "kept"),
        1,
        "a day after it was unreferenced the first is gone, the second is kept"
    );
    assert_eq!(w.table("kept").await.unwrap().num_rows(), 3);
    // A restart reads only what checkpoints refer to.
    drop(w);
    let w = open(dir.path(), &now).await;
    assert_eq!(w.table("kept").await.unwrap().num_rows(), 3);
    assert_eq!(w.table("brief").await.unwrap().num_rows(), 3);
}
