//! Snowflake's SQL, turned into what DataFusion plans: rewrites of the parsed statement before
//! it is planned. Each rewrite is one Snowflake rule:
//!
//! - **Identifiers.** Unquoted identifiers are case-insensitive (DataFusion folds them to
//!   lower case, the case the warehouse stores names in). Snowflake folds them to upper case,
//!   so a quoted identifier in upper case (`"CUSTOMER_ID"`) names the same column as an
//!   unquoted one there: here it is folded to lower case too. Other quoted column names are
//!   exact. Object names (tables, streams) are case-insensitive in the warehouse, quoted or
//!   not.
//! - **`TIMESTAMP_NTZ`** casts (`x::timestamp_ntz`) become `TIMESTAMP` (no time zone).
//! - **Dates beyond 2262** in string literals (`end_time = '9999-12-31'`, the open end of
//!   history) become microsecond timestamps: DataFusion turns a string compared with a
//!   timestamp into nanoseconds, which end in 2262.
//! - **Date parts** given as bare words (`timestampdiff(second, a, b)`) become strings for
//!   the functions in `functions`.
//! - **`TABLE(information_schema.task_history(…))`** and `copy_history(…)` become the metadata
//!   views, their named arguments filters on them.
//!
//! System functions (`SYSTEM$PIPE_STATUS`) need the warehouse, so `session` evaluates them
//! with [`system_calls`] and [`replace_system_calls`].

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectName,
    ObjectNamePart, Statement, TableFactor, TimezoneInfo, Value, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::SnowflakeDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::error::{Result, SqlError};

/// Functions whose first argument is a date part.
const DATE_PART_FUNCTIONS: [&str; 4] = ["timestampdiff", "datediff", "timestampadd", "dateadd"];

/// Applies every rewrite to `statement`.
pub(crate) fn rewrite(statement: &mut Statement) -> Result<()> {
    let mut rewriter = Rewriter { error: None };
    let _ = statement.visit(&mut rewriter);
    match rewriter.error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// `ident` as Snowflake resolves it, in the warehouse's lower case.
pub(crate) fn fold(ident: &mut Ident) {
    let upper_quoted = ident.quote_style == Some('"')
        && ident.value.chars().any(char::is_alphabetic)
        && ident.value == ident.value.to_uppercase();
    if upper_quoted {
        ident.value = ident.value.to_lowercase();
    }
}

/// The name an identifier resolves to (lower case unless quoted in mixed or lower case).
pub(crate) fn resolve(ident: &Ident) -> String {
    let mut ident = ident.clone();
    fold(&mut ident);
    if ident.quote_style.is_some() {
        ident.value
    } else {
        ident.value.to_lowercase()
    }
}

/// The last part of an object name, resolved (`db.schema.t` → `t`).
pub(crate) fn object_name(name: &ObjectName) -> Option<String> {
    match name.0.last()? {
        ObjectNamePart::Identifier(ident) => Some(resolve(ident)),
        ObjectNamePart::Function(_) => None,
    }
}

struct Rewriter {
    error: Option<SqlError>,
}

impl VisitorMut for Rewriter {
    type Break = ();

    fn pre_visit_relation(&mut self, relation: &mut ObjectName) -> ControlFlow<()> {
        for part in &mut relation.0 {
            if let ObjectNamePart::Identifier(ident) = part {
                ident.value = ident.value.to_lowercase();
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::TableFunction { expr, alias } = factor {
            match metadata_function(expr) {
                Ok(Some(subquery)) => {
                    *factor = TableFactor::Derived {
                        lateral: false,
                        subquery: Box::new(subquery),
                        alias: alias.take(),
                        sample: None,
                    };
                }
                Ok(None) => {}
                Err(error) => {
                    self.error = Some(error);
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::Identifier(ident) => fold(ident),
            Expr::CompoundIdentifier(idents) => idents.iter_mut().for_each(fold),
            Expr::Value(value) => {
                if let Value::SingleQuotedString(text) = &value.value
                    && beyond_nanoseconds(text)
                {
                    *expr = micros_literal(text);
                }
            }
            Expr::Cast { data_type, .. } => {
                if let DataType::TimestampNtz(precision) = data_type {
                    *data_type = DataType::Timestamp(*precision, TimezoneInfo::None);
                }
            }
            Expr::Function(function) => {
                let name = function_name(&function.name);
                if DATE_PART_FUNCTIONS.contains(&name.as_str())
                    && let FunctionArguments::List(list) = &mut function.args
                    && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(first))) =
                        list.args.first_mut()
                    && let Expr::Identifier(part) = first
                    && part.quote_style.is_none()
                {
                    *first = Expr::value(Value::SingleQuotedString(part.value.to_lowercase()));
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// Whether `text` is a date or time that nanoseconds since 1970 cannot hold.
fn beyond_nanoseconds(text: &str) -> bool {
    let date = text.get(..10).unwrap_or(text);
    let Ok(date) = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d") else {
        return false;
    };
    let rest = &text[text.len().min(10)..];
    let time_like = rest.is_empty() || rest.starts_with([' ', 'T']);
    time_like && !(1678..=2261).contains(&chrono::Datelike::year(&date))
}

/// `text` as a microsecond timestamp literal.
fn micros_literal(text: &str) -> Expr {
    let sql = format!(
        "arrow_cast('{}', 'Timestamp(Microsecond, None)')",
        text.replace('\'', "''")
    );
    Parser::new(&SnowflakeDialect {})
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_expr())
        .unwrap_or_else(|_| Expr::value(Value::SingleQuotedString(text.to_owned())))
}

/// A function's name in lower case, schema parts joined with dots.
pub(crate) fn function_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => ident.value.to_lowercase(),
            ObjectNamePart::Function(f) => f.name.value.to_lowercase(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The query a `TABLE(information_schema.<view>(…))` stands for, when it is one.
fn metadata_function(expr: &Expr) -> Result<Option<datafusion::sql::sqlparser::ast::Query>> {
    let Expr::Function(function) = expr else {
        return Ok(None);
    };
    let name = function_name(&function.name);
    let view = match name.rsplit('.').next() {
        Some(view @ ("task_history" | "copy_history")) => view,
        _ => return Ok(None),
    };
    let mut filters = Vec::new();
    let mut limit = None;
    if let FunctionArguments::List(list) = &function.args {
        for arg in &list.args {
            let FunctionArg::Named { name, arg, .. } = arg else {
                return Err(invalid(view, "arguments are named: NAME => value".into()));
            };
            let FunctionArgExpr::Expr(value) = arg else {
                return Err(invalid(view, format!("{name} needs a value")));
            };
            match (view, name.value.to_lowercase().as_str()) {
                ("task_history", "task_name") => {
                    filters.push(format!("upper(name) = upper({value})"))
                }
                ("task_history", "result_limit") => limit = Some(value.to_string()),
                ("copy_history", "table_name") => {
                    filters.push(format!("upper(table_name) = upper({value})"));
                }
                (_, other) => {
                    let known = if view == "task_history" {
                        "TASK_NAME and RESULT_LIMIT"
                    } else {
                        "TABLE_NAME"
                    };
                    return Err(invalid(
                        view,
                        format!(
                            "argument {other} is not supported (supported: {known}; filter other columns with WHERE)"
                        ),
                    ));
                }
            }
        }
    }
    let mut sql = format!("SELECT * FROM information_schema.{view}");
    if !filters.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&filters.join(" AND "));
    }
    if let Some(limit) = limit {
        sql.push_str(" LIMIT ");
        sql.push_str(&limit);
    }
    let statement = Parser::parse_sql(&SnowflakeDialect {}, &sql)
        .map_err(|e| invalid(view, e.to_string()))?
        .pop();
    match statement {
        Some(Statement::Query(query)) => Ok(Some(*query)),
        _ => Err(invalid(view, "its arguments do not form a query".into())),
    }
}

fn invalid(view: &str, reason: String) -> SqlError {
    SqlError::InvalidArgument {
        function: format!("information_schema.{view}"),
        reason,
    }
}

/// A call of a system function with a constant argument.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SystemCall {
    /// `system$pipe_status`, `system$stream_has_data` or `system$wait`.
    pub(crate) function: String,
    /// Its arguments, as text.
    pub(crate) arguments: Vec<String>,
}

/// The system function calls in `statement`.
pub(crate) fn system_calls(statement: &mut Statement) -> Result<Vec<SystemCall>> {
    let mut calls = Vec::new();
    let mut error = None;
    let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(statement, |expr| {
        match system_call(expr) {
            Ok(Some(call)) if !calls.contains(&call) => calls.push(call),
            Ok(_) => {}
            Err(e) => {
                error = Some(e);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    match error {
        Some(error) => Err(error),
        None => Ok(calls),
    }
}

/// Replaces each system call in `statement` by its value.
pub(crate) fn replace_system_calls(statement: &mut Statement, values: &[(SystemCall, Value)]) {
    let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(statement, |expr| {
        if let Ok(Some(call)) = system_call(expr)
            && let Some((_, value)) = values.iter().find(|(c, _)| *c == call)
        {
            *expr = Expr::value(value.clone());
        }
        ControlFlow::<()>::Continue(())
    });
}

fn system_call(expr: &Expr) -> Result<Option<SystemCall>> {
    let Expr::Function(function) = expr else {
        return Ok(None);
    };
    let name = function_name(&function.name);
    if !name.starts_with("system$") {
        return Ok(None);
    }
    let arguments = literal_arguments(&function.args);
    let valid = match name.as_str() {
        "system$pipe_status" | "system$stream_has_data" => {
            matches!(arguments.as_deref(), Some([Literal::Text(_)]))
        }
        "system$wait" => matches!(
            arguments.as_deref(),
            Some([Literal::Number(_)] | [Literal::Number(_), Literal::Text(_)])
        ),
        _ => {
            return Err(SqlError::unsupported(
                format!("the system function {}", name.to_uppercase()),
                "Supported: SYSTEM$PIPE_STATUS('<pipe>'), SYSTEM$STREAM_HAS_DATA('<stream>') and SYSTEM$WAIT(<amount> [, '<unit>']).",
            ));
        }
    };
    let (true, Some(arguments)) = (valid, arguments) else {
        let reason = if name == "system$wait" {
            "takes a number and optionally a time unit ('SECONDS', 'MILLISECONDS', 'MINUTES', 'HOURS')"
        } else {
            "takes one string literal, the object's name"
        };
        return Err(SqlError::InvalidArgument {
            function: name.to_uppercase(),
            reason: reason.into(),
        });
    };
    Ok(Some(SystemCall {
        function: name,
        arguments: arguments.into_iter().map(Literal::into_text).collect(),
    }))
}

/// A constant argument.
enum Literal {
    Text(String),
    Number(String),
}

impl Literal {
    fn into_text(self) -> String {
        match self {
            Literal::Text(t) | Literal::Number(t) => t,
        }
    }
}

/// The arguments of a call when every one is a string or number literal.
fn literal_arguments(args: &FunctionArguments) -> Option<Vec<Literal>> {
    let FunctionArguments::List(list) = args else {
        return Some(Vec::new());
    };
    list.args
        .iter()
        .map(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v))) => match &v.value {
                Value::SingleQuotedString(s) => Some(Literal::Text(s.clone())),
                Value::Number(n, _) => Some(Literal::Number(n.clone())),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut statement = Parser::parse_sql(&SnowflakeDialect {}, sql)
            .unwrap()
            .pop()
            .unwrap();
        rewrite(&mut statement).unwrap();
        statement.to_string()
    }

    #[test]
    fn quoted_upper_case_names_fold_like_unquoted_ones() {
        assert_eq!(
            rewritten(r#"SELECT "CUSTOMER_ID", "Mixed", x FROM "CUSTOMER""#),
            r#"SELECT "customer_id", "Mixed", x FROM "customer""#
        );
    }

    #[test]
    fn timestamp_ntz_casts_and_date_parts_are_rewritten() {
        assert_eq!(
            rewritten("SELECT current_timestamp()::timestamp_ntz, timestampdiff(second, a, b)"),
            "SELECT current_timestamp()::TIMESTAMP, timestampdiff('second', a, b)"
        );
    }

    #[test]
    fn dates_beyond_nanoseconds_become_microsecond_timestamps() {
        assert_eq!(
            rewritten(
                "SELECT * FROM h WHERE end_time = '9999-12-31' OR x = '2024-01-01' OR y = 'abc'"
            ),
            "SELECT * FROM h WHERE end_time = arrow_cast('9999-12-31', 'Timestamp(Microsecond, None)') OR x = '2024-01-01' OR y = 'abc'"
        );
        assert!(beyond_nanoseconds("9999-12-31 00:00:00"));
        assert!(!beyond_nanoseconds("9999-12-31x"));
    }

    #[test]
    fn table_functions_of_the_information_schema_become_views() {
        let sql = rewritten(
            "select * from table(information_schema.task_history(task_name => 't', result_limit => 5)) h",
        );
        assert_eq!(
            sql,
            "SELECT * FROM (SELECT * FROM information_schema.task_history WHERE upper(name) = upper('t') LIMIT 5) h"
        );
        let mut statement = Parser::parse_sql(
            &SnowflakeDialect {},
            "select * from table(information_schema.task_history(scheduled_time_range_start => 1))",
        )
        .unwrap()
        .pop()
        .unwrap();
        assert!(matches!(
            rewrite(&mut statement),
            Err(SqlError::InvalidArgument { .. })
        ));
    }

    #[test]
    fn system_calls_are_found_and_replaced() {
        let mut statement = Parser::parse_sql(
            &SnowflakeDialect {},
            "select system$stream_has_data('s'), SYSTEM$PIPE_STATUS('p')",
        )
        .unwrap()
        .pop()
        .unwrap();
        let calls = system_calls(&mut statement).unwrap();
        assert_eq!(calls.len(), 2);
        let values: Vec<(SystemCall, Value)> = calls
            .into_iter()
            .map(|c| (c, Value::Boolean(true)))
            .collect();
        replace_system_calls(&mut statement, &values);
        assert_eq!(statement.to_string(), "SELECT true, true");
    }
}
