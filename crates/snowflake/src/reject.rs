//! A merge from raw rows with rejected rows and durable late detection, as the statements of
//! one transaction: rejected rows go to the target's rejected table, the good winners are
//! merged (into an SCD-1 table, or into an SCD-2 history sequenced by event time whose late
//! changes are rejected), and the applied sequence of every key is kept in a sequences table. The rules are the
//! embedded engine's (`snowdrift-scd`): a row with a NULL key, an unknown operation or a NULL
//! sequence is bad; per key the winner is the greatest `(sequence, file, row)` among the good
//! rows; a winner older than the key's applied sequence is `late`. The same reason words and
//! details are written on both backends.
//!
//! Inside one transaction the three statements read the same stream contents, and the
//! stream's offset moves when the transaction commits.

use snowdrift_scd::{OnBadRow, Operation, RejectReason};
use snowdrift_warehouse::{
    ChangeSource, Column, ColumnType, MergeDef, ObjectKind, OnLateRow, Scd2Delete, TableDef,
    TableLayout, rejected,
};

use crate::error::{Result, SnowflakeError};
use crate::implicit_deletes::{Reset, TRUNCATE, floor_value};
use crate::merge::{
    ChangeTimes, LOAD_FILE_COLUMN, LOAD_ROW_COLUMN, MergeColumns, Now, key_join, operation_case,
    operation_expr, prefixed, scd1_from, scd2_from, timestamp_text, winner_order,
};
use crate::sql::{ident, literal};

/// The column of a sequences table holding a key's applied sequence.
pub const SEQUENCE_COLUMN: &str = "_SNOWDRIFT_SEQUENCE";

/// The table keeping the applied sequence of every key of `target` (deleted keys included,
/// which is why it is a table of its own rather than a column of the target):
/// `<target>_sequences`, the key columns and [`SEQUENCE_COLUMN`] of the sequence's type
/// (`NUMBER`, or `TIMESTAMP_NTZ` for a history sequenced by event time).
pub fn sequences_table(target: &TableDef, sequence: ColumnType) -> TableDef {
    let mut columns: Vec<Column> = target
        .columns
        .iter()
        .filter(|c| target.key.iter().any(|k| k.eq_ignore_ascii_case(&c.name)))
        .cloned()
        .collect();
    columns.push(Column::new(SEQUENCE_COLUMN, sequence).not_null());
    TableDef::new(sequences_name(target), columns).with_key(target.key.clone())
}

/// The name of [`sequences_table`]: `<target>_sequences`.
pub(crate) fn sequences_name(target: &TableDef) -> String {
    format!("{}_sequences", target.name)
}

/// The table keeping the sequence floor of `target`, which a truncate with a sequence raises
/// to its own sequence (a later change that precedes it is late): `<target>_sequence_floor`,
/// one row of [`SEQUENCE_COLUMN`] once a truncate has run.
pub fn sequence_floor_table(target: &TableDef) -> TableDef {
    TableDef::new(
        format!("{}_sequence_floor", target.name),
        vec![Column::new(SEQUENCE_COLUMN, ColumnType::Number).not_null()],
    )
}

/// Whether the merge of raw rows `merge` needs the transaction of this module: into an SCD-2
/// history always (its late winners are rejected, its applied sequences kept); into an SCD-1
/// table when it rejects rows or has a sequence whose applied values must be kept.
pub(crate) fn needed(merge: &MergeDef, target: &TableDef) -> bool {
    matches!(target.layout, TableLayout::Scd2 { .. })
        || merge.on_bad_row == OnBadRow::Reject
        || merge.sequence.is_some()
        || merge.truncate_when.is_some()
        || merge.change_source != ChangeSource::Changes
}

/// Why a source row can be bad: (condition, reason, detail, column as the spec names it).
type BadRowRule = (String, RejectReason, String, String);

/// Qualified names the statements use.
pub(crate) struct Names<'a> {
    pub(crate) source: &'a str,
    pub(crate) target: &'a str,
    pub(crate) rejected: &'a str,
    pub(crate) sequences: &'a str,
    pub(crate) sequence_floor: &'a str,
}

/// The statements, in order: insert the rejected rows, merge the winners, keep the applied
/// sequences (only with a sequence), raise the sequence floor (only for a truncate with a
/// sequence).
pub(crate) fn statements(
    names: &Names<'_>,
    target: &TableDef,
    merge: &MergeDef,
    now: Now,
) -> Result<Vec<String>> {
    let cols = MergeColumns::new(target, merge)?;
    let reset = Reset::of(merge)?;
    if let (TableLayout::Scd2 { .. }, Some(_)) = (&target.layout, &reset) {
        return Err(SnowflakeError::Unsupported {
            object: format!("the merge of {} into {}", merge.source, merge.target),
            what: "APPLY AS TRUNCATE WHEN or a snapshot source into an SCD-2 table (truncate \
                   the SCD-1 table and let the history follow its changes, as the pipeline does)"
                .into(),
        });
    }
    let judged = Judged::new(names.source, target, &cols, merge)?;
    let winners = judged.winners(names, &cols, merge, reset.as_ref())?;
    // A history's sequence is its event time, a timestamp (deploy checks it).
    let sequence_is_time = matches!(target.layout, TableLayout::Scd2 { .. });
    let mut statements =
        vec![judged.insert_rejected(names, merge, &winners, now, sequence_is_time)?];
    let deletes = match &reset {
        Some(reset) => {
            reset.deletes(&cols, names.target, &judged.sql, &winners, names.sequences)?
        }
        None => String::new(),
    };
    statements.push(match &target.layout {
        TableLayout::Scd2 { validity, .. } => scd2_from(
            &history_changes(&cols, merge, &winners)?,
            ChangeTimes::Sequence,
            names.target,
            target,
            validity,
            merge,
            now,
        )?,
        layout => {
            let updated_at = match layout {
                TableLayout::Scd1 { updated_at } => updated_at.clone(),
                _ => None,
            };
            let good = format!(
                "(SELECT {}, \"_SNOWDRIFT_OP\" FROM {winners} AS w WHERE NOT w.\"_SNOWDRIFT_LATE\"{deletes})",
                cols.business().join(", ")
            );
            scd1_from(&good, names.target, target, merge, updated_at, now)?
        }
    });
    if let Some(sequence) = &merge.sequence {
        statements.push(keep_sequences(names.sequences, &cols, sequence, &winners)?);
    }
    // Last: the statements before it judge lateness against the floor as it was.
    statements.extend(
        reset
            .as_ref()
            .and_then(|r| r.raise_floor(names.sequence_floor, &judged.sql)),
    );
    Ok(statements)
}

/// The SCD-2 merge's `"_CHANGES"`: the winners that are not late, each an `'INSERT'` (an
/// upsert) or a `'DELETE'` at its sequence. With `Scd2Delete::Ignore` a delete that wins
/// changes nothing (its key's applied sequence still moves), as `snowdrift-scd` ignores it.
fn history_changes(cols: &MergeColumns, merge: &MergeDef, winners: &str) -> Result<String> {
    let mut select = prefixed("w", &cols.business());
    if let Some(sequence) = &merge.sequence {
        select.push(format!("w.{}", ident(ObjectKind::Table, sequence)?));
    }
    let ignored = match merge.scd2_on_delete {
        Scd2Delete::Ignore => " AND w.\"_SNOWDRIFT_OP\" <> 'DELETE'",
        _ => "",
    };
    Ok(format!(
        "\"_CHANGES\" AS (SELECT {}, CASE WHEN w.\"_SNOWDRIFT_OP\" = 'DELETE' THEN 'DELETE' \
         ELSE 'INSERT' END AS \"_SNOWDRIFT_ACTION\" FROM {winners} AS w WHERE NOT w.\"_SNOWDRIFT_LATE\"{ignored})",
        select.join(", ")
    ))
}

/// The source rows, each with its operation (`NULL` when not an operation word) and why it
/// is bad (`NULL` when it is not), as a derived table.
struct Judged {
    sql: String,
    /// The source's own columns this merge knows (business, operation, sequence), quoted.
    own: Vec<String>,
}

impl Judged {
    fn new(source: &str, target: &TableDef, cols: &MergeColumns, merge: &MergeDef) -> Result<Self> {
        let mut own = cols.business();
        let op = match (&merge.delete_when, &merge.operation_column) {
            (None, Some(column)) => {
                let column = ident(ObjectKind::Table, column)?;
                own.push(column.clone());
                if merge.on_bad_row == OnBadRow::Reject {
                    operation_case(&column, "NULL")
                } else {
                    operation_expr(&column)
                }
            }
            (delete_when, _) => crate::predicate::upsert_or_delete(delete_when.as_deref())?,
        };
        let op = match &merge.truncate_when {
            Some(condition) => format!(
                "CASE WHEN {} THEN {TRUNCATE} ELSE {op} END",
                crate::predicate::sql(condition)?
            ),
            None => op,
        };
        let sequence = merge
            .sequence
            .as_deref()
            .map(|s| ident(ObjectKind::Table, s))
            .transpose()?;
        if let Some(s) = &sequence {
            own.push(s.clone());
        }
        // In the order the embedded engine checks them: keys, then the operation, then the
        // sequence.
        let mut reasons: Vec<BadRowRule> = Vec::new();
        for key in &target.key {
            reasons.push((
                format!("s.{} IS NULL", ident(ObjectKind::Table, key)?),
                RejectReason::NullKey,
                literal("a key may not be NULL"),
                key.clone(),
            ));
        }
        if let (None, Some(column)) = (&merge.delete_when, &merge.operation_column) {
            let quoted = ident(ObjectKind::Table, column)?;
            reasons.push((
                "s.\"_SNOWDRIFT_OP\" IS NULL".into(),
                RejectReason::BadOperation,
                format!(
                    "{} || COALESCE(s.{quoted}, 'NULL')",
                    literal(&format!("not an operation ({}): ", Operation::accepted()))
                ),
                column.clone(),
            ));
        }
        if let (Some(quoted), Some(name)) = (&sequence, &merge.sequence) {
            reasons.push((
                format!("s.{quoted} IS NULL"),
                RejectReason::NullSequence,
                literal("a sequence may not be NULL"),
                name.clone(),
            ));
        }
        if merge.truncate_when.is_some() {
            // A truncate row names no key and has no operation word: only its sequence counts.
            for rule in reasons
                .iter_mut()
                .filter(|r| r.1 != RejectReason::NullSequence)
            {
                rule.0 = format!(
                    "s.\"_SNOWDRIFT_OP\" IS DISTINCT FROM {TRUNCATE} AND {}",
                    rule.0
                );
            }
        }
        let case = |pick: &dyn Fn(&BadRowRule) -> String| {
            if reasons.is_empty() {
                return "CAST(NULL AS VARCHAR)".to_string();
            }
            let arms: Vec<String> = reasons
                .iter()
                .map(|r| format!("WHEN {} THEN {}", r.0, pick(r)))
                .collect();
            format!("CASE {} END", arms.join(" "))
        };
        let reason = case(&|r| literal(r.1.as_str()));
        let detail = case(&|r| r.2.clone());
        let column = case(&|r| literal(&r.3));
        let all = own
            .iter()
            .map(|c| format!("s.{c}"))
            .chain([
                format!("s.{}", ident(ObjectKind::Table, LOAD_FILE_COLUMN)?),
                format!("s.{}", ident(ObjectKind::Table, LOAD_ROW_COLUMN)?),
                "s.METADATA$ROW_ID AS \"_SNOWDRIFT_ROW_ID\"".into(),
            ])
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "(SELECT {all}, s.\"_SNOWDRIFT_OP\", {reason} AS \"_SNOWDRIFT_BAD\", \
             {detail} AS \"_SNOWDRIFT_DETAIL\", {column} AS \"_SNOWDRIFT_COLUMN\" \
             FROM (SELECT *, {op} AS \"_SNOWDRIFT_OP\" FROM {source}) AS s)"
        );
        Ok(Judged { sql, own })
    }

    /// One winner per key among the good rows, with whether it is late.
    fn winners(
        &self,
        names: &Names<'_>,
        cols: &MergeColumns,
        merge: &MergeDef,
        reset: Option<&Reset>,
    ) -> Result<String> {
        let order = winner_order(merge)?;
        let kept = match reset {
            Some(reset) => format!(
                " AND j.\"_SNOWDRIFT_OP\" <> {TRUNCATE} AND {}",
                reset.keeps(&self.sql)?
            ),
            None => String::new(),
        };
        // What a winner must not precede: its key's applied sequence and, once a truncate
        // has raised it, the sequence floor (whichever is greater).
        let applied_value = match (&merge.sequence, reset.and_then(Reset::floor_sequence)) {
            (None, _) => "CAST(NULL AS NUMBER)".to_string(),
            (Some(_), None) => format!("a.\"{SEQUENCE_COLUMN}\""),
            (Some(_), Some(_)) => {
                let (applied, floor) = (
                    format!("a.\"{SEQUENCE_COLUMN}\""),
                    floor_value(names.sequence_floor),
                );
                format!("GREATEST(COALESCE({applied}, {floor}), COALESCE({floor}, {applied}))")
            }
        };
        let late = match &merge.sequence {
            Some(s) => format!(
                "COALESCE(r.{} < {applied_value}, FALSE)",
                ident(ObjectKind::Table, s)?
            ),
            None => "FALSE".into(),
        };
        let applied = match &merge.sequence {
            Some(_) => format!(
                " LEFT JOIN {} AS a ON {}",
                names.sequences,
                key_join(&cols.key, "a", "r")
            ),
            None => String::new(),
        };
        Ok(format!(
            "(SELECT r.*, {late} AS \"_SNOWDRIFT_LATE\", {applied_value} AS \"_SNOWDRIFT_APPLIED\" \
             FROM (SELECT j.*, ROW_NUMBER() OVER (PARTITION BY {} ORDER BY {order}) AS \"_SNOWDRIFT_RANK\" \
             FROM {} AS j WHERE j.\"_SNOWDRIFT_BAD\" IS NULL{kept}) AS r{applied} WHERE r.\"_SNOWDRIFT_RANK\" = 1)",
            prefixed("j", &cols.key).join(", "),
            self.sql
        ))
    }

    /// `INSERT INTO <rejected>`: the bad rows, then the late winners (their sequences written
    /// as times when `sequence_is_time`).
    fn insert_rejected(
        &self,
        names: &Names<'_>,
        merge: &MergeDef,
        winners: &str,
        now: Now,
        sequence_is_time: bool,
    ) -> Result<String> {
        let metadata = [
            rejected::REASON,
            rejected::DETAIL,
            rejected::COLUMN,
            rejected::SOURCE_STREAM,
            rejected::SOURCE_ROW_ID,
            rejected::STAGED_FILE,
            rejected::STAGED_LINE,
            rejected::TASK,
            rejected::TASK_RUN,
            rejected::REJECTED_AT,
        ];
        let mut columns = self.own.clone();
        for name in metadata {
            columns.push(ident(ObjectKind::Table, name)?);
        }
        let stream = literal(&merge.source);
        let now = now.sql();
        let tail = |reason: &str, detail: &str, column: &str, alias: &str| {
            format!(
                "{reason}, {detail}, {column}, {stream}, {alias}.\"_SNOWDRIFT_ROW_ID\", {alias}.{}, {alias}.{}, \
                 CAST(NULL AS VARCHAR), CAST(NULL AS NUMBER), {now}",
                ident(ObjectKind::Table, LOAD_FILE_COLUMN).unwrap_or_default(),
                ident(ObjectKind::Table, LOAD_ROW_COLUMN).unwrap_or_default(),
            )
        };
        let own = |alias: &str| prefixed(alias, &self.own).join(", ");
        // Under on_bad_row = fail a bad row fails the statement (and so the transaction) with
        // its reason and detail, as the embedded engine fails the merge; late rows are still
        // rejected.
        let reason = match merge.on_bad_row {
            OnBadRow::Reject => "b.\"_SNOWDRIFT_BAD\"".to_string(),
            OnBadRow::Fail => {
                "TO_NUMBER(b.\"_SNOWDRIFT_BAD\" || ': ' || b.\"_SNOWDRIFT_DETAIL\")::VARCHAR"
                    .to_string()
            }
        };
        let bad = format!(
            "SELECT {}, {} FROM {} AS b WHERE b.\"_SNOWDRIFT_BAD\" IS NOT NULL",
            own("b"),
            tail(
                &reason,
                "b.\"_SNOWDRIFT_DETAIL\"",
                "b.\"_SNOWDRIFT_COLUMN\"",
                "b"
            ),
            self.sql
        );
        let mut sql = format!(
            "INSERT INTO {} ({}) {bad}",
            names.rejected,
            columns.join(", ")
        );
        // Under on_late_row = skip the late winners are left out (another merge keeps them).
        if let Some(sequence) = merge
            .sequence
            .as_ref()
            .filter(|_| merge.on_late_row == OnLateRow::Reject)
        {
            let quoted = ident(ObjectKind::Table, sequence)?;
            // `snowdrift_scd::late_detail`'s words, a time in its format.
            let text = |value: String| match sequence_is_time {
                true => format!("({})", timestamp_text(&value)),
                false => value,
            };
            let detail = format!(
                "'sequence ' || {} || ' is older than the applied sequence ' || {}",
                text(format!("w.{quoted}")),
                text("w.\"_SNOWDRIFT_APPLIED\"".into())
            );
            sql.push_str(&format!(
                " UNION ALL SELECT {}, {} FROM {winners} AS w WHERE w.\"_SNOWDRIFT_LATE\"",
                own("w"),
                tail(
                    &literal(RejectReason::Late.as_str()),
                    &detail,
                    &literal(sequence),
                    "w"
                ),
            ));
        }
        Ok(sql)
    }
}

/// `MERGE INTO <sequences>`: every winner that is not late raises its key's applied sequence.
fn keep_sequences(
    sequences: &str,
    cols: &MergeColumns,
    sequence: &str,
    winners: &str,
) -> Result<String> {
    let quoted = ident(ObjectKind::Table, sequence)?;
    let column = format!("\"{SEQUENCE_COLUMN}\"");
    let key = cols.key.join(", ");
    Ok(format!(
        "MERGE INTO {sequences} AS t USING (SELECT {}, w.{quoted} AS {column} FROM {winners} AS w \
         WHERE NOT w.\"_SNOWDRIFT_LATE\") AS s ON {} \
         WHEN MATCHED AND s.{column} > t.{column} THEN UPDATE SET {column} = s.{column} \
         WHEN NOT MATCHED THEN INSERT ({key}, {column}) VALUES ({}, s.{column})",
        prefixed("w", &cols.key).join(", "),
        key_join(&cols.key, "t", "s"),
        prefixed("s", &cols.key).join(", "),
    ))
}
