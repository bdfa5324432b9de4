//! Opening a warehouse read-only, as the command line does to inspect a root another process
//! may be running: it reads every table and the catalog, refuses every change, writes nothing
//! (the running process keeps committing), and refuses a root that holds no warehouse; and the
//! one-writer rule of a local folder, which readers are not subject to.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch};
use snowdrift_warehouse::{
    Column, ColumnType, CreateMode, Dml, LocalWarehouse, ObjectDef, TableDef, Warehouse,
    WarehouseError, WarehouseExt,
};

fn ids(ids: &[i64]) -> RecordBatch {
    RecordBatch::try_from_iter(vec![("id", Arc::new(Int64Array::from(ids.to_vec())) as _)]).unwrap()
}

async fn read_only(root: &std::path::Path) -> snowdrift_warehouse::Result<LocalWarehouse> {
    LocalWarehouse::builder(root.to_str().unwrap())
        .read_only(true)
        .open()
        .await
}

/// A writable warehouse at `root` holding the empty table `t` (one `id` column).
async fn with_table(root: &std::path::Path) -> LocalWarehouse {
    let warehouse = LocalWarehouse::open(root.to_str().unwrap()).await.unwrap();
    let table = TableDef::new("t", vec![Column::new("id", ColumnType::Number)]);
    warehouse
        .create(ObjectDef::Table(table), CreateMode::Create)
        .await
        .unwrap();
    warehouse
}

#[tokio::test]
async fn a_read_only_open_reads_everything_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("wh");
    let running = with_table(&root).await;
    running
        .dml("t", Dml::Insert(vec![ids(&[1, 2])]))
        .await
        .unwrap();

    let reader = read_only(&root).await.unwrap();
    assert_eq!(reader.table("t").await.unwrap().num_rows(), 2);
    let names: Vec<String> = reader
        .objects()
        .await
        .iter()
        .map(|o| o.name().to_owned())
        .collect();
    assert_eq!(names, ["t"]);
    let refused = reader.dml("t", Dml::Insert(vec![ids(&[3])])).await;
    assert!(
        matches!(refused, Err(WarehouseError::ReadOnly { .. })),
        "{refused:?}"
    );
    assert!(matches!(
        reader.checkpoint().await,
        Err(WarehouseError::ReadOnly { .. })
    ));
    assert_eq!(
        reader.table("t").await.unwrap().num_rows(),
        2,
        "nothing changed"
    );
    reader.close().await.unwrap();
    // The running process never meets a commit of the reader.
    running
        .dml("t", Dml::Insert(vec![ids(&[3])]))
        .await
        .unwrap();
    running.checkpoint().await.unwrap();
    assert_eq!(running.table("t").await.unwrap().num_rows(), 3);
    // A later read-only open sees the commits made meanwhile.
    let reader = read_only(&root).await.unwrap();
    assert_eq!(reader.row_count("t").await.unwrap(), 3);
}

#[tokio::test]
async fn a_root_without_a_warehouse_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("nothing-here");
    let error = read_only(&root).await.unwrap_err();
    assert!(
        matches!(&error, WarehouseError::NotAWarehouse { root: r } if r.contains("nothing-here")),
        "{error}"
    );
    assert!(!root.exists(), "a read-only open creates nothing");
}

#[tokio::test]
async fn a_second_writer_of_a_folder_is_refused_while_readers_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("wh");
    let writer = with_table(&root).await;
    let second = LocalWarehouse::open(root.to_str().unwrap()).await;
    assert!(
        matches!(&second, Err(WarehouseError::Locked { .. })),
        "{second:?}"
    );
    read_only(&root).await.unwrap().close().await.unwrap();
    writer.close().await.unwrap();
    // Closed, the folder is free for the next writer.
    LocalWarehouse::open(root.to_str().unwrap())
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
}
