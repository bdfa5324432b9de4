//! The SCD-1 merge's implicit deletes in SQL: `APPLY AS TRUNCATE WHEN` and snapshot sources,
//! with `snowdrift-scd`'s one rule (a reset at a place in the change order, after which the
//! table holds only what later rows say; `docs/scd.md`):
//!
//! - a truncate: the last good truncate row by `(sequence, file, row)` (by `(file, row)`
//!   without a sequence); rows at or before it are superseded, and every target row whose key
//!   no later row changes is deleted — with a sequence, only a key whose applied sequence is
//!   not after the truncate's;
//! - a snapshot with `AbsentKeys::Delete`: the last staged file (by name) is the snapshot;
//!   rows of earlier files are superseded, and every target row whose key the snapshot does not
//!   name is deleted, unless a row of the snapshot has a NULL key (absence then proves nothing)
//!   or the source is empty.
//!
//! The deletes are rows of the `MERGE`'s source (the target's values, operation `'DELETE'`),
//! so the `MERGE` deletes them as it deletes any key.
//!
//! With a sequence, a truncate also raises the target's *sequence floor*, kept in a one-row
//! table beside the sequences table ([`crate::reject::sequence_floor_table`]): a later change
//! whose sequence precedes the floor is late, as one older than its key's applied sequence is.
//! The embedded engine sets a deleted key's applied sequence to the truncate's; here the floor
//! alone decides for those keys (the greater of a key's applied sequence and the floor is the
//! same either way), so the sequences table keeps what it had.

use snowdrift_warehouse::{AbsentKeys, ChangeSource, MergeDef, ObjectKind};

use crate::error::Result;
use crate::merge::{LOAD_FILE_COLUMN, LOAD_ROW_COLUMN, MergeColumns, key_join, prefixed};
use crate::reject::SEQUENCE_COLUMN;
use crate::sql::ident;

/// The operation word a truncate row is judged as.
pub(crate) const TRUNCATE: &str = "'TRUNCATE'";

/// What kind of reset a merge has, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reset {
    /// `APPLY AS TRUNCATE WHEN`, with the merge's sequence column (quoted) if it has one.
    Truncate {
        sequence: Option<String>,
    },
    Snapshot,
}

impl Reset {
    /// The merge's reset.
    pub(crate) fn of(merge: &MergeDef) -> Result<Option<Reset>> {
        Ok(match (merge.change_source, &merge.truncate_when) {
            (ChangeSource::Snapshots(AbsentKeys::Delete), _) => Some(Reset::Snapshot),
            (_, Some(_)) => Some(Reset::Truncate {
                sequence: merge
                    .sequence
                    .as_deref()
                    .map(|s| ident(ObjectKind::Table, s))
                    .transpose()?,
            }),
            _ => None,
        })
    }

    /// Whether the reset raises a sequence floor (a truncate with a sequence).
    pub(crate) fn floor_sequence(&self) -> Option<&str> {
        match self {
            Reset::Truncate { sequence } => sequence.as_deref(),
            Reset::Snapshot => None,
        }
    }

    /// A condition on the judged row `j`: it comes after the reset (it is not superseded).
    pub(crate) fn keeps(&self, judged: &str) -> Result<String> {
        let (file, row) = load_order()?;
        let after = format!("x.{file} > j.{file} OR (x.{file} = j.{file} AND x.{row} > j.{row})");
        Ok(match self {
            Reset::Snapshot => format!("j.{file} = (SELECT MAX(x.{file}) FROM {judged} AS x)"),
            Reset::Truncate { sequence } => {
                let after = match sequence {
                    Some(s) => format!("x.{s} > j.{s} OR (x.{s} = j.{s} AND ({after}))"),
                    None => after,
                };
                format!(
                    "NOT EXISTS (SELECT 1 FROM {judged} AS x WHERE {} AND ({after}))",
                    good_truncate("x")
                )
            }
        })
    }

    /// `UNION ALL` of the delete rows: the target's rows (`target`) the reset leaves out,
    /// with the columns `business` and `'DELETE'`. `judged` are the source rows with their
    /// operation and bad-row reason, `winners` the good winners after the reset, `sequences`
    /// the target's sequences table.
    pub(crate) fn deletes(
        &self,
        cols: &MergeColumns,
        target: &str,
        judged: &str,
        winners: &str,
        sequences: &str,
    ) -> Result<String> {
        let (file, _) = load_order()?;
        let business = prefixed("t", &cols.business()).join(", ");
        let condition = match self {
            Reset::Truncate { sequence } => {
                let mut condition = format!(
                    "EXISTS (SELECT 1 FROM {judged} AS x WHERE {}) \
                     AND NOT EXISTS (SELECT 1 FROM {winners} AS w WHERE {})",
                    good_truncate("x"),
                    key_join(&cols.key, "w", "t")
                );
                if let Some(s) = sequence {
                    // A key changed after the truncate (in an earlier merge) stays.
                    condition.push_str(&format!(
                        " AND NOT EXISTS (SELECT 1 FROM {sequences} AS a WHERE {} \
                         AND a.\"{SEQUENCE_COLUMN}\" > {})",
                        key_join(&cols.key, "a", "t"),
                        truncate_sequence(judged, s)
                    ));
                }
                condition
            }
            Reset::Snapshot => {
                let last = format!("(SELECT MAX(y.{file}) FROM {judged} AS y)");
                let null_key = cols
                    .key
                    .iter()
                    .map(|k| format!("x.{k} IS NULL"))
                    .collect::<Vec<_>>()
                    .join(" OR ");
                format!(
                    "EXISTS (SELECT 1 FROM {judged} AS x) \
                     AND NOT EXISTS (SELECT 1 FROM {judged} AS x WHERE x.{file} = {last} AND ({null_key})) \
                     AND NOT EXISTS (SELECT 1 FROM {judged} AS x WHERE x.{file} = {last} AND {})",
                    key_join(&cols.key, "x", "t")
                )
            }
        };
        Ok(format!(
            " UNION ALL SELECT {business}, 'DELETE' AS \"_SNOWDRIFT_OP\" FROM {target} AS t WHERE {condition}"
        ))
    }

    /// With a sequence, `MERGE INTO <floor>`: the sequence of the merge's last truncate
    /// raises the target's sequence floor (`None` for a reset that keeps no floor).
    pub(crate) fn raise_floor(&self, floor: &str, judged: &str) -> Option<String> {
        let sequence = self.floor_sequence()?;
        let column = format!("\"{SEQUENCE_COLUMN}\"");
        Some(format!(
            "MERGE INTO {floor} AS t USING (SELECT {} AS {column}) AS s ON TRUE \
             WHEN MATCHED AND s.{column} > t.{column} THEN UPDATE SET {column} = s.{column} \
             WHEN NOT MATCHED AND s.{column} IS NOT NULL THEN INSERT ({column}) VALUES (s.{column})",
            truncate_sequence(judged, sequence)
        ))
    }
}

/// The floor of `floor` (the one-row table), `NULL` when no truncate raised it.
pub(crate) fn floor_value(floor: &str) -> String {
    format!("(SELECT MAX(f.\"{SEQUENCE_COLUMN}\") FROM {floor} AS f)")
}

/// The sequence of the merge's last good truncate row.
fn truncate_sequence(judged: &str, sequence: &str) -> String {
    format!(
        "(SELECT MAX(x.{sequence}) FROM {judged} AS x WHERE {})",
        good_truncate("x")
    )
}

/// A condition on `alias`: it is a good truncate row.
fn good_truncate(alias: &str) -> String {
    format!("{alias}.\"_SNOWDRIFT_OP\" = {TRUNCATE} AND {alias}.\"_SNOWDRIFT_BAD\" IS NULL")
}

fn load_order() -> Result<(String, String)> {
    Ok((
        ident(ObjectKind::Table, LOAD_FILE_COLUMN)?,
        ident(ObjectKind::Table, LOAD_ROW_COLUMN)?,
    ))
}
