//! Safe SQL text: identifiers validated and quoted, string literals escaped. Every name and
//! value that reaches rendered SQL goes through here, so none can inject SQL.

use snowdrift_warehouse::ObjectKind;
use snowdrift_warehouse::catalog::validate_identifier;

use crate::error::{Result, SnowflakeError};

/// A validated identifier, upper-cased and double-quoted — the same object an unquoted name
/// denotes in Snowflake (`customer_raw` → `"CUSTOMER_RAW"`).
///
/// ```
/// use snowdrift_snowflake::sql::ident;
/// use snowdrift_warehouse::ObjectKind;
/// assert_eq!(ident(ObjectKind::Table, "customer_raw")?, "\"CUSTOMER_RAW\"");
/// assert!(ident(ObjectKind::Table, "x\"; DROP TABLE t; --").is_err());
/// # Ok::<(), snowdrift_snowflake::SnowflakeError>(())
/// ```
///
/// # Errors
///
/// [`SnowflakeError::InvalidIdentifier`] when `name` is empty, too long, or holds anything but
/// letters, digits, `_` and `$` (so it can never break out of its quotes).
pub fn ident(kind: ObjectKind, name: &str) -> Result<String> {
    validate_identifier(kind, name).map_err(|e| SnowflakeError::InvalidIdentifier {
        kind,
        name: name.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(format!("\"{}\"", name.to_ascii_uppercase()))
}

/// [`ident`] for each of `names` (columns).
///
/// # Errors
///
/// As [`ident`], for the first name that cannot be an identifier.
pub fn idents<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>> {
    names
        .into_iter()
        .map(|n| ident(ObjectKind::Table, n))
        .collect()
}

/// A name qualified by database and schema: `"DB"."SCHEMA"."NAME"`.
///
/// # Errors
///
/// As [`ident`], for the database, the schema or the name.
pub fn qualified(database: &str, schema: &str, kind: ObjectKind, name: &str) -> Result<String> {
    Ok(format!(
        "{}.{}.{}",
        ident(ObjectKind::Table, database)?,
        ident(ObjectKind::Table, schema)?,
        ident(kind, name)?
    ))
}

/// A single-quoted string literal: `'` doubled, `\` doubled (Snowflake reads backslash
/// escapes inside single quotes).
///
/// ```
/// use snowdrift_snowflake::sql::literal;
/// assert_eq!(literal("it's"), "'it''s'");
/// assert_eq!(literal("\\N"), "'\\\\N'");
/// ```
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

/// A glob (`*`, `?`) as the regular expression Snowflake's `PATTERN` takes.
pub fn glob_to_regex(glob: &str) -> String {
    let mut regex = String::from(".*");
    for c in glob.chars() {
        match c {
            '*' => regex.push_str(".*"),
            '?' => regex.push('.'),
            c if "\\.+()[]{}^$|".contains(c) => {
                regex.push('\\');
                regex.push(c);
            }
            c => regex.push(c),
        }
    }
    regex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_cannot_carry_sql() {
        for bad in ["", "1abc", "a b", "a\"b", "a;b", "a'b", "a-b", "ä"] {
            assert!(ident(ObjectKind::Table, bad).is_err(), "{bad:?}");
        }
        assert_eq!(ident(ObjectKind::Stream, "s$1").unwrap(), "\"S$1\"");
        assert_eq!(
            qualified("db", "public", ObjectKind::Table, "t").unwrap(),
            "\"DB\".\"PUBLIC\".\"T\""
        );
    }

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(literal("a'); DROP TABLE t; --"), "'a''); DROP TABLE t; --'");
        assert_eq!(literal("c:\\x"), "'c:\\\\x'");
    }

    #[test]
    fn globs_become_anchored_regexes_over_the_path() {
        assert_eq!(glob_to_regex("*.csv"), ".*.*\\.csv");
        assert_eq!(glob_to_regex("customer_?.csv"), ".*customer_.\\.csv");
    }
}
