//! The operation words: the one list of texts an operation column may hold,
//! with the one rule for reading them (surrounding whitespace trimmed, case
//! ignored). The faker writes them, the embedded engine parses them here, and
//! the Snowflake renderer builds its `CASE` from the same lists, so one row
//! means the same on every backend.

/// What a change row asks for, as a merge sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    /// Insert the key, or update it if it exists.
    Upsert,
    /// Delete the key.
    Delete,
}

/// The operation a change row carries in an operation column, as a producer
/// writes it.
///
/// ```
/// use snowdrift_scd::{ChangeOp, Operation};
/// assert_eq!(Operation::parse("  delete "), Some(Operation::Delete));
/// assert_eq!(Operation::parse("C").map(Operation::change_op), Some(ChangeOp::Upsert));
/// assert_eq!(Operation::parse("FOO"), None);
/// assert_eq!(Operation::Update.as_str(), "UPDATE");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// A new entity, or a deleted one coming back.
    Insert,
    /// New values (or an exact re-statement) of an existing entity.
    Update,
    /// The entity is removed; the row carries its last values.
    Delete,
}

/// The characters trimmed from both ends of an operation before it is read:
/// space, tab, carriage return and line feed (Snowflake's
/// `TRIM(op, ' \t\r\n')` trims the same).
pub const OPERATION_TRIM: &[char] = &[' ', '\t', '\r', '\n'];

impl Operation {
    /// Every operation, in a fixed order.
    pub const ALL: [Operation; 3] = [Operation::Insert, Operation::Update, Operation::Delete];

    /// The text written to the operation column: `INSERT`, `UPDATE`, `DELETE`.
    pub fn as_str(self) -> &'static str {
        self.words()[0]
    }

    /// Every word read as this operation, upper case, the canonical one first.
    pub fn words(self) -> &'static [&'static str] {
        match self {
            Operation::Insert => &["INSERT", "I", "C", "CREATE"],
            Operation::Update => &["UPDATE", "U", "UPSERT", "MERGE"],
            Operation::Delete => &["DELETE", "D"],
        }
    }

    /// What a merge does with it: inserts and updates are both upserts.
    pub fn change_op(self) -> ChangeOp {
        match self {
            Operation::Insert | Operation::Update => ChangeOp::Upsert,
            Operation::Delete => ChangeOp::Delete,
        }
    }

    /// Reads an operation column's text: [`OPERATION_TRIM`] characters at
    /// either end are ignored, and so is case (Unicode upper-casing, as
    /// Snowflake's `UPPER`). `None` for any other text.
    pub fn parse(text: &str) -> Option<Self> {
        let word = text.trim_matches(OPERATION_TRIM);
        let matches = |upper: &str| Self::ALL.into_iter().find(|op| op.words().contains(&upper));
        if word.is_ascii() {
            // Every accepted word is ASCII, and Unicode upper-casing of ASCII is ASCII's: no
            // allocation per row (a merge parses one operation per change).
            return Self::ALL.into_iter().find(|op| {
                op.words()
                    .iter()
                    .any(|accepted| accepted.eq_ignore_ascii_case(word))
            });
        }
        matches(&word.to_uppercase())
    }

    /// Every accepted word, for error messages: `INSERT, I, C, …, D`.
    pub fn accepted() -> String {
        Self::ALL
            .iter()
            .flat_map(|op| op.words().iter().copied())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_reads_back_as_its_operation_in_any_case_and_padding() {
        for op in Operation::ALL {
            for word in op.words() {
                assert_eq!(Operation::parse(word), Some(op));
                assert_eq!(Operation::parse(&word.to_lowercase()), Some(op));
                assert_eq!(Operation::parse(&format!(" \t{word}\r\n")), Some(op));
            }
        }
    }

    #[test]
    fn other_texts_are_not_operations() {
        for text in ["", " ", "FOO", "INSERTED", "DEL", "I U", "\u{a0}INSERT"] {
            assert_eq!(Operation::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn non_ascii_text_is_upper_cased_as_unicode_does() {
        // U+0131, the dotless i, upper-cases to `I`, as in Snowflake's `UPPER`.
        assert_eq!(Operation::parse("\u{131}nsert"), Some(Operation::Insert));
        assert_eq!(Operation::parse("\u{131}"), Some(Operation::Insert));
        assert_eq!(Operation::parse("d\u{e9}lete"), None);
    }

    #[test]
    fn no_word_belongs_to_two_operations() {
        let mut seen = std::collections::HashSet::new();
        for op in Operation::ALL {
            for word in op.words() {
                assert!(seen.insert(*word), "{word} twice");
                assert_eq!(word.to_uppercase(), *word);
            }
        }
    }
}
