//! The objects a warehouse holds, as plain definitions that every backend understands: tables,
//! stages, file formats, pipes, streams and tasks. The embedded engine executes them; the
//! Snowflake backend renders them to SQL. Definitions are serializable so the embedded engine
//! can keep its catalog in its commit log.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};
pub use snowdrift_scd::{
    AbsentKeys, ChangePredicate, ChangeSource, IgnoreNullUpdates, LateChanges, OnBadRow, OpenEnd,
    ValidityColumns,
};

pub use snowdrift_scd::{Scd1Delete, Scd2Delete};

use crate::error::{Result, WarehouseError};
use crate::load::CsvFileFormat;
use crate::schedule::Schedule;

/// The kinds of object a warehouse holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ObjectKind {
    /// A table.
    Table,
    /// A stage (a prefix in an object store).
    Stage,
    /// A named file format.
    FileFormat,
    /// A pipe (continuous loading from a stage).
    Pipe,
    /// A stream (change tracking on a table).
    Stream,
    /// A task (a scheduled statement).
    Task,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectKind::Table => "table",
            ObjectKind::Stage => "stage",
            ObjectKind::FileFormat => "file format",
            ObjectKind::Pipe => "pipe",
            ObjectKind::Stream => "stream",
            ObjectKind::Task => "task",
        })
    }
}

/// Checks an object or column name: a letter or `_`, then letters, digits, `_` or `$`, at most
/// 255 characters — an identifier Snowflake accepts unquoted, so no name can inject SQL.
///
/// # Errors
///
/// [`WarehouseError::InvalidDefinition`] with the kind, the name and the naming rule.
pub fn validate_identifier(kind: ObjectKind, name: &str) -> Result<()> {
    let mut chars = name.chars();
    let valid_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let valid_rest = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if valid_start && valid_rest && name.len() <= 255 {
        Ok(())
    } else {
        Err(WarehouseError::invalid(
            kind,
            name,
            "names start with a letter or `_` and hold only letters, digits, `_` and `$` (at most 255)",
        ))
    }
}

/// A column's type, in Snowflake's terms, with its Arrow representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColumnType {
    /// `NUMBER(38,0)`, held as Arrow `Int64`.
    Number,
    /// `FLOAT`, held as `Float64`.
    Float,
    /// `VARCHAR`, held as `Utf8`.
    Varchar,
    /// `BOOLEAN`.
    Boolean,
    /// `DATE`, held as `Date32`.
    Date,
    /// `TIMESTAMP_NTZ`, held as `Timestamp(Microsecond, None)`.
    TimestampNtz,
}

impl ColumnType {
    /// The Arrow type of values of this column.
    pub fn arrow_type(self) -> DataType {
        match self {
            ColumnType::Number => DataType::Int64,
            ColumnType::Float => DataType::Float64,
            ColumnType::Varchar => DataType::Utf8,
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::Date => DataType::Date32,
            ColumnType::TimestampNtz => DataType::Timestamp(TimeUnit::Microsecond, None),
        }
    }

    /// The Snowflake SQL type.
    pub fn sql(self) -> &'static str {
        match self {
            ColumnType::Number => "NUMBER(38,0)",
            ColumnType::Float => "FLOAT",
            ColumnType::Varchar => "VARCHAR",
            ColumnType::Boolean => "BOOLEAN",
            ColumnType::Date => "DATE",
            ColumnType::TimestampNtz => "TIMESTAMP_NTZ",
        }
    }

    /// The column type of an Arrow type, if it has one.
    pub fn from_arrow(data_type: &DataType) -> Option<Self> {
        Some(match data_type {
            DataType::Int64 => ColumnType::Number,
            DataType::Float64 => ColumnType::Float,
            DataType::Utf8 => ColumnType::Varchar,
            DataType::Boolean => ColumnType::Boolean,
            DataType::Date32 => ColumnType::Date,
            DataType::Timestamp(TimeUnit::Microsecond, None) => ColumnType::TimestampNtz,
            _ => return None,
        })
    }
}

/// A column of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its type.
    pub column_type: ColumnType,
    /// Whether it may hold NULL.
    pub nullable: bool,
}

impl Column {
    /// A nullable column.
    pub fn new(name: impl Into<String>, column_type: ColumnType) -> Self {
        Column {
            name: name.into(),
            column_type,
            nullable: true,
        }
    }

    /// The same column, `NOT NULL`.
    pub fn not_null(mut self) -> Self {
        self.nullable = false;
        self
    }

    fn field(&self) -> Field {
        Field::new(&self.name, self.column_type.arrow_type(), self.nullable)
    }
}

/// How a table keeps its rows, which decides the system columns it has and how a merge task
/// writes into it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum TableLayout {
    /// Rows as inserted (for example a raw landing table).
    #[default]
    Plain,
    /// SCD Type 1: one row per key with its latest values, plus an optional `updated_at`
    /// column stamped by each write.
    Scd1 {
        /// The column stamped with the merge time (`update_timestamp` by default).
        updated_at: Option<String>,
    },
    /// SCD Type 2: one row per version, with validity columns.
    Scd2 {
        /// The validity columns (`start_time`, `end_time`, `is_current` by default).
        validity: ValidityColumns,
        /// What the history does with a change older than its key's newest version:
        /// [`LateChanges::Reject`] (the default: versions follow merge order, validity is the
        /// sequence of the change, a late change goes to the rejected table) or
        /// [`LateChanges::Restitch`] (a history sequenced by event time: each change is put in
        /// its place among the key's versions; the merge task's `sequence` must be a
        /// timestamp column). A restitching table keeps the versions a change may still
        /// reach (those within the lateness bound) in memory.
        #[serde(default)]
        late: LateChanges,
    },
}

impl TableLayout {
    /// SCD Type 1 with the original's `update_timestamp` column.
    pub fn scd1() -> Self {
        TableLayout::Scd1 {
            updated_at: Some("update_timestamp".into()),
        }
    }

    /// SCD Type 2 with the original's validity columns.
    pub fn scd2() -> Self {
        TableLayout::Scd2 {
            validity: ValidityColumns::default(),
            late: LateChanges::Reject,
        }
    }

    /// SCD Type 2 with the original's validity columns, sequenced by event time: late
    /// changes are handled by `late` (see [`TableLayout::Scd2`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use snowdrift_warehouse::{LateChanges, TableLayout};
    /// let layout = TableLayout::scd2_by_event_time(LateChanges::restitch_within(
    ///     Duration::from_secs(86_400),
    /// ));
    /// assert!(layout.restitches());
    /// ```
    pub fn scd2_by_event_time(late: LateChanges) -> Self {
        TableLayout::Scd2 {
            validity: ValidityColumns::default(),
            late,
        }
    }

    /// Whether late changes are put in their place (a history sequenced by event time).
    pub fn restitches(&self) -> bool {
        matches!(
            self,
            TableLayout::Scd2 {
                late: LateChanges::Restitch { .. },
                ..
            }
        )
    }
}

/// A table: business columns, an optional key (needed for merges, updates and deletes) and a
/// layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDef {
    /// Its name.
    pub name: String,
    /// Business columns (system columns of the layout are added after them).
    pub columns: Vec<Column>,
    /// Key columns; empty for a table without a key.
    pub key: Vec<String>,
    /// How rows are kept.
    pub layout: TableLayout,
    /// `DATA_RETENTION_TIME_IN_DAYS`: how long files of the table that nothing refers to any
    /// more are kept (0 to 90; `None`: the default, one day), and how long its changes stay
    /// readable by a stream that has not consumed them, extended up to
    /// `max_data_extension_days`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    /// `MAX_DATA_EXTENSION_TIME_IN_DAYS`: how long Snowflake extends the retention of changes a
    /// stream on the table has not consumed (0 to 90; `None`: the default, 14 days). A stream
    /// whose changes are older than the longer of the two periods is stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_data_extension_days: Option<u32>,
}

/// Days a table's changes are retained when its definition says nothing (Snowflake's
/// default).
pub const DEFAULT_RETENTION_DAYS: u32 = 1;

/// Days the retention of changes a stream has not consumed is extended to when the
/// definition says nothing (Snowflake's default `MAX_DATA_EXTENSION_TIME_IN_DAYS`).
pub const DEFAULT_MAX_DATA_EXTENSION_DAYS: u32 = 14;

impl TableDef {
    /// A plain table without a key.
    pub fn new(name: impl Into<String>, columns: Vec<Column>) -> Self {
        TableDef {
            name: name.into(),
            columns,
            key: Vec::new(),
            layout: TableLayout::Plain,
            retention_days: None,
            max_data_extension_days: None,
        }
    }

    /// The same table with `DATA_RETENTION_TIME_IN_DAYS = days`.
    pub fn with_retention_days(mut self, days: u32) -> Self {
        self.retention_days = Some(days);
        self
    }

    /// The same table with `MAX_DATA_EXTENSION_TIME_IN_DAYS = days`.
    pub fn with_max_data_extension_days(mut self, days: u32) -> Self {
        self.max_data_extension_days = Some(days);
        self
    }

    /// Its data retention period: how long files nothing refers to any more are kept.
    pub fn retention(&self) -> std::time::Duration {
        days(self.retention_days.unwrap_or(DEFAULT_RETENTION_DAYS))
    }

    /// How long its changes stay readable by a stream that has not consumed them: the
    /// longer of the retention period and the maximum data extension, as in Snowflake.
    pub fn stream_retention(&self) -> std::time::Duration {
        let extension = self
            .max_data_extension_days
            .unwrap_or(DEFAULT_MAX_DATA_EXTENSION_DAYS);
        self.retention().max(days(extension))
    }

    /// The same table with these key columns.
    pub fn with_key<S: Into<String>>(mut self, key: impl IntoIterator<Item = S>) -> Self {
        self.key = key.into_iter().map(Into::into).collect();
        self
    }

    /// The same table with this layout.
    pub fn with_layout(mut self, layout: TableLayout) -> Self {
        self.layout = layout;
        self
    }

    /// The business columns as an Arrow schema.
    pub fn business_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns.iter().map(Column::field).collect::<Vec<_>>(),
        ))
    }

    /// Every column (business, then system) as an Arrow schema.
    pub fn schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self.columns.iter().map(Column::field).collect();
        fields.extend(self.system_columns().iter().map(Column::field));
        Arc::new(Schema::new(fields))
    }

    /// The system columns the layout adds.
    pub fn system_columns(&self) -> Vec<Column> {
        match &self.layout {
            TableLayout::Plain => Vec::new(),
            TableLayout::Scd1 { updated_at } => updated_at
                .iter()
                .map(|c| Column::new(c.clone(), ColumnType::TimestampNtz))
                .collect(),
            TableLayout::Scd2 { validity, .. } => {
                let end = Column::new(validity.end.clone(), ColumnType::TimestampNtz);
                let mut columns = vec![
                    Column::new(validity.start.clone(), ColumnType::TimestampNtz).not_null(),
                    match validity.open_end {
                        OpenEnd::FarFuture => end.not_null(),
                        OpenEnd::Null => end,
                    },
                    Column::new(validity.current.clone(), ColumnType::Boolean).not_null(),
                ];
                if let Some(deleted) = &validity.deleted {
                    columns.push(Column::new(deleted.clone(), ColumnType::Boolean).not_null());
                }
                if let Some(id) = &validity.scd_id {
                    columns.push(Column::new(id.clone(), ColumnType::Varchar).not_null());
                }
                columns
            }
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        validate_identifier(ObjectKind::Table, &self.name)?;
        let invalid =
            |reason: String| WarehouseError::invalid(ObjectKind::Table, &self.name, reason);
        if self.columns.is_empty() {
            return Err(invalid("a table needs at least one column".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for column in self.columns.iter().chain(&self.system_columns()) {
            validate_identifier(ObjectKind::Table, &column.name)
                .map_err(|_| invalid(format!("column name `{}` is not valid", column.name)))?;
            if !seen.insert(column.name.to_ascii_lowercase()) {
                return Err(invalid(format!("column `{}` appears twice", column.name)));
            }
        }
        for key in &self.key {
            if !self.columns.iter().any(|c| &c.name == key) {
                return Err(invalid(format!(
                    "key column `{key}` is not a business column"
                )));
            }
        }
        if self.layout != TableLayout::Plain && self.key.is_empty() {
            return Err(invalid("an SCD table needs a key".into()));
        }
        for (name, value) in [
            ("DATA_RETENTION_TIME_IN_DAYS", self.retention_days),
            (
                "MAX_DATA_EXTENSION_TIME_IN_DAYS",
                self.max_data_extension_days,
            ),
        ] {
            if let Some(days) = value.filter(|d| *d > 90) {
                return Err(invalid(format!(
                    "{name} is {days}; Snowflake allows 0 to 90"
                )));
            }
        }
        Ok(())
    }
}

/// A named CSV file format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileFormatDef {
    /// Its name.
    pub name: String,
    /// The options.
    pub csv: CsvFileFormat,
}

/// A stage: a URL prefix on an object store (`./folder`, `file:///…`, `memory:///…`,
/// `s3://bucket/prefix`), with an optional default file format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageDef {
    /// Its name.
    pub name: String,
    /// Where its files are. Credentials are never part of it; S3 reads `AWS_*` variables.
    pub url: String,
    /// The file format used when a pipe or COPY names none.
    pub file_format: Option<String>,
}

/// What a load does with bad records (Snowflake's `ON_ERROR`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum OnError {
    /// Load the good records of a file and skip the bad ones (`Partially loaded`).
    Continue,
    /// Skip a file with any bad record (`Load failed`); the default for pipes.
    SkipFile,
    /// Skip a file with at least this many bad records.
    SkipFileAfter(usize),
    /// Skip a file whose bad records are at least this percentage of its records.
    SkipFilePercent(f64),
    /// Fail the whole COPY at the first bad record, loading nothing; the default for COPY.
    AbortStatement,
}

/// A pipe: loads every new file of a stage into a table, exactly once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipeDef {
    /// Its name.
    pub name: String,
    /// The stage it watches.
    pub stage: String,
    /// The table it loads.
    pub table: String,
    /// The file format (default: the stage's).
    pub file_format: Option<String>,
    /// Bad-record handling; pipes may not use `AbortStatement`.
    pub on_error: OnError,
    /// Whether it loads on notifications of new files (it also lists the stage periodically).
    pub auto_ingest: bool,
    /// Only files whose name (after the stage prefix) matches this glob (`*` and `?`).
    pub pattern: Option<String>,
}

/// A stream: change tracking on a table from an offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamDef {
    /// Its name.
    pub name: String,
    /// The table it tracks.
    pub table: String,
    /// Inserts only (Snowflake's `APPEND_ONLY = TRUE`).
    pub append_only: bool,
    /// The first read returns the rows present at creation as inserts.
    pub show_initial_rows: bool,
}

/// A condition a scheduled task checks before running (Snowflake's `WHEN`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskCondition {
    /// `SYSTEM$STREAM_HAS_DATA('<stream>')` for any of these streams.
    StreamHasData(Vec<String>),
}

/// The statement a merge task runs: consume a stream, merge it into a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeDef {
    /// The stream consumed (its offset advances with the merge's commit).
    pub source: String,
    /// The target table (layout Scd1 or Scd2).
    pub target: String,
    /// Compared columns (default: every business column outside the key).
    pub compared: Option<Vec<String>>,
    /// A column ordering versions of a key (default: load order, then row order).
    pub sequence: Option<String>,
    /// A column of the source holding INSERT/UPDATE/DELETE (for append-only sources).
    pub operation_column: Option<String>,
    /// SCD Type 2: columns whose change opens a version (default: all compared).
    pub tracked: Option<Vec<String>>,
    /// Deletes in a Type 1 target.
    pub scd1_on_delete: Scd1Delete,
    /// Deletes in a Type 2 target.
    pub scd2_on_delete: Scd2Delete,
    /// What the merge does with a change row it cannot apply (an unknown operation, a NULL key
    /// or sequence, a value that does not fit): [`OnBadRow::Reject`] (the default) merges the
    /// good rows and writes the bad ones to the rejected table in the same commit;
    /// [`OnBadRow::Fail`] fails the run and keeps the stream's offset. Late rows go to the
    /// rejected table either way.
    #[serde(default = "reject_bad_rows")]
    pub on_bad_row: OnBadRow,
    /// The rejected table (default `<target>_rejected`, see
    /// [`MergeDef::rejected_table`]).
    #[serde(default)]
    pub rejected_table: Option<String>,
    /// What the merge does with a late row (older than its key's applied sequence, or beyond
    /// a re-stitching history's lateness bound): [`OnLateRow::Reject`] (the default) writes
    /// it to the rejected table; [`OnLateRow::Skip`] only counts it
    /// ([`crate::TaskRun::late_rows`]), for a current table whose late rows another merge
    /// of the same source keeps (the SCD-1 task of a pipeline whose history is sequenced by
    /// event time).
    #[serde(default)]
    pub on_late_row: OnLateRow,
    /// `IGNORE NULL UPDATES`: which columns keep their stored value when an update holds
    /// NULL there (default off; see [`IgnoreNullUpdates`]).
    #[serde(default)]
    pub ignore_null_updates: IgnoreNullUpdates,
    /// `APPLY AS DELETE WHEN`: source rows this holds for are deletes, the others upserts
    /// (for an append-only source without an operation column; see [`ChangePredicate`]).
    #[serde(default)]
    pub delete_when: Option<Box<ChangePredicate>>,
    /// `APPLY AS TRUNCATE WHEN`: source rows this holds for truncate the target at their place
    /// in the change order (default none; see `docs/scd.md`).
    #[serde(default)]
    pub truncate_when: Option<Box<ChangePredicate>>,
    /// Whether the source's rows are changes (the default) or full snapshots, one per staged
    /// file, that the target is diffed against ([`ChangeSource::Snapshots`]).
    #[serde(default)]
    pub change_source: ChangeSource,
}

/// What a merge does with a late row (see [`MergeDef::on_late_row`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum OnLateRow {
    /// Write it to the merge's rejected table, in the merge's commit.
    #[default]
    Reject,
    /// Leave it out, counted: another merge of the same source keeps it.
    Skip,
}

fn reject_bad_rows() -> OnBadRow {
    OnBadRow::Reject
}

impl MergeDef {
    /// The table rejected rows go to: `rejected_table`, or `<target>_rejected`.
    pub fn rejected_table(&self) -> String {
        self.rejected_table
            .clone()
            .unwrap_or_else(|| crate::rejected::default_name(&self.target))
    }

    /// Merge stream `source` into table `target` with the defaults.
    pub fn new(source: impl Into<String>, target: impl Into<String>) -> Self {
        MergeDef {
            source: source.into(),
            target: target.into(),
            compared: None,
            sequence: None,
            operation_column: None,
            tracked: None,
            scd1_on_delete: Scd1Delete::Remove,
            scd2_on_delete: Scd2Delete::Close,
            on_bad_row: OnBadRow::Reject,
            rejected_table: None,
            on_late_row: OnLateRow::Reject,
            ignore_null_updates: IgnoreNullUpdates::Off,
            delete_when: None,
            truncate_when: None,
            change_source: ChangeSource::Changes,
        }
    }

    /// How the merge reads rows of an append-only source: by `delete_when`, by the operation
    /// column, or all as upserts.
    pub fn change_format(&self) -> snowdrift_scd::ChangeFormat {
        use snowdrift_scd::ChangeFormat;
        match (&self.delete_when, &self.operation_column) {
            (Some(predicate), _) => ChangeFormat::DeleteWhen((**predicate).clone()),
            (None, Some(column)) => ChangeFormat::OperationColumn(column.clone()),
            (None, None) => ChangeFormat::Upserts,
        }
    }
}

/// What a task runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskBody {
    /// Consume a stream into a table with SCD semantics.
    Merge(MergeDef),
}

/// A task: a statement run on a schedule, after other tasks, or on demand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDef {
    /// Its name.
    pub name: String,
    /// When it runs (root tasks); `None` for a child task (see `after`).
    pub schedule: Option<Schedule>,
    /// Predecessors: the task runs after all of them succeeded in one graph run.
    pub after: Vec<String>,
    /// Checked before each scheduled run; false gives a `Skipped` run.
    pub when: Option<TaskCondition>,
    /// What it runs.
    pub body: TaskBody,
    /// Consecutive failures after which it suspends itself (0: never). Default 10.
    pub suspend_after_failures: u32,
    /// A run taking longer is cancelled and commits nothing (`USER_TASK_TIMEOUT_MS`). Default
    /// one hour. The embedded engine measures it with the warehouse's clock and checks it once
    /// the run's merge is computed, before its commit.
    pub timeout: Duration,
    /// A failed or cancelled run of a root task's graph is attempted again this many times
    /// (Snowflake's `TASK_AUTO_RETRY_ATTEMPTS`, 0 to 30; default 0). Read from the root.
    #[serde(default)]
    pub auto_retry_attempts: u32,
}

impl TaskDef {
    /// A task with Snowflake's defaults: no schedule, no predecessors, no condition.
    pub fn new(name: impl Into<String>, body: TaskBody) -> Self {
        TaskDef {
            name: name.into(),
            schedule: None,
            after: Vec::new(),
            when: None,
            body,
            suspend_after_failures: 10,
            timeout: Duration::from_secs(3600),
            auto_retry_attempts: 0,
        }
    }

    /// The same task on a schedule.
    pub fn with_schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = Some(schedule);
        self
    }

    /// The same task, run after these tasks.
    pub fn with_after<S: Into<String>>(mut self, after: impl IntoIterator<Item = S>) -> Self {
        self.after = after.into_iter().map(Into::into).collect();
        self
    }

    /// The same task, run only when a stream has data.
    pub fn when_stream_has_data(mut self, stream: impl Into<String>) -> Self {
        self.when = Some(TaskCondition::StreamHasData(vec![stream.into()]));
        self
    }
}

/// Any object definition, for creating objects generically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ObjectDef {
    /// A table.
    Table(TableDef),
    /// A file format.
    FileFormat(FileFormatDef),
    /// A stage.
    Stage(StageDef),
    /// A pipe.
    Pipe(PipeDef),
    /// A stream.
    Stream(StreamDef),
    /// A task.
    Task(TaskDef),
}

impl ObjectDef {
    /// The object's kind.
    pub fn kind(&self) -> ObjectKind {
        match self {
            ObjectDef::Table(_) => ObjectKind::Table,
            ObjectDef::FileFormat(_) => ObjectKind::FileFormat,
            ObjectDef::Stage(_) => ObjectKind::Stage,
            ObjectDef::Pipe(_) => ObjectKind::Pipe,
            ObjectDef::Stream(_) => ObjectKind::Stream,
            ObjectDef::Task(_) => ObjectKind::Task,
        }
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        match self {
            ObjectDef::Table(d) => &d.name,
            ObjectDef::FileFormat(d) => &d.name,
            ObjectDef::Stage(d) => &d.name,
            ObjectDef::Pipe(d) => &d.name,
            ObjectDef::Stream(d) => &d.name,
            ObjectDef::Task(d) => &d.name,
        }
    }
}

/// How `create` treats an existing object of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CreateMode {
    /// Fail with `AlreadyExists`.
    #[default]
    Create,
    /// Replace it (`CREATE OR REPLACE`).
    OrReplace,
    /// Keep it and succeed (`CREATE … IF NOT EXISTS`).
    IfNotExists,
}

fn days(days: u32) -> std::time::Duration {
    std::time::Duration::from_secs(u64::from(days) * 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_rules_are_written_to_the_log_as_they_always_were() {
        // Logs written while the catalog had its own copies of these enums must still read.
        fn written(value: &impl Serialize) -> String {
            serde_json::to_string(value).unwrap()
        }
        assert_eq!(written(&Scd1Delete::Remove), r#""Remove""#);
        assert_eq!(written(&Scd1Delete::Ignore), r#""Ignore""#);
        assert_eq!(written(&Scd2Delete::Ignore), r#""Ignore""#);
        assert_eq!(written(&Scd2Delete::Close), r#""Close""#);
        assert_eq!(
            written(&Scd2Delete::CloseWithTombstone),
            r#""CloseWithTombstone""#
        );
        let read: Scd2Delete = serde_json::from_str(r#""CloseWithTombstone""#).unwrap();
        assert_eq!(read, Scd2Delete::CloseWithTombstone);
    }

    #[test]
    fn validity_columns_are_written_to_the_log_as_they_always_were() {
        // The catalog once had its own `Validity` with these fields; its entries must still read,
        // including those written before `open_end` and `scd_id` existed.
        let written = serde_json::to_string(&ValidityColumns::default()).unwrap();
        assert_eq!(
            written,
            r#"{"start":"start_time","end":"end_time","current":"is_current","deleted":null,"open_end":"FarFuture","scd_id":null}"#
        );
        let old = r#"{"start":"s","end":"e","current":"c","deleted":"d"}"#;
        let read: ValidityColumns = serde_json::from_str(old).unwrap();
        assert_eq!(
            read,
            ValidityColumns {
                start: "s".into(),
                end: "e".into(),
                current: "c".into(),
                deleted: Some("d".into()),
                open_end: OpenEnd::FarFuture,
                scd_id: None,
            }
        );
    }
}
