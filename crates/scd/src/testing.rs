//! Fixtures the crate's unit tests share.

use snowdrift_faker::{ChangeStream, EntitySpec};

use crate::{ChangeFormat, TableSpec};

/// A customer change stream (`seed`, `batch` rows a batch, `population` customers first) and the
/// spec of a table keyed by customer that reads it.
pub(crate) fn customers(seed: u64, batch: usize, population: usize) -> (ChangeStream, TableSpec) {
    let stream = ChangeStream::builder(EntitySpec::customer())
        .seed(seed)
        .batch_size(batch)
        .initial_population(population)
        .build()
        .unwrap();
    let spec = TableSpec::builder("customer", EntitySpec::customer().schema())
        .key(["customer_id"])
        .format(ChangeFormat::OperationColumn("op".into()))
        .build()
        .unwrap();
    (stream, spec)
}
