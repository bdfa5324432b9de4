//! Snowflake's views of the pipeline's metadata, read from the warehouse when a query runs:
//! `information_schema.copy_history` (every table's load history), `information_schema.
//! task_history` (every task's runs, plus one `SCHEDULED` row per resumed root task with its
//! next run, as Snowflake shows it), and the values of `SYSTEM$PIPE_STATUS` (its JSON text)
//! and `SYSTEM$STREAM_HAS_DATA`, and `SYSTEM$WAIT` (a script waits for the next task run
//! while the warehouse's tasks go on).
//!
//! Column names are Snowflake's, in the lower case every unquoted name takes here; times are
//! `TIMESTAMP` in UTC.

use std::sync::Arc;
use std::time::SystemTime;

use arrow::array::{
    ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray, UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use datafusion::error::Result as DfResult;
use snowdrift_warehouse::catalog::ObjectDef;
use snowdrift_warehouse::{
    FileLoad, LoadStatus, LocalWarehouse, PipeExecutionState, PipeStatus, TaskRun, TaskRunState,
    Warehouse,
};

use crate::error::Result;
use crate::relations::{WholeRows, external};

/// The views of `information_schema`.
pub(crate) const VIEWS: [&str; 2] = ["copy_history", "task_history"];

/// Micros since the epoch of `time`.
fn micros(time: SystemTime) -> i64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

fn time_field(name: &str) -> Field {
    Field::new(name, DataType::Timestamp(TimeUnit::Microsecond, None), true)
}

fn times(values: impl Iterator<Item = Option<SystemTime>>) -> ArrayRef {
    Arc::new(
        values
            .map(|t| t.map(micros))
            .collect::<TimestampMicrosecondArray>(),
    )
}

fn strings<S: AsRef<str>>(values: impl Iterator<Item = Option<S>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

/// One view of `information_schema`, built from the warehouse at each scan.
#[derive(Debug)]
pub(crate) struct MetadataView {
    warehouse: Arc<LocalWarehouse>,
    view: &'static str,
    schema: SchemaRef,
}

impl MetadataView {
    /// `view` (one of [`VIEWS`]).
    pub(crate) fn new(warehouse: Arc<LocalWarehouse>, view: &'static str) -> Self {
        let schema = if view == "copy_history" {
            copy_history_schema()
        } else {
            task_history_schema()
        };
        MetadataView {
            warehouse,
            view,
            schema,
        }
    }
}

#[async_trait]
impl WholeRows for MetadataView {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn rows(&self) -> DfResult<RecordBatch> {
        let rows = if self.view == "copy_history" {
            copy_history(&self.warehouse).await
        } else {
            task_history(&self.warehouse).await
        };
        rows.map_err(|e| match e {
            crate::SqlError::Warehouse(e) => external(e),
            other => datafusion::error::DataFusionError::External(Box::new(other)),
        })
    }
}

fn copy_history_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("file_name", DataType::Utf8, false),
        Field::new("table_name", DataType::Utf8, false),
        time_field("last_load_time"),
        Field::new("status", DataType::Utf8, false),
        Field::new("row_count", DataType::UInt64, false),
        Field::new("row_parsed", DataType::UInt64, false),
        Field::new("file_size", DataType::UInt64, false),
        Field::new("error_count", DataType::UInt64, false),
        Field::new("first_error_message", DataType::Utf8, true),
        Field::new("first_error_line_number", DataType::UInt64, true),
        Field::new("first_error_character_pos", DataType::UInt64, true),
        Field::new("first_error_column_name", DataType::Utf8, true),
        Field::new("note", DataType::Utf8, true),
    ]))
}

/// Snowflake's `STATUS` words.
fn load_status(status: LoadStatus) -> &'static str {
    match status {
        LoadStatus::Loaded => "Loaded",
        LoadStatus::PartiallyLoaded => "Partially loaded",
        LoadStatus::LoadFailed => "Load failed",
        LoadStatus::LoadSkipped => "Load skipped",
    }
}

async fn copy_history(warehouse: &LocalWarehouse) -> Result<RecordBatch> {
    let mut loads: Vec<(String, FileLoad)> = Vec::new();
    for object in warehouse.objects().await {
        if let ObjectDef::Table(table) = object {
            for load in warehouse.copy_history(&table.name).await? {
                loads.push((table.name.clone(), load));
            }
        }
    }
    let error = |f: fn(&snowdrift_warehouse::LoadError) -> Option<u64>| -> ArrayRef {
        Arc::new(
            loads
                .iter()
                .map(|(_, l)| l.first_error.as_ref().and_then(f))
                .collect::<UInt64Array>(),
        )
    };
    let count = |f: fn(&FileLoad) -> u64| -> ArrayRef {
        Arc::new(loads.iter().map(|(_, l)| f(l)).collect::<UInt64Array>())
    };
    let columns: Vec<ArrayRef> = vec![
        strings(loads.iter().map(|(_, l)| Some(&l.file))),
        strings(loads.iter().map(|(t, _)| Some(t))),
        times(loads.iter().map(|(_, l)| Some(l.load_time))),
        strings(loads.iter().map(|(_, l)| Some(load_status(l.status)))),
        count(|l| l.rows_loaded),
        count(|l| l.rows_parsed),
        count(|l| l.size),
        count(|l| l.error_count),
        strings(
            loads
                .iter()
                .map(|(_, l)| l.first_error.as_ref().map(|e| &e.message)),
        ),
        error(|e| Some(e.line)),
        error(|e| Some(e.character)),
        strings(
            loads
                .iter()
                .map(|(_, l)| l.first_error.as_ref().and_then(|e| e.column.as_ref())),
        ),
        strings(loads.iter().map(|(_, l)| l.note.as_ref())),
    ];
    Ok(RecordBatch::try_new(copy_history_schema(), columns)?)
}

fn task_history_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        time_field("scheduled_time"),
        time_field("query_start_time"),
        time_field("completed_time"),
        Field::new("error_message", DataType::Utf8, true),
        Field::new("attempt_number", DataType::UInt32, true),
        Field::new("graph_run_group_id", DataType::UInt64, true),
        Field::new("rows_consumed", DataType::UInt64, true),
        Field::new("rows_written", DataType::UInt64, true),
        Field::new("late_rows", DataType::UInt64, true),
        Field::new("rejected_rows", DataType::UInt64, true),
        Field::new("version", DataType::UInt64, true),
    ]))
}

/// Snowflake's `STATE` words.
fn run_state(state: TaskRunState) -> &'static str {
    match state {
        TaskRunState::Executing => "EXECUTING",
        TaskRunState::Succeeded => "SUCCEEDED",
        TaskRunState::Failed => "FAILED",
        TaskRunState::FailedAndAutoSuspended => "FAILED_AND_AUTO_SUSPENDED",
        TaskRunState::Cancelled => "CANCELLED",
        TaskRunState::Skipped => "SKIPPED",
    }
}

/// A row of the task history: a run, or a task's next scheduled run.
enum HistoryRow {
    Run(TaskRun),
    Scheduled { task: String, at: SystemTime },
}

async fn task_history(warehouse: &LocalWarehouse) -> Result<RecordBatch> {
    let mut rows = Vec::new();
    for object in warehouse.objects().await {
        if let ObjectDef::Task(task) = object {
            rows.extend(
                warehouse
                    .task_history(&task.name)
                    .await?
                    .into_iter()
                    .map(HistoryRow::Run),
            );
            if let Some(at) = warehouse.task_state(&task.name).await?.next_run {
                rows.push(HistoryRow::Scheduled {
                    task: task.name.clone(),
                    at,
                });
            }
        }
    }
    let run = |row: &HistoryRow| match row {
        HistoryRow::Run(run) => Some(run.clone()),
        HistoryRow::Scheduled { .. } => None,
    };
    let runs: Vec<Option<TaskRun>> = rows.iter().map(run).collect();
    let number = |f: fn(&TaskRun) -> Option<u64>| -> ArrayRef {
        Arc::new(
            runs.iter()
                .map(|r| r.as_ref().and_then(f))
                .collect::<UInt64Array>(),
        )
    };
    let columns: Vec<ArrayRef> = vec![
        strings(rows.iter().map(|row| {
            Some(match row {
                HistoryRow::Run(run) => run.task.clone(),
                HistoryRow::Scheduled { task, .. } => task.clone(),
            })
        })),
        strings(
            runs.iter()
                .map(|r| Some(r.as_ref().map_or("SCHEDULED", |r| run_state(r.state)))),
        ),
        times(rows.iter().map(|row| {
            Some(match row {
                HistoryRow::Run(run) => run.scheduled_time,
                HistoryRow::Scheduled { at, .. } => *at,
            })
        })),
        times(runs.iter().map(|r| r.as_ref().map(|r| r.started))),
        times(runs.iter().map(|r| r.as_ref().and_then(|r| r.completed))),
        strings(
            runs.iter()
                .map(|r| r.as_ref().and_then(|r| r.error.clone())),
        ),
        Arc::new(
            runs.iter()
                .map(|r| r.as_ref().map(|r| r.attempt))
                .collect::<UInt32Array>(),
        ),
        number(|r| Some(r.graph_run)),
        number(|r| Some(r.rows_consumed)),
        number(|r| Some(r.rows_written)),
        number(|r| Some(r.late_rows)),
        number(|r| Some(r.rejected_rows)),
        number(|r| r.version),
    ];
    Ok(RecordBatch::try_new(task_history_schema(), columns)?)
}

/// `SYSTEM$PIPE_STATUS`'s JSON text, with Snowflake's field names.
pub(crate) async fn pipe_status(warehouse: &LocalWarehouse, pipe: &str) -> Result<String> {
    let status = warehouse.pipe_status(pipe).await?;
    Ok(pipe_status_json(&status).to_string())
}

/// The JSON object of a pipe's status.
pub(crate) fn pipe_status_json(status: &PipeStatus) -> serde_json::Value {
    let state = match status.execution_state {
        PipeExecutionState::Running => "RUNNING",
        PipeExecutionState::Paused => "PAUSED",
        PipeExecutionState::StalledStageAccess => "STALLED_STAGE_ACCESS_ERROR",
    };
    let mut json = serde_json::json!({
        "executionState": state,
        "pendingFileCount": status.pending_file_count,
    });
    let optional = [
        (
            "oldestPendingFilePath",
            status.oldest_pending_file_path.clone(),
        ),
        (
            "lastIngestedFilePath",
            status.last_ingested_file_path.clone(),
        ),
        (
            "lastIngestedTimestamp",
            status
                .last_ingested_timestamp
                .map(|t| humantime::format_rfc3339_millis(t).to_string()),
        ),
        ("error", status.error.clone()),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            json[name] = serde_json::Value::String(value);
        }
    }
    json
}

/// `SYSTEM$STREAM_HAS_DATA`.
pub(crate) async fn stream_has_data(warehouse: &LocalWarehouse, stream: &str) -> Result<bool> {
    Ok(warehouse.stream_has_data(stream).await?)
}

/// `SYSTEM$WAIT(amount [, unit])`: sleeps, then says for how long (Snowflake's text).
pub(crate) async fn wait(amount: &str, unit: Option<&String>) -> Result<String> {
    let invalid = |reason: String| crate::SqlError::InvalidArgument {
        function: "SYSTEM$WAIT".into(),
        reason,
    };
    let amount: f64 = amount
        .parse()
        .ok()
        .filter(|a: &f64| a.is_finite() && *a >= 0.0)
        .ok_or_else(|| invalid(format!("`{amount}` is not a non-negative number")))?;
    let unit = unit.map_or("SECONDS".to_owned(), |u| u.to_uppercase());
    let seconds_per = match unit.as_str() {
        "MILLISECONDS" => 0.001,
        "SECONDS" => 1.0,
        "MINUTES" => 60.0,
        "HOURS" => 3600.0,
        other => {
            return Err(invalid(format!(
                "unknown time unit `{other}` (MILLISECONDS, SECONDS, MINUTES, HOURS)"
            )));
        }
    };
    let duration = std::time::Duration::try_from_secs_f64(amount * seconds_per)
        .map_err(|e| invalid(e.to_string()))?;
    tokio::time::sleep(duration).await;
    Ok(format!("waited {amount} {}", unit.to_lowercase()))
}
