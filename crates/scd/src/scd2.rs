//! SCD Type 2: full history, one row per version of a key, with half-open
//! validity intervals `[start_time, end_time)`.

use arrow::array::{Array, BooleanArray, RecordBatch, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, SchemaRef};

use crate::event_history::EventTimeRules;
use crate::spec::{ChangeFormat, TIMESTAMP};
use crate::strategy::{
    KeyOutcome, MergeStrategy, Plan, PlanInput, RowIdentity, SystemValues, Values, Winner, Write,
    value_at,
};
use crate::validity::{
    OPEN_END_MICROS, OpenEnd, ValidityColumns, end_times, system_values, with_version_ids,
};
use crate::{ChangeOp, Result, TableSpec};

/// What a Type 2 table does with a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Scd2Delete {
    /// Keep the current version open, as if nothing happened.
    Ignore,
    /// Close the current version at the delete's time (a logical delete; the
    /// default, as in the original).
    #[default]
    Close,
    /// Close it and open a tombstone version (`is_deleted = TRUE`) that stays
    /// current until the key comes back, so intervals have no gaps.
    CloseWithTombstone,
}

/// What a Type 2 table does with a change older than its key's newest
/// version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum LateChanges {
    /// Versions follow the order changes are merged in: a change whose
    /// sequence is below its key's applied sequence is late, changes nothing
    /// and is returned as rejected (the default).
    #[default]
    Reject,
    /// History is sequenced by event time (the spec's sequence, a timestamp):
    /// every change, late ones included, is put in its place among the key's
    /// versions. See `docs/scd.md`, "History by event time".
    Restitch {
        /// How late a change may be, measured back from the event time of
        /// its key's newest change (the key's applied sequence): a change
        /// before that *horizon* is rejected as late,
        /// and the key's versions that ended before it may leave memory
        /// ([`crate::Table::retire_superseded`]). `None`: any lateness; the
        /// table then keeps every version and cannot retire any.
        within: Option<std::time::Duration>,
    },
}

impl LateChanges {
    /// Restitching with no bound on lateness.
    pub const RESTITCH_ANY: LateChanges = LateChanges::Restitch { within: None };

    /// Restitching changes up to `within` late.
    pub fn restitch_within(within: std::time::Duration) -> Self {
        LateChanges::Restitch {
            within: Some(within),
        }
    }
}

/// SCD Type 2: every change of a tracked column closes the current version
/// and opens a new one.
///
/// Rules (see `docs/scd.md`):
/// - A version's time is the change's sequence when that is a timestamp,
///   else the merge's clock; a stream's DELETE rows always use the clock.
/// - Intervals are half-open, `[start_time, end_time)`: the closed version's
///   `end_time` equals the next version's `start_time`, so `BETWEEN` (which
///   includes both ends) matches two versions at the boundary; use
///   `start_time <= t AND t < end_time`.
/// - Versions of a key are strictly ordered: a version whose time is not
///   after its predecessor's start starts 1 µs after it (never a tie, never
///   an empty or inverted interval); a key that comes back after a delete
///   starts no earlier than the deleted version ended.
/// - Columns outside [`Scd2::tracked`] are overwritten in the current
///   version without opening a new one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scd2 {
    /// Names of the validity columns.
    pub columns: ValidityColumns,
    /// Compared columns whose change opens a new version (default: all of
    /// them). The other compared columns are overwritten in place.
    pub tracked: Option<Vec<String>>,
    /// What a delete does.
    pub on_delete: Scd2Delete,
    /// What a late change does.
    pub late: LateChanges,
}

impl Scd2 {
    fn tombstones(&self) -> bool {
        self.on_delete == Scd2Delete::CloseWithTombstone
    }

    /// Refuses tombstones without a column to flag them in.
    fn check_tombstones(&self, spec: &TableSpec) -> Result<()> {
        if self.tombstones() && self.columns.deleted.is_none() {
            return Err(spec.invalid(
                "tombstones need a `deleted` validity column (ValidityColumns::deleted)",
            ));
        }
        Ok(())
    }

    /// Tracked and untracked compared columns.
    fn split_columns(&self, spec: &TableSpec) -> Result<(Vec<usize>, Vec<usize>)> {
        let Some(names) = &self.tracked else {
            return Ok((spec.compared().to_vec(), Vec::new()));
        };
        let mut tracked = Vec::new();
        for n in names {
            let i = spec
                .schema()
                .index_of(n)
                .ok()
                .filter(|i| spec.compared().contains(i))
                .ok_or_else(|| {
                    spec.invalid(format!("tracked column `{n}` is not a compared column"))
                })?;
            tracked.push(i);
        }
        let untracked = spec
            .compared()
            .iter()
            .copied()
            .filter(|c| !tracked.contains(c))
            .collect();
        Ok((tracked, untracked))
    }

    fn system(&self, start: i64, end: i64, deleted: bool) -> SystemValues {
        system_values(&self.columns, start, end, deleted)
    }
}

/// The latest version of a winner's key, as read from the table.
#[derive(Debug, Clone, Copy)]
struct Latest {
    addr: crate::RowAddr,
    start: i64,
    end: i64,
    current: bool,
    tombstone: bool,
}

impl MergeStrategy for Scd2 {
    fn name(&self) -> &'static str {
        "scd2"
    }

    fn target_schema(&self, spec: &TableSpec) -> Result<SchemaRef> {
        self.split_columns(spec)?;
        self.check_tombstones(spec)?;
        let c = &self.columns;
        let mut extra = vec![
            Field::new(&c.start, TIMESTAMP, false),
            Field::new(&c.end, TIMESTAMP, c.open_end == OpenEnd::Null),
            Field::new(&c.current, DataType::Boolean, false),
        ];
        if let Some(deleted) = &c.deleted {
            extra.push(Field::new(deleted, DataType::Boolean, false));
        }
        if let Some(id) = &c.scd_id {
            extra.push(Field::new(id, DataType::Utf8, false));
        }
        spec.extend_schema(extra)
    }

    fn newer(&self, target: &RecordBatch, a: usize, b: usize) -> bool {
        let start = target.column_by_name(&self.columns.start).and_then(|c| {
            c.as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .cloned()
        });
        match start {
            Some(s) => (s.value(a), a) > (s.value(b), b),
            None => a > b,
        }
    }

    fn live(&self, target: &RecordBatch, row: usize) -> bool {
        let flag = |name: &str| {
            target
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<BooleanArray>().cloned())
                .is_some_and(|c| c.is_valid(row) && c.value(row))
        };
        flag(&self.columns.current) && !self.columns.deleted.as_deref().is_some_and(flag)
    }

    fn complete_rows(&self, spec: &TableSpec, rows: RecordBatch) -> Result<RecordBatch> {
        with_version_ids(&self.columns, spec.key(), rows)
    }

    fn event_time_rules(&self, spec: &TableSpec) -> Result<Option<EventTimeRules>> {
        let LateChanges::Restitch { within } = self.late else {
            return Ok(None);
        };
        let within = within
            .map(|w| i64::try_from(w.as_micros()))
            .transpose()
            .map_err(|_| spec.invalid("the lateness bound is too large to be a time in µs"))?;
        if spec.sequence().is_none() {
            return Err(spec.invalid(
                "late changes can be re-stitched only in a history sequenced by event time: give the spec a timestamp sequence column",
            ));
        }
        if self.on_delete == Scd2Delete::Ignore {
            return Err(spec.invalid(
                "a history sequenced by event time cannot ignore deletes; use Close or CloseWithTombstone",
            ));
        }
        let (tracked, untracked) = self.split_columns(spec)?;
        self.check_tombstones(spec)?;
        Ok(Some(EventTimeRules {
            columns: self.columns.clone(),
            tombstones: self.tombstones(),
            tracked,
            untracked,
            within,
        }))
    }

    fn plan(&self, input: &PlanInput<'_>) -> Result<Plan> {
        let (tracked, untracked) = self.split_columns(input.spec)?;
        self.check_tombstones(input.spec)?;
        let starts = input.latest_times(&self.columns.start)?;
        let ends = end_times(input.latest_column(&self.columns.end)?)?;
        let currents = input.latest_flags(&self.columns.current)?;
        let tombstones = match &self.columns.deleted {
            Some(deleted) => Some(input.latest_flags(deleted)?),
            None => None,
        };
        let mut plan = Plan::with_capacity(input.winners.len(), 2);
        for (i, w) in input.winners.iter().enumerate() {
            let latest = w.latest.and_then(|addr| {
                let row = input.latest_index(i)?;
                Some(Latest {
                    addr,
                    start: value_at(&starts, Some(row))?,
                    end: value_at(&ends, Some(row))?,
                    current: currents.is_valid(row) && currents.value(row),
                    tombstone: tombstones
                        .as_ref()
                        .is_some_and(|t| t.is_valid(row) && t.value(row)),
                })
            });
            let time = self.time_of(input, w);
            let outcome = match w.op {
                ChangeOp::Upsert => {
                    self.upsert(input, &mut plan, i, w, latest, time, &tracked, &untracked)
                }
                ChangeOp::Delete => self.delete(&mut plan, i, w, latest, time),
            };
            plan.outcomes.push(outcome);
        }
        Ok(plan)
    }
}

impl Scd2 {
    fn time_of(&self, input: &PlanInput<'_>, w: &Winner) -> i64 {
        let stream_delete =
            w.op == ChangeOp::Delete && input.spec.format() == &ChangeFormat::Stream;
        match w.time {
            Some(t) if !stream_delete => t,
            _ => input.context.now_micros,
        }
    }

    /// Close `latest` at `end`: remove it and write it back closed.
    fn close(&self, plan: &mut Plan, i: usize, latest: Latest, end: i64) {
        plan.remove.push(latest.addr);
        plan.write.push(Write {
            winner: i,
            values: Values::Latest,
            system: self.system(latest.start, end, latest.tombstone),
            identity: RowIdentity::SameAs(latest.addr),
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn upsert(
        &self,
        input: &PlanInput<'_>,
        plan: &mut Plan,
        i: usize,
        w: &Winner,
        latest: Option<Latest>,
        time: i64,
        tracked: &[usize],
        untracked: &[usize],
    ) -> KeyOutcome {
        if let Some(l) = latest.filter(|_| w.live)
            && !input.differs(i, tracked)
        {
            if untracked.is_empty() || !input.differs(i, untracked) {
                return KeyOutcome::Unchanged;
            }
            plan.remove.push(l.addr);
            plan.write.push(Write {
                winner: i,
                values: Values::LatestWith(untracked.to_vec()),
                system: self.system(l.start, l.end, false),
                identity: RowIdentity::SameAs(l.addr),
            });
            return KeyOutcome::Updated;
        }
        let start = match latest {
            Some(l) if l.current => {
                let start = time.max(l.start + 1);
                self.close(plan, i, l, start);
                start
            }
            Some(l) => time.max(l.end),
            None => time,
        };
        plan.write.push(Write {
            winner: i,
            values: Values::Change,
            system: self.system(start, OPEN_END_MICROS, false),
            identity: RowIdentity::New,
        });
        if w.live {
            KeyOutcome::Updated
        } else {
            KeyOutcome::Inserted
        }
    }

    fn delete(
        &self,
        plan: &mut Plan,
        i: usize,
        w: &Winner,
        latest: Option<Latest>,
        time: i64,
    ) -> KeyOutcome {
        let Some(l) = latest.filter(|l| w.live && l.current) else {
            return KeyOutcome::Unchanged;
        };
        if self.on_delete == Scd2Delete::Ignore {
            return KeyOutcome::Ignored;
        }
        let end = time.max(l.start + 1);
        self.close(plan, i, l, end);
        if self.tombstones() {
            plan.write.push(Write {
                winner: i,
                values: Values::Latest,
                system: self.system(end, OPEN_END_MICROS, true),
                identity: RowIdentity::New,
            });
        }
        KeyOutcome::Deleted
    }
}
