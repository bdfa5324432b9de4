//! `snowdrift sql`: SQL over a warehouse in Snowflake's dialect (see `docs/sql.md`). One
//! statement from the command line, a script from `--file` or standard input, or, on a
//! terminal, a shell with line editing and history that runs each statement ended by `;`.
//!
//! The warehouse is opened with its pipes and tasks running, as Snowflake's are while one
//! works in a worksheet; `--read-only` opens it beside another process that runs it.

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::RecordBatch;
use clap::ValueEnum;
use snowdrift::sql::{QueryResult, SqlError, SqlSession, split_statements};
use snowdrift::warehouse::{LocalWarehouse, WarehouseError};

use crate::Failure;

/// Options of `snowdrift sql`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The warehouse root (a folder, `file://…` or `s3://bucket/prefix`).
    #[arg(long, value_name = "DIR")]
    root: String,
    /// How results are printed.
    #[arg(long, value_enum, default_value = "table")]
    format: ResultFormat,
    /// Open the warehouse read-only (no pipes, no tasks, no changes): safe beside a process
    /// that runs it.
    #[arg(long)]
    read_only: bool,
    /// Run the statements of this file (each ended by `;`) in order, stopping at the first
    /// that fails.
    #[arg(long, value_name = "PATH", conflicts_with = "statement")]
    file: Option<PathBuf>,
    /// The statement to run (without it, and without `--file`: a shell on a terminal, else
    /// the script on standard input).
    statement: Option<String>,
}

/// `--format` of `snowdrift sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ResultFormat {
    /// Text tables.
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON array of row objects per result.
    Json,
}

pub(crate) async fn run(args: Args) -> Result<(), Failure> {
    let warehouse = open(&args).await?;
    let session = SqlSession::new(warehouse.clone());
    let done = match (&args.statement, &args.file) {
        (Some(statement), _) => script(&session, statement, args.format).await,
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| Failure::Usage {
                flag: "--file",
                message: format!("cannot read {}: {e}", path.display()),
            })?;
            script(&session, &text, args.format).await
        }
        (None, None) if std::io::stdin().is_terminal() => shell(&session, args.format).await,
        (None, None) => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Failure::Failed(format!("cannot read standard input: {e}")))?;
            script(&session, &text, args.format).await
        }
    };
    drop(session);
    close(warehouse).await?;
    done
}

async fn open(args: &Args) -> Result<Arc<LocalWarehouse>, Failure> {
    let warehouse = if args.read_only {
        crate::open(&args.root).await?
    } else {
        // Unlike the other commands this one may change the warehouse; a root with no
        // warehouse yet is an error here too rather than a new empty warehouse.
        crate::open(&args.root).await?;
        let builder =
            LocalWarehouse::builder(&args.root).store_options(snowdrift::stage::aws_environment());
        builder.open().await.map_err(|e| match e {
            WarehouseError::Locked { .. } => Failure::Failed(format!(
                "{e}\n(`snowdrift sql --read-only` reads it while the other process runs it)"
            )),
            other => Failure::from_warehouse("--root", other),
        })?
    };
    Ok(Arc::new(warehouse))
}

/// Stops the warehouse's pipes and tasks and writes its checkpoint.
async fn close(warehouse: Arc<LocalWarehouse>) -> Result<(), Failure> {
    match Arc::try_unwrap(warehouse) {
        Ok(warehouse) => warehouse
            .close()
            .await
            .map_err(|e| Failure::Failed(format!("closing the warehouse: {e}"))),
        // Still shared (never, once the session is dropped): dropping it stops the tasks.
        Err(_) => Ok(()),
    }
}

/// Runs the statements of `text` in order; the first failure ends the script.
async fn script(session: &SqlSession, text: &str, format: ResultFormat) -> Result<(), Failure> {
    let statements = split_statements(text).map_err(|e| Failure::Failed(e.to_string()))?;
    let mut all = statements.complete;
    if !statements.rest.is_empty() {
        all.push(statements.rest);
    }
    for (n, statement) in all.iter().enumerate() {
        let result = session
            .execute(statement)
            .await
            .map_err(|e| failed(n + 1, statement, &e))?;
        print(&result, format)?;
    }
    Ok(())
}

fn failed(n: usize, statement: &str, error: &SqlError) -> Failure {
    let first_line = statement.lines().next().unwrap_or_default();
    Failure::Failed(format!("statement {n} ({first_line}): {error}"))
}

/// The interactive shell: statements end with `;`; `exit`, `quit` or Ctrl-D leave.
async fn shell(session: &SqlSession, format: ResultFormat) -> Result<(), Failure> {
    let mut editor = rustyline::DefaultEditor::new()
        .map_err(|e| Failure::Failed(format!("cannot start the shell: {e}")))?;
    let history =
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".snowdrift_sql_history"));
    if let Some(path) = &history {
        // A first session has no history file yet.
        let _ = editor.load_history(path);
    }
    crate::output::line("snowdrift sql: statements end with `;`; `exit` or Ctrl-D to leave.");
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() {
            "snowdrift> "
        } else {
            "       ...> "
        };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(rustyline::error::ReadlineError::Interrupted) => {
                pending.clear();
                continue;
            }
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => return Err(Failure::Failed(format!("reading the shell's input: {e}"))),
        };
        if pending.is_empty() && matches!(line.trim(), "exit" | "quit" | "exit;" | "quit;") {
            break;
        }
        pending.push_str(&line);
        pending.push('\n');
        let Ok(statements) = split_statements(&pending) else {
            continue; // an open quote: the statement goes on on the next line
        };
        if statements.complete.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(pending.trim());
        for statement in &statements.complete {
            match session.execute(statement).await {
                Ok(result) => print(&result, format)?,
                Err(error) => eprintln!("error: {error}"),
            }
        }
        pending = statements.rest;
        if !pending.is_empty() {
            pending.push('\n');
        }
    }
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    Ok(())
}

fn print(result: &QueryResult, format: ResultFormat) -> Result<(), Failure> {
    let write_error =
        |e: arrow::error::ArrowError| Failure::Failed(format!("printing the result: {e}"));
    let batches: Vec<RecordBatch> = if result.batches.is_empty() {
        vec![RecordBatch::new_empty(result.schema.clone())]
    } else {
        result.batches.clone()
    };
    let mut out = std::io::stdout().lock();
    match format {
        ResultFormat::Table => {
            let table =
                arrow::util::pretty::pretty_format_batches(&batches).map_err(write_error)?;
            let rows = result.num_rows();
            let _ = writeln!(
                out,
                "{table}\n{rows} row{}",
                if rows == 1 { "" } else { "s" }
            );
        }
        ResultFormat::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            for batch in &batches {
                writer.write(batch).map_err(write_error)?;
            }
        }
        ResultFormat::Json => {
            let mut writer = arrow::json::ArrayWriter::new(&mut out);
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            writer.write_batches(&refs).map_err(write_error)?;
            writer.finish().map_err(write_error)?;
            drop(writer);
            let _ = writeln!(out);
        }
    }
    Ok(())
}
