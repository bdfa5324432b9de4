//! A [`ChangePredicate`] (`APPLY AS DELETE WHEN`) as a Snowflake boolean expression over the
//! source row's columns, with the embedded engine's meaning: values compared as text
//! (`TO_VARCHAR`), SQL's three-valued logic, which is the engine's Kleene logic, and a NULL
//! result read as "not a delete" by the `CASE` around it.

use snowdrift_warehouse::{ChangePredicate, ObjectKind};

use crate::error::Result;
use crate::sql::{ident, literal};

/// The expression, unqualified column names quoted.
pub(crate) fn sql(predicate: &ChangePredicate) -> Result<String> {
    let column = |name: &str| ident(ObjectKind::Table, name);
    let joined = |all: &[ChangePredicate], op: &str, empty: &str| -> Result<String> {
        if all.is_empty() {
            return Ok(empty.into());
        }
        let parts = all.iter().map(sql).collect::<Result<Vec<_>>>()?;
        Ok(format!("({})", parts.join(&format!(" {op} "))))
    };
    Ok(match predicate {
        ChangePredicate::Equals { column: c, value } => {
            format!("TO_VARCHAR({}) = {}", column(c)?, literal(value))
        }
        ChangePredicate::In { values, .. } if values.is_empty() => "FALSE".into(),
        ChangePredicate::In { column: c, values } => format!(
            "TO_VARCHAR({}) IN ({})",
            column(c)?,
            values
                .iter()
                .map(|v| literal(v))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ChangePredicate::IsNull { column: c } => format!("{} IS NULL", column(c)?),
        ChangePredicate::And(all) => joined(all, "AND", "TRUE")?,
        ChangePredicate::Or(any) => joined(any, "OR", "FALSE")?,
        ChangePredicate::Not(p) => format!("(NOT {})", sql(p)?),
    })
}

/// The operation of a source row read without an operation column: `'UPSERT'`, or with
/// `APPLY AS DELETE WHEN` `'DELETE'` where the condition holds.
pub(crate) fn upsert_or_delete(delete_when: Option<&ChangePredicate>) -> Result<String> {
    Ok(match delete_when {
        Some(p) => format!("CASE WHEN {} THEN 'DELETE' ELSE 'UPSERT' END", sql(p)?),
        None => "'UPSERT'".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_render_as_text_comparisons_with_sql_logic() {
        let p = ChangePredicate::Or(vec![
            ChangePredicate::equals("op", "D"),
            ChangePredicate::Not(Box::new(ChangePredicate::IsNull {
                column: "gone".into(),
            })),
        ]);
        assert_eq!(
            sql(&p).unwrap(),
            "(TO_VARCHAR(\"OP\") = 'D' OR (NOT \"GONE\" IS NULL))"
        );
        assert_eq!(sql(&ChangePredicate::And(vec![])).unwrap(), "TRUE");
        assert_eq!(upsert_or_delete(None).unwrap(), "'UPSERT'");
    }
}
