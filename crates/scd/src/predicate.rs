//! A condition on a change row, for `APPLY AS DELETE WHEN` (Databricks AUTO
//! CDC's clause): rows it holds for are deletes, the others upserts
//! ([`crate::ChangeFormat::DeleteWhen`]). A small typed expression rather
//! than SQL text, so that the embedded engine evaluates it without a SQL
//! engine and the Snowflake backend renders it to the same meaning.
//!
//! Values are compared as text: the column is read as text the way its CSV
//! form writes it (`5`, `true`, `D`), case-sensitively. A NULL matches no
//! comparison (as in SQL, where `NULL = 'x'` is not true), only
//! [`ChangePredicate::IsNull`].

use arrow::array::{Array, BooleanArray, RecordBatch, StringArray};
use arrow::compute::kernels::boolean::{and_kleene, not, or_kleene};
use arrow::compute::{cast, is_null};
use arrow::datatypes::DataType;

use crate::{Result, ScdError};

/// A condition on a change row.
///
/// ```
/// use snowdrift_scd::ChangePredicate;
/// // DLT: APPLY AS DELETE WHEN operation = 'DELETE' OR is_deleted
/// let delete_when = ChangePredicate::Or(vec![
///     ChangePredicate::equals("operation", "DELETE"),
///     ChangePredicate::equals("is_deleted", "true"),
/// ]);
/// assert_eq!(delete_when.columns(), ["operation", "is_deleted"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ChangePredicate {
    /// `column = 'value'`, compared as text.
    Equals {
        /// The change column.
        column: String,
        /// The text it must equal.
        value: String,
    },
    /// `column IN ('a', 'b', …)`, compared as text.
    In {
        /// The change column.
        column: String,
        /// The texts it may equal.
        values: Vec<String>,
    },
    /// `column IS NULL`.
    IsNull {
        /// The change column.
        column: String,
    },
    /// Every condition holds (`AND`; true when empty).
    And(Vec<ChangePredicate>),
    /// Some condition holds (`OR`; false when empty).
    Or(Vec<ChangePredicate>),
    /// The condition does not hold (`NOT`; a NULL comparison stays not true).
    Not(Box<ChangePredicate>),
}

impl ChangePredicate {
    /// `column = 'value'`.
    pub fn equals(column: impl Into<String>, value: impl Into<String>) -> Self {
        ChangePredicate::Equals {
            column: column.into(),
            value: value.into(),
        }
    }

    /// The columns it reads, in order of first use.
    pub fn columns(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_columns(&mut out);
        out
    }

    fn collect_columns<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            ChangePredicate::Equals { column, .. }
            | ChangePredicate::In { column, .. }
            | ChangePredicate::IsNull { column } => {
                if !out.contains(&column.as_str()) {
                    out.push(column);
                }
            }
            ChangePredicate::And(all) | ChangePredicate::Or(all) => {
                all.iter().for_each(|p| p.collect_columns(out));
            }
            ChangePredicate::Not(p) => p.collect_columns(out),
        }
    }

    /// Whether it holds for each row of `batch` (a NULL result is false).
    ///
    /// # Errors
    ///
    /// [`ScdError::MissingColumn`] naming `table` when `batch` lacks a column
    /// it reads; [`ScdError::Arrow`] when a column cannot be read as text.
    pub fn evaluate(&self, table: &str, batch: &RecordBatch) -> Result<Vec<bool>> {
        let holds = self.kleene(table, batch)?;
        Ok((0..holds.len())
            .map(|r| holds.is_valid(r) && holds.value(r))
            .collect())
    }

    /// Three-valued: NULL where a comparison meets a NULL.
    fn kleene(&self, table: &str, batch: &RecordBatch) -> Result<BooleanArray> {
        let n = batch.num_rows();
        Ok(match self {
            ChangePredicate::Equals { column, value } => {
                compare(&text(table, batch, column)?, |v| v == value)
            }
            ChangePredicate::In { column, values } => compare(&text(table, batch, column)?, |v| {
                values.iter().any(|x| x == v)
            }),
            ChangePredicate::IsNull { column } => is_null(present(table, batch, column)?)?,
            ChangePredicate::And(all) => {
                let mut acc = BooleanArray::from(vec![true; n]);
                for p in all {
                    acc = and_kleene(&acc, &p.kleene(table, batch)?)?;
                }
                acc
            }
            ChangePredicate::Or(any) => {
                let mut acc = BooleanArray::from(vec![false; n]);
                for p in any {
                    acc = or_kleene(&acc, &p.kleene(table, batch)?)?;
                }
                acc
            }
            ChangePredicate::Not(p) => not(&p.kleene(table, batch)?)?,
        })
    }
}

fn present<'a>(table: &str, batch: &'a RecordBatch, column: &str) -> Result<&'a dyn Array> {
    batch
        .column_by_name(column)
        .map(|c| c.as_ref())
        .ok_or_else(|| ScdError::MissingColumn {
            table: table.to_string(),
            column: column.to_string(),
        })
}

fn text(table: &str, batch: &RecordBatch, column: &str) -> Result<StringArray> {
    let as_text = cast(present(table, batch, column)?, &DataType::Utf8)?;
    Ok(as_text
        .as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .unwrap_or_else(|| StringArray::new_null(as_text.len())))
}

fn compare(values: &StringArray, matches: impl Fn(&str) -> bool) -> BooleanArray {
    values.iter().map(|v| v.map(&matches)).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray};

    use super::*;

    fn batch() -> RecordBatch {
        RecordBatch::try_from_iter([
            (
                "op",
                Arc::new(StringArray::from(vec![Some("D"), Some("U"), None])) as ArrayRef,
            ),
            (
                "gone",
                Arc::new(BooleanArray::from(vec![Some(false), Some(true), None])) as ArrayRef,
            ),
            ("n", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef),
        ])
        .unwrap()
    }

    #[test]
    fn comparisons_read_values_as_text_and_nulls_match_nothing() {
        let b = batch();
        let eval = |p: ChangePredicate| p.evaluate("t", &b).unwrap();
        assert_eq!(
            eval(ChangePredicate::equals("op", "D")),
            [true, false, false]
        );
        assert_eq!(
            eval(ChangePredicate::equals("gone", "true")),
            [false, true, false]
        );
        let in_ = ChangePredicate::In {
            column: "n".into(),
            values: vec!["1".into(), "3".into()],
        };
        assert_eq!(eval(in_), [true, false, true]);
        let null = ChangePredicate::IsNull {
            column: "op".into(),
        };
        assert_eq!(eval(null), [false, false, true]);
        // NOT of a NULL comparison is still not true.
        let not_d = ChangePredicate::Not(Box::new(ChangePredicate::equals("op", "D")));
        assert_eq!(eval(not_d), [false, true, false]);
    }

    #[test]
    fn and_or_combine_three_valued_and_a_missing_column_is_named() {
        let b = batch();
        let either = ChangePredicate::Or(vec![
            ChangePredicate::equals("op", "D"),
            ChangePredicate::equals("gone", "true"),
        ]);
        assert_eq!(either.evaluate("t", &b).unwrap(), [true, true, false]);
        let both = ChangePredicate::And(vec![
            ChangePredicate::equals("n", "2"),
            ChangePredicate::equals("gone", "true"),
        ]);
        assert_eq!(both.evaluate("t", &b).unwrap(), [false, true, false]);
        let err = ChangePredicate::equals("nope", "x")
            .evaluate("t", &b)
            .unwrap_err();
        assert!(matches!(err, ScdError::MissingColumn { .. }), "{err}");
    }
}
