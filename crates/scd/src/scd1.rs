//! SCD Type 1: the latest state of each key, overwritten in place.

use arrow::datatypes::{Field, SchemaRef};

use crate::spec::TIMESTAMP;
use crate::strategy::{
    KeyOutcome, MergeStrategy, Plan, PlanInput, RowIdentity, SystemValue, SystemValues, Values,
    Write,
};
use crate::{ChangeOp, Result, TableSpec};

/// What a Type 1 table does with a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Scd1Delete {
    /// Remove the row (the default; a stream on the table shows a DELETE).
    #[default]
    Remove,
    /// Keep the row as it was.
    Ignore,
}

/// SCD Type 1: one row per key with its latest values.
///
/// A change whose compared columns differ (null-safely) from the row
/// overwrites it and sets `update_timestamp` to the merge's clock; an exact
/// re-statement writes nothing.
///
/// ```
/// # use std::sync::Arc;
/// # use arrow::array::{Int64Array, RecordBatch, StringArray};
/// # use arrow::datatypes::{DataType, Field, Schema};
/// use snowdrift_scd::{MergeContext, MergeStrategy as _, Scd1, TableSpec, merge};
///
/// # let schema = Arc::new(Schema::new(vec![
/// #     Field::new("customer_id", DataType::Int64, false),
/// #     Field::new("email", DataType::Utf8, true),
/// # ]));
/// let spec = TableSpec::builder("customer", schema.clone()).key(["customer_id"]).build()?;
/// let scd1 = Scd1::default();
/// let mut customer = scd1.create_table(&spec)?;
/// let changes = RecordBatch::try_new(schema, vec![
///     Arc::new(Int64Array::from(vec![1, 2, 1])),
///     Arc::new(StringArray::from(vec![Some("a@x"), None, Some("b@x")])),
/// ])?;
/// let outcome = merge(&scd1, &spec, &mut customer, &[&changes], MergeContext::at(0))?;
/// assert_eq!(outcome.metrics.inserted, 2);
/// assert_eq!(outcome.metrics.superseded, 1); // key 1: the later row wins
/// assert_eq!(customer.num_rows(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scd1 {
    /// Name of the column stamped with the merge's clock when a row is
    /// written (`None` for no such column).
    pub updated_at: Option<String>,
    /// What a delete does.
    pub on_delete: Scd1Delete,
}

impl Default for Scd1 {
    fn default() -> Self {
        Self {
            updated_at: Some("update_timestamp".into()),
            on_delete: Scd1Delete::Remove,
        }
    }
}

impl MergeStrategy for Scd1 {
    fn name(&self) -> &'static str {
        "scd1"
    }

    fn target_schema(&self, spec: &TableSpec) -> Result<SchemaRef> {
        let extra = self
            .updated_at
            .iter()
            .map(|c| Field::new(c, TIMESTAMP, true))
            .collect();
        spec.extend_schema(extra)
    }

    fn plan(&self, input: &PlanInput<'_>) -> Result<Plan> {
        let mut plan = Plan::with_capacity(input.winners.len(), 1);
        let stamp = || {
            if self.updated_at.is_some() {
                SystemValues::from_slice(&[SystemValue::Timestamp(input.context.now_micros)])
            } else {
                SystemValues::NONE
            }
        };
        for (i, w) in input.winners.iter().enumerate() {
            let outcome = match (w.op, w.live, w.latest) {
                (ChangeOp::Upsert, true, Some(latest)) => {
                    if input.differs(i, input.spec.compared()) {
                        plan.remove.push(latest);
                        plan.write.push(Write {
                            winner: i,
                            values: Values::Change,
                            system: stamp(),
                            identity: RowIdentity::SameAs(latest),
                        });
                        KeyOutcome::Updated
                    } else {
                        KeyOutcome::Unchanged
                    }
                }
                (ChangeOp::Upsert, _, _) => {
                    plan.write.push(Write {
                        winner: i,
                        values: Values::Change,
                        system: stamp(),
                        identity: RowIdentity::New,
                    });
                    KeyOutcome::Inserted
                }
                (ChangeOp::Delete, true, Some(latest)) => match self.on_delete {
                    Scd1Delete::Remove => {
                        plan.remove.push(latest);
                        KeyOutcome::Deleted
                    }
                    Scd1Delete::Ignore => KeyOutcome::Ignored,
                },
                (ChangeOp::Delete, _, _) => KeyOutcome::Unchanged,
            };
            plan.outcomes.push(outcome);
        }
        Ok(plan)
    }
}
