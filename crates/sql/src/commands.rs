//! Object commands, run by the warehouse itself: `ALTER TASK … RESUME | SUSPEND`,
//! `EXECUTE TASK …`, `ALTER PIPE … REFRESH`, `ALTER PIPE … SET PIPE_EXECUTION_PAUSED = …` and
//! `SHOW TABLES | STREAMS | TASKS | PIPES [LIKE '…']`.
//!
//! They are recognised on sqlparser's tokens (its parser knows none of Snowflake's task and
//! pipe commands); object names follow the identifier rule of `rewrite`.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::sql::sqlparser::dialect::SnowflakeDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Word};
use snowdrift_warehouse::catalog::ObjectDef;
use snowdrift_warehouse::{LocalWarehouse, PipeAction, TaskAction, Warehouse};

use crate::error::{Result, SqlError};
use crate::rewrite::resolve;

/// What the object commands support, for errors.
pub(crate) const SUPPORTED: &str = "Supported object commands: ALTER TASK <name> RESUME | SUSPEND; EXECUTE TASK <name>; ALTER PIPE <name> REFRESH; ALTER PIPE <name> SET PIPE_EXECUTION_PAUSED = TRUE | FALSE; SHOW TABLES | STREAMS | TASKS | PIPES [LIKE '<pattern>'].";

/// An object command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    AlterTask {
        task: String,
        action: TaskAction,
    },
    ExecuteTask {
        task: String,
    },
    RefreshPipe {
        pipe: String,
    },
    PausePipe {
        pipe: String,
        paused: bool,
    },
    Show {
        kind: ShowKind,
        like: Option<String>,
    },
}

/// What `SHOW` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShowKind {
    Tables,
    Streams,
    Tasks,
    Pipes,
}

/// A token of a command: a word (keyword or name, resolved) or something else.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Word { upper: String, name: String },
    Text(String),
    Other(String),
}

fn parts(sql: &str) -> Result<Vec<Part>> {
    let tokens = Tokenizer::new(&SnowflakeDialect {}, sql)
        .tokenize()
        .map_err(|e| SqlError::Parse {
            message: e.to_string(),
        })?;
    Ok(tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .map(|t| match t {
            Token::Word(Word {
                value, quote_style, ..
            }) => {
                let ident = datafusion::sql::sqlparser::ast::Ident {
                    value: value.clone(),
                    quote_style,
                    span: datafusion::sql::sqlparser::tokenizer::Span::empty(),
                };
                Part::Word {
                    upper: value.to_uppercase(),
                    name: resolve(&ident),
                }
            }
            Token::SingleQuotedString(s) => Part::Text(s),
            other => Part::Other(other.to_string()),
        })
        .collect())
}

fn upper(part: Option<&Part>) -> Option<&str> {
    match part {
        Some(Part::Word { upper, .. }) => Some(upper),
        _ => None,
    }
}

/// The object command `sql` is, if it is one; an error if it starts like one and is wrong.
pub(crate) fn parse(sql: &str) -> Result<Option<Command>> {
    let parts = parts(sql)?;
    let words: Vec<Option<&str>> = parts.iter().map(|p| upper(Some(p))).collect();
    let first_two = (
        words.first().copied().flatten(),
        words.get(1).copied().flatten(),
    );
    let command = match first_two {
        (Some("ALTER"), Some("TASK")) => alter_task(&parts[2..])?,
        (Some("EXECUTE"), Some("TASK")) => match &parts[2..] {
            [Part::Word { name, .. }] => Command::ExecuteTask { task: name.clone() },
            _ => return Err(malformed("EXECUTE TASK <name>")),
        },
        (Some("ALTER"), Some("PIPE")) => alter_pipe(&parts[2..])?,
        (Some("SHOW"), Some(kind @ ("TABLES" | "STREAMS" | "TASKS" | "PIPES"))) => {
            let kind = match kind {
                "TABLES" => ShowKind::Tables,
                "STREAMS" => ShowKind::Streams,
                "TASKS" => ShowKind::Tasks,
                _ => ShowKind::Pipes,
            };
            let like = match &parts[2..] {
                [] => None,
                [word, Part::Text(pattern)] if upper(Some(word)) == Some("LIKE") => {
                    Some(pattern.clone())
                }
                _ => {
                    return Err(malformed(
                        "SHOW TABLES | STREAMS | TASKS | PIPES [LIKE '<pattern>']",
                    ));
                }
            };
            Command::Show { kind, like }
        }
        (Some("ALTER" | "EXECUTE"), _) => {
            return Err(SqlError::unsupported(sql.trim().to_owned(), SUPPORTED));
        }
        _ => return Ok(None),
    };
    Ok(Some(command))
}

/// `[IF EXISTS] <name>` then the rest.
fn name_and_rest(parts: &[Part]) -> Option<(String, &[Part])> {
    let parts = match parts {
        [if_, exists, rest @ ..]
            if upper(Some(if_)) == Some("IF") && upper(Some(exists)) == Some("EXISTS") =>
        {
            rest
        }
        _ => parts,
    };
    match parts {
        [Part::Word { name, .. }, rest @ ..] => Some((name.clone(), rest)),
        _ => None,
    }
}

fn alter_task(parts: &[Part]) -> Result<Command> {
    let form = "ALTER TASK <name> RESUME | SUSPEND";
    let (task, rest) = name_and_rest(parts).ok_or_else(|| malformed(form))?;
    let action = match rest.iter().map(|p| upper(Some(p))).collect::<Vec<_>>()[..] {
        [Some("RESUME")] => TaskAction::Resume,
        [Some("SUSPEND")] => TaskAction::Suspend,
        _ => return Err(malformed(form)),
    };
    Ok(Command::AlterTask { task, action })
}

fn alter_pipe(parts: &[Part]) -> Result<Command> {
    let form = "ALTER PIPE <name> REFRESH | SET PIPE_EXECUTION_PAUSED = TRUE | FALSE";
    let (pipe, rest) = name_and_rest(parts).ok_or_else(|| malformed(form))?;
    let words: Vec<Option<&str>> = rest.iter().map(|p| upper(Some(p))).collect();
    let equals = matches!(rest.get(2), Some(Part::Other(t)) if t == "=");
    match words[..] {
        [Some("REFRESH")] => Ok(Command::RefreshPipe { pipe }),
        [
            Some("SET"),
            Some("PIPE_EXECUTION_PAUSED"),
            None,
            Some(value),
        ] if equals => {
            let paused = match value {
                "TRUE" => true,
                "FALSE" => false,
                _ => return Err(malformed(form)),
            };
            Ok(Command::PausePipe { pipe, paused })
        }
        _ => Err(malformed(form)),
    }
}

fn malformed(form: &str) -> SqlError {
    SqlError::Parse {
        message: format!("expected {form}"),
    }
}

/// A one-column `status` result.
fn status(text: String) -> Result<RecordBatch> {
    Ok(RecordBatch::try_from_iter(vec![(
        "status",
        Arc::new(StringArray::from(vec![text])) as ArrayRef,
    )])?)
}

/// Runs `command`.
pub(crate) async fn run(warehouse: &LocalWarehouse, command: Command) -> Result<RecordBatch> {
    match command {
        Command::AlterTask { task, action } => {
            warehouse.alter_task(&task, action).await?;
            status("Statement executed successfully.".into())
        }
        Command::ExecuteTask { task } => {
            let run = warehouse.execute_task(&task).await?;
            let mut text = format!(
                "Task {} ran: {:?}, {} rows consumed, {} written",
                run.task, run.state, run.rows_consumed, run.rows_written
            );
            if let Some(error) = &run.error {
                text.push_str(": ");
                text.push_str(error);
            }
            status(text)
        }
        Command::RefreshPipe { pipe } => {
            let queued = warehouse.refresh_pipe(&pipe).await?;
            status(format!("{queued} files queued for loading"))
        }
        Command::PausePipe { pipe, paused } => {
            let action = if paused {
                PipeAction::Pause
            } else {
                PipeAction::Resume
            };
            warehouse.alter_pipe(&pipe, action).await?;
            status("Statement executed successfully.".into())
        }
        Command::Show { kind, like } => show(warehouse, kind, like.as_deref()).await,
    }
}

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

async fn show(
    warehouse: &LocalWarehouse,
    kind: ShowKind,
    like: Option<&str>,
) -> Result<RecordBatch> {
    let wanted = |name: &str| like.is_none_or(|p| like_matches(p, name));
    let objects: Vec<ObjectDef> = warehouse
        .objects()
        .await
        .into_iter()
        .filter(|o| wanted(o.name()))
        .collect();
    match kind {
        ShowKind::Tables => show_tables(warehouse, &objects).await,
        ShowKind::Streams => show_streams(warehouse, &objects).await,
        ShowKind::Tasks => show_tasks(warehouse, &objects).await,
        ShowKind::Pipes => show_pipes(&objects),
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

async fn show_tables(warehouse: &LocalWarehouse, objects: &[ObjectDef]) -> Result<RecordBatch> {
    let tables: Vec<_> = objects
        .iter()
        .filter_map(|o| match o {
            ObjectDef::Table(t) => Some(t),
            _ => None,
        })
        .collect();
    let (mut rows, mut bytes) = (Vec::new(), Vec::new());
    for table in &tables {
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

async fn show_streams(warehouse: &LocalWarehouse, objects: &[ObjectDef]) -> Result<RecordBatch> {
    let streams: Vec<_> = objects
        .iter()
        .filter_map(|o| match o {
            ObjectDef::Stream(s) => Some(s),
            _ => None,
        })
        .collect();
    let mut stale = Vec::new();
    for stream in &streams {
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

async fn show_tasks(warehouse: &LocalWarehouse, objects: &[ObjectDef]) -> Result<RecordBatch> {
    let tasks: Vec<_> = objects
        .iter()
        .filter_map(|o| match o {
            ObjectDef::Task(t) => Some(t),
            _ => None,
        })
        .collect();
    let mut states = Vec::new();
    for task in &tasks {
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

fn show_pipes(objects: &[ObjectDef]) -> Result<RecordBatch> {
    let pipes: Vec<_> = objects
        .iter()
        .filter_map(|o| match o {
            ObjectDef::Pipe(p) => Some(p),
            _ => None,
        })
        .collect();
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
    fn task_and_pipe_commands_are_recognised() {
        assert_eq!(
            parse("alter task CUSTOMER_SCD2_TASK resume").unwrap(),
            Some(Command::AlterTask {
                task: "customer_scd2_task".into(),
                action: TaskAction::Resume
            })
        );
        assert_eq!(
            parse("ALTER TASK IF EXISTS \"Odd\" SUSPEND").unwrap(),
            Some(Command::AlterTask {
                task: "Odd".into(),
                action: TaskAction::Suspend
            })
        );
        assert_eq!(
            parse("execute task t").unwrap(),
            Some(Command::ExecuteTask { task: "t".into() })
        );
        assert_eq!(
            parse("alter pipe p refresh").unwrap(),
            Some(Command::RefreshPipe { pipe: "p".into() })
        );
        assert_eq!(
            parse("alter pipe p set pipe_execution_paused = true").unwrap(),
            Some(Command::PausePipe {
                pipe: "p".into(),
                paused: true
            })
        );
        assert_eq!(
            parse("show tasks like 'CUSTOMER%'").unwrap(),
            Some(Command::Show {
                kind: ShowKind::Tasks,
                like: Some("CUSTOMER%".into())
            })
        );
        assert_eq!(parse("select 1").unwrap(), None);
        assert_eq!(parse("show columns").unwrap(), None);
    }

    #[test]
    fn malformed_and_unknown_commands_are_errors() {
        assert!(matches!(
            parse("alter task t start"),
            Err(SqlError::Parse { .. })
        ));
        assert!(matches!(
            parse("alter warehouse w suspend"),
            Err(SqlError::Unsupported { .. })
        ));
    }

    #[test]
    fn like_patterns_match_ignoring_case() {
        assert!(like_matches("CUSTOMER%", "customer_history"));
        assert!(like_matches("c_stomer", "customer"));
        assert!(!like_matches("cust", "customer"));
    }
}
