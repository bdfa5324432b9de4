//! Conformance scenarios for rejected tables: a merge task applies the good rows and writes
//! bad and late ones, with their reasons, to the target's rejected table in the same run, and
//! never fails on them; under `on_bad_row = fail` a failing run is retried with its attempt
//! numbers in the history and keeps its stream.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};

use super::Fixture;
use super::scenarios::{OrFail, Outcome, check, create, keyed, stream, stream_rows};
use crate::catalog::{
    Column, ColumnType, MergeDef, ObjectDef, TableDef, TableLayout, TaskBody, TaskDef,
};
use crate::rejected;
use crate::rows::sorted_rows;
use crate::{Dml, TaskAction, TaskRunState, Warehouse, WarehouseExt};

fn raw_columns(extra: Column) -> Vec<Column> {
    vec![
        Column::new("id", ColumnType::Number),
        Column::new("email", ColumnType::Varchar),
        extra,
    ]
}

async fn merge_task(w: &dyn Warehouse, prefix: &str, merge: MergeDef, extra: Column) -> Outcome {
    merge_task_with(w, prefix, merge, extra, 0).await
}

async fn merge_task_with(
    w: &dyn Warehouse,
    prefix: &str,
    merge: MergeDef,
    extra: Column,
    retries: u32,
) -> Outcome {
    let (raw, target, source) = (
        format!("{prefix}_raw"),
        format!("{prefix}_target"),
        format!("{prefix}_s"),
    );
    create(w, ObjectDef::Table(TableDef::new(&raw, raw_columns(extra)))).await?;
    create(w, keyed(&target, TableLayout::scd1())).await?;
    create(w, stream(&source, &raw, true, false)).await?;
    let task = TaskDef {
        auto_retry_attempts: retries,
        ..TaskDef::new(format!("{prefix}_task"), TaskBody::Merge(merge))
    };
    create(w, ObjectDef::Task(task)).await?;
    w.alter_task(&format!("{prefix}_task"), TaskAction::Resume)
        .await
        .or_fail()
}

fn rows(
    ids: &[Option<i64>],
    emails: &[&str],
    extra: (&str, Arc<dyn arrow::array::Array>),
) -> RecordBatch {
    RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(ids.to_vec())) as _),
        ("email", Arc::new(StringArray::from(emails.to_vec())) as _),
        extra,
    ])
    .expect("three columns of one length")
}

pub(super) async fn bad_rows_go_to_the_rejected_table(w: &dyn Warehouse, _: &Fixture) -> Outcome {
    let merge = MergeDef {
        operation_column: Some("op".into()),
        ..MergeDef::new("rejects_s", "rejects_target")
    };
    merge_task(w, "rejects", merge, Column::new("op", ColumnType::Varchar)).await?;
    let ops: Arc<dyn arrow::array::Array> = Arc::new(StringArray::from(vec![
        "INSERT", "INSERT", "FOO", " insert ",
    ]));
    let batch = rows(
        &[Some(1), None, Some(2), Some(3)],
        &["a", "b", "c", "d"],
        ("op", ops),
    );
    w.dml("rejects_raw", Dml::Insert(vec![batch]))
        .await
        .or_fail()?;
    let run = w.execute_task("rejects_task").await.or_fail()?;
    check("run", run.state, TaskRunState::Succeeded)?;
    check("rejected rows", run.rejected_rows, 2)?;
    let target = w.table("rejects_target").await.or_fail()?;
    check(
        "target",
        sorted_rows(&target, &["id", "email"]),
        vec!["1|a".into(), "3|d".into()],
    )?;
    let rejected = w.table("rejects_target_rejected").await.or_fail()?;
    check(
        "rejected",
        sorted_rows(
            &rejected,
            &[
                "id",
                "email",
                "op",
                rejected::REASON,
                rejected::SOURCE_STREAM,
            ],
        ),
        vec![
            "2|c|FOO|bad_operation|rejects_s".into(),
            "NULL|b|INSERT|null_key|rejects_s".into(),
        ],
    )?;
    check(
        "stream consumed",
        stream_rows(w, "rejects_s").await?.len(),
        0,
    )
}

pub(super) async fn late_rows_go_to_the_rejected_table(w: &dyn Warehouse, _: &Fixture) -> Outcome {
    let merge = MergeDef {
        sequence: Some("seq".into()),
        ..MergeDef::new("late_s", "late_target")
    };
    merge_task(w, "late", merge, Column::new("seq", ColumnType::Number)).await?;
    for (email, seq) in [("new", 200), ("old", 100)] {
        let seqs: Arc<dyn arrow::array::Array> = Arc::new(Int64Array::from(vec![seq]));
        let batch = rows(&[Some(1)], &[email], ("seq", seqs));
        w.dml("late_raw", Dml::Insert(vec![batch]))
            .await
            .or_fail()?;
        let run = w.execute_task("late_task").await.or_fail()?;
        check("run", run.state, TaskRunState::Succeeded)?;
    }
    let target = w.table("late_target").await.or_fail()?;
    check(
        "target",
        sorted_rows(&target, &["id", "email"]),
        vec!["1|new".into()],
    )?;
    let rejected = w.table("late_target_rejected").await.or_fail()?;
    check(
        "rejected",
        sorted_rows(&rejected, &["id", "email", "seq", rejected::REASON]),
        vec!["1|old|100|late".into()],
    )
}

pub(super) async fn failed_runs_are_retried_with_attempt_numbers(
    w: &dyn Warehouse,
    _: &Fixture,
) -> Outcome {
    // A bad row under on_bad_row = fail fails every attempt the same way.
    let merge = MergeDef {
        operation_column: Some("op".into()),
        on_bad_row: crate::catalog::OnBadRow::Fail,
        ..MergeDef::new("retried_s", "retried_target")
    };
    merge_task_with(
        w,
        "retried",
        merge,
        Column::new("op", ColumnType::Varchar),
        2,
    )
    .await?;
    let ops: Arc<dyn arrow::array::Array> = Arc::new(StringArray::from(vec!["INSERT", "FOO"]));
    let batch = rows(&[Some(1), Some(2)], &["a", "b"], ("op", ops));
    w.dml("retried_raw", Dml::Insert(vec![batch]))
        .await
        .or_fail()?;
    let run = w.execute_task("retried_task").await.or_fail()?;
    check(
        "last attempt",
        (run.state, run.attempt),
        (TaskRunState::Failed, 3),
    )?;
    let history = w.task_history("retried_task").await.or_fail()?;
    let attempts: Vec<u32> = history.iter().map(|r| r.attempt).collect();
    check("attempts in history", attempts, vec![1, 2, 3])?;
    check("stream kept", stream_rows(w, "retried_s").await?.len(), 2)?;
    let target = w.table("retried_target").await.or_fail()?;
    check("target untouched", target.num_rows(), 0)
}
