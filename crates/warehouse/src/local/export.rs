//! Exports of a table to a local file other tools open: Arrow IPC
//! ([`crate::LocalWarehouse::export_ipc`]) and Parquet
//! ([`crate::LocalWarehouse::export_parquet`]). Both stream the last committed version one
//! segment at a time through [`crate::local::scan`], so an export never holds the whole table
//! in memory, and both write one plain file whatever the table's layout on storage.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::ipc::writer::FileWriter;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::error::{Result, WarehouseError};

/// The file formats of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExportFormat {
    /// An Arrow IPC file.
    Ipc,
    /// A Parquet file (Snappy, dictionaries and statistics on: it is meant to be queried).
    Parquet,
}

/// One open export file.
enum Writer {
    Ipc(FileWriter<BufWriter<File>>),
    Parquet(ArrowWriter<BufWriter<File>>),
}

impl Writer {
    fn create(format: ExportFormat, path: &Path, schema: &SchemaRef) -> Result<Self> {
        let file = BufWriter::new(File::create(path).map_err(|e| export_error(path, e))?);
        Ok(match format {
            ExportFormat::Ipc => Writer::Ipc(FileWriter::try_new(file, schema)?),
            ExportFormat::Parquet => {
                let properties = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .build();
                let writer = ArrowWriter::try_new(file, schema.clone(), Some(properties))
                    .map_err(|e| export_error(path, std::io::Error::other(e)))?;
                Writer::Parquet(writer)
            }
        })
    }

    fn write(&mut self, path: &Path, batch: &RecordBatch) -> Result<()> {
        match self {
            Writer::Ipc(writer) => Ok(writer.write(batch)?),
            Writer::Parquet(writer) => writer
                .write(batch)
                .map_err(|e| export_error(path, std::io::Error::other(e))),
        }
    }

    fn finish(self, path: &Path) -> Result<()> {
        match self {
            Writer::Ipc(mut writer) => {
                writer.finish()?;
                use std::io::Write as _;
                writer
                    .into_inner()?
                    .flush()
                    .map_err(|e| export_error(path, e))
            }
            Writer::Parquet(writer) => writer
                .close()
                .map(|_| ())
                .map_err(|e| export_error(path, std::io::Error::other(e))),
        }
    }
}

fn export_error(path: &Path, source: std::io::Error) -> WarehouseError {
    WarehouseError::Export {
        path: path.display().to_string(),
        source,
    }
}

/// Writes every batch of `parts` (rows of `schema`) to a new file at `path` in `format` and
/// returns the rows written. A failed export removes its partial file.
pub(crate) async fn export(
    format: ExportFormat,
    schema: &SchemaRef,
    mut parts: BoxStream<'static, Result<RecordBatch>>,
    path: &Path,
) -> Result<usize> {
    let mut writer = Writer::create(format, path, schema)?;
    let mut rows = 0;
    let written: Result<()> = async {
        while let Some(part) = parts.next().await {
            let part = part?;
            rows += part.num_rows();
            writer.write(path, &part)?;
        }
        Ok(())
    }
    .await;
    match written.and_then(|()| writer.finish(path)) {
        Ok(()) => Ok(rows),
        Err(error) => {
            let _ = std::fs::remove_file(path);
            Err(error)
        }
    }
}
