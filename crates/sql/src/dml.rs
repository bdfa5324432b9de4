//! `INSERT`, `UPDATE` and `DELETE`, executed by the warehouse itself ([`Warehouse::dml`]) so
//! that streams and tasks see them as they see any change. DataFusion computes the rows:
//!
//! - `INSERT INTO t [(columns)] VALUES … | SELECT …` evaluates its source and inserts the rows
//!   (a keyed table treats a row of an existing key as an update, as a MERGE would: it holds
//!   one row per key);
//! - `UPDATE t SET c = e, … [WHERE p]` reads the rows of `t` matching `p`, computes their new
//!   business columns and writes them by key;
//! - `DELETE FROM t [WHERE p]` reads the keys of the rows matching `p` and deletes them.
//!
//! System columns (`update_timestamp`, the validity columns) are the warehouse's: values given
//! for them are replaced by the commit's time, as every merge stamps them.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt64Array, new_null_array};
use arrow::compute::{CastOptions, cast_with_options, concat_batches};
use arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::sql::sqlparser::ast::{
    AssignmentTarget, Delete, FromTable, Insert, ObjectName, Statement, TableFactor, TableObject,
    TableWithJoins, Update,
};
use datafusion::sql::sqlparser::dialect::SnowflakeDialect;
use datafusion::sql::sqlparser::parser::Parser;
use snowdrift_warehouse::catalog::TableDef;
use snowdrift_warehouse::{Dml, Warehouse};

use crate::error::{Result, SqlError};
use crate::rewrite::{object_name, resolve};
use crate::session::{QueryResult, SqlSession};

const FORMS: &str = "Supported: INSERT INTO <table> [(<columns>)] VALUES (…), … | SELECT …; UPDATE <table> SET <column> = <expr>, … [WHERE <predicate>]; DELETE FROM <table> [WHERE <predicate>].";

fn unsupported(what: &str) -> SqlError {
    SqlError::unsupported(what, FORMS)
}

/// A one-row result with one count column per name.
fn counts(columns: &[(&str, u64)]) -> Result<QueryResult> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, _)| Field::new(*name, arrow::datatypes::DataType::UInt64, false))
        .collect();
    let arrays: Vec<ArrayRef> = columns
        .iter()
        .map(|(_, n)| Arc::new(UInt64Array::from(vec![*n])) as ArrayRef)
        .collect();
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    Ok(QueryResult {
        batches: vec![RecordBatch::try_new(schema.clone(), arrays)?],
        schema,
    })
}

/// Casts `column` to the type of `field` of `table`, failing on a value that does not fit.
fn fit(table: &str, field: &Field, column: &ArrayRef) -> Result<ArrayRef> {
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    cast_with_options(column, field.data_type(), &options).map_err(|e| SqlError::Column {
        table: table.to_owned(),
        column: field.name().clone(),
        reason: e.to_string(),
    })
}

/// The rows of `result` as the business columns of `def`: column `i` of the result goes to
/// `targets[i]`; business columns not targeted are NULL, system columns targeted are dropped.
fn business_rows(def: &TableDef, targets: &[String], result: &QueryResult) -> Result<RecordBatch> {
    let rows = concat_batches(&result.schema, &result.batches)?;
    let business = def.business_schema();
    let mut columns = Vec::with_capacity(business.fields().len());
    for field in business.fields() {
        let column = match targets.iter().position(|t| t == field.name()) {
            Some(i) => fit(&def.name, field, rows.column(i))?,
            None => new_null_array(field.data_type(), rows.num_rows()),
        };
        columns.push(column);
    }
    let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(rows.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        business, columns, &options,
    )?)
}

fn table_name(name: &ObjectName) -> Result<String> {
    object_name(name).ok_or_else(|| unsupported("a table named by a function"))
}

fn single_table(from: &[TableWithJoins]) -> Result<String> {
    match from {
        [TableWithJoins { relation, joins }] if joins.is_empty() => match relation {
            TableFactor::Table {
                name, alias: None, ..
            } => table_name(name),
            TableFactor::Table { .. } => Err(unsupported("a table alias in UPDATE or DELETE")),
            _ => Err(unsupported(
                "UPDATE or DELETE of something other than a table",
            )),
        },
        _ => Err(unsupported("UPDATE or DELETE with joins or several tables")),
    }
}

/// Runs a query built from parts of the statement (already rewritten).
async fn select(session: &SqlSession, sql: &str) -> Result<QueryResult> {
    let statement = Parser::parse_sql(&SnowflakeDialect {}, sql)
        .map_err(|e| SqlError::Parse {
            message: e.to_string(),
        })?
        .pop()
        .ok_or_else(|| unsupported("an empty statement"))?;
    session.query(statement).await
}

/// `"name"`, quoted for SQL.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(crate) async fn insert(session: &SqlSession, insert: Insert) -> Result<QueryResult> {
    let TableObject::TableName(name) = &insert.table else {
        return Err(unsupported("INSERT INTO a table function"));
    };
    let table = table_name(name)?;
    if insert.overwrite || !insert.assignments.is_empty() || insert.on.is_some() {
        return Err(unsupported(
            "INSERT OVERWRITE, INSERT … SET and ON CONFLICT",
        ));
    }
    let Some(source) = insert.source else {
        return Err(unsupported("INSERT without VALUES or a query"));
    };
    let def = session.table_def(&table)?;
    let result = session.query(Statement::Query(source)).await?;
    let all: Vec<String> = def
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let targets: Vec<String> = if insert.columns.is_empty() {
        all.clone()
    } else {
        insert
            .columns
            .iter()
            .map(table_name)
            .collect::<Result<_>>()?
    };
    if let Some(unknown) = targets.iter().find(|t| !all.contains(t)) {
        return Err(SqlError::Column {
            table: def.name.clone(),
            column: unknown.clone(),
            reason: "the table has no such column".into(),
        });
    }
    let given = result.schema.fields().len();
    let expected = if insert.columns.is_empty() {
        // Without a column list, the values are the business columns, optionally followed
        // by the system columns (as `SELECT *` shows them).
        if given == def.columns.len() || given == all.len() {
            given
        } else {
            all.len()
        }
    } else {
        targets.len()
    };
    if given != expected {
        return Err(SqlError::Column {
            table: def.name.clone(),
            column: targets.join(", "),
            reason: format!("the insert gives {given} values for {expected} columns"),
        });
    }
    let rows = business_rows(&def, &targets[..given], &result)?;
    let n = rows.num_rows() as u64;
    if n > 0 {
        session
            .warehouse()
            .dml(&def.name, Dml::Insert(vec![rows]))
            .await?;
    }
    counts(&[("number of rows inserted", n)])
}

pub(crate) async fn update(session: &SqlSession, update: Update) -> Result<QueryResult> {
    if update.from.is_some() || update.returning.is_some() || update.limit.is_some() {
        return Err(unsupported("UPDATE … FROM, RETURNING or LIMIT"));
    }
    let table = single_table(std::slice::from_ref(&update.table))?;
    let def = session.table_def(&table)?;
    if def.key.is_empty() {
        return Err(unsupported(&format!(
            "UPDATE of `{}`, a table without a key (rows are updated by key)",
            def.name
        )));
    }
    let system: Vec<String> = def.system_columns().into_iter().map(|c| c.name).collect();
    let mut assigned: Vec<(String, String)> = Vec::new();
    for assignment in &update.assignments {
        let AssignmentTarget::ColumnName(column) = &assignment.target else {
            return Err(unsupported("UPDATE … SET (a, b) = …"));
        };
        let column = match column.0.last() {
            Some(datafusion::sql::sqlparser::ast::ObjectNamePart::Identifier(ident)) => {
                resolve(ident)
            }
            _ => return Err(unsupported("a column named by a function")),
        };
        if system.contains(&column) {
            continue;
        }
        if !def.columns.iter().any(|c| c.name == column) {
            return Err(SqlError::Column {
                table: def.name.clone(),
                column,
                reason: "the table has no such column".into(),
            });
        }
        if def.key.contains(&column) {
            return Err(unsupported(&format!(
                "UPDATE of the key column `{column}` (delete the row and insert it with the new key)"
            )));
        }
        assigned.push((column, assignment.value.to_string()));
    }
    let items: Vec<String> = def
        .columns
        .iter()
        .map(
            |c| match assigned.iter().find(|(name, _)| *name == c.name) {
                Some((_, value)) => format!("({value}) AS {}", quoted(&c.name)),
                None => quoted(&c.name),
            },
        )
        .collect();
    let mut sql = format!(
        "SELECT {} FROM {}",
        items.join(", "),
        quoted(&def.name.to_lowercase())
    );
    if let Some(selection) = &update.selection {
        sql.push_str(&format!(" WHERE {selection}"));
    }
    let result = select(session, &sql).await?;
    let targets: Vec<String> = def.columns.iter().map(|c| c.name.clone()).collect();
    let rows = business_rows(&def, &targets, &result)?;
    let n = rows.num_rows() as u64;
    if n > 0 {
        session
            .warehouse()
            .dml(&def.name, Dml::Update(vec![rows]))
            .await?;
    }
    counts(&[
        ("number of rows updated", n),
        ("number of multi-joined rows updated", 0),
    ])
}

pub(crate) async fn delete(session: &SqlSession, delete: Delete) -> Result<QueryResult> {
    if !delete.tables.is_empty() || delete.using.is_some() || delete.returning.is_some() {
        return Err(unsupported(
            "DELETE … USING, RETURNING or of several tables",
        ));
    }
    let from = match &delete.from {
        FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from) => from,
    };
    let table = single_table(from)?;
    let def = session.table_def(&table)?;
    if def.key.is_empty() {
        return Err(unsupported(&format!(
            "DELETE from `{}`, a table without a key (rows are deleted by key)",
            def.name
        )));
    }
    let keys: Vec<String> = def.key.iter().map(|k| quoted(k)).collect();
    let mut sql = format!(
        "SELECT {} FROM {}",
        keys.join(", "),
        quoted(&def.name.to_lowercase())
    );
    if let Some(selection) = &delete.selection {
        sql.push_str(&format!(" WHERE {selection}"));
    }
    let result = select(session, &sql).await?;
    let keys = concat_batches(&result.schema, &result.batches)?;
    let n = keys.num_rows() as u64;
    if n > 0 {
        session
            .warehouse()
            .dml(&def.name, Dml::Delete(keys))
            .await?;
    }
    counts(&[("number of rows deleted", n)])
}
