//! The engine's reader of staged CSV files: gzip detection, the header and skipped lines,
//! quoting checks, and typed conversion into a table's columns, record by record. A bad record
//! becomes one [`LoadError`] with its file, line, character, column and the record itself, and
//! never leaves a partial row behind. The `csv` crate splits the records; what is Snowflake's
//! (`FIELD_OPTIONALLY_ENCLOSED_BY`, `ERROR_ON_COLUMN_COUNT_MISMATCH`, `NULL_IF`,
//! `EMPTY_FIELD_AS_NULL`, the positions it reports) is here.

use std::io::Read as _;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use crate::columns::ColumnBuffer;
use crate::error::Result;
use crate::load::{CsvFileFormat, FileCompression, LoadError, LoadLimits};

/// A staged file read into a table's columns.
#[derive(Debug, Clone)]
pub(crate) struct ParsedFile {
    /// The good records.
    pub(crate) batch: RecordBatch,
    /// Data records read (good and bad).
    pub(crate) rows_parsed: u64,
    /// The line each good record starts on (1-based), in the order of `batch`'s rows.
    pub(crate) lines: Vec<u64>,
    /// The bad records, in file order (reading stops at the first when asked to).
    pub(crate) errors: Vec<LoadError>,
}

/// Reads `bytes` (the whole staged object `file`) as CSV in `format` into `schema`'s columns,
/// within `limits`. With `stop_at_first_error`, reading stops at the first bad record.
pub(crate) fn parse_csv(
    file: &str,
    bytes: &[u8],
    format: &CsvFileFormat,
    schema: &SchemaRef,
    limits: &LoadLimits,
    stop_at_first_error: bool,
) -> Result<ParsedFile> {
    let text = match decompress(bytes, format.compression, limits.max_file_bytes) {
        Ok(text) => text,
        Err(message) => {
            return Ok(ParsedFile {
                batch: RecordBatch::new_empty(schema.clone()),
                rows_parsed: 0,
                lines: Vec::new(),
                errors: vec![whole_file_error(file, message)],
            });
        }
    };
    let mut reader = Reader::new(file, &text, format, schema, limits);
    reader.run(stop_at_first_error)?;
    reader.finish()
}

/// An error about a whole file (line 0), such as one that cannot be read or decompressed.
pub(crate) fn whole_file_error(file: &str, message: String) -> LoadError {
    LoadError {
        file: file.to_owned(),
        line: 0,
        character: 0,
        column: None,
        row: 0,
        message,
        rejected_record: String::new(),
    }
}

fn decompress(
    bytes: &[u8],
    compression: FileCompression,
    max_bytes: u64,
) -> std::result::Result<std::borrow::Cow<'_, [u8]>, String> {
    let too_big = || {
        format!(
            "the file holds more than {max_bytes} bytes once decompressed (LoadLimits::max_file_bytes)"
        )
    };
    let gzip = match compression {
        FileCompression::Gzip => true,
        FileCompression::None => false,
        FileCompression::Auto => bytes.starts_with(&[0x1f, 0x8b]),
    };
    if !gzip {
        if bytes.len() as u64 > max_bytes {
            return Err(too_big());
        }
        return Ok(std::borrow::Cow::Borrowed(bytes));
    }
    // Read one byte past the limit, so a gzip bomb stops there instead of filling memory.
    let capacity = (bytes.len().saturating_mul(4) as u64).min(max_bytes);
    let mut out = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    flate2::read::MultiGzDecoder::new(bytes)
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| format!("the file is not valid gzip: {e}"))?;
    if out.len() as u64 > max_bytes {
        return Err(too_big());
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// Skips `lines` lines; returns the byte offset after them and how many were skipped.
fn skip_lines(text: &[u8], lines: usize) -> (usize, u64) {
    let mut offset = 0;
    let mut skipped = 0;
    while skipped < lines && offset < text.len() {
        match text[offset..].iter().position(|&b| b == b'\n') {
            Some(end) => offset += end + 1,
            None => offset = text.len(),
        }
        skipped += 1;
    }
    (offset, skipped as u64)
}

struct Reader<'a> {
    file: &'a str,
    limits: &'a LoadLimits,
    text: &'a [u8],
    format: &'a CsvFileFormat,
    schema: &'a SchemaRef,
    columns: Vec<ColumnBuffer>,
    errors: Vec<LoadError>,
    lines: Vec<u64>,
    rows_parsed: u64,
    body_start: usize,
    first_line: u64,
    /// The whole body is valid UTF-8, so fields cut from it at ASCII delimiters are too
    /// (checked once instead of field by field; a file that fails is checked field by field
    /// to say which field is bad).
    body_is_utf8: bool,
}

impl<'a> Reader<'a> {
    fn new(
        file: &'a str,
        text: &'a [u8],
        format: &'a CsvFileFormat,
        schema: &'a SchemaRef,
        limits: &'a LoadLimits,
    ) -> Self {
        let (body_start, skipped) = skip_lines(text, format.skip_header);
        let body = &text[body_start..];
        let rows = body.iter().filter(|&&b| b == b'\n').count() + 1;
        let text_bytes = body.len() / schema.fields().len().max(1) * 2;
        let columns = schema
            .fields()
            .iter()
            .map(|f| ColumnBuffer::with_capacity(f.data_type(), rows, text_bytes))
            .collect();
        Reader {
            file,
            limits,
            text,
            format,
            schema,
            columns,
            errors: Vec::new(),
            lines: Vec::new(),
            rows_parsed: 0,
            body_start,
            first_line: skipped + 1,
            body_is_utf8: std::str::from_utf8(body).is_ok(),
        }
    }

    fn run(&mut self, stop_at_first_error: bool) -> Result<()> {
        let body = &self.text[self.body_start..];
        let mut builder = csv::ReaderBuilder::new();
        builder
            .has_headers(false)
            .flexible(true)
            .delimiter(self.format.field_delimiter)
            .quoting(self.format.field_optionally_enclosed_by.is_some());
        if let Some(quote) = self.format.field_optionally_enclosed_by {
            builder.quote(quote);
        }
        let mut csv = builder.from_reader(body);
        let mut record = csv::ByteRecord::new();
        loop {
            let more = match csv.read_byte_record(&mut record) {
                Ok(more) => more,
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line()) + self.first_line - 1;
                    self.reject(
                        line,
                        0,
                        None,
                        format!("the file is not valid CSV: {e}"),
                        b"",
                    );
                    return Ok(());
                }
            };
            if !more {
                break;
            }
            let position = record
                .position()
                .expect("records read from a reader have positions");
            let end = (csv.position().byte() as usize).min(body.len());
            // The csv crate skips blank lines silently, and reports the record's position from
            // the first of them: find them, and the record's true line.
            let raw = &body[position.byte() as usize..end];
            let leading = raw
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
            let blank = raw[..leading].iter().filter(|&&b| b == b'\n').count() as u64;
            let first = position.line() + self.first_line - 1;
            if !self.format.skip_blank_lines {
                self.reject_blank_lines(first, blank);
            }
            let line = first + blank;
            let raw = &raw[leading..];
            self.rows_parsed += 1;
            if raw.len() > self.limits.max_record_bytes {
                let message = format!(
                    "the record holds {} bytes, more than {} (LoadLimits::max_record_bytes)",
                    raw.len(),
                    self.limits.max_record_bytes
                );
                self.reject(line, 1, None, message, raw);
            } else if let Some(quote) = self.format.field_optionally_enclosed_by
                && let Err((character, message)) =
                    check_quoting(raw, quote, self.format.field_delimiter)
            {
                self.reject(line, character, None, message, raw);
            } else {
                self.push_record(&record, line, raw);
            }
            if stop_at_first_error && !self.errors.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// Snowflake (SKIP_BLANK_LINES = FALSE) rejects blank lines; the csv crate skips them.
    fn reject_blank_lines(&mut self, first_line: u64, count: u64) {
        for i in 0..count {
            self.rows_parsed += 1;
            self.reject(
                first_line + i,
                1,
                None,
                format!(
                    "Number of columns in file (1) does not match that of the corresponding table ({}): blank line",
                    self.schema.fields().len()
                ),
                b"",
            );
        }
    }

    fn push_record(&mut self, record: &csv::ByteRecord, line: u64, raw: &[u8]) {
        let want = self.schema.fields().len();
        if record.len() != want && self.format.error_on_column_count_mismatch {
            let message = format!(
                "Number of columns in file ({}) does not match that of the corresponding table ({want})",
                record.len()
            );
            self.reject(line, 1, None, message, raw);
            return;
        }
        let mut character = 1u64;
        for index in 0..want {
            let field = record.get(index);
            let outcome = match field {
                Some(f) if f.len() > self.limits.max_field_bytes => Err(format!(
                    "the field holds {} bytes, more than {} (LoadLimits::max_field_bytes)",
                    f.len(),
                    self.limits.max_field_bytes
                )),
                _ => self.push_field(index, field),
            };
            if let Err(message) = outcome {
                for column in &mut self.columns[..index] {
                    column.pop();
                }
                let column = Some(self.schema.field(index).name().clone());
                self.reject(line, character, column, message, raw);
                return;
            }
            character += field.map_or(0, |f| f.len() as u64) + 1;
        }
        self.lines.push(line);
    }

    fn push_field(
        &mut self,
        index: usize,
        field: Option<&[u8]>,
    ) -> std::result::Result<(), String> {
        let nullable = self.schema.field(index).is_nullable();
        let value = field.map(|f| {
            if self.format.trim_space {
                f.trim_ascii()
            } else {
                f
            }
        });
        let is_null = match value {
            None => true,
            Some(v) => {
                (v.is_empty() && self.format.empty_field_as_null)
                    || self.format.null_if.iter().any(|n| n.as_bytes() == v)
            }
        };
        if is_null {
            if !nullable {
                return Err("NULL result in a non-nullable column".into());
            }
            self.columns[index].push_null();
            return Ok(());
        }
        self.columns[index].push_field(value.unwrap_or_default(), self.body_is_utf8)
    }

    fn reject(
        &mut self,
        line: u64,
        character: u64,
        column: Option<String>,
        message: String,
        raw: &[u8],
    ) {
        // At most 1,000 characters are kept: read no more than 4 bytes for each.
        let raw = &raw[..raw.len().min(4000)];
        let mut record = String::from_utf8_lossy(raw)
            .trim_end_matches(['\r', '\n'])
            .to_owned();
        if record.chars().count() > 1000 {
            record = record.chars().take(1000).collect();
        }
        self.errors.push(LoadError {
            file: self.file.to_owned(),
            line,
            character,
            column,
            row: self.rows_parsed,
            message,
            rejected_record: record,
        });
    }

    fn finish(self) -> Result<ParsedFile> {
        let arrays = self
            .columns
            .into_iter()
            .map(ColumnBuffer::finish)
            .collect::<Vec<_>>();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)?;
        Ok(ParsedFile {
            batch,
            rows_parsed: self.rows_parsed,
            lines: self.lines,
            errors: self.errors,
        })
    }
}

/// The csv crate reads malformed quoting leniently (an unclosed quote swallows the rest of the
/// file into one field); Snowflake rejects it. Checks the raw record: a quoted field must close,
/// and its closing quote must be followed by a delimiter or the end of the record.
fn check_quoting(raw: &[u8], quote: u8, delimiter: u8) -> std::result::Result<(), (u64, String)> {
    if !raw.contains(&quote) {
        return Ok(());
    }
    #[derive(PartialEq)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        AfterQuote,
    }
    let mut state = State::FieldStart;
    for (i, &b) in raw.iter().enumerate() {
        let at_end = b == b'\n' || b == b'\r';
        state = match state {
            State::FieldStart | State::Unquoted if b == delimiter => State::FieldStart,
            State::FieldStart if b == quote => State::Quoted,
            State::FieldStart | State::Unquoted => State::Unquoted,
            State::Quoted if b == quote => State::AfterQuote,
            State::Quoted => State::Quoted,
            State::AfterQuote if b == quote => State::Quoted,
            State::AfterQuote if b == delimiter => State::FieldStart,
            State::AfterQuote if at_end => State::FieldStart,
            State::AfterQuote => {
                return Err((
                    i as u64 + 1,
                    format!(
                        "Found character '{}' instead of field delimiter '{}'",
                        char::from(b).escape_default(),
                        char::from(delimiter).escape_default()
                    ),
                ));
            }
        };
    }
    if state == State::Quoted {
        return Err((
            1,
            "End of file reached inside a quoted field: the quote is never closed".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]))
    }

    fn parse(text: &[u8], format: &CsvFileFormat) -> ParsedFile {
        parse_csv(
            "f.csv",
            text,
            format,
            &schema(),
            &LoadLimits::default(),
            false,
        )
        .unwrap()
    }

    #[test]
    fn header_quotes_and_nulls() {
        let parsed = parse(
            b"id,name\n1,\"a, b\"\n2,\n3,\\N\n",
            &CsvFileFormat::staged(),
        );
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert_eq!(parsed.rows_parsed, 3);
        let names = parsed.batch.column(1).as_string::<i32>();
        assert_eq!(names.value(0), "a, b");
        assert!(names.is_null(1) && names.is_null(2));
    }

    #[test]
    fn bad_records_are_rejected_whole_with_their_position() {
        let text = b"id,name\n1,a\nx,b\n3\n4,d\n";
        let parsed = parse(text, &CsvFileFormat::staged());
        assert_eq!(parsed.rows_parsed, 4);
        assert_eq!(parsed.batch.num_rows(), 2);
        let ids = parsed.batch.column(0).as_primitive::<Int64Type>();
        assert_eq!(ids.values(), &[1, 4]);
        let (first, second) = (&parsed.errors[0], &parsed.errors[1]);
        assert_eq!((first.line, first.character, first.row), (3, 1, 2));
        assert_eq!(first.column.as_deref(), Some("id"));
        assert!(first.message.contains("'x'"), "{}", first.message);
        assert_eq!(first.rejected_record, "x,b");
        assert_eq!(second.line, 4);
        assert!(second.message.contains("Number of columns in file (1)"));
    }

    #[test]
    fn blank_lines_are_errors_unless_skipped() {
        let text = b"id,name\n1,a\n\n2,b\n";
        let parsed = parse(text, &CsvFileFormat::staged());
        assert_eq!(parsed.batch.num_rows(), 2);
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!(parsed.errors[0].line, 3);
        let skipping = CsvFileFormat {
            skip_blank_lines: true,
            ..CsvFileFormat::staged()
        };
        assert!(parse(text, &skipping).errors.is_empty());
    }

    #[test]
    fn invalid_utf8_and_truncated_gzip() {
        let parsed = parse(b"id,name\n1,caf\xe9\n", &CsvFileFormat::staged());
        assert_eq!(parsed.errors[0].column.as_deref(), Some("name"));
        assert!(parsed.errors[0].message.contains("UTF-8"));
        assert_eq!(parsed.errors[0].character, 3);

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, b"id,name\n1,a\n2,b\n").unwrap();
        let bytes = gz.finish().unwrap();
        assert_eq!(parse(&bytes, &CsvFileFormat::staged()).batch.num_rows(), 2);
        let truncated = parse(&bytes[..bytes.len() - 6], &CsvFileFormat::staged());
        assert_eq!(truncated.errors[0].line, 0);
        assert!(truncated.errors[0].message.contains("gzip"));
    }

    #[test]
    fn malformed_quoting_is_rejected_not_swallowed() {
        let parsed = parse(b"id,name\n1,\"ab\"c\n2,b\n", &CsvFileFormat::staged());
        assert_eq!(parsed.batch.num_rows(), 1);
        assert_eq!(parsed.errors[0].line, 2);
        assert!(
            parsed.errors[0]
                .message
                .contains("instead of field delimiter")
        );
        let unclosed = parse(b"id,name\n1,a\n2,\"open\n3,c\n", &CsvFileFormat::staged());
        assert_eq!(unclosed.batch.num_rows(), 1);
        assert_eq!(unclosed.errors.len(), 1);
        assert!(unclosed.errors[0].message.contains("never closed"));
        let escaped = parse(b"id,name\n1,\"say \"\"hi\"\"\"\n", &CsvFileFormat::staged());
        assert!(escaped.errors.is_empty(), "{:?}", escaped.errors);
    }

    #[test]
    fn empty_file_and_mismatch_tolerance() {
        assert_eq!(parse(b"", &CsvFileFormat::staged()).rows_parsed, 0);
        let lenient = CsvFileFormat {
            error_on_column_count_mismatch: false,
            ..CsvFileFormat::staged()
        };
        let parsed = parse(b"id,name\n1\n2,b,extra\n", &lenient);
        assert!(parsed.errors.is_empty());
        assert_eq!(parsed.batch.num_rows(), 2);
    }

    #[test]
    fn records_and_files_past_the_limits_are_rejected_alone() {
        let limits = LoadLimits {
            max_file_bytes: 1000,
            max_field_bytes: 5,
            max_record_bytes: 12,
        };
        let format = CsvFileFormat::staged();
        let text = b"id,name\n1,abcdef\n2,b\n3,bbbbbbbbbbbb\n4,c\n";
        let parsed = parse_csv("f.csv", text, &format, &schema(), &limits, false).unwrap();
        assert_eq!(parsed.batch.num_rows(), 2);
        let lines: Vec<(u64, Option<&str>)> = parsed
            .errors
            .iter()
            .map(|e| (e.line, e.column.as_deref()))
            .collect();
        assert_eq!(lines, [(2, Some("name")), (4, None)]);
        assert_eq!(parsed.lines, [3, 5]);

        let mut zipped = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut zipped, &[b'1'; 5000]).unwrap();
        let zipped = zipped.finish().unwrap();
        let parsed = parse_csv("f.csv.gz", &zipped, &format, &schema(), &limits, false).unwrap();
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!(parsed.errors[0].line, 0);
        assert_eq!(parsed.batch.num_rows(), 0);
    }
}
