//! `snowdrift history`: the copy history of a table (Snowflake's `COPY_HISTORY`) or the run
//! history of a task (`TASK_HISTORY`), oldest first.

use clap::Subcommand;
use serde::Serialize;
use snowdrift::warehouse::{FileLoad, LoadStatus, TaskRun, TaskRunState, Warehouse};

use crate::Failure;
use crate::output::{Format, Section, or_empty, print_json, print_tables, time};

/// Options of `snowdrift history`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The warehouse root (a folder, `file://…` or `s3://bucket/prefix`).
    #[arg(long, value_name = "DIR", global = true)]
    root: Option<String>,
    /// How to print it.
    #[arg(long, value_enum, default_value = "table", global = true)]
    format: Format,
    #[command(subcommand)]
    of: Of,
}

#[derive(Debug, Subcommand)]
enum Of {
    /// Every file loaded (or tried) into a table.
    Copy {
        /// The table.
        #[arg(long)]
        table: String,
    },
    /// The last 1,000 runs of a task.
    Task {
        /// The task.
        #[arg(long)]
        task: String,
    },
}

#[derive(Debug, Serialize)]
struct CopyLine {
    file: String,
    status: LoadStatus,
    size: u64,
    rows_parsed: u64,
    rows_loaded: u64,
    error_count: u64,
    first_error: Option<String>,
    load_time: String,
    note: Option<String>,
}

#[derive(Debug, Serialize)]
struct RunLine {
    task: String,
    graph_run: u64,
    attempt: u32,
    state: TaskRunState,
    scheduled_time: String,
    started: String,
    completed: Option<String>,
    rows_consumed: u64,
    rows_written: u64,
    late_rows: u64,
    rejected_rows: u64,
    error: Option<String>,
}

pub(crate) async fn run(args: Args) -> Result<(), Failure> {
    let root = args.root.ok_or(Failure::Usage {
        flag: "--root",
        message: "the warehouse root is required".into(),
    })?;
    let warehouse = crate::open(&root).await?;
    match args.of {
        Of::Copy { table } => {
            let loads = warehouse
                .copy_history(&table)
                .await
                .map_err(|e| Failure::from_warehouse("--table", e))?;
            let lines: Vec<CopyLine> = loads.into_iter().map(copy_line).collect();
            emit(args.format, &lines, copy_section)
        }
        Of::Task { task } => {
            let runs = warehouse
                .task_history(&task)
                .await
                .map_err(|e| Failure::from_warehouse("--task", e))?;
            let lines: Vec<RunLine> = runs.into_iter().map(run_line).collect();
            emit(args.format, &lines, run_section)
        }
    }
}

/// Prints `lines` as JSON or as the table `section` makes of them.
fn emit<T: Serialize>(
    format: Format,
    lines: &[T],
    section: fn(&[T]) -> Section,
) -> Result<(), Failure> {
    match format {
        Format::Json => print_json(&lines),
        Format::Table => {
            print_tables(&[section(lines)]);
            Ok(())
        }
    }
}

fn copy_line(load: FileLoad) -> CopyLine {
    CopyLine {
        file: load.file,
        status: load.status,
        size: load.size,
        rows_parsed: load.rows_parsed,
        rows_loaded: load.rows_loaded,
        error_count: load.error_count,
        first_error: load.first_error.map(|e| e.to_string()),
        load_time: time(load.load_time),
        note: load.note,
    }
}

fn run_line(run: TaskRun) -> RunLine {
    RunLine {
        task: run.task,
        graph_run: run.graph_run,
        attempt: run.attempt,
        state: run.state,
        scheduled_time: time(run.scheduled_time),
        started: time(run.started),
        completed: run.completed.map(time),
        rows_consumed: run.rows_consumed,
        rows_written: run.rows_written,
        late_rows: run.late_rows,
        rejected_rows: run.rejected_rows,
        error: run.error,
    }
}

fn copy_section(lines: &[CopyLine]) -> Section {
    Section {
        title: "Copy history",
        header: &[
            "file",
            "status",
            "rows loaded",
            "errors",
            "first error",
            "loaded at",
            "note",
        ],
        rows: lines
            .iter()
            .map(|l| {
                vec![
                    l.file.clone(),
                    format!("{:?}", l.status),
                    format!("{} of {}", l.rows_loaded, l.rows_parsed),
                    l.error_count.to_string(),
                    or_empty(l.first_error.as_ref()),
                    l.load_time.clone(),
                    or_empty(l.note.as_ref()),
                ]
            })
            .collect(),
    }
}

fn run_section(lines: &[RunLine]) -> Section {
    Section {
        title: "Task history",
        header: &[
            "graph run",
            "attempt",
            "state",
            "started",
            "completed",
            "consumed",
            "written",
            "rejected",
            "error",
        ],
        rows: lines
            .iter()
            .map(|l| {
                vec![
                    l.graph_run.to_string(),
                    l.attempt.to_string(),
                    format!("{:?}", l.state),
                    l.started.clone(),
                    or_empty(l.completed.as_ref()),
                    l.rows_consumed.to_string(),
                    l.rows_written.to_string(),
                    (l.late_rows + l.rejected_rows).to_string(),
                    or_empty(l.error.as_ref()),
                ]
            })
            .collect(),
    }
}
