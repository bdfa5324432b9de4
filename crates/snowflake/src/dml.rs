//! INSERT / UPDATE / DELETE of Arrow rows on a keyed table, as the embedded engine does them:
//! an upsert is a `MERGE` by key (the last row of a key wins; a row equal to the stored one,
//! null-safely, writes nothing), a delete is `DELETE … USING` the keys. Values are escaped
//! literals (see [`crate::values`]).

use std::collections::HashMap;

use arrow::array::RecordBatch;
use snowdrift_warehouse::{Column, ObjectKind, TableDef, TableLayout};

use crate::error::{Result, SnowflakeError};
use crate::merge::Now;
use crate::sql::{ident, idents};
use crate::values::{ROWS_PER_INSERT, insert_statements, value};

/// Every row of `batch` as literals of `columns`, in column order.
fn literal_rows(
    table: &TableDef,
    columns: &[&Column],
    batch: &RecordBatch,
) -> Result<Vec<Vec<String>>> {
    let indices = columns
        .iter()
        .map(|c| column_index(table, batch, c))
        .collect::<Result<Vec<_>>>()?;
    (0..batch.num_rows())
        .map(|row| {
            indices
                .iter()
                .zip(columns)
                .map(|(&i, c)| value(batch.column(i).as_ref(), row, &c.name))
                .collect()
        })
        .collect()
}

/// The columns' names, validated and quoted.
fn quoted_names(columns: &[&Column]) -> Result<Vec<String>> {
    idents(columns.iter().map(|c| c.name.as_str()))
}

/// Where the table's column `column` is in `batch` (names compared case-insensitively).
fn column_index(table: &TableDef, batch: &RecordBatch, column: &Column) -> Result<usize> {
    batch
        .schema()
        .fields()
        .iter()
        .position(|f| f.name().eq_ignore_ascii_case(&column.name))
        .ok_or_else(|| SnowflakeError::Unsupported {
            object: format!("table {}", table.name),
            what: format!("rows without its column `{}`", column.name),
        })
}

/// `(SELECT v."A"::TYPE AS "A", … FROM (VALUES …) AS v ("A", …))`.
fn values_source(columns: &[&Column], quoted: &[String], rows: &[Vec<String>]) -> String {
    let select: Vec<String> = columns
        .iter()
        .zip(quoted)
        .map(|(c, q)| format!("v.{q}::{} AS {q}", c.column_type.sql()))
        .collect();
    let values: Vec<String> = rows.iter().map(|r| format!("({})", r.join(", "))).collect();
    format!(
        "(SELECT {} FROM (VALUES {}) AS v ({}))",
        select.join(", "),
        values.join(", "),
        quoted.join(", ")
    )
}

fn key_columns(table: &TableDef) -> Vec<&Column> {
    table
        .columns
        .iter()
        .filter(|c| table.key.iter().any(|k| k.eq_ignore_ascii_case(&c.name)))
        .collect()
}

/// `MERGE` statements upserting `batch` into the keyed table `name`.
pub(crate) fn upserts(name: &str, table: &TableDef, batch: &RecordBatch) -> Result<Vec<String>> {
    let columns: Vec<&Column> = table.columns.iter().collect();
    let quoted = quoted_names(&columns)?;
    let key_positions: Vec<usize> = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| table.key.iter().any(|k| k.eq_ignore_ascii_case(&c.name)))
        .map(|(i, _)| i)
        .collect();
    let rows = last_row_per_key(literal_rows(table, &columns, batch)?, &key_positions);
    let values: Vec<&String> = quoted
        .iter()
        .enumerate()
        .filter(|(i, _)| !key_positions.contains(i))
        .map(|(_, q)| q)
        .collect();
    let on = key_positions
        .iter()
        .map(|&i| format!("t.{0} = s.{0}", quoted[i]))
        .collect::<Vec<_>>()
        .join(" AND ");
    let differs = if values.is_empty() {
        "FALSE".to_owned()
    } else {
        values
            .iter()
            .map(|q| format!("t.{q} IS DISTINCT FROM s.{q}"))
            .collect::<Vec<_>>()
            .join(" OR ")
    };
    let now = Now::Statement.sql();
    let mut set: Vec<String> = values.iter().map(|q| format!("{q} = s.{q}")).collect();
    let mut insert_columns = quoted.clone();
    let mut insert_values: Vec<String> = quoted.iter().map(|q| format!("s.{q}")).collect();
    if let TableLayout::Scd1 {
        updated_at: Some(stamp),
    } = &table.layout
    {
        let stamp = ident(ObjectKind::Table, stamp)?;
        set.push(format!("{stamp} = {now}"));
        insert_columns.push(stamp);
        insert_values.push(now);
    }
    let update = if set.is_empty() {
        String::new()
    } else {
        format!(
            "WHEN MATCHED AND ({differs}) THEN UPDATE SET {} ",
            set.join(", ")
        )
    };
    Ok(rows
        .chunks(ROWS_PER_INSERT)
        .map(|chunk| {
            format!(
                "MERGE INTO {name} AS t USING {} AS s ON {on} {update}WHEN NOT MATCHED THEN INSERT ({}) VALUES ({})",
                values_source(&columns, &quoted, chunk),
                insert_columns.join(", "),
                insert_values.join(", ")
            )
        })
        .collect())
}

/// The last row of each key, in first-seen order (a MERGE source must not repeat a key).
fn last_row_per_key(rows: Vec<Vec<String>>, key: &[usize]) -> Vec<Vec<String>> {
    let mut slot: HashMap<Vec<String>, usize> = HashMap::new();
    let mut out: Vec<Vec<String>> = Vec::new();
    for row in rows {
        let k: Vec<String> = key.iter().map(|&i| row[i].clone()).collect();
        match slot.get(&k) {
            Some(&i) => out[i] = row,
            None => {
                slot.insert(k, out.len());
                out.push(row);
            }
        }
    }
    out
}

/// `DELETE … USING` statements removing the keys in `keys` from table `name`.
pub(crate) fn deletes(name: &str, table: &TableDef, keys: &RecordBatch) -> Result<Vec<String>> {
    let columns = key_columns(table);
    if columns.is_empty() {
        return Err(SnowflakeError::Unsupported {
            object: format!("table {}", table.name),
            what: "DELETE by key on a table without a key".into(),
        });
    }
    let quoted = quoted_names(&columns)?;
    let rows = literal_rows(table, &columns, keys)?;
    let on = quoted
        .iter()
        .map(|q| format!("t.{q} = s.{q}"))
        .collect::<Vec<_>>()
        .join(" AND ");
    Ok(rows
        .chunks(ROWS_PER_INSERT)
        .map(|chunk| {
            format!(
                "DELETE FROM {name} AS t USING {} AS s WHERE {on}",
                values_source(&columns, &quoted, chunk)
            )
        })
        .collect())
}

/// `INSERT` statements appending `batch` (its columns matched to the table's by name) to the
/// plain table `name`.
pub(crate) fn inserts(name: &str, table: &TableDef, batch: &RecordBatch) -> Result<Vec<String>> {
    let indices = table
        .columns
        .iter()
        .map(|c| column_index(table, batch, c))
        .collect::<Result<Vec<_>>>()?;
    let projected = batch
        .project(&indices)
        .map_err(|e| SnowflakeError::Unsupported {
            object: format!("table {}", table.name),
            what: format!("these rows: {e}"),
        })?;
    insert_statements(name, &projected)
}
