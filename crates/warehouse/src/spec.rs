//! [`PipelineSpec`]: the whole flow declared once — raw table, SCD-1 and SCD-2 tables, stage and
//! file format, pipe, streams, and the two merge tasks — with the original pipeline as its
//! default. Backends deploy it with [`crate::WarehouseExt::deploy`].

use std::time::Duration;

use crate::catalog::{
    ChangePredicate, ChangeSource, Column, ColumnType, FileFormatDef, IgnoreNullUpdates,
    LateChanges, MergeDef, ObjectDef, ObjectKind, OnBadRow, OnError, OnLateRow, PipeDef,
    Scd1Delete, Scd2Delete, StageDef, StreamDef, TableDef, TableLayout, TaskBody, TaskCondition,
    TaskDef, ValidityColumns,
};
use crate::load::CsvFileFormat;
use crate::rejected;
use crate::schedule::Schedule;

/// The pipeline's objects and options. `PipelineSpec::default()` is the original flow:
/// `customer_raw` ← pipe ← stage of CSV files; a task merging raw (through an append-only
/// stream, never by truncation) into `customer` (SCD-1); a task after it merging the stream on
/// `customer` into `customer_history` (SCD-2).
///
/// ```
/// use std::time::Duration;
/// use snowdrift_warehouse::{PipelineSpec, Schedule};
/// let spec = PipelineSpec {
///     stage_url: "./my-landing".into(),
///     schedule: Schedule::Interval(Duration::from_millis(100)),
///     ..PipelineSpec::default()
/// };
/// let names: Vec<String> = spec.objects().iter().map(|o| o.name().to_string()).collect();
/// assert_eq!(names[0], "customer_raw");
/// assert!(names.contains(&"customer_history".to_string()));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineSpec {
    /// The business columns (default: the original's eight customer columns).
    pub columns: Vec<Column>,
    /// The key (default `customer_id`).
    pub key: Vec<String>,
    /// The landing table.
    pub raw_table: String,
    /// The SCD-1 table.
    pub current_table: String,
    /// The SCD-2 table.
    pub history_table: String,
    /// The stage name.
    pub stage: String,
    /// The stage URL (default `./snowdrift-stage`; `s3://bucket/prefix` for S3).
    pub stage_url: String,
    /// The file format name.
    pub file_format: String,
    /// The file format options (default: header line, `"` quoting, empty field as NULL).
    pub csv: CsvFileFormat,
    /// The pipe name.
    pub pipe: String,
    /// Bad records in staged files (pipe default: skip the file).
    pub on_error: OnError,
    /// The append-only stream on the raw table consumed by the SCD-1 task.
    pub raw_stream: String,
    /// The stream on the SCD-1 table consumed by the SCD-2 task (the original's
    /// `customer_table_changes`).
    pub current_stream: String,
    /// The SCD-1 task.
    pub current_task: String,
    /// The SCD-2 task (runs after the SCD-1 task).
    pub history_task: String,
    /// The SCD-1 task's schedule (default one second; the original's is `1 minute`).
    pub schedule: Schedule,
    /// An optional column of raw rows holding INSERT/UPDATE/DELETE.
    pub operation_column: Option<String>,
    /// An optional column of raw rows ordering versions of a key.
    pub sequence_column: Option<String>,
    /// Deletes in the SCD-1 table.
    pub current_on_delete: Scd1Delete,
    /// Deletes in the SCD-2 table (default: close the current version).
    pub history_on_delete: Scd2Delete,
    /// What both merge tasks do with a row they cannot apply (default: write it to the
    /// target's rejected table, `customer_rejected` and `customer_history_rejected`, and go
    /// on; [`OnBadRow::Fail`] fails the run and keeps the stream's offset). Late rows go to
    /// the rejected tables either way.
    pub on_bad_row: OnBadRow,
    /// `DATA_RETENTION_TIME_IN_DAYS` of every table it creates (default `None`: the
    /// warehouse's, [`crate::DEFAULT_RETENTION_DAYS`]). With 0, files no table refers to any
    /// more are removed at the next checkpoint; streams still keep the changes they have not
    /// consumed for the maximum data extension (14 days by default).
    pub retention_days: Option<u32>,
    /// History by event time (default `None`: a version's validity is the SCD-1 merge's
    /// processing time, as in the original). See [`EventTime`].
    pub event_time: Option<EventTime>,
    /// `IGNORE NULL UPDATES`: a NULL in an update of an existing customer keeps its stored
    /// value (default off). It applies in the SCD-1 merge, and the history, fed by the SCD-1
    /// table's changes, sees the kept values. With [`PipelineSpec::event_time`] the history
    /// reads the raw rows and applies it too: a late change keeps the values of the version it
    /// falls in.
    pub ignore_null_updates: IgnoreNullUpdates,
    /// `COLUMNS` / `COLUMNS * EXCEPT (...)`: which business columns `customer` and
    /// `customer_history` keep (default all; the key is always kept). The raw table and its
    /// rejected table keep every column as loaded.
    pub kept_columns: ColumnSelection,
    /// `TRACK HISTORY ON` / `TRACK HISTORY ON * EXCEPT (...)`: the kept columns whose change
    /// opens a version in `customer_history` (default all); changes to the others are
    /// overwritten in the current version.
    pub history_tracked: ColumnSelection,
    /// `APPLY AS DELETE WHEN`: raw rows this holds for are deletes, the others upserts (instead
    /// of an operation column; default none).
    pub delete_when: Option<ChangePredicate>,
    /// The validity columns of `customer_history`: names, how the open end is written (NULL as
    /// dbt and AUTO CDC write it, or 9999-12-31), a dbt-style version id, and the tombstone
    /// flag that [`Scd2Delete::CloseWithTombstone`] needs (dbt's `hard_deletes:
    /// new_record`). Default: the original's `start_time`, `end_time`, `is_current`.
    pub history_validity: ValidityColumns,
    /// `APPLY AS TRUNCATE WHEN`: raw rows this holds for truncate `customer` at their place in
    /// the change order (their key may be NULL); customers whose last change is not after the
    /// truncate are deleted, and the history closes their versions (default none).
    pub truncate_when: Option<ChangePredicate>,
    /// Whether each staged file holds changes (the default) or a full snapshot of the entity,
    /// as the original generator writes (every file re-states customers 0..9999):
    /// [`ChangeSource::Snapshots`] diffs `customer` against the last snapshot of each merge,
    /// updating changed customers, inserting new ones, and deleting or keeping
    /// ([`crate::AbsentKeys`]) the ones it leaves out. No operation column, sequence or event time.
    pub change_source: ChangeSource,
}

/// A selection of business columns, as Databricks AUTO CDC writes them: all, a list, or all
/// but a list (`COLUMNS`, `TRACK HISTORY ON`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ColumnSelection {
    /// Every column (the default).
    #[default]
    All,
    /// These columns (and the key, which is always kept).
    Only(Vec<String>),
    /// Every column but these (`* EXCEPT (a, b)`).
    AllExcept(Vec<String>),
}

impl ColumnSelection {
    /// The names it lists (none for `All`).
    fn listed(&self) -> &[String] {
        match self {
            ColumnSelection::All => &[],
            ColumnSelection::Only(names) | ColumnSelection::AllExcept(names) => names,
        }
    }

    /// Whether it selects `name`.
    fn selects(&self, name: &str) -> bool {
        match self {
            ColumnSelection::All => true,
            ColumnSelection::Only(names) => names.iter().any(|n| n == name),
            ColumnSelection::AllExcept(names) => !names.iter().any(|n| n == name),
        }
    }
}

/// A history sequenced by a business timestamp carried in the raw rows: `start_time` and
/// `end_time` of `customer_history` come from that column, and a change that arrives late is
/// put in its place among its key's versions (or rejected, per [`EventTime::late`]).
///
/// The SCD-2 task then reads the raw rows themselves, through a second append-only stream on
/// the raw table (the stream on the SCD-1 table carries merge times, not event times, and
/// has already dropped the late changes). The SCD-1 task keeps each key's latest change by
/// event time (or by the spec's `sequence_column` when there is one) and only counts the late
/// rows it skips: the history keeps them, and rejects those beyond the lateness bound to
/// its rejected table, so each late row is accounted for once.
///
/// ```
/// use snowdrift_warehouse::{EventTime, ObjectDef, PipelineSpec};
/// let spec = PipelineSpec {
///     event_time: Some(EventTime::default()),
///     ..PipelineSpec::default()
/// };
/// let names: Vec<String> = spec.objects().iter().map(|o| o.name().to_string()).collect();
/// assert!(names.contains(&"customer_raw_history_stream".to_string()));
/// assert!(!names.contains(&"customer_table_changes".to_string()));
/// assert!(spec.raw_columns().iter().any(|c| c.name == "event_time"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct EventTime {
    /// The raw rows' event-time column, `TIMESTAMP_NTZ` (default `event_time`). A row
    /// without one is a bad row.
    pub column: String,
    /// Late changes: re-stitched within one day of their key's newest event time by default
    /// (older ones are rejected as late); [`LateChanges::Reject`] rejects every change older
    /// than its key's newest version.
    pub late: LateChanges,
    /// The append-only stream on the raw table the SCD-2 task consumes (default
    /// `customer_raw_history_stream`).
    pub history_stream: String,
}

impl Default for EventTime {
    fn default() -> Self {
        EventTime {
            column: "event_time".into(),
            late: LateChanges::restitch_within(Duration::from_secs(86_400)),
            history_stream: "customer_raw_history_stream".into(),
        }
    }
}

impl Default for PipelineSpec {
    fn default() -> Self {
        let text = |name: &str| Column::new(name, ColumnType::Varchar);
        PipelineSpec {
            columns: vec![
                Column::new("customer_id", ColumnType::Number).not_null(),
                text("first_name"),
                text("last_name"),
                text("email"),
                text("street"),
                text("city"),
                text("state"),
                text("country"),
            ],
            key: vec!["customer_id".into()],
            raw_table: "customer_raw".into(),
            current_table: "customer".into(),
            history_table: "customer_history".into(),
            stage: "customer_stage".into(),
            stage_url: "./snowdrift-stage".into(),
            file_format: "customer_csv".into(),
            csv: CsvFileFormat::staged(),
            pipe: "customer_pipe".into(),
            on_error: OnError::SkipFile,
            raw_stream: "customer_raw_stream".into(),
            current_stream: "customer_table_changes".into(),
            current_task: "customer_scd1_task".into(),
            history_task: "customer_scd2_task".into(),
            schedule: Schedule::Interval(Duration::from_secs(1)),
            operation_column: None,
            sequence_column: None,
            current_on_delete: Scd1Delete::Remove,
            history_on_delete: Scd2Delete::Close,
            on_bad_row: OnBadRow::Reject,
            retention_days: None,
            event_time: None,
            ignore_null_updates: IgnoreNullUpdates::Off,
            kept_columns: ColumnSelection::All,
            history_tracked: ColumnSelection::All,
            delete_when: None,
            history_validity: ValidityColumns::default(),
            truncate_when: None,
            change_source: ChangeSource::Changes,
        }
    }
}

impl PipelineSpec {
    /// The original's one-minute schedule.
    pub fn original_schedule() -> Schedule {
        Schedule::Interval(Duration::from_secs(60))
    }

    /// Checks the options that only make sense together (run by
    /// [`crate::WarehouseExt::deploy`] before it creates anything).
    ///
    /// # Errors
    ///
    /// [`crate::WarehouseError::InvalidDefinition`]: naming the SCD-1 table, a kept column that
    /// is not a business column, or an excepted key column; naming the history task, a history
    /// by event time that ignores deletes.
    pub fn validate(&self) -> crate::Result<()> {
        let invalid = |reason: &str| {
            Err(crate::WarehouseError::invalid(
                ObjectKind::Task,
                &self.history_task,
                reason,
            ))
        };
        if self.history_on_delete == Scd2Delete::CloseWithTombstone
            && self.history_validity.deleted.is_none()
        {
            return invalid("tombstones need a `deleted` column in `history_validity`");
        }
        for name in self.kept_columns.listed() {
            if !self.columns.iter().any(|c| &c.name == name) {
                return Err(crate::WarehouseError::invalid(
                    ObjectKind::Table,
                    &self.current_table,
                    format!("kept column `{name}` is not a business column"),
                ));
            }
        }
        if let Some(reason) = self.change_rule_conflict() {
            return Err(crate::WarehouseError::invalid(
                ObjectKind::Task,
                &self.current_task,
                reason,
            ));
        }
        let kept = self.kept();
        for name in self.history_tracked.listed() {
            if !kept.iter().any(|c| &c.name == name) || self.key.contains(name) {
                return Err(crate::WarehouseError::invalid(
                    ObjectKind::Task,
                    &self.history_task,
                    format!("tracked column `{name}` is not a kept column outside the key"),
                ));
            }
        }
        if matches!(&self.kept_columns, ColumnSelection::AllExcept(names) if names.iter().any(|n| self.key.contains(n)))
        {
            return Err(crate::WarehouseError::invalid(
                ObjectKind::Table,
                &self.current_table,
                "the key is always kept: it cannot be excepted",
            ));
        }
        if self.event_time.is_none() {
            return Ok(());
        }
        if self.history_on_delete == Scd2Delete::Ignore {
            return invalid("a history sequenced by event time cannot ignore deletes");
        }
        Ok(())
    }

    /// Why the rules that read raw rows (`APPLY AS DELETE WHEN`, `APPLY AS TRUNCATE WHEN`, a
    /// snapshot source) cannot go together as given, if they cannot.
    fn change_rule_conflict(&self) -> Option<String> {
        let raw = self.raw_columns();
        let unknown = |p: &ChangePredicate| {
            p.columns()
                .into_iter()
                .find(|c| !raw.iter().any(|r| r.name == *c))
                .map(str::to_owned)
        };
        if let Some(c) = self.delete_when.as_ref().and_then(unknown) {
            return Some(format!(
                "APPLY AS DELETE WHEN reads `{c}`, not a raw column"
            ));
        }
        if self.delete_when.is_some() && self.operation_column.is_some() {
            return Some(
                "APPLY AS DELETE WHEN replaces the operation column: give one of them".into(),
            );
        }
        if let Some(c) = self.truncate_when.as_ref().and_then(unknown) {
            return Some(format!(
                "APPLY AS TRUNCATE WHEN reads `{c}`, not a raw column"
            ));
        }
        if self.truncate_when.is_some() && self.event_time.is_some() {
            return Some(
                "APPLY AS TRUNCATE WHEN is not available with a history sequenced by event time"
                    .into(),
            );
        }
        let snapshot = matches!(self.change_source, ChangeSource::Snapshots(_));
        let per_row = self.operation_column.is_some()
            || self.sequence_column.is_some()
            || self.event_time.is_some()
            || self.delete_when.is_some()
            || self.truncate_when.is_some();
        (snapshot && per_row).then(|| {
            "a snapshot source is a file of upserts: no operation column, sequence, event time, \
             delete or truncate condition"
                .into()
        })
    }

    /// The raw table's columns: the business columns plus the optional operation, sequence
    /// and event-time columns.
    pub fn raw_columns(&self) -> Vec<Column> {
        let mut columns = self.columns.clone();
        if self.truncate_when.is_some() {
            // A truncate row names no key: it must load with an empty one (the merges reject
            // a NULL key in any other row).
            for column in columns.iter_mut().filter(|c| self.key.contains(&c.name)) {
                column.nullable = true;
            }
        }
        if let Some(op) = &self.operation_column {
            columns.push(Column::new(op.clone(), ColumnType::Varchar));
        }
        if let Some(sequence) = &self.sequence_column {
            columns.push(Column::new(sequence.clone(), ColumnType::Number));
        }
        if let Some(event_time) = &self.event_time {
            columns.push(Column::new(
                event_time.column.clone(),
                ColumnType::TimestampNtz,
            ));
        }
        columns
    }

    /// The stream the SCD-2 task consumes: the stream on the SCD-1 table, or with
    /// [`PipelineSpec::event_time`] the second stream on the raw table.
    pub fn history_source(&self) -> &str {
        match &self.event_time {
            Some(event_time) => &event_time.history_stream,
            None => &self.current_stream,
        }
    }

    /// The rejected table late rows land in: the history's when it is sequenced by event time
    /// (the SCD-1 task skips them), the SCD-1 table's otherwise.
    pub fn late_rows_table(&self) -> String {
        match self.event_time {
            Some(_) => self.history_task_merge().rejected_table(),
            None => self.current_task_merge().rejected_table(),
        }
    }

    /// The raw column late rows are ordered by: the event time, else the sequence column.
    pub fn late_rows_sequence(&self) -> Option<&str> {
        match &self.event_time {
            Some(event_time) => Some(&event_time.column),
            None => self.sequence_column.as_deref(),
        }
    }

    /// The streams of the task graph: the pipeline is idle when none of them has data.
    pub fn streams(&self) -> [&str; 2] {
        [&self.raw_stream, self.history_source()]
    }

    /// The business columns as an Arrow schema.
    pub fn business_schema(&self) -> arrow::datatypes::SchemaRef {
        TableDef::new(self.current_table.clone(), self.kept()).business_schema()
    }

    /// The business columns the SCD tables keep (see [`PipelineSpec::kept_columns`]).
    pub fn kept(&self) -> Vec<Column> {
        self.columns
            .iter()
            .filter(|c| self.key.contains(&c.name) || self.kept_columns.selects(&c.name))
            .cloned()
            .collect()
    }

    /// `def` with the spec's retention period.
    fn retained(&self, def: TableDef) -> TableDef {
        match self.retention_days {
            Some(days) => def.with_retention_days(days),
            None => def,
        }
    }

    fn raw_table_def(&self) -> TableDef {
        self.retained(TableDef::new(self.raw_table.clone(), self.raw_columns()))
    }

    fn current_table_def(&self) -> TableDef {
        self.retained(
            TableDef::new(self.current_table.clone(), self.kept())
                .with_key(self.key.clone())
                .with_layout(TableLayout::scd1()),
        )
    }

    fn history_table_def(&self) -> TableDef {
        let layout = TableLayout::Scd2 {
            validity: self.history_validity.clone(),
            late: self
                .event_time
                .as_ref()
                .map_or(LateChanges::Reject, |event_time| event_time.late),
        };
        self.retained(
            TableDef::new(self.history_table.clone(), self.kept())
                .with_key(self.key.clone())
                .with_layout(layout),
        )
    }

    /// The rejected tables of the SCD-1 and SCD-2 tasks (`customer_rejected`,
    /// `customer_history_rejected` by default).
    pub fn rejected_tables(&self) -> [TableDef; 2] {
        let current = self.current_task_merge().rejected_table();
        let history = self.history_task_merge().rejected_table();
        [
            self.retained(rejected::table_def(&current, &self.raw_table_def())),
            self.retained(rejected::table_def(&history, &self.history_source_def())),
        ]
    }

    /// The table behind the SCD-2 task's stream.
    fn history_source_def(&self) -> TableDef {
        match self.event_time {
            Some(_) => self.raw_table_def(),
            None => self.current_table_def(),
        }
    }

    /// Every object, in dependency order.
    pub fn objects(&self) -> Vec<ObjectDef> {
        let [current_rejected, history_rejected] = self.rejected_tables();
        vec![
            ObjectDef::Table(self.raw_table_def()),
            ObjectDef::Table(self.current_table_def()),
            ObjectDef::Table(self.history_table_def()),
            ObjectDef::Table(current_rejected),
            ObjectDef::Table(history_rejected),
            ObjectDef::FileFormat(FileFormatDef {
                name: self.file_format.clone(),
                csv: self.csv.clone(),
            }),
            ObjectDef::Stage(StageDef {
                name: self.stage.clone(),
                url: self.stage_url.clone(),
                file_format: Some(self.file_format.clone()),
            }),
            ObjectDef::Pipe(PipeDef {
                name: self.pipe.clone(),
                stage: self.stage.clone(),
                table: self.raw_table.clone(),
                file_format: Some(self.file_format.clone()),
                on_error: self.on_error,
                auto_ingest: true,
                pattern: None,
            }),
            ObjectDef::Stream(StreamDef {
                name: self.raw_stream.clone(),
                table: self.raw_table.clone(),
                append_only: true,
                show_initial_rows: false,
            }),
            ObjectDef::Stream(self.history_stream_def()),
            ObjectDef::Task(self.current_task_def()),
            ObjectDef::Task(self.history_task_def()),
        ]
    }

    fn history_stream_def(&self) -> StreamDef {
        StreamDef {
            name: self.history_source().to_owned(),
            table: self.history_source_def().name,
            append_only: self.event_time.is_some(),
            show_initial_rows: false,
        }
    }

    fn current_task_merge(&self) -> MergeDef {
        let event_time = self.event_time.as_ref().map(|e| e.column.clone());
        MergeDef {
            sequence: self.sequence_column.clone().or(event_time),
            operation_column: self.operation_column.clone(),
            scd1_on_delete: self.current_on_delete,
            on_bad_row: self.on_bad_row,
            ignore_null_updates: self.ignore_null_updates.clone(),
            delete_when: self.delete_when.clone().map(Box::new),
            truncate_when: self.truncate_when.clone().map(Box::new),
            change_source: self.change_source,
            // With event time the history keeps (or rejects) each late row, once.
            on_late_row: match self.event_time {
                Some(_) => OnLateRow::Skip,
                None => OnLateRow::Reject,
            },
            ..MergeDef::new(self.raw_stream.clone(), self.current_table.clone())
        }
    }

    fn history_task_merge(&self) -> MergeDef {
        let (sequence, operation_column) = match &self.event_time {
            // Versions start at the change's event time, read from the raw rows.
            Some(event_time) => (event_time.column.clone(), self.operation_column.clone()),
            // Versions start at the SCD-1 row's update time, as in the original.
            None => ("update_timestamp".into(), None),
        };
        let tracked = (self.history_tracked != ColumnSelection::All).then(|| {
            self.kept()
                .into_iter()
                .map(|c| c.name)
                .filter(|n| !self.key.contains(n) && self.history_tracked.selects(n))
                .collect()
        });
        // The history reads the raw rows by event time: the same delete condition and NULL
        // updates (without event time, the SCD-1 table's changes carry the kept values).
        let from_raw = self.event_time.is_some();
        MergeDef {
            sequence: Some(sequence),
            operation_column,
            delete_when: from_raw
                .then(|| self.delete_when.clone().map(Box::new))
                .flatten(),
            ignore_null_updates: match from_raw {
                true => self.ignore_null_updates.clone(),
                false => IgnoreNullUpdates::Off,
            },
            tracked,
            scd2_on_delete: self.history_on_delete,
            on_bad_row: self.on_bad_row,
            ..MergeDef::new(self.history_source(), self.history_table.clone())
        }
    }

    /// The root task runs when either stream of the graph has data (the graph liveness rule,
    /// `docs/concepts.md`): after a crash between the two merges of one run, or a failed SCD-2
    /// run, the next scheduled run brings the history up to date with no new file. A root
    /// that looked only at the raw stream would leave the history behind until a file lands.
    fn current_task_def(&self) -> TaskDef {
        let mut task = TaskDef::new(
            self.current_task.clone(),
            TaskBody::Merge(self.current_task_merge()),
        )
        .with_schedule(self.schedule.clone());
        task.when = Some(TaskCondition::StreamHasData(
            self.streams().map(str::to_owned).to_vec(),
        ));
        task
    }

    fn history_task_def(&self) -> TaskDef {
        TaskDef::new(
            self.history_task.clone(),
            TaskBody::Merge(self.history_task_merge()),
        )
        .with_after([self.current_task.clone()])
        .when_stream_has_data(self.history_source())
    }

    /// The task names, children before their predecessors (the order to resume them in).
    pub fn tasks_children_first(&self) -> Vec<String> {
        vec![self.history_task.clone(), self.current_task.clone()]
    }
}
