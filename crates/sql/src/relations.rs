//! The warehouse's tables and streams as DataFusion tables.
//!
//! A table is read through [`Warehouse::scan`] at the moment a query runs: only the columns
//! the query uses, one segment at a time, at the last committed version (merges go on and
//! do not show in it). A filter `key = value` or `key IN (values)` on a table with a one-column
//! key becomes the scan's key filter (DataFusion still applies the filter after it). A stream
//! is read through [`Relation::Stream`], which never moves its offset, exactly as a `SELECT`
//! from a stream in Snowflake; its `METADATA$…` columns are named in lower case, the form every
//! unquoted identifier takes here (see `rewrite`).

use std::sync::Arc;

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::datatypes::{FieldRef, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::memory::MemorySourceConfig;
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{
    BinaryExpr, Expr, Operator, TableProviderFilterPushDown, TableType, expr::InList,
};
use datafusion::physical_expr::LexOrdering;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::scalar::ScalarValue;
use futures::{StreamExt as _, TryStreamExt as _};
use snowdrift_scd::ChangeSet;
use snowdrift_warehouse::{LocalWarehouse, Relation, Scan, Warehouse};

/// A warehouse error as DataFusion carries it (the original is kept as the source).
pub(crate) fn external(error: snowdrift_warehouse::WarehouseError) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

/// A table of the warehouse.
#[derive(Debug)]
pub(crate) struct TableRelation {
    warehouse: Arc<LocalWarehouse>,
    name: String,
    schema: SchemaRef,
    /// The key column, when the key is one column.
    key: Option<String>,
}

impl TableRelation {
    pub(crate) fn new(
        warehouse: Arc<LocalWarehouse>,
        name: String,
        schema: SchemaRef,
        key: &[String],
    ) -> Self {
        TableRelation {
            warehouse,
            name,
            schema,
            key: match key {
                [one] => Some(one.clone()),
                _ => None,
            },
        }
    }

    /// The scan's key filter: the key values of the first filter that names some.
    fn keys(&self, filters: &[Expr]) -> DfResult<Option<RecordBatch>> {
        let Some(key) = self.key.as_deref() else {
            return Ok(None);
        };
        let Some(values) = filters.iter().find_map(|f| key_values(key, f)) else {
            return Ok(None);
        };
        let array = ScalarValue::iter_to_array(values)?;
        Ok(Some(RecordBatch::try_from_iter(vec![(key, array)])?))
    }
}

#[async_trait]
impl TableProvider for TableRelation {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(
                |f| match self.key.as_deref().and_then(|key| key_values(key, f)) {
                    Some(_) => TableProviderFilterPushDown::Inexact,
                    None => TableProviderFilterPushDown::Unsupported,
                },
            )
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let schema = match projection {
            Some(columns) => Arc::new(self.schema.project(columns)?),
            None => self.schema.clone(),
        };
        let partition = Arc::new(TablePartition {
            warehouse: self.warehouse.clone(),
            table: self.name.clone(),
            schema: schema.clone(),
            // A query that reads no column (`count(*)`) still needs the rows: it reads the
            // first column and drops it.
            counted_by: self.schema.field(0).name().clone(),
            keys: self.keys(filters)?,
        });
        let exec = StreamingTableExec::try_new(
            schema,
            vec![partition],
            None,
            Vec::<LexOrdering>::new(),
            false,
            limit,
        )?;
        Ok(Arc::new(exec))
    }
}

/// The key values `filter` keeps, when it is `key = v`, `v = key` or `key IN (v, …)`.
fn key_values(key: &str, filter: &Expr) -> Option<Vec<ScalarValue>> {
    let is_key = |e: &Expr| matches!(e, Expr::Column(c) if c.name == key);
    let literal = |e: &Expr| match e {
        Expr::Literal(v, _) if !v.is_null() => Some(v.clone()),
        _ => None,
    };
    match filter {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => {
            if is_key(left) {
                literal(right).map(|v| vec![v])
            } else if is_key(right) {
                literal(left).map(|v| vec![v])
            } else {
                None
            }
        }
        Expr::InList(InList {
            expr,
            list,
            negated: false,
        }) if is_key(expr) => list.iter().map(literal).collect(),
        _ => None,
    }
}

/// One scan of one table, started when DataFusion executes it.
#[derive(Debug)]
struct TablePartition {
    warehouse: Arc<LocalWarehouse>,
    table: String,
    schema: SchemaRef,
    counted_by: String,
    /// Only rows of these keys.
    keys: Option<RecordBatch>,
}

impl PartitionStream for TablePartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (warehouse, table) = (self.warehouse.clone(), self.table.clone());
        let names: Vec<String> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let count_only = names.is_empty();
        let mut scan = if count_only {
            Scan::new().columns([self.counted_by.clone()])
        } else {
            Scan::new().columns(names)
        };
        if let Some(keys) = &self.keys {
            scan = scan.keys(keys.clone());
        }
        let schema = self.schema.clone();
        let out = schema.clone();
        let batches = futures::stream::once(async move { warehouse.scan(&table, scan).await })
            .map_ok(|parts| parts.map_err(external))
            .map_err(external)
            .try_flatten()
            .map(move |part| {
                let part = part?;
                if count_only {
                    let options = RecordBatchOptions::new().with_row_count(Some(part.num_rows()));
                    Ok(RecordBatch::try_new_with_options(
                        out.clone(),
                        Vec::new(),
                        &options,
                    )?)
                } else {
                    // Same columns; the schema's metadata and nullability are DataFusion's.
                    Ok(RecordBatch::try_new(out.clone(), part.columns().to_vec())?)
                }
            });
        Box::pin(RecordBatchStreamAdapter::new(schema, batches))
    }
}

/// A stream of the warehouse: its change rows now, read without moving its offset.
#[derive(Debug)]
pub(crate) struct StreamRelation {
    warehouse: Arc<LocalWarehouse>,
    name: String,
    schema: SchemaRef,
}

impl StreamRelation {
    /// The stream `name` on a table of `table_schema`: the table's columns and the change
    /// columns of a stream (`METADATA$ACTION`, …), whose names SQL spells in lower case.
    pub(crate) fn new(warehouse: Arc<LocalWarehouse>, name: String, table_schema: &Schema) -> Self {
        let changes = ChangeSet::schema_for(table_schema);
        let columns = table_schema.fields().len();
        let fields: Vec<FieldRef> = changes
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                if i < columns {
                    f.clone()
                } else {
                    Arc::new(f.as_ref().clone().with_name(f.name().to_lowercase()))
                }
            })
            .collect();
        StreamRelation {
            warehouse,
            name,
            schema: Arc::new(Schema::new(fields)),
        }
    }
}

#[async_trait]
impl WholeRows for StreamRelation {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn rows(&self) -> DfResult<RecordBatch> {
        let rows = self
            .warehouse
            .query(Relation::Stream(self.name.clone()))
            .await
            .map_err(external)?;
        with_schema(&rows, &self.schema)
    }
}

/// A relation the warehouse returns whole, as one batch, when a query runs: a stream's
/// changes, a view of the pipeline's metadata. [`WholeView`] makes it a DataFusion view.
#[async_trait]
pub(crate) trait WholeRows: std::fmt::Debug + Send + Sync {
    /// The relation's columns.
    fn schema(&self) -> SchemaRef;

    /// Its rows now, under [`WholeRows::schema`].
    async fn rows(&self) -> DfResult<RecordBatch>;
}

/// A [`WholeRows`] relation as a DataFusion view: each scan reads the rows once and yields
/// them as one batch, projected as DataFusion asked.
#[derive(Debug)]
pub(crate) struct WholeView<R>(pub(crate) R);

#[async_trait]
impl<R: WholeRows + 'static> TableProvider for WholeView<R> {
    fn schema(&self) -> SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let rows = self.0.rows().await?;
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![rows]],
            self.0.schema(),
            projection.cloned(),
        )?)
    }
}

/// `rows` under `schema` (the same columns, renamed), or an error naming what differs.
pub(crate) fn with_schema(rows: &RecordBatch, schema: &SchemaRef) -> DfResult<RecordBatch> {
    if rows.num_columns() != schema.fields().len() {
        return Err(DataFusionError::Internal(format!(
            "the warehouse returned {} columns where {} were expected",
            rows.num_columns(),
            schema.fields().len()
        )));
    }
    let columns = rows
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| arrow::compute::cast(column, field.data_type()))
        .collect::<Result<Vec<_>, _>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(rows.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &options,
    )?)
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::{col, lit};

    use super::*;

    #[test]
    fn equality_and_in_lists_on_the_key_become_key_values() {
        let key = col("customer_id");
        assert_eq!(
            key_values("customer_id", &key.clone().eq(lit(72_i64))),
            Some(vec![ScalarValue::Int64(Some(72))])
        );
        assert_eq!(
            key_values("customer_id", &lit(72_i64).eq(key.clone())),
            Some(vec![ScalarValue::Int64(Some(72))])
        );
        assert_eq!(
            key_values(
                "customer_id",
                &key.clone().in_list(vec![lit(72_i64), lit(73_i64)], false)
            ),
            Some(vec![
                ScalarValue::Int64(Some(72)),
                ScalarValue::Int64(Some(73))
            ])
        );
    }

    #[test]
    fn other_filters_are_not_key_filters() {
        let key = col("customer_id");
        for filter in [
            key.clone().gt(lit(72_i64)),
            col("first_name").eq(lit("Ann")),
            key.clone().eq(lit(ScalarValue::Int64(None))),
            key.clone().in_list(vec![lit(72_i64)], true),
            key.clone().in_list(vec![lit(72_i64), col("other")], false),
            key.clone().eq(col("other")),
        ] {
            assert_eq!(key_values("customer_id", &filter), None, "{filter}");
        }
    }
}
