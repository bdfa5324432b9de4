//! [`SqlSession`]: one statement at a time over a [`LocalWarehouse`]. Queries are planned and
//! run by DataFusion over the warehouse's tables and streams (`relations`) and the metadata
//! views (`metadata`); DML (`dml`) and object commands (`commands`) are executed by the
//! warehouse. Anything else is refused with what is supported, never run against DataFusion's
//! own in-memory catalog (a `CREATE TABLE` there would vanish with the session).

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::catalog::memory::{MemoryCatalogProvider, MemorySchemaProvider};
use datafusion::catalog::{CatalogProvider, SchemaProvider};
use datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Statement, Value};
use datafusion::sql::sqlparser::dialect::SnowflakeDialect;
use datafusion::sql::sqlparser::parser::Parser;
use snowdrift_warehouse::catalog::{ObjectDef, TableDef};
use snowdrift_warehouse::{LocalWarehouse, WarehouseError};

use crate::commands;
use crate::dml;
use crate::error::{Result, SqlError};
use crate::functions::TimestampDiff;
use crate::metadata::{self, MetadataView, VIEWS};
use crate::relations::{StreamRelation, TableRelation, WholeView};
use crate::rewrite::{self, SystemCall};

/// The catalog and schema unqualified names resolve in.
const CATALOG: &str = "snowdrift";
const SCHEMA: &str = "public";

/// What SQL this engine runs, for errors.
pub(crate) const SUPPORTED: &str = "Supported: SELECT (and WITH … SELECT) over tables, streams and information_schema.copy_history / task_history; INSERT, UPDATE, DELETE; ALTER TASK, EXECUTE TASK, ALTER PIPE, SHOW TABLES | STREAMS | TASKS | PIPES.";

/// The rows a statement returned, with their schema (also when there are none).
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// The columns.
    pub schema: SchemaRef,
    /// The rows.
    pub batches: Vec<RecordBatch>,
}

impl QueryResult {
    /// Rows in all batches.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// All rows as one batch.
    ///
    /// # Errors
    ///
    /// [`SqlError::Arrow`] if the batches do not share the schema (never for results of
    /// [`SqlSession::execute`]).
    pub fn concat(&self) -> Result<RecordBatch> {
        Ok(arrow::compute::concat_batches(&self.schema, &self.batches)?)
    }

    fn one(batch: RecordBatch) -> Self {
        QueryResult {
            schema: batch.schema(),
            batches: vec![batch],
        }
    }
}

/// SQL over one warehouse, in Snowflake's dialect.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::sync::Arc;
/// use snowdrift_sql::SqlSession;
/// use snowdrift_warehouse::{Column, ColumnType, CreateMode, LocalWarehouse, ObjectDef, TableDef, TableLayout, Warehouse};
///
/// let warehouse = Arc::new(LocalWarehouse::builder("memory://").background(false).open().await?);
/// let columns = vec![Column::new("id", ColumnType::Number).not_null(), Column::new("name", ColumnType::Varchar)];
/// let table = TableDef::new("people", columns).with_key(["id"]).with_layout(TableLayout::scd1());
/// warehouse.create(ObjectDef::Table(table), CreateMode::Create).await?;
///
/// let sql = SqlSession::new(warehouse);
/// sql.execute("insert into people values (1, 'Ada', current_timestamp()), (2, 'Grace', current_timestamp())").await?;
/// sql.execute("update people set NAME = 'Ada L.' where id = 1").await?;
/// let result = sql.execute("select count(*) as n from PEOPLE where name like 'Ada%'").await?;
/// assert_eq!(result.num_rows(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct SqlSession {
    warehouse: Arc<LocalWarehouse>,
    ctx: SessionContext,
    tables: Arc<MemorySchemaProvider>,
    /// The warehouse's objects at the last statement.
    objects: std::sync::Mutex<Vec<ObjectDef>>,
}

impl std::fmt::Debug for SqlSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlSession")
            .field("warehouse", &self.warehouse)
            .finish_non_exhaustive()
    }
}

impl SqlSession {
    /// A session over `warehouse`. Unqualified names resolve in its objects; the metadata
    /// views are in `information_schema`.
    pub fn new(warehouse: Arc<LocalWarehouse>) -> Self {
        let config = SessionConfig::new()
            .with_default_catalog_and_schema(CATALOG, SCHEMA)
            .with_information_schema(false);
        let ctx = SessionContext::new_with_config(config);
        let catalog = MemoryCatalogProvider::new();
        let tables = Arc::new(MemorySchemaProvider::new());
        let views = MemorySchemaProvider::new();
        for view in VIEWS {
            // A fresh schema takes every name: registering cannot fail.
            let _ = views.register_table(
                view.to_owned(),
                Arc::new(WholeView(MetadataView::new(warehouse.clone(), view))),
            );
        }
        let _ = catalog.register_schema(SCHEMA, tables.clone());
        let _ = catalog.register_schema("information_schema", Arc::new(views));
        ctx.register_catalog(CATALOG, Arc::new(catalog));
        ctx.register_udf(TimestampDiff::udf());
        SqlSession {
            warehouse,
            ctx,
            tables,
            objects: std::sync::Mutex::default(),
        }
    }

    /// The warehouse it runs on.
    pub fn warehouse(&self) -> &Arc<LocalWarehouse> {
        &self.warehouse
    }

    /// Runs one statement (without its `;`; see [`crate::split_statements`] for scripts).
    ///
    /// # Errors
    ///
    /// [`SqlError::Parse`] for text that is not SQL, [`SqlError::Unsupported`] for SQL this
    /// engine does not run (the error says what it runs), [`SqlError::Query`] for a query
    /// DataFusion cannot plan or run (unknown column, wrong types),
    /// [`SqlError::Warehouse`] when the warehouse refuses or fails (unknown object, a stale
    /// stream, storage errors), [`SqlError::Column`] for a value that does not fit its column.
    ///
    /// # Cancel safety
    ///
    /// A query can be dropped at any point. A DML statement or command is committed by the
    /// warehouse as one change: dropping it before that commit changes nothing.
    pub async fn execute(&self, sql: &str) -> Result<QueryResult> {
        if let Some(command) = commands::parse(sql)? {
            return Ok(QueryResult::one(
                commands::run(&self.warehouse, command).await?,
            ));
        }
        let mut statements =
            Parser::parse_sql(&SnowflakeDialect {}, sql).map_err(|e| SqlError::Parse {
                message: e.to_string(),
            })?;
        let mut statement = match (statements.pop(), statements.is_empty()) {
            (Some(statement), true) => statement,
            (None, _) => return Err(SqlError::unsupported("an empty statement", SUPPORTED)),
            (Some(_), false) => {
                return Err(SqlError::unsupported(
                    "several statements at once",
                    "Run them one at a time (split a script with split_statements).",
                ));
            }
        };
        rewrite::rewrite(&mut statement)?;
        self.evaluate_system_calls(&mut statement).await?;
        self.refresh_catalog().await?;
        match statement {
            Statement::Query(_) => self.query(statement).await,
            Statement::Insert(insert) => dml::insert(self, insert).await,
            Statement::Update(update) => dml::update(self, update).await,
            Statement::Delete(delete) => dml::delete(self, delete).await,
            other => Err(SqlError::unsupported(
                first_words(&other.to_string()),
                SUPPORTED,
            )),
        }
    }

    /// Plans and runs a query with DataFusion.
    pub(crate) async fn query(&self, statement: Statement) -> Result<QueryResult> {
        let state = self.ctx.state();
        let plan = state
            .statement_to_plan(DfStatement::Statement(Box::new(statement)))
            .await?;
        // A query that would create, change or drop something in DataFusion's own catalog
        // (`SELECT … INTO`) is refused: that object would vanish with the session.
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|e| SqlError::unsupported(e.to_string(), SUPPORTED))?;
        let frame = self.ctx.execute_logical_plan(plan).await?;
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        let batches = frame.collect().await?;
        Ok(QueryResult { schema, batches })
    }

    /// The definition of table `name`.
    pub(crate) fn table_def(&self, name: &str) -> Result<TableDef> {
        self.table_defs()
            .into_iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                SqlError::Warehouse(WarehouseError::NotFound {
                    kind: snowdrift_warehouse::catalog::ObjectKind::Table,
                    name: name.to_owned(),
                })
            })
    }

    fn table_defs(&self) -> Vec<TableDef> {
        self.objects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|o| match o {
                ObjectDef::Table(t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    /// Registers the warehouse's tables and streams as they are now (objects may have been
    /// created or dropped since the last statement).
    async fn refresh_catalog(&self) -> Result<()> {
        let objects = self.warehouse.objects().await;
        let mut names = Vec::new();
        for object in &objects {
            let provider: Arc<dyn datafusion::catalog::TableProvider> = match object {
                ObjectDef::Table(t) => Arc::new(TableRelation::new(
                    self.warehouse.clone(),
                    t.name.clone(),
                    t.schema(),
                    &t.key,
                )),
                ObjectDef::Stream(s) => {
                    let Some(table) = objects.iter().find_map(|o| match o {
                        ObjectDef::Table(t) if t.name.eq_ignore_ascii_case(&s.table) => Some(t),
                        _ => None,
                    }) else {
                        continue;
                    };
                    Arc::new(WholeView(StreamRelation::new(
                        self.warehouse.clone(),
                        s.name.clone(),
                        &table.schema(),
                    )))
                }
                _ => continue,
            };
            let name = object.name().to_lowercase();
            // Registered afresh: a table replaced since may have other columns.
            self.tables.deregister_table(&name)?;
            self.tables.register_table(name.clone(), provider)?;
            names.push(name);
        }
        for old in self.tables.table_names() {
            if !names.contains(&old) {
                self.tables.deregister_table(&old)?;
            }
        }
        *self.objects.lock().unwrap_or_else(|e| e.into_inner()) = objects;
        Ok(())
    }

    /// Replaces `SYSTEM$…('name')` calls by their values now.
    async fn evaluate_system_calls(&self, statement: &mut Statement) -> Result<()> {
        let calls = rewrite::system_calls(statement)?;
        let mut values: Vec<(SystemCall, Value)> = Vec::new();
        for call in calls {
            let value = match (call.function.as_str(), call.arguments.as_slice()) {
                ("system$pipe_status", [pipe]) => {
                    Value::SingleQuotedString(metadata::pipe_status(&self.warehouse, pipe).await?)
                }
                ("system$stream_has_data", [stream]) => {
                    Value::Boolean(metadata::stream_has_data(&self.warehouse, stream).await?)
                }
                (_, [amount, unit @ ..]) => {
                    Value::SingleQuotedString(metadata::wait(amount, unit.first()).await?)
                }
                _ => continue,
            };
            values.push((call, value));
        }
        rewrite::replace_system_calls(statement, &values);
        Ok(())
    }
}

/// The first words of a statement, to name it in an error.
fn first_words(sql: &str) -> String {
    let words: Vec<&str> = sql.split_whitespace().take(3).collect();
    format!("the statement `{} …`", words.join(" "))
}
