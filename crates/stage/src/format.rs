//! [`CsvFormat`]: how staged files are written — delimiter, quoting, null text, header, line
//! ending and compression. The defaults match what the warehouse's CSV file format reads
//! (`SKIP_HEADER = 1`, `FIELD_OPTIONALLY_ENCLOSED_BY = '"'`, empty field as NULL).

/// Compression applied to each staged file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// Plain CSV, `.csv`.
    #[default]
    None,
    /// gzip, `.csv.gz`, at a level from 0 (store) to 9 (best).
    Gzip {
        /// Compression level, 0–9.
        level: u32,
    },
}

impl Compression {
    /// gzip at the default level (6).
    pub fn gzip() -> Self {
        Compression::Gzip { level: 6 }
    }

    /// File-name suffix, including the leading dot.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::None => ".csv",
            Compression::Gzip { .. } => ".csv.gz",
        }
    }
}

/// Line ending written after every record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LineEnding {
    /// `\n`.
    #[default]
    Lf,
    /// `\r\n`, as RFC 4180 writes it.
    CrLf,
}

impl LineEnding {
    /// The bytes written after a record.
    pub fn bytes(self) -> &'static [u8] {
        match self {
            LineEnding::Lf => b"\n",
            LineEnding::CrLf => b"\r\n",
        }
    }
}

/// How records are written into staged files.
///
/// Timestamps are always written as ISO 8601 in UTC, `YYYY-MM-DD HH:MM:SS[.fff...]`, with the
/// fraction digits of the column's unit (none, 3, 6 or 9) and a trailing `Z` for columns that
/// carry a time zone; dates as `YYYY-MM-DD`; booleans as `true`/`false`; floats in the shortest
/// form that reads back to the same value.
///
/// NULL is written as the null text (empty by default, which Snowflake's default
/// `EMPTY_FIELD_AS_NULL = TRUE` reads as NULL). With an empty null text an empty *string* is
/// written the same way; set a null text such as `\N` when empty strings must survive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvFormat {
    pub(crate) delimiter: u8,
    pub(crate) null_text: String,
    pub(crate) header: bool,
    pub(crate) line_ending: LineEnding,
    pub(crate) compression: Compression,
}

impl Default for CsvFormat {
    fn default() -> Self {
        CsvFormat {
            delimiter: b',',
            null_text: String::new(),
            header: true,
            line_ending: LineEnding::Lf,
            compression: Compression::None,
        }
    }
}

impl CsvFormat {
    /// The defaults: comma, RFC 4180 quoting (only fields holding the delimiter, a quote or a line break are
    /// enclosed), empty null text, a header row, `\n`, no
    /// compression.
    pub fn new() -> Self {
        Self::default()
    }

    /// Field delimiter (one ASCII byte other than `"`, `\r` or `\n`).
    pub fn with_delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = delimiter;
        self
    }

    /// Text written for NULL.
    pub fn with_null_text(mut self, null_text: impl Into<String>) -> Self {
        self.null_text = null_text.into();
        self
    }

    /// Whether each file starts with a header row of column names.
    pub fn with_header(mut self, header: bool) -> Self {
        self.header = header;
        self
    }

    /// Record terminator.
    pub fn with_line_ending(mut self, line_ending: LineEnding) -> Self {
        self.line_ending = line_ending;
        self
    }

    /// Compression of each file.
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// The delimiter byte.
    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// The null text.
    pub fn null_text(&self) -> &str {
        &self.null_text
    }

    /// Whether files carry a header row.
    pub fn header(&self) -> bool {
        self.header
    }

    /// The compression.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if !self.delimiter.is_ascii() || matches!(self.delimiter, b'"' | b'\r' | b'\n') {
            return Err(format!(
                "delimiter {:?} must be one ASCII byte other than '\"', CR or LF",
                self.delimiter as char
            ));
        }
        if self
            .null_text
            .bytes()
            .any(|b| b == self.delimiter || b == b'"' || b == b'\r' || b == b'\n')
        {
            return Err(format!(
                "null text {:?} must not contain the delimiter, a quote or a line break",
                self.null_text
            ));
        }
        if let Compression::Gzip { level } = self.compression
            && level > 9
        {
            return Err(format!("gzip level {level} is out of range 0..=9"));
        }
        Ok(())
    }

    pub(crate) fn csv_writer_builder(&self) -> csv::WriterBuilder {
        let mut builder = csv::WriterBuilder::new();
        builder
            .delimiter(self.delimiter)
            .quote_style(csv::QuoteStyle::Necessary)
            .terminator(match self.line_ending {
                LineEnding::Lf => csv::Terminator::Any(b'\n'),
                LineEnding::CrLf => csv::Terminator::CRLF,
            });
        builder
    }
}
