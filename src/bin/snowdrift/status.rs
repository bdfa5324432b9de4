//! `snowdrift status`: what a warehouse is doing — pipes (the fields of
//! `SYSTEM$PIPE_STATUS`), streams (whether they have data or are stale), tasks (started or
//! suspended, schedule, next run, last run) and tables (rows and where they are kept).

use serde::Serialize;
use snowdrift::warehouse::{
    LocalWarehouse, ObjectDef, PipeExecutionState, TaskRunState, Warehouse, WarehouseError,
};

use crate::Failure;
use crate::output::{Format, Section, or_empty, print_json, print_tables, time};

/// Options of `snowdrift status`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The warehouse root (a folder, `file://…` or `s3://bucket/prefix`).
    #[arg(long, value_name = "DIR")]
    root: String,
    /// How to print it.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

#[derive(Debug, Serialize)]
struct Status {
    tables: Vec<TableLine>,
    pipes: Vec<PipeLine>,
    streams: Vec<StreamLine>,
    tasks: Vec<TaskLine>,
}

#[derive(Debug, Serialize)]
struct TableLine {
    name: String,
    rows: u64,
    /// Bytes of its files on storage.
    bytes: u64,
    rows_in_memory: u64,
    segments: u64,
    retained_changes: u64,
}

#[derive(Debug, Serialize)]
struct PipeLine {
    name: String,
    table: String,
    execution_state: PipeExecutionState,
    pending_file_count: u64,
    last_ingested_file_path: Option<String>,
    last_ingested_timestamp: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct StreamLine {
    name: String,
    table: String,
    has_data: Option<bool>,
    stale: bool,
}

#[derive(Debug, Serialize)]
struct TaskLine {
    name: String,
    state: &'static str,
    schedule: String,
    /// When a resumed root task runs next, as its schedule gives it from its last run.
    next_run: Option<String>,
    last_run_state: Option<TaskRunState>,
    last_run_completed: Option<String>,
    last_error: Option<String>,
}

pub(crate) async fn run(args: Args) -> Result<(), Failure> {
    let warehouse = crate::open(&args.root).await?;
    let status = gather(&warehouse).await.map_err(Failure::Failed)?;
    match args.format {
        Format::Json => print_json(&status),
        Format::Table => {
            print_tables(&sections(&status));
            Ok(())
        }
    }
}

async fn gather(warehouse: &LocalWarehouse) -> Result<Status, String> {
    let mut status = Status {
        tables: Vec::new(),
        pipes: Vec::new(),
        streams: Vec::new(),
        tasks: Vec::new(),
    };
    for object in warehouse.objects().await {
        match object {
            ObjectDef::Table(def) => status.tables.push(table(warehouse, &def.name).await?),
            ObjectDef::Pipe(def) => {
                let s = warehouse
                    .pipe_status(&def.name)
                    .await
                    .map_err(|e| e.to_string())?;
                status.pipes.push(PipeLine {
                    name: def.name,
                    table: def.table,
                    execution_state: s.execution_state,
                    pending_file_count: s.pending_file_count,
                    last_ingested_file_path: s.last_ingested_file_path,
                    last_ingested_timestamp: s.last_ingested_timestamp.map(time),
                    error: s.error,
                });
            }
            ObjectDef::Stream(def) => {
                let (has_data, stale) = match warehouse.stream_has_data(&def.name).await {
                    Ok(has) => (Some(has), false),
                    Err(WarehouseError::StaleStream { .. }) => (None, true),
                    Err(e) => return Err(e.to_string()),
                };
                status.streams.push(StreamLine {
                    name: def.name,
                    table: def.table,
                    has_data,
                    stale,
                });
            }
            ObjectDef::Task(def) => status.tasks.push(task(warehouse, &def).await?),
            _ => {}
        }
    }
    Ok(status)
}

async fn table(warehouse: &LocalWarehouse, name: &str) -> Result<TableLine, String> {
    let storage = warehouse
        .table_storage(name)
        .await
        .map_err(|e| e.to_string())?;
    let bytes = warehouse
        .table_bytes(name)
        .await
        .map_err(|e| e.to_string())?;
    Ok(TableLine {
        name: name.to_owned(),
        rows: storage.rows,
        bytes,
        rows_in_memory: storage.rows_in_memory,
        segments: storage.segments,
        retained_changes: storage.retained_changes,
    })
}

async fn task(
    warehouse: &LocalWarehouse,
    def: &snowdrift::warehouse::TaskDef,
) -> Result<TaskLine, String> {
    let state = warehouse
        .task_state(&def.name)
        .await
        .map_err(|e| e.to_string())?;
    let history = warehouse
        .task_history(&def.name)
        .await
        .map_err(|e| e.to_string())?;
    let last = history.last();
    let schedule = match (&def.schedule, def.after.as_slice()) {
        (Some(schedule), _) => schedule.to_string(),
        (None, []) => "on EXECUTE TASK only".to_owned(),
        (None, after) => format!("AFTER {}", after.join(", ")),
    };
    Ok(TaskLine {
        name: def.name.clone(),
        state: if state.resumed {
            "started"
        } else {
            "suspended"
        },
        schedule,
        next_run: state.next_run.map(time),
        last_run_state: last.map(|r| r.state),
        last_run_completed: last.and_then(|r| r.completed).map(time),
        last_error: last.and_then(|r| r.error.clone()),
    })
}

fn sections(status: &Status) -> Vec<Section> {
    vec![
        Section {
            title: "Tables",
            header: &[
                "name",
                "rows",
                "bytes",
                "rows in memory",
                "segments",
                "retained changes",
            ],
            rows: status
                .tables
                .iter()
                .map(|t| {
                    vec![
                        t.name.clone(),
                        t.rows.to_string(),
                        t.bytes.to_string(),
                        t.rows_in_memory.to_string(),
                        t.segments.to_string(),
                        t.retained_changes.to_string(),
                    ]
                })
                .collect(),
        },
        Section {
            title: "Pipes",
            header: &[
                "name",
                "table",
                "state",
                "pending files",
                "last ingested",
                "at",
                "error",
            ],
            rows: status
                .pipes
                .iter()
                .map(|p| {
                    vec![
                        p.name.clone(),
                        p.table.clone(),
                        format!("{:?}", p.execution_state),
                        p.pending_file_count.to_string(),
                        or_empty(p.last_ingested_file_path.as_ref()),
                        or_empty(p.last_ingested_timestamp.as_ref()),
                        or_empty(p.error.as_ref()),
                    ]
                })
                .collect(),
        },
        Section {
            title: "Streams",
            header: &["name", "table", "has data", "stale"],
            rows: status
                .streams
                .iter()
                .map(|s| {
                    vec![
                        s.name.clone(),
                        s.table.clone(),
                        or_empty(s.has_data),
                        s.stale.to_string(),
                    ]
                })
                .collect(),
        },
        Section {
            title: "Tasks",
            header: &[
                "name",
                "state",
                "schedule",
                "next run",
                "last run",
                "completed",
                "error",
            ],
            rows: status
                .tasks
                .iter()
                .map(|t| {
                    vec![
                        t.name.clone(),
                        t.state.to_owned(),
                        t.schedule.clone(),
                        or_empty(t.next_run.as_ref()),
                        or_empty(t.last_run_state.map(|s| format!("{s:?}"))),
                        or_empty(t.last_run_completed.as_ref()),
                        or_empty(t.last_error.as_ref()),
                    ]
                })
                .collect(),
        },
    ]
}
