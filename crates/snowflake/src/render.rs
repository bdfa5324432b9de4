//! Rendering warehouse objects as Snowflake DDL: tables, CSV file formats, stages (a storage
//! integration, or keys taken from the environment at deploy time and never shown), pipes and
//! streams, plus task schedules. Every name goes through [`crate::sql::ident`], every value
//! through [`crate::sql::literal`].

use std::fmt;
use std::time::Duration;

use snowdrift_warehouse::{
    Column, ColumnType, CreateMode, CsvFileFormat, FileCompression, FileFormatDef, MergeDef,
    ObjectKind, OnError, PipeDef, Schedule, StageDef, StreamDef, TableDef, TableLayout,
    TaskCondition, TaskDef,
};

use crate::error::{Result, SnowflakeError};
use crate::merge::{self, LOAD_FILE_COLUMN, LOAD_ROW_COLUMN, Now};
use crate::secret::Secret;
use crate::sql::{glob_to_regex, ident, idents, literal, qualified};

/// How a stage reaches its bucket.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StageAccess {
    /// A storage integration the account admin created (recommended; no keys in SQL).
    Integration(String),
    /// AWS keys, taken from the environment when deploying; shown as `***`.
    Keys {
        /// `AWS_ACCESS_KEY_ID`.
        key_id: Secret,
        /// `AWS_SECRET_ACCESS_KEY`.
        secret_key: Secret,
    },
    /// No credentials (a public bucket).
    #[default]
    None,
}

impl StageAccess {
    /// From the environment: `SNOWDRIFT_STORAGE_INTEGRATION` names an integration; else
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` are used as keys; else none.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// [`StageAccess::from_env`] with another source of variables.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        if let Some(integration) = lookup("SNOWDRIFT_STORAGE_INTEGRATION") {
            return StageAccess::Integration(integration);
        }
        match (lookup("AWS_ACCESS_KEY_ID"), lookup("AWS_SECRET_ACCESS_KEY")) {
            (Some(key_id), Some(secret_key)) => StageAccess::Keys {
                key_id: Secret::new(key_id),
                secret_key: Secret::new(secret_key),
            },
            _ => StageAccess::None,
        }
    }
}

/// One SQL statement of a deployment. `Display` shows it with every secret as `'***'`;
/// [`Statement::expose_sql`] is the text to execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The object it creates.
    pub kind: ObjectKind,
    /// The object's name.
    pub name: String,
    sql: String,
    secrets: Vec<(String, Secret)>,
}

impl Statement {
    pub(crate) fn new(kind: ObjectKind, name: &str, sql: String) -> Self {
        Statement {
            kind,
            name: name.to_owned(),
            sql,
            secrets: Vec::new(),
        }
    }

    /// The same statement with another create mode: `CREATE <kind> IF NOT EXISTS` (how
    /// everything renders) becomes `CREATE <kind>` or `CREATE OR REPLACE <kind>`.
    pub fn with_create_mode(mut self, mode: CreateMode) -> Self {
        if let Some(rest) = self.sql.strip_prefix("CREATE ")
            && let Some(at) = rest.find(" IF NOT EXISTS ")
        {
            let kind = &rest[..at];
            let tail = &rest[at + " IF NOT EXISTS ".len()..];
            self.sql = match mode {
                CreateMode::IfNotExists => return self,
                CreateMode::Create => format!("CREATE {kind} {tail}"),
                CreateMode::OrReplace => format!("CREATE OR REPLACE {kind} {tail}"),
            };
        }
        self
    }

    /// The SQL with its secrets, for the connection that runs it. Never log it.
    pub fn expose_sql(&self) -> String {
        self.secrets
            .iter()
            .fold(self.sql.clone(), |sql, (placeholder, secret)| {
                sql.replace(placeholder, &literal(secret.expose()))
            })
    }
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self
            .secrets
            .iter()
            .fold(self.sql.clone(), |sql, (placeholder, _)| {
                sql.replace(placeholder, "'***'")
            });
        f.write_str(&shown)
    }
}

/// The shape of the rows a merge reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceShape {
    /// Raw rows, as an append-only stream on a raw table shows them: the business columns,
    /// the optional operation and sequence columns, and the load-order columns
    /// [`LOAD_FILE_COLUMN`] and [`LOAD_ROW_COLUMN`].
    AppendOnly,
    /// A standard stream's change rows: the table's columns plus `METADATA$ACTION`,
    /// `METADATA$ISUPDATE` and `METADATA$ROW_ID`.
    Changes,
}

/// Renders objects into one database and schema.
#[derive(Debug, Clone)]
pub struct Renderer {
    database: String,
    schema: String,
    warehouse: Option<String>,
    now: Now,
}

impl Renderer {
    /// Objects go into `database`.`schema`; tasks run serverless unless
    /// [`Renderer::with_warehouse`] names a warehouse.
    pub fn new(database: impl Into<String>, schema: impl Into<String>) -> Self {
        Renderer {
            database: database.into(),
            schema: schema.into(),
            warehouse: None,
            now: Now::Statement,
        }
    }

    /// Tasks run on this virtual warehouse.
    pub fn with_warehouse(mut self, warehouse: impl Into<String>) -> Self {
        self.warehouse = Some(warehouse.into());
        self
    }

    /// Merges stamp rows with this clock (default: the statement's start, in UTC).
    pub fn with_now(mut self, now: Now) -> Self {
        self.now = now;
        self
    }

    /// The qualified, quoted name of an object in this schema.
    ///
    /// # Errors
    ///
    /// [`SnowflakeError::InvalidIdentifier`] when `name`, the database or the schema cannot be a
    /// Snowflake identifier.
    pub fn qualified(&self, kind: ObjectKind, name: &str) -> Result<String> {
        self.name(kind, name)
    }

    fn name(&self, kind: ObjectKind, name: &str) -> Result<String> {
        qualified(&self.database, &self.schema, kind, name)
    }

    /// The quoted database name.
    pub(crate) fn database_name(&self) -> Result<String> {
        ident(ObjectKind::Table, &self.database)
    }

    /// The quoted, database-qualified schema name.
    pub(crate) fn schema_name(&self) -> Result<String> {
        Ok(format!(
            "{}.{}",
            self.database_name()?,
            ident(ObjectKind::Table, &self.schema)?
        ))
    }

    /// `CREATE DATABASE` and `CREATE SCHEMA`, if missing.
    ///
    /// # Errors
    ///
    /// [`SnowflakeError::InvalidIdentifier`] when the database or schema name cannot be a
    /// Snowflake identifier.
    pub fn namespace(&self) -> Result<Vec<Statement>> {
        let database = self.database_name()?;
        let schema = ident(ObjectKind::Table, &self.schema)?;
        Ok(vec![
            Statement::new(
                ObjectKind::Table,
                &self.database,
                format!("CREATE DATABASE IF NOT EXISTS {database}"),
            ),
            Statement::new(
                ObjectKind::Table,
                &self.schema,
                format!("CREATE SCHEMA IF NOT EXISTS {database}.{schema}"),
            ),
        ])
    }

    /// `CREATE TABLE IF NOT EXISTS` with the business columns, then the layout's system
    /// columns.
    ///
    /// # Errors
    ///
    /// [`SnowflakeError::InvalidIdentifier`] for a table or column name Snowflake cannot hold.
    pub fn table(&self, def: &TableDef) -> Result<Statement> {
        self.table_with(def, &[])
    }

    /// A raw table a pipe loads: its columns, then the load-order columns
    /// [`LOAD_FILE_COLUMN`] (`METADATA$FILENAME`) and [`LOAD_ROW_COLUMN`]
    /// (`METADATA$FILE_ROW_NUMBER`) that make the SCD-1 merge's winner deterministic.
    ///
    /// # Errors
    ///
    /// [`SnowflakeError::InvalidIdentifier`] for a table or column name Snowflake cannot hold.
    pub fn raw_table(&self, def: &TableDef) -> Result<Statement> {
        self.table_with(def, &load_columns())
    }

    fn table_with(&self, def: &TableDef, extra: &[Column]) -> Result<Statement> {
        let columns = def
            .columns
            .iter()
            .chain(&def.system_columns())
            .chain(extra)
            .map(|c| {
                let null = if c.nullable { "" } else { " NOT NULL" };
                Ok(format!(
                    "{} {}{null}",
                    ident(ObjectKind::Table, &c.name)?,
                    c.column_type.sql()
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut retention = def.retention_days.map_or(String::new(), |days| {
            format!(" DATA_RETENTION_TIME_IN_DAYS = {days}")
        });
        if let Some(days) = def.max_data_extension_days {
            retention.push_str(&format!(" MAX_DATA_EXTENSION_TIME_IN_DAYS = {days}"));
        }
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} ({}){retention}",
            self.name(ObjectKind::Table, &def.name)?,
            columns.join(", ")
        );
        Ok(Statement::new(ObjectKind::Table, &def.name, sql))
    }

    /// `CREATE FILE FORMAT … TYPE = CSV` with every option spelled out.
    ///
    /// # Errors
    ///
    /// [`SnowflakeError::InvalidIdentifier`] for a name Snowflake cannot hold.
    pub fn file_format(&self, def: &FileFormatDef) -> Result<Statement> {
        let csv: &CsvFileFormat = &def.csv;
        let enclosed = match csv.field_optionally_enclosed_by {
            Some(quote) => literal(&char::from(quote).to_string()),
            None => "NONE".into(),
        };
        let null_if = csv
            .null_if
            .iter()
            .map(|n| literal(n))
            .collect::<Vec<_>>()
            .join(", ");
        let compression = match csv.compression {
            FileCompression::Auto => "AUTO",
            FileCompression::None => "NONE",
            FileCompression::Gzip => "GZIP",
        };
        let sql = format!(
            "CREATE FILE FORMAT IF NOT EXISTS {} TYPE = CSV FIELD_DELIMITER = {} SKIP_HEADER = {} \
             FIELD_OPTIONALLY_ENCLOSED_BY = {enclosed} NULL_IF = ({null_if}) EMPTY_FIELD_AS_NULL = {} \
             ERROR_ON_COLUMN_COUNT_MISMATCH = {} COMPRESSION = {compression} TRIM_SPACE = {} \
             SKIP_BLANK_LINES = {} ENCODING = 'UTF8'",
            self.name(ObjectKind::FileFormat, &def.name)?,
            literal(&char::from(csv.field_delimiter).to_string()),
            csv.skip_header,
            upper(csv.empty_field_as_null),
            upper(csv.error_on_column_count_mismatch),
            upper(csv.trim_space),
            upper(csv.skip_blank_lines),
        );
        Ok(Statement::new(ObjectKind::FileFormat, &def.name, sql))
    }

    /// `CREATE STAGE` on the def's URL. Keys are never part of the displayed SQL.
    ///
    /// # Errors
    ///
    /// [`SnowflakeError::Unsupported`] for a stage URL that is not `s3://`, and
    /// [`SnowflakeError::InvalidIdentifier`] for a name Snowflake cannot hold.
    pub fn stage(&self, def: &StageDef, access: &StageAccess) -> Result<Statement> {
        if !def.url.starts_with("s3://") {
            return Err(SnowflakeError::Unsupported {
                object: format!("stage {}", def.name),
                what: format!(
                    "the URL `{}`: Snowflake stages here are s3:// URLs",
                    def.url
                ),
            });
        }
        let mut sql = format!(
            "CREATE STAGE IF NOT EXISTS {} URL = {}",
            self.name(ObjectKind::Stage, &def.name)?,
            literal(&def.url)
        );
        let mut secrets = Vec::new();
        match access {
            StageAccess::Integration(integration) => {
                sql.push_str(&format!(
                    " STORAGE_INTEGRATION = {}",
                    ident(ObjectKind::Stage, integration)?
                ));
            }
            StageAccess::Keys { key_id, secret_key } => {
                sql.push_str(
                    " CREDENTIALS = (AWS_KEY_ID = {key_id} AWS_SECRET_KEY = {secret_key})",
                );
                secrets.push(("{key_id}".to_string(), key_id.clone()));
                secrets.push(("{secret_key}".to_string(), secret_key.clone()));
            }
            StageAccess::None => {}
        }
        if let Some(format) = &def.file_format {
            sql.push_str(&format!(
                " FILE_FORMAT = (FORMAT_NAME = '{}')",
                self.name(ObjectKind::FileFormat, format)?
            ));
        }
        Ok(Statement {
            secrets,
            ..Statement::new(ObjectKind::Stage, &def.name, sql)
        })
    }

    /// `CREATE PIPE … AUTO_INGEST = TRUE AS COPY INTO …` into `table` (the pipe's target),
    /// selecting the file's fields in column order plus the file name and row number into the
    /// load-order columns. Pipes may not use `ABORT_STATEMENT`.
    ///
    /// # Errors
    ///
    /// [`SnowflakeError::Unsupported`] for a pipe with `ON_ERROR = ABORT_STATEMENT` (Snowflake
    /// refuses it), and [`SnowflakeError::InvalidIdentifier`] for a name Snowflake cannot hold.
    pub fn pipe(&self, def: &PipeDef, table: &TableDef) -> Result<Statement> {
        if def.on_error == OnError::AbortStatement {
            return Err(SnowflakeError::Unsupported {
                object: format!("pipe {}", def.name),
                what: "ON_ERROR = ABORT_STATEMENT in a pipe".into(),
            });
        }
        let mut copy = self.copy_from_stage(&def.table, &def.stage, Some(&table.columns))?;
        if let Some(format) = &def.file_format {
            copy.push_str(&format!(
                " FILE_FORMAT = (FORMAT_NAME = '{}')",
                self.name(ObjectKind::FileFormat, format)?
            ));
        }
        if let Some(pattern) = &def.pattern {
            copy.push_str(&format!(" PATTERN = {}", literal(&glob_to_regex(pattern))));
        }
        copy.push_str(&format!(" ON_ERROR = {}", on_error(def.on_error)));
        let sql = format!(
            "CREATE PIPE IF NOT EXISTS {} AUTO_INGEST = {} AS {copy}",
            self.name(ObjectKind::Pipe, &def.name)?,
            upper(def.auto_ingest)
        );
        Ok(Statement::new(ObjectKind::Pipe, &def.name, sql))
    }

    /// `COPY INTO <table> FROM @<stage>`. For a raw table (`load_order` holds its columns),
    /// the file's fields are selected in column order plus `METADATA$FILENAME` and
    /// `METADATA$FILE_ROW_NUMBER` into its load-order columns. Options (file format, pattern,
    /// ON_ERROR) are appended by the caller.
    ///
    /// # Errors
    ///
    /// [`SnowflakeError::InvalidIdentifier`] for a table, stage or column name Snowflake cannot
    /// hold.
    pub fn copy_from_stage(
        &self,
        table: &str,
        stage: &str,
        load_order: Option<&[Column]>,
    ) -> Result<String> {
        let target = self.name(ObjectKind::Table, table)?;
        let stage = self.name(ObjectKind::Stage, stage)?;
        let Some(columns) = load_order else {
            return Ok(format!("COPY INTO {target} FROM @{stage}"));
        };
        let names = idents(
            columns
                .iter()
                .map(|c| c.name.as_str())
                .chain([LOAD_FILE_COLUMN, LOAD_ROW_COLUMN]),
        )?;
        let fields = (1..=columns.len())
            .map(|i| format!("${i}"))
            .chain([
                "METADATA$FILENAME".into(),
                "METADATA$FILE_ROW_NUMBER".into(),
            ])
            .collect::<Vec<_>>();
        Ok(format!(
            "COPY INTO {target} ({}) FROM (SELECT {} FROM @{stage})",
            names.join(", "),
            fields.join(", ")
        ))
    }

    /// `CREATE STREAM … ON TABLE …`.
    ///
    /// # Errors
    ///
    /// [`SnowflakeError::InvalidIdentifier`] for a stream or table name Snowflake cannot hold.
    pub fn stream(&self, def: &StreamDef) -> Result<Statement> {
        let sql = format!(
            "CREATE STREAM IF NOT EXISTS {} ON TABLE {} APPEND_ONLY = {} SHOW_INITIAL_ROWS = {}",
            self.name(ObjectKind::Stream, &def.name)?,
            self.name(ObjectKind::Table, &def.table)?,
            upper(def.append_only),
            upper(def.show_initial_rows)
        );
        Ok(Statement::new(ObjectKind::Stream, &def.name, sql))
    }
}

impl Renderer {
    /// The statement a merge task runs: the SCD-1 merge for a Type 1 (or plain keyed) target
    /// reading raw rows, the SCD-2 merge for a Type 2 target reading a standard stream. The
    /// source is `merge.source`: a stream, or in tests a table holding the same rows.
    ///
    /// A merge that rejects rows (`on_bad_row = reject`, the default) or has a sequence runs
    /// several statements ([`Renderer::merge_statements`]); its body is then a Snowflake
    /// Scripting block that runs them in one transaction.
    ///
    /// # Errors
    ///
    /// As [`Renderer::merge_statements`].
    pub fn merge_body(
        &self,
        merge: &MergeDef,
        target: &TableDef,
        source: SourceShape,
    ) -> Result<String> {
        let statements = self.merge_statements(merge, target, source)?;
        Ok(match statements.as_slice() {
            [one] => one.clone(),
            several => format!(
                "BEGIN BEGIN TRANSACTION; {}; COMMIT; END",
                several.join("; ")
            ),
        })
    }

    /// The statements of a merge task's body, to run in order in one transaction: for an
    /// SCD-1 merge that rejects rows or has a sequence, and for every SCD-2 merge of raw rows
    /// (a history sequenced by event time, `LateChanges::Reject`; its sequence must be a
    /// timestamp, which deploy checks), the insert into its rejected table, the `MERGE`, the
    /// update of its sequences table ([`crate::reject::sequences_table`]) and, for a truncate
    /// with a sequence, of its sequence floor ([`crate::reject::sequence_floor_table`]);
    /// otherwise the one `MERGE`.
    ///
    /// # Errors
    ///
    /// [`SnowflakeError::InvalidMerge`] when the merge's key, columns or sequence are not columns of
    /// its tables, [`SnowflakeError::Unsupported`] for an option Snowflake has no form of (a history
    /// that re-stitches late changes), and [`SnowflakeError::InvalidIdentifier`] for a name Snowflake
    /// cannot hold.
    pub fn merge_statements(
        &self,
        merge: &MergeDef,
        target: &TableDef,
        source: SourceShape,
    ) -> Result<Vec<String>> {
        if target.layout.restitches() {
            return Err(SnowflakeError::Unsupported {
                object: format!("the merge of {} into {}", merge.source, merge.target),
                what: "a history sequenced by event time with late changes re-stitched \
                       (run it on the embedded warehouse)"
                    .into(),
            });
        }
        if source == SourceShape::AppendOnly && crate::reject::needed(merge, target) {
            let names = crate::reject::Names {
                source: &self.name(ObjectKind::Stream, &merge.source)?,
                target: &self.name(ObjectKind::Table, &target.name)?,
                rejected: &self.name(ObjectKind::Table, &merge.rejected_table())?,
                sequences: &self.name(ObjectKind::Table, &crate::reject::sequences_name(target))?,
                sequence_floor: &self.name(
                    ObjectKind::Table,
                    &crate::reject::sequence_floor_table(target).name,
                )?,
            };
            return crate::reject::statements(&names, target, merge, self.now);
        }
        Ok(vec![self.single_merge(merge, target, source)?])
    }

    fn single_merge(
        &self,
        merge: &MergeDef,
        target: &TableDef,
        source: SourceShape,
    ) -> Result<String> {
        let source_name = self.name(ObjectKind::Stream, &merge.source)?;
        let target_name = self.name(ObjectKind::Table, &target.name)?;
        match (&target.layout, source) {
            (TableLayout::Scd2 { validity, .. }, SourceShape::Changes) => merge::scd2(
                &source_name,
                &target_name,
                target,
                validity,
                merge,
                self.now,
            ),
            (_, SourceShape::AppendOnly) => {
                merge::scd1(&source_name, &target_name, target, merge, self.now)
            }
            (_, SourceShape::Changes) => Err(SnowflakeError::Unsupported {
                object: format!("the merge of {} into {}", merge.source, merge.target),
                what: "an SCD-1 merge from a standard stream (feed it raw rows through an \
                       append-only stream)"
                    .into(),
            }),
        }
    }

    /// `CREATE TASK IF NOT EXISTS … AS <body>`, created suspended as Snowflake does: the
    /// warehouse (or serverless), `SCHEDULE`, `AFTER`, the failure, timeout and retry limits, and
    /// `WHEN SYSTEM$STREAM_HAS_DATA(…)`.
    ///
    /// # Errors
    ///
    /// [`SnowflakeError::Unsupported`] for a schedule Snowflake cannot run ([`schedule`]), and
    /// [`SnowflakeError::InvalidIdentifier`] for a task, warehouse or stream name Snowflake cannot
    /// hold.
    pub fn task(&self, def: &TaskDef, body: &str) -> Result<Statement> {
        let mut sql = format!(
            "CREATE TASK IF NOT EXISTS {}",
            self.name(ObjectKind::Task, &def.name)?
        );
        match &self.warehouse {
            Some(warehouse) => sql.push_str(&format!(
                " WAREHOUSE = {}",
                ident(ObjectKind::Table, warehouse)?
            )),
            None => sql.push_str(" USER_TASK_MANAGED_INITIAL_WAREHOUSE_SIZE = 'XSMALL'"),
        }
        if let Some(every) = &def.schedule {
            sql.push_str(&format!(" SCHEDULE = {}", schedule(&def.name, every)?));
        }
        sql.push_str(&format!(
            " SUSPEND_TASK_AFTER_NUM_FAILURES = {} USER_TASK_TIMEOUT_MS = {}",
            def.suspend_after_failures,
            def.timeout.as_millis()
        ));
        if def.auto_retry_attempts > 0 {
            // Snowflake reads the retries from the root task of a graph.
            sql.push_str(&format!(
                " TASK_AUTO_RETRY_ATTEMPTS = {}",
                def.auto_retry_attempts
            ));
        }
        if !def.after.is_empty() {
            let after = def
                .after
                .iter()
                .map(|t| self.name(ObjectKind::Task, t))
                .collect::<Result<Vec<_>>>()?;
            sql.push_str(&format!(" AFTER {}", after.join(", ")));
        }
        if let Some(TaskCondition::StreamHasData(streams)) = &def.when {
            let checks = streams
                .iter()
                .map(|s| {
                    Ok(format!(
                        "SYSTEM$STREAM_HAS_DATA({})",
                        literal(&self.name(ObjectKind::Stream, s)?)
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            sql.push_str(&format!(" WHEN {}", checks.join(" OR ")));
        }
        sql.push_str(&format!(" AS {body}"));
        Ok(Statement::new(ObjectKind::Task, &def.name, sql))
    }
}

/// The load-order columns a raw table gets on Snowflake.
fn load_columns() -> Vec<Column> {
    vec![
        Column::new(LOAD_FILE_COLUMN, ColumnType::Varchar),
        Column::new(LOAD_ROW_COLUMN, ColumnType::Number),
    ]
}

/// A task's `SCHEDULE` clause value: `'1 MINUTE'`, `'10 SECONDS'`, `'USING CRON … tz'`.
/// Snowflake's shortest interval is 10 seconds.
///
/// # Errors
///
/// [`SnowflakeError::Unsupported`] for an interval under 10 seconds or with a fraction of a
/// second: Snowflake's shortest schedule is 10 seconds, in whole seconds.
pub fn schedule(task: &str, schedule: &Schedule) -> Result<String> {
    match schedule {
        Schedule::Interval(d) if *d < Duration::from_secs(10) || d.subsec_nanos() != 0 => {
            Err(SnowflakeError::Unsupported {
                object: format!("task {task}"),
                what: format!(
                    "an interval of {} ms (at least 10 whole seconds)",
                    d.as_millis()
                ),
            })
        }
        Schedule::Interval(d) if d.as_secs() % 60 == 0 => {
            Ok(literal(&format!("{} MINUTE", d.as_secs() / 60)))
        }
        Schedule::Interval(d) => Ok(literal(&format!("{} SECONDS", d.as_secs()))),
        Schedule::Cron {
            expression,
            timezone,
        } => Ok(literal(&format!("USING CRON {expression} {timezone}"))),
    }
}

/// An `ON_ERROR` value.
pub fn on_error(on_error: OnError) -> String {
    match on_error {
        OnError::Continue => "CONTINUE".into(),
        OnError::SkipFile => "SKIP_FILE".into(),
        OnError::SkipFileAfter(n) => format!("SKIP_FILE_{n}"),
        OnError::SkipFilePercent(p) => literal(&format!("SKIP_FILE_{p}%")),
        OnError::AbortStatement => "ABORT_STATEMENT".into(),
    }
}

fn upper(value: bool) -> &'static str {
    if value { "TRUE" } else { "FALSE" }
}
