//! SCD Type 0: retain the original. A key is inserted once and never
//! changed; updates and deletes are ignored (and counted as such).

use arrow::datatypes::SchemaRef;

use crate::strategy::{
    KeyOutcome, MergeStrategy, Plan, PlanInput, RowIdentity, SystemValues, Values, Write,
};
use crate::{ChangeOp, Result, TableSpec};

/// SCD Type 0: the first values of a key are kept forever; updates and
/// deletes are ignored (and counted as such).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scd0;

impl MergeStrategy for Scd0 {
    fn name(&self) -> &'static str {
        "scd0"
    }

    fn target_schema(&self, spec: &TableSpec) -> Result<SchemaRef> {
        spec.extend_schema(Vec::new())
    }

    fn plan(&self, input: &PlanInput<'_>) -> Result<Plan> {
        let mut plan = Plan::with_capacity(input.winners.len(), 1);
        for (i, w) in input.winners.iter().enumerate() {
            let outcome = match (w.op, w.latest) {
                (ChangeOp::Upsert, None) => {
                    plan.write.push(Write {
                        winner: i,
                        values: Values::Change,
                        system: SystemValues::NONE,
                        identity: RowIdentity::New,
                    });
                    KeyOutcome::Inserted
                }
                _ => KeyOutcome::Ignored,
            };
            plan.outcomes.push(outcome);
        }
        Ok(plan)
    }
}
