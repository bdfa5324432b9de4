//! Snowflake's answers to operations, read into the warehouse's records: DML counts, `COPY
//! INTO` results and `COPY_HISTORY` rows as [`FileLoad`]s, `SYSTEM$PIPE_STATUS` as
//! [`PipeStatus`], `TASK_HISTORY` rows as [`TaskRun`]s. Pure functions over [`Record`]s, so
//! they are tested without an account.

use std::time::{Duration, SystemTime};

use snowdrift_warehouse::{
    DmlCount, FileLoad, LoadError, LoadStatus, PipeExecutionState, PipeStatus, TaskRun,
    TaskRunState,
};
use snowflake_connector_rs::{CellValue, DynamicRow};

use crate::error::{Result, SnowflakeError};

/// One result row: column names (as Snowflake returns them) and values.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Record(pub(crate) Vec<(String, CellValue)>);

impl Record {
    /// A connector row as a record.
    pub(crate) fn from_row(row: &DynamicRow) -> Self {
        Record(
            row.schema()
                .columns()
                .iter()
                .zip(row.values())
                .map(|(c, v)| (c.name().to_owned(), v.clone()))
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&CellValue> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| match v {
            CellValue::String(s) => s.clone(),
            CellValue::Integer(i) => i.to_string(),
            CellValue::Decimal(d) => d.raw().to_owned(),
            CellValue::Boolean(b) => b.to_string(),
            CellValue::Float(f) => f.to_string(),
            other => format!("{other:?}"),
        })
    }

    fn number(&self, name: &str) -> u64 {
        self.text(name)
            .and_then(|t| t.parse::<f64>().ok())
            .map_or(0, |n| n.max(0.0) as u64)
    }

    fn time(&self, name: &str) -> Option<SystemTime> {
        let micros = match self.get(name)? {
            CellValue::TimestampNtz(t) => t.and_utc().timestamp_micros(),
            CellValue::TimestampLtz(t) => t.timestamp_micros(),
            CellValue::TimestampTz(t) => t.timestamp_micros(),
            _ => return None,
        };
        u64::try_from(micros)
            .ok()
            .map(|m| SystemTime::UNIX_EPOCH + Duration::from_micros(m))
    }

    /// The first value whose column name contains `part` (DML results are named
    /// `number of rows inserted` and so on).
    fn count_containing(&self, part: &str) -> u64 {
        self.0
            .iter()
            .find(|(n, _)| n.to_ascii_lowercase().contains(part))
            .map_or(0, |(n, _)| self.number(n))
    }
}

/// The counts of an INSERT, UPDATE, DELETE or MERGE result.
pub(crate) fn dml_count(records: &[Record]) -> DmlCount {
    records
        .iter()
        .fold(DmlCount::default(), |total, r| DmlCount {
            inserted: total.inserted + r.count_containing("inserted"),
            updated: total.updated + r.count_containing("updated"),
            deleted: total.deleted + r.count_containing("deleted"),
        })
}

fn load_status(text: &str) -> Option<LoadStatus> {
    match text.to_ascii_uppercase().replace(' ', "_").as_str() {
        "LOADED" => Some(LoadStatus::Loaded),
        "PARTIALLY_LOADED" => Some(LoadStatus::PartiallyLoaded),
        "LOAD_FAILED" => Some(LoadStatus::LoadFailed),
        "LOAD_SKIPPED" => Some(LoadStatus::LoadSkipped),
        _ => None,
    }
}

fn first_error(r: &Record, file: &str, prefix: &str) -> Option<LoadError> {
    let message = r.text(prefix)?;
    Some(LoadError {
        file: file.to_owned(),
        line: r
            .number(&format!("{prefix}_LINE"))
            .max(r.number(&format!("{prefix}_LINE_NUMBER"))),
        character: r
            .number(&format!("{prefix}_CHARACTER"))
            .max(r.number(&format!("{prefix}_CHARACTER_POS"))),
        column: r.text(&format!("{prefix}_COLUMN_NAME")),
        row: 0,
        message,
        rejected_record: String::new(),
    })
}

/// The rows of a `COPY INTO` result (one per file; none when nothing was new).
pub(crate) fn copy_results(records: &[Record], now: SystemTime) -> Vec<FileLoad> {
    records
        .iter()
        .filter_map(|r| {
            let file = r.text("file")?;
            let status = load_status(&r.text("status")?)?;
            Some(FileLoad {
                first_error: first_error(r, &file, "first_error"),
                file,
                size: 0,
                e_tag: None,
                status,
                rows_parsed: r.number("rows_parsed"),
                rows_loaded: r.number("rows_loaded"),
                error_count: r.number("errors_seen"),
                load_time: now,
                note: None,
            })
        })
        .collect()
}

/// `INFORMATION_SCHEMA.COPY_HISTORY` rows, oldest first.
pub(crate) fn copy_history(records: &[Record]) -> Vec<FileLoad> {
    let mut loads: Vec<FileLoad> = records
        .iter()
        .filter_map(|r| {
            let file = r.text("FILE_NAME")?;
            let status = load_status(&r.text("STATUS")?)?;
            Some(FileLoad {
                first_error: first_error(r, &file, "FIRST_ERROR_MESSAGE").map(|mut e| {
                    e.line = r.number("FIRST_ERROR_LINE_NUMBER");
                    e.character = r.number("FIRST_ERROR_CHARACTER_POS");
                    e.column = r.text("FIRST_ERROR_COLUMN_NAME");
                    e
                }),
                file,
                size: r.number("FILE_SIZE"),
                e_tag: None,
                status,
                rows_parsed: r.number("ROW_PARSED"),
                rows_loaded: r.number("ROW_COUNT"),
                error_count: r.number("ERROR_COUNT"),
                load_time: r.time("LAST_LOAD_TIME").unwrap_or(SystemTime::UNIX_EPOCH),
                note: None,
            })
        })
        .collect();
    loads.sort_by_key(|l| l.load_time);
    loads
}

/// The JSON `SYSTEM$PIPE_STATUS` returns.
pub(crate) fn pipe_status(pipe: &str, json: &str) -> Result<PipeStatus> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| SnowflakeError::Decode {
            relation: format!("SYSTEM$PIPE_STATUS of {pipe}"),
            row: 0,
            column: "status".into(),
            value: json.chars().take(200).collect(),
            reason: e.to_string(),
        })?;
    let text = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    let state = text("executionState").unwrap_or_default();
    let execution_state = match state.as_str() {
        "RUNNING" => PipeExecutionState::Running,
        s if s.starts_with("STALLED") => PipeExecutionState::StalledStageAccess,
        _ => PipeExecutionState::Paused,
    };
    let last_ingested_timestamp = text("lastIngestedTimestamp")
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .and_then(|t| u64::try_from(t.timestamp_micros()).ok())
        .map(|m| SystemTime::UNIX_EPOCH + Duration::from_micros(m));
    Ok(PipeStatus {
        execution_state,
        pending_file_count: value
            .get("pendingFileCount")
            .and_then(|v| v.as_u64())
            .unwrap_or(0),
        oldest_pending_file_path: text("oldestPendingFilePath"),
        last_ingested_timestamp,
        last_ingested_file_path: text("lastIngestedFilePath"),
        error: text("error").or_else(|| {
            (!matches!(
                execution_state,
                PipeExecutionState::Running | PipeExecutionState::Paused
            ))
            .then_some(state)
        }),
    })
}

/// `INFORMATION_SCHEMA.TASK_HISTORY` rows as runs, oldest first; runs still only scheduled
/// are left out.
pub(crate) fn task_history(task: &str, records: &[Record]) -> Vec<TaskRun> {
    let mut runs: Vec<TaskRun> = records
        .iter()
        .filter_map(|r| {
            let state = match r.text("STATE")?.as_str() {
                "EXECUTING" => TaskRunState::Executing,
                "SUCCEEDED" => TaskRunState::Succeeded,
                "FAILED" => TaskRunState::Failed,
                "FAILED_AND_AUTO_SUSPENDED" => TaskRunState::FailedAndAutoSuspended,
                "CANCELLED" => TaskRunState::Cancelled,
                "SKIPPED" => TaskRunState::Skipped,
                _ => return None,
            };
            let scheduled_time = r.time("SCHEDULED_TIME").unwrap_or(SystemTime::UNIX_EPOCH);
            let attempt = u32::try_from(r.number("ATTEMPT_NUMBER"))
                .unwrap_or(1)
                .max(1);
            let started = r.time("QUERY_START_TIME").unwrap_or(scheduled_time);
            Some(TaskRun {
                state,
                completed: r.time("COMPLETED_TIME"),
                error: r.text("ERROR_MESSAGE"),
                ..TaskRun::begun(task, r.number("RUN_ID"), scheduled_time, started, attempt)
            })
        })
        .collect();
    runs.sort_by_key(|r| (r.scheduled_time, r.attempt));
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(values: &[(&str, CellValue)]) -> Record {
        Record(
            values
                .iter()
                .map(|(n, v)| (n.to_string(), v.clone()))
                .collect(),
        )
    }

    fn s(v: &str) -> CellValue {
        CellValue::String(v.into())
    }

    #[test]
    fn dml_counts_are_read_by_column_name() {
        let merge = record(&[
            ("number of rows inserted", CellValue::Integer(3)),
            ("number of rows updated", CellValue::Integer(2)),
            ("number of rows deleted", CellValue::Integer(1)),
        ]);
        assert_eq!(
            dml_count(&[merge]),
            DmlCount {
                inserted: 3,
                updated: 2,
                deleted: 1
            }
        );
    }

    #[test]
    fn copy_results_map_statuses_and_first_errors() {
        let rows = [
            record(&[
                ("file", s("s3://b/customer_1.csv")),
                ("status", s("LOADED")),
                ("rows_parsed", CellValue::Integer(10)),
                ("rows_loaded", CellValue::Integer(10)),
                ("errors_seen", CellValue::Integer(0)),
            ]),
            record(&[
                ("file", s("s3://b/customer_2.csv")),
                ("status", s("LOAD_FAILED")),
                ("rows_parsed", CellValue::Integer(5)),
                ("rows_loaded", CellValue::Integer(0)),
                ("errors_seen", CellValue::Integer(1)),
                ("first_error", s("Numeric value 'x' is not recognized")),
                ("first_error_line", CellValue::Integer(3)),
                ("first_error_character", CellValue::Integer(1)),
                (
                    "first_error_column_name",
                    s("\"CUSTOMER_RAW\"[\"CUSTOMER_ID\":1]"),
                ),
            ]),
            record(&[("status", s("Copy executed with 0 files processed."))]),
        ];
        let loads = copy_results(&rows, SystemTime::UNIX_EPOCH);
        assert_eq!(loads.len(), 2);
        assert_eq!(loads[0].status, LoadStatus::Loaded);
        let error = loads[1].first_error.as_ref().unwrap();
        assert_eq!((error.line, error.character), (3, 1));
        assert!(error.message.contains("'x'"));
    }

    #[test]
    fn pipe_status_json_is_read() {
        let status = pipe_status(
            "p",
            r#"{"executionState":"RUNNING","pendingFileCount":2,"lastIngestedTimestamp":"2026-11-24T10:00:00.000Z","lastIngestedFilePath":"customer_1.csv"}"#,
        )
        .unwrap();
        assert_eq!(status.execution_state, PipeExecutionState::Running);
        assert_eq!(status.pending_file_count, 2);
        assert!(status.last_ingested_timestamp.is_some());
        let stalled = pipe_status("p", r#"{"executionState":"STALLED_STAGE_ACCESS"}"#).unwrap();
        assert_eq!(
            stalled.execution_state,
            PipeExecutionState::StalledStageAccess
        );
        assert_eq!(stalled.error.as_deref(), Some("STALLED_STAGE_ACCESS"));
        assert!(pipe_status("p", "not json").is_err());
    }

    #[test]
    fn task_history_skips_scheduled_runs_and_orders_the_rest() {
        let at =
            |secs: i64| CellValue::TimestampLtz(chrono::DateTime::from_timestamp(secs, 0).unwrap());
        let rows = [
            record(&[("STATE", s("SCHEDULED")), ("SCHEDULED_TIME", at(300))]),
            record(&[
                ("STATE", s("FAILED")),
                ("SCHEDULED_TIME", at(200)),
                ("ERROR_MESSAGE", s("boom")),
                ("ATTEMPT_NUMBER", CellValue::Integer(1)),
            ]),
            record(&[("STATE", s("SUCCEEDED")), ("SCHEDULED_TIME", at(100))]),
        ];
        let runs = task_history("t", &rows);
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].state, TaskRunState::Succeeded);
        assert_eq!(runs[1].error.as_deref(), Some("boom"));
    }
}
