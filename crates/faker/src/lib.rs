//! # snowdrift-faker
//!
//! Seeded synthetic entities (customers by default), realistic change streams
//! and their ground truth, as Arrow [`RecordBatch`](arrow::array::RecordBatch)es.
//!
//! It is the load generator and the test oracle of snowdrift:
//!
//! - [`ChangeStream`] emits batches of changes to an evolving population —
//!   inserts, realistic updates (an e-mail change, a move that changes street,
//!   city and state together), deletes (in an operation column), exact
//!   re-statements, duplicate keys in one batch, NULLs set and cleared,
//!   restored deletes and out-of-order event times — or, in
//!   [classic mode](ChangeStreamBuilder::classic), exactly what the original
//!   Python generator wrote: every file re-states customers `0..10_000`.
//! - [`GroundTruth`] replays emitted rows through a plain reference model of
//!   the merge rules and returns the SCD-1 table and SCD-2 history that a
//!   correct pipeline must end with.
//! - [`EntitySpec`] describes the columns (name → kind of fake value) and which
//!   columns change together, so other entities need no code change.
//!
//! Output is a pure function of the seed and the options: byte-identical on
//! every run and machine, sequential or [parallel](ChangeStreamBuilder::parallel).
//! Names, addresses and e-mail providers come from the `fake` crate's locale
//! data ([`Locale`]).
//!
//! ```
//! use snowdrift_faker::{ChangeStream, EntitySpec};
//!
//! // The original generator: 10,000 customers re-stated in every file.
//! let mut files = ChangeStream::builder(EntitySpec::customer())
//!     .seed(7)
//!     .classic(10_000)
//!     .build()?;
//! let file = files.next().unwrap();
//! assert_eq!(file.batch.num_rows(), 10_000);
//! assert_eq!(file.batch.num_columns(), 8);
//! # Ok::<(), snowdrift_faker::FakerError>(())
//! ```
#![warn(missing_docs)]

mod arrival;
mod buffer;
mod columns;
mod error;
mod locale;
mod locale_data;
mod options;
mod planner;
mod population;
mod restitch;
mod rng;
mod spec;
mod stream;
mod truth;
mod values;

pub use arrival::OutOfOrder;
pub use error::{FakerError, Result, SpecProblem};
pub use locale::Locale;
pub use options::ChangeMix;
pub use rng::FakerRng;
pub use spec::{ChangeGroup, ColumnKind, ColumnSpec, CustomFn, EntitySpec, EntitySpecBuilder};
pub use stream::{BatchStats, ChangeBatch, ChangeStream, ChangeStreamBuilder, Operation};
pub use truth::{GroundTruth, LateRow, MergeSummary, OPEN_END_MICROS, VersionOrder};
