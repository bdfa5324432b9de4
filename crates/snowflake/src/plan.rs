//! Deploy and teardown as plans: the statements, in dependency order, that create (or drop)
//! a pipeline's objects on Snowflake. A plan can be printed without an account and applied
//! by the Snowflake warehouse; applying a deploy plan twice is safe (every
//! object is created `IF NOT EXISTS`, root tasks are suspended first and the graph resumed
//! children first at the end).

use std::fmt;

use snowdrift_warehouse::{
    ColumnType, ObjectDef, ObjectKind, PipelineSpec, TableDef, TaskBody, TaskDef,
};

use crate::error::{Result, SnowflakeError};
use crate::render::{Renderer, SourceShape, StageAccess, Statement};

/// Statements to run in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SqlPlan {
    /// The statements.
    pub statements: Vec<Statement>,
}

impl fmt::Display for SqlPlan {
    /// One statement per line, ending in `;`, secrets shown as `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for statement in &self.statements {
            writeln!(f, "{statement};")?;
        }
        Ok(())
    }
}

impl Renderer {
    /// The statements that deploy `spec`: suspend the graph's root tasks if they exist,
    /// create the database and schema, the tables, file format, stage, pipe, streams and
    /// tasks, then resume the tasks, children first.
    ///
    /// ```
    /// use snowdrift_snowflake::{Renderer, StageAccess};
    /// use snowdrift_warehouse::PipelineSpec;
    ///
    /// let spec = PipelineSpec {
    ///     stage_url: "s3://acme-landing/customers".into(),
    ///     schedule: PipelineSpec::original_schedule(),
    ///     ..PipelineSpec::default()
    /// };
    /// let plan = Renderer::new("snowdrift", "public")
    ///     .deploy_plan(&spec, &StageAccess::Integration("s3_landing".into()))?;
    /// let text = plan.to_string();
    /// assert!(text.contains("SCHEDULE = '1 MINUTE'"));
    /// assert!(text.ends_with("ALTER TASK \"SNOWDRIFT\".\"PUBLIC\".\"CUSTOMER_SCD1_TASK\" RESUME;\n"));
    /// # Ok::<(), snowdrift_snowflake::SnowflakeError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`SnowflakeError::InvalidIdentifier`] for a name Snowflake cannot hold,
    /// [`SnowflakeError::Unsupported`] for an option Snowflake has no form of (a schedule under 10
    /// seconds, a non-S3 stage, `ABORT_STATEMENT` on a pipe, a re-stitched history by event time),
    /// [`SnowflakeError::InvalidMerge`] for a merge whose columns or sequence do not fit its
    /// tables, and [`SnowflakeError::NotDeployed`] when the tasks' `AFTER` clauses form a cycle.
    /// Nothing is run: a plan is only text.
    pub fn deploy_plan(&self, spec: &PipelineSpec, access: &StageAccess) -> Result<SqlPlan> {
        let objects = spec.objects();
        let tasks = tasks_children_first(&objects)?;
        let mut statements = self.suspend_roots(&tasks)?;
        statements.extend(self.namespace()?);
        for object in &objects {
            for table in sequences_of(object, &objects)? {
                statements.push(self.table(&table)?);
            }
            statements.push(self.create(object, &objects, access)?);
        }
        for task in &tasks {
            statements.push(self.alter_task(&task.name, "RESUME")?);
        }
        Ok(SqlPlan { statements })
    }

    /// The statements that remove what [`Renderer::deploy_plan`] made, in reverse order
    /// (the database and schema stay: they may hold other things). Tables are dropped with
    /// their data.
    ///
    /// # Errors
    ///
    /// [`SnowflakeError::InvalidIdentifier`] for a name Snowflake cannot hold, and
    /// [`SnowflakeError::NotDeployed`] when the tasks' `AFTER` clauses form a cycle.
    pub fn teardown_plan(&self, spec: &PipelineSpec) -> Result<SqlPlan> {
        let objects = spec.objects();
        let tasks = tasks_children_first(&objects)?;
        let mut statements = self.suspend_roots(&tasks)?;
        for task in &tasks {
            statements.push(self.drop_statement(ObjectKind::Task, &task.name)?);
        }
        for object in &objects {
            for table in sequences_of(object, &objects)? {
                statements.push(self.drop_statement(ObjectKind::Table, &table.name)?);
            }
        }
        for object in objects.iter().rev() {
            if object.kind() != ObjectKind::Task {
                statements.push(self.drop_statement(object.kind(), object.name())?);
            }
        }
        Ok(SqlPlan { statements })
    }

    /// [`Renderer::teardown_plan`], then `DROP SCHEMA` and `DROP DATABASE` too: everything
    /// deploy made when it created the database. Only for a database that holds nothing else
    /// — both drops take their whole contents with them.
    ///
    /// # Errors
    ///
    /// As [`Renderer::teardown_plan`], and [`SnowflakeError::InvalidIdentifier`] for the database
    /// or schema name.
    pub fn teardown_plan_with_namespace(&self, spec: &PipelineSpec) -> Result<SqlPlan> {
        let mut plan = self.teardown_plan(spec)?;
        for (keyword, name) in [
            ("SCHEMA", self.schema_name()?),
            ("DATABASE", self.database_name()?),
        ] {
            plan.statements.push(Statement::new(
                ObjectKind::Table,
                &name,
                format!("DROP {keyword} IF EXISTS {name}"),
            ));
        }
        Ok(plan)
    }

    /// `DROP <kind> IF EXISTS <name>`.
    ///
    /// # Errors
    ///
    /// [`SnowflakeError::InvalidIdentifier`] when `name` (or the database or schema) cannot be a
    /// Snowflake identifier.
    pub fn drop_statement(&self, kind: ObjectKind, name: &str) -> Result<Statement> {
        let sql = format!(
            "DROP {} IF EXISTS {}",
            kind_keyword(kind),
            self.qualified(kind, name)?
        );
        Ok(Statement::new(kind, name, sql))
    }

    /// `ALTER TASK <name> RESUME | SUSPEND`.
    ///
    /// # Errors
    ///
    /// [`SnowflakeError::InvalidIdentifier`] when `name` (or the database or schema) cannot be a
    /// Snowflake identifier.
    pub fn alter_task(&self, name: &str, action: &str) -> Result<Statement> {
        let sql = format!(
            "ALTER TASK {} {action}",
            self.qualified(ObjectKind::Task, name)?
        );
        Ok(Statement::new(ObjectKind::Task, name, sql))
    }

    fn suspend_roots(&self, tasks: &[&TaskDef]) -> Result<Vec<Statement>> {
        tasks
            .iter()
            .filter(|t| t.after.is_empty())
            .map(|t| {
                let sql = format!(
                    "ALTER TASK IF EXISTS {} SUSPEND",
                    self.qualified(ObjectKind::Task, &t.name)?
                );
                Ok(Statement::new(ObjectKind::Task, &t.name, sql))
            })
            .collect()
    }

    /// The `CREATE` statement of one object of `objects`.
    ///
    /// # Errors
    ///
    /// As [`Renderer::deploy_plan`], for this one object.
    pub fn create(
        &self,
        object: &ObjectDef,
        objects: &[ObjectDef],
        access: &StageAccess,
    ) -> Result<Statement> {
        match object {
            ObjectDef::Table(table) if is_pipe_target(objects, &table.name) => {
                self.raw_table(table)
            }
            ObjectDef::Table(table) => self.table(table),
            ObjectDef::FileFormat(format) => self.file_format(format),
            ObjectDef::Stage(stage) => self.stage(stage, access),
            ObjectDef::Pipe(pipe) => self.pipe(pipe, find_table(objects, &pipe.table)?),
            ObjectDef::Stream(stream) => self.stream(stream),
            ObjectDef::Task(task) => {
                let TaskBody::Merge(merge) = &task.body;
                let target = find_table(objects, &merge.target)?;
                let body = self.merge_body(merge, target, source_shape(objects, &merge.source)?)?;
                self.task(task, &body)
            }
        }
    }
}

/// The tables a merge of raw rows keeps beside its target when it has a sequence: the
/// sequences table (of the sequence column's type) and, with `APPLY AS TRUNCATE WHEN`, the
/// sequence floor. An SCD-2 merge of raw rows (a history by event time) must be sequenced by
/// a timestamp: its versions start at the sequence.
fn sequences_of(object: &ObjectDef, objects: &[ObjectDef]) -> Result<Vec<TableDef>> {
    let ObjectDef::Task(task) = object else {
        return Ok(Vec::new());
    };
    let TaskBody::Merge(merge) = &task.body;
    let target = find_table(objects, &merge.target)?;
    let from_raw = source_shape(objects, &merge.source)? == SourceShape::AppendOnly;
    let Some(sequence) = merge.sequence.as_deref().filter(|_| from_raw) else {
        return Ok(Vec::new());
    };
    if target.layout.restitches() {
        return Ok(Vec::new());
    }
    let sequence_type = sequence_type(objects, &merge.source, sequence)?;
    let scd2 = matches!(target.layout, snowdrift_warehouse::TableLayout::Scd2 { .. });
    if scd2 && sequence_type != ColumnType::TimestampNtz {
        return Err(SnowflakeError::Unsupported {
            object: format!("the merge of {} into {}", merge.source, merge.target),
            what: format!(
                "an SCD-2 merge of raw rows sequenced by `{sequence}`, a {sequence_type:?} \
                 (a history of raw rows is sequenced by a TIMESTAMP_NTZ event time)"
            ),
        });
    }
    let mut tables = vec![crate::reject::sequences_table(target, sequence_type)];
    if merge.truncate_when.is_some() {
        tables.push(crate::reject::sequence_floor_table(target));
    }
    Ok(tables)
}

/// The type of the `sequence` column of the table the stream `source` is on.
fn sequence_type(objects: &[ObjectDef], source: &str, sequence: &str) -> Result<ColumnType> {
    let table = objects.iter().find_map(|o| match o {
        ObjectDef::Stream(s) if s.name.eq_ignore_ascii_case(source) => Some(&s.table),
        _ => None,
    });
    let column = match table {
        Some(table) => find_table(objects, table)?
            .columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(sequence)),
        None => None,
    };
    column
        .map(|c| c.column_type)
        .ok_or_else(|| SnowflakeError::NotDeployed {
            object: format!("stream {source}"),
            reason: format!("its table has no sequence column `{sequence}`"),
        })
}

/// The tables a merge task writes beside its target and that `objects` lacks: its rejected
/// table (as the embedded engine creates it with the task) and its sequences table.
pub(crate) fn side_tables(object: &ObjectDef, objects: &[ObjectDef]) -> Result<Vec<TableDef>> {
    let ObjectDef::Task(task) = object else {
        return Ok(Vec::new());
    };
    let TaskBody::Merge(merge) = &task.body;
    let mut tables = Vec::new();
    let name = merge.rejected_table();
    let declared = objects
        .iter()
        .any(|o| matches!(o, ObjectDef::Table(t) if t.name.eq_ignore_ascii_case(&name)));
    let source = objects.iter().find_map(|o| match o {
        ObjectDef::Stream(s) if s.name.eq_ignore_ascii_case(&merge.source) => Some(&s.table),
        _ => None,
    });
    if let (false, Some(source)) = (declared, source) {
        tables.push(snowdrift_warehouse::rejected::table_def(
            &name,
            find_table(objects, source)?,
        ));
    }
    tables.extend(sequences_of(object, objects)?);
    Ok(tables)
}

fn kind_keyword(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Table => "TABLE",
        ObjectKind::Stage => "STAGE",
        ObjectKind::FileFormat => "FILE FORMAT",
        ObjectKind::Pipe => "PIPE",
        ObjectKind::Stream => "STREAM",
        ObjectKind::Task => "TASK",
    }
}

fn is_pipe_target(objects: &[ObjectDef], table: &str) -> bool {
    objects
        .iter()
        .any(|o| matches!(o, ObjectDef::Pipe(p) if p.table.eq_ignore_ascii_case(table)))
}

fn find_table<'a>(objects: &'a [ObjectDef], name: &str) -> Result<&'a TableDef> {
    objects
        .iter()
        .find_map(|o| match o {
            ObjectDef::Table(t) if t.name.eq_ignore_ascii_case(name) => Some(t),
            _ => None,
        })
        .ok_or_else(|| SnowflakeError::NotDeployed {
            object: format!("table {name}"),
            reason: "the spec names it but does not define it".into(),
        })
}

/// A merge reads raw rows from an append-only stream and change rows from a standard one.
fn source_shape(objects: &[ObjectDef], source: &str) -> Result<SourceShape> {
    objects
        .iter()
        .find_map(|o| match o {
            ObjectDef::Stream(s) if s.name.eq_ignore_ascii_case(source) => Some(if s.append_only {
                SourceShape::AppendOnly
            } else {
                SourceShape::Changes
            }),
            _ => None,
        })
        .ok_or_else(|| SnowflakeError::NotDeployed {
            object: format!("stream {source}"),
            reason: "a merge task consumes it but the spec does not define it".into(),
        })
}

/// The tasks of `objects`, every task before the tasks it runs after (the order to resume
/// them in; its reverse is the order to create them in).
pub(crate) fn tasks_children_first(objects: &[ObjectDef]) -> Result<Vec<&TaskDef>> {
    let tasks: Vec<&TaskDef> = objects
        .iter()
        .filter_map(|o| match o {
            ObjectDef::Task(t) => Some(t),
            _ => None,
        })
        .collect();
    let mut ordered: Vec<&TaskDef> = Vec::with_capacity(tasks.len());
    while ordered.len() < tasks.len() {
        // A task is ready when every task that runs after it is already placed.
        let ready = tasks.iter().find(|t| {
            !ordered.iter().any(|o| o.name == t.name)
                && tasks
                    .iter()
                    .filter(|c| c.after.iter().any(|a| a.eq_ignore_ascii_case(&t.name)))
                    .all(|c| ordered.iter().any(|o| o.name == c.name))
        });
        match ready {
            Some(task) => ordered.push(task),
            None => {
                return Err(SnowflakeError::NotDeployed {
                    object: "the task graph".into(),
                    reason: "its AFTER clauses form a cycle".into(),
                });
            }
        }
    }
    Ok(ordered)
}

#[cfg(test)]
mod tests {
    use snowdrift_warehouse::{EventTime, LateChanges};

    use super::*;

    /// The pipeline's objects with a history by event time whose merge is sequenced by
    /// `sequence` instead.
    fn history_sequenced_by(sequence: &str) -> (Vec<ObjectDef>, ObjectDef) {
        let spec = PipelineSpec {
            operation_column: Some("op".into()),
            sequence_column: Some("seq".into()),
            event_time: Some(EventTime {
                late: LateChanges::Reject,
                ..EventTime::default()
            }),
            ..PipelineSpec::default()
        };
        let mut objects = spec.objects();
        for object in &mut objects {
            if let ObjectDef::Task(task) = object
                && task.name == spec.history_task
            {
                let TaskBody::Merge(merge) = &mut task.body;
                merge.sequence = Some(sequence.into());
            }
        }
        let task = objects
            .iter()
            .find(|o| o.name() == spec.history_task)
            .cloned()
            .unwrap();
        (objects, task)
    }

    #[test]
    fn a_history_of_raw_rows_keeps_its_applied_event_times_as_times() {
        let (objects, task) = history_sequenced_by("event_time");
        let tables = sequences_of(&task, &objects).unwrap();
        assert_eq!(tables.len(), 1);
        let column = tables[0]
            .columns
            .iter()
            .find(|c| c.name == crate::reject::SEQUENCE_COLUMN)
            .unwrap();
        assert_eq!(column.column_type, ColumnType::TimestampNtz);
    }

    #[test]
    fn a_history_of_raw_rows_sequenced_by_a_number_is_refused() {
        let (objects, task) = history_sequenced_by("seq");
        let err = sequences_of(&task, &objects).unwrap_err();
        assert!(matches!(err, SnowflakeError::Unsupported { .. }), "{err}");
    }
}
