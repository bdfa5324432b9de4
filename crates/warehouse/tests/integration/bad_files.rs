//! Bad staged files under every ON_ERROR mode: malformed quoting, a wrong column count, a
//! non-numeric key, invalid UTF-8, an empty file and a truncated gzip file, beside good files.
//! Each bad record is reported with its file, line and column; nothing else is lost.

use crate::support;

use std::io::Write as _;

use snowdrift_warehouse::{
    CopyOptions, LoadLimits, LoadStatus, LocalWarehouse, OnError, Warehouse, WarehouseError,
    WarehouseExt,
};
use support::copy;

fn gzip(text: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text).unwrap();
    encoder.finish().unwrap()
}

fn files() -> Vec<(&'static str, Vec<u8>)> {
    let zipped = gzip(b"id,name,city\n20,t,u\n21,v,w\n");
    vec![
        ("good.csv", b"id,name,city\n1,a,b\n2,c,d\n3,e,f\n".to_vec()),
        (
            "quote.csv",
            b"id,name,city\n4,\"unclosed,x\n5,b,c\n".to_vec(),
        ),
        ("columns.csv", b"id,name,city\n6,a\n7,b,c\n".to_vec()),
        ("number.csv", b"id,name,city\nabc,a,b\n8,c,d\n".to_vec()),
        ("utf8.csv", b"id,name,city\n9,caf\xe9,x\n10,b,c\n".to_vec()),
        (
            "mostly_good.csv",
            b"id,name,city\n11,a,b\n12,a,b\nx,a,b\n14,a,b\n".to_vec(),
        ),
        ("empty.csv", Vec::new()),
        ("truncated.csv.gz", zipped[..zipped.len() - 8].to_vec()),
        ("whole.csv.gz", zipped),
    ]
}

async fn setup() -> (tempfile::TempDir, LocalWarehouse) {
    support::stage_with(files(), LoadLimits::default()).await
}

async fn ids(warehouse: &LocalWarehouse, table: &str) -> Vec<i64> {
    let batch = warehouse.table(table).await.unwrap();
    let column = batch.column_by_name("id").unwrap();
    let mut ids: Vec<i64> =
        arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(column)
            .values()
            .to_vec();
    ids.sort_unstable();
    ids
}

use LoadStatus::{LoadFailed as Failed, Loaded, PartiallyLoaded as Partial};

#[tokio::test]
async fn continue_loads_every_good_record() {
    let (_dir, warehouse) = setup().await;
    let loads = copy(&warehouse, "t_continue", OnError::Continue)
        .await
        .unwrap();
    assert_eq!(loads["good.csv"], (Loaded, 3, 0));
    assert_eq!(loads["quote.csv"], (Failed, 0, 1));
    assert_eq!(loads["columns.csv"], (Partial, 1, 1));
    assert_eq!(loads["number.csv"], (Partial, 1, 1));
    assert_eq!(loads["utf8.csv"], (Partial, 1, 1));
    assert_eq!(loads["mostly_good.csv"], (Partial, 3, 1));
    assert_eq!(loads["empty.csv"], (Loaded, 0, 0));
    assert_eq!(loads["truncated.csv.gz"], (Failed, 0, 1));
    assert_eq!(loads["whole.csv.gz"], (Loaded, 2, 0));
    assert_eq!(
        ids(&warehouse, "t_continue").await,
        vec![1, 2, 3, 7, 8, 10, 11, 12, 14, 20, 21]
    );
}

#[tokio::test]
async fn skip_file_loads_only_clean_files_and_says_why_for_the_rest() {
    let (_dir, warehouse) = setup().await;
    let loads = copy(&warehouse, "t_skip", OnError::SkipFile).await.unwrap();
    for bad in [
        "quote.csv",
        "columns.csv",
        "number.csv",
        "utf8.csv",
        "mostly_good.csv",
        "truncated.csv.gz",
    ] {
        assert_eq!(loads[bad].0, Failed, "{bad}");
    }
    assert_eq!(ids(&warehouse, "t_skip").await, vec![1, 2, 3, 20, 21]);
    let history = warehouse.copy_history("t_skip").await.unwrap();
    let error = |file: &str| {
        history
            .iter()
            .find(|l| l.file.ends_with(file))
            .and_then(|l| l.first_error.clone())
            .unwrap()
    };
    let number = error("number.csv");
    assert_eq!((number.line, number.column.as_deref()), (2, Some("id")));
    assert!(number.message.contains("'abc'"), "{}", number.message);
    assert_eq!(number.rejected_record, "abc,a,b");
    let utf8 = error("utf8.csv");
    assert_eq!((utf8.line, utf8.column.as_deref()), (2, Some("name")));
    assert!(
        error("columns.csv")
            .message
            .contains("Number of columns in file (2)")
    );
    assert!(error("quote.csv").message.contains("never closed"));
    let gz = error("truncated.csv.gz");
    assert_eq!(gz.line, 0);
    assert!(gz.message.contains("gzip"), "{}", gz.message);
    assert!(gz.file.ends_with("truncated.csv.gz"));
}

#[tokio::test]
async fn skip_file_after_n_and_percent_thresholds() {
    let (_dir, warehouse) = setup().await;
    let after_two = copy(&warehouse, "t_after", OnError::SkipFileAfter(2))
        .await
        .unwrap();
    assert_eq!(after_two["number.csv"], (Partial, 1, 1));
    let percent = copy(&warehouse, "t_percent", OnError::SkipFilePercent(40.0))
        .await
        .unwrap();
    assert_eq!(percent["number.csv"].0, Failed); // 1 of 2 records bad: 50 %
    assert_eq!(percent["mostly_good.csv"], (Partial, 3, 1)); // 1 of 4: 25 %
}

#[tokio::test]
async fn abort_statement_loads_nothing_and_names_the_first_bad_record() {
    let (_dir, warehouse) = setup().await;
    let error = copy(&warehouse, "t_abort", OnError::AbortStatement)
        .await
        .unwrap_err();
    let WarehouseError::CopyAborted { first_error, .. } = &error else {
        panic!("{error}");
    };
    assert!(first_error.file.ends_with(".csv") || first_error.file.ends_with(".gz"));
    assert!(error.to_string().contains(&first_error.file), "{error}");
    assert_eq!(warehouse.table("t_abort").await.unwrap().num_rows(), 0);
    assert!(warehouse.copy_history("t_abort").await.unwrap().is_empty());
    // Nothing was recorded, so a later COPY with CONTINUE still loads every good record.
    let loads = warehouse
        .copy_into(
            "t_abort",
            "landing",
            CopyOptions {
                on_error: OnError::Continue,
                ..CopyOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(loads.len(), files().len());
    assert_eq!(ids(&warehouse, "t_abort").await.len(), 11);
}
