//! `snowdrift`, the command line of the embedded warehouse: run the whole pipeline (`run`), look
//! at a warehouse root — its
//! pipes, streams, tasks and tables (`status`), the copy and task history (`history`) — export
//! its tables (`export`), and query and change it in SQL (`sql`). Every command but `sql`
//! opens the root read-only, so it is safe beside a running pipeline; `sql` runs the
//! warehouse's pipes and tasks while it is open unless given `--read-only`.
//!
//! Exit codes: 0 on success, 2 for a bad command line (a misspelled flag, a bad value, a root
//! that holds no warehouse, an unknown table or task), 1 when the work itself fails.

#[cfg(feature = "snowflake")]
mod deploy;
mod export;
mod history;
mod output;
mod run;
#[cfg(feature = "sql")]
mod sql;
mod status;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use snowdrift::warehouse::{LocalWarehouse, WarehouseError};

#[derive(Debug, Parser)]
#[command(
    name = "snowdrift",
    version,
    about = "Run, inspect, query and export a snowdrift pipeline"
)]
struct Cli {
    /// How log lines on stderr look; which ones are shown is `RUST_LOG` (default `warn`).
    #[arg(long, value_enum, default_value = "text", global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Sends the library crates' `tracing` events to stderr, filtered by `RUST_LOG`.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole pipeline (generate → stage → pipe → SCD-1 → SCD-2), verified; leaves the
    /// warehouse at `<data>/run-<id>/warehouse`.
    Run(snowdrift::run::RunArgs),
    /// Pipes, streams, tasks and tables of a warehouse, in one screen.
    Status(status::Args),
    /// The copy history of a table or the run history of a task.
    History(history::Args),
    /// Write a table to a Parquet, CSV or Arrow IPC file.
    Export(export::Args),
    /// Run SQL (Snowflake's dialect): one statement, a script, or an interactive shell.
    #[cfg(feature = "sql")]
    Sql(sql::Args),
    /// Run SQL (this snowdrift was built without the `sql` feature).
    #[cfg(not(feature = "sql"))]
    Sql {
        /// Ignored: this build has no SQL.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Deploy the pipeline to Snowflake (prints the plan; `--apply` sends it).
    #[cfg(feature = "snowflake")]
    Deploy(deploy::Args),
    /// Remove the pipeline's objects from Snowflake.
    #[cfg(feature = "snowflake")]
    Teardown(deploy::Args),
}

/// Why a command failed, and so its exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The command line named something wrong (exit code 2).
    Usage { flag: &'static str, message: String },
    /// The work failed (exit code 1).
    Failed(String),
}

impl Failure {
    /// A warehouse error, as a usage error naming `flag` when the flag's value is what is
    /// wrong (a root without a warehouse, an unknown object).
    pub(crate) fn from_warehouse(flag: &'static str, error: WarehouseError) -> Self {
        match error {
            WarehouseError::NotAWarehouse { .. } | WarehouseError::NotFound { .. } => {
                Failure::Usage {
                    flag,
                    message: error.to_string(),
                }
            }
            other => Failure::Failed(other.to_string()),
        }
    }
}

/// Opens the warehouse at `root` read-only.
pub(crate) async fn open(root: &str) -> Result<LocalWarehouse, Failure> {
    LocalWarehouse::builder(root)
        .store_options(snowdrift::stage::aws_environment())
        .read_only(true)
        .open()
        .await
        .map_err(|e| Failure::from_warehouse("--root", e))
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let done = match cli.command {
        Command::Run(args) => run::run(args).await,
        Command::Status(args) => status::run(args).await,
        Command::History(args) => history::run(args).await,
        Command::Export(args) => export::run(args).await,
        #[cfg(feature = "sql")]
        Command::Sql(args) => sql::run(args).await,
        #[cfg(not(feature = "sql"))]
        Command::Sql { .. } => Err(Failure::Usage {
            flag: "sql",
            message: "this snowdrift was built without SQL (--no-default-features); build it with the default features: cargo install --path . (or cargo run --release --bin snowdrift -- sql …)".into(),
        }),
        #[cfg(feature = "snowflake")]
        Command::Deploy(args) => deploy::run(args, snowdrift::deploy::DeployAction::Deploy).await,
        #[cfg(feature = "snowflake")]
        Command::Teardown(args) => {
            deploy::run(args, snowdrift::deploy::DeployAction::Teardown).await
        }
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage { flag, message }) => {
            eprintln!("error: {flag}: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
