//! Writing one fake value: names, addresses, digit formats and e-mails from
//! a locale's compiled tables, drawn from the cell's own RNG.
//!
//! Every cell is generated from its own RNG seeded by `(seed, key, column,
//! version)` (see `columns.rs`), so a value can be regenerated at any time, in
//! any order, on any thread — the basis of determinism, parallelism and cheap
//! ground truth. The functions here only decide what one value looks like.

use crate::FakerRng;
use crate::buffer::Sink;
use crate::locale_data::{DigitPiece, LocaleTables, Piece, WordRef, Words};
use crate::spec::ColumnKind;

/// Version flag: the column holds NULL at this version.
pub(crate) const NULL_BIT: u32 = 1 << 31;

/// Write a uniformly drawn word of `words`.
#[inline]
fn put_any(words: &Words, rng: &mut FakerRng, out: &mut impl Sink) {
    out.put_word(words, words.get(rng.index(words.len())));
}

/// Append the text of one word-based value.
pub(crate) fn text(t: &LocaleTables, kind: &ColumnKind, rng: &mut FakerRng, out: &mut impl Sink) {
    match kind {
        ColumnKind::FirstName => put_any(&t.first_names, rng, out),
        ColumnKind::LastName => put_any(&t.last_names, rng, out),
        ColumnKind::State => put_any(&t.states, rng, out),
        ColumnKind::StateAbbr => put_any(&t.state_abbrs, rng, out),
        ColumnKind::Country => put_any(&t.countries, rng, out),
        ColumnKind::CountryCode => put_any(&t.country_codes, rng, out),
        ColumnKind::PostCode => numerify(t, rng.pick::<Vec<_>>(&t.postcodes), rng, out),
        ColumnKind::PhoneNumber => numerify(t, rng.pick::<Vec<_>>(&t.phones), rng, out),
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
fn numerify(t: &LocaleTables, format: &[DigitPiece], rng: &mut FakerRng, out: &mut impl Sink) {
    for piece in format {
        match *piece {
            DigitPiece::Text(w) => out.put_word(&t.literals, w),
            DigitPiece::Digits(n) => {
                for _ in 0..n {
                    out.put_word(&t.literals, t.digits[rng.index(10)]);
                }
            }
        }
    }
}

fn render(pieces: &[Piece], t: &LocaleTables, rng: &mut FakerRng, out: &mut impl Sink) {
    for piece in pieces {
        match *piece {
            Piece::Text(w) => out.put_word(&t.literals, w),
            Piece::NamePart => {
                let words = if rng.index(2) == 0 {
                    &t.first_names
                } else {
                    &t.last_names
                };
                put_any(words, rng, out);
            }
            Piece::StreetSuffix => put_any(&t.street_suffixes, rng, out),
            Piece::CityPrefix => put_any(&t.city_prefixes, rng, out),
            Piece::CitySuffix => put_any(&t.city_suffixes, rng, out),
        }
    }
}

fn street_address(t: &LocaleTables, rng: &mut FakerRng, out: &mut impl Sink) {
    numerify(t, rng.pick::<Vec<_>>(&t.building_numbers), rng, out);
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

/// Text that is either a word of a list or a scratch string.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Text<'a> {
    /// A word of a word list.
    Word(&'a Words, WordRef),
    /// Any other text.
    Str(&'a str),
}

impl Text<'_> {
    #[inline]
    fn put(self, out: &mut impl Sink) {
        match self {
            Text::Word(words, w) => out.put_word(words, w),
            Text::Str(s) => out.put(s),
        }
    }
}

/// A name in the lower-case ASCII form e-mails use: the whole name and the
/// form of its first character alone.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoweredName<'a> {
    pub(crate) word: Text<'a>,
    pub(crate) initial: Text<'a>,
}

/// `first.last`, `flast`, `first_last42` … at a free provider, ASCII only.
pub(crate) fn email(
    t: &LocaleTables,
    first: LoweredName<'_>,
    last: Text<'_>,
    rng: &mut FakerRng,
    out: &mut impl Sink,
) {
    // first.last, flast, first_last, firstlast, first.last42
    let form = rng.index(5);
    let (first_part, separator) = match form {
        0 | 4 => (first.word, "."),
        1 => (first.initial, ""),
        2 => (first.word, "_"),
        _ => (first.word, ""),
    };
    first_part.put(out);
    out.put(separator);
    last.put(out);
    if form == 4 {
        let n = rng.index(100);
        if n >= 10 {
            out.put_word(&t.literals, t.digits[n / 10]);
        }
        out.put_word(&t.literals, t.digits[n % 10]);
    }
    out.put("@");
    put_any(&t.email_providers, rng, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Locale;
    use crate::locale_data::tables;

    #[test]
    fn numerify_replaces_every_hash() {
        let t = tables(Locale::En);
        let format = [DigitPiece::Digits(3), DigitPiece::Digits(20)];
        let mut out = String::new();
        numerify(t, &format, &mut FakerRng::from_seed(1), &mut out);
        assert_eq!(out.len(), 3 + 20, "{out}");
        assert!(out.bytes().all(|b| b.is_ascii_digit()), "{out}");
    }

    #[test]
    fn email_forms_are_lower_ascii() {
        let t = tables(Locale::En);
        let first = LoweredName {
            word: Text::Str("ada"),
            initial: Text::Str("a"),
        };
        let mut seen = std::collections::HashSet::new();
        for seed in 0..200 {
            let mut out = String::new();
            email(
                t,
                first,
                Text::Str("lovelace"),
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
