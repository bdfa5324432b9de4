//! The load history of a table (Snowflake's copy history): which staged files were loaded,
//! when, and with what outcome. Loads since the last checkpoint are kept in memory; a
//! checkpoint moves them to a Parquet file of the table's load history on storage. Memory keeps
//! only the index that makes loads exactly-once — 40 bytes or so per staged file ever loaded
//! (a 128-bit hash of its path, a hash of its ETag and its size), never the history itself.
//!
//! The index is rebuilt when the warehouse opens, from the `file`, `e_tag` and `size` columns
//! of the history files alone.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, StringArray, TimestampNanosecondArray, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, UInt64Type};
use serde::{Deserialize, Serialize};

use crate::error::{Result, WarehouseError};
use crate::local::storage::{Codec, Storage};
use crate::{FileLoad, LoadStatus};

/// One Parquet file of a table's load history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LoadFile {
    /// The file, relative to the root.
    pub(crate) file: String,
    /// Loads in it.
    pub(crate) loads: u64,
}

/// What the index remembers of the last load of a staged file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loaded {
    e_tag: u64,
    /// The file's size then.
    pub(crate) size: u64,
}

impl Loaded {
    fn new(e_tag: Option<&str>, size: u64) -> Self {
        Loaded {
            e_tag: hash64(&e_tag),
            size,
        }
    }

    /// Whether a file with this ETag and size is the one loaded then.
    pub(crate) fn is(&self, e_tag: Option<&str>, size: u64) -> bool {
        *self == Loaded::new(e_tag, size)
    }
}

/// The load history of one table.
#[derive(Debug, Clone, Default)]
pub(crate) struct LoadHistory {
    /// Loads since the last checkpoint, oldest first.
    recent: Vec<FileLoad>,
    /// Files of the older loads, oldest first.
    files: Vec<LoadFile>,
    /// Path hash → the last load that loaded or tried to load that path.
    index: HashMap<u128, Loaded>,
}

/// A read of a table's load history, taken under the state lock and read without it.
#[derive(Debug, Clone)]
pub(crate) struct HistoryRead {
    files: Vec<LoadFile>,
    recent: Vec<FileLoad>,
}

impl HistoryRead {
    /// Every load, oldest first.
    pub(crate) async fn loads(self, storage: &Storage) -> Result<Vec<FileLoad>> {
        let mut loads = Vec::new();
        for file in &self.files {
            loads.extend(decode(&file.file, &storage.read_batch(&file.file).await?)?);
        }
        loads.extend(self.recent);
        Ok(loads)
    }
}

impl LoadHistory {
    /// Records a load (the last one of its path counts for the index).
    pub(crate) fn record(&mut self, load: FileLoad) {
        self.index.insert(
            hash128(&load.file),
            Loaded::new(load.e_tag.as_deref(), load.size),
        );
        self.recent.push(load);
    }

    /// The last load of `path`, if any.
    pub(crate) fn last_load(&self, path: &str) -> Option<Loaded> {
        self.index.get(&hash128(path)).copied()
    }

    /// What a reader needs to read the whole history.
    pub(crate) fn read(&self) -> HistoryRead {
        HistoryRead {
            files: self.files.clone(),
            recent: self.recent.clone(),
        }
    }

    /// The history's files (a checkpoint names them).
    pub(crate) fn files(&self) -> &[LoadFile] {
        &self.files
    }

    /// Writes the loads since the last checkpoint to `file` and keeps them there from now
    /// on. Nothing changes when the write fails.
    pub(crate) async fn flush(&mut self, storage: &Storage, file: String) -> Result<()> {
        if self.recent.is_empty() {
            return Ok(());
        }
        storage
            .write_batch(&file, &encode(&self.recent)?, Codec::Compact)
            .await?;
        self.files.push(LoadFile {
            file,
            loads: self.recent.len() as u64,
        });
        self.recent.clear();
        Ok(())
    }

    /// The history whose older loads are in `files`, read back for the index.
    pub(crate) async fn restore(storage: &Storage, files: Vec<LoadFile>) -> Result<Self> {
        let mut history = LoadHistory::default();
        let columns = ["file".to_owned(), "e_tag".to_owned(), "size".to_owned()];
        for file in &files {
            let batch = storage.read_columns(&file.file, &columns).await?;
            let (paths, e_tags, sizes) = index_columns(&file.file, &batch)?;
            for row in 0..batch.num_rows() {
                let e_tag = e_tags.is_valid(row).then(|| e_tags.value(row));
                history.index.insert(
                    hash128(paths.value(row)),
                    Loaded::new(e_tag, sizes.value(row)),
                );
            }
        }
        history.files = files;
        Ok(history)
    }
}

/// 128 bits of a path: two SipHashes with different prefixes (the index lives in one process,
/// so the hash need not be stable across builds). A collision needs about 2^64 paths.
fn hash128(path: &str) -> u128 {
    let mut low = DefaultHasher::new();
    path.hash(&mut low);
    let mut high = DefaultHasher::new();
    ("snowdrift", path).hash(&mut high);
    (u128::from(high.finish()) << 64) | u128::from(low.finish())
}

fn hash64<T: Hash>(value: &T) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

fn schema() -> SchemaRef {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    let count = |name: &str| Field::new(name, DataType::UInt64, false);
    Arc::new(Schema::new(vec![
        text("file", false),
        count("size"),
        text("e_tag", true),
        text("status", false),
        count("rows_parsed"),
        count("rows_loaded"),
        count("error_count"),
        text("first_error", true),
        Field::new(
            "load_time",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
        text("note", true),
    ]))
}

/// Snowflake's spelling of a load status in `COPY_HISTORY`.
fn status_name(status: LoadStatus) -> &'static str {
    match status {
        LoadStatus::Loaded => "LOADED",
        LoadStatus::PartiallyLoaded => "PARTIALLY_LOADED",
        LoadStatus::LoadFailed => "LOAD_FAILED",
        LoadStatus::LoadSkipped => "LOAD_SKIPPED",
    }
}

fn status_of(name: &str) -> Option<LoadStatus> {
    Some(match name {
        "LOADED" => LoadStatus::Loaded,
        "PARTIALLY_LOADED" => LoadStatus::PartiallyLoaded,
        "LOAD_FAILED" => LoadStatus::LoadFailed,
        "LOAD_SKIPPED" => LoadStatus::LoadSkipped,
        _ => return None,
    })
}

/// Nanoseconds since the epoch (as `SystemTime` keeps them, so a load reads back equal).
fn nanos(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// `loads` as rows of the load history schema.
fn encode(loads: &[FileLoad]) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&FileLoad) -> Option<String>| -> ArrayRef {
        Arc::new(loads.iter().map(f).collect::<StringArray>())
    };
    let count = |f: &dyn Fn(&FileLoad) -> u64| -> ArrayRef {
        Arc::new(loads.iter().map(f).collect::<UInt64Array>())
    };
    let first_error = |l: &FileLoad| -> Option<String> {
        l.first_error
            .as_ref()
            .and_then(|e| serde_json::to_string(e).ok())
    };
    let times =
        TimestampNanosecondArray::from_iter_values(loads.iter().map(|l| nanos(l.load_time)));
    Ok(RecordBatch::try_new(
        schema(),
        vec![
            text(&|l| Some(l.file.clone())),
            count(&|l| l.size),
            text(&|l| l.e_tag.clone()),
            text(&|l| Some(status_name(l.status).to_owned())),
            count(&|l| l.rows_parsed),
            count(&|l| l.rows_loaded),
            count(&|l| l.error_count),
            text(&first_error),
            Arc::new(times.with_timezone("UTC")),
            text(&|l| l.note.clone()),
        ],
    )?)
}

fn corrupt(file: &str, reason: impl Into<String>) -> WarehouseError {
    WarehouseError::Corrupt {
        path: file.to_owned(),
        reason: reason.into(),
    }
}

fn strings<'b>(file: &str, batch: &'b RecordBatch, name: &str) -> Result<&'b StringArray> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| corrupt(file, format!("load history without a text column `{name}`")))
}

fn counts<'b>(file: &str, batch: &'b RecordBatch, name: &str) -> Result<&'b UInt64Array> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<UInt64Type>())
        .ok_or_else(|| {
            corrupt(
                file,
                format!("load history without a count column `{name}`"),
            )
        })
}

fn index_columns<'b>(
    file: &str,
    batch: &'b RecordBatch,
) -> Result<(&'b StringArray, &'b StringArray, &'b UInt64Array)> {
    Ok((
        strings(file, batch, "file")?,
        strings(file, batch, "e_tag")?,
        counts(file, batch, "size")?,
    ))
}

/// The loads of history file `file`.
fn decode(file: &str, batch: &RecordBatch) -> Result<Vec<FileLoad>> {
    let (paths, e_tags, sizes) = index_columns(file, batch)?;
    let statuses = strings(file, batch, "status")?;
    let (parsed, loaded, errors) = (
        counts(file, batch, "rows_parsed")?,
        counts(file, batch, "rows_loaded")?,
        counts(file, batch, "error_count")?,
    );
    let first_errors = strings(file, batch, "first_error")?;
    let notes = strings(file, batch, "note")?;
    let times = batch
        .column_by_name("load_time")
        .and_then(|c| c.as_primitive_opt::<arrow::datatypes::TimestampNanosecondType>())
        .ok_or_else(|| corrupt(file, "load history without `load_time`"))?;
    let optional = |a: &StringArray, row: usize| a.is_valid(row).then(|| a.value(row).to_owned());
    (0..batch.num_rows())
        .map(|row| {
            let status = status_of(statuses.value(row)).ok_or_else(|| {
                corrupt(
                    file,
                    format!("unknown load status `{}`", statuses.value(row)),
                )
            })?;
            let first_error = match optional(first_errors, row) {
                Some(json) => Some(
                    serde_json::from_str(&json)
                        .map_err(|e| corrupt(file, format!("row {row}: bad first error: {e}")))?,
                ),
                None => None,
            };
            let since_epoch = Duration::from_nanos(u64::try_from(times.value(row)).unwrap_or(0));
            Ok(FileLoad {
                file: paths.value(row).to_owned(),
                size: sizes.value(row),
                e_tag: optional(e_tags, row),
                status,
                rows_parsed: parsed.value(row),
                rows_loaded: loaded.value(row),
                error_count: errors.value(row),
                first_error,
                load_time: SystemTime::UNIX_EPOCH + since_epoch,
                note: optional(notes, row),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::LoadError;

    fn load(file: &str, status: LoadStatus, error: bool) -> FileLoad {
        FileLoad {
            file: file.into(),
            size: 120,
            e_tag: (status != LoadStatus::LoadFailed).then(|| "\"abc\"".into()),
            status,
            rows_parsed: 3,
            rows_loaded: 2,
            error_count: u64::from(error),
            first_error: error.then(|| LoadError {
                file: file.into(),
                line: 4,
                character: 7,
                column: Some("AGE".into()),
                row: 3,
                message: "not a number".into(),
                rejected_record: "1,x".into(),
            }),
            load_time: SystemTime::UNIX_EPOCH + Duration::from_nanos(1_764_000_000_123_456_789),
            note: error.then(|| "a note".into()),
        }
    }

    #[test]
    fn loads_round_trip_through_their_arrow_rows() {
        let loads = vec![
            load("a.csv", LoadStatus::Loaded, false),
            load("b.csv", LoadStatus::PartiallyLoaded, true),
            load("c.csv", LoadStatus::LoadFailed, true),
            load("d.csv", LoadStatus::LoadSkipped, false),
        ];
        let batch = encode(&loads).unwrap();
        assert_eq!(decode("h.parquet", &batch).unwrap(), loads);
    }

    #[test]
    fn the_index_remembers_the_last_load_of_each_path() {
        let mut history = LoadHistory::default();
        history.record(load("a.csv", LoadStatus::Loaded, false));
        let last = history.last_load("a.csv").unwrap();
        assert!(last.is(Some("\"abc\""), 120));
        assert!(!last.is(Some("\"abd\""), 120));
        assert!(!last.is(Some("\"abc\""), 121));
        assert!(history.last_load("b.csv").is_none());
        let mut rewritten = load("a.csv", LoadStatus::Loaded, false);
        rewritten.e_tag = Some("\"new\"".into());
        history.record(rewritten);
        assert!(history.last_load("a.csv").unwrap().is(Some("\"new\""), 120));
    }

    #[test]
    fn a_history_file_with_an_unknown_status_is_corrupt_not_a_panic() {
        let mut batch = encode(&[load("a.csv", LoadStatus::Loaded, false)]).unwrap();
        let mut columns = batch.columns().to_vec();
        columns[3] = Arc::new(StringArray::from(vec!["MAYBE"]));
        batch = RecordBatch::try_new(batch.schema(), columns).unwrap();
        assert!(matches!(
            decode("h.parquet", &batch),
            Err(WarehouseError::Corrupt { .. })
        ));
    }
}
