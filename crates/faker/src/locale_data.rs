//! Per-locale tables compiled once from the `fake` crate's data, so that
//! generating a value does no parsing: templates split into pieces, digit
//! formats split into literal text and runs of digits, and the lower-case
//! ASCII forms of first and last names that e-mail addresses are built from.

use std::sync::LazyLock;

use crate::Locale;
use crate::locale::LocaleData;

/// Bytes copied at once when a short word is written (see [`Words`]).
pub(crate) const WORD_CHUNK: usize = 16;

/// A word of a [`Words`] list: where it starts and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WordRef {
    start: u32,
    len: u32,
}

/// A word list stored end to end in one buffer with [`WORD_CHUNK`] bytes of
/// padding after the last word, so that a short word can be written with one
/// fixed-size copy (see `TextBuffer::put_word`) instead of a `memcpy` call.
#[derive(Debug, Default)]
pub(crate) struct Words {
    text: String,
    words: Vec<WordRef>,
    /// Per word, the length of its first character's form (lowered lists).
    initials: Vec<u32>,
}

impl Words {
    fn new<S: AsRef<str>>(list: &[S]) -> Self {
        let mut words = Self::default();
        for w in list {
            words.push(w.as_ref());
        }
        words.pad();
        words
    }

    /// The lower-case ASCII forms of `list` (see [`push_ascii_lower`]), with
    /// the form of each word's first character for `flast`-style e-mails.
    fn lowered(list: &[&str]) -> Self {
        let mut words = Self::default();
        for word in list {
            let start = words.text.len();
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                push_ascii_lower(first.encode_utf8(&mut [0; 4]), &mut words.text);
            }
            words.initials.push((words.text.len() - start) as u32);
            push_ascii_lower(chars.as_str(), &mut words.text);
            words.words.push(WordRef {
                start: start as u32,
                len: (words.text.len() - start) as u32,
            });
        }
        words.pad();
        words
    }

    /// Append a word (before [`Words::pad`]) and return it.
    fn push(&mut self, word: &str) -> WordRef {
        let w = WordRef {
            start: self.text.len() as u32,
            len: word.len() as u32,
        };
        self.text.push_str(word);
        self.words.push(w);
        w
    }

    fn pad(&mut self) {
        self.text.extend(std::iter::repeat_n(' ', WORD_CHUNK));
    }

    /// Number of words.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.words.len()
    }

    /// The `i`-th word.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> WordRef {
        self.words[i]
    }

    /// The form of the `i`-th word's first character (lowered lists only).
    #[inline]
    pub(crate) fn initial(&self, i: usize) -> WordRef {
        WordRef {
            start: self.words[i].start,
            len: self.initials[i],
        }
    }

    /// The text of a word.
    #[inline]
    pub(crate) fn text(&self, w: WordRef) -> &str {
        &self.text[w.start as usize..(w.start + w.len) as usize]
    }

    /// The bytes from a word's start: its text, then at least
    /// [`WORD_CHUNK`] bytes more (the next words or the padding).
    #[inline]
    pub(crate) fn padded(&self, w: WordRef) -> (&[u8], usize) {
        (&self.text.as_bytes()[w.start as usize..], w.len as usize)
    }
}

/// One piece of an address template such as `{CityPrefix} {CityName}{CitySuffix}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Literal text between placeholders, in the tables' literals.
    Text(WordRef),
    /// A first or last name (`{StreetName}`, `{CityName}`).
    NamePart,
    /// `{StreetSuffix}`.
    StreetSuffix,
    /// `{CityPrefix}`.
    CityPrefix,
    /// `{CitySuffix}`.
    CitySuffix,
}

/// One piece of a digit format such as `(###) ###-####`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DigitPiece {
    /// Literal text, in the tables' literals.
    Text(WordRef),
    /// This many random digits (one `#` each).
    Digits(usize),
}

/// Everything the generator needs of one locale.
#[derive(Debug)]
pub(crate) struct LocaleTables {
    pub(crate) first_names: Words,
    pub(crate) last_names: Words,
    pub(crate) first_lower: Words,
    pub(crate) last_lower: Words,
    pub(crate) city_prefixes: Words,
    pub(crate) city_suffixes: Words,
    pub(crate) street_suffixes: Words,
    pub(crate) states: Words,
    pub(crate) state_abbrs: Words,
    pub(crate) countries: Words,
    pub(crate) country_codes: Words,
    pub(crate) email_providers: Words,
    /// Literal text of templates and digit formats, and the ten digits.
    pub(crate) literals: Words,
    pub(crate) digits: [WordRef; 10],
    pub(crate) street: Vec<Piece>,
    pub(crate) city: Vec<Piece>,
    pub(crate) city_with_prefix: Vec<Piece>,
    pub(crate) building_numbers: Vec<Vec<DigitPiece>>,
    pub(crate) postcodes: Vec<Vec<DigitPiece>>,
    pub(crate) phones: Vec<Vec<DigitPiece>>,
}

impl LocaleTables {
    fn compile(d: &'static LocaleData) -> Self {
        let mut literals = Words::default();
        let digits = std::array::from_fn(|i| literals.push(&i.to_string()));
        let mut formats = |list: &[&str]| -> Vec<Vec<DigitPiece>> {
            list.iter()
                .map(|f| digit_format(f, &mut literals))
                .collect()
        };
        let building_numbers = formats(d.building_number_formats);
        let postcodes = formats(d.postcode_formats);
        let phones = formats(d.phone_formats);
        let street = template(d.street_template, &mut literals);
        let city = template(d.city_template, &mut literals);
        let city_with_prefix = template(d.city_with_prefix_template, &mut literals);
        literals.pad();
        Self {
            first_names: Words::new(d.first_names),
            last_names: Words::new(d.last_names),
            first_lower: Words::lowered(d.first_names),
            last_lower: Words::lowered(d.last_names),
            city_prefixes: Words::new(d.city_prefixes),
            city_suffixes: Words::new(d.city_suffixes),
            street_suffixes: Words::new(d.street_suffixes),
            states: Words::new(d.states),
            state_abbrs: Words::new(d.state_abbrs),
            countries: Words::new(d.countries),
            country_codes: Words::new(d.country_codes),
            email_providers: Words::new(d.email_providers),
            literals,
            digits,
            street,
            city,
            city_with_prefix,
            building_numbers,
            postcodes,
            phones,
        }
    }
}

/// Every locale's tables, in the order of [`Locale::ALL`] (compiled together
/// on first use, then shared).
static TABLES: LazyLock<Vec<LocaleTables>> = LazyLock::new(|| {
    Locale::ALL
        .iter()
        .map(|l| LocaleTables::compile(l.data()))
        .collect()
});

/// The compiled tables of `locale`.
pub(crate) fn tables(locale: Locale) -> &'static LocaleTables {
    let index = Locale::ALL
        .iter()
        .position(|&l| l == locale)
        .expect("Locale::ALL lists every locale");
    &TABLES[index]
}

/// Split a `{Placeholder}` template into pieces. Unknown placeholders render
/// as nothing; an unclosed `{` is kept as text.
fn template(template: &str, literals: &mut Words) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        if open > 0 {
            pieces.push(Piece::Text(literals.push(&rest[..open])));
        }
        let piece = match &rest[open + 1..open + close] {
            "StreetName" | "CityName" => Some(Piece::NamePart),
            "StreetSuffix" => Some(Piece::StreetSuffix),
            "CityPrefix" => Some(Piece::CityPrefix),
            "CitySuffix" => Some(Piece::CitySuffix),
            _ => None,
        };
        pieces.extend(piece);
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(literals.push(rest)));
    }
    pieces
}

/// Split a format in which each `#` stands for a random digit.
fn digit_format(format: &str, literals: &mut Words) -> Vec<DigitPiece> {
    let mut pieces = Vec::new();
    let mut rest = format;
    while !rest.is_empty() {
        let hashes = rest.len() - rest.trim_start_matches('#').len();
        if hashes > 0 {
            pieces.push(DigitPiece::Digits(hashes));
            rest = &rest[hashes..];
        } else {
            let text = rest.find('#').unwrap_or(rest.len());
            pieces.push(DigitPiece::Text(literals.push(&rest[..text])));
            rest = &rest[text..];
        }
    }
    pieces
}

/// Lower-case ASCII transliteration keeping only letters and digits.
pub(crate) fn push_ascii_lower(s: &str, out: &mut String) {
    if s.is_ascii() {
        out.extend(
            s.bytes()
                .filter(u8::is_ascii_alphanumeric)
                .map(|b| char::from(b.to_ascii_lowercase())),
        );
        return;
    }
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !c.is_ascii() {
            for t in deunicode::deunicode_char(c).unwrap_or("").chars() {
                if t.is_ascii_alphanumeric() {
                    out.push(t.to_ascii_lowercase());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(pieces: &[Piece], literals: &Words) -> Vec<String> {
        pieces
            .iter()
            .map(|p| match *p {
                Piece::Text(w) => format!("'{}'", literals.text(w)),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn templates_split_into_pieces() {
        let mut lit = Words::default();
        let city = template("{CityPrefix} {CityName}{CitySuffix}", &mut lit);
        assert_eq!(
            texts(&city, &lit),
            ["CityPrefix", "' '", "NamePart", "CitySuffix"]
        );
        let other = template("a {X} b {StreetName}", &mut lit);
        assert_eq!(texts(&other, &lit), ["'a '", "' b '", "NamePart"]);
        assert_eq!(texts(&template("open {", &mut lit), &lit), ["'open {'"]);
    }

    #[test]
    fn digit_formats_split_into_runs() {
        let mut lit = Words::default();
        let pieces = digit_format("(###) ###-####", &mut lit);
        let shown: Vec<String> = pieces
            .iter()
            .map(|p| match *p {
                DigitPiece::Text(w) => lit.text(w).to_string(),
                DigitPiece::Digits(n) => n.to_string(),
            })
            .collect();
        assert_eq!(shown, ["(", "3", ") ", "3", "-", "4"]);
        assert_eq!(digit_format("#####", &mut lit), [DigitPiece::Digits(5)]);
    }

    #[test]
    fn lowered_words_keep_initial_and_word() {
        let words = Words::lowered(&["Élodie", "O'Neil", "Æsa", "'x"]);
        let pair = |i| (words.text(words.get(i)), words.text(words.initial(i)));
        assert_eq!(pair(0), ("elodie", "e"));
        assert_eq!(pair(1), ("oneil", "o"));
        assert_eq!(pair(2), ("aesa", "ae"));
        assert_eq!(pair(3), ("x", ""));
    }

    #[test]
    fn every_word_has_a_full_chunk_after_its_start() {
        let words = Words::new(&["a", "bb", "a much longer word than a chunk"]);
        for i in 0..words.len() {
            let (bytes, len) = words.padded(words.get(i));
            assert!(bytes.len() >= len + WORD_CHUNK);
        }
    }

    #[test]
    fn every_locale_compiles() {
        for locale in Locale::ALL {
            let t = tables(locale);
            assert!(!t.street.is_empty() && !t.city.is_empty(), "{locale}");
            assert_eq!(t.first_lower.len(), locale.data().first_names.len());
            assert_eq!(t.literals.text(t.digits[7]), "7");
        }
    }
}
