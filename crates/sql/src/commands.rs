//! Object commands, run by the warehouse itself: `ALTER TASK … RESUME | SUSPEND`,
//! `EXECUTE TASK …`, `ALTER PIPE … REFRESH`, `ALTER PIPE … SET PIPE_EXECUTION_PAUSED = …` and
//! `SHOW TABLES | STREAMS | TASKS | PIPES [LIKE '…']`.
//!
//! They are recognised on sqlparser's tokens (its parser knows none of Snowflake's task and
//! pipe commands); object names follow the identifier rule of `rewrite`.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::sql::sqlparser::dialect::SnowflakeDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Word};
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
        Command::Show { kind, like } => crate::show::show(warehouse, kind, like.as_deref()).await,
    }
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
}
