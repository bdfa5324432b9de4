//! Per-locale tables compiled once from the `fake` crate's data, so that
//! generating a value does no parsing: templates split into pieces, digit
//! formats split into literal text and runs of digits, and the lower-case
//! ASCII forms of first and last names that e-mail addresses are built from.

use std::sync::LazyLock;

use crate::Locale;
use crate::locale::LocaleData;

/// One piece of an address template such as `{CityPrefix} {CityName}{CitySuffix}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Literal text between placeholders.
    Text(&'static str),
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
    /// Literal text.
    Text(&'static str),
    /// This many random digits (one `#` each).
    Digits(usize),
}

/// Lower-case ASCII forms of a word list, in one allocation, with the length
/// of each word's first character's form (for `flast`-style e-mails).
#[derive(Debug)]
pub(crate) struct LoweredWords {
    text: String,
    /// Per word: start in `text`, end, end of its first character's form.
    spans: Vec<(u32, u32, u32)>,
}

impl LoweredWords {
    fn new(words: &[&str]) -> Self {
        let mut text = String::new();
        let mut spans = Vec::with_capacity(words.len());
        for word in words {
            let start = text.len();
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                push_ascii_lower(first.encode_utf8(&mut [0; 4]), &mut text);
            }
            let initial = text.len();
            push_ascii_lower(chars.as_str(), &mut text);
            spans.push((start as u32, text.len() as u32, initial as u32));
        }
        Self { text, spans }
    }

    /// The whole word's form.
    #[inline]
    pub(crate) fn word(&self, i: usize) -> &str {
        let (start, end, _) = self.spans[i];
        &self.text[start as usize..end as usize]
    }

    /// The form of the word's first character only.
    #[inline]
    pub(crate) fn initial(&self, i: usize) -> &str {
        let (start, _, initial) = self.spans[i];
        &self.text[start as usize..initial as usize]
    }
}

/// Everything the generator needs of one locale.
#[derive(Debug)]
pub(crate) struct LocaleTables {
    pub(crate) data: &'static LocaleData,
    pub(crate) first_lower: LoweredWords,
    pub(crate) last_lower: LoweredWords,
    pub(crate) street: Vec<Piece>,
    pub(crate) city: Vec<Piece>,
    pub(crate) city_with_prefix: Vec<Piece>,
    pub(crate) building_numbers: Vec<Vec<DigitPiece>>,
    pub(crate) postcodes: Vec<Vec<DigitPiece>>,
    pub(crate) phones: Vec<Vec<DigitPiece>>,
}

impl LocaleTables {
    fn compile(data: &'static LocaleData) -> Self {
        let digits = |formats: &[&'static str]| formats.iter().map(|f| digit_format(f)).collect();
        Self {
            data,
            first_lower: LoweredWords::new(data.first_names),
            last_lower: LoweredWords::new(data.last_names),
            street: template(data.street_template),
            city: template(data.city_template),
            city_with_prefix: template(data.city_with_prefix_template),
            building_numbers: digits(data.building_number_formats),
            postcodes: digits(data.postcode_formats),
            phones: digits(data.phone_formats),
        }
    }
}

static EN: LazyLock<LocaleTables> = LazyLock::new(|| LocaleTables::compile(Locale::En.data()));
static FR_FR: LazyLock<LocaleTables> = LazyLock::new(|| LocaleTables::compile(Locale::FrFr.data()));
static DE_DE: LazyLock<LocaleTables> = LazyLock::new(|| LocaleTables::compile(Locale::DeDe.data()));
static IT_IT: LazyLock<LocaleTables> = LazyLock::new(|| LocaleTables::compile(Locale::ItIt.data()));
static PT_BR: LazyLock<LocaleTables> = LazyLock::new(|| LocaleTables::compile(Locale::PtBr.data()));
static NL_NL: LazyLock<LocaleTables> = LazyLock::new(|| LocaleTables::compile(Locale::NlNl.data()));

/// The compiled tables of `locale` (built on first use, then shared).
pub(crate) fn tables(locale: Locale) -> &'static LocaleTables {
    match locale {
        Locale::En => &EN,
        Locale::FrFr => &FR_FR,
        Locale::DeDe => &DE_DE,
        Locale::ItIt => &IT_IT,
        Locale::PtBr => &PT_BR,
        Locale::NlNl => &NL_NL,
    }
}

/// Split a `{Placeholder}` template into pieces. Unknown placeholders render
/// as nothing; an unclosed `{` is kept as text.
fn template(template: &'static str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        if open > 0 {
            pieces.push(Piece::Text(&rest[..open]));
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
        pieces.push(Piece::Text(rest));
    }
    pieces
}

/// Split a format in which each `#` stands for a random digit.
fn digit_format(format: &'static str) -> Vec<DigitPiece> {
    let mut pieces = Vec::new();
    let mut rest = format;
    while !rest.is_empty() {
        let hashes = rest.len() - rest.trim_start_matches('#').len();
        if hashes > 0 {
            pieces.push(DigitPiece::Digits(hashes));
            rest = &rest[hashes..];
        } else {
            let text = rest.find('#').unwrap_or(rest.len());
            pieces.push(DigitPiece::Text(&rest[..text]));
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

    #[test]
    fn templates_split_into_pieces() {
        assert_eq!(
            template("{CityPrefix} {CityName}{CitySuffix}"),
            [
                Piece::CityPrefix,
                Piece::Text(" "),
                Piece::NamePart,
                Piece::CitySuffix
            ]
        );
        assert_eq!(
            template("a {X} b {StreetName}"),
            [Piece::Text("a "), Piece::Text(" b "), Piece::NamePart]
        );
        assert_eq!(template("open {"), [Piece::Text("open {")]);
    }

    #[test]
    fn digit_formats_split_into_runs() {
        assert_eq!(
            digit_format("(###) ###-####"),
            [
                DigitPiece::Text("("),
                DigitPiece::Digits(3),
                DigitPiece::Text(") "),
                DigitPiece::Digits(3),
                DigitPiece::Text("-"),
                DigitPiece::Digits(4),
            ]
        );
        assert_eq!(digit_format("#####"), [DigitPiece::Digits(5)]);
    }

    #[test]
    fn lowered_words_keep_initial_and_word() {
        let words = LoweredWords::new(&["Élodie", "O'Neil", "Æsa", "'x"]);
        assert_eq!((words.word(0), words.initial(0)), ("elodie", "e"));
        assert_eq!((words.word(1), words.initial(1)), ("oneil", "o"));
        assert_eq!((words.word(2), words.initial(2)), ("aesa", "ae"));
        assert_eq!((words.word(3), words.initial(3)), ("x", ""));
    }

    #[test]
    fn every_locale_compiles() {
        for locale in Locale::ALL {
            let t = tables(locale);
            assert!(!t.street.is_empty() && !t.city.is_empty(), "{locale}");
            assert_eq!(t.first_lower.spans.len(), t.data.first_names.len());
        }
    }
}
