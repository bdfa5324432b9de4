//! What a load of staged CSV files is told and what it reports: the CSV file format options of
//! Snowflake ([`CsvFileFormat`], [`FileCompression`]), the [`LoadLimits`] that bound a file, and
//! one [`LoadError`] per rejected record with its file, line, character, column and the record
//! itself. The engine's reader of such files is `local::csv_read`.

use serde::{Deserialize, Serialize};

/// Compression of staged files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum FileCompression {
    /// Detect gzip by its magic bytes (Snowflake's `AUTO`).
    #[default]
    Auto,
    /// Plain text.
    None,
    /// Gzip.
    Gzip,
}

/// Limits on what one staged file may hold. Past a limit the file (file size) or the record
/// (field and record size) is rejected with a load error naming the limit; nothing else is
/// affected and nothing aborts the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadLimits {
    /// Bytes of one file once decompressed (default 1 GiB): a larger file, or a gzip file
    /// that would inflate past it, is `Load failed`.
    pub max_file_bytes: u64,
    /// Bytes of one field (default 16 MiB, Snowflake's classic `VARCHAR` limit).
    pub max_field_bytes: usize,
    /// Bytes of one record (default 64 MiB).
    pub max_record_bytes: usize,
}

impl Default for LoadLimits {
    fn default() -> Self {
        LoadLimits {
            max_file_bytes: 1 << 30,
            max_field_bytes: 16 << 20,
            max_record_bytes: 64 << 20,
        }
    }
}

/// Snowflake's CSV file format options, with Snowflake's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CsvFileFormat {
    /// `FIELD_DELIMITER`, default `,`.
    pub field_delimiter: u8,
    /// `SKIP_HEADER`: lines skipped at the top of each file, default 0.
    pub skip_header: usize,
    /// `FIELD_OPTIONALLY_ENCLOSED_BY`: the quote character, default none.
    pub field_optionally_enclosed_by: Option<u8>,
    /// `NULL_IF`: texts read as NULL, default `\N`.
    pub null_if: Vec<String>,
    /// `EMPTY_FIELD_AS_NULL`, default true.
    pub empty_field_as_null: bool,
    /// `ERROR_ON_COLUMN_COUNT_MISMATCH`, default true (false pads or cuts records).
    pub error_on_column_count_mismatch: bool,
    /// `COMPRESSION`, default auto.
    pub compression: FileCompression,
    /// `TRIM_SPACE`, default false.
    pub trim_space: bool,
    /// `SKIP_BLANK_LINES`, default false (a blank line is a bad record).
    pub skip_blank_lines: bool,
}

impl Default for CsvFileFormat {
    fn default() -> Self {
        CsvFileFormat {
            field_delimiter: b',',
            skip_header: 0,
            field_optionally_enclosed_by: None,
            null_if: vec!["\\N".into()],
            empty_field_as_null: true,
            error_on_column_count_mismatch: true,
            compression: FileCompression::Auto,
            trim_space: false,
            skip_blank_lines: false,
        }
    }
}

impl CsvFileFormat {
    /// The format of files written by the stage sink (and the original generator): a header
    /// line, `"` quoting where needed, empty fields as NULL.
    pub fn staged() -> Self {
        CsvFileFormat {
            skip_header: 1,
            field_optionally_enclosed_by: Some(b'"'),
            ..CsvFileFormat::default()
        }
    }
}

/// One rejected record (or a whole file that could not be read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadError {
    /// The staged file.
    pub file: String,
    /// Line in the file (1-based; 0 for a problem with the whole file).
    pub line: u64,
    /// Character in the line where the bad field starts (1-based; 0 when unknown).
    pub character: u64,
    /// The column, when the error is about one field.
    pub column: Option<String>,
    /// Record number among the file's data records (1-based; 0 for the whole file).
    pub row: u64,
    /// What is wrong.
    pub message: String,
    /// The record as read (lossy UTF-8, at most 1,000 characters).
    pub rejected_record: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`", self.file)?;
        if self.line > 0 {
            write!(f, " line {}, character {}", self.line, self.character)?;
        }
        if let Some(column) = &self.column {
            write!(f, ", column `{column}`")?;
        }
        write!(f, ": {}", self.message)
    }
}
