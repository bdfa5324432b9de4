//! Conformance scenario for streamed reads: [`Warehouse::scan`] gives the rows of a table with
//! only the columns and keys asked for, and refuses a column the table does not have.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch};
use futures::TryStreamExt as _;

use super::Fixture;
use super::scenarios::{OrFail, Outcome, check, create, keyed};
use crate::catalog::TableLayout;
use crate::error::WarehouseError;
use crate::rows::sorted_rows;
use crate::scan::Scan;
use crate::{Dml, Warehouse};

fn ids(ids: &[i64]) -> RecordBatch {
    RecordBatch::try_from_iter(vec![("id", Arc::new(Int64Array::from(ids.to_vec())) as _)])
        .expect("one column")
}

/// All the parts of a scan of `table`.
async fn scanned(w: &dyn Warehouse, table: &str, scan: Scan) -> Result<Vec<RecordBatch>, String> {
    w.scan(table, scan)
        .await
        .or_fail()?
        .try_collect()
        .await
        .or_fail()
}

pub(super) async fn scan_columns_and_keys(w: &dyn Warehouse, _: &Fixture) -> Outcome {
    create(w, keyed("scan_t", TableLayout::Plain)).await?;
    let rows = super::scenarios::people(&[1, 2, 3], &[Some("a"), Some("b"), None]);
    w.dml("scan_t", Dml::Insert(vec![rows])).await.or_fail()?;
    let all = scanned(w, "scan_t", Scan::new()).await?;
    check(
        "rows of a whole scan",
        all.iter().map(RecordBatch::num_rows).sum::<usize>(),
        3,
    )?;
    let parts = scanned(
        w,
        "scan_t",
        Scan::new().columns(["email"]).keys(ids(&[1, 3, 9])),
    )
    .await?;
    for part in &parts {
        let schema = part.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        check("columns of a projected scan", names, vec!["email"])?;
    }
    let mut emails: Vec<String> = parts
        .iter()
        .flat_map(|p| sorted_rows(p, &["email"]))
        .collect();
    emails.sort();
    check(
        "emails of keys 1 and 3",
        emails,
        vec!["NULL".into(), "a".into()],
    )?;
    match w.scan("scan_t", Scan::new().columns(["nope"])).await {
        Err(WarehouseError::InvalidDefinition { .. }) => Ok(()),
        Err(other) => Err(format!("a scan of a missing column: {other}")),
        Ok(_) => Err("a scan of a missing column was accepted".into()),
    }
}
