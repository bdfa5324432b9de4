//! Shared helpers for the stage integration tests: change batches from the faker, reading a
//! stage back (stores that fail, count or hold back writes are the test kit's `FaultStore`).
#![allow(unreachable_pub)]

pub use snowdrift_testkit::s3;

use std::sync::Arc;

use arrow::array::RecordBatch;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use snowdrift_faker::{ChangeStream, EntitySpec};

/// `batches` change batches of `rows` rows each (with op and event_time columns).
pub fn change_batches(seed: u64, batches: usize, rows: usize) -> Vec<RecordBatch> {
    let stream = ChangeStream::builder(EntitySpec::customer())
        .seed(seed)
        .batch_size(rows)
        .initial_population(rows)
        .null_rate(0.05)
        .build()
        .unwrap();
    stream.take(batches).map(|b| b.batch).collect()
}

/// Every object under `prefix`, sorted by path, with its bytes.
pub async fn read_stage(store: &Arc<dyn ObjectStore>, prefix: &str) -> Vec<(Path, bytes::Bytes)> {
    let prefix = (!prefix.is_empty()).then(|| Path::from(prefix));
    let mut metas: Vec<_> = store.list(prefix.as_ref()).try_collect().await.unwrap();
    metas.sort_by(|a, b| a.location.cmp(&b.location));
    let mut out = Vec::new();
    for meta in metas {
        let bytes = store
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        out.push((meta.location, bytes));
    }
    out
}

/// The records of a CSV body (header included), decompressing gzip.
pub fn records(body: &[u8]) -> Vec<Vec<String>> {
    let text = if body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(body), &mut out).unwrap();
        out
    } else {
        body.to_vec()
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&text[..]);
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// Asserts two row lists are equal, reporting only the first difference.
pub fn assert_same_rows(got: &[Vec<String>], want: &[Vec<String>]) {
    if let Some(at) = got.iter().zip(want).position(|(g, w)| g != w) {
        panic!(
            "row {at} differs:\n got  {:?}\n want {:?}",
            got[at], want[at]
        );
    }
    assert_eq!(got.len(), want.len(), "row counts differ");
}

/// The rows of `batches` as text the way the encoder writes them (NULL → empty).
pub fn expected_rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::TimestampMicrosecondType;
    use arrow::temporal_conversions::timestamp_us_to_datetime;
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    let options = FormatOptions::default().with_null("");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .zip(batch.schema().fields())
                    .enumerate()
                    .map(|(column, (f, field))| match field.data_type() {
                        arrow::datatypes::DataType::Timestamp(
                            arrow::datatypes::TimeUnit::Microsecond,
                            None,
                        ) => {
                            let values = batch
                                .column(column)
                                .as_primitive::<TimestampMicrosecondType>();
                            if values.is_null(row) {
                                String::new()
                            } else {
                                timestamp_us_to_datetime(values.value(row))
                                    .unwrap()
                                    .format("%Y-%m-%d %H:%M:%S%.6f")
                                    .to_string()
                            }
                        }
                        _ => f.value(row).to_string(),
                    })
                    .collect(),
            );
        }
    }
    rows
}
