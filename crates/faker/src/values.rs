//! Writing one fake value: names, addresses, digit formats and e-mails from
//! a locale's compiled tables, drawn from the cell's own RNG.
//!
//! Every cell is generated from its own RNG seeded by `(seed, key, column,
//! version)` (see `columns.rs`), so a value can be regenerated at any time, in
//! any order, on any thread — the basis of determinism, parallelism and cheap
//! ground truth. The functions here only decide what one value looks like.

use arrow::array::StringBuilder;

use crate::FakerRng;
use crate::spec::ColumnKind;
use crate::tables::{DigitPiece, LocaleTables, Piece};

/// Version flag: the column holds NULL at this version.
pub(crate) const NULL_BIT: u32 = 1 << 31;

/// Where a value's text goes: the column being built, or a scratch string.
pub(crate) trait Sink {
    /// Append `s` to the value being written.
    fn put(&mut self, s: &str);
}

impl Sink for String {
    #[inline]
    fn put(&mut self, s: &str) {
        self.push_str(s);
    }
}

impl Sink for StringBuilder {
    #[inline]
    fn put(&mut self, s: &str) {
        // Writing to an Arrow string builder cannot fail.
        let _ = std::fmt::Write::write_str(self, s);
    }
}

/// Append the text of one word-based value.
pub(crate) fn text(t: &LocaleTables, kind: &ColumnKind, rng: &mut FakerRng, out: &mut impl Sink) {
    let d = t.data;
    match kind {
        ColumnKind::FirstName => out.put(rng.word(d.first_names)),
        ColumnKind::LastName => out.put(rng.word(d.last_names)),
        ColumnKind::State => out.put(rng.word(d.states)),
        ColumnKind::StateAbbr => out.put(rng.word(d.state_abbrs)),
        ColumnKind::Country => out.put(rng.word(d.countries)),
        ColumnKind::CountryCode => out.put(rng.word(d.country_codes)),
        ColumnKind::PostCode => numerify(rng.pick::<Vec<_>>(&t.postcodes), rng, out),
        ColumnKind::PhoneNumber => numerify(rng.pick::<Vec<_>>(&t.phones), rng, out),
        ColumnKind::Choice(values) => out.put(rng.pick::<String>(values)),
        ColumnKind::StreetAddress => street_address(t, rng, out),
        ColumnKind::City => city(t, rng, out),
        ColumnKind::Key
        | ColumnKind::Integer { .. }
        | ColumnKind::Email { .. }
        | ColumnKind::Custom(_) => unreachable!("not a word-based kind: {kind:?}"),
    }
}

/// Write a digit format, one random digit per `#`.
fn numerify(format: &[DigitPiece], rng: &mut FakerRng, out: &mut impl Sink) {
    for piece in format {
        match *piece {
            DigitPiece::Text(s) => out.put(s),
            DigitPiece::Digits(n) => {
                let mut left = n;
                while left > 0 {
                    let mut buf = [0u8; 16];
                    let take = left.min(buf.len());
                    for slot in &mut buf[..take] {
                        *slot = b'0' + rng.index(10) as u8;
                    }
                    out.put(ascii(&buf[..take]));
                    left -= take;
                }
            }
        }
    }
}

/// The text of ASCII digits written into a stack buffer.
#[inline]
fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

fn render(pieces: &[Piece], t: &LocaleTables, rng: &mut FakerRng, out: &mut impl Sink) {
    let d = t.data;
    for piece in pieces {
        match *piece {
            Piece::Text(s) => out.put(s),
            Piece::NamePart => {
                let words = if rng.index(2) == 0 {
                    d.first_names
                } else {
                    d.last_names
                };
                out.put(rng.word(words));
            }
            Piece::StreetSuffix => out.put(rng.word(d.street_suffixes)),
            Piece::CityPrefix => out.put(rng.word(d.city_prefixes)),
            Piece::CitySuffix => out.put(rng.word(d.city_suffixes)),
        }
    }
}

fn street_address(t: &LocaleTables, rng: &mut FakerRng, out: &mut impl Sink) {
    numerify(rng.pick::<Vec<_>>(&t.building_numbers), rng, out);
    out.put(" ");
    render(&t.street, t, rng, out);
}

fn city(t: &LocaleTables, rng: &mut FakerRng, out: &mut impl Sink) {
    let template = if rng.index(4) == 0 {
        &t.city_with_prefix
    } else {
        &t.city
    };
    render(template, t, rng, out);
}

/// A name in the lower-case ASCII form e-mails use: the whole name and the
/// form of its first character alone.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoweredName<'a> {
    pub(crate) word: &'a str,
    pub(crate) initial: &'a str,
}

/// `first.last`, `flast`, `first_last42` … at a free provider, ASCII only.
pub(crate) fn email(
    t: &LocaleTables,
    first: LoweredName<'_>,
    last: &str,
    rng: &mut FakerRng,
    out: &mut impl Sink,
) {
    match rng.index(5) {
        0 => {
            out.put(first.word);
            out.put(".");
            out.put(last);
        }
        1 => {
            out.put(first.initial);
            out.put(last);
        }
        2 => {
            out.put(first.word);
            out.put("_");
            out.put(last);
        }
        3 => {
            out.put(first.word);
            out.put(last);
        }
        _ => {
            out.put(first.word);
            out.put(".");
            out.put(last);
            let n = rng.index(100) as u8;
            let digits = [b'0' + n / 10, b'0' + n % 10];
            out.put(ascii(if n < 10 { &digits[1..] } else { &digits }));
        }
    }
    out.put("@");
    out.put(rng.word(t.data.email_providers));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Locale;
    use crate::tables::tables;

    #[test]
    fn numerify_replaces_every_hash() {
        let format = [
            DigitPiece::Text("("),
            DigitPiece::Digits(3),
            DigitPiece::Text(") "),
            DigitPiece::Digits(20),
        ];
        let mut out = String::new();
        numerify(&format, &mut FakerRng::from_seed(1), &mut out);
        assert_eq!(out.len(), 1 + 3 + 2 + 20, "{out}");
        assert!(out.starts_with('(') && out[6..].bytes().all(|b| b.is_ascii_digit()));
    }

    #[test]
    fn email_forms_are_lower_ascii() {
        let t = tables(Locale::En);
        let first = LoweredName {
            word: "ada",
            initial: "a",
        };
        let mut seen = std::collections::HashSet::new();
        for seed in 0..200 {
            let mut out = String::new();
            email(
                t,
                first,
                "lovelace",
                &mut FakerRng::from_seed(seed),
                &mut out,
            );
            let local = out.split('@').next().unwrap().to_string();
            assert!(local.contains("lovelace"), "{out}");
            seen.insert(
                local
                    .trim_end_matches(|c: char| c.is_ascii_digit())
                    .to_string(),
            );
        }
        for form in ["ada.lovelace", "alovelace", "ada_lovelace", "adalovelace"] {
            assert!(seen.contains(form), "{form} never generated: {seen:?}");
        }
    }
}
