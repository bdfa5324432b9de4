//! [`SnowflakeWarehouse`]: the [`Warehouse`] trait on a Snowflake account. Objects are
//! rendered by [`Renderer`], run through one [`Connection`], and read back as Arrow; the
//! operations (pipe status and refresh, copy and task history, execute, suspend, resume) are
//! Snowflake's own system functions and `INFORMATION_SCHEMA` table functions.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use arrow::array::RecordBatch;
use async_trait::async_trait;
use snowdrift_warehouse::{
    Capabilities, CopyOptions, CreateMode, Dml, DmlCount, FileLoad, ObjectDef, ObjectKind,
    PipeAction, PipeStatus, PipelineSpec, Relation, TableDef, TableLayout, TaskAction, TaskRun,
    TaskRunState, Warehouse, WarehouseError,
};
use tokio::sync::Mutex;

use crate::config::SnowflakeConfig;
use crate::connection::Connection;
use crate::dml;
use crate::error::{Result, SnowflakeError};
use crate::plan::SqlPlan;
use crate::render::{self, Renderer, StageAccess, Statement};
use crate::results::{self, Record};
use crate::sql::{ident, literal};

/// How often `execute_task` looks at the task history while it waits.
const TASK_POLL: Duration = Duration::from_secs(2);
/// How long `execute_task` waits for the run to finish.
const TASK_WAIT: Duration = Duration::from_secs(15 * 60);

/// The pipeline on Snowflake behind the [`Warehouse`] trait.
///
/// Objects created through it (or [registered](SnowflakeWarehouse::register) from a spec)
/// are remembered, because rendering a pipe or a merge task needs the definitions of the
/// tables and streams it uses.
#[derive(Debug)]
pub struct SnowflakeWarehouse {
    connection: Connection,
    renderer: Renderer,
    access: StageAccess,
    catalog: Mutex<HashMap<(ObjectKind, String), ObjectDef>>,
    database: String,
    schema: String,
}

impl SnowflakeWarehouse {
    /// Connects with `config`; stages get their credentials from [`StageAccess::from_env`].
    ///
    /// # Errors
    ///
    /// As [`Connection::connect`].
    pub async fn connect(config: &SnowflakeConfig) -> Result<Self> {
        Self::connect_with(config, StageAccess::from_env()).await
    }

    /// Connects with `config` and the given stage access.
    ///
    /// # Errors
    ///
    /// As [`Connection::connect`].
    pub async fn connect_with(config: &SnowflakeConfig, access: StageAccess) -> Result<Self> {
        let connection = Connection::connect(config).await?;
        let mut renderer = Renderer::new(&config.database, &config.schema);
        if let Some(warehouse) = &config.warehouse {
            renderer = renderer.with_warehouse(warehouse);
        }
        Ok(SnowflakeWarehouse {
            connection,
            renderer,
            access,
            catalog: Mutex::new(HashMap::new()),
            database: config.database.clone(),
            schema: config.schema.clone(),
        })
    }

    /// The renderer it uses (database, schema, warehouse of tasks).
    pub fn renderer(&self) -> &Renderer {
        &self.renderer
    }

    /// The connection, for SQL of your own.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// The deploy plan of `spec` with this warehouse's stage access.
    ///
    /// # Errors
    ///
    /// As [`Renderer::deploy_plan`].
    pub fn deploy_plan(&self, spec: &PipelineSpec) -> Result<SqlPlan> {
        self.renderer.deploy_plan(spec, &self.access)
    }

    /// Runs a plan's statements in order; stops at the first failure.
    ///
    /// # Errors
    ///
    /// [`SnowflakeError::Query`] for the first statement Snowflake fails; the statements before it
    /// have run (DDL is not transactional in Snowflake), the ones after it have not.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropped between statements, a prefix of the plan has run. Every statement of
    /// a deploy plan is `IF NOT EXISTS` or idempotent, so applying the plan again completes it.
    pub async fn apply(&self, plan: &SqlPlan) -> Result<()> {
        for statement in &plan.statements {
            self.connection.execute(statement).await?;
        }
        Ok(())
    }

    /// Deploys `spec` as [`Renderer::deploy_plan`] says and remembers its objects.
    ///
    /// # Errors
    ///
    /// As [`Renderer::deploy_plan`] and [`SnowflakeWarehouse::apply`].
    ///
    /// # Cancel safety
    ///
    /// As [`SnowflakeWarehouse::apply`]; the spec is remembered only once every statement has run.
    pub async fn deploy_spec(&self, spec: &PipelineSpec) -> Result<SqlPlan> {
        let plan = self.deploy_plan(spec)?;
        self.apply(&plan).await?;
        self.register(spec).await;
        Ok(plan)
    }

    /// Removes what [`SnowflakeWarehouse::deploy_spec`] made, leaving the database and
    /// schema (they may hold other things).
    ///
    /// # Errors
    ///
    /// As [`Renderer::teardown_plan`] and [`SnowflakeWarehouse::apply`] (every drop is
    /// `IF EXISTS`, so a teardown cut short can be run again).
    pub async fn teardown_spec(&self, spec: &PipelineSpec) -> Result<SqlPlan> {
        self.teardown(spec, self.renderer.teardown_plan(spec)?)
            .await
    }

    /// [`SnowflakeWarehouse::teardown_spec`], then drops the schema and the database as
    /// well: for a database deploy created and nothing else uses.
    ///
    /// # Errors
    ///
    /// As [`SnowflakeWarehouse::teardown_spec`].
    pub async fn teardown_spec_with_namespace(&self, spec: &PipelineSpec) -> Result<SqlPlan> {
        self.teardown(spec, self.renderer.teardown_plan_with_namespace(spec)?)
            .await
    }

    async fn teardown(&self, spec: &PipelineSpec, plan: SqlPlan) -> Result<SqlPlan> {
        self.apply(&plan).await?;
        let mut catalog = self.catalog.lock().await;
        for object in spec.objects() {
            catalog.remove(&(object.kind(), object.name().to_ascii_lowercase()));
        }
        Ok(plan)
    }

    /// Remembers the objects of an already deployed `spec` (to work with a deployment made
    /// by another process).
    pub async fn register(&self, spec: &PipelineSpec) {
        let mut catalog = self.catalog.lock().await;
        for object in spec.objects() {
            catalog.insert((object.kind(), object.name().to_ascii_lowercase()), object);
        }
    }

    async fn objects(&self) -> Vec<ObjectDef> {
        self.catalog.lock().await.values().cloned().collect()
    }

    async fn table_def(&self, name: &str) -> Result<TableDef> {
        match self
            .catalog
            .lock()
            .await
            .get(&(ObjectKind::Table, name.to_ascii_lowercase()))
        {
            Some(ObjectDef::Table(t)) => Ok(t.clone()),
            _ => Err(SnowflakeError::NotDeployed {
                object: format!("table {name}"),
                reason: "not created through this warehouse; call register(spec) first".into(),
            }),
        }
    }

    async fn is_pipe_target(&self, table: &str) -> bool {
        self.catalog
            .lock()
            .await
            .values()
            .any(|o| matches!(o, ObjectDef::Pipe(p) if p.table.eq_ignore_ascii_case(table)))
    }

    fn name(&self, kind: ObjectKind, name: &str) -> Result<String> {
        self.renderer.qualified(kind, name)
    }

    async fn records(&self, sql: &str) -> Result<Vec<Record>> {
        self.connection.records(sql).await
    }

    async fn create_object(&self, object: ObjectDef, mode: CreateMode) -> Result<()> {
        let mut objects = self.objects().await;
        objects.push(object.clone());
        // A merge task comes with the tables it writes beside its target.
        for table in crate::plan::side_tables(&object, &objects)? {
            let statement = self.renderer.table(&table)?;
            self.connection.execute(&statement).await?;
        }
        let statement = self
            .renderer
            .create(&object, &objects, &self.access)?
            .with_create_mode(mode);
        self.connection.execute(&statement).await?;
        self.catalog
            .lock()
            .await
            .insert((object.kind(), object.name().to_ascii_lowercase()), object);
        Ok(())
    }

    async fn run_dml(&self, table: &str, change: Dml) -> Result<DmlCount> {
        let def = self.table_def(table).await?;
        let name = self.name(ObjectKind::Table, table)?;
        let statements = match change {
            Dml::Insert(batches) | Dml::Update(batches) if def.key.is_empty() => batches
                .iter()
                .map(|b| dml::inserts(&name, &def, b))
                .collect::<Result<Vec<_>>>()?
                .concat(),
            Dml::Insert(batches) | Dml::Update(batches) => {
                if matches!(def.layout, TableLayout::Scd2 { .. }) {
                    return Err(SnowflakeError::Unsupported {
                        object: format!("table {table}"),
                        what: "INSERT or UPDATE on an SCD-2 table (its merge task writes it)"
                            .into(),
                    });
                }
                let mut all = Vec::new();
                for batch in &batches {
                    all.extend(dml::upserts(&name, &def, batch)?);
                }
                all
            }
            Dml::Delete(keys) => dml::deletes(&name, &def, &keys)?,
        };
        let mut total = DmlCount::default();
        for sql in statements {
            let rows = self.records(&sql).await?;
            let count = results::dml_count(&rows);
            total.inserted += count.inserted;
            total.updated += count.updated;
            total.deleted += count.deleted;
        }
        Ok(total)
    }

    async fn run_copy(
        &self,
        table: &str,
        stage: &str,
        options: CopyOptions,
    ) -> Result<Vec<FileLoad>> {
        let raw_columns = if self.is_pipe_target(table).await {
            Some(self.table_def(table).await?.columns)
        } else {
            None
        };
        let mut sql = self
            .renderer
            .copy_from_stage(table, stage, raw_columns.as_deref())?;
        if let Some(files) = &options.files {
            let list: Vec<String> = files.iter().map(|f| literal(f)).collect();
            sql.push_str(&format!(" FILES = ({})", list.join(", ")));
        }
        if let Some(pattern) = &options.pattern {
            sql.push_str(&format!(
                " PATTERN = {}",
                literal(&crate::sql::glob_to_regex(pattern))
            ));
        }
        if let Some(format) = &options.file_format {
            sql.push_str(&format!(
                " FILE_FORMAT = (FORMAT_NAME = '{}')",
                self.name(ObjectKind::FileFormat, format)?
            ));
        }
        sql.push_str(&format!(
            " ON_ERROR = {}",
            render::on_error(options.on_error)
        ));
        if options.force {
            sql.push_str(" FORCE = TRUE");
        }
        let rows = self.records(&sql).await?;
        Ok(results::copy_results(&rows, SystemTime::now()))
    }

    async fn read(&self, relation: &Relation) -> Result<RecordBatch> {
        let (kind, name) = match relation {
            Relation::Table(name) => (ObjectKind::Table, name),
            Relation::Stream(name) => (ObjectKind::Stream, name),
        };
        let sql = format!("SELECT * FROM {}", self.name(kind, name)?);
        let batch = self.connection.query_inferred(&sql, name).await?;
        // The load-order columns are Snowflake bookkeeping, not the table's data.
        let keep: Vec<usize> = (0..batch.num_columns())
            .filter(|&i| {
                !batch
                    .schema()
                    .field(i)
                    .name()
                    .to_ascii_uppercase()
                    .starts_with("_SNOWDRIFT_")
            })
            .collect();
        batch.project(&keep).map_err(|e| SnowflakeError::Decode {
            relation: name.clone(),
            row: 0,
            column: String::new(),
            value: String::new(),
            reason: e.to_string(),
        })
    }

    async fn history(&self, task: &str) -> Result<Vec<TaskRun>> {
        ident(ObjectKind::Task, task)?;
        let sql = format!(
            "SELECT * FROM TABLE({}.INFORMATION_SCHEMA.TASK_HISTORY(TASK_NAME => {}, RESULT_LIMIT => 10000)) \
             WHERE SCHEMA_NAME = {}",
            ident(ObjectKind::Table, &self.database)?,
            literal(&task.to_ascii_uppercase()),
            literal(&self.schema.to_ascii_uppercase())
        );
        Ok(results::task_history(task, &self.records(&sql).await?))
    }

    async fn execute(&self, task: &str) -> Result<TaskRun> {
        let before: Vec<(SystemTime, u64)> = self
            .history(task)
            .await?
            .iter()
            .map(|r| (r.scheduled_time, r.graph_run))
            .collect();
        let statement = Statement::new(
            ObjectKind::Task,
            task,
            format!("EXECUTE TASK {}", self.name(ObjectKind::Task, task)?),
        );
        self.connection.execute(&statement).await?;
        let started = Instant::now();
        loop {
            let new_run = self
                .history(task)
                .await?
                .into_iter()
                .find(|r| !before.contains(&(r.scheduled_time, r.graph_run)));
            if let Some(run) = new_run
                && run.state != TaskRunState::Executing
            {
                return Ok(run);
            }
            if started.elapsed() > TASK_WAIT {
                return Err(SnowflakeError::NotDeployed {
                    object: format!("task {task}"),
                    reason: format!(
                        "EXECUTE TASK was accepted but no finished run appeared in TASK_HISTORY within {TASK_WAIT:?}"
                    ),
                });
            }
            tokio::time::sleep(TASK_POLL).await;
        }
    }
}

/// A Snowflake error as the warehouse reports it: "already exists" and "does not exist"
/// keep their meaning, everything else is a backend error with the Snowflake error inside.
fn to_warehouse(error: SnowflakeError, kind: ObjectKind, name: &str) -> WarehouseError {
    if let SnowflakeError::Query { message, .. } = &error {
        let message = message.to_ascii_lowercase();
        if message.contains("already exists") {
            return WarehouseError::AlreadyExists {
                kind,
                name: name.to_owned(),
            };
        }
        if message.contains("does not exist") {
            return WarehouseError::NotFound {
                kind,
                name: name.to_owned(),
            };
        }
    }
    WarehouseError::Backend {
        backend: "snowflake",
        source: Box::new(error),
    }
}

#[async_trait]
impl Warehouse for SnowflakeWarehouse {
    fn backend(&self) -> &'static str {
        "snowflake"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn create(&self, object: ObjectDef, mode: CreateMode) -> snowdrift_warehouse::Result<()> {
        let (kind, name) = (object.kind(), object.name().to_owned());
        self.create_object(object, mode)
            .await
            .map_err(|e| to_warehouse(e, kind, &name))
    }

    async fn drop_object(
        &self,
        kind: ObjectKind,
        name: &str,
        if_exists: bool,
    ) -> snowdrift_warehouse::Result<()> {
        let run = async {
            let mut statement = self.renderer.drop_statement(kind, name)?;
            if !if_exists {
                statement = Statement::new(
                    kind,
                    name,
                    statement.to_string().replacen(" IF EXISTS", "", 1),
                );
            }
            self.connection.execute(&statement).await?;
            self.catalog
                .lock()
                .await
                .remove(&(kind, name.to_ascii_lowercase()));
            Ok(())
        };
        run.await.map_err(|e| to_warehouse(e, kind, name))
    }

    async fn dml(&self, table: &str, change: Dml) -> snowdrift_warehouse::Result<DmlCount> {
        self.run_dml(table, change)
            .await
            .map_err(|e| to_warehouse(e, ObjectKind::Table, table))
    }

    async fn copy_into(
        &self,
        table: &str,
        stage: &str,
        options: CopyOptions,
    ) -> snowdrift_warehouse::Result<Vec<FileLoad>> {
        self.run_copy(table, stage, options)
            .await
            .map_err(|e| to_warehouse(e, ObjectKind::Table, table))
    }

    async fn query(&self, relation: Relation) -> snowdrift_warehouse::Result<RecordBatch> {
        let (kind, name) = match &relation {
            Relation::Table(n) => (ObjectKind::Table, n.clone()),
            Relation::Stream(n) => (ObjectKind::Stream, n.clone()),
        };
        self.read(&relation)
            .await
            .map_err(|e| to_warehouse(e, kind, &name))
    }

    async fn stream_has_data(&self, stream: &str) -> snowdrift_warehouse::Result<bool> {
        let run = async {
            let sql = format!(
                "SELECT SYSTEM$STREAM_HAS_DATA({})",
                literal(&self.name(ObjectKind::Stream, stream)?)
            );
            let rows = self.records(&sql).await?;
            Ok(rows
                .first()
                .and_then(|r| r.0.first())
                .is_some_and(|(_, v)| {
                    matches!(v, snowflake_connector_rs::CellValue::Boolean(true))
                }))
        };
        run.await
            .map_err(|e| to_warehouse(e, ObjectKind::Stream, stream))
    }

    async fn copy_history(&self, table: &str) -> snowdrift_warehouse::Result<Vec<FileLoad>> {
        let run = async {
            let sql = format!(
                "SELECT * FROM TABLE({}.INFORMATION_SCHEMA.COPY_HISTORY(TABLE_NAME => {}, \
                 START_TIME => DATEADD(DAY, -14, CURRENT_TIMESTAMP())))",
                ident(ObjectKind::Table, &self.database)?,
                literal(&self.name(ObjectKind::Table, table)?)
            );
            Ok(results::copy_history(&self.records(&sql).await?))
        };
        run.await
            .map_err(|e| to_warehouse(e, ObjectKind::Table, table))
    }

    async fn pipe_status(&self, pipe: &str) -> snowdrift_warehouse::Result<PipeStatus> {
        let run = async {
            let sql = format!(
                "SELECT SYSTEM$PIPE_STATUS({})",
                literal(&self.name(ObjectKind::Pipe, pipe)?)
            );
            let rows = self.records(&sql).await?;
            let json = rows
                .first()
                .and_then(|r| r.0.first())
                .and_then(|(_, v)| match v {
                    snowflake_connector_rs::CellValue::String(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            results::pipe_status(pipe, &json)
        };
        run.await
            .map_err(|e| to_warehouse(e, ObjectKind::Pipe, pipe))
    }

    async fn refresh_pipe(&self, pipe: &str) -> snowdrift_warehouse::Result<u64> {
        let run = async {
            let sql = format!("ALTER PIPE {} REFRESH", self.name(ObjectKind::Pipe, pipe)?);
            let rows = self.records(&sql).await?;
            Ok(rows.len() as u64)
        };
        run.await
            .map_err(|e| to_warehouse(e, ObjectKind::Pipe, pipe))
    }

    async fn alter_pipe(&self, pipe: &str, action: PipeAction) -> snowdrift_warehouse::Result<()> {
        let run = async {
            let paused = match action {
                PipeAction::Pause => "TRUE",
                PipeAction::Resume => "FALSE",
            };
            let sql = format!(
                "ALTER PIPE {} SET PIPE_EXECUTION_PAUSED = {paused}",
                self.name(ObjectKind::Pipe, pipe)?
            );
            self.records(&sql).await?;
            Ok(())
        };
        run.await
            .map_err(|e| to_warehouse(e, ObjectKind::Pipe, pipe))
    }

    async fn alter_task(&self, task: &str, action: TaskAction) -> snowdrift_warehouse::Result<()> {
        let run = async {
            let word = match action {
                TaskAction::Resume => "RESUME",
                TaskAction::Suspend => "SUSPEND",
            };
            let statement = self.renderer.alter_task(task, word)?;
            self.connection.execute(&statement).await?;
            Ok(())
        };
        run.await
            .map_err(|e| to_warehouse(e, ObjectKind::Task, task))
    }

    async fn execute_task(&self, task: &str) -> snowdrift_warehouse::Result<TaskRun> {
        self.execute(task)
            .await
            .map_err(|e| to_warehouse(e, ObjectKind::Task, task))
    }

    async fn task_history(&self, task: &str) -> snowdrift_warehouse::Result<Vec<TaskRun>> {
        self.history(task)
            .await
            .map_err(|e| to_warehouse(e, ObjectKind::Task, task))
    }
}
