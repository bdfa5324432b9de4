//! The evolving population behind a change stream: which keys exist, which
//! were deleted, and the version of every column of every key.
//!
//! Values are never stored: a value is regenerated from its version (see
//! `values.rs`), so the population costs a few bytes per column per key.

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

    fn contains(&self, key: i64) -> bool {
        self.pos.get(key as usize).is_some_and(|&p| p != NOT_LISTED)
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
    versions: Vec<u32>,
    live: KeySet,
    deleted: KeySet,
}

impl Population {
    pub(crate) fn new(columns: usize) -> Self {
        Self {
            columns,
            versions: Vec::new(),
            live: KeySet::default(),
            deleted: KeySet::default(),
        }
    }

    /// Number of keys ever created.
    pub(crate) fn key_count(&self) -> usize {
        self.versions.len() / self.columns
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
        self.live.contains(key)
    }

    pub(crate) fn versions(&self, key: i64) -> &[u32] {
        let start = key as usize * self.columns;
        &self.versions[start..start + self.columns]
    }

    /// Create the next key with every column at version 0 (or NULL where
    /// `null_column` says so) and return it.
    pub(crate) fn create(&mut self, mut null_column: impl FnMut(usize) -> bool) -> i64 {
        let key = self.key_count() as i64;
        for c in 0..self.columns {
            self.versions
                .push(if null_column(c) { NULL_BIT } else { 0 });
        }
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
        let start = key as usize * self.columns;
        for &c in columns {
            let v = &mut self.versions[start + c];
            let next = (*v & !NULL_BIT).wrapping_add(1) & !NULL_BIT;
            *v = if make_null() { next | NULL_BIT } else { next };
        }
    }

    /// Move every column but `key_column` of every key to its next version
    /// (classic mode: all columns of all keys share one version).
    pub(crate) fn bump_all(&mut self, key_column: usize) {
        for row in self.versions.chunks_exact_mut(self.columns) {
            for (c, v) in row.iter_mut().enumerate() {
                if c != key_column {
                    *v = (*v & !NULL_BIT).wrapping_add(1) & !NULL_BIT;
                }
            }
        }
    }

    pub(crate) fn delete(&mut self, key: i64) {
        self.live.remove(key);
        self.deleted.insert(key);
    }

    pub(crate) fn restore(&mut self, key: i64) {
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
