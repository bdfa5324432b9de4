//! The last committed version as readers see it: published after every commit (and after a
//! rebuild from storage), read without the state lock. A count or a table read never waits
//! for a merge in progress, its file writes or a checkpoint, and a merge never waits for a
//! reader: what a snapshot holds is shared (`Arc`) and copied on write by later commits.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::catalog::ObjectKind;
use crate::error::{Result, WarehouseError};
use crate::local::TableStorage;
use crate::local::segment::TableRead;
use crate::local::state::{State, key};

/// One table at the published version.
#[derive(Debug, Clone)]
pub(crate) struct PublishedTable {
    pub(crate) def: crate::catalog::TableDef,
    pub(crate) read: TableRead,
    pub(crate) storage: TableStorage,
}

/// Every table at one committed version.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) version: u64,
    tables: HashMap<String, PublishedTable>,
}

impl Snapshot {
    /// The tables of `state` now (microseconds: pointers are shared, nothing is copied but
    /// the segment lists).
    pub(crate) fn of(state: &State) -> Self {
        Snapshot {
            version: state.version,
            tables: state
                .tables
                .iter()
                .map(|(name, t)| {
                    let published = PublishedTable {
                        def: t.def.clone(),
                        read: t.read_plan(),
                        storage: t.storage(),
                    };
                    (name.clone(), published)
                })
                .collect(),
        }
    }

    pub(crate) fn table(&self, name: &str) -> Result<&PublishedTable> {
        self.tables
            .get(&key(name))
            .ok_or_else(|| WarehouseError::not_found(ObjectKind::Table, name))
    }
}

/// Where the snapshot is published.
#[derive(Debug, Default)]
pub(crate) struct Published(RwLock<Arc<Snapshot>>);

impl Published {
    /// The last published snapshot.
    pub(crate) fn current(&self) -> Arc<Snapshot> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Publishes the state's tables at its version.
    pub(crate) fn publish(&self, state: &State) {
        self.set(Snapshot::of(state));
    }

    /// Publishes `snapshot`.
    pub(crate) fn set(&self, snapshot: Snapshot) {
        let snapshot = Arc::new(snapshot);
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = snapshot;
    }
}
