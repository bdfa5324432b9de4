//! What a merge needs to know about a table: its business columns, key,
//! compared columns, the optional sequence that orders versions, and how the
//! changes say what happened to a row.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef, TimeUnit};

use crate::null_updates::IgnoreNullUpdates;
use crate::predicate::ChangePredicate;
use crate::reject::OnBadRow;
use crate::{Result, ScdError};

/// The Arrow type of every time column the engine writes
/// (`TIMESTAMP_NTZ` in Snowflake): microseconds, no time zone.
pub const TIMESTAMP: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);

/// How each change row says what happened to its key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ChangeFormat {
    /// Every row is an upsert (the original's `customer_raw`).
    #[default]
    Upserts,
    /// A text column holds the operation: `INSERT`/`I`, `UPDATE`/`U`/`UPSERT`
    /// /`MERGE` (all upserts) or `DELETE`/`D`, case-insensitive.
    OperationColumn(String),
    /// Rows read from a standard stream: `METADATA$ACTION` and
    /// `METADATA$ISUPDATE` (see [`crate::ChangeSet`]). An `INSERT` upserts, a
    /// `DELETE` that is not half of an update deletes, and the `DELETE` half
    /// of an update is skipped (its `INSERT` half carries the new values).
    Stream,
    /// `APPLY AS DELETE WHEN`: rows the predicate holds for are deletes, the
    /// others upserts (see [`ChangePredicate`]).
    DeleteWhen(ChangePredicate),
}

/// What the change rows of a merge are: changes of some keys, or full
/// snapshots of the entity (DLT's `AUTO CDC FROM SNAPSHOT`, dbt's check
/// strategy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum ChangeSource {
    /// Each row changes its key; keys without a row are untouched.
    #[default]
    Changes,
    /// Each batch given to [`crate::merge`] is one complete snapshot of the
    /// entity, in order: the last one decides. Keys whose values differ from
    /// the target's are updated, new keys inserted, and keys the snapshot
    /// leaves out deleted or kept ([`AbsentKeys`]).
    Snapshots(AbsentKeys),
}

/// What a snapshot does with a key the target holds and the snapshot leaves
/// out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum AbsentKeys {
    /// Delete it, as the strategy deletes (DLT's behaviour, dbt's
    /// `hard_deletes = invalidate`).
    #[default]
    Delete,
    /// Keep it as it is (dbt's default, `hard_deletes = ignore`).
    Keep,
}

/// A validated description of a table's business columns.
///
/// ```
/// use std::sync::Arc;
/// use arrow::datatypes::{DataType, Field, Schema};
/// use snowdrift_scd::TableSpec;
///
/// let schema = Arc::new(Schema::new(vec![
///     Field::new("customer_id", DataType::Int64, false),
///     Field::new("email", DataType::Utf8, true),
///     Field::new("city", DataType::Utf8, true),
/// ]));
/// let spec = TableSpec::builder("customer", schema)
///     .key(["customer_id"])
///     .build()?;
/// assert_eq!(spec.compared_names(), ["email", "city"]);
/// # Ok::<(), snowdrift_scd::ScdError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TableSpec {
    name: String,
    schema: SchemaRef,
    key: Vec<usize>,
    compared: Vec<usize>,
    sequence: Option<String>,
    format: ChangeFormat,
    on_bad_row: OnBadRow,
    ignore_nulls: Vec<usize>,
    truncate_when: Option<ChangePredicate>,
    source: ChangeSource,
}

impl TableSpec {
    /// Describe the table `name` whose business columns are `schema`.
    pub fn builder(name: impl Into<String>, schema: SchemaRef) -> TableSpecBuilder {
        TableSpecBuilder {
            name: name.into(),
            schema,
            key: Vec::new(),
            compared: None,
            sequence: None,
            format: ChangeFormat::Upserts,
            on_bad_row: OnBadRow::Fail,
            ignore_nulls: IgnoreNullUpdates::Off,
            truncate_when: None,
            source: ChangeSource::Changes,
        }
    }

    /// The table's name (used in errors).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The business columns, in order.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Indices of the key columns.
    pub fn key(&self) -> &[usize] {
        &self.key
    }

    /// Names of the key columns.
    pub fn key_names(&self) -> Vec<&str> {
        self.names(&self.key)
    }

    /// Indices of the compared columns: a change counts only when one of
    /// them differs (null-safely).
    pub fn compared(&self) -> &[usize] {
        &self.compared
    }

    /// Names of the compared columns.
    pub fn compared_names(&self) -> Vec<&str> {
        self.names(&self.compared)
    }

    /// The column of the changes that orders versions of a key, if any.
    pub fn sequence(&self) -> Option<&str> {
        self.sequence.as_deref()
    }

    /// How change rows carry their operation.
    pub fn format(&self) -> &ChangeFormat {
        &self.format
    }

    /// What a merge does with a change row it cannot apply.
    pub fn on_bad_row(&self) -> OnBadRow {
        self.on_bad_row
    }

    /// Indices of the columns whose NULL in an update keeps the stored value
    /// ([`IgnoreNullUpdates`]); empty when the option is off.
    pub fn ignore_null_updates(&self) -> &[usize] {
        &self.ignore_nulls
    }

    /// `APPLY AS TRUNCATE WHEN`: the condition that makes a change row a
    /// truncate of the whole table, if any.
    pub fn truncate_when(&self) -> Option<&ChangePredicate> {
        self.truncate_when.as_ref()
    }

    /// Whether the rows are changes or full snapshots.
    pub fn source(&self) -> ChangeSource {
        self.source
    }

    /// The same spec with another [`OnBadRow`].
    pub fn with_on_bad_row(mut self, on_bad_row: OnBadRow) -> Self {
        self.on_bad_row = on_bad_row;
        self
    }

    fn names(&self, idx: &[usize]) -> Vec<&str> {
        idx.iter()
            .map(|&i| self.schema.field(i).name().as_str())
            .collect()
    }

    pub(crate) fn invalid(&self, reason: impl Into<String>) -> ScdError {
        ScdError::InvalidSpec {
            table: self.name.clone(),
            reason: reason.into(),
        }
    }

    /// `schema` plus `extra` fields, refusing a name clash.
    pub(crate) fn extend_schema(&self, extra: Vec<Field>) -> Result<SchemaRef> {
        let mut fields: Vec<FieldRef> = self.schema.fields().to_vec();
        for f in extra {
            if fields.iter().any(|g| g.name() == f.name()) {
                return Err(self.invalid(format!(
                    "column `{}` is both a business column and a system column; rename one",
                    f.name()
                )));
            }
            fields.push(Arc::new(f));
        }
        Ok(Arc::new(Schema::new(fields)))
    }
}

/// Builder for [`TableSpec`]; validation happens in [`TableSpecBuilder::build`].
#[derive(Debug, Clone)]
pub struct TableSpecBuilder {
    name: String,
    schema: SchemaRef,
    key: Vec<String>,
    compared: Option<Vec<String>>,
    sequence: Option<String>,
    format: ChangeFormat,
    on_bad_row: OnBadRow,
    ignore_nulls: IgnoreNullUpdates,
    truncate_when: Option<ChangePredicate>,
    source: ChangeSource,
}

impl TableSpecBuilder {
    /// `APPLY AS TRUNCATE WHEN`: change rows `condition` holds for truncate
    /// the table at their place in the change order (their key columns may
    /// be NULL). Keys whose last applied change is not after the truncate
    /// are deleted, as the strategy deletes; changes after it apply as
    /// usual. See `docs/scd.md`.
    pub fn truncate_when(mut self, condition: ChangePredicate) -> Self {
        self.truncate_when = Some(condition);
        self
    }

    /// Whether the rows are changes (the default) or full snapshots
    /// ([`ChangeSource::Snapshots`]; no sequence column, all rows upserts).
    pub fn source(mut self, source: ChangeSource) -> Self {
        self.source = source;
        self
    }

    /// Which columns keep their stored value when an update holds NULL there
    /// (default [`IgnoreNullUpdates::Off`]; see [`IgnoreNullUpdates`]).
    pub fn ignore_null_updates(mut self, ignore: IgnoreNullUpdates) -> Self {
        self.ignore_nulls = ignore;
        self
    }

    /// The key columns (one or more; composite keys are allowed).
    pub fn key<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.key = columns.into_iter().map(Into::into).collect();
        self
    }

    /// The compared columns (default: every non-key column that is not the
    /// sequence).
    pub fn compared<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.compared = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    /// A column of the changes that orders versions of a key: integers or
    /// timestamps. Without it, load order decides (later rows win).
    pub fn sequence(mut self, column: impl Into<String>) -> Self {
        self.sequence = Some(column.into());
        self
    }

    /// How change rows carry their operation (default: all upserts).
    pub fn format(mut self, format: ChangeFormat) -> Self {
        self.format = format;
        self
    }

    /// What a merge does with a change row it cannot apply (default
    /// [`OnBadRow::Fail`]).
    pub fn on_bad_row(mut self, on_bad_row: OnBadRow) -> Self {
        self.on_bad_row = on_bad_row;
        self
    }

    /// Validate and build.
    ///
    /// # Errors
    ///
    /// [`ScdError::InvalidSpec`] naming the table when there is no key, a key or option names a
    /// column the schema lacks, a key column is listed twice or cannot be compared, or an option
    /// does not fit the change format (each reason says which).
    pub fn build(self) -> Result<TableSpec> {
        let invalid = |reason: String| ScdError::InvalidSpec {
            table: self.name.clone(),
            reason,
        };
        if self.key.is_empty() {
            return Err(invalid("no key column; call .key([...])".into()));
        }
        let index = |name: &str| {
            self.schema
                .index_of(name)
                .map_err(|_| invalid(format!("no column `{name}` in the schema")))
        };
        let mut key = Vec::new();
        for k in &self.key {
            let i = index(k)?;
            if key.contains(&i) {
                return Err(invalid(format!("key column `{k}` is listed twice")));
            }
            key.push(i);
        }
        let sequence_index = self
            .sequence
            .as_deref()
            .and_then(|s| self.schema.index_of(s).ok());
        let compared = match &self.compared {
            Some(names) => {
                let mut out = Vec::new();
                for c in names {
                    let i = index(c)?;
                    if key.contains(&i) {
                        return Err(invalid(format!("key column `{c}` cannot be compared")));
                    }
                    if !out.contains(&i) {
                        out.push(i);
                    }
                }
                out
            }
            None => (0..self.schema.fields().len())
                .filter(|i| !key.contains(i) && Some(*i) != sequence_index)
                .collect(),
        };
        if let ChangeFormat::OperationColumn(op) = &self.format
            && (op.is_empty() || self.schema.index_of(op).is_ok())
        {
            return Err(invalid(format!(
                "operation column `{op}` must be a non-empty name outside the business columns"
            )));
        }
        if let ChangeSource::Snapshots(_) = self.source {
            if self.sequence.is_some() {
                return Err(invalid(
                    "a snapshot source is ordered by its snapshots; it takes no sequence column"
                        .into(),
                ));
            }
            if self.format != ChangeFormat::Upserts || self.truncate_when.is_some() {
                return Err(invalid(
                    "every row of a snapshot is an upsert: no operation column, delete or truncate condition"
                        .into(),
                ));
            }
        }
        let values: Vec<usize> = (0..self.schema.fields().len())
            .filter(|i| !key.contains(i) && Some(*i) != sequence_index)
            .collect();
        let listed = |names: &[String]| -> Result<Vec<usize>> {
            names
                .iter()
                .map(|name| {
                    let i = index(name)?;
                    if key.contains(&i) {
                        return Err(invalid(format!(
                            "key column `{name}` cannot keep its value on a NULL update"
                        )));
                    }
                    Ok(i)
                })
                .collect()
        };
        let ignore_nulls = match &self.ignore_nulls {
            IgnoreNullUpdates::Off => Vec::new(),
            IgnoreNullUpdates::All => values,
            IgnoreNullUpdates::Columns(names) => listed(names)?,
            IgnoreNullUpdates::AllExcept(names) => {
                let except = listed(names)?;
                values.into_iter().filter(|i| !except.contains(i)).collect()
            }
        };
        Ok(TableSpec {
            name: self.name,
            schema: self.schema,
            key,
            compared,
            sequence: self.sequence,
            format: self.format,
            on_bad_row: self.on_bad_row,
            ignore_nulls,
            truncate_when: self.truncate_when,
            source: self.source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("a", DataType::Utf8, true),
            Field::new("seq", DataType::Int64, true),
        ]))
    }

    #[test]
    fn defaults_compare_everything_but_key_and_sequence() {
        let spec = TableSpec::builder("t", schema())
            .key(["id"])
            .sequence("seq")
            .build()
            .unwrap();
        assert_eq!(spec.compared_names(), ["a"]);
        assert_eq!(spec.key_names(), ["id"]);
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let cases = [
            (TableSpec::builder("t", schema()), "no key column"),
            (
                TableSpec::builder("t", schema()).key(["nope"]),
                "no column `nope`",
            ),
            (
                TableSpec::builder("t", schema()).key(["id", "id"]),
                "listed twice",
            ),
            (
                TableSpec::builder("t", schema())
                    .key(["id"])
                    .compared(["id"]),
                "cannot be compared",
            ),
            (
                TableSpec::builder("t", schema())
                    .key(["id"])
                    .format(ChangeFormat::OperationColumn("a".into())),
                "outside the business columns",
            ),
        ];
        for (builder, needle) in cases {
            let err = builder.build().unwrap_err();
            assert!(
                matches!(&err, ScdError::InvalidSpec { table, reason }
                    if table == "t" && reason.contains(needle)),
                "{err}"
            );
        }
    }
}
