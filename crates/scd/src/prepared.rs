//! [`PreparedMerge`]: a merge decided against a table and not applied yet, and its
//! application.
//!
//! Deciding a merge (reading the changes, finding and comparing the keys' current rows, the
//! strategy's plan, building the new rows) only reads the table; applying it (row ids, the key
//! index, segments, the change set) is proportional to the change. Keeping the two apart lets a
//! store decide with no lock held on a table it shares, then apply under its lock, instead of
//! merging a private copy of the whole table.

use arrow::array::RecordBatch;

use crate::change_batches::Changes;
use crate::changeset::ChangeSet;
use crate::event_history::merge_by_event_time;
use crate::reject::Rejection;
use crate::strategy::MergeContext;
use crate::table::{KeyState, RowAddr, Stamp, Table};
use crate::{EventTimeRules, LateChange, MergeMetrics, MergeOutcome, Result, ScdError, TableSpec};

/// A merge decided by [`crate::prepare_merge`] on one table in one state; apply it to that
/// table with [`PreparedMerge::apply`].
#[derive(Debug)]
pub struct PreparedMerge {
    stamp: Stamp,
    work: Work,
}

#[derive(Debug)]
enum Work {
    /// Everything decided; what is left is writing it.
    Decided(Box<Decided>),
    /// A history by event time decides as it applies.
    ByEventTime(Box<ByEventTime>),
}

/// What a merge into a history by event time is applied with.
#[derive(Debug)]
struct ByEventTime {
    rules: EventTimeRules,
    spec: TableSpec,
    batches: Vec<RecordBatch>,
    context: MergeContext,
}

/// What a merge decided, ready to write.
#[derive(Debug)]
pub(crate) struct Decided {
    pub(crate) metrics: MergeMetrics,
    /// Rows to remove from the table.
    pub(crate) remove: Vec<RowAddr>,
    /// Rows to write, in the table's schema.
    pub(crate) written: Vec<RecordBatch>,
    /// Per written row: the row id it keeps, or `None` for a new one.
    pub(crate) written_ids: Vec<Option<u64>>,
    /// The removed rows and their ids (for the change set).
    pub(crate) removed: RecordBatch,
    pub(crate) removed_ids: Vec<u64>,
    /// Per winner: its row of `changes`, its key's next state and the written row that
    /// becomes the key's latest.
    pub(crate) winner_rows: Vec<usize>,
    pub(crate) key_states: Vec<(KeyState, Option<usize>)>,
    /// A truncate's sequence: no later change may precede it.
    pub(crate) floor: Option<i64>,
    /// Whether the spec has a sequence (then the applied sequences are reported).
    pub(crate) with_sequence: bool,
    /// The changes read (their keys name the winners).
    pub(crate) changes: Changes,
    pub(crate) late: Vec<LateChange>,
    pub(crate) late_rows: RecordBatch,
    pub(crate) rejected: Vec<Rejection>,
}

impl PreparedMerge {
    pub(crate) fn decided(table: &Table, decided: Decided) -> Self {
        PreparedMerge {
            stamp: table.stamp(),
            work: Work::Decided(Box::new(decided)),
        }
    }

    pub(crate) fn by_event_time(
        table: &Table,
        rules: EventTimeRules,
        spec: TableSpec,
        batches: Vec<RecordBatch>,
        context: MergeContext,
    ) -> Self {
        PreparedMerge {
            stamp: table.stamp(),
            work: Work::ByEventTime(Box::new(ByEventTime {
                rules,
                spec,
                batches,
                context,
            })),
        }
    }

    /// The merge's counts as decided (a history by event time counts as it applies: zeros
    /// until then).
    pub fn metrics(&self) -> MergeMetrics {
        match &self.work {
            Work::Decided(d) => d.metrics,
            Work::ByEventTime(_) => MergeMetrics::default(),
        }
    }

    /// Writes the decision into `table`, which must be the table it was prepared on (or a
    /// clone of it), unchanged since.
    ///
    /// # Errors
    ///
    /// [`ScdError::StalePreparedMerge`] when `table` is another table or changed after the
    /// merge was prepared (nothing is written then: prepare again); [`ScdError::Arrow`] if
    /// the written rows cannot be stored; for a history by event time, every error of
    /// [`crate::merge`]. The table is unchanged on error.
    pub fn apply(self, table: &mut Table) -> Result<MergeOutcome> {
        if table.stamp() != self.stamp {
            return Err(ScdError::StalePreparedMerge {
                table: table.name().to_string(),
            });
        }
        match self.work {
            Work::Decided(decided) => decided.apply(table),
            Work::ByEventTime(work) => {
                let batches: Vec<&RecordBatch> = work.batches.iter().collect();
                merge_by_event_time(&work.rules, &work.spec, table, &batches, work.context)
            }
        }
    }
}

impl Decided {
    fn apply(self, table: &mut Table) -> Result<MergeOutcome> {
        let Decided {
            metrics,
            remove,
            written,
            written_ids,
            removed,
            removed_ids,
            winner_rows,
            key_states,
            floor,
            with_sequence,
            changes,
            late,
            late_rows,
            rejected,
        } = self;
        let written_ids: Vec<u64> = written_ids
            .into_iter()
            .map(|id| id.unwrap_or_else(|| table.allocate_row_id()))
            .collect();
        let states = winner_rows
            .iter()
            .zip(key_states)
            .map(|(&row, (state, latest))| (changes.key(row), state, latest))
            .collect();
        table.apply(&remove, &written, &written_ids, states, Vec::new())?;
        if let Some(floor) = floor {
            table.raise_sequence_floor(floor);
        }
        let applied_sequences = if with_sequence {
            Some(table.applied_sequences_of(winner_rows.iter().map(|&row| changes.key(row)))?)
        } else {
            None
        };
        let changes = ChangeSet::from_mutation(removed, removed_ids, written, written_ids);
        Ok(MergeOutcome {
            metrics,
            changes,
            late,
            late_rows,
            rejected,
            applied_sequences,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::customers;
    use crate::{MergeContext, MergeStrategy, Scd1, Scd2, ScdError, merge, prepare_merge};

    #[test]
    fn a_prepared_merge_applied_is_the_merge_and_preparing_changes_nothing() {
        let (mut stream, spec) = customers(11, 400, 1_000);
        let (scd1, scd2) = (Scd1::default(), Scd2::default());
        let strategies: [&dyn MergeStrategy; 2] = [&scd1, &scd2];
        for strategy in strategies {
            let mut merged = strategy.create_table(&spec).unwrap();
            let mut prepared_then_applied = strategy.create_table(&spec).unwrap();
            for (i, b) in stream.by_ref().take(6).enumerate() {
                let at = MergeContext::at(i as i64);
                let expected = merge(strategy, &spec, &mut merged, &[&b.batch], at).unwrap();
                let before = prepared_then_applied.to_batch_with_row_ids().unwrap();
                let prepared =
                    prepare_merge(strategy, &spec, &prepared_then_applied, &[&b.batch], at)
                        .unwrap();
                assert_eq!(
                    prepared_then_applied.to_batch_with_row_ids().unwrap(),
                    before
                );
                assert_eq!(prepared.metrics(), expected.metrics);
                let got = prepared.apply(&mut prepared_then_applied).unwrap();
                assert_eq!(got.changes, expected.changes);
                assert_eq!(
                    prepared_then_applied.to_batch_with_row_ids().unwrap(),
                    merged.to_batch_with_row_ids().unwrap()
                );
            }
        }
    }

    #[test]
    fn a_prepared_merge_is_refused_by_a_changed_table_and_by_another_one() {
        let (mut stream, spec) = customers(11, 400, 1_000);
        let scd1 = Scd1::default();
        let first = stream.next().unwrap().batch;
        let second = stream.next().unwrap().batch;
        let mut table = scd1.create_table(&spec).unwrap();
        let at = MergeContext::at(1);
        let stale = prepare_merge(&scd1, &spec, &table, &[&first], at).unwrap();
        let clone_of_it = prepare_merge(&scd1, &spec, &table, &[&first], at).unwrap();
        let mut clone = table.clone();
        merge(&scd1, &spec, &mut table, &[&second], at).unwrap();
        let after = table.to_batch_with_row_ids().unwrap();
        let err = stale.apply(&mut table).unwrap_err();
        assert!(
            matches!(&err, ScdError::StalePreparedMerge { table } if table == "customer"),
            "{err}"
        );
        assert_eq!(table.to_batch_with_row_ids().unwrap(), after);
        // A clone taken before the change is the table as it was: the merge applies to it.
        clone_of_it.apply(&mut clone).unwrap();
        let mut other = scd1.create_table(&spec).unwrap();
        let fresh = prepare_merge(&scd1, &spec, &table, &[&first], at).unwrap();
        assert!(matches!(
            fresh.apply(&mut other),
            Err(ScdError::StalePreparedMerge { .. })
        ));
    }
}
