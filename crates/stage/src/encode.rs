//! [`CsvEncoder`]: Arrow `RecordBatch` → CSV bytes with the `csv` crate, plus the byte offset at
//! which every record ends so the sink can cut files at exact record boundaries. Large batches
//! are encoded in row chunks on all cores and stitched back in order.

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float32Array, Float64Array, Int64Array,
    LargeStringArray, RecordBatch, StringArray, StringViewArray, UInt64Array,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type, SchemaRef, TimeUnit, UInt64Type};
use rayon::prelude::*;

use crate::error::{Result, StageError};
use crate::format::CsvFormat;
use crate::timefmt;

/// Rows per parallel chunk: small enough to spread a batch over the cores, large enough that
/// stitching costs nothing.
const CHUNK_ROWS: usize = 16_384;

/// CSV bytes for a run of records, and where each record ends.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EncodedRows {
    /// The records, terminators included.
    pub bytes: Vec<u8>,
    /// `row_ends[i]` is the offset in `bytes` just past record `i`.
    pub row_ends: Vec<usize>,
}

impl EncodedRows {
    /// Number of records.
    pub fn rows(&self) -> usize {
        self.row_ends.len()
    }

    /// Byte range of records `from..to`.
    pub fn range(&self, from: usize, to: usize) -> std::ops::Range<usize> {
        let start = if from == 0 {
            0
        } else {
            self.row_ends[from - 1]
        };
        let end = if to == 0 { 0 } else { self.row_ends[to - 1] };
        start..end
    }
}

/// Encodes batches of one schema as CSV records in a [`CsvFormat`].
#[derive(Debug, Clone)]
pub struct CsvEncoder {
    schema: SchemaRef,
    format: CsvFormat,
    header: Vec<u8>,
}

impl CsvEncoder {
    /// An encoder for `schema`.
    ///
    /// # Errors
    ///
    /// [`StageError::Config`] for an invalid format; [`StageError::UnsupportedType`] for a
    /// column type it cannot write, naming the column.
    pub fn new(schema: SchemaRef, format: CsvFormat) -> Result<Self> {
        format.validate().map_err(StageError::Config)?;
        for field in schema.fields() {
            if !is_supported(field.data_type()) {
                return Err(StageError::UnsupportedType {
                    column: field.name().clone(),
                    data_type: field.data_type().clone(),
                });
            }
        }
        let mut writer = format.csv_writer_builder().from_writer(Vec::new());
        writer
            .write_record(schema.fields().iter().map(|f| f.name().as_bytes()))
            .map_err(|source| StageError::Csv { row: 0, source })?;
        let header = writer
            .into_inner()
            .map_err(|e| StageError::Config(e.to_string()))?;
        Ok(CsvEncoder {
            schema,
            format,
            header,
        })
    }

    /// The schema this encoder writes.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The format this encoder writes.
    pub fn format(&self) -> &CsvFormat {
        &self.format
    }

    /// The header record (column names and terminator), written at the top of every file when
    /// the format asks for a header.
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// Encodes every row of `batch`.
    ///
    /// # Errors
    ///
    /// [`StageError::SchemaMismatch`] when `batch` does not have the encoder's schema;
    /// [`StageError::Csv`] when a value cannot be written.
    pub fn encode(&self, batch: &RecordBatch) -> Result<EncodedRows> {
        self.check_schema(batch)?;
        let columns = batch
            .columns()
            .iter()
            .map(ColumnText::new)
            .collect::<Result<Vec<_>>>()?;
        let rows = batch.num_rows();
        if rows <= CHUNK_ROWS {
            return self.encode_rows(&columns, 0, rows);
        }
        let chunks: Vec<(usize, usize)> = (0..rows)
            .step_by(CHUNK_ROWS)
            .map(|s| (s, (s + CHUNK_ROWS).min(rows)))
            .collect();
        let parts = chunks
            .par_iter()
            .map(|&(from, to)| self.encode_rows(&columns, from, to))
            .collect::<Result<Vec<_>>>()?;
        Ok(stitch(parts))
    }

    fn check_schema(&self, batch: &RecordBatch) -> Result<()> {
        let got = batch.schema();
        if got.fields().len() != self.schema.fields().len() {
            return Err(StageError::SchemaMismatch {
                reason: format!(
                    "expected {} columns, got {}",
                    self.schema.fields().len(),
                    got.fields().len()
                ),
            });
        }
        for (want, have) in self.schema.fields().iter().zip(got.fields()) {
            if want.name() != have.name() || want.data_type() != have.data_type() {
                return Err(StageError::SchemaMismatch {
                    reason: format!(
                        "expected column `{}` {}, got `{}` {}",
                        want.name(),
                        want.data_type(),
                        have.name(),
                        have.data_type()
                    ),
                });
            }
        }
        Ok(())
    }

    fn encode_rows(
        &self,
        columns: &[ColumnText<'_>],
        from: usize,
        to: usize,
    ) -> Result<EncodedRows> {
        let mut out = Vec::with_capacity((to - from) * 96);
        let mut row_ends = Vec::with_capacity(to - from);
        let mut scratch = Scratch::default();
        let fields = FieldWriter::new(&self.format, columns.len());
        let null = self.format.null_text.as_bytes();
        let terminator = self.format.line_ending.bytes();
        for row in from..to {
            for (index, column) in columns.iter().enumerate() {
                if index > 0 {
                    out.push(self.format.delimiter);
                }
                let field = column.text(row, null, &mut scratch);
                fields
                    .write(field, &mut out)
                    .map_err(|source| StageError::Csv { row, source })?;
            }
            out.extend_from_slice(terminator);
            row_ends.push(out.len());
        }
        Ok(EncodedRows {
            bytes: out,
            row_ends,
        })
    }
}

/// Writes one field: bytes that need no quoting are copied as they are; a field that does
/// (it holds the delimiter, a quote or a line break, or it is the only field of a record and
/// empty) is quoted by the `csv` crate's writer, so the output is exactly what
/// `csv::Writer` with `QuoteStyle::Necessary` writes, only without its per-field state machine.
struct FieldWriter<'f> {
    format: &'f CsvFormat,
    special: [bool; 256],
    single_column: bool,
}

impl<'f> FieldWriter<'f> {
    fn new(format: &'f CsvFormat, columns: usize) -> Self {
        let mut special = [false; 256];
        for byte in [format.delimiter, b'"', b'\r', b'\n'] {
            special[usize::from(byte)] = true;
        }
        FieldWriter {
            format,
            special,
            single_column: columns == 1,
        }
    }

    fn needs_quotes(&self, field: &[u8]) -> bool {
        (field.is_empty() && self.single_column)
            || field.iter().any(|&b| self.special[usize::from(b)])
    }

    fn write(&self, field: &[u8], out: &mut Vec<u8>) -> csv::Result<()> {
        if !self.needs_quotes(field) {
            out.extend_from_slice(field);
            return Ok(());
        }
        // A one-field record written by the csv crate, minus its terminator.
        let terminator = self.format.line_ending.bytes().len();
        let mut writer = self
            .format
            .csv_writer_builder()
            .buffer_capacity(field.len() * 2 + 8)
            .from_writer(&mut *out);
        writer.write_record([field])?;
        writer.flush()?;
        drop(writer);
        out.truncate(out.len() - terminator);
        Ok(())
    }
}

fn stitch(parts: Vec<EncodedRows>) -> EncodedRows {
    let total_bytes = parts.iter().map(|p| p.bytes.len()).sum();
    let total_rows = parts.iter().map(EncodedRows::rows).sum();
    let mut out = EncodedRows {
        bytes: Vec::with_capacity(total_bytes),
        row_ends: Vec::with_capacity(total_rows),
    };
    for part in parts {
        let base = out.bytes.len();
        out.bytes.extend_from_slice(&part.bytes);
        out.row_ends
            .extend(part.row_ends.iter().map(|end| end + base));
    }
    out
}

fn is_supported(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Float32
            | DataType::Float64
            | DataType::Date32
            | DataType::Timestamp(_, _)
    )
}

/// Reusable formatting buffers, one set per encoding thread.
struct Scratch {
    int: itoa::Buffer,
    float: ryu::Buffer,
    time: [u8; timefmt::MAX_LEN],
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            int: itoa::Buffer::new(),
            float: ryu::Buffer::new(),
            time: [0; timefmt::MAX_LEN],
        }
    }
}

/// One column, downcast once per batch, that renders any of its rows as field text.
enum ColumnText<'a> {
    Utf8(&'a StringArray),
    LargeUtf8(&'a LargeStringArray),
    Utf8View(&'a StringViewArray),
    Boolean(&'a BooleanArray),
    Int(Int64Array),
    UInt(UInt64Array),
    Float32(&'a Float32Array),
    Float64(&'a Float64Array),
    Date32(&'a Date32Array),
    Timestamp {
        values: Int64Array,
        unit: TimeUnit,
        utc_marker: bool,
    },
}

impl<'a> ColumnText<'a> {
    fn new(array: &'a ArrayRef) -> Result<Self> {
        Ok(match array.data_type() {
            DataType::Utf8 => ColumnText::Utf8(array.as_string::<i32>()),
            DataType::LargeUtf8 => ColumnText::LargeUtf8(array.as_string::<i64>()),
            DataType::Utf8View => ColumnText::Utf8View(array.as_string_view()),
            DataType::Boolean => ColumnText::Boolean(array.as_boolean()),
            DataType::Float32 => ColumnText::Float32(array.as_primitive()),
            DataType::Float64 => ColumnText::Float64(array.as_primitive()),
            DataType::Date32 => ColumnText::Date32(array.as_primitive()),
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                ColumnText::Int(
                    widen(array, &DataType::Int64)?
                        .as_primitive::<Int64Type>()
                        .clone(),
                )
            }
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
                ColumnText::UInt(
                    widen(array, &DataType::UInt64)?
                        .as_primitive::<UInt64Type>()
                        .clone(),
                )
            }
            DataType::Timestamp(unit, tz) => ColumnText::Timestamp {
                values: widen(array, &DataType::Int64)?
                    .as_primitive::<Int64Type>()
                    .clone(),
                unit: *unit,
                utc_marker: tz.is_some(),
            },
            other => {
                return Err(StageError::UnsupportedType {
                    column: String::new(),
                    data_type: other.clone(),
                });
            }
        })
    }

    fn text<'s>(&'s self, row: usize, null: &'s [u8], scratch: &'s mut Scratch) -> &'s [u8] {
        match self {
            ColumnText::Utf8(a) => string_or_null(a.is_null(row), || a.value(row), null),
            ColumnText::LargeUtf8(a) => string_or_null(a.is_null(row), || a.value(row), null),
            ColumnText::Utf8View(a) => string_or_null(a.is_null(row), || a.value(row), null),
            ColumnText::Boolean(a) if a.is_null(row) => null,
            ColumnText::Boolean(a) => bool_text(a.value(row)),
            ColumnText::Int(a) if a.is_null(row) => null,
            ColumnText::Int(a) => scratch.int.format(a.value(row)).as_bytes(),
            ColumnText::UInt(a) if a.is_null(row) => null,
            ColumnText::UInt(a) => scratch.int.format(a.value(row)).as_bytes(),
            ColumnText::Float32(a) if a.is_null(row) => null,
            ColumnText::Float32(a) => float_text(&mut scratch.float, a.value(row)),
            ColumnText::Float64(a) if a.is_null(row) => null,
            ColumnText::Float64(a) => float_text(&mut scratch.float, a.value(row)),
            ColumnText::Date32(a) if a.is_null(row) => null,
            ColumnText::Date32(a) => {
                let len = timefmt::write_date(a.value(row), &mut scratch.time);
                &scratch.time[..len]
            }
            ColumnText::Timestamp { values: a, .. } if a.is_null(row) => null,
            ColumnText::Timestamp {
                values: a,
                unit,
                utc_marker,
            } => {
                let len =
                    timefmt::write_timestamp(a.value(row), *unit, *utc_marker, &mut scratch.time);
                &scratch.time[..len]
            }
        }
    }
}

fn widen(array: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    cast(array, to)
        .map_err(|e| StageError::Config(format!("cannot widen {}: {e}", array.data_type())))
}

fn string_or_null<'s>(is_null: bool, value: impl FnOnce() -> &'s str, null: &'s [u8]) -> &'s [u8] {
    if is_null { null } else { value().as_bytes() }
}

fn bool_text(value: bool) -> &'static [u8] {
    if value { b"true" } else { b"false" }
}

fn float_text<F: ryu::Float + FloatClass>(buffer: &mut ryu::Buffer, value: F) -> &[u8] {
    if value.is_nan_value() {
        b"NaN"
    } else if let Some(positive) = value.infinite_sign() {
        if positive { b"inf" } else { b"-inf" }
    } else {
        buffer.format_finite(value).as_bytes()
    }
}

/// The float checks `ryu::Buffer::format_finite` needs, for `f32` and `f64` alike.
trait FloatClass: Copy {
    fn is_nan_value(self) -> bool;
    fn infinite_sign(self) -> Option<bool>;
}

impl FloatClass for f32 {
    fn is_nan_value(self) -> bool {
        self.is_nan()
    }
    fn infinite_sign(self) -> Option<bool> {
        self.is_infinite().then_some(self > 0.0)
    }
}

impl FloatClass for f64 {
    fn is_nan_value(self) -> bool {
        self.is_nan()
    }
    fn infinite_sign(self) -> Option<bool> {
        self.is_infinite().then_some(self > 0.0)
    }
}
