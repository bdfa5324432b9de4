//! The evolving population behind a change stream: which keys exist, which
//! were deleted, and the version of every column of every key.
//!
//! Values are never stored: a value is regenerated from its version (see
//! `values.rs`), so the population costs a few bytes per column per key.
//! Each key's versions, liveness and "touched in this batch" mark sit side by
//! side in one record, so planning a change costs one cache miss, not three.

use crate::FakerRng;
use crate::values::NULL_BIT;

const NOT_LISTED: u32 = u32::MAX;

/// A set of keys supporting O(1) insert, remove and uniform sampling.
#[derive(Debug, Default, Clone)]
struct KeySet {
    keys: Vec<i64>,
    /// Position of each key in `keys`, indexed by key.
    pos: Vec<u32>,
}

impl KeySet {
    fn insert(&mut self, key: i64) {
        let k = key as usize;
        if self.pos.len() <= k {
            self.pos.resize(k + 1, NOT_LISTED);
        }
        if self.pos[k] == NOT_LISTED {
            self.pos[k] = self.keys.len() as u32;
            self.keys.push(key);
        }
    }

    fn remove(&mut self, key: i64) {
        let k = key as usize;
        let Some(&p) = self.pos.get(k) else { return };
        if p == NOT_LISTED {
            return;
        }
        let last = *self.keys.last().expect("non-empty when a key is listed");
        self.keys.swap_remove(p as usize);
        if last != key {
            self.pos[last as usize] = p;
        }
        self.pos[k] = NOT_LISTED;
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn get(&self, i: usize) -> i64 {
        self.keys[i]
    }
}

/// Keys `0..next_key` with their column versions and liveness.
#[derive(Debug, Clone)]
pub(crate) struct Population {
    columns: usize,
    /// Per key, `columns` versions then one state word (see `LIVE_BIT`).
    records: Vec<u32>,
    live: KeySet,
    deleted: KeySet,
}

/// State word: the key exists (is not deleted).
const LIVE_BIT: u32 = 1 << 31;
/// State word: the mark of the last batch that touched the key.
const MARK_MASK: u32 = !LIVE_BIT;

/// Random picks of a live key tried before falling back to the live list.
const LIVE_PICK_TRIES: usize = 8;

impl Population {
    pub(crate) fn new(columns: usize) -> Self {
        Self {
            columns,
            records: Vec::new(),
            live: KeySet::default(),
            deleted: KeySet::default(),
        }
    }

    fn stride(&self) -> usize {
        self.columns + 1
    }

    fn state(&mut self, key: i64) -> &mut u32 {
        let at = key as usize * self.stride() + self.columns;
        &mut self.records[at]
    }

    /// Number of keys ever created.
    pub(crate) fn key_count(&self) -> usize {
        self.records.len() / self.stride()
    }

    pub(crate) fn live_count(&self) -> usize {
        self.live.len()
    }

    pub(crate) fn deleted_count(&self) -> usize {
        self.deleted.len()
    }

    pub(crate) fn live_key(&self, i: usize) -> i64 {
        self.live.get(i)
    }

    pub(crate) fn deleted_key(&self, i: usize) -> i64 {
        self.deleted.get(i)
    }

    pub(crate) fn is_live(&self, key: i64) -> bool {
        self.records[key as usize * self.stride() + self.columns] & LIVE_BIT != 0
    }

    /// A uniformly chosen live key (there must be one): a random key,
    /// re-drawn while it is deleted, then the live list after a few tries.
    pub(crate) fn random_live(&self, rng: &mut FakerRng) -> i64 {
        let keys = self.key_count();
        for _ in 0..LIVE_PICK_TRIES {
            let key = rng.index(keys) as i64;
            if self.is_live(key) {
                return key;
            }
        }
        self.live.get(rng.index(self.live.len()))
    }

    /// Mark `key` as touched by batch `mark`; `true` the first time in it.
    pub(crate) fn mark(&mut self, key: i64, mark: u32) -> bool {
        let mark = mark & MARK_MASK;
        let state = self.state(key);
        let first = *state & MARK_MASK != mark;
        *state = (*state & LIVE_BIT) | mark;
        first
    }

    pub(crate) fn versions(&self, key: i64) -> &[u32] {
        let start = key as usize * self.stride();
        &self.records[start..start + self.columns]
    }

    /// Create the next key with every column at version 0 (or NULL where
    /// `null_column` says so) and return it.
    pub(crate) fn create(&mut self, mut null_column: impl FnMut(usize) -> bool) -> i64 {
        let key = self.key_count() as i64;
        for c in 0..self.columns {
            self.records.push(if null_column(c) { NULL_BIT } else { 0 });
        }
        self.records.push(LIVE_BIT);
        self.live.insert(key);
        key
    }

    /// Move `columns` of `key` to their next version; a column for which
    /// `make_null` answers true becomes NULL at that version.
    pub(crate) fn bump(
        &mut self,
        key: i64,
        columns: &[usize],
        mut make_null: impl FnMut() -> bool,
    ) {
        let start = key as usize * self.stride();
        for &c in columns {
            let v = &mut self.records[start + c];
            let next = (*v & !NULL_BIT).wrapping_add(1) & !NULL_BIT;
            *v = if make_null() { next | NULL_BIT } else { next };
        }
    }

    /// Move every column but `key_column` of every key to its next version
    /// (classic mode: all columns of all keys share one version).
    pub(crate) fn bump_all(&mut self, key_column: usize) {
        let (columns, stride) = (self.columns, self.stride());
        for record in self.records.chunks_exact_mut(stride) {
            for (c, v) in record[..columns].iter_mut().enumerate() {
                if c != key_column {
                    *v = (*v & !NULL_BIT).wrapping_add(1) & !NULL_BIT;
                }
            }
        }
    }

    pub(crate) fn delete(&mut self, key: i64) {
        *self.state(key) &= !LIVE_BIT;
        self.live.remove(key);
        self.deleted.insert(key);
    }

    pub(crate) fn restore(&mut self, key: i64) {
        *self.state(key) |= LIVE_BIT;
        self.deleted.remove(key);
        self.live.insert(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_delete_restore_keep_sets_consistent() {
        let mut p = Population::new(3);
        let keys: Vec<i64> = (0..5).map(|_| p.create(|_| false)).collect();
        assert_eq!(keys, [0, 1, 2, 3, 4]);
        p.delete(1);
        p.delete(4);
        assert_eq!(p.live_count(), 3);
        assert_eq!(p.deleted_count(), 2);
        assert!(!p.is_live(1) && p.is_live(0));
        p.restore(4);
        assert!(p.is_live(4));
        assert_eq!(p.deleted_count(), 1);
        assert_eq!(p.deleted_key(0), 1);
        let mut live: Vec<i64> = (0..p.live_count()).map(|i| p.live_key(i)).collect();
        live.sort_unstable();
        assert_eq!(live, [0, 2, 3, 4]);
        let mut rng = FakerRng::from_seed(1);
        let mut picked = std::collections::BTreeSet::new();
        for _ in 0..200 {
            picked.insert(p.random_live(&mut rng));
        }
        assert_eq!(picked.into_iter().collect::<Vec<_>>(), [0, 2, 3, 4]);
    }

    #[test]
    fn random_live_falls_back_to_the_live_list() {
        let mut p = Population::new(1);
        for _ in 0..1_000 {
            p.create(|_| false);
        }
        for key in 1..1_000 {
            p.delete(key);
        }
        let mut rng = FakerRng::from_seed(2);
        assert!((0..50).all(|_| p.random_live(&mut rng) == 0));
    }

    #[test]
    fn marks_report_the_first_touch_per_batch() {
        let mut p = Population::new(2);
        let k = p.create(|_| false);
        assert!(p.mark(k, 1));
        assert!(!p.mark(k, 1));
        assert!(p.mark(k, 2));
        p.delete(k);
        assert!(!p.is_live(k) && !p.mark(k, 2));
        p.restore(k);
        assert!(p.is_live(k) && p.versions(k) == [0, 0]);
    }

    #[test]
    fn bump_moves_versions_and_toggles_null() {
        let mut p = Population::new(3);
        let k = p.create(|c| c == 2);
        assert_eq!(p.versions(k), [0, 0, NULL_BIT]);
        p.bump(k, &[1, 2], || false);
        assert_eq!(p.versions(k), [0, 1, 1]);
        p.bump(k, &[1], || true);
        assert_eq!(p.versions(k), [0, 2 | NULL_BIT, 1]);
        p.bump(k, &[1], || false);
        assert_eq!(p.versions(k), [0, 3, 1]);
    }
}
