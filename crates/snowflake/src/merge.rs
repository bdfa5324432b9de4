//! The bodies of the two merge tasks as Snowflake `MERGE` statements: SCD-1 from an
//! append-only stream of raw rows, SCD-2 from a standard stream on the SCD-1 table (or from
//! raw rows' winners for a history by event time). They
//! render the rules `snowdrift-scd` executes in-process, with the original's five defects
//! fixed:
//!
//! 1. raw is consumed through its stream (the offset moves with the MERGE's commit), never
//!    truncated;
//! 2. one winner per key, chosen by `ROW_NUMBER()`: the sequence column if declared, then the
//!    staged file's name, then the row's number in it;
//! 3. compared columns are compared with `IS DISTINCT FROM`, which sees changes to and from
//!    NULL;
//! 4. (credentials are the stage's business, see [`crate::Renderer::stage`]);
//! 5. a new version starts at `GREATEST(version time, previous start + 1 µs)`: versions of a
//!    key are strictly ordered, never tied.

use snowdrift_scd::{OPEN_END_MICROS, OpenEnd};
use snowdrift_warehouse::{
    IgnoreNullUpdates, MergeDef, ObjectKind, Scd1Delete, Scd2Delete, TableDef, TableLayout,
    ValidityColumns,
};

use snowdrift_scd::{OPERATION_TRIM, Operation};

use crate::error::{Result, SnowflakeError};
use crate::sql::{ident, idents, literal};

/// Column of a raw table holding the staged file a row came from (`METADATA$FILENAME`).
pub const LOAD_FILE_COLUMN: &str = "_SNOWDRIFT_FILE";
/// Column of a raw table holding the row's number in its file (`METADATA$FILE_ROW_NUMBER`).
pub const LOAD_ROW_COLUMN: &str = "_SNOWDRIFT_ROW";

/// The clock a merge stamps rows with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Now {
    /// The statement's start, in UTC (`CONVERT_TIMEZONE('UTC', CURRENT_TIMESTAMP())`): one
    /// value for the whole statement.
    #[default]
    Statement,
    /// A fixed time in µs since the epoch (replays and differential tests).
    Fixed(i64),
}

impl Now {
    pub(crate) fn sql(self) -> String {
        match self {
            Now::Statement => "CONVERT_TIMEZONE('UTC', CURRENT_TIMESTAMP())::TIMESTAMP_NTZ".into(),
            Now::Fixed(micros) => timestamp_literal(micros),
        }
    }
}

/// A `TIMESTAMP_NTZ` literal for µs since the epoch.
pub fn timestamp_literal(micros: i64) -> String {
    let text = chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string())
        .unwrap_or_else(|| "9999-12-31 00:00:00".into());
    format!("{}::TIMESTAMP_NTZ", literal(&text))
}

/// `expr` (a `TIMESTAMP_NTZ`) as the text `YYYY-MM-DD HH:MM:SS.ffffff` that
/// `snowdrift_scd::late_detail` writes. Built from the time's parts rather than with
/// `TO_VARCHAR(expr, format)`, so that no session format changes it (and the emulator, which
/// drops a format argument, computes the same text).
pub(crate) fn timestamp_text(expr: &str) -> String {
    let pad = |part: String, width: usize| format!("LPAD(TO_VARCHAR({part}), {width}, '0')");
    let fraction = format!(
        "MOD(MOD(DATEDIFF(MICROSECOND, '1970-01-01'::TIMESTAMP_NTZ, {expr}), 1000000) + 1000000, 1000000)"
    );
    format!(
        "{} || '-' || {} || '-' || {} || ' ' || {} || ':' || {} || ':' || {} || '.' || {}",
        pad(format!("YEAR({expr})"), 4),
        pad(format!("MONTH({expr})"), 2),
        pad(format!("DAY({expr})"), 2),
        pad(format!("HOUR({expr})"), 2),
        pad(format!("MINUTE({expr})"), 2),
        pad(format!("SECOND({expr})"), 2),
        pad(fraction, 6),
    )
}

pub(crate) fn prefixed(prefix: &str, quoted: &[String]) -> Vec<String> {
    quoted.iter().map(|c| format!("{prefix}.{c}")).collect()
}

/// `a IS DISTINCT FROM b OR …` over `columns` of two aliases; `FALSE` for none.
fn any_differs(columns: &[String], left: &str, right: &str) -> String {
    if columns.is_empty() {
        return "FALSE".into();
    }
    columns
        .iter()
        .map(|c| format!("{left}.{c} IS DISTINCT FROM {right}.{c}"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// Whether a matched update changes a compared column: `t.c IS DISTINCT FROM <its new
/// value>`, `FALSE` for none.
fn updates_differ(cols: &MergeColumns) -> String {
    if cols.compared.is_empty() {
        return "FALSE".into();
    }
    cols.compared
        .iter()
        .map(|c| format!("t.{c} IS DISTINCT FROM {}", cols.updated(c)))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// The key equality of two aliases.
pub(crate) fn key_join(key: &[String], left: &str, right: &str) -> String {
    key.iter()
        .map(|k| format!("{left}.{k} = {right}.{k}"))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The columns a merge works with, resolved and quoted.
pub(crate) struct MergeColumns {
    pub(crate) key: Vec<String>,
    /// Business columns outside the key.
    pub(crate) values: Vec<String>,
    /// Compared columns (default: all values).
    pub(crate) compared: Vec<String>,
    /// Columns whose NULL in an update keeps the stored value (`IGNORE NULL UPDATES`).
    pub(crate) keep_on_null: Vec<String>,
}

impl MergeColumns {
    pub(crate) fn new(target: &TableDef, merge: &MergeDef) -> Result<Self> {
        if target.key.is_empty() {
            return Err(unsupported(merge, "a merge into a table without a key"));
        }
        let key = idents(target.key.iter().map(String::as_str))?;
        let values: Vec<&str> = target
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .filter(|n| !target.key.iter().any(|k| k.eq_ignore_ascii_case(n)))
            .collect();
        let compared = match &merge.compared {
            Some(names) => {
                check_columns(target, merge, names, "compared")?;
                idents(names.iter().map(String::as_str))?
            }
            None => idents(values.iter().copied())?,
        };
        let keep_on_null = keep_on_null(target, merge, &values)?;
        Ok(MergeColumns {
            key,
            values: idents(values)?,
            compared,
            keep_on_null,
        })
    }

    /// The value an update writes to `column` (quoted): the change's (`s`), or with
    /// `IGNORE NULL UPDATES` the stored one (`t`) where the change's is NULL.
    fn updated(&self, column: &str) -> String {
        if self.keep_on_null.iter().any(|c| c == column) {
            format!("COALESCE(s.{column}, t.{column})")
        } else {
            format!("s.{column}")
        }
    }

    pub(crate) fn business(&self) -> Vec<String> {
        self.key.iter().chain(&self.values).cloned().collect()
    }
}

fn check_columns(target: &TableDef, merge: &MergeDef, names: &[String], what: &str) -> Result<()> {
    for name in names {
        if !target
            .columns
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(name))
        {
            return Err(SnowflakeError::InvalidMerge {
                task_source: merge.source.clone(),
                target: merge.target.clone(),
                reason: format!("{what} column `{name}` is not a column of the target"),
            });
        }
    }
    Ok(())
}

/// The quoted columns of `IGNORE NULL UPDATES`, by the same resolution as `snowdrift-scd`'s
/// (the spec's own check refuses a key column or an unknown one).
fn keep_on_null(target: &TableDef, merge: &MergeDef, values: &[&str]) -> Result<Vec<String>> {
    let named = |names: &[String]| -> Result<Vec<String>> {
        check_columns(target, merge, names, "IGNORE NULL UPDATES")?;
        Ok(names.to_vec())
    };
    let names: Vec<String> = match &merge.ignore_null_updates {
        IgnoreNullUpdates::Off => Vec::new(),
        IgnoreNullUpdates::All => values.iter().map(|v| v.to_string()).collect(),
        IgnoreNullUpdates::Columns(names) => named(names)?,
        IgnoreNullUpdates::AllExcept(names) => {
            let except = named(names)?;
            values
                .iter()
                .filter(|v| !except.iter().any(|e| e.eq_ignore_ascii_case(v)))
                .map(|v| v.to_string())
                .collect()
        }
    };
    idents(names.iter().map(String::as_str))
}

fn unsupported(merge: &MergeDef, what: &str) -> SnowflakeError {
    SnowflakeError::Unsupported {
        object: format!("the merge of {} into {}", merge.source, merge.target),
        what: what.into(),
    }
}

/// The SCD-1 merge: the source is an append-only stream (or a table with the same columns)
/// of raw rows carrying the load-order columns [`LOAD_FILE_COLUMN`] and [`LOAD_ROW_COLUMN`].
pub(crate) fn scd1(
    source: &str,
    target_name: &str,
    target: &TableDef,
    merge: &MergeDef,
    now: Now,
) -> Result<String> {
    let updated_at = match &target.layout {
        TableLayout::Scd1 { updated_at } => updated_at.clone(),
        TableLayout::Plain => None,
        TableLayout::Scd2 { .. } => unreachable!("scd1 is rendered for Type 1 targets only"),
    };
    let cols = MergeColumns::new(target, merge)?;
    let business = cols.business();
    let op = match (&merge.delete_when, &merge.operation_column) {
        (None, Some(column)) => operation_expr(&ident(ObjectKind::Table, column)?),
        (delete_when, _) => crate::predicate::upsert_or_delete(delete_when.as_deref())?,
    };
    let order = winner_order(merge)?;
    let using = format!(
        "(SELECT {}, {op} AS \"_SNOWDRIFT_OP\" FROM {source} \
         QUALIFY ROW_NUMBER() OVER (PARTITION BY {} ORDER BY {order}) = 1)",
        business.join(", "),
        cols.key.join(", "),
    );
    scd1_from(&using, target_name, target, merge, updated_at, now)
}

/// The SCD-1 `MERGE` from `using`: a subquery of one winning row per key with the business
/// columns and `"_SNOWDRIFT_OP"` (`'UPSERT'` or `'DELETE'`).
pub(crate) fn scd1_from(
    using: &str,
    target_name: &str,
    target: &TableDef,
    merge: &MergeDef,
    updated_at: Option<String>,
    now: Now,
) -> Result<String> {
    let cols = MergeColumns::new(target, merge)?;
    let business = cols.business();
    let now = now.sql();
    let mut set: Vec<String> = cols
        .values
        .iter()
        .map(|c| format!("{c} = {}", cols.updated(c)))
        .collect();
    let mut insert_columns = business.clone();
    let mut insert_values = prefixed("s", &business);
    if let Some(column) = &updated_at {
        let column = ident(ObjectKind::Table, column)?;
        set.push(format!("{column} = {now}"));
        insert_columns.push(column);
        insert_values.push(now.clone());
    }
    let delete = match merge.scd1_on_delete {
        Scd1Delete::Remove => "WHEN MATCHED AND s.\"_SNOWDRIFT_OP\" = 'DELETE' THEN DELETE ",
        Scd1Delete::Ignore => "",
    };
    let update = if set.is_empty() {
        String::new()
    } else {
        format!(
            "WHEN MATCHED AND s.\"_SNOWDRIFT_OP\" = 'UPSERT' AND ({}) THEN UPDATE SET {} ",
            updates_differ(&cols),
            set.join(", ")
        )
    };
    Ok(format!(
        "MERGE INTO {target_name} AS t USING {using} AS s ON {} \
         {delete}{update}WHEN NOT MATCHED AND s.\"_SNOWDRIFT_OP\" = 'UPSERT' THEN INSERT ({}) VALUES ({})",
        key_join(&cols.key, "t", "s"),
        insert_columns.join(", "),
        insert_values.join(", ")
    ))
}

/// The operation column read as `'UPSERT'` or `'DELETE'` by `snowdrift-scd`'s one list of
/// operation words and its trimming and case rule ([`Operation::parse`]); anything else fails
/// the statement with the bad value in Snowflake's error, so the stream keeps the rows
/// (nothing is lost).
pub(crate) fn operation_expr(column: &str) -> String {
    let fail = format!(
        "TO_NUMBER('not an operation ({}): ' || COALESCE({column}, 'NULL'))::VARCHAR",
        Operation::accepted()
    );
    operation_case(column, &fail)
}

/// `CASE` reading the operation words of `column` as `'UPSERT'` or `'DELETE'`, `otherwise`
/// for any other text.
pub(crate) fn operation_case(column: &str, otherwise: &str) -> String {
    let words = |ops: &[Operation]| {
        ops.iter()
            .flat_map(|op| op.words().iter().map(|w| literal(w)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let trim: Vec<String> = OPERATION_TRIM
        .iter()
        .map(|c| format!("CHR({})", u32::from(*c)))
        .collect();
    let word = format!("UPPER(TRIM({column}, {}))", trim.join(" || "));
    format!(
        "CASE WHEN {word} IN ({}) THEN 'UPSERT' WHEN {word} IN ({}) THEN 'DELETE' \
         ELSE {otherwise} END",
        words(&[Operation::Insert, Operation::Update]),
        words(&[Operation::Delete]),
    )
}

/// The latest row wins: by the sequence column when declared, then by load order.
pub(crate) fn winner_order(merge: &MergeDef) -> Result<String> {
    let mut order = Vec::new();
    if let Some(sequence) = &merge.sequence {
        order.push(format!(
            "{} DESC NULLS LAST",
            ident(ObjectKind::Table, sequence)?
        ));
    }
    for column in [LOAD_FILE_COLUMN, LOAD_ROW_COLUMN] {
        order.push(format!(
            "{} DESC NULLS LAST",
            ident(ObjectKind::Table, column)?
        ));
    }
    Ok(order.join(", "))
}

/// The SCD-2 merge: the source is a standard stream on the SCD-1 table (or a table with
/// the same columns: the business columns, the sequence column, `METADATA$ACTION`,
/// `METADATA$ISUPDATE`, `METADATA$ROW_ID`).
pub(crate) fn scd2(
    source: &str,
    target_name: &str,
    target: &TableDef,
    validity: &ValidityColumns,
    merge: &MergeDef,
    now: Now,
) -> Result<String> {
    let cols = MergeColumns::new(target, merge)?;
    let changes = changes_cte(source, &cols.key, &cols.business(), merge)?;
    scd2_from(
        &changes,
        ChangeTimes::Stream,
        target_name,
        target,
        validity,
        merge,
        now,
    )
}

/// When a change takes effect in an SCD-2 merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeTimes {
    /// Changes of a stream on an SCD-1 table: an upsert at its sequence, a delete (which
    /// carries the deleted row's values) at the merge's time, as `snowdrift-scd` times them.
    Stream,
    /// Raw rows: every change at its sequence, a timestamp (the event time).
    Sequence,
}

/// The SCD-2 `MERGE` from `changes`: a CTE named `"_CHANGES"` of one winner per key with the
/// business columns, the sequence column (if any) and `"_SNOWDRIFT_ACTION"` (`'INSERT'` for
/// an upsert, `'DELETE'`).
pub(crate) fn scd2_from(
    changes: &str,
    times: ChangeTimes,
    target_name: &str,
    target: &TableDef,
    validity: &ValidityColumns,
    merge: &MergeDef,
    now: Now,
) -> Result<String> {
    let cols = MergeColumns::new(target, merge)?;
    let tracked = match &merge.tracked {
        Some(names) => {
            check_columns(target, merge, names, "tracked")?;
            idents(names.iter().map(String::as_str))?
        }
        None => cols.compared.clone(),
    };
    let untracked: Vec<String> = cols
        .compared
        .iter()
        .filter(|c| !tracked.contains(c))
        .cloned()
        .collect();
    let v = ValidityIdents::new(validity)?;
    if merge.scd2_on_delete == Scd2Delete::CloseWithTombstone && v.deleted.is_none() {
        return Err(unsupported(
            merge,
            "tombstones without a `deleted` validity column on the target",
        ));
    }
    let business = cols.business();
    let now = now.sql();
    let time = match &merge.sequence {
        Some(sequence) => format!("c.{}", ident(ObjectKind::Table, sequence)?),
        None => now.clone(),
    };
    let latest = latest_cte(target_name, &cols.key, &business, &v);
    let (filled, from) = match filled_cte(&cols, &v, merge)? {
        Some(filled) => (format!(", {filled}"), "\"_FILLED\""),
        None => (String::new(), "\"_CHANGES\""),
    };
    let delete_time = match times {
        ChangeTimes::Stream => now.clone(),
        ChangeTimes::Sequence => time.clone(),
    };
    let planned = planned_cte(&cols, &tracked, &untracked, &v, &time, &delete_time, from);
    let using = using_rows(
        &cols,
        &business,
        &v,
        !untracked.is_empty(),
        merge.scd2_on_delete,
    );
    let mut insert_columns = business.clone();
    insert_columns.extend([v.start.clone(), v.end.clone(), v.current.clone()]);
    let mut insert_values = prefixed("s", &business);
    insert_values.extend([
        "s.\"_SNOWDRIFT_START\"".into(),
        open_end(validity.open_end),
        "TRUE".into(),
    ]);
    if let Some(deleted) = &v.deleted {
        insert_columns.push(deleted.clone());
        insert_values.push("s.\"_SNOWDRIFT_DELETED\"".into());
    }
    if let Some(id) = &v.scd_id {
        insert_columns.push(id.clone());
        insert_values.push(version_id(&cols.key, "s.\"_SNOWDRIFT_START\""));
    }
    let overwrite = if untracked.is_empty() {
        String::new()
    } else {
        format!(
            "WHEN MATCHED AND s.\"_SNOWDRIFT_DO\" = 'OVERWRITE' THEN UPDATE SET {} ",
            untracked
                .iter()
                .map(|c| format!("{c} = s.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let merge_on = cols
        .key
        .iter()
        .map(|k| format!("t.{k} = s.{}", merge_key(k)))
        .chain([format!("t.{} = s.\"_SNOWDRIFT_MATCH_START\"", v.start)])
        .collect::<Vec<_>>()
        .join(" AND ");
    Ok(format!(
        "MERGE INTO {target_name} AS t USING (WITH {changes}, {latest}{filled}, {planned} {using}) AS s \
         ON {merge_on} \
         WHEN MATCHED AND s.\"_SNOWDRIFT_DO\" = 'CLOSE' THEN UPDATE SET {} = s.\"_SNOWDRIFT_TIME\", {} = FALSE \
         {overwrite}WHEN NOT MATCHED THEN INSERT ({}) VALUES ({})",
        v.end,
        v.current,
        insert_columns.join(", "),
        insert_values.join(", ")
    ))
}

/// How an open end is written: `9999-12-31` or NULL.
fn open_end(open_end: OpenEnd) -> String {
    match open_end {
        OpenEnd::FarFuture => timestamp_literal(OPEN_END_MICROS),
        OpenEnd::Null => "NULL".into(),
    }
}

/// The version id of the USING row `s` starting at `start`: the expression of
/// [`snowdrift_scd::version_id`] (MD5 of the key's values as text and the start
/// as µs since the epoch, joined by `|`).
fn version_id(key: &[String], start: &str) -> String {
    let mut parts: Vec<String> = key
        .iter()
        .map(|k| format!("COALESCE(TO_VARCHAR(s.{k}), '')"))
        .collect();
    parts.push(format!(
        "TO_VARCHAR(DATEDIFF(MICROSECOND, '1970-01-01'::TIMESTAMP_NTZ, {start}))"
    ));
    format!("MD5({})", parts.join(" || '|' || "))
}

/// Quoted validity column names.
struct ValidityIdents {
    start: String,
    end: String,
    current: String,
    deleted: Option<String>,
    scd_id: Option<String>,
}

impl ValidityIdents {
    fn new(validity: &ValidityColumns) -> Result<Self> {
        Ok(ValidityIdents {
            start: ident(ObjectKind::Table, &validity.start)?,
            end: ident(ObjectKind::Table, &validity.end)?,
            current: ident(ObjectKind::Table, &validity.current)?,
            deleted: validity
                .deleted
                .as_deref()
                .map(|d| ident(ObjectKind::Table, d))
                .transpose()?,
            scd_id: validity
                .scd_id
                .as_deref()
                .map(|d| ident(ObjectKind::Table, d))
                .transpose()?,
        })
    }
}

/// The merge key column of a USING row (NULL for rows to insert).
fn merge_key(quoted: &str) -> String {
    format!("\"_SNOWDRIFT_KEY_{}", &quoted[1..])
}

/// One winner per key from the stream: updates' DELETE halves dropped; the greatest
/// (sequence, INSERT over DELETE, row id) wins.
fn changes_cte(
    source: &str,
    key: &[String],
    business: &[String],
    merge: &MergeDef,
) -> Result<String> {
    let mut select = business.to_vec();
    let mut order = Vec::new();
    if let Some(sequence) = &merge.sequence {
        let sequence = ident(ObjectKind::Table, sequence)?;
        select.push(sequence.clone());
        order.push(format!("{sequence} DESC NULLS LAST"));
    }
    order.push("(\"METADATA$ACTION\" = 'INSERT') DESC".into());
    order.push("\"METADATA$ROW_ID\" DESC".into());
    let deletes = if merge.scd2_on_delete == Scd2Delete::Ignore {
        "\"METADATA$ACTION\" = 'INSERT'"
    } else {
        "NOT (\"METADATA$ACTION\" = 'DELETE' AND \"METADATA$ISUPDATE\")"
    };
    Ok(format!(
        "\"_CHANGES\" AS (SELECT {}, \"METADATA$ACTION\" AS \"_SNOWDRIFT_ACTION\" FROM {source} \
         WHERE {deletes} QUALIFY ROW_NUMBER() OVER (PARTITION BY {} ORDER BY {}) = 1)",
        select.join(", "),
        key.join(", "),
        order.join(", ")
    ))
}

/// Each changed key's newest version in the target.
fn latest_cte(target: &str, key: &[String], business: &[String], v: &ValidityIdents) -> String {
    let mut select = prefixed("h", business);
    select.extend([
        format!("h.{}", v.start),
        format!("h.{}", v.end),
        format!("h.{}", v.current),
    ]);
    if let Some(deleted) = &v.deleted {
        select.push(format!("h.{deleted}"));
    }
    let keys = if key.len() == 1 {
        format!("h.{} IN (SELECT {} FROM \"_CHANGES\")", key[0], key[0])
    } else {
        format!(
            "({}) IN (SELECT {} FROM \"_CHANGES\")",
            prefixed("h", key).join(", "),
            key.join(", ")
        )
    };
    format!(
        "\"_LATEST\" AS (SELECT {} FROM {target} AS h WHERE {keys} \
         QUALIFY ROW_NUMBER() OVER (PARTITION BY {} ORDER BY h.{} DESC) = 1)",
        select.join(", "),
        prefixed("h", key).join(", "),
        v.start
    )
}

/// `IGNORE NULL UPDATES`: the winners with each listed column that is NULL in an upsert of a
/// live key (its newest version current and not a tombstone) taken from that version, the rule
/// of `snowdrift-scd`'s `fill_nulls`; `None` when the option is off.
fn filled_cte(cols: &MergeColumns, v: &ValidityIdents, merge: &MergeDef) -> Result<Option<String>> {
    if cols.keep_on_null.is_empty() {
        return Ok(None);
    }
    let live = match &v.deleted {
        Some(deleted) => format!("(l.{} AND NOT l.{deleted})", v.current),
        None => format!("l.{}", v.current),
    };
    let mut select: Vec<String> = cols
        .business()
        .iter()
        .map(|b| {
            if cols.keep_on_null.contains(b) {
                format!(
                    "CASE WHEN c.\"_SNOWDRIFT_ACTION\" = 'INSERT' AND COALESCE({live}, FALSE) \
                     THEN COALESCE(c.{b}, l.{b}) ELSE c.{b} END AS {b}"
                )
            } else {
                format!("c.{b}")
            }
        })
        .collect();
    if let Some(sequence) = &merge.sequence {
        select.push(format!("c.{}", ident(ObjectKind::Table, sequence)?));
    }
    select.push("c.\"_SNOWDRIFT_ACTION\"".into());
    Ok(Some(format!(
        "\"_FILLED\" AS (SELECT {} FROM \"_CHANGES\" AS c LEFT JOIN \"_LATEST\" AS l ON {})",
        select.join(", "),
        key_join(&cols.key, "c", "l")
    )))
}

/// Each winner (read from the CTE `from`) beside its key's newest version, with what to do
/// and when.
fn planned_cte(
    cols: &MergeColumns,
    tracked: &[String],
    untracked: &[String],
    v: &ValidityIdents,
    time: &str,
    delete_time: &str,
    from: &str,
) -> String {
    let business = cols.business();
    let mut select = prefixed("c", &business);
    select.push("c.\"_SNOWDRIFT_ACTION\"".into());
    select.extend(
        business
            .iter()
            .map(|b| format!("l.{b} AS {}", latest_alias(b))),
    );
    let live = match &v.deleted {
        Some(deleted) => format!("(l.{} AND NOT l.{deleted})", v.current),
        None => format!("l.{}", v.current),
    };
    let start_after = format!("DATEADD(MICROSECOND, 1, l.{})", v.start);
    select.extend([
        format!("l.{} AS \"_L_START\"", v.start),
        format!("COALESCE(l.{}, FALSE) AS \"_L_CURRENT\"", v.current),
        format!("COALESCE({live}, FALSE) AS \"_L_LIVE\""),
        format!(
            "({}) AS \"_TRACKED_DIFFERS\"",
            any_differs(tracked, "c", "l")
        ),
        format!(
            "({}) AS \"_UNTRACKED_DIFFERS\"",
            any_differs(untracked, "c", "l")
        ),
        format!(
            "CASE WHEN c.\"_SNOWDRIFT_ACTION\" = 'DELETE' THEN \
             CASE WHEN l.{start} IS NOT NULL THEN GREATEST({delete_time}, {start_after}) END \
             WHEN l.{start} IS NULL THEN {time} \
             WHEN l.{current} THEN GREATEST({time}, {start_after}) \
             ELSE GREATEST({time}, l.{end}) END AS \"_SNOWDRIFT_TIME\"",
            start = v.start,
            current = v.current,
            end = v.end,
        ),
    ]);
    format!(
        "\"_PLANNED\" AS (SELECT {} FROM {from} AS c LEFT JOIN \"_LATEST\" AS l ON {})",
        select.join(", "),
        key_join(&cols.key, "c", "l")
    )
}

fn latest_alias(quoted: &str) -> String {
    format!("\"_L_{}", &quoted[1..])
}

/// The USING rows: versions to close or overwrite (matched on key and start) and versions
/// to insert (NULL merge key, never matched).
fn using_rows(
    cols: &MergeColumns,
    business: &[String],
    v: &ValidityIdents,
    overwrites: bool,
    on_delete: Scd2Delete,
) -> String {
    let keys_as = |from_row: bool| -> String {
        cols.key
            .iter()
            .map(|k| {
                let value = if from_row { k.as_str() } else { "NULL" };
                format!("{value} AS {}", merge_key(k))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let changed = "(NOT \"_L_LIVE\" OR \"_TRACKED_DIFFERS\")";
    let mut parts = vec![
        format!(
            "SELECT {}, \"_L_START\" AS \"_SNOWDRIFT_MATCH_START\", 'CLOSE' AS \"_SNOWDRIFT_DO\", {}, \
             \"_SNOWDRIFT_TIME\", \"_SNOWDRIFT_TIME\" AS \"_SNOWDRIFT_START\", FALSE AS \"_SNOWDRIFT_DELETED\" \
             FROM \"_PLANNED\" WHERE \"_L_CURRENT\" AND ((\"_SNOWDRIFT_ACTION\" = 'INSERT' AND {changed}) \
             OR (\"_SNOWDRIFT_ACTION\" = 'DELETE' AND \"_L_LIVE\"))",
            keys_as(true),
            business.join(", ")
        ),
        format!(
            "SELECT {}, NULL, 'INSERT', {}, \"_SNOWDRIFT_TIME\", \"_SNOWDRIFT_TIME\", FALSE \
             FROM \"_PLANNED\" WHERE \"_SNOWDRIFT_ACTION\" = 'INSERT' AND {changed}",
            keys_as(false),
            business.join(", ")
        ),
    ];
    if overwrites {
        parts.push(format!(
            "SELECT {}, \"_L_START\", 'OVERWRITE', {}, \"_SNOWDRIFT_TIME\", \"_SNOWDRIFT_TIME\", FALSE \
             FROM \"_PLANNED\" WHERE \"_SNOWDRIFT_ACTION\" = 'INSERT' AND \"_L_LIVE\" \
             AND NOT \"_TRACKED_DIFFERS\" AND \"_UNTRACKED_DIFFERS\"",
            keys_as(true),
            business.join(", ")
        ));
    }
    if on_delete == Scd2Delete::CloseWithTombstone && v.deleted.is_some() {
        let latest_values: Vec<String> = business.iter().map(|b| latest_alias(b)).collect();
        parts.push(format!(
            "SELECT {}, NULL, 'INSERT', {}, \"_SNOWDRIFT_TIME\", \"_SNOWDRIFT_TIME\", TRUE \
             FROM \"_PLANNED\" WHERE \"_SNOWDRIFT_ACTION\" = 'DELETE' AND \"_L_LIVE\"",
            keys_as(false),
            latest_values.join(", ")
        ));
    }
    parts.join(" UNION ALL ")
}
