//! Turning `(seed, key, column versions)` into concrete values, and rows into
//! Arrow arrays.
//!
//! Every cell is generated from its own RNG seeded by `(seed, key, column,
//! version)`, so a value can be regenerated at any time, in any order, on any
//! thread — the basis of determinism, parallelism and cheap ground truth.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Builder, StringBuilder};
use arrow::datatypes::DataType;

use crate::locale::LocaleData;
use crate::spec::{ColumnKind, EntitySpec};
use crate::{FakerRng, Locale};

/// Version flag: the column holds NULL at this version.
pub(crate) const NULL_BIT: u32 = 1 << 31;

/// One generated cell, pointing into [`RowBuf::text`] for strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Str(u32, u32),
}

/// Scratch space for one row; reused so that generation does not allocate.
#[derive(Debug, Default)]
pub(crate) struct RowBuf {
    pub(crate) text: String,
    pub(crate) cells: Vec<Cell>,
    scratch: String,
}

impl RowBuf {
    pub(crate) fn str(&self, cell: Cell) -> Option<&str> {
        match cell {
            Cell::Str(a, b) => Some(&self.text[a as usize..b as usize]),
            _ => None,
        }
    }
}

/// Generates rows of one spec in one locale from one seed.
#[derive(Debug, Clone)]
pub(crate) struct RowGenerator {
    pub(crate) spec: Arc<EntitySpec>,
    pub(crate) locale: &'static LocaleData,
    pub(crate) seed: u64,
}

impl RowGenerator {
    pub(crate) fn new(spec: Arc<EntitySpec>, locale: Locale, seed: u64) -> Self {
        Self {
            spec,
            locale: locale.data(),
            seed,
        }
    }

    /// Fill `buf` with the row of `key` whose columns are at `versions`
    /// (one per column; the key column's entry is ignored).
    pub(crate) fn generate(&self, key: i64, versions: &[u32], buf: &mut RowBuf) {
        buf.text.clear();
        buf.cells.clear();
        for (i, col) in self.spec.columns().iter().enumerate() {
            let cell = if matches!(col.kind, ColumnKind::Key) {
                Cell::Int(key)
            } else if versions[i] & NULL_BIT != 0 {
                Cell::Null
            } else {
                let mut rng = FakerRng::for_cell(self.seed, key, i, versions[i]);
                self.cell(i, &col.kind, &mut rng, buf)
            };
            buf.cells.push(cell);
        }
    }

    fn cell(&self, column: usize, kind: &ColumnKind, rng: &mut FakerRng, buf: &mut RowBuf) -> Cell {
        let d = self.locale;
        let start = buf.text.len() as u32;
        let out = &mut buf.text;
        match kind {
            ColumnKind::Key => unreachable!("handled by the caller"),
            ColumnKind::Integer { min, max } => return Cell::Int(rng.between(*min, *max)),
            ColumnKind::FirstName => out.push_str(rng.word(d.first_names)),
            ColumnKind::LastName => out.push_str(rng.word(d.last_names)),
            ColumnKind::State => out.push_str(rng.word(d.states)),
            ColumnKind::StateAbbr => out.push_str(rng.word(d.state_abbrs)),
            ColumnKind::Country => out.push_str(rng.word(d.countries)),
            ColumnKind::CountryCode => out.push_str(rng.word(d.country_codes)),
            ColumnKind::PostCode => numerify(rng.word(d.postcode_formats), rng, out),
            ColumnKind::PhoneNumber => numerify(rng.word(d.phone_formats), rng, out),
            ColumnKind::Choice(values) => out.push_str(rng.pick::<String>(values)),
            ColumnKind::StreetAddress => street_address(d, rng, out),
            ColumnKind::City => city(d, rng, out),
            ColumnKind::Email { .. } => {
                let deps = self.spec.derived_from(column);
                let mut scratch = std::mem::take(&mut buf.scratch);
                scratch.clear();
                let first = buf.str(buf.cells[deps[0]]);
                let last = buf.str(buf.cells[deps[1]]);
                let first = first.unwrap_or_else(|| rng.word(d.first_names));
                let last = last.unwrap_or_else(|| rng.word(d.last_names));
                email(d, first, last, rng, &mut scratch);
                buf.text.push_str(&scratch);
                buf.scratch = scratch;
            }
            ColumnKind::Custom(f) => match f(rng) {
                Some(v) => out.push_str(&v),
                None => return Cell::Null,
            },
        }
        Cell::Str(start, buf.text.len() as u32)
    }
}

/// Replace each `#` with a random digit.
fn numerify(format: &str, rng: &mut FakerRng, out: &mut String) {
    for c in format.chars() {
        if c == '#' {
            out.push((b'0' + rng.index(10) as u8) as char);
        } else {
            out.push(c);
        }
    }
}

/// Render a `{Placeholder}` template, asking `fill` for each placeholder.
fn render(
    template: &str,
    rng: &mut FakerRng,
    out: &mut String,
    fill: impl Fn(&str, &mut FakerRng, &mut String),
) {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        fill(&rest[open + 1..open + close], rng, out);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
}

fn name_part(d: &LocaleData, rng: &mut FakerRng) -> &'static str {
    if rng.index(2) == 0 {
        rng.word(d.first_names)
    } else {
        rng.word(d.last_names)
    }
}

fn street_address(d: &LocaleData, rng: &mut FakerRng, out: &mut String) {
    numerify(rng.word(d.building_number_formats), rng, out);
    out.push(' ');
    render(d.street_template, rng, out, |p, rng, out| match p {
        "StreetName" => out.push_str(name_part(d, rng)),
        "StreetSuffix" => out.push_str(rng.word(d.street_suffixes)),
        _ => {}
    });
}

fn city(d: &LocaleData, rng: &mut FakerRng, out: &mut String) {
    let template = if rng.index(4) == 0 {
        d.city_with_prefix_template
    } else {
        d.city_template
    };
    render(template, rng, out, |p, rng, out| match p {
        "CityName" => out.push_str(name_part(d, rng)),
        "CityPrefix" => out.push_str(rng.word(d.city_prefixes)),
        "CitySuffix" => out.push_str(rng.word(d.city_suffixes)),
        _ => {}
    });
}

/// `first.last`, `flast`, `first_last42` … at a free provider, ASCII only.
fn email(d: &LocaleData, first: &str, last: &str, rng: &mut FakerRng, out: &mut String) {
    match rng.index(5) {
        0 => {
            push_ascii_lower(first, out);
            out.push('.');
            push_ascii_lower(last, out);
        }
        1 => {
            push_ascii_lower(
                first
                    .get(..first.chars().next().map_or(0, char::len_utf8))
                    .unwrap_or(""),
                out,
            );
            push_ascii_lower(last, out);
        }
        2 => {
            push_ascii_lower(first, out);
            out.push('_');
            push_ascii_lower(last, out);
        }
        3 => {
            push_ascii_lower(first, out);
            push_ascii_lower(last, out);
        }
        _ => {
            push_ascii_lower(first, out);
            out.push('.');
            push_ascii_lower(last, out);
            let _ = write!(out, "{}", rng.index(100));
        }
    }
    out.push('@');
    out.push_str(rng.word(d.email_providers));
}

/// Lower-case ASCII transliteration keeping only letters and digits.
fn push_ascii_lower(s: &str, out: &mut String) {
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

/// Column builders for one batch of rows.
#[derive(Debug)]
pub(crate) struct ColumnBuilders {
    columns: Vec<ColumnBuilder>,
}

#[derive(Debug)]
enum ColumnBuilder {
    Int(Int64Builder),
    Str(StringBuilder),
}

impl ColumnBuilders {
    pub(crate) fn new(spec: &EntitySpec, rows: usize) -> Self {
        let columns = spec
            .columns()
            .iter()
            .map(|c| match c.kind.data_type() {
                DataType::Int64 => ColumnBuilder::Int(Int64Builder::with_capacity(rows)),
                _ => ColumnBuilder::Str(StringBuilder::with_capacity(rows, rows * 16)),
            })
            .collect();
        Self { columns }
    }

    pub(crate) fn append(&mut self, row: &RowBuf) {
        for (b, &cell) in self.columns.iter_mut().zip(&row.cells) {
            match (b, cell) {
                (ColumnBuilder::Int(b), Cell::Int(v)) => b.append_value(v),
                (ColumnBuilder::Int(b), _) => b.append_null(),
                (ColumnBuilder::Str(b), Cell::Str(..)) => {
                    b.append_value(row.str(cell).unwrap_or(""))
                }
                (ColumnBuilder::Str(b), _) => b.append_null(),
            }
        }
    }

    pub(crate) fn finish(self) -> Vec<ArrayRef> {
        self.columns
            .into_iter()
            .map(|b| match b {
                ColumnBuilder::Int(mut b) => Arc::new(b.finish()) as ArrayRef,
                ColumnBuilder::Str(mut b) => Arc::new(b.finish()) as ArrayRef,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(locale: Locale, key: i64, version: u32) -> Vec<Option<String>> {
        let spec = Arc::new(EntitySpec::customer());
        let g = RowGenerator::new(spec.clone(), locale, 1);
        let mut buf = RowBuf::default();
        g.generate(key, &vec![version; spec.columns().len()], &mut buf);
        buf.cells
            .iter()
            .map(|&c| match c {
                Cell::Int(v) => Some(v.to_string()),
                Cell::Null => None,
                s => buf.str(s).map(str::to_owned),
            })
            .collect()
    }

    #[test]
    fn email_is_built_from_the_row_names() {
        for key in 0..200 {
            let r = row(Locale::En, key, 0);
            let email = r[3].as_deref().unwrap();
            let last = r[2].as_deref().unwrap().to_ascii_lowercase();
            let last: String = last.chars().filter(char::is_ascii_alphanumeric).collect();
            assert!(email.contains(&last), "{email} vs {last}");
            assert!(email.is_ascii() && email.contains('@'), "{email}");
        }
    }

    #[test]
    fn non_english_locales_give_ascii_emails() {
        for locale in [Locale::FrFr, Locale::DeDe] {
            for key in 0..200 {
                let r = row(locale, key, 0);
                let email = r[3].as_deref().unwrap();
                assert!(email.is_ascii(), "{locale}: {email}");
            }
        }
    }

    #[test]
    fn street_starts_with_a_number_and_has_no_placeholders() {
        for key in 0..200 {
            let r = row(Locale::En, key, 0);
            let street = r[4].as_deref().unwrap();
            assert!(street.chars().next().unwrap().is_ascii_digit(), "{street}");
            for v in r.iter().flatten() {
                assert!(!v.contains('{') && !v.contains('}'), "{v}");
            }
        }
    }

    #[test]
    fn versions_change_values_and_null_bit_gives_null() {
        assert_eq!(row(Locale::En, 5, 0), row(Locale::En, 5, 0));
        assert_ne!(row(Locale::En, 5, 0), row(Locale::En, 5, 1));
        let r = row(Locale::En, 5, NULL_BIT);
        assert_eq!(r[0].as_deref(), Some("5"));
        assert!(r[1..].iter().all(Option::is_none));
    }

    #[test]
    fn render_handles_plain_and_placeholder_text() {
        let mut out = String::new();
        let mut rng = FakerRng::from_seed(1);
        render("a {X} b {Y}", &mut rng, &mut out, |p, _, out| {
            out.push_str(&p.to_lowercase())
        });
        assert_eq!(out, "a x b y");
    }
}
