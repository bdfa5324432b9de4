//! Checking a run's whole history: the ground truth is rebuilt in the grouping the pipeline's
//! runs used (each SCD-1 run records the staged files it consumed, in load order), then the
//! FULL `customer_history` — closed versions included, in order per key, with their validity
//! when history is sequenced by event time — and the late rows in their rejected table are
//! compared with it. The grouping matters: a merge sees the net change
//! since the previous one, and a change is late or merely superseded depending on whether its
//! newer change came in an earlier merge or in the same one.

use std::collections::HashMap;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, TimestampMicrosecondArray};
use arrow::datatypes::{Int64Type, TimestampMicrosecondType};

use crate::faker::GroundTruth;
use crate::verify::CheckError;
use crate::warehouse::rows::rows_of;
use crate::warehouse::{PipelineSpec, TaskRun, TaskRunState, Warehouse, WarehouseExt, rejected};

/// The merges of a run: per SCD-1 run that consumed rows, its staged files in load order,
/// oldest run first. Empty when the backend records no files (then the grouping is unknown).
///
/// # Errors
///
/// The backend's error when its task history cannot be read.
pub async fn merge_groups(
    warehouse: &dyn Warehouse,
    spec: &PipelineSpec,
) -> Result<Vec<Vec<String>>, CheckError> {
    let runs = committed(warehouse.task_history(&spec.current_task).await?);
    Ok(runs
        .into_iter()
        .filter(|r| r.rows_consumed > 0 && !r.source_files.is_empty())
        .map(|r| r.source_files)
        .collect())
}

/// Succeeded runs in commit order.
fn committed(mut runs: Vec<TaskRun>) -> Vec<TaskRun> {
    runs.retain(|r| r.state == TaskRunState::Succeeded && r.version.is_some());
    runs.sort_by_key(|r| r.version);
    runs
}

/// Feeds `truth` the staged batches (`batches`, by file path) in `groups`, one merge per group.
///
/// # Errors
///
/// A file of a group that was never staged, or a batch the model refuses.
pub fn replay(
    truth: &mut GroundTruth,
    groups: &[Vec<String>],
    batches: &HashMap<String, RecordBatch>,
) -> Result<(), CheckError> {
    for group in groups {
        let merge: Vec<&RecordBatch> = group
            .iter()
            .map(|file| {
                batches
                    .get(file)
                    .ok_or_else(|| format!("run consumed `{file}`, which was not staged"))
            })
            .collect::<Result<_, _>>()?;
        truth.merge(&merge)?;
    }
    Ok(())
}

/// Whether every SCD-2 run that consumed rows read the changes of exactly one SCD-1 run that
/// wrote some: then the history's versions are the truth's, one per merge. (After a failed or
/// interrupted SCD-2 run, one run reads several SCD-1 merges as one net change.)
///
/// # Errors
///
/// The backend's error when its task history cannot be read.
pub async fn history_follows_merges(
    warehouse: &dyn Warehouse,
    spec: &PipelineSpec,
) -> Result<bool, CheckError> {
    let parents = committed(warehouse.task_history(&spec.current_task).await?);
    let children = committed(warehouse.task_history(&spec.history_task).await?);
    Ok(children
        .iter()
        .filter(|c| c.rows_consumed > 0)
        .all(|c| match c.window {
            Some((from, to)) => {
                parents
                    .iter()
                    .filter(|p| p.rows_written > 0)
                    .filter(|p| p.version.is_some_and(|v| v > from && v <= to))
                    .count()
                    == 1
            }
            None => false,
        }))
}

/// Compares the whole of `customer_history` with `truth`: per key, the business values of
/// every version in order, which one is current and, by event time, its validity. Returns the problems found.
///
/// # Errors
///
/// The backend's error when the history cannot be read, or an Arrow error when its columns
/// are not of the pipeline's types. Differences from the truth are not errors: they are the
/// returned problems.
pub async fn check_full_history(
    warehouse: &dyn Warehouse,
    spec: &PipelineSpec,
    truth: &GroundTruth,
) -> Result<Vec<String>, CheckError> {
    let business: Vec<&str> = spec.columns.iter().map(|c| c.name.as_str()).collect();
    let mut got = versions(
        &warehouse.table(&spec.history_table).await?,
        spec,
        &business,
        true,
    )?;
    let mut want = versions(&truth.expected_history()?, spec, &business, false)?;
    got.sort();
    want.sort();
    let mut problems = Vec::new();
    if got != want {
        let missing = want.iter().find(|r| !got.contains(r));
        let unexpected = got.iter().find(|r| !want.contains(r));
        problems.push(format!(
            "customer_history: {} versions, the ground truth has {}; for example missing {missing:?}, unexpected {unexpected:?}",
            got.len(),
            want.len()
        ));
    }
    Ok(problems)
}

/// `key|values…|current|n`: each version with its place `n` among its key's versions, ordered
/// by start time (the warehouse's table) or as given (the truth's, already in order).
fn versions(
    batch: &RecordBatch,
    spec: &PipelineSpec,
    business: &[&str],
    sort_by_start: bool,
) -> Result<Vec<String>, CheckError> {
    let key = spec.key.first().ok_or("the pipeline has no key")?;
    let keys = batch
        .column_by_name(key)
        .and_then(|c| c.as_primitive_opt::<Int64Type>())
        .ok_or("the history has no integer key column")?;
    let starts = batch
        .column_by_name("start_time")
        .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>());
    let mut columns = business.to_vec();
    columns.push("is_current");
    if spec.event_time.is_some() {
        // Validity is event time: the truth knows it exactly.
        columns.extend(["start_time", "end_time"]);
    }
    let text = rows_of(batch, &columns);
    let mut order: Vec<usize> = (0..batch.num_rows()).collect();
    if sort_by_start {
        let start = |i: usize| starts.filter(|s| s.is_valid(i)).map(|s| s.value(i));
        order.sort_by_key(|&i| (keys.value(i), start(i)));
    } else {
        order.sort_by_key(|&i| (keys.value(i), i));
    }
    let mut out = Vec::with_capacity(order.len());
    let mut place = (None, 0u32);
    for i in order {
        let k = keys.value(i);
        place = if place.0 == Some(k) {
            (Some(k), place.1 + 1)
        } else {
            (Some(k), 1)
        };
        out.push(format!("{}|{}", text[i], place.1));
    }
    Ok(out)
}

/// Compares the late rows of the table they land in (`customer_rejected`, or
/// `customer_history_rejected` by event time: [`PipelineSpec::late_rows_table`]) by key and
/// sequence with the truth's, and checks that the other rejected table is empty.
///
/// # Errors
///
/// The backend's error when a rejected table cannot be read, or an Arrow error when its
/// columns are not of the rejected-table layout. Differences from the truth are the returned
/// problems.
pub async fn check_late_rows(
    warehouse: &dyn Warehouse,
    spec: &PipelineSpec,
    truth: &GroundTruth,
) -> Result<Vec<String>, CheckError> {
    let (Some(key), Some(sequence)) = (spec.key.first(), spec.late_rows_sequence()) else {
        return Ok(Vec::new());
    };
    let mut problems = Vec::new();
    let name = spec.late_rows_table();
    // The other merge rejects nothing: its input is clean, and late rows are the late table's.
    for other in spec.rejected_tables().iter().filter(|t| t.name != name) {
        let rows = warehouse.table(&other.name).await?.num_rows();
        if rows > 0 {
            problems.push(format!(
                "{} holds {rows} rows; it should hold none",
                other.name
            ));
        }
    }
    let table = warehouse.table(&name).await?;
    let mut got: Vec<String> = rows_of(&table, &[key.as_str(), sequence, rejected::REASON])
        .into_iter()
        .filter_map(|r| r.strip_suffix("|late").map(str::to_owned))
        .collect();
    let by_time = spec.event_time.is_some();
    let mut want: Vec<String> = truth
        .late_rows()
        .iter()
        .map(|l| format!("{}|{}", l.key, sequence_text(l.event_time, by_time)))
        .collect();
    got.sort();
    want.sort();
    if got != want {
        problems.push(format!(
            "{name}: {} late rows, the ground truth has {} (for example {:?})",
            got.len(),
            want.len(),
            want.iter().find(|r| !got.contains(r)).or(got.first())
        ));
    }
    Ok(problems)
}

/// A late row's sequence as the warehouse's rows render it: a number, or an event time.
fn sequence_text(value: i64, as_time: bool) -> String {
    let column: ArrayRef = match as_time {
        true => Arc::new(TimestampMicrosecondArray::from(vec![value])),
        false => return value.to_string(),
    };
    RecordBatch::try_from_iter([("t", column)])
        .map(|b| rows_of(&b, &["t"]).remove(0))
        .unwrap_or_else(|_| value.to_string())
}
