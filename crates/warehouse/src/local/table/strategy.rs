//! The SCD engine's strategy and spec for a table of the catalog and a merge task on it.

use std::sync::Arc;

use snowdrift_scd::{
    ChangeFormat, ChangeSource, IgnoreNullUpdates, LateChanges, MergeStrategy, Scd1, Scd1Delete,
    Scd2, Scd2Delete, TableSpec, TableSpecBuilder,
};

use crate::catalog::{MergeDef, ObjectKind, TableDef, TableLayout};
use crate::error::{Result, WarehouseError};

/// The merge behind a DML statement: a bad row fails the statement (nothing to reject to).
pub(super) fn dml_merge(table: &str) -> MergeDef {
    MergeDef {
        on_bad_row: snowdrift_scd::OnBadRow::Fail,
        ..MergeDef::new("", table)
    }
}

pub(super) fn default_strategy(def: &TableDef) -> Arc<dyn MergeStrategy> {
    match &def.layout {
        TableLayout::Plain => Arc::new(Scd1 {
            updated_at: None,
            on_delete: Scd1Delete::Remove,
        }),
        TableLayout::Scd1 { updated_at } => Arc::new(Scd1 {
            updated_at: updated_at.clone(),
            on_delete: Scd1Delete::Remove,
        }),
        TableLayout::Scd2 { validity, late } => Arc::new(Scd2 {
            columns: validity.clone(),
            tracked: None,
            late: *late,
            on_delete: if validity.deleted.is_some() {
                Scd2Delete::CloseWithTombstone
            } else {
                Scd2Delete::Close
            },
        }),
    }
}

pub(super) fn merge_strategy(def: &TableDef, merge: &MergeDef) -> Result<Arc<dyn MergeStrategy>> {
    Ok(match &def.layout {
        TableLayout::Plain | TableLayout::Scd1 { .. } => {
            let updated_at = match &def.layout {
                TableLayout::Scd1 { updated_at } => updated_at.clone(),
                _ => None,
            };
            Arc::new(Scd1 {
                updated_at,
                on_delete: merge.scd1_on_delete,
            })
        }
        TableLayout::Scd2 { validity, late } => {
            if def.layout.restitches() && merge.sequence.is_none() {
                return Err(WarehouseError::unsupported(
                    ObjectKind::Table,
                    &def.name,
                    "a history sequenced by event time is written by a merge task whose \
                     sequence is the event-time column, not by DML or an unsequenced merge",
                ));
            }
            let on_delete = match merge.scd2_on_delete {
                Scd2Delete::CloseWithTombstone if validity.deleted.is_none() => {
                    return Err(WarehouseError::invalid(
                        ObjectKind::Task,
                        &def.name,
                        "tombstones need a `deleted` validity column on the target",
                    ));
                }
                other => other,
            };
            Arc::new(Scd2 {
                columns: validity.clone(),
                tracked: merge.tracked.clone(),
                on_delete,
                late: *late,
            })
        }
    })
}

/// The spec a keyed table is restored with. A history sequenced by event time is given its
/// start column as the sequence: a version's start is the event time of its change, and the
/// engine needs a sequence to keep the table's version index.
pub(super) fn restore_spec(def: &TableDef) -> Result<TableSpec> {
    let sequence = match &def.layout {
        TableLayout::Scd2 { validity, .. } if def.layout.restitches() => {
            Some(validity.start.clone())
        }
        _ => None,
    };
    table_spec(
        def,
        ChangeFormat::Upserts,
        sequence,
        None,
        IgnoreNullUpdates::Off,
    )
}

/// Whether versions that no change can reach any more leave memory for segment files: every
/// keyed table but a history that accepts changes of any lateness (which must keep them all).
pub(super) fn retires(def: &TableDef) -> bool {
    !matches!(
        def.layout,
        TableLayout::Scd2 {
            late: LateChanges::Restitch { within: None },
            ..
        }
    )
}

/// The spec of a merge's changes into `def`: the merge's sequence, compared columns and
/// change rules, with the rows read as `format`.
pub(super) fn merge_spec(
    def: &TableDef,
    merge: &MergeDef,
    format: ChangeFormat,
    change_source: ChangeSource,
) -> Result<TableSpec> {
    let mut builder = spec_builder(
        def,
        format,
        merge.sequence.clone(),
        merge.compared.clone(),
        merge.ignore_null_updates.clone(),
    )
    .source(change_source)
    .on_bad_row(merge.on_bad_row);
    if let Some(condition) = &merge.truncate_when {
        builder = builder.truncate_when((**condition).clone());
    }
    Ok(builder.build()?)
}

pub(super) fn table_spec(
    def: &TableDef,
    format: ChangeFormat,
    sequence: Option<String>,
    compared: Option<Vec<String>>,
    ignore_null_updates: IgnoreNullUpdates,
) -> Result<TableSpec> {
    Ok(spec_builder(def, format, sequence, compared, ignore_null_updates).build()?)
}

fn spec_builder(
    def: &TableDef,
    format: ChangeFormat,
    sequence: Option<String>,
    compared: Option<Vec<String>>,
    ignore_null_updates: IgnoreNullUpdates,
) -> TableSpecBuilder {
    let mut builder = TableSpec::builder(def.name.clone(), def.business_schema())
        .key(def.key.clone())
        .format(format)
        .ignore_null_updates(ignore_null_updates);
    if let Some(sequence) = sequence {
        builder = builder.sequence(sequence);
    }
    if let Some(compared) = compared {
        builder = builder.compared(compared);
    }
    builder
}
