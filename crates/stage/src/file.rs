//! [`OpenFile`]: the file a sink is filling — header, records, optional gzip — and the rule that
//! decides how many of the next records still fit under the rolling limits.

use std::io::Write as _;
use std::time::{Duration, Instant};

use bytes::Bytes;
use flate2::write::GzEncoder;
use object_store::PutPayload;

use crate::error::{Result, StageError};
use crate::format::Compression;

/// When a file is closed and a new one started. A file closes as soon as any limit is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollPolicy {
    /// Data records per file (the original generator wrote 10,000).
    pub max_rows: usize,
    /// CSV bytes per file, header included, counted before compression. A single record larger
    /// than this still gets a file of its own.
    pub max_bytes: usize,
    /// How long a file may stay open after its first record; the sink closes it on time even
    /// when no more records arrive.
    pub max_age: Duration,
}

impl Default for RollPolicy {
    /// 10,000 rows, 64 MiB, 1 second.
    fn default() -> Self {
        RollPolicy {
            max_rows: 10_000,
            max_bytes: 64 << 20,
            max_age: Duration::from_secs(1),
        }
    }
}

impl RollPolicy {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.max_rows == 0 || self.max_bytes == 0 || self.max_age.is_zero() {
            return Err(format!("roll limits must all be above zero, got {self:?}"));
        }
        Ok(())
    }
}

enum Body {
    /// Slices of encoded batches, shared rather than copied; uploaded as one payload.
    Plain(Vec<Bytes>),
    Gzip(GzEncoder<Vec<u8>>),
}

/// A file being filled.
pub(crate) struct OpenFile {
    body: Body,
    rows: usize,
    csv_bytes: usize,
    opened: Instant,
}

impl std::fmt::Debug for OpenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenFile")
            .field("rows", &self.rows)
            .field("csv_bytes", &self.csv_bytes)
            .finish()
    }
}

impl OpenFile {
    pub(crate) fn new(header: Option<&Bytes>, compression: Compression, capacity: usize) -> Self {
        let body = match compression {
            Compression::None => Body::Plain(Vec::new()),
            Compression::Gzip { level } => Body::Gzip(GzEncoder::new(
                Vec::with_capacity(capacity / 4),
                flate2::Compression::new(level),
            )),
        };
        let mut file = OpenFile {
            body,
            rows: 0,
            csv_bytes: 0,
            opened: Instant::now(),
        };
        if let Some(header) = header {
            // Writing to a Vec (through gzip or not) cannot fail.
            let _ = file.append(header.clone(), 0);
        }
        file
    }

    /// Appends `records` holding `rows` records.
    pub(crate) fn append(&mut self, records: Bytes, rows: usize) -> std::io::Result<()> {
        let len = records.len();
        match &mut self.body {
            Body::Plain(chunks) => chunks.push(records),
            Body::Gzip(encoder) => encoder.write_all(&records)?,
        }
        self.rows += rows;
        self.csv_bytes += len;
        Ok(())
    }

    /// How many of the next records (ending at `row_ends`, relative to `base`) fit.
    /// An empty file always takes at least one record.
    pub(crate) fn room(&self, policy: &RollPolicy, row_ends: &[usize], base: usize) -> usize {
        let row_room = policy
            .max_rows
            .saturating_sub(self.rows)
            .min(row_ends.len());
        let byte_room = policy.max_bytes.saturating_sub(self.csv_bytes);
        let fitting = row_ends[..row_room].partition_point(|&end| end - base <= byte_room);
        if fitting == 0 && self.rows == 0 {
            row_room.min(1)
        } else {
            fitting
        }
    }

    pub(crate) fn is_full(&self, policy: &RollPolicy) -> bool {
        self.rows >= policy.max_rows || self.csv_bytes >= policy.max_bytes
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn csv_bytes(&self) -> usize {
        self.csv_bytes
    }

    pub(crate) fn deadline(&self, policy: &RollPolicy) -> Instant {
        self.opened + policy.max_age
    }

    /// The finished object body.
    pub(crate) fn finish(self, path: &str) -> Result<PutPayload> {
        match self.body {
            Body::Plain(chunks) => Ok(chunks.into_iter().collect()),
            Body::Gzip(encoder) => {
                encoder
                    .finish()
                    .map(PutPayload::from)
                    .map_err(|source| StageError::Compress {
                        path: path.to_owned(),
                        source,
                    })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_respects_rows_bytes_and_always_takes_one_record_into_an_empty_file() {
        let policy = RollPolicy {
            max_rows: 3,
            max_bytes: 25,
            max_age: Duration::from_secs(1),
        };
        let header = Bytes::from_static(b"a,b\n");
        let file = OpenFile::new(Some(&header), Compression::None, 0);
        // records of 10 bytes each
        let ends = [10, 20, 30, 40];
        assert_eq!(file.room(&policy, &ends, 0), 2); // 4 + 20 <= 25
        let empty = OpenFile::new(None, Compression::None, 0);
        assert_eq!(empty.room(&policy, &[100], 0), 1);
        let mut full = OpenFile::new(None, Compression::None, 0);
        full.append(Bytes::from_static(b"x\ny\nz\n"), 3).unwrap();
        assert!(full.is_full(&policy));
        assert_eq!(full.room(&policy, &ends, 0), 0);
    }
}
