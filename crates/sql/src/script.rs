//! Scripts: the statements of a text, split at the semicolons outside quotes and comments, as
//! a Snowflake worksheet runs them. The split is done on sqlparser's tokens so a `;` inside
//! a string literal or a comment never ends a statement.

use datafusion::sql::sqlparser::dialect::SnowflakeDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::error::{Result, SqlError};

/// A script cut into statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statements {
    /// Complete statements (each ended by `;` in the text), without the `;`, trimmed.
    pub complete: Vec<String>,
    /// What follows the last `;`, trimmed: an unfinished statement, or empty.
    pub rest: String,
}

/// Splits `text` into statements.
///
/// ```
/// let s = snowdrift_sql::split_statements("select 1; select ';' -- a; comment\n; sel")?;
/// assert_eq!(s.complete, ["select 1", "select ';' -- a; comment"]);
/// assert_eq!(s.rest, "sel");
/// # Ok::<(), snowdrift_sql::SqlError>(())
/// ```
///
/// # Errors
///
/// [`SqlError::Parse`] when the text cannot be tokenized (an unterminated string literal or
/// quoted identifier).
pub fn split_statements(text: &str) -> Result<Statements> {
    let tokens = Tokenizer::new(&SnowflakeDialect {}, text)
        .tokenize()
        .map_err(|e| SqlError::Parse {
            message: e.to_string(),
        })?;
    let mut complete = Vec::new();
    let mut current = String::new();
    for token in tokens {
        if token == Token::SemiColon {
            let statement = current.trim();
            if !statement.is_empty() {
                complete.push(statement.to_owned());
            }
            current.clear();
        } else {
            current.push_str(&token.to_string());
        }
    }
    Ok(Statements {
        complete,
        rest: current.trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_statements_and_trailing_text_are_told_apart() {
        let s = split_statements(";;  select 1 ;\n").unwrap();
        assert_eq!(s.complete, ["select 1"]);
        assert_eq!(s.rest, "");
        let s = split_statements("select 'a;b'").unwrap();
        assert!(s.complete.is_empty());
        assert_eq!(s.rest, "select 'a;b'");
    }

    #[test]
    fn an_unterminated_string_is_a_parse_error() {
        assert!(matches!(
            split_statements("select 'abc;"),
            Err(SqlError::Parse { .. })
        ));
    }
}
