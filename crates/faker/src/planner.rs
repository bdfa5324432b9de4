//! Planning a batch: which keys change and how (insert, update of one
//! change group, delete, no-op, restore, duplicates within the batch), and
//! the column versions each planned row will carry.
//!
//! Planning is sequential (the population evolves row by row) and cheap;
//! turning a plan into values is done by `columns.rs`. A batch can be planned
//! in pieces, so that the next piece is planned while the previous one is
//! turned into values.

use std::sync::Arc;

use crate::options::ChangeOptions;
use crate::population::Population;
use crate::stream::{BatchStats, Operation};
use crate::{EntitySpec, FakerRng};

/// Rows planned for one batch (or one piece of it), before values are
/// generated.
#[derive(Debug, Default, Clone)]
pub(crate) struct Plan {
    pub(crate) keys: Vec<i64>,
    pub(crate) ops: Vec<Operation>,
    /// One version per column per row, or one set shared by every row.
    pub(crate) versions: Vec<u32>,
    pub(crate) shared_versions: bool,
    /// Position of the plan's first row in the whole stream.
    pub(crate) first_sequence: u64,
    pub(crate) event_times: Vec<i64>,
    pub(crate) stats: BatchStats,
}

impl Plan {
    /// Take in a piece planned after this plan's rows (its keys and versions
    /// are not kept: only what the extra columns and statistics need).
    pub(crate) fn absorb(&mut self, piece: &Plan) {
        if self.ops.is_empty() {
            self.first_sequence = piece.first_sequence;
        }
        self.ops.extend_from_slice(&piece.ops);
        self.event_times.extend_from_slice(&piece.event_times);
        let (a, b) = (&mut self.stats, &piece.stats);
        a.rows += b.rows;
        a.inserts += b.inserts;
        a.updates += b.updates;
        a.deletes += b.deletes;
        a.noops += b.noops;
        a.restores += b.restores;
        a.duplicates += b.duplicates;
        a.late += b.late;
    }

    pub(crate) fn clear(&mut self) {
        self.keys.clear();
        self.ops.clear();
        self.versions.clear();
        self.shared_versions = false;
        self.event_times.clear();
        self.stats = BatchStats::default();
    }
}

/// Where planning of the current batch stands.
#[derive(Debug)]
pub(crate) struct BatchCursor {
    stamp: u32,
    /// Keys changed so far in the batch (duplicates are drawn from them).
    touched: Vec<i64>,
    /// Rows still to plan.
    left: usize,
}

/// The sequential half of a change stream: the population and the RNG that
/// decides what changes.
#[derive(Debug, Clone)]
pub(crate) struct Planner {
    pub(crate) spec: Arc<EntitySpec>,
    pub(crate) population: Population,
    rng: FakerRng,
    cumulative: [f64; 5],
    group_weights: Vec<u32>,
    options: ChangeOptions,
    /// Batches begun so far.
    pub(crate) next_batch: u64,
    /// Rows planned so far (the next row's sequence number).
    next_event: u64,
}

impl Planner {
    pub(crate) fn new(spec: Arc<EntitySpec>, options: ChangeOptions, seed: u64) -> Self {
        let group_weights = spec.resolved_groups().iter().map(|g| g.weight).collect();
        Self {
            population: Population::new(spec.columns().len()),
            rng: FakerRng::from_seed(seed ^ 0x706c_616e),
            cumulative: options.mix.cumulative(),
            group_weights,
            options,
            spec,
            next_batch: 0,
            next_event: 0,
        }
    }

    fn next_event_time(&mut self, stats: &mut BatchStats) -> i64 {
        let interval = self.options.event_interval.as_micros().max(1) as i64;
        let mut t = self.options.start_time_micros + self.next_event as i64 * interval;
        self.next_event += 1;
        if self.rng.chance(self.options.late_rate) {
            let max = self.options.max_lateness.as_micros().max(1) as i64;
            t -= self.rng.between(1, max);
            stats.late += 1;
        }
        t
    }

    fn push(&mut self, plan: &mut Plan, key: i64, op: Operation) {
        plan.keys.push(key);
        plan.ops.push(op);
        plan.versions
            .extend_from_slice(self.population.versions(key));
        let t = self.next_event_time(&mut plan.stats);
        plan.event_times.push(t);
        plan.stats.rows += 1;
    }

    /// Classic mode: file `f` re-states keys `0..rows` with every column at
    /// version `f`, so the plan is filled in bulk.
    pub(crate) fn plan_classic(&mut self, plan: &mut Plan) {
        plan.first_sequence = self.next_event;
        self.next_batch += 1;
        let rows = self.options.batch_size;
        let width = self.spec.columns().len();
        let first_file = self.population.key_count() == 0;
        let op = if first_file {
            for _ in 0..rows {
                self.population.create(|_| false);
            }
            Operation::Insert
        } else {
            self.population.bump_all(self.spec.key_index());
            Operation::Update
        };
        let version = self
            .population
            .versions(0)
            .iter()
            .copied()
            .max()
            .unwrap_or(0);
        plan.keys.extend(0..rows as i64);
        plan.ops.resize(rows, op);
        plan.versions.resize(width, version);
        plan.shared_versions = true;
        plan.stats = BatchStats {
            rows,
            inserts: if first_file { rows } else { 0 },
            updates: if first_file { 0 } else { rows },
            ..BatchStats::default()
        };
        for _ in 0..rows {
            let t = self.next_event_time(&mut plan.stats);
            plan.event_times.push(t);
        }
    }

    /// Start planning a batch of changes; plan its rows with
    /// [`Planner::plan_rows`], in one go or in pieces.
    pub(crate) fn begin_batch(&mut self) -> BatchCursor {
        // Marks wrap after 2^31 batches; 0 is never a batch's mark.
        let stamp = (self.next_batch % ((1 << 31) - 1)) as u32 + 1;
        self.next_batch += 1;
        BatchCursor {
            stamp,
            touched: Vec::new(),
            left: self.options.batch_size,
        }
    }

    /// Plan up to `rows` more rows of the batch into `plan`; returns how
    /// many it planned (0 once the batch is complete).
    pub(crate) fn plan_rows(
        &mut self,
        cursor: &mut BatchCursor,
        rows: usize,
        plan: &mut Plan,
    ) -> usize {
        let rows = rows.min(cursor.left);
        plan.first_sequence = self.next_event;
        for _ in 0..rows {
            let (key, op) = if self.population.key_count() < self.options.initial_population {
                self.insert(&mut plan.stats)
            } else if !cursor.touched.is_empty() && self.rng.chance(self.options.duplicate_rate) {
                let key = *self.rng.pick(&cursor.touched);
                plan.stats.duplicates += 1;
                self.change_again(key, &mut plan.stats)
            } else {
                self.random_change(&mut plan.stats)
            };
            if self.population.mark(key, cursor.stamp) {
                cursor.touched.push(key);
            }
            self.push(plan, key, op);
        }
        cursor.left -= rows;
        rows
    }

    fn insert(&mut self, stats: &mut BatchStats) -> (i64, Operation) {
        let null_rate = self.options.null_rate;
        let key_col = self.spec.key_index();
        let rng = &mut self.rng;
        let key = self
            .population
            .create(|c| c != key_col && rng.chance(null_rate));
        stats.inserts += 1;
        (key, Operation::Insert)
    }

    /// A change to a key already changed in this batch: the duplicate-key case.
    fn change_again(&mut self, key: i64, stats: &mut BatchStats) -> (i64, Operation) {
        if !self.population.is_live(key) {
            self.population.restore(key);
            stats.restores += 1;
            return (key, Operation::Insert);
        }
        let mix = &self.options.mix;
        if mix.delete > 0.0
            && self
                .rng
                .chance(mix.delete / (mix.delete + mix.update + mix.noop))
        {
            self.population.delete(key);
            stats.deletes += 1;
            return (key, Operation::Delete);
        }
        self.update(key, stats)
    }

    fn random_change(&mut self, stats: &mut BatchStats) -> (i64, Operation) {
        let u = self.rng.unit();
        let choice = self.cumulative.iter().position(|&c| u < c).unwrap_or(0);
        let live = self.population.live_count();
        match choice {
            1..=3 if live == 0 => self.insert(stats),
            1 => {
                let key = self.population.random_live(&mut self.rng);
                self.update(key, stats)
            }
            2 => {
                let key = self.population.random_live(&mut self.rng);
                self.population.delete(key);
                stats.deletes += 1;
                (key, Operation::Delete)
            }
            3 => {
                let key = self.population.random_live(&mut self.rng);
                stats.noops += 1;
                (key, Operation::Update)
            }
            4 if self.population.deleted_count() > 0 => {
                let n = self.population.deleted_count();
                let key = self.population.deleted_key(self.rng.index(n));
                self.population.restore(key);
                stats.restores += 1;
                (key, Operation::Insert)
            }
            _ => self.insert(stats),
        }
    }

    fn update(&mut self, key: i64, stats: &mut BatchStats) -> (i64, Operation) {
        let total: u64 = self.group_weights.iter().map(|&w| u64::from(w)).sum();
        if total == 0 {
            stats.noops += 1;
            return (key, Operation::Update);
        }
        let mut r = self.rng.index(total as usize) as u64;
        let group = self
            .group_weights
            .iter()
            .position(|&w| {
                if r < u64::from(w) {
                    true
                } else {
                    r -= u64::from(w);
                    false
                }
            })
            .unwrap_or(0);
        let columns = &self.spec.resolved_groups()[group].columns;
        let null_rate = self.options.null_rate;
        let rng = &mut self.rng;
        self.population.bump(key, columns, || rng.chance(null_rate));
        stats.updates += 1;
        (key, Operation::Update)
    }
}
