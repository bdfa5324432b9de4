//! Table manifests, so that DuckDB, Polars or pyarrow read a table's rows straight from its
//! files with no snowdrift code: at every checkpoint, for each table,
//! - `tables/<name>.json`: the Parquet files that hold its rows at that version (paths
//!   relative to the warehouse root) and the name of the row id column some of them carry;
//! - `tables/<name>.duckdb.sql`: a DuckDB view over those files by their full location (for
//!   roots on a local disk or S3), `CREATE OR REPLACE VIEW <name> AS SELECT …`.
//!
//! A manifest describes the table as of the last checkpoint (every `checkpoint_every` commits,
//! and [`crate::LocalWarehouse::checkpoint`] or `close`). The files it names are kept until the
//! next checkpoint has written its own manifest.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::local::storage::Storage;
use crate::local::table::ROW_ID_COLUMN;

/// The manifest of one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) table: String,
    pub(crate) version: u64,
    pub(crate) rows: u64,
    /// The column of row ids in some files (not part of the table: drop it when reading).
    pub(crate) row_id_column: String,
    /// Whether any file has that column.
    pub(crate) has_row_ids: bool,
    /// The Parquet files, relative to the warehouse root.
    pub(crate) files: Vec<String>,
}

impl Manifest {
    pub(crate) fn new(
        table: &str,
        version: u64,
        rows: u64,
        files: Vec<String>,
        has_row_ids: bool,
    ) -> Self {
        Manifest {
            table: table.to_owned(),
            version,
            rows,
            row_id_column: ROW_ID_COLUMN.to_owned(),
            has_row_ids,
            files,
        }
    }

    /// The DuckDB view over the files at `base` (the root's full location).
    pub(crate) fn duckdb_view(&self, base: &str) -> String {
        let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let files: Vec<String> = self
            .files
            .iter()
            .map(|f| quote(&format!("{}/{f}", base.trim_end_matches('/'))))
            .collect();
        let exclude = if self.has_row_ids {
            format!(" EXCLUDE (\"{}\")", self.row_id_column)
        } else {
            String::new()
        };
        format!(
            "-- The rows of `{}` at version {} ({} rows), written by snowdrift's checkpoint.\nCREATE OR REPLACE VIEW \"{}\" AS SELECT *{exclude} FROM read_parquet([{}], union_by_name = true);\n",
            self.table,
            self.version,
            self.rows,
            self.table.replace('"', "\"\""),
            files.join(", ")
        )
    }

    /// Writes the manifest and, when the root has a full location, the DuckDB view.
    pub(crate) async fn write(&self, storage: &Storage) -> Result<()> {
        storage
            .write_object(
                &format!("tables/{}.json", self.table),
                serde_json::to_vec_pretty(self).map_err(|e| crate::WarehouseError::Corrupt {
                    path: format!("tables/{}.json", self.table),
                    reason: format!("cannot encode: {e}"),
                })?,
            )
            .await?;
        if let Some(base) = storage.public_base() {
            let view = self.duckdb_view(base);
            storage
                .write_object(
                    &format!("tables/{}.duckdb.sql", self.table),
                    view.into_bytes(),
                )
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_reads_every_file_and_drops_the_row_ids_when_present() {
        let manifest = Manifest::new(
            "customer_history",
            7,
            10,
            vec!["data/a.parquet".into(), "data/o'b.parquet".into()],
            true,
        );
        let view = manifest.duckdb_view("/srv/wh/");
        assert!(view.contains(
            "CREATE OR REPLACE VIEW \"customer_history\" AS SELECT * EXCLUDE (\"__snowdrift_row_id\") FROM read_parquet(['/srv/wh/data/a.parquet', '/srv/wh/data/o''b.parquet'], union_by_name = true);"
        ));
        let plain = Manifest::new("raw", 1, 0, vec!["data/r.parquet".into()], false);
        assert!(
            plain
                .duckdb_view("s3://b/p")
                .contains("SELECT * FROM read_parquet(['s3://b/p/data/r.parquet']")
        );
    }
}
