//! Turning `(seed, key, column versions)` into concrete values, and rows into
//! Arrow arrays.
//!
//! Every cell is generated from its own RNG seeded by `(seed, key, column,
//! version)`, so a value can be regenerated at any time, in any order, on any
//! thread — the basis of determinism, parallelism and cheap ground truth.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::BooleanBufferBuilder;
use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::DataType;

use crate::locale::LocaleData;
use crate::spec::{ColumnKind, EntitySpec};
use crate::{FakerRng, Locale};

/// Version flag: the column holds NULL at this version.
pub(crate) const NULL_BIT: u32 = 1 << 31;

/// Generates rows of one spec in one locale from one seed.
#[derive(Debug, Clone)]
pub(crate) struct RowGenerator {
    pub(crate) spec: Arc<EntitySpec>,
    pub(crate) locale: &'static LocaleData,
    seed_hash: u64,
}

impl RowGenerator {
    pub(crate) fn new(spec: Arc<EntitySpec>, locale: Locale, seed: u64) -> Self {
        Self {
            spec,
            locale: locale.data(),
            seed_hash: FakerRng::seed_hash(seed),
        }
    }

    /// Append the row of `key` whose columns are at `versions` (one per
    /// column; the key column's entry is ignored) to `out`.
    pub(crate) fn generate(&self, key: i64, versions: &[u32], out: &mut ColumnBuilders) {
        let row = FakerRng::row_hash(self.seed_hash, key);
        for (i, col) in self.spec.columns().iter().enumerate() {
            if matches!(col.kind, ColumnKind::Key) {
                out.push_int(i, Some(key));
                continue;
            }
            if versions[i] & NULL_BIT != 0 {
                out.push_null(i);
                continue;
            }
            let mut rng = FakerRng::for_column(row, i, versions[i]);
            match &col.kind {
                ColumnKind::Integer { min, max } => out.push_int(i, Some(rng.between(*min, *max))),
                ColumnKind::Custom(f) => match f(&mut rng) {
                    Some(v) => out.push_str(i, &v),
                    None => out.push_null(i),
                },
                ColumnKind::Email { .. } => self.email(i, &mut rng, out),
                kind => {
                    text(self.locale, kind, &mut rng, out.text(i));
                    out.commit_text(i);
                }
            }
        }
    }

    /// An e-mail derived from the names already generated in this row.
    fn email(&self, column: usize, rng: &mut FakerRng, out: &mut ColumnBuilders) {
        let d = self.locale;
        let deps = self.spec.derived_from(column);
        let mut names = std::mem::take(&mut out.scratch);
        names.clear();
        match out.last_str(deps[0]) {
            Some(first) => names.push_str(first),
            None => names.push_str(rng.word(d.first_names)),
        }
        let split = names.len();
        match out.last_str(deps[1]) {
            Some(last) => names.push_str(last),
            None => names.push_str(rng.word(d.last_names)),
        }
        email(d, &names[..split], &names[split..], rng, out.text(column));
        out.commit_text(column);
        out.scratch = names;
    }
}

/// Append the text of one word-based value.
fn text(d: &LocaleData, kind: &ColumnKind, rng: &mut FakerRng, out: &mut String) {
    match kind {
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
        ColumnKind::Key
        | ColumnKind::Integer { .. }
        | ColumnKind::Email { .. }
        | ColumnKind::Custom(_) => unreachable!("handled by RowGenerator::generate"),
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

/// Column buffers for one batch of rows, written in place (no per-value
/// allocation, no intermediate copy) and turned into Arrow arrays without
/// copying.
#[derive(Debug)]
pub(crate) struct ColumnBuilders {
    columns: Vec<ColumnBuffer>,
    scratch: String,
}

#[derive(Debug)]
enum ColumnBuffer {
    Int {
        values: Vec<i64>,
        /// Rows holding NULL, ascending (NULLs are rare; a list is cheaper
        /// than a bitmap per value).
        nulls: Vec<usize>,
    },
    Str {
        offsets: Vec<i32>,
        data: String,
        nulls: Vec<usize>,
    },
}

/// Expected bytes per value, to size buffers once.
fn typical_len(kind: &ColumnKind) -> usize {
    match kind {
        ColumnKind::Email { .. } => 28,
        ColumnKind::StreetAddress => 24,
        ColumnKind::PhoneNumber => 16,
        ColumnKind::City | ColumnKind::Country | ColumnKind::Custom(_) => 14,
        _ => 10,
    }
}

impl ColumnBuilders {
    pub(crate) fn new(spec: &EntitySpec, rows: usize) -> Self {
        let columns = spec
            .columns()
            .iter()
            .map(|c| match c.kind.data_type() {
                DataType::Int64 => ColumnBuffer::Int {
                    values: Vec::with_capacity(rows),
                    nulls: Vec::new(),
                },
                _ => {
                    let mut offsets = Vec::with_capacity(rows + 1);
                    offsets.push(0);
                    ColumnBuffer::Str {
                        offsets,
                        data: String::with_capacity(rows * typical_len(&c.kind)),
                        nulls: Vec::new(),
                    }
                }
            })
            .collect();
        Self {
            columns,
            scratch: String::new(),
        }
    }

    fn push_int(&mut self, column: usize, value: Option<i64>) {
        if let ColumnBuffer::Int { values, nulls } = &mut self.columns[column] {
            if value.is_none() {
                nulls.push(values.len());
            }
            values.push(value.unwrap_or(0));
        }
    }

    fn push_null(&mut self, column: usize) {
        match &mut self.columns[column] {
            ColumnBuffer::Int { .. } => self.push_int(column, None),
            ColumnBuffer::Str {
                offsets,
                data,
                nulls,
            } => {
                nulls.push(offsets.len() - 1);
                offsets.push(data.len() as i32);
            }
        }
    }

    fn push_str(&mut self, column: usize, value: &str) {
        self.text(column).push_str(value);
        self.commit_text(column);
    }

    /// The text buffer of a string column, to append one value to; finish
    /// the value with [`ColumnBuilders::commit_text`].
    fn text(&mut self, column: usize) -> &mut String {
        match &mut self.columns[column] {
            ColumnBuffer::Str { data, .. } => data,
            ColumnBuffer::Int { .. } => unreachable!("text of an integer column"),
        }
    }

    fn commit_text(&mut self, column: usize) {
        if let ColumnBuffer::Str { offsets, data, .. } = &mut self.columns[column] {
            offsets.push(data.len() as i32);
        }
    }

    /// The last value appended to a string column, if not NULL.
    fn last_str(&self, column: usize) -> Option<&str> {
        match &self.columns[column] {
            ColumnBuffer::Str {
                offsets,
                data,
                nulls,
            } if offsets.len() > 1 && nulls.last() != Some(&(offsets.len() - 2)) => {
                let n = offsets.len();
                Some(&data[offsets[n - 2] as usize..offsets[n - 1] as usize])
            }
            _ => None,
        }
    }

    pub(crate) fn finish(self) -> Vec<ArrayRef> {
        self.columns
            .into_iter()
            .map(|b| match b {
                ColumnBuffer::Int { values, nulls } => {
                    let validity = validity(values.len(), &nulls);
                    Arc::new(Int64Array::new(ScalarBuffer::from(values), validity)) as ArrayRef
                }
                ColumnBuffer::Str {
                    offsets,
                    data,
                    nulls,
                } => {
                    let validity = validity(offsets.len() - 1, &nulls);
                    // Offsets are monotonic and split `data` at char
                    // boundaries, so the checked constructors accept them.
                    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
                    Arc::new(StringArray::new(
                        offsets,
                        Buffer::from_vec(data.into_bytes()),
                        validity,
                    )) as ArrayRef
                }
            })
            .collect()
    }
}

/// The validity bitmap of `len` rows of which `nulls` are NULL; `None`
/// when nothing is NULL.
fn validity(len: usize, nulls: &[usize]) -> Option<NullBuffer> {
    if nulls.is_empty() {
        return None;
    }
    let mut valid = BooleanBufferBuilder::new(len);
    valid.append_n(len, true);
    for &row in nulls {
        valid.set_bit(row, false);
    }
    Some(NullBuffer::new(valid.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;

    fn row(locale: Locale, key: i64, version: u32) -> Vec<Option<String>> {
        let spec = Arc::new(EntitySpec::customer());
        let g = RowGenerator::new(spec.clone(), locale, 1);
        let mut out = ColumnBuilders::new(&spec, 1);
        g.generate(key, &vec![version; spec.columns().len()], &mut out);
        out.finish()
            .iter()
            .map(|c| {
                let c = arrow::compute::cast(c, &DataType::Utf8).unwrap();
                let c = c.as_any().downcast_ref::<StringArray>().unwrap();
                (!c.is_null(0)).then(|| c.value(0).to_string())
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
