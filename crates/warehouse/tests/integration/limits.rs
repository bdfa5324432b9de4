//! Staged files past the load limits, under each ON_ERROR: a gzip bomb stops at the file limit
//! (`Load failed`, memory never past the limit), a 100 MB field is a bad record of its file, a
//! file with 10,000 bad rows is reported with its count; the good files load, nothing panics.

use crate::support;

use std::io::Write as _;

use snowdrift_warehouse::{
    LoadLimits, LoadStatus, LocalWarehouse, OnError, Warehouse, WarehouseError,
};
use support::{Outcomes, copy};

const MIB: usize = 1 << 20;

/// Gzip members of 1 MiB of zeros each, concatenated: `mib` MiB once decompressed.
fn gzip_bomb(mib: usize) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&vec![0u8; MIB]).unwrap();
    let member = encoder.finish().unwrap();
    member.repeat(mib)
}

fn files() -> Vec<(&'static str, Vec<u8>)> {
    let mut big_field = b"id,name,city\n1,a,b\n2,".to_vec();
    big_field.extend(std::iter::repeat_n(b'x', 100 * MIB));
    big_field.extend(b",c\n");
    let mut many_bad = b"id,name,city\n".to_vec();
    for _ in 0..10_000 {
        many_bad.extend(b"x,a,b\n");
    }
    many_bad.extend(b"10,a,b\n11,a,b\n12,a,b\n13,a,b\n14,a,b\n");
    vec![
        ("good.csv", b"id,name,city\n20,a,b\n21,c,d\n".to_vec()),
        ("bomb.csv.gz", gzip_bomb(300)),
        ("big_field.csv", big_field),
        ("many_bad.csv", many_bad),
    ]
}

async fn setup() -> (tempfile::TempDir, LocalWarehouse) {
    let limits = LoadLimits {
        max_file_bytes: 256 * MIB as u64,
        max_record_bytes: 200 * MIB,
        ..LoadLimits::default()
    };
    support::stage_with(files(), limits).await
}

fn outcome(outcomes: &Outcomes, file: &str) -> (LoadStatus, u64, u64) {
    outcomes[file]
}

#[tokio::test]
async fn limits_make_load_errors_of_their_files_alone_under_every_on_error() {
    let (_dir, w) = setup().await;

    let cont = copy(&w, "t_continue", OnError::Continue).await.unwrap();
    assert_eq!(outcome(&cont, "good.csv"), (LoadStatus::Loaded, 2, 0));
    assert_eq!(outcome(&cont, "bomb.csv.gz").0, LoadStatus::LoadFailed);
    assert_eq!(
        outcome(&cont, "big_field.csv"),
        (LoadStatus::PartiallyLoaded, 1, 1)
    );
    assert_eq!(
        outcome(&cont, "many_bad.csv"),
        (LoadStatus::PartiallyLoaded, 5, 10_000)
    );
    assert_eq!(w.row_count("t_continue").await.unwrap(), 8);

    let skip = copy(&w, "t_skip", OnError::SkipFile).await.unwrap();
    assert_eq!(outcome(&skip, "good.csv").0, LoadStatus::Loaded);
    for file in ["bomb.csv.gz", "big_field.csv", "many_bad.csv"] {
        assert_eq!(outcome(&skip, file).0, LoadStatus::LoadFailed, "{file}");
    }

    let after = copy(&w, "t_after", OnError::SkipFileAfter(100))
        .await
        .unwrap();
    assert_eq!(
        outcome(&after, "big_field.csv").0,
        LoadStatus::PartiallyLoaded
    );
    assert_eq!(outcome(&after, "many_bad.csv").0, LoadStatus::LoadFailed);

    // 10,000 bad of 10,005 records is past 60%; one bad of two (50%) is under it.
    let percent = copy(&w, "t_percent", OnError::SkipFilePercent(60.0))
        .await
        .unwrap();
    assert_eq!(
        outcome(&percent, "big_field.csv").0,
        LoadStatus::PartiallyLoaded
    );
    assert_eq!(outcome(&percent, "many_bad.csv").0, LoadStatus::LoadFailed);
    assert_eq!(outcome(&percent, "bomb.csv.gz").0, LoadStatus::LoadFailed);

    let abort = copy(&w, "t_abort", OnError::AbortStatement)
        .await
        .unwrap_err();
    assert!(
        matches!(abort, WarehouseError::CopyAborted { .. }),
        "{abort:?}"
    );
    assert_eq!(w.row_count("t_abort").await.unwrap(), 0);

    let history = w.copy_history("t_continue").await.unwrap();
    let bomb = history
        .iter()
        .find(|l| l.file.ends_with("bomb.csv.gz"))
        .unwrap();
    assert_eq!(bomb.first_error.as_ref().map(|e| e.line), Some(0));
    let field = history
        .iter()
        .find(|l| l.file.ends_with("big_field.csv"))
        .unwrap();
    let first = field.first_error.as_ref().unwrap();
    assert_eq!((first.line, first.column.as_deref()), (3, Some("name")));
    assert!(first.rejected_record.chars().count() <= 1000);
}
