//! The SCD-1 merge's implicit deletes in SQL: `APPLY AS TRUNCATE WHEN` and snapshot sources,
//! with `snowdrift-scd`'s one rule (a reset at a place in the change order, after which the
//! table holds only what later rows say; `docs/scd.md`):
//!
//! - a truncate: the last good truncate row by `(file, row)`; rows before it are superseded,
//!   and every target row whose key no later row changes is deleted;
//! - a snapshot with `AbsentKeys::Delete`: the last staged file (by name) is the snapshot;
//!   rows of earlier files are superseded, and every target row whose key the snapshot does not
//!   name is deleted, unless a row of the snapshot has a NULL key (absence then proves nothing)
//!   or the source is empty.
//!
//! The deletes are rows of the `MERGE`'s source (the target's values, operation `'DELETE'`),
//! so the `MERGE` deletes them as it deletes any key. A truncate with a sequence column needs a
//! sequence floor kept beside the sequences table, which is not rendered: deploying one is
//! refused with [`SnowflakeError::Unsupported`].

use snowdrift_warehouse::{AbsentKeys, ChangeSource, MergeDef, ObjectKind};

use crate::error::{Result, SnowflakeError};
use crate::merge::{LOAD_FILE_COLUMN, LOAD_ROW_COLUMN, MergeColumns, key_join, prefixed};
use crate::sql::ident;

/// The operation word a truncate row is judged as.
pub(crate) const TRUNCATE: &str = "'TRUNCATE'";

/// What kind of reset a merge has, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reset {
    Truncate,
    Snapshot,
}

impl Reset {
    /// The merge's reset; refuses what is not rendered.
    pub(crate) fn of(merge: &MergeDef) -> Result<Option<Reset>> {
        if merge.truncate_when.is_some() && merge.sequence.is_some() {
            return Err(SnowflakeError::Unsupported {
                object: format!("the merge of {} into {}", merge.source, merge.target),
                what: "APPLY AS TRUNCATE WHEN with a sequence column (its sequence floor is not \
                       rendered; run it on the embedded warehouse)"
                    .into(),
            });
        }
        Ok(match (merge.change_source, &merge.truncate_when) {
            (ChangeSource::Snapshots(AbsentKeys::Delete), _) => Some(Reset::Snapshot),
            (_, Some(_)) => Some(Reset::Truncate),
            _ => None,
        })
    }

    /// A condition on the judged row `j`: it comes after the reset (it is not superseded).
    pub(crate) fn keeps(self, judged: &str) -> Result<String> {
        let (file, row) = load_order()?;
        Ok(match self {
            Reset::Snapshot => format!("j.{file} = (SELECT MAX(x.{file}) FROM {judged} AS x)"),
            Reset::Truncate => format!(
                "NOT EXISTS (SELECT 1 FROM {judged} AS x WHERE x.\"_SNOWDRIFT_OP\" = {TRUNCATE} \
                 AND x.\"_SNOWDRIFT_BAD\" IS NULL AND (x.{file} > j.{file} OR (x.{file} = j.{file} \
                 AND x.{row} > j.{row})))"
            ),
        })
    }

    /// `UNION ALL` of the delete rows: the target's rows (`target`) the reset leaves out,
    /// with the columns `business` and `'DELETE'`. `judged` are the source rows with their
    /// operation and bad-row reason, `winners` the good winners after the reset.
    pub(crate) fn deletes(
        self,
        cols: &MergeColumns,
        target: &str,
        judged: &str,
        winners: &str,
    ) -> Result<String> {
        let (file, _) = load_order()?;
        let business = prefixed("t", &cols.business()).join(", ");
        let condition = match self {
            Reset::Truncate => format!(
                "EXISTS (SELECT 1 FROM {judged} AS x WHERE x.\"_SNOWDRIFT_OP\" = {TRUNCATE} \
                 AND x.\"_SNOWDRIFT_BAD\" IS NULL) \
                 AND NOT EXISTS (SELECT 1 FROM {winners} AS w WHERE {})",
                key_join(&cols.key, "w", "t")
            ),
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
}

fn load_order() -> Result<(String, String)> {
    Ok((
        ident(ObjectKind::Table, LOAD_FILE_COLUMN)?,
        ident(ObjectKind::Table, LOAD_ROW_COLUMN)?,
    ))
}
