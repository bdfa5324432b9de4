//! Compaction of a [`Table`]'s segments as merges go: size tiers for the newest segments,
//! sealing past a size so that no merge copies more than a bounded number of rows, rewrites of
//! mostly-deleted segments, joins of segments that shrank, and removal of empty ones. What is
//! kept and why is on `Table::compact`; it runs inside every merge, so each step's work is
//! bounded by a constant or by the change, never by the table.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::{concat_batches, filter_record_batch};
use arrow::datatypes::SchemaRef;

use super::{RowAddr, Table};
use crate::Result;
use crate::segment::Segment;

/// Segments of one size tier merged at once (see `Table::compact`).
pub(super) const TIER_FANOUT: usize = 8;

/// Segments of the tail past which the trailing ones are merged whatever their tiers.
const MAX_SEGMENTS: usize = 48;

/// Stored rows from which a segment is sealed (see `Table::compact`): no merge of segments
/// copies more than [`TIER_FANOUT`] times this many rows, however large the table.
pub(super) const SEAL_ROWS: usize = 1 << 15;

/// Empty segments left in place (the key index holds segment numbers) until this many have
/// gathered; then one pass over the key index renumbers the others.
const MAX_EMPTY: usize = 8;

/// The size tier of a segment storing `rows` rows: `log8(rows)`.
fn tier_of(rows: usize) -> u32 {
    rows.max(1).ilog2() / TIER_FANOUT.ilog2()
}

impl Table {
    /// Keep segments few and mostly live, with work per merge bounded by the change, never by
    /// the table. A segment's tier is `log8` of its stored rows (deleted ones included, so a
    /// segment that loses rows to updates keeps its tier until it is rewritten):
    /// - the *tail*, the segments after the last sealed one, is tiered: once [`TIER_FANOUT`]
    ///   trailing segments share a tier they are merged into one, so a row is rewritten about
    ///   `log8(SEAL_ROWS / merge)` times; a trailing segment two tiers above its predecessor
    ///   absorbs it; past [`MAX_SEGMENTS`] the trailing [`TIER_FANOUT`] are merged;
    /// - a segment of [`SEAL_ROWS`] stored rows or more is sealed: it leaves the tail and is
    ///   never merged into a larger one, so no merge copies more than `TIER_FANOUT ×
    ///   SEAL_ROWS` rows (merging the whole table at once stalled the merge that did it for
    ///   over a second at 500,000 keys);
    /// - segments more than two-thirds deleted are rewritten in place, so stored rows stay
    ///   within about three times the live ones;
    /// - a run of adjacent segments before the tail whose live rows fit in [`SEAL_ROWS`]
    ///   together is joined into its first one, so segments that shrank do not pile up;
    /// - empty segments leave: at the end at once, elsewhere once [`MAX_EMPTY`] have gathered.
    ///
    /// Rewrites in place and joins copy at most about [`SEAL_ROWS`] rows per call; a backlog
    /// (after a wave of deletes) is worked off over the next merges.
    pub(super) fn compact(&mut self) -> Result<()> {
        self.merge_tail()?;
        self.rewrite_sparse()?;
        self.join_shrunk()?;
        self.drop_empty();
        Ok(())
    }

    /// The first segment of the tail: the one after the last sealed segment.
    fn tail_start(&self) -> usize {
        self.segments
            .iter()
            .rposition(|s| s.sealed)
            .map_or(0, |i| i + 1)
    }

    fn merge_tail(&mut self) -> Result<()> {
        loop {
            let n = self.segments.len();
            if n >= 1 && self.segments[n - 1].live_rows() == 0 {
                self.segments.pop();
                continue;
            }
            let tail = n - self.tail_start();
            let tier = |i: usize| tier_of(self.segments[i].batch.num_rows());
            let merge = if tail >= 2 && tier(n - 2) + 2 <= tier(n - 1) {
                2
            } else if tail >= TIER_FANOUT
                && ((n - TIER_FANOUT..n).all(|i| tier(i) == tier(n - 1)) || tail > MAX_SEGMENTS)
            {
                TIER_FANOUT
            } else {
                return Ok(());
            };
            let parts = self.segments.split_off(n - merge);
            self.push_rewritten(&parts)?;
        }
    }

    /// Rewrites mostly-deleted segments in place, until about [`SEAL_ROWS`] rows are copied.
    fn rewrite_sparse(&mut self) -> Result<()> {
        let mut copied = 0;
        for i in 0..self.segments.len() {
            let s = &self.segments[i];
            let sparse = s.live_rows() > 0 && s.deleted_count * 3 > s.batch.num_rows() * 2;
            if sparse && copied < self.seal_rows {
                copied += s.live_rows();
                self.rewrite_in_place(i)?;
            }
        }
        Ok(())
    }

    /// Joins the first run of two or more non-empty segments before the tail whose live rows
    /// fit in [`SEAL_ROWS`] together (empty ones between them do not break a run) into the
    /// run's first segment, leaving the others empty.
    fn join_shrunk(&mut self) -> Result<()> {
        let (mut run, mut rows) = (Vec::new(), 0);
        for i in 0..self.tail_start() {
            let live = self.segments[i].live_rows();
            if live == 0 {
                continue;
            }
            if rows + live > self.seal_rows {
                if run.len() >= 2 {
                    break;
                }
                (run, rows) = (Vec::new(), 0);
                if live > self.seal_rows {
                    continue;
                }
            }
            run.push(i);
            rows += live;
        }
        if run.len() < 2 {
            return Ok(());
        }
        let mut batches = Vec::with_capacity(run.len());
        let (mut ids, mut moves) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
        for &i in &run {
            let part = [self.segments[i].clone()];
            let (batch, part_ids, part_moves) = Self::live_of(&self.schema, &part, i as u32)?;
            batches.push(batch);
            ids.extend(part_ids);
            moves.extend(part_moves);
        }
        let batch = concat_batches(&self.schema, &batches)?;
        let first = run[0];
        self.repoint(&batch, &moves, first as u32)?;
        self.segments[first] = Arc::new(Segment::new(batch, ids.into(), true));
        let empty = Arc::new(Segment::new(
            RecordBatch::new_empty(self.schema.clone()),
            Arc::new([]),
            true,
        ));
        for &i in &run[1..] {
            self.segments[i] = empty.clone();
        }
        Ok(())
    }

    /// Removes empty segments once [`MAX_EMPTY`] have gathered, renumbering the key index.
    fn drop_empty(&mut self) {
        let empty = self.segments.iter().filter(|s| s.live_rows() == 0).count();
        if empty < MAX_EMPTY {
            return;
        }
        let mut number = Vec::with_capacity(self.segments.len());
        let mut next = 0;
        for s in &self.segments {
            number.push(next);
            if s.live_rows() > 0 {
                next += 1;
            }
        }
        for state in self.keys.values_mut() {
            if let Some(addr) = &mut state.latest {
                // A key's latest row is live, so its segment stays.
                addr.segment = number[addr.segment as usize];
            }
        }
        self.segments.retain(|s| s.live_rows() > 0);
    }

    /// Append one segment holding the live rows of `parts`, re-pointing the
    /// key index at the moved rows.
    fn push_rewritten(&mut self, parts: &[Arc<Segment>]) -> Result<()> {
        let index = self.segments.len() as u32;
        let old_first = index;
        let (batch, row_ids, moves) = Self::live_of(&self.schema, parts, old_first)?;
        self.repoint(&batch, &moves, index)?;
        let sealed = batch.num_rows() >= self.seal_rows;
        self.segments
            .push(Arc::new(Segment::new(batch, row_ids.into(), sealed)));
        Ok(())
    }

    fn rewrite_in_place(&mut self, i: usize) -> Result<()> {
        let part = self.segments[i].clone();
        let sealed = part.sealed;
        let (batch, row_ids, moves) = Self::live_of(&self.schema, &[part], i as u32)?;
        self.repoint(&batch, &moves, i as u32)?;
        self.segments[i] = Arc::new(Segment::new(batch, row_ids.into(), sealed));
        Ok(())
    }

    /// The live rows of `parts` (segments numbered from `first`), their row
    /// ids, and for each kept row its old address.
    fn live_of(
        schema: &SchemaRef,
        parts: &[Arc<Segment>],
        first: u32,
    ) -> Result<(RecordBatch, Vec<u64>, Vec<RowAddr>)> {
        let mut batches = Vec::with_capacity(parts.len());
        let mut ids = Vec::new();
        let mut moves = Vec::new();
        for (p, s) in parts.iter().enumerate() {
            batches.push(filter_record_batch(&s.batch, &s.live_mask())?);
            for (row, (&id, &d)) in s.row_ids.iter().zip(&s.deleted).enumerate() {
                if !d {
                    ids.push(id);
                    moves.push(RowAddr {
                        segment: first + p as u32,
                        row: row as u32,
                    });
                }
            }
        }
        Ok((concat_batches(schema, &batches)?, ids, moves))
    }

    /// Point keys whose latest row moved (from `moves[i]` to row `i` of the
    /// new segment `index`) at the new place.
    fn repoint(&mut self, batch: &RecordBatch, moves: &[RowAddr], index: u32) -> Result<()> {
        let keys = self.encode_keys(&self.key_columns(batch)?)?;
        for (row, old) in moves.iter().enumerate() {
            let key = keys.get(row);
            if let Some(state) = self.keys.get_mut(key)
                && state.latest == Some(*old)
            {
                state.latest = Some(RowAddr {
                    segment: index,
                    row: row as u32,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::tests::{all_rows, customers};
    use crate::{MergeContext, MergeStrategy, Scd1, Scd2, merge};

    #[test]
    fn tiers_keep_segments_few_under_many_small_merges() {
        let (mut stream, spec) = customers(5, 300, 3_000);
        let (scd1, scd2) = (Scd1::default(), Scd2::default());
        let mut tables = vec![
            scd1.create_table(&spec).unwrap(),
            scd2.create_table(&spec).unwrap(),
        ];
        let strategies: [&dyn MergeStrategy; 2] = [&scd1, &scd2];
        for (i, b) in stream.by_ref().take(200).enumerate() {
            for (s, t) in strategies.iter().zip(&mut tables) {
                merge(*s, &spec, t, &[&b.batch], MergeContext::at(i as i64)).unwrap();
                assert!(
                    t.segments.len() <= MAX_SEGMENTS,
                    "{} segments",
                    t.segments.len()
                );
                let stored: usize = t.segments.iter().map(|s| s.batch.num_rows()).sum();
                assert!(stored <= 3 * t.num_rows() + 3 * 300, "{stored} rows stored");
            }
        }
        let history = &tables[1];
        assert!(history.num_rows() > 30_000 && history.segments.len() < 24);
    }

    #[test]
    fn sealed_segments_bound_what_one_merge_copies_and_change_no_result() {
        let seal = 64;
        let (scd1, scd2) = (Scd1::default(), Scd2::default());
        let strategies: [&dyn MergeStrategy; 2] = [&scd1, &scd2];
        for (s, retire) in [(0, false), (1, false), (1, true)] {
            let (mut stream, spec) = customers(11, 50, 2_000);
            let strategy = strategies[s];
            let mut plain = crate::create_table(strategy, &spec).unwrap();
            let mut sealed = crate::create_table(strategy, &spec)
                .unwrap()
                .with_seal_rows(seal);
            plain.retire_superseded(retire);
            sealed.retire_superseded(retire);
            let (mut gone_plain, mut gone_sealed) = (Vec::new(), Vec::new());
            let mut reached_sealed = false;
            for (i, b) in stream.by_ref().take(400).enumerate() {
                let at = MergeContext::at(i as i64 * 1_000);
                let a = merge(strategy, &spec, &mut plain, &[&b.batch], at).unwrap();
                let b = merge(strategy, &spec, &mut sealed, &[&b.batch], at).unwrap();
                assert_eq!(a.metrics, b.metrics);
                assert_eq!(a.changes.batch().unwrap(), b.changes.batch().unwrap());
                gone_plain.extend(plain.take_retired().unwrap());
                gone_sealed.extend(sealed.take_retired().unwrap());
                // One merge writes at most 100 rows (SCD-2: a closed and a new version per
                // change); nothing else makes a segment larger than a full tier merge.
                let largest = sealed.segments.iter().map(|s| s.batch.num_rows()).max();
                assert!(largest <= Some(TIER_FANOUT * seal), "{largest:?} rows");
                let stored: usize = sealed.segments.iter().map(|s| s.batch.num_rows()).sum();
                assert!(
                    stored <= 3 * sealed.num_rows() + 4 * seal + 300,
                    "{stored} rows stored for {}",
                    sealed.num_rows()
                );
                let empty = sealed.segments.iter().filter(|s| s.live_rows() == 0);
                assert!(empty.count() < MAX_EMPTY);
                reached_sealed |= sealed.segments.iter().filter(|s| s.sealed).count() > 4;
            }
            assert!(reached_sealed, "the test reached sealed segments");
            assert_eq!(
                all_rows(&plain, &gone_plain),
                all_rows(&sealed, &gone_sealed)
            );
        }
    }

    #[test]
    fn tier_is_log8_of_stored_rows() {
        assert_eq!(
            [0, 1, 7, 8, 63, 64, 511, 512].map(tier_of),
            [0, 0, 0, 1, 1, 2, 2, 3]
        );
    }
}
