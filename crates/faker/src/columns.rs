//! Column-wise generation: turning planned rows (keys and column versions)
//! into Arrow arrays, one column at a time.
//!
//! Each cell's value is a pure function of `(seed, key, column, version)`, so
//! columns are independent: an e-mail regenerates the names it is built from
//! instead of reading them back. That lets every column be written straight
//! into its final Arrow buffer, in parallel across columns (and across row
//! ranges when there are more cores than columns), with no per-row dispatch
//! and no copy to stitch parts together.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Builder};
use rayon::prelude::*;

use crate::buffer::{Sink, TextBuffer};
use crate::locale_data::{LocaleTables, Words, push_ascii_lower, tables};
use crate::spec::{ColumnKind, EntitySpec};
use crate::values::{LoweredName, NULL_BIT, Text, email, text};
use crate::{FakerRng, Locale};

/// Rows smaller than this are not split further across threads.
const MIN_ROWS_PER_TASK: usize = 16 * 1024;

/// The rows of one batch: keys and the version of each column of each row.
#[derive(Debug)]
pub(crate) struct Rows<'a> {
    keys: &'a [i64],
    versions: &'a [u32],
    /// Versions per row (the spec's width), or 0 when every row shares the
    /// same versions (classic mode).
    stride: usize,
    /// Per row, the first step of every cell's seed derivation.
    hashes: Vec<u64>,
}

impl Rows<'_> {
    fn len(&self) -> usize {
        self.keys.len()
    }

    #[inline]
    fn version(&self, row: usize, column: usize) -> u32 {
        self.versions[row * self.stride + column]
    }

    #[inline]
    fn rng(&self, row: usize, column: usize, version: u32) -> FakerRng {
        FakerRng::for_column(self.hashes[row], column, version)
    }
}

/// Generates the columns of one spec in one locale from one seed.
#[derive(Debug, Clone)]
pub(crate) struct Generator {
    spec: Arc<EntitySpec>,
    tables: &'static LocaleTables,
    seed_hash: u64,
}

impl Generator {
    pub(crate) fn new(spec: Arc<EntitySpec>, locale: Locale, seed: u64) -> Self {
        Self {
            spec,
            tables: tables(locale),
            seed_hash: FakerRng::seed_hash(seed),
        }
    }

    /// Rows with keys `keys`; `versions` holds one version per column per row
    /// (`shared == false`) or one set of versions for all rows (`shared`).
    pub(crate) fn rows<'a>(&self, keys: &'a [i64], versions: &'a [u32], shared: bool) -> Rows<'a> {
        let width = self.spec.columns().len();
        assert_eq!(
            versions.len(),
            if shared { width } else { width * keys.len() },
            "one version per column{}",
            if shared { "" } else { " per row" }
        );
        let seed_hash = self.seed_hash;
        Rows {
            keys,
            versions,
            stride: if shared { 0 } else { width },
            hashes: keys
                .iter()
                .map(|&k| FakerRng::row_hash(seed_hash, k))
                .collect(),
        }
    }

    fn builder(&self, column: usize, rows: usize) -> ColumnOut {
        match &self.spec.columns()[column].kind {
            ColumnKind::Key | ColumnKind::Integer { .. } => {
                ColumnOut::Int(Int64Builder::with_capacity(rows))
            }
            kind => ColumnOut::Text(TextBuffer::with_capacity(rows, rows * typical_len(kind))),
        }
    }

    /// Append every row of `rows` to the columns of `out`, columns side by
    /// side on all cores. A column still `None` gets a builder sized for
    /// `batch_rows`, made by the thread that fills it: memory a worker thread
    /// allocates is reused from batch to batch, memory the caller allocates
    /// for a worker to fill is faulted in afresh each time.
    pub(crate) fn append_parallel(
        &self,
        rows: &Rows<'_>,
        out: &mut [Option<ColumnOut>],
        batch_rows: usize,
    ) {
        out.par_iter_mut().enumerate().for_each(|(c, o)| {
            let o = o.get_or_insert_with(|| self.builder(c, batch_rows));
            self.append_column(c, rows, 0..rows.len(), o);
        });
    }

    /// Every column of `rows`, on all cores when `parallel`.
    pub(crate) fn columns(&self, rows: &Rows<'_>, parallel: bool) -> Vec<ArrayRef> {
        let width = self.spec.columns().len();
        let n = rows.len();
        // Columns run side by side; with more cores than columns, each
        // column is also split into row ranges.
        let threads = rayon::current_num_threads().max(1);
        let parts = (2 * threads)
            .div_ceil(width)
            .min(n.div_ceil(MIN_ROWS_PER_TASK))
            .max(1);
        if !parallel {
            return (0..width).map(|c| self.column(c, rows, 0..n)).collect();
        }
        (0..width)
            .into_par_iter()
            .map(|c| {
                if parts == 1 {
                    return self.column(c, rows, 0..n);
                }
                let step = n.div_ceil(parts);
                let pieces: Vec<ArrayRef> = (0..parts)
                    .into_par_iter()
                    .map(|p| self.column(c, rows, p * step..((p + 1) * step).min(n)))
                    .collect();
                let refs: Vec<&dyn arrow::array::Array> =
                    pieces.iter().map(|a| a.as_ref()).collect();
                arrow::compute::concat(&refs).expect("pieces of one column share its type")
            })
            .collect()
    }

    /// One column over a range of rows.
    fn column(&self, column: usize, rows: &Rows<'_>, range: Range<usize>) -> ArrayRef {
        let mut out = self.builder(column, range.len());
        self.append_column(column, rows, range, &mut out);
        out.finish()
    }

    /// Append one column over a range of rows.
    fn append_column(
        &self,
        column: usize,
        rows: &Rows<'_>,
        range: Range<usize>,
        out: &mut ColumnOut,
    ) {
        let t = self.tables;
        match (&self.spec.columns()[column].kind, out) {
            (ColumnKind::Key, ColumnOut::Int(b)) => b.append_slice(&rows.keys[range]),
            (ColumnKind::Integer { min, max }, ColumnOut::Int(b)) => {
                let (min, max) = (*min, *max);
                for row in range {
                    match rows.version(row, column) {
                        v if v & NULL_BIT != 0 => b.append_null(),
                        v => b.append_value(rows.rng(row, column, v).between(min, max)),
                    }
                }
            }
            (ColumnKind::Custom(f), ColumnOut::Text(b)) => {
                text_column(column, rows, range, b, |rng, _, out| {
                    f(rng).map(|v| out.put(&v)).is_some()
                })
            }
            (ColumnKind::Email { .. }, ColumnOut::Text(b)) => {
                let mut scratch = (String::new(), String::new(), String::new());
                text_column(column, rows, range, b, |rng, row, out| {
                    self.email_cell(column, row, rows, rng, &mut scratch, out);
                    true
                })
            }
            (kind, ColumnOut::Text(b)) => text_column(column, rows, range, b, |rng, _, out| {
                text(t, kind, rng, out);
                true
            }),
            (kind, ColumnOut::Int(_)) => unreachable!("{kind:?} is not an integer column"),
        }
    }

    /// The e-mail of one row, from the names its source columns hold.
    fn email_cell(
        &self,
        column: usize,
        row: usize,
        rows: &Rows<'_>,
        rng: &mut FakerRng,
        scratch: &mut (String, String, String),
        out: &mut impl Sink,
    ) {
        let deps = self.spec.derived_from(column);
        let t = self.tables;
        let (first_text, last_text, raw) = scratch;
        // A NULL source draws a name from the e-mail's own RNG, first then last.
        let first = self
            .source_name(deps[0], row, rows, first_text, raw)
            .unwrap_or_else(|| lowered_word(&t.first_lower, rng.index(t.first_lower.len())));
        let last = self
            .source_name(deps[1], row, rows, last_text, raw)
            .unwrap_or_else(|| lowered_word(&t.last_lower, rng.index(t.last_lower.len())));
        email(t, first, last.word, rng, out);
    }

    /// The lower-case ASCII form of the name in `source` at `row`: looked up
    /// for name columns, regenerated and transliterated for other kinds;
    /// `None` when the source is NULL (or holds no text).
    fn source_name<'s>(
        &'s self,
        source: usize,
        row: usize,
        rows: &Rows<'_>,
        lowered: &'s mut String,
        raw: &mut String,
    ) -> Option<LoweredName<'s>> {
        let t = self.tables;
        let v = rows.version(row, source);
        if v & NULL_BIT != 0 {
            return None;
        }
        let words = match self.spec.columns()[source].kind {
            ColumnKind::FirstName => &t.first_lower,
            ColumnKind::LastName => &t.last_lower,
            _ => {
                raw.clear();
                return self
                    .cell_text(source, row, rows, raw)
                    .then(|| lower_into(raw, lowered));
            }
        };
        Some(lowered_word(
            words,
            rows.rng(row, source, v).index(words.len()),
        ))
    }

    /// Regenerate the text of one cell into `out`; `false` when it is NULL
    /// or not text.
    fn cell_text(&self, column: usize, row: usize, rows: &Rows<'_>, out: &mut String) -> bool {
        let v = rows.version(row, column);
        if v & NULL_BIT != 0 {
            return false;
        }
        let mut rng = rows.rng(row, column, v);
        match &self.spec.columns()[column].kind {
            ColumnKind::Key | ColumnKind::Integer { .. } => false,
            ColumnKind::Custom(f) => f(&mut rng).map(|v| out.push_str(&v)).is_some(),
            ColumnKind::Email { .. } => {
                let mut scratch = Default::default();
                self.email_cell(column, row, rows, &mut rng, &mut scratch, out);
                true
            }
            kind => {
                text(self.tables, kind, &mut rng, out);
                true
            }
        }
    }
}

/// Where one column of a batch is built.
#[derive(Debug)]
pub(crate) enum ColumnOut {
    Int(Int64Builder),
    Text(TextBuffer),
}

impl ColumnOut {
    fn finish(self) -> ArrayRef {
        match self {
            ColumnOut::Int(mut b) => Arc::new(b.finish()),
            ColumnOut::Text(b) => b.finish(),
        }
    }
}

/// The finished columns (a column never filled is empty).
pub(crate) fn finish(generator: &Generator, out: Vec<Option<ColumnOut>>) -> Vec<ArrayRef> {
    out.into_iter()
        .enumerate()
        .map(|(c, o)| o.unwrap_or_else(|| generator.builder(c, 0)).finish())
        .collect()
}

/// Append the cells of a string column over `range`; `fill` writes a non-NULL
/// cell (answering `false` for NULL).
fn text_column(
    column: usize,
    rows: &Rows<'_>,
    range: Range<usize>,
    b: &mut TextBuffer,
    mut fill: impl FnMut(&mut FakerRng, usize, &mut TextBuffer) -> bool,
) {
    for row in range {
        let v = rows.version(row, column);
        if v & NULL_BIT != 0 {
            b.null();
        } else if fill(&mut rows.rng(row, column, v), row, b) {
            b.commit();
        } else {
            b.null();
        }
    }
}

fn lowered_word(words: &Words, i: usize) -> LoweredName<'_> {
    LoweredName {
        word: Text::Word(words, words.get(i)),
        initial: Text::Word(words, words.initial(i)),
    }
}

/// Transliterate `raw` into `out` and describe it as a lowered name.
fn lower_into<'s>(raw: &str, out: &'s mut String) -> LoweredName<'s> {
    out.clear();
    let mut chars = raw.chars();
    if let Some(first) = chars.next() {
        push_ascii_lower(first.encode_utf8(&mut [0; 4]), out);
    }
    let initial = out.len();
    push_ascii_lower(chars.as_str(), out);
    LoweredName {
        word: Text::Str(out.as_str()),
        initial: Text::Str(&out[..initial]),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, StringArray};
    use arrow::datatypes::DataType;

    fn row(spec: EntitySpec, locale: Locale, key: i64, version: u32) -> Vec<Option<String>> {
        let width = spec.columns().len();
        let g = Generator::new(Arc::new(spec), locale, 1);
        let versions = vec![version; width];
        let keys = [key];
        let rows = g.rows(&keys, &versions, true);
        g.columns(&rows, false)
            .iter()
            .map(|c| {
                let c = arrow::compute::cast(c, &DataType::Utf8).unwrap();
                let c = c.as_any().downcast_ref::<StringArray>().unwrap();
                (!c.is_null(0)).then(|| c.value(0).to_string())
            })
            .collect()
    }

    fn customer(locale: Locale, key: i64, version: u32) -> Vec<Option<String>> {
        row(EntitySpec::customer(), locale, key, version)
    }

    #[test]
    fn email_is_built_from_the_row_names() {
        for key in 0..200 {
            let r = customer(Locale::En, key, 0);
            let email = r[3].as_deref().unwrap();
            let last = r[2].as_deref().unwrap().to_ascii_lowercase();
            let last: String = last.chars().filter(char::is_ascii_alphanumeric).collect();
            assert!(email.contains(&last), "{email} vs {last}");
            assert!(email.is_ascii() && email.contains('@'), "{email}");
        }
    }

    #[test]
    fn email_from_other_kinds_of_column_uses_their_text() {
        let spec = EntitySpec::builder("city_mail")
            .column("id", ColumnKind::Key)
            .column("a", ColumnKind::City)
            .column("b", ColumnKind::custom(|_| Some("Zoë Ünal".into())))
            .column(
                "mail",
                ColumnKind::Email {
                    first_name: "a".into(),
                    last_name: "b".into(),
                },
            )
            .build()
            .unwrap();
        for key in 0..50 {
            let r = row(spec.clone(), Locale::En, key, 0);
            let mail = r[3].as_deref().unwrap();
            assert!(mail.contains("zoeunal"), "{mail}");
        }
    }

    #[test]
    fn non_english_locales_give_ascii_emails() {
        for locale in [Locale::FrFr, Locale::DeDe] {
            for key in 0..200 {
                let r = customer(locale, key, 0);
                let email = r[3].as_deref().unwrap();
                assert!(email.is_ascii(), "{locale}: {email}");
            }
        }
    }

    #[test]
    fn street_starts_with_a_number_and_has_no_placeholders() {
        for key in 0..200 {
            let r = customer(Locale::En, key, 0);
            let street = r[4].as_deref().unwrap();
            assert!(street.chars().next().unwrap().is_ascii_digit(), "{street}");
            for v in r.iter().flatten() {
                assert!(!v.contains('{') && !v.contains('}'), "{v}");
            }
        }
    }

    #[test]
    fn versions_change_values_and_null_bit_gives_null() {
        assert_eq!(customer(Locale::En, 5, 0), customer(Locale::En, 5, 0));
        assert_ne!(customer(Locale::En, 5, 0), customer(Locale::En, 5, 1));
        let r = customer(Locale::En, 5, NULL_BIT);
        assert_eq!(r[0].as_deref(), Some("5"));
        assert!(r[1..].iter().all(Option::is_none));
    }

    #[test]
    fn split_columns_equal_whole_columns() {
        let spec = Arc::new(EntitySpec::customer());
        let g = Generator::new(spec.clone(), Locale::En, 3);
        let keys: Vec<i64> = (0..40_000).collect();
        let versions = vec![0; spec.columns().len()];
        let rows = g.rows(&keys, &versions, true);
        let whole = g.columns(&rows, false);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(8)
            .build()
            .unwrap();
        let split = pool.install(|| g.columns(&rows, true));
        assert_eq!(whole.len(), split.len());
        for (a, b) in whole.iter().zip(&split) {
            assert_eq!(a.as_ref(), b.as_ref());
        }
    }
}
