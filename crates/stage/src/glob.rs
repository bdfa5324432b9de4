//! File-name patterns, `*` (any run of characters) and `?` (one character), for folder pickup
//! and for the warehouse's pipe and `COPY` patterns, matched against the whole name.

/// Whether `name` matches `pattern` (`*` any run of characters, `?` one character, the whole
/// name). Used for pickup patterns; the warehouse uses it for pipe and COPY patterns.
///
/// ```
/// assert!(snowdrift_stage::glob_matches("customer_*.csv*", "customer_1.csv.gz"));
/// assert!(!snowdrift_stage::glob_matches("*.csv", "notes.txt"));
/// ```
pub fn matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    let (mut p, mut n) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                backtrack = Some((p, n));
                p += 1;
            }
            Some(&c) if c == '?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match backtrack {
                Some((star, at)) => {
                    p = star + 1;
                    n = at + 1;
                    backtrack = Some((star, at + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_and_question_marks() {
        assert!(matches("*.csv", "customer_1.csv"));
        assert!(!matches("*.csv", "customer_1.csv.tmp"));
        assert!(matches("customer_*.csv*", "customer_1.csv.gz"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(matches("*", ""));
        assert!(matches("*a*b*", "xxaybzb"));
        assert!(!matches("*a*b", "xxaybzbc"));
    }
}
