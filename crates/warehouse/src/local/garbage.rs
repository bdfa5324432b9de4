//! Removing data files nothing refers to any more, after the retention period of their table
//! (`DATA_RETENTION_TIME_IN_DAYS`). A file becomes unreferenced when a compaction replaces it,
//! when the changes it holds are consumed or released, or when its table is dropped; each
//! checkpoint notes the unreferenced files it finds and deletes those first noted more than a
//! retention period ago. Until then a reader holding an older snapshot (a long scan or
//! export begun before a compaction) still finds every file of its version.
//!
//! When a file was first found unreferenced is kept in memory only: after a restart the
//! clock starts again for the files found then, so a restart can delay a deletion by up to a
//! retention period but never hasten one.

use std::collections::{HashMap, HashSet};

use crate::error::Result;
use crate::local::storage::Storage;

/// The unreferenced data files found so far and when each was first found.
#[derive(Debug, Default)]
pub(crate) struct Unreferenced {
    found: HashMap<String, i64>,
}

/// What one collection needs from a checkpoint.
#[derive(Debug, Clone, Default)]
pub(crate) struct Collection {
    /// Files the checkpoint refers to.
    pub(crate) keep: HashSet<String>,
    /// Only files of versions up to this one are considered (later commits may be writing).
    pub(crate) up_to: u64,
    /// The checkpoint's time, µs on the warehouse clock.
    pub(crate) now_micros: i64,
    /// The retention period of each table (by its folder name under `data/`), in µs.
    pub(crate) retention: HashMap<String, i64>,
    /// The retention period of files of tables that no longer exist, in µs.
    pub(crate) default_retention: i64,
}

impl Collection {
    fn retention_of(&self, file: &str) -> i64 {
        let table = file
            .strip_prefix("data/")
            .and_then(|rest| rest.split('/').next());
        table
            .and_then(|t| self.retention.get(t))
            .copied()
            .unwrap_or(self.default_retention)
    }
}

impl Unreferenced {
    /// Notes the unreferenced files of `collection` and deletes those past their table's
    /// retention period; returns how many it deleted.
    pub(crate) async fn collect(
        &mut self,
        storage: &Storage,
        collection: &Collection,
    ) -> Result<u64> {
        let unreferenced: Vec<String> = storage
            .data_files(collection.up_to)
            .await?
            .into_iter()
            .filter(|name| !collection.keep.contains(name))
            .collect();
        // Files referenced again (never happens today) or gone are forgotten.
        let listed: HashSet<&String> = unreferenced.iter().collect();
        self.found.retain(|name, _| listed.contains(name));
        let mut deleted = 0;
        for name in unreferenced {
            let since = *self
                .found
                .entry(name.clone())
                .or_insert(collection.now_micros);
            let age = collection.now_micros.saturating_sub(since);
            if age >= collection.retention_of(&name) {
                storage.delete_data_file(&name).await?;
                self.found.remove(&name);
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_takes_the_retention_of_its_table_or_the_default() {
        let collection = Collection {
            retention: HashMap::from([("customer".to_owned(), 5)]),
            default_retention: 9,
            ..Collection::default()
        };
        assert_eq!(collection.retention_of("data/customer/0001-0.parquet"), 5);
        assert_eq!(collection.retention_of("data/dropped/0001-0.parquet"), 9);
        assert_eq!(collection.retention_of("elsewhere"), 9);
    }
}
