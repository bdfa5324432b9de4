//! Fixtures shared by the load tests: a warehouse with a folder stage holding given files, and
//! a `COPY INTO` of them into a fresh table, summarised per file; the whole-flow fixtures are
//! in `flow`.
#![allow(unreachable_pub)]

pub mod flow;

use std::collections::BTreeMap;

use object_store::ObjectStoreExt as _;
use object_store::path::Path;
use snowdrift_warehouse::{
    Column, ColumnType, CopyOptions, CreateMode, CsvFileFormat, FileFormatDef, LoadLimits,
    LoadStatus, LocalWarehouse, ObjectDef, OnError, StageDef, TableDef, TableLayout, Warehouse,
    WarehouseError,
};

/// The columns of the small tables of the task and storage tests: `id` (NUMBER NOT NULL) and
/// `email`.
pub fn id_email() -> Vec<Column> {
    vec![
        Column::new("id", ColumnType::Number).not_null(),
        Column::new("email", ColumnType::Varchar),
    ]
}

/// The staged CSV file format `csv` and the stage `landing` on `url` that reads files in it.
pub fn csv_stage(url: &str) -> [ObjectDef; 2] {
    [
        ObjectDef::FileFormat(FileFormatDef {
            name: "csv".into(),
            csv: CsvFileFormat::staged(),
        }),
        ObjectDef::Stage(StageDef {
            name: "landing".into(),
            url: url.into(),
            file_format: Some("csv".into()),
        }),
    ]
}

/// A table `raw` and a table `target` keyed by `id` with the SCD-1 layout, both of `columns`.
pub fn raw_and_target(columns: Vec<Column>) -> [ObjectDef; 2] {
    [
        ObjectDef::Table(TableDef::new("raw", columns.clone())),
        ObjectDef::Table(
            TableDef::new("target", columns)
                .with_key(["id"])
                .with_layout(TableLayout::scd1()),
        ),
    ]
}

/// Per file name: status, rows loaded, bad records.
pub type Outcomes = BTreeMap<String, (LoadStatus, u64, u64)>;

/// A warehouse (no background work, `limits`) with the stage `landing` (the staged CSV
/// format) holding `files`.
pub async fn stage_with(
    files: Vec<(&str, Vec<u8>)>,
    limits: LoadLimits,
) -> (tempfile::TempDir, LocalWarehouse) {
    let dir = tempfile::tempdir().unwrap();
    let stage = dir.path().join("stage");
    let warehouse = LocalWarehouse::builder(dir.path().join("wh").to_str().unwrap())
        .background(false)
        .load_limits(limits)
        .open()
        .await
        .unwrap();
    let location = snowdrift_stage::StageLocation::parse(stage.to_str().unwrap()).unwrap();
    for (name, body) in files {
        location
            .store()
            .put(&Path::from(name), body.into())
            .await
            .unwrap();
    }
    for object in csv_stage(stage.to_str().unwrap()) {
        warehouse.create(object, CreateMode::Create).await.unwrap();
    }
    (dir, warehouse)
}

/// `COPY INTO` a new table `table` (id NOT NULL, name, city) from `landing` under `on_error`.
pub async fn copy(
    warehouse: &LocalWarehouse,
    table: &str,
    on_error: OnError,
) -> Result<Outcomes, WarehouseError> {
    let columns = vec![
        Column::new("id", ColumnType::Number).not_null(),
        Column::new("name", ColumnType::Varchar),
        Column::new("city", ColumnType::Varchar),
    ];
    warehouse
        .create(
            ObjectDef::Table(TableDef::new(table, columns)),
            CreateMode::Create,
        )
        .await
        .unwrap();
    let options = CopyOptions {
        on_error,
        ..CopyOptions::default()
    };
    let loads = warehouse.copy_into(table, "landing", options).await?;
    Ok(loads
        .into_iter()
        .map(|l| {
            let name = l.file.rsplit('/').next().unwrap().to_string();
            (name, (l.status, l.rows_loaded, l.error_count))
        })
        .collect())
}
