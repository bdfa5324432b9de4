//! # snowdrift-stage
//!
//! The part NiFi and S3 played in the original pipeline: record batches become CSV files with a
//! header in a staging area (a prefix in an object store), each completed file is announced the
//! way an S3 event notification announces it to Snowpipe, and a folder of files written by
//! someone else can be picked up and uploaded exactly once.
//!
//! - [`CsvEncoder`] / [`CsvFormat`]: Arrow → CSV with the `csv` crate (RFC 4180 quoting,
//!   delimiter, null text, unambiguous timestamps, optional gzip).
//! - [`StageSink`]: rolls files by rows, bytes and age under names that are unique and sort in
//!   close order ([`FileNamer`]), uploads them through `Arc<dyn ObjectStore>` (local folder,
//!   memory, S3 — see [`StageLocation`]) with retries, bounded memory and back-pressure, and
//!   announces each [`StagedFile`] to subscribers.
//! - [`FolderPickup`]: NiFi's ListFile → FetchFile → PutS3Object, exactly once across restarts.
//!
//! ```
//! use std::sync::Arc;
//! use arrow::array::{Int64Array, RecordBatch, StringArray};
//! use arrow::datatypes::{DataType, Field, Schema};
//! use snowdrift_stage::{RollPolicy, StageLocation, StageSink};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let schema = Arc::new(Schema::new(vec![
//!     Field::new("customer_id", DataType::Int64, false),
//!     Field::new("email", DataType::Utf8, true),
//! ]));
//! let batch = RecordBatch::try_new(schema.clone(), vec![
//!     Arc::new(Int64Array::from(vec![1, 2, 3])),
//!     Arc::new(StringArray::from(vec![Some("a@example.com"), None, Some("c, \"the\" third")])),
//! ])?;
//!
//! let stage = StageLocation::parse("memory:///landing")?;
//! let sink = StageSink::builder(stage.clone(), schema)
//!     .roll(RollPolicy { max_rows: 2, ..RollPolicy::default() })
//!     .writer_id(1)
//!     .build()?;
//! let mut staged = sink.subscribe();
//! sink.write(&batch).await?;
//! let metrics = sink.close().await?;
//! assert_eq!((metrics.files, metrics.rows), (2, 3));
//!
//! // Uploads run concurrently: announcements arrive in completion order.
//! let (a, b) = (staged.recv().await.unwrap(), staged.recv().await.unwrap());
//! let first = if a.path < b.path { a } else { b };
//! assert!(first.path.as_ref().starts_with("landing/customer_"));
//! use object_store::ObjectStoreExt;
//! let text = stage.store().get(&first.path).await?.bytes().await?;
//! assert_eq!(&text[..], b"customer_id,email\n1,a@example.com\n2,\n");
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod encode;
mod error;
mod file;
mod format;
mod glob;
mod location;
mod naming;
mod pickup;
mod retry;
mod sink;
mod timefmt;
mod upload;

pub use encode::{CsvEncoder, EncodedRows};
pub use error::{Result, StageError};
pub use file::RollPolicy;
pub use format::{Compression, CsvFormat, LineEnding};
pub use glob::matches as glob_matches;
pub use location::{StageLocation, aws_environment};
pub use naming::{FileNamer, MAX_WRITER_ID};
pub use pickup::{AfterUpload, FolderPickup, FolderPickupBuilder, PickupReport, Stability};
pub use retry::{RetryPolicy, is_transient};
pub use sink::{SinkMetrics, StageSink, StageSinkBuilder, UnsentFile};
pub use upload::{StagedFile, UploadTuning};
