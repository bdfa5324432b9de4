//! The scenarios of the conformance suite. Each creates its own objects (named after it), so
//! all of them can run in one warehouse, and checks results as rows and counts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, BooleanArray, Int64Array, RecordBatch, StringArray};
use object_store::ObjectStoreExt as _;
use object_store::path::Path;

use super::reads::scan_columns_and_keys;
use super::rejects::{
    bad_rows_go_to_the_rejected_table, failed_runs_are_retried_with_attempt_numbers,
    late_rows_go_to_the_rejected_table,
};
use super::{Fixture, Scenario};
use crate::catalog::{
    Column, ColumnType, CreateMode, FileFormatDef, MergeDef, ObjectDef, ObjectKind, OnBadRow,
    OnError, PipeDef, StageDef, StreamDef, TableDef, TableLayout, TaskBody, TaskDef,
};
use crate::error::WarehouseError;
use crate::load::CsvFileFormat;
use crate::rows::sorted_rows;
use crate::{
    Capabilities, CopyOptions, Dml, LoadStatus, TaskAction, TaskRunState, Warehouse, WarehouseExt,
};

pub(super) type Outcome = Result<(), String>;

/// A scenario named after its function, so a report names the function that failed.
macro_rules! scenario {
    ($run:ident, $needs:expr) => {
        Scenario {
            name: stringify!($run),
            needs: $needs,
            run: |w, f| Box::pin($run(w, f)),
        }
    };
}

pub(super) fn all() -> Vec<Scenario> {
    let any = |_: &Capabilities| true;
    let streams = |c: &Capabilities| c.streams;
    let tasks = |c: &Capabilities| c.streams && c.tasks;
    let pipes = |c: &Capabilities| c.pipes;
    vec![
        scenario!(objects, any),
        scenario!(stream_netting, streams),
        scenario!(append_only_and_initial_rows, streams),
        scenario!(merge_consumes_atomically, tasks),
        scenario!(original_flow_defects_fixed, tasks),
        scenario!(copy_once, any),
        scenario!(copy_on_error, any),
        scenario!(failed_task_keeps_its_stream, tasks),
        scenario!(pipe_loads_new_files, pipes),
        scenario!(bad_rows_go_to_the_rejected_table, tasks),
        scenario!(late_rows_go_to_the_rejected_table, tasks),
        scenario!(scan_columns_and_keys, any),
        scenario!(failed_runs_are_retried_with_attempt_numbers, tasks),
    ]
}

pub(super) fn check<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Outcome {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

/// A scenario's step that failed, with the line of the scenario it failed at.
pub(super) trait OrFail<T> {
    /// The step's value, or its error as the scenario's failure, naming the caller's line.
    fn or_fail(self) -> Result<T, String>;
}

impl<T, E: std::fmt::Display> OrFail<T> for Result<T, E> {
    #[track_caller]
    fn or_fail(self) -> Result<T, String> {
        let at = std::panic::Location::caller();
        self.map_err(|e| format!("{e} (at {}:{})", at.file(), at.line()))
    }
}

fn columns() -> Vec<Column> {
    vec![
        Column::new("id", ColumnType::Number).not_null(),
        Column::new("email", ColumnType::Varchar),
    ]
}

pub(super) fn people(ids: &[i64], emails: &[Option<&str>]) -> RecordBatch {
    RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(ids.to_vec())) as _),
        ("email", Arc::new(StringArray::from(emails.to_vec())) as _),
    ])
    .expect("two columns of one length")
}

fn changes(ids: &[i64], emails: &[Option<&str>], ops: &[&str]) -> RecordBatch {
    RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(ids.to_vec())) as _),
        ("email", Arc::new(StringArray::from(emails.to_vec())) as _),
        ("op", Arc::new(StringArray::from(ops.to_vec())) as _),
    ])
    .expect("three columns of one length")
}

pub(super) async fn create(w: &dyn Warehouse, object: ObjectDef) -> Outcome {
    w.create(object, CreateMode::OrReplace).await.or_fail()
}

pub(super) fn keyed(name: &str, layout: TableLayout) -> ObjectDef {
    ObjectDef::Table(
        TableDef::new(name, columns())
            .with_key(["id"])
            .with_layout(layout),
    )
}

pub(super) fn stream(
    name: &str,
    table: &str,
    append_only: bool,
    show_initial_rows: bool,
) -> ObjectDef {
    ObjectDef::Stream(StreamDef {
        name: name.into(),
        table: table.into(),
        append_only,
        show_initial_rows,
    })
}

/// Stream rows as `action|isupdate|id|email`, sorted.
pub(super) async fn stream_rows(w: &dyn Warehouse, name: &str) -> Result<Vec<String>, String> {
    let batch = w.stream(name).await.or_fail()?;
    Ok(sorted_rows(
        &batch,
        &["METADATA$ACTION", "METADATA$ISUPDATE", "id", "email"],
    ))
}

async fn objects(w: &dyn Warehouse, _: &Fixture) -> Outcome {
    let table = ObjectDef::Table(TableDef::new("objects_t", columns()));
    w.drop_object(ObjectKind::Table, "objects_t", true)
        .await
        .or_fail()?;
    w.create(table.clone(), CreateMode::Create)
        .await
        .or_fail()?;
    match w.create(table.clone(), CreateMode::Create).await {
        Err(WarehouseError::AlreadyExists { .. }) => {}
        other => return Err(format!("creating a table twice: {other:?}")),
    }
    w.create(table.clone(), CreateMode::IfNotExists)
        .await
        .or_fail()?;
    w.dml("objects_t", Dml::Insert(vec![people(&[1], &[Some("a")])]))
        .await
        .or_fail()?;
    w.create(table, CreateMode::OrReplace).await.or_fail()?;
    check(
        "rows after OR REPLACE",
        w.table("objects_t").await.or_fail()?.num_rows(),
        0,
    )?;
    match w
        .dml("objects_t", Dml::Update(vec![people(&[1], &[Some("b")])]))
        .await
    {
        Err(WarehouseError::Unsupported { .. }) => {}
        other => return Err(format!("an update of a table without a key: {other:?}")),
    }
    w.drop_object(ObjectKind::Table, "objects_t", false)
        .await
        .or_fail()?;
    match w.drop_object(ObjectKind::Table, "objects_t", false).await {
        Err(WarehouseError::NotFound { .. }) => {}
        other => return Err(format!("dropping a missing table: {other:?}")),
    }
    w.drop_object(ObjectKind::Table, "objects_t", true)
        .await
        .or_fail()?;
    match w
        .create(
            ObjectDef::Table(TableDef::new("bad name;--", columns())),
            CreateMode::Create,
        )
        .await
    {
        Err(WarehouseError::InvalidDefinition { .. }) => Ok(()),
        other => Err(format!("a name with SQL in it: {other:?}")),
    }
}

async fn stream_netting(w: &dyn Warehouse, _: &Fixture) -> Outcome {
    create(w, keyed("netting_t", TableLayout::Plain)).await?;
    let dml = |change| w.dml("netting_t", change);
    dml(Dml::Insert(vec![people(
        &[2, 3],
        &[Some("two"), Some("three")],
    )]))
    .await
    .or_fail()?;
    for s in ["netting_s1", "netting_s2", "netting_s3"] {
        create(w, stream(s, "netting_t", false, false)).await?;
    }
    // s1: inserted then deleted → nothing; inserted then updated → one INSERT, latest values.
    dml(Dml::Insert(vec![people(
        &[1, 4],
        &[Some("one"), Some("four")],
    )]))
    .await
    .or_fail()?;
    dml(Dml::Delete(people(&[1], &[None]))).await.or_fail()?;
    dml(Dml::Update(vec![people(&[4], &[Some("four-b")])]))
        .await
        .or_fail()?;
    // 2: updated then deleted → the DELETE of its original values.
    dml(Dml::Update(vec![people(&[2], &[Some("two-b")])]))
        .await
        .or_fail()?;
    dml(Dml::Delete(people(&[2], &[None]))).await.or_fail()?;
    // 3: updated twice → one pair, oldest to newest.
    dml(Dml::Update(vec![people(&[3], &[Some("three-b")])]))
        .await
        .or_fail()?;
    dml(Dml::Update(vec![people(&[3], &[None])]))
        .await
        .or_fail()?;
    let want = vec![
        "DELETE|false|2|two".to_string(),
        "DELETE|true|3|three".into(),
        "INSERT|false|4|four-b".into(),
        "INSERT|true|3|NULL".into(),
    ];
    for s in ["netting_s1", "netting_s2", "netting_s3"] {
        check(s, stream_rows(w, s).await?, want.clone())?;
    }
    check(
        "has data",
        w.stream_has_data("netting_s1").await.or_fail()?,
        true,
    )
}

async fn append_only_and_initial_rows(w: &dyn Warehouse, _: &Fixture) -> Outcome {
    create(w, keyed("append_t", TableLayout::Plain)).await?;
    w.dml("append_t", Dml::Insert(vec![people(&[1], &[Some("one")])]))
        .await
        .or_fail()?;
    create(w, stream("append_s", "append_t", true, false)).await?;
    create(w, stream("append_initial", "append_t", false, true)).await?;
    w.dml("append_t", Dml::Insert(vec![people(&[2], &[Some("two")])]))
        .await
        .or_fail()?;
    w.dml(
        "append_t",
        Dml::Update(vec![people(&[2], &[Some("two-b")])]),
    )
    .await
    .or_fail()?;
    w.dml("append_t", Dml::Delete(people(&[1], &[None])))
        .await
        .or_fail()?;
    check(
        "append-only",
        stream_rows(w, "append_s").await?,
        vec!["INSERT|false|2|two".to_string()],
    )?;
    check(
        "initial rows",
        stream_rows(w, "append_initial").await?,
        vec!["INSERT|false|2|two-b".to_string()],
    )
}

async fn merge_consumes_atomically(w: &dyn Warehouse, _: &Fixture) -> Outcome {
    create(w, ObjectDef::Table(TableDef::new("consume_raw", columns()))).await?;
    create(w, keyed("consume_current", TableLayout::scd1())).await?;
    create(w, stream("consume_s", "consume_raw", true, false)).await?;
    let merge = MergeDef::new("consume_s", "consume_current");
    create(
        w,
        ObjectDef::Task(TaskDef::new("consume_task", TaskBody::Merge(merge))),
    )
    .await?;
    let rows = people(&[1, 2, 1], &[Some("a"), Some("b"), Some("a2")]);
    w.dml("consume_raw", Dml::Insert(vec![rows]))
        .await
        .or_fail()?;
    let first = stream_rows(w, "consume_s").await?;
    check(
        "a read does not consume",
        stream_rows(w, "consume_s").await?,
        first.clone(),
    )?;
    check("rows in the stream", first.len(), 3)?;
    let run = w.execute_task("consume_task").await.or_fail()?;
    check("run state", run.state, TaskRunState::Succeeded)?;
    check("consumed", run.rows_consumed, 3)?;
    check(
        "stream after the merge",
        stream_rows(w, "consume_s").await?,
        Vec::<String>::new(),
    )?;
    let current = w.table("consume_current").await.or_fail()?;
    check(
        "target",
        sorted_rows(&current, &["id", "email"]),
        vec!["1|a2".to_string(), "2|b".into()],
    )?;
    check(
        "raw is kept",
        w.table("consume_raw").await.or_fail()?.num_rows(),
        3,
    )
}

async fn original_flow_defects_fixed(w: &dyn Warehouse, _: &Fixture) -> Outcome {
    let mut raw_columns = columns();
    raw_columns.push(Column::new("op", ColumnType::Varchar));
    create(w, ObjectDef::Table(TableDef::new("flow_raw", raw_columns))).await?;
    create(w, keyed("flow_customer", TableLayout::scd1())).await?;
    create(w, keyed("flow_history", TableLayout::scd2())).await?;
    create(w, stream("flow_raw_s", "flow_raw", true, false)).await?;
    create(w, stream("flow_changes", "flow_customer", false, false)).await?;
    let scd1 = MergeDef {
        operation_column: Some("op".into()),
        ..MergeDef::new("flow_raw_s", "flow_customer")
    };
    let scd2 = MergeDef {
        sequence: Some("update_timestamp".into()),
        ..MergeDef::new("flow_changes", "flow_history")
    };
    create(
        w,
        ObjectDef::Task(TaskDef::new("flow_scd1", TaskBody::Merge(scd1))),
    )
    .await?;
    let child = TaskDef::new("flow_scd2", TaskBody::Merge(scd2)).with_after(["flow_scd1"]);
    create(w, ObjectDef::Task(child)).await?;
    w.alter_task("flow_scd2", TaskAction::Resume)
        .await
        .or_fail()?;
    let steps = [
        // duplicate key 1 in one batch: the later row wins, deterministically
        changes(
            &[1, 2, 3, 1],
            &[Some("a"), Some("b"), None, Some("a1")],
            &["INSERT"; 4],
        ),
        // a change from NULL, a change to NULL, a no-op
        changes(&[3, 2, 1], &[Some("c"), None, Some("a1")], &["UPDATE"; 3]),
        // a delete is a logical delete in history
        changes(&[1], &[None], &["DELETE"]),
        // the deleted key comes back: a new version, never a second current row
        changes(&[1], &[Some("z")], &["INSERT"]),
    ];
    for step in steps {
        w.dml("flow_raw", Dml::Insert(vec![step])).await.or_fail()?;
        let run = w.execute_task("flow_scd1").await.or_fail()?;
        check("scd1 run", run.state, TaskRunState::Succeeded)?;
        let child = w.task_history("flow_scd2").await.or_fail()?;
        check(
            "scd2 ran after scd1",
            child.last().map(|r| r.state),
            Some(TaskRunState::Succeeded),
        )?;
    }
    let customer = w.table("flow_customer").await.or_fail()?;
    check(
        "customer",
        sorted_rows(&customer, &["id", "email"]),
        vec!["1|z".to_string(), "2|NULL".into(), "3|c".into()],
    )?;
    let history = w.table("flow_history").await.or_fail()?;
    check(
        "history",
        sorted_rows(&history, &["id", "email", "is_current"]),
        vec![
            "1|a1|false".to_string(),
            "1|z|true".into(),
            "2|NULL|true".into(),
            "2|b|false".into(),
            "3|NULL|false".into(),
            "3|c|true".into(),
        ],
    )?;
    check_intervals(&history)
}

/// Per key: versions do not overlap, each closed one ends no later than the next starts, and
/// exactly the open one is current.
fn check_intervals(history: &RecordBatch) -> Outcome {
    let column = |name: &str| {
        history
            .column_by_name(name)
            .ok_or(format!("no column {name}"))
    };
    let ids = column("id")?
        .as_primitive::<arrow::datatypes::Int64Type>()
        .clone();
    let start = column("start_time")?
        .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
        .clone();
    let end = column("end_time")?
        .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
        .clone();
    let current: BooleanArray = column("is_current")?.as_boolean().clone();
    let mut rows: Vec<(i64, i64, i64, bool)> = (0..history.num_rows())
        .map(|i| (ids.value(i), start.value(i), end.value(i), current.value(i)))
        .collect();
    rows.sort_unstable();
    for pair in rows.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if a.0 == b.0 && a.2 > b.1 {
            return Err(format!("key {}: versions overlap: {a:?} then {b:?}", a.0));
        }
    }
    for r in &rows {
        let open = r.2 == snowdrift_scd::OPEN_END_MICROS;
        if r.3 != open || r.2 <= r.1 {
            return Err(format!("key {}: bad interval or current flag: {r:?}", r.0));
        }
    }
    Ok(())
}

/// A stage in its own folder of the fixture, with a CSV format that has a header.
async fn stage_for(w: &dyn Warehouse, f: &Fixture, name: &str) -> Result<Path, String> {
    let folder = if f.stage.prefix().is_empty() {
        Path::from(name)
    } else {
        Path::from(format!("{}/{name}", f.stage.prefix()))
    };
    create(
        w,
        ObjectDef::FileFormat(FileFormatDef {
            name: format!("{name}_format"),
            csv: CsvFileFormat::staged(),
        }),
    )
    .await?;
    create(
        w,
        ObjectDef::Stage(StageDef {
            name: name.into(),
            url: format!("{}/{name}", f.stage_url.trim_end_matches('/')),
            file_format: Some(format!("{name}_format")),
        }),
    )
    .await?;
    Ok(folder)
}

async fn put(f: &Fixture, folder: &Path, file: &str, body: &str) -> Outcome {
    f.stage
        .store()
        .put(&folder.clone().join(file), body.to_string().into())
        .await
        .map(|_| ())
        .or_fail()
}

async fn copy_once(w: &dyn Warehouse, f: &Fixture) -> Outcome {
    let folder = stage_for(w, f, "copy_once").await?;
    create(w, ObjectDef::Table(TableDef::new("copy_once_t", columns()))).await?;
    put(f, &folder, "a.csv", "id,email\n1,a\n2,b\n").await?;
    put(f, &folder, "b.csv", "id,email\n3,c\n").await?;
    let copy = || w.copy_into("copy_once_t", "copy_once", CopyOptions::default());
    let first = copy().await.or_fail()?;
    check(
        "first copy",
        first.iter().map(|l| l.status).collect::<Vec<_>>(),
        vec![LoadStatus::Loaded; 2],
    )?;
    let second = copy().await.or_fail()?;
    check(
        "second copy",
        second.iter().map(|l| l.status).collect::<Vec<_>>(),
        vec![LoadStatus::LoadSkipped; 2],
    )?;
    put(f, &folder, "b.csv", "id,email\n3,c\n4,d\n").await?;
    let third = copy().await.or_fail()?;
    let rewritten = third
        .iter()
        .find(|l| l.status == LoadStatus::Loaded)
        .ok_or("the rewritten file was not loaded")?;
    check("rewritten rows", rewritten.rows_loaded, 2)?;
    if !rewritten
        .note
        .as_deref()
        .unwrap_or("")
        .contains("rewritten")
    {
        return Err(format!(
            "a rewritten file is reported, got note {:?}",
            rewritten.note
        ));
    }
    check(
        "rows",
        w.table("copy_once_t").await.or_fail()?.num_rows(),
        5,
    )?;
    let forced = w
        .copy_into(
            "copy_once_t",
            "copy_once",
            CopyOptions {
                force: true,
                ..CopyOptions::default()
            },
        )
        .await
        .or_fail()?;
    check(
        "forced loads",
        forced
            .iter()
            .filter(|l| l.status == LoadStatus::Loaded)
            .count(),
        2,
    )?;
    check(
        "history entries",
        w.copy_history("copy_once_t").await.or_fail()?.len(),
        5,
    )
}

async fn copy_on_error(w: &dyn Warehouse, f: &Fixture) -> Outcome {
    let folder = stage_for(w, f, "on_error").await?;
    put(f, &folder, "good.csv", "id,email\n1,a\n2,b\n").await?;
    put(f, &folder, "bad.csv", "id,email\n3,c\nfour,d\n5,e\n").await?;
    for t in ["on_error_abort", "on_error_skip", "on_error_continue"] {
        create(w, ObjectDef::Table(TableDef::new(t, columns()))).await?;
    }
    match w
        .copy_into("on_error_abort", "on_error", CopyOptions::default())
        .await
    {
        Err(WarehouseError::CopyAborted { first_error, .. }) => {
            check("abort line", first_error.line, 3)?;
            check("abort column", first_error.column.as_deref(), Some("id"))?;
        }
        other => return Err(format!("ABORT_STATEMENT: {other:?}")),
    }
    check(
        "nothing loaded on abort",
        w.table("on_error_abort").await.or_fail()?.num_rows(),
        0,
    )?;
    let options = |on_error| CopyOptions {
        on_error,
        ..CopyOptions::default()
    };
    let skip = w
        .copy_into("on_error_skip", "on_error", options(OnError::SkipFile))
        .await
        .or_fail()?;
    let mut statuses: Vec<_> = skip
        .iter()
        .map(|l| {
            (
                l.file.rsplit('/').next().unwrap_or("").to_string(),
                l.status,
            )
        })
        .collect();
    statuses.sort_by(|a, b| a.0.cmp(&b.0));
    check(
        "SKIP_FILE",
        statuses,
        vec![
            ("bad.csv".into(), LoadStatus::LoadFailed),
            ("good.csv".into(), LoadStatus::Loaded),
        ],
    )?;
    check(
        "rows after SKIP_FILE",
        w.table("on_error_skip").await.or_fail()?.num_rows(),
        2,
    )?;
    let cont = w
        .copy_into("on_error_continue", "on_error", options(OnError::Continue))
        .await
        .or_fail()?;
    let bad = cont
        .iter()
        .find(|l| l.file.ends_with("bad.csv"))
        .ok_or("bad.csv not reported")?;
    check("CONTINUE status", bad.status, LoadStatus::PartiallyLoaded)?;
    check(
        "CONTINUE counts",
        (bad.rows_parsed, bad.rows_loaded, bad.error_count),
        (3, 2, 1),
    )?;
    check(
        "rows after CONTINUE",
        w.table("on_error_continue").await.or_fail()?.num_rows(),
        4,
    )
}

async fn failed_task_keeps_its_stream(w: &dyn Warehouse, _: &Fixture) -> Outcome {
    let nullable = vec![
        Column::new("id", ColumnType::Number),
        Column::new("email", ColumnType::Varchar),
    ];
    create(w, ObjectDef::Table(TableDef::new("failing_raw", nullable))).await?;
    create(w, keyed("failing_target", TableLayout::scd1())).await?;
    create(w, stream("failing_s", "failing_raw", true, false)).await?;
    let task = TaskDef {
        suspend_after_failures: 2,
        ..TaskDef::new(
            "failing_task",
            TaskBody::Merge(MergeDef {
                on_bad_row: OnBadRow::Fail,
                ..MergeDef::new("failing_s", "failing_target")
            }),
        )
    };
    create(w, ObjectDef::Task(task)).await?;
    let bad = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(vec![Some(1), None])) as _),
        (
            "email",
            Arc::new(StringArray::from(vec!["a", "b"])) as Arc<dyn Array>,
        ),
    ])
    .or_fail()?;
    w.dml("failing_raw", Dml::Insert(vec![bad]))
        .await
        .or_fail()?;
    w.alter_task("failing_task", TaskAction::Resume)
        .await
        .or_fail()?;
    let first = w.execute_task("failing_task").await.or_fail()?;
    check("first run", first.state, TaskRunState::Failed)?;
    if first.error.is_none() {
        return Err("a failed run says why".into());
    }
    check("stream kept", stream_rows(w, "failing_s").await?.len(), 2)?;
    check(
        "target untouched",
        w.table("failing_target").await.or_fail()?.num_rows(),
        0,
    )?;
    let second = w.execute_task("failing_task").await.or_fail()?;
    check(
        "second run",
        second.state,
        TaskRunState::FailedAndAutoSuspended,
    )?;
    check(
        "history",
        w.task_history("failing_task").await.or_fail()?.len(),
        2,
    )
}

async fn pipe_loads_new_files(w: &dyn Warehouse, f: &Fixture) -> Outcome {
    let folder = stage_for(w, f, "piped").await?;
    create(w, ObjectDef::Table(TableDef::new("piped_t", columns()))).await?;
    let pipe = PipeDef {
        name: "piped_pipe".into(),
        stage: "piped".into(),
        table: "piped_t".into(),
        file_format: None,
        on_error: OnError::SkipFile,
        auto_ingest: true,
        pattern: Some("*.csv".into()),
    };
    create(w, ObjectDef::Pipe(pipe)).await?;
    put(f, &folder, "one.csv", "id,email\n1,a\n").await?;
    put(f, &folder, "skip.txt", "not a csv file").await?;
    w.refresh_pipe("piped_pipe").await.or_fail()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while w.copy_history("piped_t").await.or_fail()?.is_empty() {
        if Instant::now() > deadline {
            return Err(format!(
                "the pipe loaded nothing in 30 s: {:?}",
                w.pipe_status("piped_pipe").await
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let history = w.copy_history("piped_t").await.or_fail()?;
    check("files loaded", history.len(), 1)?;
    check("rows", w.table("piped_t").await.or_fail()?.num_rows(), 1)?;
    let status = w.pipe_status("piped_pipe").await.or_fail()?;
    check("pending", status.pending_file_count, 0)?;
    check(
        "last file",
        status
            .last_ingested_file_path
            .map(|p| p.ends_with("one.csv")),
        Some(true),
    )
}

#[cfg(test)]
mod tests {
    use super::OrFail;

    #[test]
    fn a_failed_step_names_the_line_it_failed_at() {
        let line = line!() + 1;
        let failure = Err::<(), _>("boom").or_fail().unwrap_err();
        assert_eq!(failure, format!("boom (at {}:{line})", file!()));
    }
}
