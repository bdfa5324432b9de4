//! CSV encoding: every supported type's text, quoting of awkward strings (property test: what
//! the csv crate reads back is what went in), delimiters, null text, header and line endings.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float32Array, Float64Array, Int8Array, Int64Array,
    RecordBatch, StringArray, StringViewArray, TimestampMillisecondArray, TimestampNanosecondArray,
    UInt32Array,
};
use arrow::datatypes::{DataType, Field, Schema};
use proptest::prelude::*;
use snowdrift_stage::{CsvEncoder, CsvFormat, LineEnding, StageError};

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(columns).unwrap()
}

fn text(encoder: &CsvEncoder, batch: &RecordBatch) -> String {
    String::from_utf8(encoder.encode(batch).unwrap().bytes).unwrap()
}

#[test]
fn every_supported_type_has_an_unambiguous_text() {
    let batch = batch(vec![
        (
            "i8",
            Arc::new(Int8Array::from(vec![Some(-5), None])) as ArrayRef,
        ),
        (
            "u32",
            Arc::new(UInt32Array::from(vec![Some(4_000_000_000), Some(0)])),
        ),
        (
            "f32",
            Arc::new(Float32Array::from(vec![Some(0.1), Some(f32::NAN)])),
        ),
        (
            "f64",
            Arc::new(Float64Array::from(vec![
                Some(-2.5e-10),
                Some(f64::NEG_INFINITY),
            ])),
        ),
        (
            "flag",
            Arc::new(BooleanArray::from(vec![Some(true), Some(false)])),
        ),
        ("day", Arc::new(Date32Array::from(vec![Some(19_723), None]))),
        (
            "ms",
            Arc::new(TimestampMillisecondArray::from(vec![
                Some(1_704_067_200_001),
                None,
            ])),
        ),
        (
            "ns_utc",
            Arc::new(
                TimestampNanosecondArray::from(vec![Some(1_704_067_200_000_000_001), Some(-1)])
                    .with_timezone("UTC"),
            ),
        ),
        (
            "view",
            Arc::new(StringViewArray::from(vec![Some("v"), None])),
        ),
    ]);
    let encoder = CsvEncoder::new(batch.schema(), CsvFormat::new()).unwrap();
    assert_eq!(
        text(&encoder, &batch),
        "-5,4000000000,0.1,-2.5e-10,true,2024-01-01,2024-01-01 00:00:00.001,2024-01-01 00:00:00.000000001Z,v\n\
         ,0,NaN,-inf,false,,,1969-12-31 23:59:59.999999999Z,\n"
    );
    assert_eq!(
        encoder.header(),
        b"i8,u32,f32,f64,flag,day,ms,ns_utc,view\n"
    );
}

#[test]
fn delimiter_null_text_and_line_ending_are_options() {
    let batch = batch(vec![
        (
            "a",
            Arc::new(StringArray::from(vec![Some("x;y"), None, Some("")])) as ArrayRef,
        ),
        ("b", Arc::new(Int64Array::from(vec![1, 2, 3]))),
    ]);
    let format = CsvFormat::new()
        .with_delimiter(b';')
        .with_null_text("\\N")
        .with_line_ending(LineEnding::CrLf);
    let encoder = CsvEncoder::new(batch.schema(), format).unwrap();
    assert_eq!(text(&encoder, &batch), "\"x;y\";1\r\n\\N;2\r\n;3\r\n");
    assert_eq!(encoder.header(), b"a;b\r\n");
}

#[test]
fn bad_formats_and_types_are_refused_with_the_column_named() {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "tags",
        DataType::new_list(DataType::Utf8, true),
        true,
    )]));
    let error = CsvEncoder::new(schema, CsvFormat::new()).unwrap_err();
    assert!(
        matches!(&error, StageError::UnsupportedType { column, .. } if column == "tags"),
        "{error}"
    );
    let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Utf8, true)]));
    for format in [
        CsvFormat::new().with_delimiter(b'"'),
        CsvFormat::new().with_null_text("a,b"),
    ] {
        assert!(matches!(
            CsvEncoder::new(schema.clone(), format),
            Err(StageError::Config(_))
        ));
    }
}

#[test]
fn record_offsets_point_at_record_ends_across_parallel_chunks() {
    let rows = 40_000;
    let values: Vec<String> = (0..rows).map(|i| "q\"uo,te\n".repeat(i % 4)).collect();
    let batch = batch(vec![(
        "s",
        Arc::new(StringArray::from(values.clone())) as ArrayRef,
    )]);
    let encoder = CsvEncoder::new(batch.schema(), CsvFormat::new()).unwrap();
    let encoded = encoder.encode(&batch).unwrap();
    assert_eq!(encoded.rows(), rows);
    for i in [0, 1, 16_383, 16_384, 16_385, rows - 1] {
        let one = &encoded.bytes[encoded.range(i, i + 1)];
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(one);
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(&record[0], values[i], "row {i}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn what_the_csv_crate_reads_back_is_what_went_in(
        rows in proptest::collection::vec(
            (proptest::option::of("[a-z ,;\"\\n\\r\\té€😀]{0,12}"), proptest::option::of(any::<i64>()), proptest::option::of(any::<f64>())),
            1..60,
        ),
        delimiter in prop_oneof![Just(b','), Just(b';'), Just(b'\t'), Just(b'|')],
    ) {
        let strings: Vec<Option<String>> = rows.iter().map(|r| r.0.clone()).collect();
        let ints: Vec<Option<i64>> = rows.iter().map(|r| r.1).collect();
        let floats: Vec<Option<f64>> = rows.iter().map(|r| r.2).collect();
        let batch = batch(vec![
            ("s", Arc::new(StringArray::from(strings.clone())) as ArrayRef),
            ("i", Arc::new(Int64Array::from(ints.clone()))),
            ("f", Arc::new(Float64Array::from(floats.clone()))),
        ]);
        let format = CsvFormat::new().with_delimiter(delimiter).with_null_text("\\N");
        let encoder = CsvEncoder::new(batch.schema(), format).unwrap();
        let encoded = encoder.encode(&batch).unwrap();
        let mut reader = csv::ReaderBuilder::new().has_headers(false).delimiter(delimiter).from_reader(&encoded.bytes[..]);
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        prop_assert_eq!(records.len(), rows.len());
        for (row, record) in records.iter().enumerate() {
            let expect_s = strings[row].clone().unwrap_or_else(|| "\\N".into());
            prop_assert_eq!(&record[0], expect_s.as_str());
            match ints[row] {
                Some(v) => prop_assert_eq!(record[1].parse::<i64>().unwrap(), v),
                None => prop_assert_eq!(&record[1], "\\N"),
            }
            match floats[row] {
                Some(v) if v.is_nan() => prop_assert_eq!(&record[2], "NaN"),
                Some(v) => prop_assert_eq!(record[2].parse::<f64>().unwrap(), v),
                None => prop_assert_eq!(&record[2], "\\N"),
            }
            prop_assert_eq!(encoded.range(row, row + 1).end, encoded.row_ends[row]);
        }
    }

    #[test]
    fn output_is_byte_for_byte_what_csv_writer_writes(
        rows in proptest::collection::vec(
            (proptest::option::of("[a-z ,;|\"\n\r\t]{0,8}"), proptest::option::of("[a-z\"]{0,3}")),
            1..40,
        ),
        delimiter in prop_oneof![Just(b','), Just(b';'), Just(b'\t'), Just(b'|')],
        crlf in any::<bool>(),
        single_column in any::<bool>(),
    ) {
        let first: Vec<Option<String>> = rows.iter().map(|r| r.0.clone()).collect();
        let second: Vec<Option<String>> = rows.iter().map(|r| r.1.clone()).collect();
        let mut columns = vec![("a", Arc::new(StringArray::from(first.clone())) as ArrayRef)];
        if !single_column {
            columns.push(("b", Arc::new(StringArray::from(second.clone())) as ArrayRef));
        }
        let batch = batch(columns);
        let line_ending = if crlf { LineEnding::CrLf } else { LineEnding::Lf };
        let format = CsvFormat::new().with_delimiter(delimiter).with_line_ending(line_ending);
        let encoded = CsvEncoder::new(batch.schema(), format).unwrap().encode(&batch).unwrap();

        let mut reference = csv::WriterBuilder::new()
            .delimiter(delimiter)
            .quote_style(csv::QuoteStyle::Necessary)
            .terminator(if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') })
            .from_writer(Vec::new());
        for row in 0..rows.len() {
            let a = first[row].as_deref().unwrap_or("");
            if single_column {
                reference.write_record([a]).unwrap();
            } else {
                reference.write_record([a, second[row].as_deref().unwrap_or("")]).unwrap();
            }
        }
        let expected = reference.into_inner().unwrap();
        prop_assert_eq!(String::from_utf8_lossy(&encoded.bytes), String::from_utf8_lossy(&expected));
    }
}
