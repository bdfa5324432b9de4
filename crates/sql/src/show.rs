//! `SHOW TABLES | STREAMS | TASKS | PIPES [LIKE '…']`: the warehouse's objects of one kind as
//! rows, with what the warehouse knows of each now (rows and bytes of a table, whether a stream
//! is stale, a task's state).

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use snowdrift_warehouse::catalog::{ObjectDef, PipeDef, StreamDef, TableDef, TaskDef};
use snowdrift_warehouse::{LocalWarehouse, Warehouse};

use crate::commands::ShowKind;
use crate::error::Result;

/// Whether `name` matches a `LIKE` pattern (`%` any run, `_` one character), ignoring case
/// as `SHOW … LIKE` does.
fn like_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('%', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('_', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    go(&p, &n)
}

/// Runs `SHOW <kind> [LIKE pattern]`: one row per object of that kind whose name matches.
pub(crate) async fn show(
    warehouse: &LocalWarehouse,
    kind: ShowKind,
    like: Option<&str>,
) -> Result<RecordBatch> {
    let wanted = |name: &str| like.is_none_or(|p| like_matches(p, name));
    let mut listed = Listed::default();
    for object in warehouse.objects().await {
        if wanted(object.name()) {
            listed.add(object);
        }
    }
    match kind {
        ShowKind::Tables => show_tables(warehouse, &listed.tables).await,
        ShowKind::Streams => show_streams(warehouse, &listed.streams).await,
        ShowKind::Tasks => show_tasks(warehouse, &listed.tasks).await,
        ShowKind::Pipes => show_pipes(&listed.pipes),
    }
}

/// The objects `SHOW` can list, by kind.
#[derive(Default)]
struct Listed {
    tables: Vec<TableDef>,
    streams: Vec<StreamDef>,
    tasks: Vec<TaskDef>,
    pipes: Vec<PipeDef>,
}

impl Listed {
    fn add(&mut self, object: ObjectDef) {
        match object {
            ObjectDef::Table(t) => self.tables.push(t),
            ObjectDef::Stream(s) => self.streams.push(s),
            ObjectDef::Task(t) => self.tasks.push(t),
            ObjectDef::Pipe(p) => self.pipes.push(p),
            ObjectDef::FileFormat(_) | ObjectDef::Stage(_) => {}
        }
    }
}

fn text<S: Into<String>>(values: impl IntoIterator<Item = S>) -> ArrayRef {
    Arc::new(StringArray::from(
        values.into_iter().map(Into::into).collect::<Vec<String>>(),
    ))
}

fn optional_text(values: Vec<Option<String>>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

async fn show_tables(warehouse: &LocalWarehouse, tables: &[TableDef]) -> Result<RecordBatch> {
    let (mut rows, mut bytes) = (Vec::new(), Vec::new());
    for table in tables {
        rows.push(warehouse.table_storage(&table.name).await?.rows);
        bytes.push(warehouse.table_bytes(&table.name).await?);
    }
    let schema = Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("cluster_by", DataType::Utf8, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("bytes", DataType::UInt64, false),
        Field::new("retention_time", DataType::UInt64, false),
    ]);
    let columns: Vec<ArrayRef> = vec![
        text(tables.iter().map(|t| t.name.clone())),
        text(tables.iter().map(|_| "TABLE")),
        text(tables.iter().map(|t| t.key.join(", "))),
        Arc::new(UInt64Array::from(rows)),
        Arc::new(UInt64Array::from(bytes)),
        Arc::new(UInt64Array::from(
            tables
                .iter()
                .map(|t| t.retention().as_secs() / 86_400)
                .collect::<Vec<u64>>(),
        )),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

async fn show_streams(warehouse: &LocalWarehouse, streams: &[StreamDef]) -> Result<RecordBatch> {
    let mut stale = Vec::new();
    for stream in streams {
        stale.push(matches!(
            warehouse.stream_has_data(&stream.name).await,
            Err(snowdrift_warehouse::WarehouseError::StaleStream { .. })
        ));
    }
    let schema = Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("mode", DataType::Utf8, false),
        Field::new("stale", DataType::Boolean, false),
    ]);
    let columns: Vec<ArrayRef> = vec![
        text(streams.iter().map(|s| s.name.clone())),
        text(streams.iter().map(|s| s.table.clone())),
        text(streams.iter().map(|_| "DELTA")),
        text(streams.iter().map(|s| {
            if s.append_only {
                "APPEND_ONLY"
            } else {
                "DEFAULT"
            }
        })),
        Arc::new(BooleanArray::from(stale)),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

async fn show_tasks(warehouse: &LocalWarehouse, tasks: &[TaskDef]) -> Result<RecordBatch> {
    let mut states = Vec::new();
    for task in tasks {
        states.push(warehouse.task_state(&task.name).await?);
    }
    let schema = Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("schedule", DataType::Utf8, true),
        Field::new("predecessors", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("condition", DataType::Utf8, true),
        Field::new("definition", DataType::Utf8, false),
    ]);
    let columns: Vec<ArrayRef> = vec![
        text(tasks.iter().map(|t| t.name.clone())),
        optional_text(
            tasks
                .iter()
                .map(|t| t.schedule.as_ref().map(ToString::to_string))
                .collect(),
        ),
        text(tasks.iter().map(|t| t.after.join(", "))),
        text(
            states
                .iter()
                .map(|s| if s.resumed { "started" } else { "suspended" }),
        ),
        optional_text(
            tasks
                .iter()
                .map(|t| {
                    t.when.as_ref().map(|w| match w {
                        snowdrift_warehouse::catalog::TaskCondition::StreamHasData(streams) => {
                            streams
                                .iter()
                                .map(|s| format!("SYSTEM$STREAM_HAS_DATA('{s}')"))
                                .collect::<Vec<_>>()
                                .join(" OR ")
                        }
                    })
                })
                .collect(),
        ),
        text(tasks.iter().map(|t| {
            let snowdrift_warehouse::catalog::TaskBody::Merge(merge) = &t.body;
            format!("MERGE INTO {} FROM {}", merge.target, merge.source)
        })),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

fn show_pipes(pipes: &[PipeDef]) -> Result<RecordBatch> {
    let schema = Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("definition", DataType::Utf8, false),
        Field::new("auto_ingest", DataType::Boolean, false),
        Field::new("pattern", DataType::Utf8, true),
    ]);
    let columns: Vec<ArrayRef> = vec![
        text(pipes.iter().map(|p| p.name.clone())),
        text(
            pipes
                .iter()
                .map(|p| format!("COPY INTO {} FROM @{}", p.table, p.stage)),
        ),
        Arc::new(BooleanArray::from(
            pipes.iter().map(|p| p.auto_ingest).collect::<Vec<_>>(),
        )),
        optional_text(pipes.iter().map(|p| p.pattern.clone()).collect()),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_ignoring_case() {
        assert!(like_matches("CUSTOMER%", "customer_history"));
        assert!(like_matches("c_stomer", "customer"));
        assert!(!like_matches("cust", "customer"));
    }
}
