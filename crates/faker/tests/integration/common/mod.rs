//! Helpers shared by the faker integration tests.
#![allow(unreachable_pub)]

use arrow::array::RecordBatch;

/// Every cell of a batch as text (NULL as `None`), row by row.
pub fn rows(batch: &RecordBatch) -> Vec<Vec<Option<String>>> {
    snowdrift_testkit::rows::cells(batch)
}

/// The values of one column as text.
pub fn column(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let idx = batch.schema().index_of(name).unwrap();
    rows(batch).into_iter().map(|r| r[idx].clone()).collect()
}

/// FNV-1a over every cell, a stable fingerprint of a batch's contents.
pub fn fingerprint(batch: &RecordBatch) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for row in rows(batch) {
        for cell in row {
            let bytes = cell.as_deref().unwrap_or("\u{0}NULL");
            for b in bytes.bytes().chain([0xff]) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    h
}
